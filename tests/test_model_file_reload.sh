#!/usr/bin/env bash
# A single model file (not a directory) replaced while weir serves it
# (models/reload.c, check_file; operators/model_share.c): one weir reads
# records from a pipe; between groups of 20 records the test puts another
# file at the model's path and sends SIGHUP (the pipeline file unchanged:
# the operator's instance is kept, and the reload's prepare shares its
# cell), then waits for the log line. v1 y = f0; v2 y = f1 renamed over
# it: swapped in; v3 (three inputs) and v4 (v2 truncated) renamed over it:
# rejected with one line each, v2 keeps serving, and a SIGHUP that finds
# the rejected file unchanged does not say so again; v5 (y = 2 f0)
# written in place: swapped in; moved away (said once, v5 serves on) and
# back (unchanged). Then a second weir with "reload_ms": 50:
# v1 renamed over the file is swapped in without SIGHUP. Every record came
# out once, scored by the model that served when it was sent (y tells
# which).
# Skipped (77) without /usr/bin/python3 + numpy.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/model_versions_lib.sh"
write_linear v1.safetensors 1 0
write_linear v2.safetensors 0 1
write_linear v3.safetensors 1 1 1 -- f0 f1 f2
head -c $(($(stat -c %s "$T/stage/v2.safetensors") - 3)) "$T/stage/v2.safetensors" >"$T/stage/v4.safetensors"
write_linear v5.safetensors 2 0
M="$T/m.safetensors"
cp "$T/stage/v1.safetensors" "$M"
pipeline() { # [, "reload_ms": N]
    cat >"$T/p.json.tmp" <<JSON
{"source": {"type": "file", "path": "-", "max_records": 8},
 "operators": [
  {"type": "extract", "fields": {"f0": "/f0", "f1": "/f1"}},
  {"type": "model", "path": "$M", "out": "y", "version_out": "ver"$1}],
 "sinks": [{"type": "file", "path": "$T/out.jsonl", "fields": ["row", "y", "ver"]}],
 "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}}
JSON
    mv "$T/p.json.tmp" "$T/p.json"
}
pipeline ""
mkfifo "$T/in"
: >"$T/out.jsonl"
"$WEIR_BIN" run "$T/p.json" <"$T/in" 2>"$T/err" &
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
wait_log() { # N TEXT: wait for N lines of stderr with TEXT
    local k
    for k in $(seq 200); do
        [ "$(grep -cF "$2" "$T/err")" -ge "$1" ] && return 0
        sleep 0.05
    done
    fail "timed out waiting for $1 lines with '$2' on stderr: $(cat "$T/err")"
}
put() { cp "$T/stage/$1" "$T/.m.tmp" && mv "$T/.m.tmp" "$M"; } # rename over
hup() { kill -HUP "$PID"; }
SWAP="operators[1]: model file $M changed: the new one now serving ("
REJ="operators[1]: model file $M changed but is rejected, the one loaded before keeps serving: "
send 20; wait_out                                                   # 1-20: v1
put v2.safetensors; hup; wait_log 1 "$SWAP"
send 20; wait_out                                                   # 21-40: v2
put v3.safetensors; hup; wait_log 1 "${REJ}it has 3 inputs and 1 outputs, the pipeline 2 and 1"
send 20; wait_out                                                   # 41-60: v2
hup; wait_log 1 "SIGHUP: model file $M checked: the file there ("
grep -qF ") was rejected and is unchanged since; the one loaded before keeps serving" "$T/err" && ok ||
    fail "expected the rejected file said to be unchanged: $(cat "$T/err")"
put v4.safetensors; hup; wait_log 1 "${REJ}model file $M:"
send 20; wait_out                                                   # 61-80: v2
cat "$T/stage/v5.safetensors" >"$M"; hup; wait_log 2 "$SWAP"        # in place
send 20; wait_out                                                   # 81-100: v5
cp "$T/out.jsonl" "$T/all.jsonl"
hup; wait_log 1 "SIGHUP: model file $M checked: unchanged ("
mv "$M" "$T/m.away"; hup                                            # gone: the pipeline's reload shares
wait_log 1 "model file $M cannot be read (No such file or directory); the one loaded before keeps serving"
mv "$T/m.away" "$M"; hup; wait_log 2 "SIGHUP: model file $M checked: unchanged ("
exec 3>&-
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
# "reload_ms": a second run, and v1 renamed over the file without SIGHUP
pipeline ', "reload_ms": 50'
"$WEIR_BIN" run "$T/p.json" <"$T/in" 2>>"$T/err" &
PID=$!
exec 3>"$T/in"
: >"$T/out.jsonl"
sent=0
send 20; wait_out                                                   # 1-20: v5
put v1.safetensors; wait_log 3 "$SWAP"
send 20; wait_out                                                   # 21-40: v1
exec 3>&-
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir (reload_ms) exited $rc: $(cat "$T/err")"
cat "$T/out.jsonl" >>"$T/all.jsonl"
$PY - "$T/all.jsonl" <<'PY' && ok || fail "records scored by the wrong model"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
first, second = recs[:100], recs[100:]
def want(i):  # the first run: v1, v2 (v3 and v4 rejected), v5; the second: v5, v1
    return i if i <= 20 else -i if i <= 80 else 2 * i
bad = [r for r in first if r["y"] != want(r["row"])]
bad += [r for r in second if r["y"] != (2 * r["row"] if r["row"] <= 20 else r["row"])]
bad += [r for r in recs if r["ver"] != "m.safetensors"]
rows = sorted(r["row"] for r in first) + sorted(r["row"] for r in second)
print(f"{len(recs)} records, {len(bad)} scored by the wrong model", bad[:3])
sys.exit(0 if rows == list(range(1, 101)) + list(range(1, 41)) and not bad else 1)
PY
[ "$(grep -cF "$REJ" "$T/err")" = 2 ] && ok ||
    fail "expected one line per rejected file, got: $(grep -F "$REJ" "$T/err")"
[ "$(grep -cF "$SWAP" "$T/err")" = 3 ] && ok || fail "expected 3 swaps, got: $(cat "$T/err")"
[ ! -s "$T/dead.jsonl" ] && ok || fail "nothing may be dead: $(head -3 "$T/dead.jsonl")"
finish
