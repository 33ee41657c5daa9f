#!/usr/bin/env bash
# bench/http.sh: what the HTTP endpoint costs the record path, and what it
# serves. Builds in Release into build-bench/ (as run.sh does), then:
#   1. file -> file throughput (bench_pipeline's generated input and pipeline,
#      one worker): ROUNDS runs alternating without and with --http scraped
#      every second (bench_http scrape), best and median records/s of each;
#   2. the same pipeline while bench_http load hammers /metrics with CONNS
#      connections (the worst case, not the normal one);
#   3. /metrics requests/s of an idle run (input: a FIFO held open), weir
#      pinned to one core (taskset -c 0) and the load generator to the other.
# Results: a table on stdout and bench/results/http.json.
#
#   bench/http.sh [RECORDS (1000000)] [ROUNDS (5)] [CONNS (4)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
records=${1:-1000000}
rounds=${2:-5}
conns=${3:-4}
build=${WEIR_BENCH_BUILD:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEIR_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" --target weir bench_pipeline bench_http >/dev/null
weir=$build/weir
T=$(mktemp -d /tmp/weir-bench-http.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
mkdir -p bench/results
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- 2>/dev/null || commit="$commit+dirty"
export WEIR_BENCH_COMMIT=$commit

# The generated input and pipeline (its own benchmark is not the point here).
mkdir -p "$T/gen"
"$build/bench_pipeline" --records "$records" --runs 1 --dir "$T/gen" --keep "$T/gen.json" >/dev/null
gen=$(ls -d "$T"/gen/weir-bench-*)
pipe=$gen/pipeline.json
[ -f "$pipe" ] || { echo "bench/http.sh: bench_pipeline left no $pipe" >&2; exit 1; }

port_of() { # ERRFILE -> port, once weir printed it
    for _ in $(seq 200); do
        p=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$1")
        [ -n "$p" ] && { echo "$p"; return; }
        sleep 0.02
    done
    echo "bench/http.sh: weir did not say its port" >&2
    exit 1
}
rate_of() { sed -n 's/.* s, \([0-9]*\) records\/s.*/\1/p' "$1"; }

# run_one MODE: off | scrape | load -> records/s
run_one() {
    local mode=$1 err=$T/err.$1 cpu0 cpu1
    if [ "$mode" = off ]; then
        "$weir" run "$pipe" --workers 1 2>"$err" >/dev/null
    else
        "$weir" run "$pipe" --workers 1 --http 0 2>"$err" >/dev/null &
        local wp=$!
        local port
        port=$(port_of "$err")
        if [ "$mode" = scrape ]; then
            "$build/bench_http" scrape "$port" --every 1000 2>/dev/null &
        else
            "$build/bench_http" load "$port" --conns "$conns" --seconds 600 >/dev/null 2>&1 &
        fi
        local lp=$!
        wait "$wp"
        kill "$lp" 2>/dev/null
        wait "$lp" 2>/dev/null || true
    fi
    rate_of "$err"
}

stats() { # numbers... -> "best median"
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d %d", a[NR], a[int((NR+1)/2)]}'
}

off=() scrape=() load=()
for r in $(seq "$rounds"); do
    off+=("$(run_one off)")
    scrape+=("$(run_one scrape)")
    load+=("$(run_one load)")
    echo "round $r: off ${off[-1]}, scraped ${scrape[-1]}, loaded ${load[-1]} records/s" >&2
done
read -r off_best off_med <<<"$(stats "${off[@]}")"
read -r sc_best sc_med <<<"$(stats "${scrape[@]}")"
read -r ld_best ld_med <<<"$(stats "${load[@]}")"

# /metrics served by an idle run on one core.
mkfifo "$T/in.fifo"
pin0=() pin1=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then pin0=(taskset -c 0); pin1=(taskset -c 1); fi
"${pin0[@]}" "$weir" run "$pipe" --workers 1 --http 0 --set "source.path=$T/in.fifo" 2>"$T/err.idle" &
pids+=($!)
exec 3>"$T/in.fifo"
port=$(port_of "$T/err.idle")
head -1000 "$gen/input.jsonl" >&3
sleep 0.5
"${pin1[@]}" "$build/bench_http" load "$port" --conns "$conns" --seconds 5 "$T/load.json" | tee "$T/load.txt"
exec 3>&-
rps=$(sed -n 's/.*"requests_per_s":\([0-9]*\).*/\1/p' "$T/load.json")
p99=$(sed -n 's/.*"p99_us":\([0-9]*\).*/\1/p' "$T/load.json")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b ? a / b : 0}'; }
echo
echo "| run ($records records, $rounds rounds, 1 worker) | best records/s | median records/s | median vs off |"
echo "|---|---|---|---|"
echo "| no --http | $off_best | $off_med | 1.000 |"
echo "| --http, scraped every 1 s | $sc_best | $sc_med | $(ratio "$sc_med" "$off_med") |"
echo "| --http, /metrics hammered by $conns connections | $ld_best | $ld_med | $(ratio "$ld_med" "$off_med") |"
echo
echo "/metrics on an idle run (weir on one core): $rps requests/s, p99 $p99 us, $conns connections"
cat >bench/results/http.json <<JSON
{"bench":"http","commit":"$commit","records":$records,"rounds":$rounds,"conns":$conns,
 "off":{"best":$off_best,"median":$off_med},"scraped_1s":{"best":$sc_best,"median":$sc_med},
 "hammered":{"best":$ld_best,"median":$ld_med},
 "metrics_requests_per_s":$rps,"metrics_p99_us":$p99}
JSON
echo "results: bench/results/http.json"
