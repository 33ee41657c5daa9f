#!/usr/bin/env bash
# A file sink whose path is a named pipe (FIFO), without "append": weir must
# not open it to truncate first. That open took the reader (cat saw an end
# with nothing and left), and the sink's own open then waited for another
# reader until the stop limit (exit 1 after 60 s, nothing written). Now the
# reader gets every output, and the run exits 0.
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

awk 'BEGIN { for (i = 0; i < 500; i++) printf "{\"seq\":%d,\"v\":%d}\n", i, i % 7 }' >"$T/in.jsonl"
cat >"$T/p.json" <<JSON
{"source": {"type": "file", "path": "$T/in.jsonl"},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "file", "path": "$T/out.fifo"}]}
JSON
mkfifo "$T/out.fifo"
cat "$T/out.fifo" >"$T/got.jsonl" &
reader=$!
rc=0
timeout -k 5 30 "$WEIR_BIN" run "$T/p.json" --quiet 2>"$T/err" || rc=$?
wait $reader
if [ $rc -eq 0 ] && [ "$(wc -l <"$T/got.jsonl")" -eq 500 ]; then
    ok
else
    fail "a FIFO sink: exit $rc, $(wc -l <"$T/got.jsonl") of 500 lines read; $(cat "$T/err")"
fi
finish
