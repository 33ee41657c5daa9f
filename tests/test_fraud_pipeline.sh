#!/usr/bin/env bash
# pipelines/fraud.json computes the Fraud Detection Handbook's 15 features in
# stream order: over 30 days of the real stream (April 2018, read from
# the gzip daily files through a glob), every feature of every transaction
# equals the handbook's own pandas computation (tests/fraud_features_ref.py)
# within 1e-4 relative; the labels never reach the first sink; every
# transaction has a fraud_score in [0, 1]; every alert carries the model's
# account of its score, as every alert of the autoencoder's and the trained
# isolation forest's pipelines over the same month does.
# Skipped (77) without the data or pandas.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
DAILY=../shared/data/fraud/fdh/daily
PY=/usr/bin/python3
[ -d "$DAILY" ] || { echo "skipped: $DAILY is missing"; exit 77; }
"$PY" -c 'import pandas' 2>/dev/null || { echo "skipped: $PY has no pandas"; exit 77; }
T=$(mktemp -d /tmp/weir-test-fraud.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$WEIR_BIN" run pipelines/fraud.json --quiet --set "source.path=$DAILY/2018-04-*.csv.gz" \
    --set "sinks[0].path=$T/out.jsonl" --set "sinks[1].path=$T/alerts.txt" \
    --set "dead_letter.path=$T/dead.jsonl" 2>"$T/err" || fail "weir run failed: $(cat "$T/err")"
"$PY" tests/fraud_features_ref.py "$DAILY" 2018-04-01 2018-04-30 "$T/ref.csv" 2>"$T/ref.err" ||
    fail "the pandas reference failed: $(tail -3 "$T/ref.err")"
"$PY" - "$T/out.jsonl" "$T/ref.csv" >"$T/cmp" 2>&1 <<'PY'
import json, sys
import numpy as np
import pandas as pd
ref = pd.read_csv(sys.argv[2])
features = [c for c in ref.columns if c != "TRANSACTION_ID"]
rows, labels = [], 0
with open(sys.argv[1]) as f:
    for line in f:
        r = json.loads(line)
        labels += "TX_FRAUD" in r or "TX_FRAUD_SCENARIO" in r
        rows.append([r["TRANSACTION_ID"], r.get("fraud_score", np.nan)] + [r.get(k, np.nan) for k in features])
got = pd.DataFrame(rows, columns=["TRANSACTION_ID", "fraud_score"] + features)
m = ref.merge(got, on="TRANSACTION_ID", how="left", suffixes=("", "_weir"))
bad = 0
for k in features:
    exp, val = m[k].to_numpy(float), m[k + "_weir"].to_numpy(float)
    wrong = ~(np.abs(val - exp) <= 1e-4 * np.maximum(np.abs(exp), 1e-6) + 1e-9)
    bad += int(wrong.sum())
    for i in np.flatnonzero(wrong)[:2]:
        print(f"  TRANSACTION_ID {m.TRANSACTION_ID[i]} {k}: weir {val[i]}, pandas {exp[i]}")
s = got.fraud_score.to_numpy(float)
scores = int(((s >= 0) & (s <= 1)).sum())
print(f"compared {len(got)} outputs with {len(ref)} reference transactions, {len(features)} features: "
      f"{bad} values differ; {labels} outputs carry a label; {scores} scores in [0,1]")
sys.exit(0 if len(got) == len(ref) and bad == 0 and labels == 0 and scores == len(got) else 1)
PY
rc=$?
cat "$T/cmp"
if [ $rc -eq 0 ]; then ok; else fail "features differ from the handbook's pandas computation"; fi

# Every alert says why: the model's account of its log-odds, the amount
# against the range the card's baseline expects when it is among the top.
n=$(grep -c '^ALERT' "$T/alerts.txt")
explained=$(grep -c '^ALERT .*explain="fraud_score=[0-9.]* >= 0.9; log-odds [-0-9.]* from [-0-9.]*: [A-Z0-9_]*=' "$T/alerts.txt")
if [ "$n" -gt 0 ] && [ "$explained" = "$n" ] && grep -q ' TX_AMOUNT=[0-9.]* [+-][0-9.e-]* expected [0-9.e+]*\.\.[0-9.e+]*[,;]' "$T/alerts.txt"; then
    ok
else
    fail "$explained of $n alerts explained: $(grep -m1 '^ALERT' "$T/alerts.txt")"
fi

# The unsupervised pipelines: the autoencoder's account of its error, the
# forest's of the record's mean path (the inputs that shortened it).
for p in fraud-unsupervised:'reconstruction error [0-9.e+-]*: [A-Z0-9_]*=[0-9.e+-]* [+][0-9.e+-]* reconstructed ' \
    fraud-iforest-fit:'path length [0-9.e+-]* from [0-9.e+-]*: [A-Z0-9_]*=[0-9.e+-]* -[0-9.e+-]* sample mean '; do
    name=${p%%:*}
    "$WEIR_BIN" run "pipelines/$name.json" --quiet --set "source.path=$DAILY/2018-04-*.csv.gz" \
        --set "sinks[0].path=/dev/null" --set "sinks[1].path=$T/$name.txt" \
        --set "dead_letter.path=$T/dead.jsonl" 2>"$T/err" || fail "$name: weir run failed: $(cat "$T/err")"
    n=$(grep -c '^ALERT' "$T/$name.txt")
    explained=$(grep -c "^ALERT .*fraud_score_explain=\"${p#*:}" "$T/$name.txt")
    if [ "$n" -gt 0 ] && [ "$explained" = "$n" ]; then
        ok
    else
        fail "$name: $explained of $n alerts explained: $(grep -m1 '^ALERT' "$T/$name.txt")"
    fi
done

timeout 300 "$WEIR_BIN" run pipelines/fraud-embedded.json >"$T/emb.out" 2>"$T/emb.err"
rc=$?
want=$(for f in "$DAILY"/2018-08-0[1-5].csv.gz; do zcat "$f" | tail -n +2; done | wc -l)
alerts=$(grep -c '^ALERT .*fraud_score=' "$T/emb.out")
if [ $rc -eq 0 ] && grep -q "fraud-embedded: $want records in, $want out, 0 dead letters, $alerts alerts" "$T/emb.err" &&
    [ "$alerts" -gt 0 ]; then
    ok
else
    fail "fraud-embedded: rc $rc, $alerts alerts, want $want records: $(tail -n 3 "$T/emb.err")"
fi
finish
