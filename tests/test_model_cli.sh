#!/usr/bin/env bash
# weir model list|pin|unpin|rollback and SIGHUP on a directory of model
# versions, with "reload_ms": 0 (so nothing changes but on SIGHUP). One weir
# reads records from a pipe; between groups of 50 records the test pins,
# rolls back, unpins or drops a new version in, sends SIGHUP and waits for
# the swap to be logged. Each record carries the version that scored it
# ("version_out") and y tells which one did: v1 y = f0, v2 y = f1, v3
# y = 2 f0, v5 y = f0 + f1; v4 has a weight of the wrong shape; a marker
# naming a version that is not there is reported and changes nothing. At the end:
# every record came out exactly once (outputs = inputs), each scored by the
# version that served when it was sent; /metrics shows the version served
# and inference times. Skipped (77) without /usr/bin/python3 + numpy.
set -u
. "$(dirname "$0")/lib.sh"
# WEIR_MODEL_DEVICE=cuda serves the model on the GPU (test_model_gpu_path.sh
# on weir_hostcuda; scripts/gpu_check.sh): the inference times are then the
# "cuda" series.
DEVICE=${WEIR_MODEL_DEVICE:-cpu}
. "$(dirname "$0")/model_versions_lib.sh"
write_linear v1.safetensors 1 0
write_linear v2.safetensors 0 1
write_linear v3.safetensors 2 0
write_linear v4.safetensors 1 1 1 # 3 weights for 2 features: the wrong shape
write_linear v5.safetensors 1 1
cp "$T"/stage/v[1-4].safetensors "$T/v/"
M() { "$WEIR_BIN" model "$@"; }

# ---- list ---------------------------------------------------------------------
M list "$T/v" >"$T/list" 2>&1
rc=$?
[ "$rc" = 0 ] && ok || fail "model list exited $rc: $(cat "$T/list")"
grep -qE '^  v4\.safetensors +rejected .*tensor "w" \(layers\[0\]\.weight\) has shape \[1, 3\]: expected \[\*, 2\].*\[newest\]$' "$T/list" && ok ||
    fail "expected v4 rejected with the tensor and both shapes, got: $(cat "$T/list")"
grep -qE '^\* v3\.safetensors +ok +dense .*\[newest valid\]$' "$T/list" && ok ||
    fail "expected v3 served as the newest valid, got: $(cat "$T/list")"
grep -qE '^  v1\.safetensors +ok ' "$T/list" && grep -qF 'pin marker: none' "$T/list" &&
    grep -qx 'served: v3.safetensors' "$T/list" && ok || fail "list: $(cat "$T/list")"
M list "$T/nope" >/dev/null 2>"$T/e"; rc=$?
[ "$rc" = 1 ] && grep -qF "expected a directory of model versions" "$T/e" && ok ||
    fail "list of a missing directory: rc $rc, $(cat "$T/e")"
M frob "$T/v" >/dev/null 2>&1; [ $? = 2 ] && ok || fail "an unknown subcommand must exit 2"
M --help | grep -qF "weir model list|pin|unpin|rollback" && ok || fail "weir model --help"

# ---- a running weir, reload_ms 0 -----------------------------------------------
cat >"$T/p.json" <<JSON
{"source": {"type": "file", "path": "-", "max_records": 8},
 "operators": [
  {"type": "extract", "fields": {"f0": "/f0", "f1": "/f1"}},
  {"type": "model", "path": "$T/v", "out": "y", "version_out": "ver", "max_delay_ms": 2, "device": "$DEVICE"}],
 "sinks": [{"type": "file", "path": "$T/out.jsonl", "fields": ["row", "y", "ver"]}],
 "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}}
JSON
mkfifo "$T/in"
: >"$T/out.jsonl"
"$WEIR_BIN" run "$T/p.json" --http 127.0.0.1:0 <"$T/in" 2>"$T/err" &
PID=$!
exec 3>"$T/in"
sent=0
send() { # N: N more records
    local i
    for i in $(seq $((sent + 1)) $((sent + $1))); do echo "{\"row\": $i, \"f0\": $i, \"f1\": -$i}" >&3; done
    sent=$((sent + $1))
}
wait_out() { # every record sent has come out
    local k
    for k in $(seq 200); do
        [ "$(wc -l <"$T/out.jsonl")" -ge "$sent" ] && return 0
        sleep 0.05
    done
    fail "timed out waiting for $sent outputs, got $(wc -l <"$T/out.jsonl")"
}
wait_log() { # TEXT: wait for a line of stderr with it
    local k
    for k in $(seq 200); do
        grep -qF "$1" "$T/err" && return 0
        sleep 0.05
    done
    fail "timed out waiting for '$1' on stderr: $(cat "$T/err")"
}
hup() { kill -HUP "$PID"; }
send 50; wait_out                                      # 1-50: v3
M rollback "$T/v" >"$T/rb" 2>&1 && grep -qF "rolled back: v3.safetensors -> v2.safetensors" "$T/rb" && ok ||
    fail "rollback from v3: $(cat "$T/rb")"
head -1 "$T/v/.weir-pin" | grep -qx v2.safetensors && grep -qF "rollback from v3.safetensors" "$T/v/.weir-pin" && ok ||
    fail "the marker must name v2 and say why: $(cat "$T/v/.weir-pin")"
ls -a "$T/v" | grep -q '\.tmp$' && fail "a temporary marker was left behind" || ok
send 20; wait_out                                      # 51-70: still v3 (no SIGHUP yet, reload_ms 0)
hup; wait_log "model version v2.safetensors now serving (was v3.safetensors)"
send 30; wait_out                                      # 71-100: v2
M rollback "$T/v" >"$T/rb" 2>&1 && grep -qF "v2.safetensors -> v1.safetensors" "$T/rb" && ok ||
    fail "second rollback: $(cat "$T/rb")"
hup; wait_log "model version v1.safetensors now serving (was v2.safetensors)"
send 50; wait_out                                      # 101-150: v1
M rollback "$T/v" >"$T/rb" 2>&1; rc=$?
[ "$rc" = 1 ] && grep -qF "no valid version older than v1.safetensors" "$T/rb" && ok ||
    fail "rollback past the oldest: rc $rc, $(cat "$T/rb")"
M pin "$T/v" v4.safetensors >"$T/pin" 2>&1; rc=$?
[ "$rc" = 1 ] && grep -qF 'not pinning v4.safetensors: it does not load' "$T/pin" &&
    head -1 "$T/v/.weir-pin" | grep -qx v1.safetensors && ok ||
    fail "pinning a broken version must be refused and leave the marker: rc $rc, $(cat "$T/pin")"
M pin "$T/v" v3.safetensors >"$T/pin" 2>&1 && ok || fail "pin v3: $(cat "$T/pin")"
M list "$T/v" >"$T/list" 2>&1
grep -qE '^\* v3\.safetensors +ok .*pinned by \.weir-pin' "$T/list" && ok || fail "list after pin: $(cat "$T/list")"
hup; wait_log "model version v3.safetensors now serving (was v1.safetensors)"
send 50; wait_out                                      # 151-200: v3
hup; wait_log "SIGHUP: model versions checked: v3.safetensors keeps serving (.weir-pin names it)"
M unpin "$T/v" >"$T/unpin" 2>&1 && grep -qF "unpinned" "$T/unpin" && [ ! -e "$T/v/.weir-pin" ] && ok ||
    fail "unpin: $(cat "$T/unpin")"
M unpin "$T/v" 2>&1 | grep -qF "nothing to do" && ok || fail "a second unpin has nothing to do"
cp "$T/stage/v5.safetensors" "$T/v/.v5.tmp" && mv "$T/v/.v5.tmp" "$T/v/v5.safetensors"
hup; wait_log "model version v5.safetensors now serving (was v3.safetensors)"
send 50; wait_out                                      # 201-250: v5
echo v9.safetensors >"$T/v/.weir-pin"                  # a pin to a version that is not there
hup; wait_log "the pin marker .weir-pin names v9.safetensors, which is not in the directory; model version v5.safetensors keeps serving"
send 10; wait_out                                      # 251-260: still v5
rm "$T/v/.weir-pin"
# /metrics: the version served and the inference time per device
PORT=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$T/err")
if [ -n "$PORT" ]; then
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
    timeout 5 cat <&"$fd" >"$T/metrics"
    exec {fd}>&-
    grep -qx 'weir_model_version_info{index="1",operator="model",version="v5.safetensors"} 1' "$T/metrics" && ok ||
        fail "expected the version gauge, got: $(grep weir_model "$T/metrics")"
    grep -qx 'weir_model_swaps_total{index="1",operator="model"} 4' "$T/metrics" && ok ||
        fail "expected 4 swaps, got: $(grep weir_model_swaps "$T/metrics")"
    for name in $(grep -o '^| `weir_model_[a-z_]*' docs/operations.md | cut -c4-); do
        grep -q "^# TYPE $name " "$T/metrics" && ok || fail "$name (docs/operations.md) is not in /metrics"
    done
    grep -qE "^weir_model_inference_seconds_count\\{index=\"1\",operator=\"model\",device=\"$DEVICE\"\\} [1-9]" "$T/metrics" && ok ||
        fail "expected inference times on $DEVICE, got: $(grep weir_model_inference "$T/metrics")"
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    printf 'GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
    timeout 5 cat <&"$fd" | grep -qF '"models":[{"index":1,"version":"v5.safetensors","swaps":4' && ok ||
        fail "expected the model version in status.json"
    exec {fd}>&-
else
    fail "no 'listening on' line: $(cat "$T/err")"
fi
exec 3>&-
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
$PY - "$T/out.jsonl" <<'PY' && ok || fail "records lost, doubled or scored by the wrong version"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
def want(row):
    if row <= 70: return "v3.safetensors", 2 * row
    if row <= 100: return "v2.safetensors", -row
    if row <= 150: return "v1.safetensors", row
    if row <= 200: return "v3.safetensors", 2 * row
    return "v5.safetensors", 0
rows = sorted(r["row"] for r in recs)
bad = [r for r in recs if (r["ver"], r["y"]) != want(r["row"])]
print(f"{len(recs)} records out of 260, {len(bad)} scored by the wrong version", bad[:3])
sys.exit(0 if rows == list(range(1, 261)) and not bad else 1)
PY
[ ! -s "$T/dead.jsonl" ] && ok || fail "no record may be dead: $(head -3 "$T/dead.jsonl")"
grep -q "rejected" "$T/err" && grep -qF "model version v4.safetensors rejected" "$T/err" && ok ||
    fail "v4 must be reported rejected at start: $(cat "$T/err")"

# ---- precedence: the pipeline's "version" wins over the marker -----------------
M pin "$T/v" v2.safetensors >/dev/null || fail "pin v2"
printf '{"row": 1, "f0": 3, "f1": 4}\n' >"$T/one.jsonl"
sed -e "s|\"path\": \"-\"|\"path\": \"$T/one.jsonl\"|" -e "s|\"max_delay_ms\": 2|\"version\": \"v1.safetensors\"|" \
    -e "s|$T/out.jsonl|$T/out2.jsonl|" "$T/p.json" >"$T/p2.json"
"$WEIR_BIN" run "$T/p2.json" 2>"$T/err2" && grep -qF '"ver":"v1.safetensors"' "$T/out2.jsonl" && ok ||
    fail "the pipeline's version must win: $(cat "$T/out2.jsonl" "$T/err2")"
grep -qF "the pipeline's \"version\" wins over $T/v/.weir-pin, which names v2.safetensors" "$T/err2" && ok ||
    fail "expected the precedence said, got: $(cat "$T/err2")"
# ... and without it the marker decides when the pipeline starts
sed -i -e "s|, \"version\": \"v1.safetensors\"||" "$T/p2.json"
"$WEIR_BIN" run "$T/p2.json" 2>"$T/err2" && grep -qF '"ver":"v2.safetensors"' "$T/out2.jsonl" && ok ||
    fail "the marker must decide at start: $(cat "$T/out2.jsonl" "$T/err2")"
grep -qF "model version v2.safetensors serves: pinned by $T/v/.weir-pin" "$T/err2" && ok ||
    fail "expected the marker named at start, got: $(cat "$T/err2")"
# a marker naming a version that is not there: the pipeline does not start
echo "v9.safetensors" >"$T/v/.weir-pin"
"$WEIR_BIN" validate "$T/p2.json" >"$T/val" 2>&1; rc=$?
[ "$rc" = 2 ] && grep -qF 'version "v9.safetensors" (pinned by .weir-pin) is not in' "$T/val" && ok ||
    fail "a marker naming a missing version: rc $rc, $(cat "$T/val")"
M list "$T/v" >"$T/list" 2>&1; rc=$?
[ "$rc" = 1 ] && grep -qF "pin marker: names v9.safetensors, which is not in the directory" "$T/list" && ok ||
    fail "list with a dangling marker: rc $rc, $(cat "$T/list")"
# a newest version that loads but reads other inputs: list says a pipeline
# may serve an older one (it marked the newest served, and nothing more)
mkdir "$T/w"
write_linear w1.safetensors 1 0
write_linear w2.safetensors 1 1 1 -- f0 f1 f2
cp "$T"/stage/w[12].safetensors "$T/w/"
M list "$T/w" >"$T/list" 2>&1; rc=$?
[ "$rc" = 0 ] && grep -qx 'served: w2.safetensors' "$T/list" &&
    grep -qF "note: the versions that load do not all read the same inputs" "$T/list" && ok ||
    fail "list of versions of two shapes: rc $rc, $(cat "$T/list")"
grep -qF "served: none" "$T/list" && fail "served and 'served: none': $(cat "$T/list")" || ok
# the same count, other names: a pipeline cannot take both, a note
write_linear w3.safetensors 1 1 1 -- g0 g1 g2
cp "$T"/stage/w3.safetensors "$T/w/"
M list "$T/w" >"$T/list" 2>&1
grep -qF "note:" "$T/list" && ok || fail "names that differ: no note: $(cat "$T/list")"
rm "$T/w/w2.safetensors" "$T/w/w3.safetensors"
M list "$T/w" >"$T/list" 2>&1
grep -qF "note:" "$T/list" && fail "a note with one shape: $(cat "$T/list")" || ok
grep -qx 'served: w1.safetensors' "$T/list" && ! grep -qF "served: none" "$T/list" && ok ||
    fail "one shape: $(cat "$T/list")"
finish
