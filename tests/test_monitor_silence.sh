#!/usr/bin/env bash
# pipelines/monitor-silence.json across a restart: its demo split inside
# db-1's silence (db-1's last record 08:55, the split after 09:05), run twice
# with one --state-dir, alerts that silence in the second run, as one run
# over the whole file does; without --state-dir the second run cannot (the
# session was in the first run's state), so the check can fail.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
SRC=$PWD
T=$(mktemp -d /tmp/weir-test-silence.XXXXXX)
trap 'rm -rf "$T"' EXIT
CSV=$SRC/pipelines/monitor-silence.csv
cut=$(grep -n '^2026-11-03 09:05:00,web-2,' "$CSV" | cut -d: -f1)
head -n "$cut" "$CSV" >"$T/a.csv"
{ head -n 1 "$CSV"; tail -n +"$((cut + 1))" "$CSV"; } >"$T/b.csv"

run() { # input, name, extra args...
    local in=$1 name=$2; shift 2
    "$WEIR_BIN" run "$SRC/pipelines/monitor-silence.json" --set source.path="$in" \
        --set sinks[0].path="$T/$name.jsonl" --set dead_letter.path="$T/$name.dead.jsonl" \
        "$@" >"$T/$name.alerts" 2>"$T/$name.err"
}
DB1='"host":"db-1","window_start":"2026-11-02T00:00:00.000Z","window_end":"2026-11-03T09:10:00.000Z"'
run "$CSV" whole
run "$T/a.csv" first --state-dir "$T/state"
run "$T/b.csv" second --state-dir "$T/state"
run "$T/b.csv" fresh

n=$(grep -c "$DB1" "$T/whole.alerts" || true)
[ "$n" -eq 1 ] && ok || fail "one run: db-1's silence alerted $n times: $(cat "$T/whole.alerts")"
n=$(cat "$T/first.alerts" "$T/second.alerts" | grep -c '^ALERT' || true)
m=$(grep -c '^ALERT' "$T/whole.alerts" || true)
[ "$n" -eq 3 ] && [ "$m" -eq 3 ] && ok || fail "alerts: $n in two runs, $m in one, expected 3"
grep -q "$DB1" "$T/second.alerts" && ok ||
    fail "restart: db-1's silence not alerted by the second run: $(cat "$T/second.alerts")"
grep -q "$DB1" "$T/fresh.alerts" &&
    fail "without --state-dir db-1's silence was alerted too: the check proves nothing" || ok
finish test_monitor_silence
