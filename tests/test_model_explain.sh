#!/usr/bin/env bash
# The model operator's "explain": for a record a tree ensemble scores at
# least explain_above, "<out>_explain" lists the inputs that raised its
# margin most by their exact TreeSHAP values. tests/model_xgb.py trains the
# models (3,000 rows, 10% missing values); tests/model_explain.py holds each
# account to XGBoost's own pred_contribs (within 1e-4), checks that the
# listed inputs are the top positive ones in order, that the parts add up to
# the margin and that the margin is the score's log-odds. Then: only records
# above explain_above get an account, f_lo..f_hi written upstream is quoted,
# threshold quotes the account in its alerts, and what cannot be explained
# (a file without node covers) or explain_k without explain is an error at
# validate, and a version without covers is not swapped in. An autoencoder
# explains its reconstruction error (each input's share, its reconstruction)
# as PyTorch computes them; a classifier network the Shapley values of its
# log-odds, held to exact ones PyTorch computes. The GPU path's
# write-back (WEIR_MODEL_GPU_ON_CPU: its slots, the CPU computing each one)
# gives the CPU's 3,000 accounts (skipped in a build without CUDA).
# Skipped (77) without /usr/bin/python3 + xgboost + numpy.
set -u
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! $PY -c 'import xgboost, numpy' 2>/dev/null; then
    echo "skipped: /usr/bin/python3 with xgboost and numpy is needed (Debian: python3-xgboost)"
    exit 77
fi
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$PY tests/model_xgb.py train "$T" >/dev/null || { fail "training failed"; finish; }

FIELDS=""
for i in 0 1 2 3 4 5 6 7; do FIELDS="$FIELDS${FIELDS:+, }\"f$i\": {\"path\": \"/f$i\", \"required\": false}"; done
NAMES='"features": ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7"]'
pipeline() { # name model-options [operators after the model]
    cat >"$T/p_$1.json" <<JSON
{"source": {"type": "file", "path": "$T/input.jsonl", "max_records": 100},
 "operators": [
  {"type": "extract", "fields": {$FIELDS}},
  {"type": "derive", "fields": {"f1_lo": "-1", "f1_hi": "1"}},
  {"type": "model", "out": "y", $2} ${3:-}],
 "sinks": [{"type": "file", "path": "$T/$1.out.jsonl"}],
 "dead_letter": {"type": "file", "path": "$T/$1.dead.jsonl"}}
JSON
}
run() { # name
    if "$WEIR_BIN" run "$T/p_$1.json" --quiet --workers 2 2>"$T/$1.err"; then ok; else fail "$1: weir run failed: $(cat "$T/$1.err")"; fi
}

# Every record explained: the accounts against XGBoost's.
pipeline all "\"path\": \"$T/binary.json\", \"explain\": true, \"explain_above\": 0"
run all
if $PY tests/model_explain.py check "$T" binary "$T/all.out.jsonl" 3; then ok; else fail "binary: accounts differ from xgboost's pred_contribs"; fi
pipeline raw "\"path\": \"$T/squared.json\", $NAMES, \"explain\": true, \"explain_k\": 8, \"explain_above\": -1e9"
run raw
if $PY tests/model_explain.py check "$T" squared "$T/raw.out.jsonl" 8; then ok; else fail "squared error: accounts differ from xgboost's pred_contribs"; fi
grep -q '"y_explain":"margin ' "$T/raw.out.jsonl" && ok || fail "a raw model's account is not in its margin: $(head -1 "$T/raw.out.jsonl")"
grep -q '=missing [+-]' "$T/all.out.jsonl" && ok || fail "a missing input is not said so"
# The GPU path's write-back (its slots, the CPU computing each one:
# WEIR_MODEL_GPU_ON_CPU) gives the same accounts.
sed -e 's|"explain": true|"device": "cuda", "max_records": 64, "explain": true|' -e 's|/all\.|/gpu.|g' \
    "$T/p_all.json" >"$T/p_gpu.json"
if WEIR_MODEL_GPU_ON_CPU=1 "$WEIR_BIN" run "$T/p_gpu.json" --quiet --workers 2 2>"$T/gpu.err"; then
    if [ "$(grep -o '"row":[0-9]*\|"y_explain":"[^"]*"' "$T/gpu.out.jsonl" | paste - - | sort)" = \
        "$(grep -o '"row":[0-9]*\|"y_explain":"[^"]*"' "$T/all.out.jsonl" | paste - - | sort)" ] &&
        [ "$(grep -c '"y_explain":"log-odds' "$T/gpu.out.jsonl")" = 3000 ]; then
        ok
    else
        fail "the GPU path's accounts differ from the CPU's"
    fi
elif grep -q "CUDA" "$T/gpu.err" && ! grep -q "WEIR_MODEL_GPU_ON_CPU" "$T/gpu.err"; then
    echo "the GPU path: skipped ($(head -1 "$T/gpu.err"))"
else
    fail "the GPU path: $(cat "$T/gpu.err")"
fi

# Only records at or above explain_above; the range written upstream quoted.
pipeline above "\"path\": \"$T/binary.json\", \"explain\": true, \"explain_above\": 0.9"
run above
$PY - "$T/above.out.jsonl" <<'PY' && ok || fail "explain_above 0.9: accounts on the wrong records"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
wrong = [r["row"] for r in recs if (r["y"] >= 0.9) != (r.get("y_explain") is not None)]
ranged = [r for r in recs if " f1=" in (r.get("y_explain") or "")]
assert len(recs) == 3000 and not wrong, wrong[:5]
assert ranged and all(" expected -1..1" in r["y_explain"] for r in ranged), ranged[:1]
print(f"{sum(r.get('y_explain') is not None for r in recs)} of {len(recs)} records explained")
PY

# threshold quotes the score's own account in its alerts.
pipeline alerts "\"path\": \"$T/binary.json\", \"explain\": true, \"explain_above\": 0.99" \
    ', {"type": "threshold", "score": "y", "above": 0.99, "explain": ["f0"]}'
run alerts
$PY - "$T/alerts.out.jsonl" <<'PY' && ok || fail "threshold does not quote the model's account"
import json, sys
alerts = [r for r in map(json.loads, open(sys.argv[1])) if r["alert"]]
assert alerts and all(r["explain"].startswith("y=") and "; log-odds " in r["explain"]
                      and r["y_explain"] in r["explain"] for r in alerts), alerts[:1]
PY

bad() { # what model-options expected-text
    pipeline bad "$2"
    if "$WEIR_BIN" validate "$T/p_bad.json" >"$T/bad.out" 2>&1; then
        fail "$1: validate accepted it"
    elif grep -qF -- "$3" "$T/bad.out"; then ok
    else fail "$1: expected the message to contain '$3', got: $(cat "$T/bad.out")"; fi
}
$PY - "$T" <<'PY'
import json, sys
m = json.load(open(f"{sys.argv[1]}/binary.json"))
del m["learner"]["gradient_booster"]["model"]["trees"][3]["sum_hessian"]
json.dump(m, open(f"{sys.argv[1]}/uncovered.json", "w"))
PY
bad "no node covers" "\"path\": \"$T/uncovered.json\", \"explain\": true" \
    "needs each node's cover (XGBoost's sum_hessian), and 60 trees over 8 features"
# a split's cover that is 0 once a float (TreeSHAP would divide by it)
$PY - "$T" <<'PY'
import json, sys
m = json.load(open(f"{sys.argv[1]}/binary.json"))
m["learner"]["gradient_booster"]["model"]["trees"][3]["sum_hessian"][0] = 1e-50
json.dump(m, open(f"{sys.argv[1]}/tiny.json", "w"))
PY
bad "a split's cover below a float's" "\"path\": \"$T/tiny.json\", \"explain\": true" \
    "needs each node's cover (XGBoost's sum_hessian), and 60 trees over 8 features"
bad "explain_k without explain" "\"path\": \"$T/binary.json\", \"explain_k\": 2" \
    'operators[2].explain_k: expected only with "explain": true'
# The file without covers still scores.
pipeline uncovered "\"path\": \"$T/uncovered.json\""
run uncovered
# ... and is no version to swap in while "explain" is on.
mkdir "$T/v" && cp "$T/binary.json" "$T/v/v1.json"
pipeline swap "\"path\": \"$T/v\", \"reload_ms\": 20, \"explain\": true, \"explain_above\": 0"
sed -i "s|\"path\": \"$T/input.jsonl\"|\"path\": \"-\"|" "$T/p_swap.json"
# Then v3, which has covers, is swapped in: the accounts name the inputs
# still (without "features" the names were the first version's, which the
# swap freed: read after free).
{ head -5 "$T/input.jsonl"; sleep 0.3; cp "$T/uncovered.json" "$T/v/v2.json"; sleep 0.6; head -5 "$T/input.jsonl"
  cp "$T/binary.json" "$T/v/v3.json"; sleep 0.6; head -5 "$T/input.jsonl"; } |
    "$WEIR_BIN" run "$T/p_swap.json" --quiet 2>"$T/swap.err"
grep -qF "model version v2.json rejected, the current one keeps serving: \"explain\" needs each node's cover" "$T/swap.err" &&
    [ "$(grep -c '"y_explain":"log-odds' "$T/swap.out.jsonl")" = 15 ] && ok ||
    fail "a version without covers: $(cat "$T/swap.err")"
grep -qF "v3.json" "$T/swap.err" && [ "$(tail -5 "$T/swap.out.jsonl" | grep -c '"y_explain":"log-odds [^"]* f[0-7]=')" = 5 ] && ok ||
    fail "the accounts after a swap: $(tail -1 "$T/swap.out.jsonl"; cat "$T/swap.err")"
# An autoencoder explains its reconstruction error: each input's share,
# exactly, and what it reconstructed the input as (PyTorch's own network
# as the reference, tests/model_torch.py); a classifier network the Shapley
# values of its log-odds (below); a network with three outputs cannot.
if $PY -c 'import torch' 2>/dev/null; then
    mkdir "$T/torch"
    $PY tests/model_torch.py train "$T/torch" >/dev/null || fail "torch training failed"
    TF='"f0": "/f0", "f1": "/f1", "f2": {"path": "/f2", "required": false}, "f3": "/f3", "f4": "/f4", "f5": "/f5"'
    cat >"$T/p_ae.json" <<JSON
{"source": {"type": "file", "path": "$T/torch/input.jsonl"},
 "operators": [{"type": "extract", "fields": {$TF}},
  {"type": "model", "path": "$T/torch/autoencoder.safetensors", "out": "y", "on_nan": "impute",
   "explain": true, "explain_k": 4, "explain_above": 0}],
 "sinks": [{"type": "file", "path": "$T/ae.out.jsonl"}]}
JSON
    "$WEIR_BIN" run "$T/p_ae.json" --quiet 2>"$T/ae.err" || fail "autoencoder: $(cat "$T/ae.err")"
    if $PY tests/model_explain.py ae "$T/torch" "$T/ae.out.jsonl" 4; then ok; else fail "autoencoder: accounts differ from PyTorch's"; fi
    # A classifier network: the Shapley values of its log-odds against its
    # input mean, exact (2^6 coalitions within explain_evals) or estimated
    # from random orders (said so), held to exact ones PyTorch computes.
    network() { # name model options check...
        sed -e "s|autoencoder.safetensors|$2.safetensors|" -e "s|\"explain_k\": 4|\"explain_k\": 6$3|" \
            -e "s|/ae.out|/$1.out|" "$T/p_ae.json" >"$T/p_$1.json"
        local case=$1
        if ! "$WEIR_BIN" run "$T/p_$1.json" --quiet 2>"$T/$1.err"; then
            fail "$case: $(cat "$T/$case.err")"
            return
        fi
        shift 3
        if $PY tests/model_explain.py net "$T/torch" "$@"; then ok; else fail "$case: accounts differ from exact Shapley values"; fi
    }
    network mlp mlp "" mlp "$T/mlp.out.jsonl" 6 exact
    # 6 random orders (32 evaluations): within 10% on average; a linear
    # network's are exact whatever the orders.
    network mlp_orders mlp ', "explain_evals": 32' mlp "$T/mlp_orders.out.jsonl" 6 mean 0.1
    grep -q '"y_explain":"log-odds [^ ]* from [^ ]* by 6 orders: ' "$T/mlp_orders.out.jsonl" && ok ||
        fail "estimated values are not said so: $(head -1 "$T/mlp_orders.out.jsonl")"
    # The GPU path's write-back (simulated) gives the CPU's accounts.
    sed -e 's|"on_nan": "impute"|"on_nan": "impute", "device": "cuda", "max_records": 64|' \
        -e 's|/mlp.out|/mlp_gpu.out|' "$T/p_mlp.json" >"$T/p_mlp_gpu.json"
    if WEIR_MODEL_GPU_ON_CPU=1 "$WEIR_BIN" run "$T/p_mlp_gpu.json" --quiet 2>"$T/mlp_gpu.err"; then
        cmp -s <(grep -o '"y_explain":"[^"]*"' "$T/mlp.out.jsonl") <(grep -o '"y_explain":"[^"]*"' "$T/mlp_gpu.out.jsonl") &&
            ok || fail "a network's accounts on the GPU path differ from the CPU's"
    elif grep -q "CUDA" "$T/mlp_gpu.err" && ! grep -q "WEIR_MODEL_GPU_ON_CPU" "$T/mlp_gpu.err"; then
        echo "a network on the GPU path: skipped ($(head -1 "$T/mlp_gpu.err"))"
    else
        fail "a network on the GPU path: $(cat "$T/mlp_gpu.err")"
    fi
    network lr_orders logistic ', "explain_evals": 16' logistic "$T/lr_orders.out.jsonl" 6 worst 1e-4
    sed -e 's|autoencoder.safetensors|multi.safetensors|' -e 's|"out": "y"|"out": ["y", "y1", "y2"]|' \
        "$T/p_ae.json" >"$T/p_multi.json"
    "$WEIR_BIN" validate "$T/p_multi.json" >"$T/multi.out" 2>&1
    grep -qF '"explain" needs a model with one output or an autoencoder (reconstruction_error), got dense 6-8-3' "$T/multi.out" && ok ||
        fail "a network with three outputs: $(cat "$T/multi.out")"
    sed -e 's|"explain": true, "explain_k": 4, "explain_above": 0|"explain_evals": 64|' "$T/p_ae.json" >"$T/p_evals.json"
    "$WEIR_BIN" validate "$T/p_evals.json" >"$T/evals.out" 2>&1
    grep -qF 'operators[1].explain_evals: expected only with "explain": true' "$T/evals.out" && ok ||
        fail "explain_evals without explain: $(cat "$T/evals.out")"
else
    echo "the autoencoder case: skipped (/usr/bin/python3 without torch)"
fi
finish
