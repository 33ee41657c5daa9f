#!/usr/bin/env bash
# A reload that changes the file source of a worker whose source already
# came to its end (the run still draining into a slow sink) does not open
# the new source: it was opened and then closed partway as soon as the
# worker had drained, its records read or not by chance. Now the run ends as
# it would have, with a warning that says the new source is not read.
# The sink is a FIFO whose reader reads nothing for 5 s, while the input
# (2,000 records, more than the pipe holds) ends and the reload comes.
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-reload-source-ended.XXXXXX)
PID=
READER=
trap '[ -n "$READER" ] && kill "$READER" 2>/dev/null; [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "{\"seq\":%d,\"v\":%d,\"pad\":\"%080d\"}\n", i, i % 7, 0 }' >"$T/a.jsonl"
awk 'BEGIN { for (i = 0; i < 2000; i++) printf "{\"seq\":%d,\"v\":%d}\n", 100000 + i, i % 7 }' >"$T/b.jsonl"
write_pipeline() { # INPUT
    cat >"$T/p.json.tmp" <<JSON
{"source": {"type": "file", "path": "$1"},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "file", "path": "$T/out.fifo"}]}
JSON
    mv "$T/p.json.tmp" "$T/p.json"
}
write_pipeline "$T/a.jsonl"
mkfifo "$T/out.fifo"
# the reader opens the FIFO, then reads nothing for 5 s, then all of it
read_fifo_later "$T/out.fifo" "$T/got.jsonl" 5 &
READER=$!
"$WEIR_BIN" run "$T/p.json" 2>"$T/err" &
PID=$!
sleep 3 # the input is read to its end; the sink waits for the reader
write_pipeline "$T/b.jsonl"
kill -HUP "$PID"
wait "$READER"
READER=
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
n_a=$(grep -c '"seq":[0-9]\{1,4\},' "$T/got.jsonl")
n_b=$(grep -c '"seq":10[0-9]\{4\}' "$T/got.jsonl")
if [ "$n_a" = 2000 ] && [ "$n_b" = 0 ] && grep -q "source had come to its end: the run ends as it would have" "$T/err"; then
    ok
else
    fail "after the reload: $n_a of a's 2000, $n_b of b's; $(grep -i reload "$T/err" | head -5)"
fi
finish
