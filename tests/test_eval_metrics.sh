#!/usr/bin/env bash
# The fraud harness's metrics (bench/eval_fraud, bench/eval_metrics.h):
#   1. AUC ROC and average precision on random scores with many ties agree
#      with brute-force definitions computed here (pairs counted one by one;
#      AP summed over distinct thresholds, as scikit-learn defines it).
#   2. On the real stream, the handbook's protocol selects exactly the test set
#      its README gives (58,264 transactions, 385 frauds), and a constant score
#      gets AUC 0.5 and AP = the fraud rate.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
EVAL=${WEIR_BUILD:-build}/eval_fraud
if [ ! -x "$EVAL" ]; then
    echo "skipped: $EVAL is not built (WEIR_BENCH=OFF)"
    exit 77
fi
T=$(mktemp -d /tmp/weir-test-eval.XXXXXX)
trap 'rm -rf "$T"' EXIT

for seed in 1 2 3; do
    python3 - "$seed" "$T/pairs" "$T/want" <<'PY'
import random, sys
random.seed(int(sys.argv[1]))
n = 400
rows = [(random.choice([random.random(), round(random.random(), 1)]), 1 if random.random() < 0.2 else 0)
        for _ in range(n)]
with open(sys.argv[2], "w") as f:
    for s, l in rows:
        f.write(f"{s!r} {l}\n")
pos = [s for s, l in rows if l]; neg = [s for s, l in rows if not l]
auc = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg) / (len(pos) * len(neg))
ap, last_r = 0.0, 0.0
for t in sorted({s for s, _ in rows}, reverse=True):
    sel = [l for s, l in rows if s >= t]
    r = sum(sel) / len(pos); p = sum(sel) / len(sel)
    ap += (r - last_r) * p; last_r = r
print(f"{auc:.9f} {ap:.9f}", file=open(sys.argv[3], "w"))
PY
    got=$("$EVAL" --pairs "$T/pairs" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.9f %.9f" % (d["auc_roc"], d["average_precision"]))')
    want=$(cat "$T/want")
    if [ "$got" = "$want" ]; then ok; else fail "seed $seed: got '$got', want '$want'"; fi
done

DAILY=../shared/data/fraud/fdh/daily
if [ -d "$DAILY" ]; then
    for f in "$DAILY"/2018-08-0[1-9].csv.gz "$DAILY"/2018-08-1[0-4].csv.gz "$DAILY"/2018-07-2[5-9].csv.gz \
        "$DAILY"/2018-07-3[01].csv.gz; do
        zcat "$f" | tail -n +2 | cut -d, -f1 | sed 's/.*/{"TRANSACTION_ID":&,"fraud_score":0.5}/'
    done >"$T/scored.jsonl"
    mkdir "$T/daily" && cp "$DAILY"/2018-0[78]-*.csv.gz "$T/daily/"
    "$EVAL" "$T/scored.jsonl" "$T/daily" --svg "$T/pr.svg" >"$T/out" 2>"$T/err"
    last=$(tail -n 1 "$T/out")
    if echo "$last" | grep -q '"test_transactions": 58264, "test_frauds": 385, "unscored": 0, "auc_roc": 0.500000, "average_precision": 0.006608'; then
        ok
    else
        fail "handbook protocol on the real stream: $last $(cat "$T/err")"
    fi
    if grep -q '<polyline' "$T/pr.svg"; then ok; else fail "no PR curve in the SVG"; fi
else
    echo "skipped the real-stream case: $DAILY is missing"
fi
finish
