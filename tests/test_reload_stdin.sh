#!/usr/bin/env bash
# A reload that changes the file source's options while it reads standard
# input from a regular file ("path": "-", `weir run p.json <file`) goes on
# after the last line it handed on, through the same descriptor: "-" is not
# a file name. It was stat'ed as one: with no file "-" in the working
# directory the input read as "deleted since", and with one there as
# "replaced by another file of that name", which was then read too.
# The sink is a FIFO whose reader reads nothing for 4 s, so that the input
# (100,000 records, far more than the pipe and the sink's buffer hold) is
# still being read when the reload comes.
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-reload-stdin.XXXXXX)
PID=
READER=
trap '[ -n "$READER" ] && kill "$READER" 2>/dev/null; [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{\"seq\":%d,\"pad\":\"%080d\"}\n", i, 0 }' >"$T/in.jsonl"
echo '{"seq":-1,"pad":"not standard input"}' >"$T/-"
write_pipeline() { # MAX_RECORD_BYTES
    cat >"$T/p.json.tmp" <<JSON
{"source": {"type": "file", "path": "-", "max_record_bytes": $1},
 "operators": [{"type": "extract", "fields": {"seq": "/seq"}}],
 "sinks": [{"type": "file", "path": "$T/out.fifo"}]}
JSON
    mv "$T/p.json.tmp" "$T/p.json"
}
write_pipeline 65536
mkfifo "$T/out.fifo"
read_fifo_later "$T/out.fifo" "$T/got.jsonl" 4 &
READER=$!
(cd "$T" && exec "$WEIR_BIN" run p.json <in.jsonl 2>err) &
PID=$!
sleep 2
write_pipeline 131072
kill -HUP "$PID"
wait "$READER"
READER=
wait "$PID"
rc=$?
PID=
[ "$rc" = 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
lines=$(wc -l <"$T/got.jsonl")
distinct=$(grep -o '"seq":[0-9-]*' "$T/got.jsonl" | sort -u | wc -l)
[ "$lines" = 100000 ] && [ "$distinct" = 100000 ] && ! grep -q '"seq":-1' "$T/got.jsonl" && ok ||
    fail "$lines records, $distinct distinct, of 100000; $(grep -c '"seq":-1' "$T/got.jsonl") from the file named -"
grep -q "reload: the file source goes on in <stdin> after line [1-9]" "$T/err" && ok ||
    fail "no 'goes on' line: $(grep -i reload "$T/err" | head -5)"
! grep -q "was deleted\|was replaced\|renamed or moved\|being read, was" "$T/err" && ok ||
    fail "standard input taken for a file named -: $(grep -i reload "$T/err" | head -5)"
finish
