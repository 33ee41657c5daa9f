#!/usr/bin/env bash
# weir's own log lines (engine/log.c) and the periodic summary:
#   1. --log-format json: every stderr line is a JSON object with ts (RFC 3339
#      UTC), level and msg; the summary is one of them (level info).
#   2. --log-format logfmt: ts=.. level=.. msg=".." lines, quotes escaped.
#   3. text (the default) is unchanged: "weir: NAME: N records in, ...";
#      a newline or other control byte in a message is escaped (text, logfmt).
#   4. --progress=1 on a run kept open for ~2.5 s prints 2 or 3 progress lines
#      (never one per record: 200 records), none with --quiet; a bad
#      --log-format or --progress= value is a usage error (2).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-logs.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
run() { "$WEIR_BIN" run tests/golden/pipeline.json --set "sinks[0].path=$T/out.jsonl" \
    --set "dead_letter.path=$T/dead.jsonl" "$@"; }

run --log-format json 2>"$T/json.err"
if /usr/bin/python3 - "$T/json.err" <<'PY'; then ok; else fail "json log lines: $(cat "$T/json.err")"; fi
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "no lines"
for l in lines:
    d = json.loads(l)
    assert set(d) == {"ts", "level", "msg"}, d
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", d["ts"]), d
    assert d["level"] in ("error", "warn", "info", "debug"), d
assert any(d["level"] == "info" and "200 records in, 195 out" in d["msg"]
           for d in map(json.loads, lines)), lines
PY

run --log-format logfmt 2>"$T/logfmt.err"
if grep -Eq '^ts=[0-9T:.-]+Z level=info msg="golden-host-metrics: 200 records in, 195 out, 5 dead letters, 4 alerts; .*"$' "$T/logfmt.err"; then
    ok
else
    fail "logfmt summary: $(cat "$T/logfmt.err")"
fi

run 2>"$T/text.err"
if grep -q '^weir: golden-host-metrics: 200 records in, 195 out, 5 dead letters, 4 alerts; ' "$T/text.err"; then
    ok
else
    fail "text summary: $(cat "$T/text.err")"
fi

# Text from outside (here the pipeline's name) cannot split or forge a line:
# control bytes are escaped in text and logfmt (JSON escapes them itself).
run --set 'name="a\nweir: forged\u0007"' 2>"$T/ctl.err"
grep -qF 'weir: a\nweir: forged\x07: 200 records in' "$T/ctl.err" && ! grep -q '^weir: forged' "$T/ctl.err" &&
    ok || fail "text log with a newline in the name: $(cat "$T/ctl.err")"
run --set 'name="a\nb\"c"' --log-format logfmt 2>"$T/ctl.err"
grep -qF 'msg="a\nb\"c: 200 records in' "$T/ctl.err" && [ "$(grep -vc '^ts=' "$T/ctl.err")" = 0 ] &&
    ok || fail "logfmt log with a newline in the name: $(cat "$T/ctl.err")"

# The periodic line: a FIFO kept open for ~2.5 s.
progress_run() { # ARGS... -> stderr in $T/p.err
    rm -f "$T/in.fifo"
    mkfifo "$T/in.fifo"
    run --set "source.path=$T/in.fifo" "$@" 2>"$T/p.err" &
    local pid=$!
    exec 3>"$T/in.fifo"
    cat tests/golden/input.jsonl >&3
    sleep 2.5
    exec 3>&-
    wait "$pid"
}
progress_run --progress=1
n=$(grep -c 'records/s in' "$T/p.err")
if [ "$n" -ge 2 ] && [ "$n" -le 3 ]; then ok; else fail "--progress=1 over 2.5 s: $n lines: $(cat "$T/p.err")"; fi
grep -q '^weir: [0-9]* s: [0-9]* records/s in, [0-9]* out; 200 in, 195 out, 5 dead, 4 alerts' "$T/p.err" &&
    ok || fail "progress line: $(cat "$T/p.err")"
progress_run --progress=1 --quiet
n=$(grep -c 'records/s in' "$T/p.err")
[ "$n" -eq 0 ] && ok || fail "--quiet still printed $n progress lines"

"$WEIR_BIN" run tests/golden/pipeline.json --log-format xml 2>/dev/null
[ $? -eq 2 ] && ok || fail "--log-format xml is not a usage error"
"$WEIR_BIN" run tests/golden/pipeline.json --progress=0 2>/dev/null
[ $? -eq 2 ] && ok || fail "--progress=0 is not a usage error"

finish
