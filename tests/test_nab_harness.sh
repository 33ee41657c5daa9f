#!/usr/bin/env bash
# NAB harness end to end (bench/nab.sh + bench_nab) on a small NAB-layout
# directory made here: a series with a spike inside its labelled window, a
# constant series, one with a NaN value and a gap in time, and a single
# point. An incident's closing event (written to another field than
# "explain") is not a detection. Checks the table, the JSON summary on the last line, the JSON file,
# one SVG per series, and that a label file naming a missing series or a
# timestamp the data lacks is refused. Skipped (77) without bench_nab
# (a build with -DWEIR_BENCH=OFF).
#
# Env: WEIR_BIN, WEIR_BUILD (the build directory), WEIR_SRC.
set -u
. "$(dirname "$0")/lib.sh"

BENCH_NAB="${WEIR_BUILD:-build}/bench_nab"
[ -x "$BENCH_NAB" ] || { echo "skipped: $BENCH_NAB not built"; exit 77; }
export BENCH_NAB WEIR_BIN="${WEIR_BIN:-build/weir}"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
D=$T/nab
mkdir -p "$D/labels" "$D/data/c"
awk 'BEGIN { print "timestamp,value";
  for (i = 0; i < 400; i++) {
    t = 1396310400 + 300 * i; v = 10 + (i % 7) * 0.5 + (i == 300 ? 80 : 0);
    printf "%s,%s\r\n", strftime("%Y-%m-%d %H:%M:%S", t, 1), v } }' >"$D/data/c/spike.csv"
awk 'BEGIN { print "timestamp,value";
  for (i = 0; i < 300; i++) printf "%s,5\n", strftime("%Y-%m-%d %H:%M:%S", 1396310400 + 60 * i, 1) }' \
  >"$D/data/c/flat.csv"
awk 'BEGIN { print "timestamp,value";
  for (i = 0; i < 200; i++) { t = 1396310400 + 60 * i + (i > 100 ? 86400 : 0);
    printf "%s,%s\n", strftime("%Y-%m-%d %H:%M:%S", t, 1), (i == 150 ? "nan" : 20 + (i % 3)) } }' \
  >"$D/data/c/gappy.csv"
printf 'timestamp,value\n2014-04-01 00:00:00,1\n' >"$D/data/c/one.csv"
spike_at=$(sed -n '292p' "$D/data/c/spike.csv" | cut -d, -f1)   # row 290
spike_end=$(sed -n '322p' "$D/data/c/spike.csv" | cut -d, -f1)  # row 320
cat >"$D/labels/combined_windows.json" <<J
{"c/spike.csv": [["$spike_at.000000", "$spike_end.000000"]], "c/flat.csv": [],
 "c/gappy.csv": [], "c/one.csv": []}
J
cat >"$T/p.json" <<'J'
{"name": "t", "source": {"type": "file", "path": "x.csv", "format": "csv"},
 "operators": [
  {"type": "extract", "fields": {"v": "/value"}},
  {"type": "deviation", "fields": ["v"], "window": 100, "warmup": 20, "method": "gaussian",
   "mapping": "ratio", "hold": 50},
  {"type": "threshold", "above": 0.9, "warmup": 0, "incidents": true}],
 "sinks": [{"type": "file", "path": "/dev/null"}],
 "dead_letter": {"type": "file", "path": "/dev/null"}}
J

bash bench/nab.sh --plots "$T/plots" --json "$T/r.json" "$D" "$T/p.json" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] && ok "nab.sh exits 0" || fail "nab.sh exited $rc: $(tail -n3 "$T/err")"
last=$(tail -n1 "$T/out")
/usr/bin/env python3 - "$last" "$T/r.json" <<'PY' && ok "summary: 4 series, 1 window, the spike found at the window's start" || fail "summary: $last"
import json, sys
s = json.loads(sys.argv[1]); full = json.load(open(sys.argv[2]))
assert s["series"] == 4 and s["windows"] == 1, s
# one detection on row 300 of a 31-row window (290..320) and no false positive
assert s["sweep"]["standard"] > 90, s["sweep"]
assert s["alerts_total"] == 1 and s["alerts"]["standard"] > 90, s
per = {p["series"]: p for p in full["per_series"]}
assert per["c/spike.csv"]["windows_hit"] == 1 and per["c/flat.csv"]["alerts"] == 0, per
assert per["c/one.csv"]["rows"] == 1
PY
grep -q '^c/gappy.csv  *200 ' "$T/out" && ok "table has a row per series" || fail "table: $(head -n6 "$T/out")"
[ "$(ls "$T/plots" | wc -l)" -eq 4 ] && ok "4 SVG plots" || fail "plots: $(ls "$T/plots")"

# An incident's closing record is an alert record but not a detection,
# whatever field its text goes to: the same run with "close_event" and the
# explanation written to "why" finds the same one alert.
sed 's/"incidents": true}/"incidents": true, "close_event": true, "explain_out": "why"}/' "$T/p.json" >"$T/pc.json"
bash bench/nab.sh --keep "$T/keep" --json "$T/rc.json" "$D" "$T/pc.json" >"$T/out" 2>"$T/err"
grep -rq '"why": *"incident closed: ' "$T/keep" ||
  fail "no closing event written: $(ls -R "$T/keep" | head)"
/usr/bin/env python3 - "$(tail -n1 "$T/out")" <<'PY' && ok "a closing event in another field is not a detection" || fail "close_event: $(tail -n1 "$T/out")"
import json, sys
s = json.loads(sys.argv[1])
assert s["alerts_total"] == 1 and s["alerts"]["standard"] > 90, s
PY

echo '{"c/missing.csv": []}' >"$D/labels/combined_windows.json"
bash bench/nab.sh "$D" "$T/p.json" >"$T/out" 2>"$T/err" && fail "a missing series was accepted" ||
  { grep -q 'c/missing.csv: cannot open' "$T/err" && ok "a label naming a missing series is refused" ||
    fail "missing series: $(cat "$T/err")"; }
echo '{"c/flat.csv": [["2020-01-01 00:00:00.000000", "2020-01-01 00:10:00.000000"]]}' \
  >"$D/labels/combined_windows.json"
bash bench/nab.sh "$D" "$T/p.json" >"$T/out" 2>"$T/err" && fail "a window off the data was accepted" ||
  { grep -q 'expected a row at 2020-01-01 00:00:00' "$T/err" && ok "a window the data lacks is refused" ||
    fail "window: $(cat "$T/err")"; }
finish
