#!/usr/bin/env bash
# The model operator against XGBoost: tests/model_xgb.py trains
# binary:logistic, reg:squarederror (base_score 2.5, no feature names) and
# reg:logistic (base_score 0.3) models on 3,000 rows with 10% missing values
# (and a row with none), weir scores them file -> file with its own tree
# kernel, and every prediction must be within 1e-5 absolute of XGBoost's.
# The binary model is also read with base_score in XGBoost 2.1's "[5E-1]"
# form. Then bad tree files: unsupported objective, a child pointing back,
# a split on a feature past the end, truncated JSON. A model saved with
# early stopping's best_iteration says which trees score.
# Skipped (77) without /usr/bin/python3 + xgboost + numpy.
set -u
. "$(dirname "$0")/lib.sh"
# WEIR_MODEL_DEVICE=cuda serves the model on the GPU (scripts/gpu_check.sh).
DEVICE_OPT=""
[ -n "${WEIR_MODEL_DEVICE:-}" ] && DEVICE_OPT=", \"device\": \"$WEIR_MODEL_DEVICE\""
PY=/usr/bin/python3
if ! $PY -c 'import xgboost, numpy' 2>/dev/null; then
    echo "skipped: /usr/bin/python3 with xgboost and numpy is needed (Debian: python3-xgboost)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$PY tests/model_xgb.py train "$T" || { fail "training failed"; finish; }

FIELDS=""
for i in 0 1 2 3 4 5 6 7; do FIELDS="$FIELDS${FIELDS:+, }\"f$i\": {\"path\": \"/f$i\", \"required\": false}"; done
pipeline() { # name file [extra model options]
    cat >"$T/p_$1.json" <<JSON
{"source": {"type": "file", "path": "$T/input.jsonl", "max_records": 100},
 "operators": [
  {"type": "extract", "fields": {$FIELDS}},
  {"type": "model", "path": "$2", "out": "y" ${3:-}${DEVICE_OPT}}],
 "sinks": [{"type": "file", "path": "$T/$1.out.jsonl"}],
 "dead_letter": {"type": "file", "path": "$T/$1.dead.jsonl"}}
JSON
}
NAMES='"features": ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"]'
pipeline binary "$T/binary.json"
pipeline squared "$T/squared.json" ", $NAMES, \"max_records\": 256, \"max_delay_ms\": 20"
WORKERS_squared="--workers 2" # two workers share the loaded model
pipeline reglogistic "$T/reglogistic.json" ", $NAMES"
pipeline binary_v2 "$T/binary_v2.json"
for m in binary squared reglogistic binary_v2; do
    w=WORKERS_$m
    # shellcheck disable=SC2086
    if "$WEIR_BIN" run "$T/p_$m.json" --quiet ${!w:-} 2>"$T/$m.err"; then ok; else fail "$m: weir run failed: $(cat "$T/$m.err")"; fi
    [ ! -s "$T/$m.dead.jsonl" ] && ok || fail "$m: records were dead-lettered: $(head -2 "$T/$m.dead.jsonl")"
done
if $PY tests/model_xgb.py check "$T"; then ok; else fail "predictions differ from XGBoost's"; fi

bad() { # what file expected-text [extra]
    pipeline bad "$2" "${4:-}"
    if "$WEIR_BIN" validate "$T/p_bad.json" >"$T/bad.out" 2>&1; then
        fail "$1: validate accepted it"
    elif [ "$?" -ne 2 ]; then
        fail "$1: expected exit 2 (invalid pipeline), got another: $(cat "$T/bad.out")"
    elif grep -qF -- "$3" "$T/bad.out"; then ok
    else fail "$1: expected the message to contain '$3', got: $(cat "$T/bad.out")"; fi
}
mkdir "$T/big"
$PY - "$T" <<'PY'
import json, sys
d = sys.argv[1]
def edit(name, f):
    m = json.load(open(f"{d}/binary.json")); f(m); json.dump(m, open(f"{d}/{name}", "w"))
L = lambda m: m["learner"]
T0 = lambda m: L(m)["gradient_booster"]["model"]["trees"][0]
edit("objective.json", lambda m: L(m)["objective"].update(name="multi:softprob"))
edit("loop.json", lambda m: T0(m)["left_children"].__setitem__(1, 0) if T0(m)["left_children"][1] != -1 else T0(m)["left_children"].__setitem__(0, 0))
edit("feature.json", lambda m: T0(m)["split_indices"].__setitem__(0, 99))
edit("short.json", lambda m: T0(m)["split_conditions"].pop())
edit("dart.json", lambda m: L(m)["gradient_booster"].update(name="dart"))
edit("names.json", lambda m: L(m)["feature_names"].__setitem__(3, "amount"))
# as xgb.train(..., early_stopping_rounds=...) saves it: every round's trees
edit("early.json", lambda m: L(m).setdefault("attributes", {}).update(best_iteration="9"))
# read from the text, not through jansson (models/jspan.h): the same checks
edit("nullchild.json", lambda m: T0(m)["right_children"].__setitem__(0, None))
edit("halfchild.json", lambda m: T0(m)["left_children"].__setitem__(0, 1.5))
edit("treeobj.json", lambda m: L(m)["gradient_booster"]["model"].update(trees={"0": T0(m)}))
edit("notree.json", lambda m: L(m)["gradient_booster"]["model"]["trees"].__setitem__(1, [1, 2]))
edit("cat.json", lambda m: T0(m).update(categories_nodes=[0]))
# as XGBoost writes a categorical split: NaN (not JSON) in split_conditions
def catnan(m):
    T0(m).update(categories_nodes=[0])
    T0(m)["split_conditions"][0] = float("nan")
edit("catnan.json", catnan)
# a leaf beyond a float: it scored inf (NaN beside -inf)
def bigleaf(m):
    t = T0(m)
    t["split_conditions"][t["left_children"].index(-1)] = 1e39
edit("bigleaf.json", bigleaf)
# 100 times the trees (6,000; 2/3 of them named "base_weights" etc. as
# XGBoost writes them): the memory the load takes, against the file's size
m = json.load(open(f"{d}/binary.json"))
tr = L(m)["gradient_booster"]["model"]["trees"]
L(m)["gradient_booster"]["model"]["trees"] = [dict(t, id=i) for i, t in enumerate(tr * 100)]
json.dump(m, open(f"{d}/big/v1.json", "w"))
PY
head -c 5000 "$T/binary.json" >"$T/cut.json"
bad "unsupported objective" "$T/objective.json" 'objective "multi:softprob": expected binary:logistic, reg:logistic or reg:squarederror'
bad "a child pointing back" "$T/loop.json" 'trees[0] node'
bad "split past the features" "$T/feature.json" 'trees[0] node 0: split on feature 99, expected 0 to 7'
bad "arrays of different lengths" "$T/short.json" 'trees[0]: expected left_children'
bad "dart" "$T/dart.json" 'booster "dart": expected "gbtree"'
bad "truncated JSON" "$T/cut.json" "not valid JSON"
bad "a child that is null" "$T/nullchild.json" 'trees[0]: expected left_children, right_children, split_indices, split_conditions and default_left of one length, of numbers'
bad "a child that is not whole" "$T/halfchild.json" 'trees[0] node 0: children 1.5, '
bad "trees in an object" "$T/treeobj.json" 'gradient_booster.model.trees: expected at least one tree'
bad "a tree that is an array" "$T/notree.json" 'trees[1]: expected an object'
$PY - "$T" <<'PY'
import sys
from os import mkdir
d = open(f"{sys.argv[1]}/binary.json", "rb").read()
i = d.index(b'"left_children":[') + len(b'"left_children":[')
mkdir(f"{sys.argv[1]}/odd")
open(f"{sys.argv[1]}/odd/nul.json", "wb").write(d[:i + 1] + b"\0" + d[i + 1:])
open(f"{sys.argv[1]}/odd/escaped.json", "wb").write(d.replace(b'"trees":', b'"tr\\u0065es":'))
t = d.index(b'"trees":[')
j = d.index(b'},{', t)
open(f"{sys.argv[1]}/comma.json", "wb").write(d[:j] + b'} {' + d[j + 3:])
PY
bad "trees without a comma between two" "$T/comma.json" "gradient_booster.model.trees: not valid JSON (an item not followed by ',' or ']')"
# The trees jansson reads where the scanner does not (a NUL it passes over
# after a number, keys written with escapes): read as before, from jansson.
"$WEIR_BIN" model list "$T/odd" >"$T/odd.out" 2>&1
[ "$(grep -c ' ok .*60 trees over 8 features' "$T/odd.out")" = 2 ] && ok ||
    fail "a NUL after a number, an escaped key: $(cat "$T/odd.out")"
bad "categorical splits" "$T/cat.json" 'trees[0] has categorical splits: not supported'
bad "categorical splits, NaN as XGBoost writes them" "$T/catnan.json" 'trees[0] has categorical splits: not supported'
bad "a leaf beyond a float" "$T/bigleaf.json" 'split_conditions 1e+39 is beyond a float'
$PY -c 'import sys, numpy as np, xgboost as xgb
X = np.random.RandomState(1).rand(64, 8); y = (X[:, 0] > 0.5).astype(int)
xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 2).save_model(sys.argv[1])' "$T/m.ubj"
bad "a UBJSON model" "$T/m.ubj" 'an XGBoost model in UBJSON: weir reads'
# Loading takes little more than the file's text: a tree of every number
# (jansson's, before 2026-12-04) took 8 to 20 times the file's size.
mkdir "$T/small" && cp "$T/binary.json" "$T/small/v1.json"
# Not under ThreadSanitizer: its shadow memory grows with the heap (6.5x the
# file there, as measured in CI); AddressSanitizer's does not (1.4x).
if ldd "$WEIR_BIN" 2>/dev/null | grep -q libtsan; then
    echo "the memory of a big model's load: not measured under ThreadSanitizer"
else
$PY - "$WEIR_BIN" "$T" <<'PY' && ok || fail "the memory a big model's load takes"
import os, resource, subprocess, sys
weir, t = sys.argv[1], sys.argv[2]
def peak(d, trees):  # the largest child so far: the small one runs first
    out = subprocess.run([weir, "model", "list", d], capture_output=True, text=True)
    assert out.returncode == 0 and f"{trees} trees" in out.stdout, out.stdout + out.stderr
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
small, big = peak(f"{t}/small", 60), peak(f"{t}/big", 6000)
size = os.path.getsize(f"{t}/big/v1.json")
over = (big - small) / size
print(f"model list of a {size / 1e6:.1f} MB model: {(big - small) / 2**20:.1f} MiB more at its "
      f"peak than of a 60-tree one, {over:.2f}x the file (jansson's tree: 8x or more)")
sys.exit(0 if over < 3 else 1)
PY
fi
bad "model feature not in the pipeline" "$T/names.json" 'unknown feature "amount"'
bad "features in another order" "$T/binary.json" 'expected "f0" (the model'"'"'s input 0), got "f1"' \
    ', "features": ["f1", "f0", "f2", "f3", "f4", "f5", "f6", "f7"]'
bad "too few features" "$T/squared.json" 'expected 8 features (the inputs of 40 trees over 8 features, raw), got 2' \
    ', "features": ["f1", "f0"]'
# Early stopping's best round is said: weir scores with all 60 trees, as
# Booster.predict does; the scikit-learn API's predict uses the first 10.
pipeline early "$T/early.json"
"$WEIR_BIN" validate "$T/p_early.json" >"$T/early.out" 2>&1 && ok || fail "early stopping: $(cat "$T/early.out")"
grep -qF "its 60 trees all score, as xgboost's Booster.predict does; its best_iteration 9 (early stopping) uses the first 10" "$T/early.out" && ok ||
    fail "expected the best_iteration to be said, got: $(cat "$T/early.out")"
# ... and when the watcher swaps such a version in while weir runs.
mkdir "$T/v" && cp "$T/binary.json" "$T/v/v1.json"
sed -e "s|\"path\": \"$T/input.jsonl\"|\"path\": \"-\"|" -e "s|\"path\": \"$T/early.json\"|\"path\": \"$T/v\", \"reload_ms\": 20|" \
    "$T/p_early.json" >"$T/p_swap.json"
{ head -5 "$T/input.jsonl"; sleep 0.3; cp "$T/early.json" "$T/v/v2.json"; sleep 0.6; head -5 "$T/input.jsonl"; } |
    "$WEIR_BIN" run "$T/p_swap.json" --quiet 2>"$T/swap.err"
grep -qF "model version v2.json now serving (was v1.json)" "$T/swap.err" &&
    grep -qF "model version v2.json: its 60 trees all score, as xgboost's Booster.predict does; its best_iteration 9" "$T/swap.err" && ok ||
    fail "expected the swapped-in version's best_iteration to be said, got: $(cat "$T/swap.err")"
finish
