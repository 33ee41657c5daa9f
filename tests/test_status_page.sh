#!/usr/bin/env bash
# The live status page (engine/http_page.c) in a real browser: headless
# Chromium loads / from a running pipeline whose input keeps arriving (a FIFO
# fed 20 records every 100 ms), runs the page's script for a few seconds of
# virtual time, and the DOM it leaves must show figures that moved: at least
# two samples taken, a records-in total above what had been fed when the page
# opened, one row per operator, sparklines with points, no error banner.
# Skipped (77) when chromium is not installed (Debian: chromium).
set -u

. "$(dirname "$0")/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$CHROMIUM" ]; then
    echo "chromium is not installed; skipped"
    exit 77
fi
T=$(mktemp -d /tmp/weir-test-page.XXXXXX)
PID= FEED=
trap '[ -n "$FEED" ] && kill "$FEED" 2>/dev/null; [ -n "$PID" ] && kill "$PID" 2>/dev/null; exec 3>&- 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

mkfifo "$T/in.fifo"
"$WEIR_BIN" run tests/golden/pipeline.json --set "source.path=$T/in.fifo" \
    --set "sinks[0].path=$T/out.jsonl" --set "dead_letter.path=$T/dead.jsonl" --http 0 2>"$T/err" &
PID=$!
exec 3>"$T/in.fifo"
PORT=
for _ in $(seq 100); do
    PORT=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$T/err")
    [ -n "$PORT" ] && break
    sleep 0.05
done
[ -n "$PORT" ] || { fail "no port: $(cat "$T/err")"; finish; }

# A slow, steady input: 20 records every 100 ms, the golden input over and over.
(
    while :; do
        for start in $(seq 1 20 181); do
            sed -n "${start},$((start + 19))p" tests/golden/input.jsonl
            sleep 0.1
        done
    done
) >&3 &
FEED=$!
sleep 0.5
before=$(exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"; printf 'GET /status.json HTTP/1.1\r\n\r\n' >&"$fd";
         timeout 5 cat <&"$fd" | sed -n 's/.*"records_in":\([0-9]*\).*/\1/p')

timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --user-data-dir="$T/profile" --virtual-time-budget=6000 \
    --dump-dom "http://127.0.0.1:$PORT/" >"$T/dom.html" 2>"$T/chromium.err"
rc=$?
[ $rc -eq 0 ] && ok || fail "chromium exited $rc: $(tail -3 "$T/chromium.err")"

samples=$(sed -n 's/.*<span id="samples">\([0-9]*\)<\/span>.*/\1/p' "$T/dom.html")
total=$(sed -n 's/.*class="val" data-total="\([0-9]*\)".*/\1/p' "$T/dom.html" | head -1)
[ "${samples:-0}" -ge 2 ] && ok || fail "samples: '${samples}' (want >= 2)"
[ "${total:-0}" -gt "${before:-0}" ] && ok || fail "records in did not move: ${before} then '${total}'"
rows=$(grep -o '<tr><td>[0-9]</td><td>[a-z]*</td>' "$T/dom.html" | wc -l)
[ "$rows" -eq 4 ] && ok || fail "operator rows: $rows (want 4)"
grep -q 'data-points="[2-9]' "$T/dom.html" && grep -q '<polyline points="' "$T/dom.html" && ok ||
    fail "no sparkline with points"
grep -q '<div id="sub"><span class="bad">' "$T/dom.html" && fail "the page shows an error: $(grep -o '<div id="sub">.\{0,120\}' "$T/dom.html")" || ok
grep -q '>weir: golden-host-metrics<' "$T/dom.html" && ok || fail "pipeline name not shown"

kill "$FEED" 2>/dev/null
wait "$FEED" 2>/dev/null
FEED=
exec 3>&-
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok || fail "weir exited $rc: $(cat "$T/err")"
finish
