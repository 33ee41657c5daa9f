#!/usr/bin/env bash
# Fraud detection quality by the Fraud Detection Handbook's protocol: runs a
# pipeline over a directory of daily transaction files (the handbook's layout:
# DATA_DIR/daily/YYYY-MM-DD.csv.gz) and scores its first sink's fraud_score
# with bench/bench_fraud_eval (AUC ROC, average precision, card precision@100 on the
# test week, known-fraud customers removed; a PR curve as SVG).
#
#   bench/fraud_eval.sh DATA_DIR PIPELINE [--out DIR] [--build DIR] [bench_fraud_eval options...]
#   bench/fraud_eval.sh ../shared/data/fraud/fdh pipelines/fraud.json
#
# The pipeline's first sink must write TRANSACTION_ID and the score for every
# transaction; labels are joined from the data files, never from the output.
# Prints bench_fraud_eval's table; the last line is one JSON object, also written to
# bench/results/fraud_eval.json (or OUT/fraud_eval.json with --out).
set -euo pipefail
[ $# -ge 2 ] || { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
data=$1 pipeline=$2; shift 2
out="" build=build extra=()
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    *) extra+=("$1"); shift ;;
    esac
done
# paths as given from here, before moving to the repository's root
data=$(realpath -m "$data") pipeline=$(realpath -m "$pipeline")
[ -z "$out" ] || out=$(realpath -m "$out")
[ "$build" = build ] || build=$(realpath -m "$build")
cd "$(dirname "$0")/.."
for b in "$build/weir" "$build/bench_fraud_eval"; do
    [ -x "$b" ] || { echo "fraud_eval: $b is not built (cmake --build $build)" >&2; exit 2; }
done
tmp=$(mktemp -d /tmp/weir-fraud-eval.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dir=${out:-$tmp}
mkdir -p "$dir"
start=$(date +%s.%N)
"$build/weir" run "$pipeline" --set source.path="$data/daily" --set "sinks[0].path=$dir/scored.jsonl" --quiet
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "fraud_eval: $pipeline over $data/daily in ${secs} s" >&2
result=${out:+$out/fraud_eval.json}
result=${result:-bench/results/fraud_eval.json}
"$build/bench_fraud_eval" "$dir/scored.jsonl" "$data" --name "$(basename "$pipeline" .json)" \
    --pr-svg "$dir/pr_curve.svg" --json "$result" "${extra[@]}"
