#!/usr/bin/env bash
# weir features and weir fit (docs/models.md "Training with weir fit").
# On 4,000 synthetic records (tests/fit_data.py: two labels, one separable by
# a plane and one by a circle, 3% injected anomalies, missing and infinite
# inputs):
#   - weir features writes exactly the features weir run computes (float32),
#     the label columns and the event time; --until keeps only earlier rows;
#   - the first model of a pipeline (its file not there yet) is trained on
#     the model operator's "features" and then served;
#   - logistic (plane label) and MLP (circle label) reach a stated validation
#     AUC; served by the model operator in weir run they give the predictions
#     weir fit reported within 1e-5; a logistic regression cannot learn the
#     circle (the MLP's AUC is not a property of the data alone);
#   - the autoencoder's reconstruction error is higher on the anomalies;
#   - iforest: trained without labels, served by the iforest operator's
#     "model" it gives weir fit's scores within 1e-6 and finds the anomalies;
#     a model of other features is refused; fitting the very pipeline that
#     serves it trains on that operator's fields, in its order (not on the
#     labels nor on its own old score), so the model validates and runs there;
#   - one seed gives identical files (cmp), another seed a different one;
#     fitting from the pipeline equals fitting from its feature file; two
#     runs of weir features give one file; the validation rows are the latest
#     20% by event time;
#   - xgboost: weir's tree kernel reproduces XGBoost's own predictions of the
#     fitted model (/usr/bin/python3 with xgboost; that part is skipped
#     without it, or when weir was built without libxgboost-dev);
#   - bad inputs: a missing label column, a label out of range, an unknown
#     feature, an infinite input to xgboost: exit 2 with the name; a label
#     among the features, one class only (xgboost too): refused;
#   - a model file appears whole (renamed into place), or not at all;
#   - --scores keeps a line per data row (unlabelled ones in their place);
#     an --out or --scores that cannot be written, bad --hidden widths and
#     --patience with --valid 0 are refused before any work; an error in a
#     pipeline's features names the pipeline; a model reading its label is
#     refused; a byte-order mark does not hide event_time_ms.
# With ../shared/data/fraud/fdh present, weir features on two days of
# pipelines/fraud.json equals weir run's features.
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=python3
$PY tests/fit_data.py make "$T/in.jsonl"

cat >"$T/p.json" <<JSON
{"source": {"type": "file", "path": "$T/in.jsonl"},
 "operators": [
  {"type": "extract", "fields": {"ts": {"path": "/ts", "type": "timestamp"}, "a": "/a", "b": "/b",
    "c": {"path": "/c", "required": false}, "y_lin": "/y_lin", "y_circ": "/y_circ", "anom": "/anom"}},
  {"type": "derive", "fields": {"ab": "a * b", "q": "max(a - 2, 0) / (b - b)"}}],
 "sinks": [{"type": "file", "path": "$T/run.jsonl"}],
 "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}}
JSON
# The same pipeline scoring with a model (path set per test).
sed 's|(b - b)"}}\]|(b - b)"}}, {"type": "model", "path": "MODEL", "out": "score", "on_nan": "impute"}]|' \
    "$T/p.json" >"$T/scored.json"

# --- help ---------------------------------------------------------------------------
for c in features fit; do
    if "$WEIR_BIN" $c --help | grep -q "usage: weir $c"; then ok; else fail "weir $c --help"; fi
done

# --- features = what weir run computes ---------------------------------------------
"$WEIR_BIN" run "$T/p.json" --quiet
"$WEIR_BIN" features "$T/p.json" --out "$T/f.csv" --label y_lin --label y_circ --label anom \
    --features a,b,c,ab,q --quiet || fail "weir features"
head -1 "$T/f.csv" | grep -qx 'event_time_ms,y_lin,y_circ,anom,a,b,c,ab,q' && ok ||
    fail "header: $(head -1 "$T/f.csv")"
$PY - "$T/f.csv" "$T/run.jsonl" <<'PY' && ok || fail "features differ from weir run's"
import csv, json, struct, sys
f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]
rows = list(csv.DictReader(open(sys.argv[1])))
run = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(run) == 3999, (len(rows), len(run))  # one dead letter
empty = inf = 0
for r, o in zip(rows, run):
    assert int(r["event_time_ms"]) == o["ts"] * 1000, r
    for k in ("y_lin", "y_circ", "anom", "ab", "a", "b"):  # a, b: the input's own in run's output
        assert f32(float(r[k])) == f32(o[k]), (k, r[k], o[k])
    if "c" not in o:
        assert r["c"] == "", r
        empty += 1
    else:
        assert f32(float(r["c"])) == f32(o["c"]), (r["c"], o["c"])
    assert r["q"] == ("inf" if o["a"] > 2 else ""), (r["q"], o["a"])  # 1/0 and 0/0
    inf += r["q"] == "inf"
assert empty > 40 and inf > 40, (empty, inf)
PY
# --until: only records before the time (given as epoch ms)
cut=$(sed -n 2001p "$T/f.csv" | cut -d, -f1)
"$WEIR_BIN" features "$T/p.json" --out "$T/until.csv" --until "$cut" --quiet
n=$(($(wc -l <"$T/until.csv") - 1))
max=$(tail -n +2 "$T/until.csv" | cut -d, -f1 | sort -n | tail -1)
if [ "$n" -ge 1950 ] && [ "$n" -le 2050 ] && [ "$max" -lt "$cut" ]; then ok; else
    fail "--until $cut: $n rows, the latest $max"; fi
# --until on records without an event time: nothing written, and said why
# (they were counted as "at or after --until")
printf '{"a":1}\n{"a":2}\n{"a":3}\n' >"$T/nt.jsonl"
printf '{"name": "nt", "source": {"type": "file", "path": "%s"}, "operators": [{"type": "extract", "fields": {"a": "/a"}}], "sinks": [{"type": "file", "path": "-"}]}\n' \
    "$T/nt.jsonl" >"$T/nt.json"
"$WEIR_BIN" features "$T/nt.json" --out "$T/nt.csv" --all --until 2020-01-01 2>"$T/nt.err"
grep -q '0 at or after --until not written; 3 without an event time, which --until cannot place' "$T/nt.err" &&
    ok || fail "--until without event times: $(cat "$T/nt.err")"
# no model and no --features: every feature but the labels
"$WEIR_BIN" features "$T/p.json" --out "$T/all.csv" --label y_lin --quiet
head -1 "$T/all.csv" | grep -qx 'event_time_ms,y_lin,a,b,c,y_circ,anom,ab,q' && ok ||
    fail "all features: $(head -1 "$T/all.csv")"

# --- training and serving ---------------------------------------------------------------
auc_of() { sed -n "s/^$1 .* auc \([0-9.]*\).*/\1/p" "$2"; }
serve() { # model → $T/served.jsonl
    "$WEIR_BIN" run "$T/scored.json" --set "operators[2].path=$1" \
        --set "sinks[0].path=$T/served.jsonl" --quiet
}
fit() { # type label model scores [options]
    local type=$1 label=$2 model=$3 scores=$4
    shift 4
    "$WEIR_BIN" fit "$T/f.csv" --type "$type" ${label:+--label "$label"} --out "$model" \
        --scores "$scores" --quiet "$@"
}
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a >= b) }'; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a < b) }'; }

fit logistic y_lin "$T/lin.safetensors" "$T/lin.scores" --features a,b,c,ab >"$T/lin.txt"
a=$(auc_of validation "$T/lin.txt")
echo "logistic, plane label: validation AUC $a"
at_least "$a" 0.98 && ok || fail "logistic, plane label: validation AUC $a < 0.98: $(cat "$T/lin.txt")"
serve "$T/lin.safetensors"
d=$($PY tests/fit_data.py same "$T/lin.scores" "$T/served.jsonl" score)
below "$d" 1e-5 && ok || fail "logistic: weir run and weir fit differ by $d"

# The first model of a pipeline: its file is not there yet. Fitting the
# pipeline trains on the model operator's "features", writes the file, and
# the pipeline then serves it; without "features" the inputs are unknown.
sed -e "s|\"path\": \"MODEL\", |\"path\": \"$T/first/m.safetensors\", \"features\": [\"a\", \"b\", \"ab\"], |" \
    -e "s|$T/run.jsonl|$T/first.jsonl|" "$T/scored.json" >"$T/first.json"
mkdir "$T/first"
if "$WEIR_BIN" fit "$T/first.json" --type logistic --label y_lin --out "$T/first/m.safetensors" \
    >"$T/first.out" 2>&1 && grep -qF "operators[2]: no model yet (cannot open model file $T/first/m.safetensors" "$T/first.out" &&
    "$WEIR_BIN" run "$T/first.json" --quiet 2>>"$T/first.out" && [ "$(grep -c '"score":0\.' "$T/first.jsonl")" -gt 1000 ]; then
    ok
else
    fail "the first model of a pipeline: $(cat "$T/first.out")"
fi
# A file that is there but does not load is an error, not a first model.
printf 'not a model' >"$T/first/broken.safetensors"
sed "s|first/m.safetensors|first/broken.safetensors|" "$T/first.json" >"$T/first_broken.json"
"$WEIR_BIN" fit "$T/first_broken.json" --type logistic --label y_lin --out "$T/first/x.safetensors" >"$T/first3.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -qF "operators[2].path: model file $T/first/broken.safetensors" "$T/first3.out" &&
    ! grep -q "no model yet" "$T/first3.out" && ok || fail "a broken first model file: rc $rc, $(cat "$T/first3.out")"
sed "s|\"features\": \[\"a\", \"b\", \"ab\"\], ||; s|first/m.safetensors|first/none.safetensors|" "$T/first.json" >"$T/first_unnamed.json"
"$WEIR_BIN" fit "$T/first_unnamed.json" --type logistic --label y_lin --out "$T/first/none.safetensors" >"$T/first2.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -qF '(to train the first model from this pipeline, name its inputs in "features")' "$T/first2.out" && ok ||
    fail "the first model without \"features\": rc $rc, $(cat "$T/first2.out")"

fit mlp y_circ "$T/circ.safetensors" "$T/circ.scores" --features a,b --seed 7 >"$T/circ.txt"
a=$(auc_of validation "$T/circ.txt")
echo "mlp, circle label: validation AUC $a"
at_least "$a" 0.97 && ok || fail "mlp, circle label: validation AUC $a < 0.97: $(cat "$T/circ.txt")"
serve "$T/circ.safetensors"
d=$($PY tests/fit_data.py same "$T/circ.scores" "$T/served.jsonl" score)
echo "mlp: weir run vs weir fit: max difference $d"
below "$d" 1e-5 && ok || fail "mlp: weir run and weir fit differ by $d"
fit logistic y_circ "$T/circ_lr.safetensors" "$T/circ_lr.scores" --features a,b >"$T/circ_lr.txt"
a=$(auc_of validation "$T/circ_lr.txt")
echo "logistic, circle label: validation AUC $a"
below "$a" 0.8 && ok || fail "a logistic regression learnt the circle (AUC $a): the test data is too easy"

# the validation rows are the latest 20% by event time (the input is not quite in time order)
$PY - "$T/f.csv" "$T/lin.scores" <<'PY' && ok || fail "validation rows are not the latest by event time"
import csv, sys
t = [int(r["event_time_ms"]) for r in csv.DictReader(open(sys.argv[1]))]
s = [r["set"] for r in csv.DictReader(open(sys.argv[2]))]
assert len(t) == len(s)
assert any(t[i] > t[i + 1] for i in range(len(t) - 1))  # out of order somewhere
valid = [x for x, k in zip(t, s) if k == "valid"]
train = [x for x, k in zip(t, s) if k == "train"]
assert len(valid) == round(0.2 * len(t)), len(valid)
assert min(valid) >= max(train), (min(valid), max(train))
PY

# determinism
"$WEIR_BIN" features "$T/p.json" --out "$T/f2.csv" --label y_lin --label y_circ --label anom \
    --features a,b,c,ab,q --quiet
cmp -s "$T/f.csv" "$T/f2.csv" && ok || fail "weir features: two runs, two files"
fit mlp y_circ "$T/circ2.safetensors" "$T/circ2.scores" --features a,b --seed 7 >/dev/null
cmp -s "$T/circ.safetensors" "$T/circ2.safetensors" && ok || fail "mlp: one seed, two files"
fit mlp y_circ "$T/circ3.safetensors" "$T/circ3.scores" --features a,b --seed 8 >/dev/null
cmp -s "$T/circ.safetensors" "$T/circ3.safetensors" && fail "mlp: seeds 7 and 8 gave one file" || ok

# autoencoder on normal records (anom = 0)
fit autoencoder anom "$T/ae.safetensors" "$T/ae.scores" --features a,b,c,ab,q --seed 3 >"$T/ae.txt"
fit autoencoder anom "$T/ae2.safetensors" "$T/ae2.scores" --features a,b,c,ab,q --seed 3 >/dev/null
cmp -s "$T/ae.safetensors" "$T/ae2.safetensors" && ok || fail "autoencoder: one seed, two files"
serve "$T/ae.safetensors"
d=$($PY tests/fit_data.py same "$T/ae.scores" "$T/served.jsonl" score)
below "$d" 1e-5 && ok || fail "autoencoder: weir run and weir fit differ by $d"
r=$($PY tests/fit_data.py ratio "$T/served.jsonl" score anom)
a=$($PY tests/fit_data.py auc "$T/served.jsonl" score anom)
echo "autoencoder: anomalies' mean error $r x the normal records', AUC $a"
at_least "$r" 5 && at_least "$a" 0.95 && ok ||
    fail "autoencoder: anomalies' error only $r x the normal one (AUC $a)"

# isolation forest: no labels in training (anom only measures it); rows with a missing
# input (c) neither learnt nor scored; served by the iforest operator's "model"
sed 's|(b - b)"}}\]|(b - b)"}}, {"type": "iforest", "fields": ["a", "b", "c"], "model": "MODEL", "out": "score"}]|' \
    "$T/p.json" >"$T/forest.json"
fit iforest anom "$T/if.json" "$T/if.scores" --features a,b,c --seed 5 --trees 50 >"$T/if.txt"
fit iforest "" "$T/if2.json" "$T/if2.scores" --features a,b,c --seed 5 --trees 50 >/dev/null
cmp -s "$T/if.json" "$T/if2.json" && ok || fail "iforest: one seed, two files (with and without --label)"
# The label only measures an iforest: rows without one are trained on all
# the same (they were dropped, a smaller forest's sample unsaid).
awk -F, -v OFS=, 'NR > 1 && NR % 3 == 0 { $4 = "" } { print }' "$T/f.csv" >"$T/f-some.csv"
"$WEIR_BIN" fit "$T/f-some.csv" --type iforest --label anom --out "$T/if4.json" --features a,b,c \
    --seed 5 --trees 50 --quiet >"$T/if4.txt"
cmp -s "$T/if.json" "$T/if4.json" && grep -q "rows without a label left out of the metrics only" "$T/if4.txt" &&
    ok || fail "iforest: rows without a label: $(cat "$T/if4.txt")"
fit iforest "" "$T/if3.json" "$T/if3.scores" --features a,b,c --seed 6 --trees 50 >/dev/null
cmp -s "$T/if.json" "$T/if3.json" && fail "iforest: seeds 5 and 6 gave one file" || ok
grep -q "^weir fit: iforest 50 trees of 256 points" "$T/if.txt" && ok || fail "iforest: $(cat "$T/if.txt")"
"$WEIR_BIN" run "$T/forest.json" --set "operators[2].model=$T/if.json" \
    --set "sinks[0].path=$T/served.jsonl" --quiet || fail "iforest: weir run with the model"
d=$($PY tests/fit_data.py same "$T/if.scores" "$T/served.jsonl" score)
below "$d" 1e-6 && ok || fail "iforest: weir run and weir fit differ by $d"
a=$($PY tests/fit_data.py auc "$T/served.jsonl" score anom)
echo "iforest (weir fit): anomalies AUC $a; $(grep validation "$T/if.txt")"
at_least "$a" 0.9 && ok || fail "iforest: anomalies AUC $a"
# a model trained on other features is refused with the model's names
"$WEIR_BIN" run "$T/forest.json" --set "operators[2].model=$T/if.json" \
    --set 'operators[2].fields=["a","b"]' --quiet 2>"$T/if.err" && fail "iforest: mismatched fields ran"
grep -q 'operators\[2\].fields: expected the model.s features in its order \["a", "b", "c"\]' "$T/if.err" &&
    ok || fail "iforest: mismatched fields: $(cat "$T/if.err")"

# Fitting the pipeline that serves the forest: the features are the iforest
# operator's fields in its order (the chain is cut before it), never the labels
# nor its own score: the same file as from the CSV, valid in that pipeline.
"$WEIR_BIN" features "$T/forest.json" --set "operators[2].model=$T/if.json" --out "$T/if_f.csv" --quiet
head -1 "$T/if_f.csv" | grep -qx 'event_time_ms,a,b,c' && ok ||
    fail "weir features before an iforest with a model: $(head -1 "$T/if_f.csv")"
for label in "" anom; do
    "$WEIR_BIN" fit "$T/forest.json" --set "operators[2].model=$T/if.json" --type iforest \
        ${label:+--label $label} --seed 5 --trees 50 --out "$T/if_p.json" --quiet >/dev/null ||
        fail "iforest: fit from the pipeline (label '$label')"
    cmp -s "$T/if.json" "$T/if_p.json" && ok ||
        fail "iforest: fit from its own pipeline (label '$label') differs: $(head -c 300 "$T/if_p.json")"
done
"$WEIR_BIN" validate "$T/forest.json" --set "operators[2].model=$T/if_p.json" >/dev/null 2>"$T/if.err" &&
    ok || fail "iforest: the model fitted from its pipeline is refused there: $(cat "$T/if.err")"
"$WEIR_BIN" run "$T/forest.json" --set "operators[2].model=$T/if_p.json" \
    --set "sinks[0].path=$T/served_p.jsonl" --quiet && cmp -s "$T/served.jsonl" "$T/served_p.jsonl" &&
    ok || fail "iforest: weir run with the model fitted from its pipeline"
# ... and its first forest, before the file is there: the same file.
"$WEIR_BIN" fit "$T/forest.json" --set "operators[2].model=$T/if_first.json" --type iforest \
    --seed 5 --trees 50 --out "$T/if_first.json" >"$T/if_first.out" 2>&1 &&
    grep -qF "operators[2]: no model yet" "$T/if_first.out" && cmp -s "$T/if.json" "$T/if_first.json" &&
    ok || fail "iforest: the first forest of a pipeline: $(cat "$T/if_first.out")"

# A forest whose account of a record would be over explain's bound: weir fit
# warns with the bound the iforest operator refuses it by; the default forest
# of the same data, refitted from the pipeline that refuses the big one, does
# not.
awk 'BEGIN { srand(3); for (q = 0; q < 12; q++) printf "%sf%d", q ? "," : "", q; print "";
             for (r = 0; r < 5000; r++) { for (q = 0; q < 12; q++) printf "%s%.4f", q ? "," : "", rand(); print "" } }' \
    >"$T/wide.csv"
fields=$(head -1 "$T/wide.csv" | sed 's/\([^,]*\)/"\1"/g')
cat >"$T/wide.json" <<JSON
{"source": {"type": "file", "path": "$T/wide.csv", "format": "csv"},
 "operators": [{"type": "extract", "fields": {$(echo "$fields" | sed 's/"\(f[0-9]*\)"/"\1": "\/\1"/g')}},
               {"type": "iforest", "fields": [$fields], "model": "MODEL", "explain": true, "out": "score"}],
 "sinks": [{"type": "file", "path": "$T/wide.out"}]}
JSON
"$WEIR_BIN" fit "$T/wide.csv" --type iforest --trees 1024 --sample 4096 --out "$T/big.json" --quiet \
    >/dev/null 2>"$T/big.err" || fail "iforest: fit of 1024 trees: $(cat "$T/big.err")"
warned=$(sed -n 's/.*warning: explaining a record with this forest may take \([^ ]*\) steps, more than the 1e+07.*/\1/p' "$T/big.err")
"$WEIR_BIN" validate "$T/wide.json" --set "operators[1].model=$T/big.json" >/dev/null 2>"$T/big.val" &&
    fail "iforest: a forest over the explain bound validated"
[ -n "$warned" ] && grep -qF "over 12 fields may take $warned (" "$T/big.val" && ok ||
    fail "iforest: weir fit's warning ($(cat "$T/big.err")) is not the operator's refusal ($(cat "$T/big.val"))"
# ... and weir fit PIPELINE refits that forest's pipeline (the chain is cut
# before the forest, which never explains there), here with the defaults
"$WEIR_BIN" fit "$T/wide.json" --set "operators[1].model=$T/big.json" --type iforest \
    --out "$T/small.json" --quiet >/dev/null 2>"$T/small.err" && [ ! -s "$T/small.err" ] &&
    "$WEIR_BIN" validate "$T/wide.json" --set "operators[1].model=$T/small.json" >/dev/null 2>&1 && ok ||
    fail "iforest: the refit with the defaults failed, warned or was refused: $(cat "$T/small.err")"
# the forest is written a tree at a time: a full disk is named, exit 1
if [ -w /dev/full ]; then
    "$WEIR_BIN" fit "$T/wide.csv" --type iforest --out /dev/full --quiet >/dev/null 2>"$T/full.err"
    [ $? -eq 1 ] && grep -q "^weir: fit: /dev/full: No space left on device" "$T/full.err" && ok ||
        fail "iforest: writing to a full disk: $(cat "$T/full.err")"
fi

# from the pipeline directly: the same file as from its feature CSV
"$WEIR_BIN" fit "$T/p.json" --features a,b,c,ab --type logistic --label y_lin \
    --out "$T/lin_p.safetensors" --quiet >/dev/null
cmp -s "$T/lin.safetensors" "$T/lin_p.safetensors" && ok || fail "fit from the pipeline differs"

# --- xgboost ------------------------------------------------------------------------------
if ! "$WEIR_BIN" fit "$T/f.csv" --type xgboost --label y_circ --features a,b,c,ab --seed 5 \
    --rounds 60 --out "$T/x.json" --scores "$T/x.scores" --quiet >"$T/x.txt" 2>"$T/x.err"; then
    if grep -q "built without XGBoost" "$T/x.err"; then echo "xgboost: not built, skipped"
    else fail "weir fit --type xgboost: $(cat "$T/x.err")"; fi
else
    a=$(auc_of validation "$T/x.txt")
    echo "xgboost, circle label: validation AUC $a"
    at_least "$a" 0.97 && ok || fail "xgboost: validation AUC $a"
    serve "$T/x.json"
    d=$($PY tests/fit_data.py same "$T/x.scores" "$T/served.jsonl" score)
    below "$d" 1e-5 && ok || fail "xgboost: weir run and weir fit differ by $d"
    "$WEIR_BIN" fit "$T/f.csv" --type xgboost --label y_circ --features a,b,c,ab --seed 5 \
        --rounds 60 --out "$T/x2.json" --quiet >/dev/null
    cmp -s "$T/x.json" "$T/x2.json" && ok || fail "xgboost: one seed, two files"
    if /usr/bin/python3 -c 'import xgboost, numpy' 2>/dev/null; then
        d=$(/usr/bin/python3 tests/fit_data.py xgb "$T/x.json" "$T/f.csv" "$T/served.jsonl" score)
        below "$d" 1e-5 && ok || fail "xgboost: weir's trees and XGBoost's predictions differ by $d"
    else
        echo "xgboost: /usr/bin/python3 has no xgboost: XGBoost's own predictions not compared"
    fi
fi

# --- bad inputs ---------------------------------------------------------------------------
expect_error() { # expected-text command...
    local want=$1
    shift
    "$@" >/dev/null 2>"$T/err"
    local rc=$?
    [ $rc -eq 2 ] && grep -q "$want" "$T/err" && ok || fail "$* -> $rc: $(cat "$T/err")"
}
expect_error 'no label column "nope"' "$WEIR_BIN" fit "$T/f.csv" --type mlp --label nope --out "$T/x"
expect_error 'no column "zz"' "$WEIR_BIN" fit "$T/f.csv" --type mlp --label y_lin --features a,zz \
    --out "$T/x"
sed '3s/^\([0-9]*\),[01],/\1,2,/' "$T/f.csv" >"$T/bad.csv"
expect_error 'bad.csv:3: the label: expected a number from 0 to 1' "$WEIR_BIN" fit "$T/bad.csv" \
    --type logistic --label y_lin --out "$T/x"
expect_error 'computes no numeric feature "nope"' "$WEIR_BIN" features "$T/p.json" \
    --features a,nope --out "$T/x.csv"
expect_error 'needs --label' "$WEIR_BIN" fit "$T/f.csv" --type xgboost --out "$T/x"
# checked before the data is read (it came after the features were computed)
expect_error 'class-weight expects balanced, none' "$WEIR_BIN" fit "$T/no-such.csv" --type logistic \
    --label y --class-weight heavy --out "$T/x"
expect_error 'seed must be at most 2147483647' "$WEIR_BIN" fit "$T/f.csv" --type xgboost --label y_lin \
    --seed 4294967297 --out "$T/x.json"
# XGBoost picks its format by the name: m.ubj was written as UBJSON, which
# the model operator does not read, and the fit said nothing.
expect_error 'writes XGBoost.s JSON model: --out must end in .json, got' "$WEIR_BIN" fit "$T/f.csv" \
    --type xgboost --label y_lin --out "$T/m.ubj"
# Accepted and then ignored, they would leave the user believing in a model
# they did not get: a held-out cut on a CSV, another type's settings.
expect_error '\-\-until and \-\-set apply to a pipeline' "$WEIR_BIN" fit "$T/f.csv" --type logistic \
    --label y_lin --until 2024-01-02 --out "$T/x"
expect_error '\-\-epochs does nothing with \-\-type iforest' "$WEIR_BIN" fit "$T/f.csv" --type iforest \
    --epochs 5 --out "$T/x"
# --until nan (or inf, 1e30) was cast to INT64_MIN: 0 rows, exit 0.
expect_error '\-\-until expects YYYY-MM-DD' "$WEIR_BIN" features "$T/p.json" --all --until nan \
    --out "$T/x.csv"
expect_error '\-\-until expects YYYY-MM-DD' "$WEIR_BIN" features "$T/p.json" --all --until 1e30 \
    --out "$T/x.csv"
# A Kafka source never ends: refused, not read until a signal.
expect_error 'reads a kafka source, which does not end' "$WEIR_BIN" features \
    tests/pipelines/kafka-basic.json --all --out "$T/x.csv"
# XGBoost stops on an infinite input (a C++ backtrace); as missing it would
# train what weir's trees do not serve (NaN: the default way, inf: a value).
printf 'a,y\n1,0\n2,1\ninf,0\n3,1\n1,0\n' >"$T/inf.csv"
if "$WEIR_BIN" fit "$T/inf.csv" --type xgboost --label y --valid 0 --out "$T/x.json" 2>&1 |
    grep -q "built without XGBoost"; then echo "xgboost: not built, inf check skipped"
else
    expect_error 'inf.csv:4: column "a" is inf (or above a float.s 3.4e38): XGBoost takes finite values only' "$WEIR_BIN" fit \
        "$T/inf.csv" --type xgboost --label y --valid 0 --out "$T/x.json"
    sed -e '6s/^1,/-inf,/' -e '4s/^inf,/2,/' "$T/inf.csv" >"$T/ninf.csv"
    expect_error 'ninf.csv:6: column "a" is -inf (or below a float.s -3.4e38)' "$WEIR_BIN" fit "$T/ninf.csv" --type xgboost \
        --label y --valid 0 --out "$T/x.json"
    sed '4s/^inf,/1e39,/' "$T/inf.csv" >"$T/big.csv" # beyond a float: read as inf
    expect_error 'big.csv:4: column "a" is inf (or above a float.s 3.4e38)' "$WEIR_BIN" fit "$T/big.csv" \
        --type xgboost --label y --valid 0 --out "$T/x.json"
    sed '4s/^inf,0/2,inf/' "$T/inf.csv" >"$T/yinf.csv"
    expect_error 'yinf.csv:4: the label: expected a number from 0 to 1' "$WEIR_BIN" fit \
        "$T/yinf.csv" --type xgboost --label y --valid 0 --out "$T/x.json"
    # from a pipeline: q is 1/0 for some records
    expect_error 'feature "q" is inf (or above a float.s 3.4e38) in row [0-9]* (event time [0-9]* ms) of the features of' \
        "$WEIR_BIN" fit "$T/p.json" --type xgboost --label y_circ --features a,b,q --out "$T/x.json"
    # a nan label is unknown: the row is skipped, as an empty one
    sed '4s/^inf,0/2,nan/' "$T/inf.csv" >"$T/ynan.csv"
    "$WEIR_BIN" fit "$T/ynan.csv" --type xgboost --label y --valid 0 --rounds 3 --out "$T/x.json" \
        --quiet 2>"$T/err" | grep -q '4 rows: .*rows without a label skipped' && ok ||
        fail "xgboost: a nan label: $(cat "$T/err")"
fi
expect_error '\-\-trees does nothing with \-\-type mlp' "$WEIR_BIN" fit "$T/f.csv" --type mlp \
    --label y_lin --trees 5 --out "$T/x.json"
# a label among the features: written twice, the copy would be trained on
expect_error '\-\-features: y_lin is a \-\-label, not a feature' "$WEIR_BIN" features "$T/p.json" \
    --label y_lin --features a,y_lin --out "$T/x.csv"
"$WEIR_BIN" fit "$T/p.json" --type mlp --label y_lin --features a,y_lin --out "$T/x.json" \
    >/dev/null 2>"$T/err" && fail "fit: a label among a pipeline's features was trained on" ||
    { grep -q 'y_lin is a \-\-label, not a feature' "$T/err" && ok || fail "fit: $(cat "$T/err")"; }
# the event time among a file's features: no pipeline computes it (the
# model could not be served), and it orders the training/validation split
expect_error 'the event time cannot be a feature' "$WEIR_BIN" fit "$T/f.csv" --type logistic \
    --label y_lin --features event_time_ms,a --out "$T/x.safetensors"
# a model file is renamed into place whole: none of the fits above left a
# part behind, and one that fails leaves the file it would replace as it was
ls -a "$T" | grep -q '\.part' && fail "a .part file left: $(ls -a "$T")" || ok
# a validation row far outside the training rows: its loss is not finite and
# no epoch would be kept (the untrained net was written)
(echo "event_time_ms,a,y"; for i in $(seq 1 40); do echo "$i,0.$((i % 10)),$((i % 2))"; done
    echo "100,3e38,0") >"$T/far.csv"
"$WEIR_BIN" fit "$T/far.csv" --type logistic --label y --valid 0.03 --epochs 3 \
    --out "$T/far.safetensors" >/dev/null 2>"$T/err" && fail "a NaN validation loss: a model written" ||
    { grep -q 'the validation loss was not finite at any of [0-9]* epochs' "$T/err" && [ ! -e "$T/far.safetensors" ] &&
        ok || fail "a NaN validation loss: $(cat "$T/err")"; }
printf 'a,y\n1,0\n2,1\n3,0\n4,1\n' >"$T/two.csv"
# the new file keeps the old one's permissions (a model the serving group reads)
echo old >"$T/mode.safetensors" && chmod 640 "$T/mode.safetensors"
"$WEIR_BIN" fit "$T/two.csv" --type logistic --label y --valid 0 --epochs 1 \
    --out "$T/mode.safetensors" --quiet >/dev/null &&
    [ "$(stat -c %a "$T/mode.safetensors")" = 640 ] && [ "$(head -c 3 "$T/mode.safetensors")" != old ] &&
    ok || fail "fit over a 0640 model: $(stat -c %a "$T/mode.safetensors")"
# a symbolic link is written through, not replaced by a file
echo old >"$T/real.safetensors" && ln -s real.safetensors "$T/link.safetensors"
"$WEIR_BIN" fit "$T/two.csv" --type logistic --label y --valid 0 --epochs 1 \
    --out "$T/link.safetensors" --quiet >/dev/null &&
    [ -L "$T/link.safetensors" ] && [ "$(head -c 3 "$T/real.safetensors")" != old ] && ok ||
    fail "fit through a symbolic link: $(ls -la "$T"/*.safetensors)"
printf 'a,y\n1,0\n2,0\n3,0\n4,0\n' >"$T/one.csv"
echo old >"$T/keep.json"
for type in logistic xgboost; do
    "$WEIR_BIN" fit "$T/one.csv" --type $type --label y --valid 0 --out "$T/keep.json" \
        >/dev/null 2>"$T/err"
    rc=$?
    if grep -q "built without XGBoost" "$T/err"; then continue; fi
    [ $rc -ne 0 ] && grep -q 'a classifier needs both classes' "$T/err" &&
        [ "$(cat "$T/keep.json")" = old ] && ! ls -a "$T" | grep -q '\.part' && ok ||
        fail "$type on one class: rc $rc, $(cat "$T/err"), the file: $(head -c 40 "$T/keep.json")"
done

# --scores writes a line per data row, in the file's order: a row without a
# label (not trained on) says so in its place, so that the lines stay beside
# their rows (they were left out, and every later score was a row early)
printf 'a,y\n1,0\n2,1\n3,\n4,1\n5,0\n\n6,\n' >"$T/gap.csv"
"$WEIR_BIN" fit "$T/gap.csv" --type logistic --label y --valid 0 --epochs 1 \
    --out "$T/gap.safetensors" --scores "$T/gap.scores" --quiet >/dev/null 2>"$T/err" &&
    [ "$(wc -l <"$T/gap.scores")" = 7 ] && [ "$(sed -n 4p "$T/gap.scores")" = unlabelled, ] &&
    [ "$(sed -n 7p "$T/gap.scores")" = unlabelled, ] && [ "$(grep -c '^train,' "$T/gap.scores")" = 4 ] &&
    ok || fail "--scores with unlabelled rows: $(cat "$T/err" "$T/gap.scores")"
# Where the model or the scores cannot go is said before the features are
# computed and trained on (they were found after), and the old model stays.
echo old >"$T/stay.safetensors"
expect_error "\-\-out $T/nodir/m.safetensors: cannot create a file in $T/nodir" "$WEIR_BIN" fit \
    "$T/p.json" --type mlp --label y_lin --features a,b --out "$T/nodir/m.safetensors"
grep -q 'rows of' "$T/err" && fail "--out in no directory: features computed first" || ok
expect_error "\-\-scores $T/nodir/s.csv: cannot create a file in $T/nodir" "$WEIR_BIN" fit \
    "$T/p.json" --type mlp --label y_lin --features a,b --out "$T/stay.safetensors" --scores "$T/nodir/s.csv"
[ "$(cat "$T/stay.safetensors")" = old ] && ok || fail "--scores that failed: the model was replaced"
# a --scores that passes that check but fails when written (a directory):
# the scores go first, so the old model stays (it was renamed in, then exit 1)
mkdir "$T/sdir"
"$WEIR_BIN" fit "$T/two.csv" --type logistic --label y --valid 0 --epochs 1 --out "$T/stay.safetensors" \
    --scores "$T/sdir" --quiet >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$T/stay.safetensors")" = old ] && ! ls -a "$T" | grep -q '\.part' && ok ||
    fail "--scores into a directory: rc $rc, $(cat "$T/err"), the model: $(head -c 20 "$T/stay.safetensors")"
expect_error '\-\-hidden expects widths from 1 to 4096' "$WEIR_BIN" fit "$T/p.json" --type mlp \
    --label y_lin --features a,b --hidden 32:16 --out "$T/x.safetensors"
grep -q 'rows of' "$T/err" && fail "--hidden: features computed first" || ok
expect_error '\-\-patience stops on the validation loss, and \-\-valid 0' "$WEIR_BIN" fit "$T/f.csv" \
    --type mlp --label y_lin --valid 0 --patience 3 --out "$T/x.safetensors"
# a pipeline's features are read from a file that is gone when an error is
# said: it names the pipeline's features, not that file
expect_error "p.json: its features (as weir features writes them), line [0-9]*: the label: expected" \
    "$WEIR_BIN" fit "$T/p.json" --type logistic --label a --features b --out "$T/x.safetensors"
grep -q 'weir-fit-features' "$T/err" && fail "the temporary file named: $(cat "$T/err")" || ok
# a model that reads its own label: refused with its reason (it was "in the
# header twice", of the temporary file)
sed 's|"out": "score"|"features": ["a", "y_lin"], "out": "score"|' "$T/scored.json" >"$T/self.json"
"$WEIR_BIN" fit "$T/self.json" --type logistic --label y_lin --out "$T/x.safetensors" \
    >/dev/null 2>"$T/err" && fail "fit: a model reading its label was trained" ||
    { grep -q 'operators\[2\] (model) reads y_lin, the label' "$T/err" && ok || fail "fit: $(cat "$T/err")"; }
# a byte-order mark (a spreadsheet's "CSV UTF-8") before the first column:
# event_time_ms is still the event time, not a feature (the split was by
# file order); file order is the reverse of time here
{ printf '\xef\xbb\xbfevent_time_ms,a,y\n'; for i in $(seq 40 -1 1); do echo "$i,0.$((i % 10)),$((i % 2))"; done; } >"$T/bom.csv"
"$WEIR_BIN" fit "$T/bom.csv" --type logistic --label y --epochs 1 --out "$T/bom.safetensors" \
    --quiet >"$T/out" 2>"$T/err" && grep -q 'logistic 1-1,.*(the last by event time)' "$T/out" && ok ||
    fail "a byte-order mark: $(cat "$T/out" "$T/err")"

# --- the fraud pipeline, when its data is here ------------------------------------------------
FDH=../shared/data/fraud/fdh/daily
if [ -f "$FDH/2018-04-01.csv.gz" ]; then
    days="source.path=$FDH/2018-04-0[12].csv.gz"
    "$WEIR_BIN" features pipelines/fraud.json --set "$days" --label TX_FRAUD --out "$T/fraud.csv" \
        --quiet
    "$WEIR_BIN" run pipelines/fraud.json --set "$days" --set "sinks[0].path=$T/fraud.jsonl" \
        --set "sinks[1].path=/dev/null" --set "dead_letter.path=/dev/null" --quiet
    $PY - "$T/fraud.csv" "$T/fraud.jsonl" <<'PY' && ok || fail "fraud: features differ from weir run"
import csv, json, struct, sys
f32 = lambda v: struct.unpack("f", struct.pack("f", v))[0]
rows = list(csv.DictReader(open(sys.argv[1])))
run = [json.loads(l) for l in open(sys.argv[2])]
assert len(rows) == len(run) > 10000, (len(rows), len(run))
names = [k for k in rows[0] if k not in ("event_time_ms", "TX_FRAUD")]
assert len(names) == 50, names  # the model operator's inputs
for r, o in zip(rows, run):
    for k in names:
        assert f32(float(r[k])) == f32(o[k]), (o["TRANSACTION_ID"], k, r[k], o[k])
PY
    # the forest of pipelines/fraud-iforest-fit.json, fitted from that pipeline, serves there
    "$WEIR_BIN" fit pipelines/fraud-iforest-fit.json --set "$days" --type iforest --trees 20 \
        --out "$T/fraud-if.json" --quiet >/dev/null &&
        "$WEIR_BIN" validate pipelines/fraud-iforest-fit.json --set "$days" \
            --set "operators[4].model=$T/fraud-if.json" >/dev/null 2>"$T/err" && ok ||
        fail "fraud-iforest-fit.json: its fitted forest is refused: $(cat "$T/err")"
else
    echo "fraud data not found ($FDH): the fraud check is skipped"
fi
finish
