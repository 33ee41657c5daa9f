#!/bin/bash
# The 15 fraud features alone: pipelines/fraud.json's first four operators
# (extract, derive and the two handbook windows: not the extra model inputs,
# the model, threshold and alert sink), one worker, file -> file over the data set's
# daily gzip CSV files. Each run's CPU time (user + sys) is printed; then,
# per binary, the least and the median CPU time over the runs and the
# records per CPU-second of the least. With BASELINE set to another weir
# binary, the two are run alternately (the same data, the same session) and
# the ratio of their least CPU times is printed. On a shared machine the
# least of several alternating runs is the figure to compare.
#
#     [BASELINE=old/weir] bash bench/fraud_features.sh [WEIR] [RUNS] [DAILY_DIR]
#
# WEIR: a Release build's binary (default build-rel/weir); RUNS: default 3;
# DAILY_DIR: default ../shared/data/fraud/fdh/daily. Output goes to
# /tmp/weir-fraud-features.jsonl (about 1 GB for all 153 days); the summary
# to bench/results/fraud_features.json.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
weir=${1:-$here/build-rel/weir}
runs=${2:-3}
daily=$(cd "${3:-$here/../shared/data/fraud/fdh/daily}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$here/pipelines/fraud.json" "$daily" "$work/features.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["operators"] = p["operators"][:4]  # the handbook's 15 features
p["source"]["path"] = sys.argv[2]
p["sinks"] = [{"type": "file", "path": "/tmp/weir-fraud-features.jsonl",
               "exclude": ["TX_FRAUD", "TX_FRAUD_SCENARIO", "alert"]}]
p["dead_letter"]["path"] = "/tmp/weir-fraud-features.rejects.jsonl"
json.dump(p, open(sys.argv[3], "w"), indent=1)
PY
bins=("$weir")
[ -n "${BASELINE:-}" ] && bins+=("$BASELINE")
for r in $(seq "$runs"); do
    for b in "${bins[@]}"; do
        /usr/bin/time -f "%U %S" -o "$work/time" "$b" run "$work/features.json" --quiet
        cpu=$(awk '{printf "%.2f", $1 + $2}' "$work/time")
        echo "run $r: $b: $cpu CPU s"
        echo "$b $cpu" >> "$work/runs"
    done
done
mkdir -p "$here/bench/results"
/usr/bin/python3 - "$work/runs" "$(wc -l < /tmp/weir-fraud-features.jsonl)" "$weir" \
    "$here/bench/results/fraud_features.json" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    b, cpu = line.split()
    runs[b].append(float(cpu))
n, weir = int(sys.argv[2]), sys.argv[3]
out = {"records": n, "binaries": {}}
print(f"{'binary':40s} {'least CPU s':>12s} {'median':>8s} {'records/CPU-s':>14s}")
for b, v in runs.items():
    least = min(v)
    out["binaries"][b] = {"cpu_s": v, "least": least, "median": statistics.median(v),
                          "records_per_cpu_s": n / least}
    print(f"{b:40s} {least:12.2f} {statistics.median(v):8.2f} {n / least:14.0f}")
if len(runs) == 2:
    base = [b for b in runs if b != weir][0]
    out["ratio_least"] = min(runs[base]) / min(runs[weir])
    print(f"baseline / this, least CPU: {out['ratio_least']:.2f}x")
json.dump(out, open(sys.argv[4], "w"), indent=1)
PY
