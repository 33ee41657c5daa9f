#!/usr/bin/env bash
# The model operator against PyTorch: tests/model_torch.py trains a logistic
# regression, an MLP (layer norm, relu, gelu, tanh), an autoencoder and a
# 3-output network on 4,000 rows, exports them with
# scripts/export_safetensors.py, weir scores the rows file -> file, and every
# output must be within 1e-5 relative of PyTorch's (absolute below 1e-3).
# Rows with a missing input are dead-lettered with the feature's name. Then
# corrupt files (truncated, wrong dtype, wrong shape, garbage header, missing
# file, features not in the pipeline) must each fail validation with a
# message naming the problem, never a crash.
# Skipped (77) without /usr/bin/python3 + torch + numpy.
set -u
. "$(dirname "$0")/lib.sh"
# WEIR_MODEL_DEVICE=cuda serves the model on the GPU (scripts/gpu_check.sh).
DEVICE_OPT=""
[ -n "${WEIR_MODEL_DEVICE:-}" ] && DEVICE_OPT=", \"device\": \"$WEIR_MODEL_DEVICE\""
PY=/usr/bin/python3
if ! $PY -c 'import torch, numpy' 2>/dev/null; then
    echo "skipped: /usr/bin/python3 with torch and numpy is needed (Debian: python3-torch)"
    exit 77
fi
T=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

$PY tests/model_torch.py train "$T" || { fail "training failed"; finish; }

pipeline() { # name out-names-json [extra model options] [source batch size]
    cat >"$T/$1.json" <<JSON
{"source": {"type": "file", "path": "$T/input.jsonl", "max_records": ${4:-1024}},
 "operators": [
  {"type": "extract", "fields": {"f0": "/f0", "f1": "/f1", "f2": {"path": "/f2", "required": false},
    "f3": "/f3", "f4": "/f4", "f5": "/f5"}},
  {"type": "model", "path": "$T/$1.safetensors", "out": $2 ${3:-}${DEVICE_OPT}}],
 "sinks": [{"type": "file", "path": "$T/$1.out.jsonl"}],
 "dead_letter": {"type": "file", "path": "$T/$1.dead.jsonl"}}
JSON
}
pipeline logistic '"y"'
# held: batches of 16 wait for 1000 records, 5 ms, or the end of the input
pipeline mlp '"y"' ', "max_records": 1000, "max_delay_ms": 5' 16
pipeline autoencoder '"y"'
cp "$T/mlp.safetensors" "$T/mlp8.safetensors"
DEVICE_OPT_SAVED=$DEVICE_OPT DEVICE_OPT="" # int8 runs on the CPU only
pipeline mlp8 '"y"' ', "precision": "int8"'
DEVICE_OPT=$DEVICE_OPT_SAVED
pipeline multi '["y0", "y1", "y2"]' ', "max_records": 7'
for m in logistic mlp autoencoder multi mlp8; do
    if "$WEIR_BIN" run "$T/$m.json" --quiet 2>"$T/$m.err"; then ok; else fail "$m: weir run failed: $(cat "$T/$m.err")"; fi
    dead=$(grep -c '"reason":"model: feature f2 is not finite"' "$T/$m.dead.jsonl")
    [ "$dead" = 8 ] && ok || fail "$m: expected 8 dead-lettered rows naming f2, got $dead"
done
if $PY tests/model_torch.py check "$T"; then ok; else fail "outputs differ from PyTorch's"; fi

# ---- bad files: each a clear error at validation --------------------------
bad() { # what file expected-text [out]
    pipeline bad "${4:-\"y\"}"
    sed -i "s|$T/bad.safetensors|$2|" "$T/bad.json"
    if "$WEIR_BIN" validate "$T/bad.json" >"$T/bad.out" 2>&1; then
        fail "$1: validate accepted it"
    elif [ "$?" -ne 2 ]; then
        fail "$1: expected exit 2 (invalid pipeline), got another: $(cat "$T/bad.out")"
    elif grep -qF -- "$3" "$T/bad.out"; then ok
    else fail "$1: expected the message to contain '$3', got: $(cat "$T/bad.out")"; fi
}
M=$T/mlp.safetensors
size=$(stat -c %s "$M")
head -c $((size - 1)) "$M" >"$T/trunc.st"
bad "truncated by one byte" "$T/trunc.st" "outside the"
head -c 100 "$M" >"$T/trunc2.st"
bad "truncated in the header" "$T/trunc2.st" "truncated or not safetensors"
head -c 5 "$M" >"$T/trunc3.st"
bad "five bytes" "$T/trunc3.st" "expected at least 8"
bad "missing file" "$T/nope.safetensors" "cannot open model file $T/nope.safetensors"
bad "wrong number of outputs" "$M" 'expected 1 name (the outputs of dense 6-32(ln)-16-8-1, probability), got 2' '["a", "b"]'
$PY - "$T" <<'PY'
import json, struct, sys
d = sys.argv[1]
raw = open(f"{d}/mlp.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
def write(name, h, data=raw[8 + n:]):
    t = json.dumps(h).encode()
    open(f"{d}/{name}", "wb").write(struct.pack("<Q", len(t)) + t + data)
h = json.loads(json.dumps(head)); h["0.weight"]["dtype"] = "F16"; write("dtype.st", h)
h = json.loads(json.dumps(head)); h["3.weight"]["shape"] = [16, 31]; write("shape.st", h)
h = json.loads(json.dumps(head)); h["3.weight"]["data_offsets"] = [0, 10**12]; write("offs.st", h)
a = json.loads(head["__metadata__"]["weir"]); a["features"] = ["f0", "f1", "f2", "f3", "f4", "nope"]
h = json.loads(json.dumps(head)); h["__metadata__"]["weir"] = json.dumps(a); write("feat.st", h)
h = json.loads(json.dumps(head)); del h["__metadata__"]; write("nometa.st", h)
open(f"{d}/garbage.st", "wb").write(struct.pack("<Q", 4) + b"{{{{" + b"x" * 100)
open(f"{d}/notjson.st", "wb").write(b"{not json")
PY
bad "wrong dtype" "$T/dtype.st" 'tensor "0.weight" (layers[0].weight) has dtype F16: expected F32'
bad "wrong shape" "$T/shape.st" 'tensor "3.weight" (layers[1].weight) has shape [16, 31]: expected [*, 32]'
bad "offsets past the end" "$T/offs.st" 'tensor "3.weight": data_offsets [0, 1000000000000] outside'
bad "feature not in the pipeline" "$T/feat.st" 'unknown feature "nope"'
bad "no architecture" "$T/nometa.st" 'expected __metadata__ to hold "weir"'
bad "garbage header" "$T/garbage.st" "header is not a JSON object"
bad "neither format" "$T/notjson.st" "not valid JSON"
# ---- a directory of versions --------------------------------------------
V=$T/versions
mkdir -p "$V"
cp "$T/logistic.safetensors" "$V/v1.safetensors"
cp "$T/mlp.safetensors" "$V/v2.safetensors"
head -c 300 "$T/mlp.safetensors" >"$V/v10.safetensors" # newest, and truncated
vpipe() { # name [extra model options]
    pipeline "$1" '"y"' ", \"version_out\": \"ver\" ${2:-}"
    sed -i -e "s|$T/$1.safetensors|$V|" -e 's|"type": "file", "path": "'"$T/$1.out.jsonl"'"|&, "fields": ["y", "ver"]|' "$T/$1.json"
}
same_y() { # out.jsonl want.jsonl version
    $PY - "$@" <<'PY'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
# within float rounding: the two runs split the rows into different GEMM calls
ok = len(got) == len(want) and all(abs(g["y"] - w["y"]) <= 1e-6 * max(abs(w["y"]), 1e-3) and
                                   g["ver"] == sys.argv[3] for g, w in zip(got, want))
sys.exit(0 if ok else 1)
PY
}
vpipe newest
if "$WEIR_BIN" run "$T/newest.json" --quiet 2>"$T/newest.err"; then ok; else fail "versions: run failed: $(cat "$T/newest.err")"; fi
grep -q "model version v10.safetensors rejected: model file $V/v10.safetensors: truncated" "$T/newest.err" && ok ||
    fail "versions: expected v10 to be reported as rejected, got: $(cat "$T/newest.err")"
same_y "$T/newest.out.jsonl" "$T/mlp.out.jsonl" v2.safetensors && ok || fail "versions: expected v2 (the MLP) to serve, tagged v2.safetensors"
vpipe pinned ', "version": "v1.safetensors"'
"$WEIR_BIN" run "$T/pinned.json" --quiet 2>/dev/null && same_y "$T/pinned.out.jsonl" "$T/logistic.out.jsonl" v1.safetensors && ok ||
    fail "versions: expected the pinned v1 (the logistic regression) to serve"
vpipe pinbad ', "version": "v10.safetensors"'
"$WEIR_BIN" validate "$T/pinbad.json" >"$T/pinbad.out" 2>&1
[ "$?" = 2 ] && grep -qF 'operators[1].version: model file '"$V"'/v10.safetensors: truncated' "$T/pinbad.out" && ok ||
    fail "versions: a pinned corrupt version must be an error, got: $(cat "$T/pinbad.out")"
vpipe pinnone ', "version": "v3.safetensors"'
"$WEIR_BIN" validate "$T/pinnone.json" >"$T/pinnone.out" 2>&1
grep -qF 'version "v3.safetensors" is not in '"$V" "$T/pinnone.out" && ok || fail "versions: expected 'not in', got: $(cat "$T/pinnone.out")"
rm "$V/v1.safetensors" "$V/v2.safetensors"
vpipe allbad
"$WEIR_BIN" validate "$T/allbad.json" >"$T/allbad.out" 2>&1
grep -qF "none of the 1 versions in $V loads" "$T/allbad.out" && ok || fail "versions: expected 'none ... loads', got: $(cat "$T/allbad.out")"

# Every truncation of a small model is an error, never a crash.
L=$T/logistic.safetensors
crashed=0
for n in $(seq 0 13 "$(stat -c %s "$L")"); do
    head -c "$n" "$L" >"$T/cut.st"
    pipeline bad '"y"'
    sed -i "s|$T/bad.safetensors|$T/cut.st|" "$T/bad.json"
    "$WEIR_BIN" validate "$T/bad.json" >/dev/null 2>&1
    [ "$?" -eq 2 ] || crashed=$((crashed + 1))
done
[ "$crashed" = 0 ] && ok || fail "$crashed truncations did not end in a validation error"
finish
