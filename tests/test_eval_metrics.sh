#!/usr/bin/env bash
# The fraud harness on the real stream (bench_fraud_eval; its metrics are
# checked against brute force by test_fraud_metrics): the handbook's protocol
# selects exactly the test set its README gives (58,264 transactions, 385
# frauds), and a constant score gets AUC 0.5 and AP = the fraud rate.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
EVAL=${WEIR_BUILD:-build}/bench_fraud_eval
if [ ! -x "$EVAL" ]; then
    echo "skipped: $EVAL is not built (WEIR_BENCH=OFF)"
    exit 77
fi
T=$(mktemp -d /tmp/weir-test-eval.XXXXXX)
trap 'rm -rf "$T"' EXIT

DAILY=../shared/data/fraud/fdh/daily
if [ -d "$DAILY" ]; then
    for f in "$DAILY"/2018-08-0[1-9].csv.gz "$DAILY"/2018-08-1[0-4].csv.gz "$DAILY"/2018-07-2[5-9].csv.gz \
        "$DAILY"/2018-07-3[01].csv.gz; do
        zcat "$f" | tail -n +2 | cut -d, -f1 | sed 's/.*/{"TRANSACTION_ID":&,"fraud_score":0.5}/'
    done >"$T/scored.jsonl"
    mkdir -p "$T/d/daily" && cp "$DAILY"/2018-0[78]-*.csv.gz "$T/d/daily/"
    "$EVAL" "$T/scored.jsonl" "$T/d" --pr-svg "$T/pr.svg" >"$T/out" 2>"$T/err"
    last=$(tail -n 1 "$T/out")
    if echo "$last" | grep -q '"test_transactions":58264,"frauds":385,.*"unscored":0,.*"auc_roc":0.5,"average_precision":0.0066078'; then
        ok
    else
        fail "handbook protocol on the real stream: $last $(cat "$T/err")"
    fi
    if grep -q '<svg' "$T/pr.svg" && grep -Eq '<(polyline|path)' "$T/pr.svg"; then ok; else fail "no PR curve in the SVG"; fi
else
    echo "skipped the real-stream case: $DAILY is missing"
fi
finish
