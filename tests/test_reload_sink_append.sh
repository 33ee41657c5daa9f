#!/usr/bin/env bash
# A reload that changes a file sink but not its path (its "fields" here) goes
# on after what the run wrote there: the new sink's setup truncated the file
# (engine/run.c, reload_share; connectors/file_sink.c, same_target), and the
# 50 outputs written before the reload, their input already acknowledged,
# were gone. 50 records, the reload, 50 more: 100 lines, the first 50 whole,
# the last 50 projected. The reload spells the path otherwise ("DIR/./out"):
# the same file, which a comparison of the strings took for another.
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-reload-sink-append.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$T"' EXIT
write_pipeline() { # SINK_EXTRA [SINK_DIR]
    cat >"$T/p.json.tmp" <<JSON
{"source": {"type": "file", "path": "$T/in", "max_records": 4},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "file", "path": "${2:-$T}/out.jsonl"$1}]}
JSON
    mv "$T/p.json.tmp" "$T/p.json"
}
write_pipeline ""
mkfifo "$T/in"
"$WEIR_BIN" run "$T/p.json" 2>"$T/err" &
PID=$!
exec 3>"$T/in"
for i in $(seq 1 50); do echo "{\"id\": $i, \"v\": $i}" >&3; done
wait_lines 50 "$T/out.jsonl" || fail "the first 50 outputs: $(wc -l <"$T/out.jsonl")"
write_pipeline ', "fields": ["id"]' "$T/."

kill -HUP "$PID"
wait_lines 1 "$T/err" "reload applied by every worker" || fail "the reload: $(cat "$T/err")"
for i in $(seq 51 100); do echo "{\"id\": $i, \"v\": $i}" >&3; done
exec 3>&-
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
/usr/bin/python3 - "$T/out.jsonl" <<'PY' && ok || fail "outputs: $(head -c 600 "$T/out.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ids = [r["id"] for r in rows]
assert ids == list(range(1, 101)), ids[:5]
assert all("v" in r for r in rows[:50]) and all(set(r) == {"id"} for r in rows[50:]), rows[48:52]
PY
finish
