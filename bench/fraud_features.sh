#!/bin/bash
# The 15 fraud features alone: pipelines/fraud.json without its model,
# threshold and alert sink, one worker, file -> file over the data set's
# daily gzip CSV files. Prints each run's CPU time (user + sys) and, over the
# runs, the least CPU time and the records per CPU-second it gives. On a
# shared machine the least of several runs is the figure to compare.
#
#     bash bench/fraud_features.sh [WEIR] [RUNS] [DAILY_DIR]
#
# WEIR: a Release build's binary (default build-rel/weir); RUNS: default 3;
# DAILY_DIR: default ../shared/data/fraud/fdh/daily. Output to
# /tmp/weir-fraud-features.jsonl (about 1 GB for all 153 days).
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
p["operators"] = [o for o in p["operators"] if o["type"] not in ("model", "threshold")]
p["source"]["path"] = sys.argv[2]
p["sinks"] = [dict(p["sinks"][0], path="/tmp/weir-fraud-features.jsonl")]
p["dead_letter"]["path"] = "/tmp/weir-fraud-features.rejects.jsonl"
json.dump(p, open(sys.argv[3], "w"), indent=1)
PY
best=
for r in $(seq "$runs"); do
    /usr/bin/time -f "%U %S" -o "$work/time" "$weir" run "$work/features.json" --quiet
    cpu=$(awk '{printf "%.2f", $1 + $2}' "$work/time")
    echo "run $r: $cpu CPU s"
    best=$(awk -v a="$cpu" -v b="${best:-$cpu}" 'BEGIN {print (a < b ? a : b)}')
done
n=$(wc -l < /tmp/weir-fraud-features.jsonl)
awk -v n="$n" -v s="$best" 'BEGIN {printf "records %d, least CPU %.2f s: %.0f records per CPU-second\n", n, s, n / s}'
