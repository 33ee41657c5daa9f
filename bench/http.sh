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
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
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
# CPU ns per record from bash's `time` line ("cpu USER SYS") and the record count.
cpu_of() { awk -v n="$records" '/^cpu / {printf "%.0f", ($2 + $3) * 1e9 / n}' "$1"; }

# run_one MODE: off | scrape | load -> "records/s cpu-ns/record" (the whole
# process's user + system time: the HTTP thread's included)
run_one() {
    local mode=$1 err=$T/err.$1
    if [ "$mode" = off ]; then
        (TIMEFORMAT='cpu %U %S'; time "$weir" run "$pipe" --workers 1 >/dev/null) 2>"$err"
    else
        (TIMEFORMAT='cpu %U %S'; time "$weir" run "$pipe" --workers 1 --http 0 >/dev/null) 2>"$err" &
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
    echo "$(rate_of "$err") $(cpu_of "$err")"
}

stats() { # numbers... -> "best median"
    printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d %d", a[NR], a[int((NR+1)/2)]}'
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
off=() scrape=() load=() offc=() scc=() ldc=()
for r in $(seq "$rounds"); do
    read -r a b <<<"$(run_one off)"; off+=("$a"); offc+=("$b")
    read -r a b <<<"$(run_one scrape)"; scrape+=("$a"); scc+=("$b")
    read -r a b <<<"$(run_one load)"; load+=("$a"); ldc+=("$b")
    echo "round $r: records/s (CPU ns/record): off ${off[-1]} (${offc[-1]}), scraped ${scrape[-1]}" \
         "(${scc[-1]}), hammered ${load[-1]} (${ldc[-1]}); load average $(cut -d' ' -f1 /proc/loadavg)" >&2
done
read -r off_best off_med <<<"$(stats "${off[@]}")"
read -r sc_best sc_med <<<"$(stats "${scrape[@]}")"
read -r ld_best ld_med <<<"$(stats "${load[@]}")"
off_cpu=$(median "${offc[@]}") sc_cpu=$(median "${scc[@]}") ld_cpu=$(median "${ldc[@]}")

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
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
t0=$(ticks "${pids[-1]}")
"${pin1[@]}" "$build/bench_http" load "$port" --conns "$conns" --seconds 5 "$T/load.json" | tee "$T/load.txt"
t1=$(ticks "${pids[-1]}")
hz=$(getconf CLK_TCK)
bytes=$(exec {fd}<>"/dev/tcp/127.0.0.1/$port"; printf 'GET /metrics HTTP/1.1\r\n\r\n' >&"$fd"; timeout 5 cat <&"$fd" | wc -c)
exec 3>&-
rps=$(sed -n 's/.*"requests_per_s":\([0-9]*\).*/\1/p' "$T/load.json")
p99=$(sed -n 's/.*"p99_us":\([0-9]*\).*/\1/p' "$T/load.json")
okn=$(sed -n 's/.*"ok":\([0-9]*\).*/\1/p' "$T/load.json")
# weir's CPU per request (its process: the HTTP thread, the idle worker):
# what one dedicated core would serve, whatever else runs on this machine.
cpu_us=$(awk -v t=$((t1 - t0)) -v hz="$hz" -v n="$okn" 'BEGIN {printf "%.1f", n ? t * 1e6 / hz / n : 0}')
per_core=$(awk -v c="$cpu_us" 'BEGIN {printf "%.0f", (c > 0) ? 1e6 / c : 0}')

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b ? a / b : 0}'; }
echo
echo "| run ($records records, $rounds rounds, 1 worker) | best records/s | median records/s | median vs off | CPU ns/record (median) | CPU vs off |"
echo "|---|---|---|---|---|---|"
echo "| no --http | $off_best | $off_med | 1.000 | $off_cpu | 1.000 |"
echo "| --http, scraped every 1 s | $sc_best | $sc_med | $(ratio "$sc_med" "$off_med") | $sc_cpu | $(ratio "$sc_cpu" "$off_cpu") |"
echo "| --http, /metrics hammered by $conns connections | $ld_best | $ld_med | $(ratio "$ld_med" "$off_med") | $ld_cpu | $(ratio "$ld_cpu" "$off_cpu") |"
echo
echo "/metrics ($bytes bytes) on an idle run, weir pinned to one core: $rps requests/s measured" \
     "(p99 $p99 us, $conns connections); weir's CPU per request $cpu_us us = $per_core requests/s per dedicated core"
cat >bench/results/http.json <<JSON
{"bench":"http","commit":"$commit","records":$records,"rounds":$rounds,"conns":$conns,
 "off":{"best":$off_best,"median":$off_med},"scraped_1s":{"best":$sc_best,"median":$sc_med},
 "hammered":{"best":$ld_best,"median":$ld_med},
 "cpu_ns_per_record":{"off":$off_cpu,"scraped_1s":$sc_cpu,"hammered":$ld_cpu},
 "metrics_requests_per_s":$rps,"metrics_p99_us":$p99,"metrics_bytes":$bytes,
 "metrics_cpu_us_per_request":$cpu_us,"metrics_requests_per_s_per_core":$per_core,
 "load_average":"$(cut -d' ' -f1-3 /proc/loadavg)"}
JSON
echo "results: bench/results/http.json"
