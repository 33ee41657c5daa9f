#!/usr/bin/env bash
# Synthetic probes end to end (bench/probes.sh + probes.py) with the flagship
# monitoring pipeline, as shipped, without `recurring`, and without it but
# with the seasonal clip on: the table and the JSON summary on the last
# line (ten series), no alert on the plain wave or across the gap, the
# outage found at its first value, and the spike's echo a day later: there
# without `recurring` and the clip, gone with either, each with fewer false
# alerts; with `flatline` added (monitor-cpu-flatline.json), the stuck
# sensor the flagship misses is found, by flatline, and no other alert
# changes. Needs /usr/bin/python3 with numpy (skipped, 77, without).
#
# Env: WEIR_BIN, WEIR_SRC.
set -u
. "$(dirname "$0")/lib.sh"

/usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "skipped: no numpy"; exit 77; }
export WEIR_BIN
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

/usr/bin/python3 - pipelines/monitor-cpu.json "$T/plain.json" "$T/clip.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
ops = [o for o in p["operators"] if o["type"] != "recurring"]
assert len(ops) == len(p["operators"]) - 1
for o in ops:
    if o["type"] == "score":
        o["fields"] = ["deviation_score", "forecast_score", "cad_ose_score"]
p["operators"] = ops
json.dump(p, open(sys.argv[2], "w"))
for o in ops:
    if o["type"] == "deviation":
        o["season_clip"] = 3
    if o["type"] == "forecast":
        o["clip"] = 3
json.dump(p, open(sys.argv[3], "w"))
PY
bash bench/probes.sh --json "$T/flag.result.json" pipelines/monitor-cpu.json >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" -eq 0 ] && ok "probes.sh exits 0" || fail "probes.sh exited $rc: $(tail -n3 "$T/err")"
grep -q '^outage  *2880 ' "$T/out" && ok "table has a row per series" || fail "table: $(head -n5 "$T/out")"
bash bench/probes.sh --json "$T/plain.result.json" "$T/plain.json" >"$T/out1" 2>"$T/err1" ||
  fail "probes.sh without recurring: $(tail -n3 "$T/err1")"
bash bench/probes.sh --json "$T/clip.result.json" "$T/clip.json" >"$T/out2" 2>"$T/err2" ||
  fail "probes.sh with the clip: $(tail -n3 "$T/err2")"
/usr/bin/python3 - "$(tail -n1 "$T/out")" "$T/flag.result.json" "$T/plain.result.json" \
  "$T/clip.result.json" <<'PY' &&
import json, sys
last = json.loads(sys.argv[1]); flag, plain, clip = (json.load(open(f)) for f in sys.argv[2:5])
assert last == flag and len(flag["series"]) == 10, sorted(flag["series"])
for r in (flag, plain, clip):
    s = r["series"]
    assert s["plain"]["alerts"] == 0 and s["gap"]["alerts"] == 0, (s["plain"], s["gap"])
    assert s["outage"]["first_delay"] == 0, s["outage"]
    assert s["echo"]["detected"] == [True], s["echo"]
assert plain["series"]["echo"]["echo_alerts"] >= 1, plain["series"]["echo"]
for r in (flag, clip):
    assert r["series"]["echo"]["echo_alerts"] == 0, r["series"]["echo"]
    assert r["false_alerts_total"] < plain["false_alerts_total"], (r["false_alerts_total"],
                                                                   plain["false_alerts_total"])
PY
  ok "summary: plain and gap quiet, outage at once, the echo there without recurring and the clip, gone with either" ||
  fail "summary: $(tail -n1 "$T/out" | cut -c1-300)"
bash bench/probes.sh --json "$T/flat.result.json" pipelines/monitor-cpu-flatline.json \
  >"$T/out3" 2>"$T/err3" ||
  fail "probes.sh with flatline: $(tail -n3 "$T/err3")"
/usr/bin/python3 - "$T/flag.result.json" "$T/flat.result.json" <<'PY' &&
import json, sys
flag = json.load(open(sys.argv[1]))["series"]
flat = json.load(open(sys.argv[2]))["series"]
assert flag["stuck"]["detected"] == [False], flag["stuck"]
assert flat["stuck"]["detected"] == [True] and flat["stuck"]["fired"] == {"flatline_score": 1}, \
    flat["stuck"]
for name in flag:
    if name != "stuck":
        assert flat[name]["alerts_at"] == flag[name]["alerts_at"], (name, flat[name], flag[name])
PY
  ok "flatline: the stuck sensor found, every other alert as without it" ||
  fail "flatline: $(tail -n1 "$T/out3" | cut -c1-300)"
finish
