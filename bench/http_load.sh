#!/usr/bin/env bash
# bench/http_load.sh: does a hammered /metrics slow the record path? Measured
# by CPU time, not wall clock: on a small shared machine the HTTP thread and
# the load generator take cores from the worker, which says nothing about
# what the responder costs the record path itself. Builds in Release into
# build-bench/ (as run.sh does), then runs bench_pipeline's file -> file
# pipeline (one worker, RECORDS records) ROUNDS times in each mode, the
# modes interleaved:
#   off       no --http
#   idle      --http, never requested
#   hammered  --http while `bench_http load` requests /metrics as fast as it
#             can with CONNS connections (one request per connection, as
#             the responder closes each) for the whole run
# Each run's `--timing` summary gives the worker thread's own CPU time
# (CLOCK_THREAD_CPUTIME_ID, summed over its life) per record, and the HTTP
# responder thread's CPU time and requests served. Reported: medians and
# minima of the worker's CPU ns/record and their ratio to `off`, /metrics
# requests/s served during the hammered runs and the responder's CPU per
# request. A table on stdout, bench/results/http_load.json.
#
#   bench/http_load.sh [RECORDS (2000000)] [ROUNDS (5)] [CONNS (2)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
records=${1:-2000000}
rounds=${2:-5}
conns=${3:-2}
build=${WEIR_BENCH_BUILD:-build-bench}
if [ -z "${NO_BUILD:-}" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEIR_BENCH=ON >/dev/null
    cmake --build "$build" -j"$(nproc)" --target weir bench_pipeline bench_http >/dev/null
fi
weir=$build/weir
T=$(mktemp -d /tmp/weir-bench-http-load.XXXXXX)
lp=
trap '[ -n "$lp" ] && kill "$lp" 2>/dev/null; rm -rf "$T"' EXIT
mkdir -p bench/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || commit="$commit+dirty"

mkdir -p "$T/gen"
"$build/bench_pipeline" --records "$records" --runs 1 --dir "$T/gen" --keep "$T/gen.json" >/dev/null
pipe=$(ls -d "$T"/gen/weir-bench-*)/pipeline.json

port_of() { # ERRFILE -> port, once weir printed it
    for _ in $(seq 500); do
        p=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$1")
        [ -n "$p" ] && { echo "$p"; return; }
        sleep 0.01
    done
    echo "bench/http_load.sh: weir did not say its port" >&2
    exit 1
}

# run_one MODE -> "worker-ns/record records/s http-cpu-s requests seconds"
run_one() {
    local mode=$1 err=$T/err
    case $mode in
    off) "$weir" run "$pipe" --workers 1 --timing >/dev/null 2>"$err" ;;
    idle) "$weir" run "$pipe" --workers 1 --timing --http 0 >/dev/null 2>"$err" ;;
    hammered)
        "$weir" run "$pipe" --workers 1 --timing --http 0 >/dev/null 2>"$err" &
        local wp=$!
        "$build/bench_http" load "$(port_of "$err")" --conns "$conns" --seconds 600 \
            >/dev/null 2>&1 &
        lp=$!
        wait "$wp"
        kill "$lp" 2>/dev/null || true
        wait "$lp" 2>/dev/null || true
        lp=
        ;;
    esac
    local ns rate secs hcpu hreq
    ns=$(sed -n "s/.*worker threads' CPU [0-9.]* s, \([0-9.]*\) ns\/record.*/\1/p" "$err")
    rate=$(sed -n 's/.* s, \([0-9]*\) records\/s.*/\1/p' "$err")
    secs=$(sed -n 's/.* alerts; \([0-9.]*\) s, .*/\1/p' "$err")
    hcpu=$(sed -n "s/.*http responder's CPU \([0-9.]*\) s, .*/\1/p" "$err")
    hreq=$(sed -n "s/.*http responder's CPU [0-9.]* s, \([0-9]*\) requests.*/\1/p" "$err")
    [ -n "$ns" ] || { echo "bench/http_load.sh: no --timing summary: $(cat "$err")" >&2; exit 1; }
    echo "$ns $rate ${hcpu:-0} ${hreq:-0} $secs"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
minimum() { printf '%s\n' "$@" | sort -g | head -1; }
declare -A ns rate
hreqs=() hcpus=() hsecs=()
for r in $(seq "$rounds"); do
    line="round $r:"
    for mode in off idle hammered; do
        read -r a b c d e <<<"$(run_one "$mode")"
        ns[$mode]="${ns[$mode]:-} $a"
        rate[$mode]="${rate[$mode]:-} $b"
        if [ "$mode" = hammered ]; then hcpus+=("$c"); hreqs+=("$d"); hsecs+=("$e"); fi
        line="$line $mode $a ns/record ($b records/s);"
    done
    echo "$line load average $(cut -d' ' -f1 /proc/loadavg)" >&2
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b ? a / b : 0}'; }
# /metrics served while hammered: all requests over all hammered runs' time.
tot_req=$(printf '%s\n' "${hreqs[@]}" | awk '{s += $1} END {print s}')
tot_sec=$(printf '%s\n' "${hsecs[@]}" | awk '{s += $1} END {print s}')
tot_cpu=$(printf '%s\n' "${hcpus[@]}" | awk '{s += $1} END {print s}')
rps=$(awk -v n="$tot_req" -v s="$tot_sec" 'BEGIN {printf "%.0f", s ? n / s : 0}')
us_req=$(awk -v c="$tot_cpu" -v n="$tot_req" 'BEGIN {printf "%.1f", n ? c * 1e6 / n : 0}')
http_share=$(awk -v c="$tot_cpu" -v s="$tot_sec" 'BEGIN {printf "%.2f", s ? c / s : 0}')
# shellcheck disable=SC2086
{
    off_med=$(median ${ns[off]}) off_min=$(minimum ${ns[off]})
    idle_med=$(median ${ns[idle]}) idle_min=$(minimum ${ns[idle]})
    ham_med=$(median ${ns[hammered]}) ham_min=$(minimum ${ns[hammered]})
    off_rate=$(median ${rate[off]}) idle_rate=$(median ${rate[idle]}) ham_rate=$(median ${rate[hammered]})
}
echo
echo "| run ($records records, $rounds rounds, 1 worker) | worker CPU ns/record, median | min | median vs off | min vs off | records/s (wall clock, median) |"
echo "|---|---|---|---|---|---|"
echo "| no --http | $off_med | $off_min | 1.000 | 1.000 | $off_rate |"
echo "| --http, idle | $idle_med | $idle_min | $(ratio "$idle_med" "$off_med") | $(ratio "$idle_min" "$off_min") | $idle_rate |"
echo "| --http, /metrics hammered ($conns connections) | $ham_med | $ham_min | $(ratio "$ham_med" "$off_med") | $(ratio "$ham_min" "$off_min") | $ham_rate |"
echo
echo "while hammered: $rps /metrics requests/s served; the responder thread used $us_req us CPU per" \
     "request, $http_share of a core (load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
cat >bench/results/http_load.json <<JSON
{"bench":"http_load","commit":"$commit","records":$records,"rounds":$rounds,"conns":$conns,
 "worker_cpu_ns_per_record":{"off":{"median":$off_med,"min":$off_min},
   "idle":{"median":$idle_med,"min":$idle_min},"hammered":{"median":$ham_med,"min":$ham_min}},
 "ratio_vs_off":{"idle_median":$(ratio "$idle_med" "$off_med"),"hammered_median":$(ratio "$ham_med" "$off_med"),
   "hammered_min":$(ratio "$ham_min" "$off_min")},
 "records_per_s_median":{"off":$off_rate,"idle":$idle_rate,"hammered":$ham_rate},
 "metrics_requests_per_s":$rps,"http_cpu_us_per_request":$us_req,"http_cores_used":$http_share,
 "cpus":$(nproc),"load_average":"$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
echo "results: bench/results/http_load.json"
