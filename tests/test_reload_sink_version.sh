#!/usr/bin/env bash
# A sink kept by a reload that changes the pipeline's shape reads its
# projection ("fields") and condition ("when") from the new version; that
# version must stay alive while it does. Two reloads: a filter appended at
# the end (shape: the sinks are kept, pointed at version 2), then that
# filter's condition changed (options only: the workers and the run let go
# of version 2, which nothing else held). Every write after it read freed
# memory (heap use after free under ASan; garbage or a crash without).
# 30 records, reload, 30, reload, 30: the outputs are the records the
# filters and the sink's "when" let through, projected.
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-reload-sink-version.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; exec 3>&- 2>/dev/null; rm -rf "$T"' EXIT
write_pipeline() { # EXTRA_OPERATOR
    cat >"$T/p.json.tmp" <<JSON
{"source": {"type": "file", "path": "$T/in", "max_records": 4},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}$1],
 "sinks": [{"type": "file", "path": "$T/out.jsonl", "when": "v > 5", "fields": ["id", "v"]}]}
JSON
    mv "$T/p.json.tmp" "$T/p.json"
}
send() { for i in $(seq "$1" "$2"); do echo "{\"id\": $i, \"v\": $((i % 10)), \"x\": 1}" >&3; done; }
write_pipeline ""
mkfifo "$T/in"
"$WEIR_BIN" run "$T/p.json" 2>"$T/err" &
PID=$!
exec 3>"$T/in"
send 1 30
wait_lines 12 "$T/out.jsonl" || fail "the first outputs: $(wc -l <"$T/out.jsonl")"
write_pipeline ', {"type": "filter", "keep": "v < 9"}'
kill -HUP "$PID"
wait_lines 1 "$T/err" "reload applied by every worker" || fail "the first reload: $(cat "$T/err")"
send 31 60
wait_lines 21 "$T/out.jsonl" || fail "the outputs after the first reload: $(wc -l <"$T/out.jsonl")"
write_pipeline ', {"type": "filter", "keep": "v < 8"}'
kill -HUP "$PID"
wait_lines 2 "$T/err" "reload applied by every worker" || fail "the second reload: $(cat "$T/err")"
send 61 90
exec 3>&-
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
/usr/bin/python3 - "$T/out.jsonl" <<'PY' && ok || fail "outputs: $(head -c 600 "$T/out.jsonl")"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
want = [i for i in range(1, 91) if i % 10 > 5 and (i <= 30 or i % 10 < 9) and (i <= 60 or i % 10 < 8)]
assert [r["id"] for r in rows] == want, [r["id"] for r in rows]
assert all(set(r) == {"id", "v"} for r in rows), rows[:2]
PY
finish
