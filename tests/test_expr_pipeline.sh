#!/usr/bin/env bash
# Expressions end to end through `weir run` (file source, file sinks):
#   a. derive: the fraud handbook's TX_DURING_WEEKEND / TX_DURING_NIGHT and
#      log1p(amount) equal Python's (datetime weekday() >= 5, hour <= 6,
#      math.log1p) on every output record;
#   b. filter: exactly the records with amount >= 20 reach the sinks; the
#      others (missing amounts included) are dropped, not dead letters, and
#      the summary says "N dropped by filters";
#   c. sink "when" as a condition: the second sink gets exactly the kept
#      records with night == 1 and country != 'FR'; "alert" still works;
#   d. filter with "dead_letter": true: the others go to the dead-letter file
#      with the condition as the reason;
#   e. a mistake in an expression: `weir validate` names the JSON path and
#      the column;
#   f. impute (running mean per key), clip and scale (parameters from a file
#      beside the pipeline file, run from another directory) against Python;
#      a missing scale file is named by its path resolved against the
#      pipeline file;
#   g. the handbook's TX_DURING_WEEKEND / TX_DURING_NIGHT on the first week of
#      ../shared/data/fraud/fdh/daily/ (skipped when absent) against Python.
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
T=$(mktemp -d /tmp/weir-test-expr.XXXXXX)
trap 'rm -rf "$T"' EXIT

"$PY" - "$T/in.jsonl" <<'EOF'
import json, random, sys
random.seed(5)
t0 = 1522540800  # 2018-04-01 00:00:00 UTC, a Sunday
with open(sys.argv[1], 'w') as f:
    for i in range(3000):
        rec = {"id": i, "ts": (t0 + random.randrange(14 * 86400)) * 1000,
               "country": random.choice(["FR", "DE", "IT"])}
        if i % 17:
            rec["amount"] = round(random.uniform(0, 40), 2)
        f.write(json.dumps(rec) + "\n")
EOF

cat >"$T/p.json" <<'EOF'
{"name": "expr-e2e", "source": {"type": "file", "path": "in.jsonl", "max_records": 100},
 "operators": [
  {"type": "extract", "fields": {"amount": {"path": "/amount", "required": false},
    "country": {"path": "/country", "type": "string"},
    "ts": {"path": "/ts", "type": "timestamp"}}},
  {"type": "derive", "fields": {
    "TX_DURING_WEEKEND": "day_of_week(event_time) >= 5",
    "TX_DURING_NIGHT": "hour_of_day(event_time) <= 6",
    "log_amount": "log1p(amount)"}},
  {"type": "filter", "keep": "amount >= 20"}
 ],
 "sinks": [{"type": "file", "path": "out.jsonl"},
           {"type": "file", "path": "night.jsonl", "when": "TX_DURING_NIGHT == 1 and country != 'FR'"},
           {"type": "file", "path": "alerts.jsonl", "when": "alert"}],
 "dead_letter": {"type": "file", "path": "dead.jsonl"}}
EOF

(cd "$T" && "$WEIR_BIN" run p.json 2>err.txt)
rc=$?
if [ $rc -eq 0 ]; then ok; else fail "run: exit $rc: $(cat "$T/err.txt")"; fi

"$PY" - "$T" dropped <<'EOF'
import datetime, json, math, sys
d = sys.argv[1]
src = [json.loads(l) for l in open(d + "/in.jsonl")]
out = [json.loads(l) for l in open(d + "/out.jsonl")]
night = [json.loads(l) for l in open(d + "/night.jsonl")]
dead = open(d + "/dead.jsonl").read().splitlines()
alerts = open(d + "/alerts.jsonl").read().splitlines()
err = open(d + "/err.txt").read()
bad = []
kept = [r for r in src if "amount" in r and r["amount"] >= 20]
if [r["id"] for r in out] != [r["id"] for r in kept]:
    bad.append("filter: %d out, want %d" % (len(out), len(kept)))
for r in out:
    t = datetime.datetime.fromtimestamp(r["ts"] / 1000, datetime.timezone.utc)
    if r["TX_DURING_WEEKEND"] != (1 if t.weekday() >= 5 else 0) or \
       r["TX_DURING_NIGHT"] != (1 if t.hour <= 6 else 0) or \
       abs(r["log_amount"] - math.log1p(r["amount"])) > 1e-5 * math.log1p(r["amount"]):
        bad.append("derive: %r" % r)
        break
want_night = [r["id"] for r in out if r["TX_DURING_NIGHT"] == 1 and r["country"] != "FR"]
if [r["id"] for r in night] != want_night or not want_night:
    bad.append("when: %d in night.jsonl, want %d" % (len(night), len(want_night)))
if dead or alerts:
    bad.append("%d dead letters and %d alerts, want none" % (len(dead), len(alerts)))
want = "%d records in, %d out, 0 dead letters, %d dropped by filters" % (len(src), len(out), len(src) - len(out))
if want not in err:
    bad.append("summary: %r does not say %r" % (err, want))
print("\n".join(bad))
sys.exit(1 if bad else 0)
EOF
if [ $? -eq 0 ]; then ok; else fail "derive/filter/when outputs (above)"; fi

# d. dead_letter: true
(cd "$T" && "$WEIR_BIN" run p.json --quiet --set 'operators[2].dead_letter=true' 2>err2.txt)
"$PY" - "$T" <<'EOF'
import json, sys
d = sys.argv[1]
src = [json.loads(l) for l in open(d + "/in.jsonl")]
dead = [json.loads(l) for l in open(d + "/dead.jsonl")]
want = [r["id"] for r in src if not ("amount" in r and r["amount"] >= 20)]
got = [json.loads(x["raw"])["id"] for x in dead]
reasons = set(x["reason"] for x in dead)
ok = got == want and reasons == {"not kept by operators[2]: amount >= 20"}
if not ok:
    print("dead letters: %d, want %d; reasons %r; first %r" % (len(got), len(want), reasons, dead[:1]))
sys.exit(0 if ok else 1)
EOF
if [ $? -eq 0 ]; then ok; else fail "filter dead_letter (above)"; fi

# e. mistakes name the path and the column.
check_validate() {
    local want=$1
    shift
    "$WEIR_BIN" validate "$T/p.json" "$@" >/dev/null 2>"$T/verr"
    if grep -qF -- "$want" "$T/verr"; then ok; else fail "validate $*: got $(cat "$T/verr"), want $want"; fi
}
check_validate "operators[1].fields.log_amount: column 16: expected a number after '+', got ')'" \
    --set 'operators[1].fields.log_amount=log1p(amount + )'
check_validate "operators[2].keep: column 1: expected a condition (a bool), got a number" \
    --set 'operators[2].keep=amount * 2'
check_validate "sinks[1].when: column 1: unknown field \"contry\" (did you mean \"country\"?)" \
    --set "sinks[1].when=contry == 'FR'"
check_validate 'sinks[2].when: expected "all", "alert", "normal" or a condition, got "alerts"' \
    --set 'sinks[2].when=alerts'
check_validate 'sinks[2].when: column 1: expected a condition (a bool), got a string' \
    --set 'sinks[2].when=country'
# f. impute / clip / scale, run from / with the pipeline in $T/conf/.
mkdir -p "$T/conf"
echo '{"amount_imputed": {"mean": 20, "std": 8}}' >"$T/conf/scaler.json"
cat >"$T/conf/prep.json" <<EOF
{"name": "prep-e2e", "source": {"type": "file", "path": "$T/in.jsonl"},
 "operators": [
  {"type": "extract", "fields": {"amount": {"path": "/amount", "required": false},
    "country": {"path": "/country", "type": "string"}}},
  {"type": "impute", "fields": "amount", "method": "mean", "by": "country", "value": -1},
  {"type": "clip", "fields": {"amount_imputed": [5, 30]}},
  {"type": "scale", "file": "scaler.json"}
 ],
 "sinks": [{"type": "file", "path": "$T/prep.jsonl"}]}
EOF
(cd / && "$WEIR_BIN" run "$T/conf/prep.json" --quiet 2>"$T/err3.txt")
rc=$?
if [ $rc -eq 0 ]; then ok; else fail "prep run: exit $rc: $(cat "$T/err3.txt")"; fi
"$PY" - "$T" <<'EOF'
import json, sys
d = sys.argv[1]
src = [json.loads(l) for l in open(d + "/in.jsonl")]
out = [json.loads(l) for l in open(d + "/prep.jsonl")]
state = {}
bad = 0
for r, o in zip(src, out):
    k = r["country"]
    n, mean = state.get(k, (0, 0.0))
    if "amount" in r:
        imp = r["amount"]
        n += 1
        mean += (imp - mean) / n
        state[k] = (n, mean)
    else:
        imp = mean if n else -1
    clipped = min(max(imp, 5), 30)
    scaled = (imp - 20) / 8
    got = (o["amount_imputed"], o["amount_imputed_clipped"], o["amount_imputed_scaled"])
    want = (imp, clipped, scaled)
    if any(abs(g - w) > 1e-4 * max(1, abs(w)) for g, w in zip(got, want)):
        bad += 1
        if bad < 4:
            print("record %d: got %r, want %r" % (r["id"], got, want))
if len(out) != len(src):
    bad += 1
    print("%d outputs, want %d" % (len(out), len(src)))
sys.exit(1 if bad else 0)
EOF
if [ $? -eq 0 ]; then ok; else fail "impute/clip/scale outputs (above)"; fi
rm "$T/conf/scaler.json"
"$WEIR_BIN" validate "$T/conf/prep.json" >/dev/null 2>"$T/verr"
want="operators[3].file: cannot read \"$T/conf/scaler.json\" (resolved against the pipeline file's directory): No such file or directory"
if grep -qF -- "$want" "$T/verr"; then ok; else fail "validate prep.json: got $(cat "$T/verr"), want $want"; fi
# g. the handbook's flags on a week of the real transactions (when present),
#    against Python's datetime as the handbook computes them with pandas.
FDH=../shared/data/fraud/fdh/daily
if ls "$FDH"/2018-04-0[1-7].csv.gz >/dev/null 2>&1; then
    { zcat "$FDH"/2018-04-01.csv.gz; for f in "$FDH"/2018-04-0[2-7].csv.gz; do zcat "$f" | tail -n +2; done; } >"$T/fdh.csv"
    cat >"$T/fdh.json" <<EOF
{"name": "fdh-flags", "source": {"type": "file", "path": "$T/fdh.csv"},
 "operators": [
  {"type": "extract", "fields": {"ts": {"path": "/TX_DATETIME", "type": "timestamp"}}},
  {"type": "derive", "fields": {"TX_DURING_WEEKEND": "day_of_week(event_time) >= 5",
                                "TX_DURING_NIGHT": "hour_of_day(event_time) <= 6"}}
 ],
 "sinks": [{"type": "file", "path": "$T/fdh.jsonl"}]}
EOF
    "$WEIR_BIN" run "$T/fdh.json" --quiet 2>"$T/err4.txt" || fail "fdh run: $(cat "$T/err4.txt")"
    "$PY" - "$T/fdh.jsonl" "$FDH" <<'EOF'
import csv, datetime, glob, gzip, json, sys
want = []
for path in sorted(glob.glob(sys.argv[2] + "/2018-04-0[1-7].csv.gz")):
    with gzip.open(path, "rt") as f:
        for row in csv.DictReader(f):
            t = datetime.datetime.strptime(row["TX_DATETIME"], "%Y-%m-%d %H:%M:%S")
            want.append((int(row["TRANSACTION_ID"]), int(t.weekday() >= 5), int(t.hour <= 6)))
got = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    got.append((r["TRANSACTION_ID"], r["TX_DURING_WEEKEND"], r["TX_DURING_NIGHT"]))
bad = sum(1 for g, w in zip(got, want) if g != w)
weekend = sum(w[1] for w in want)
print("fdh: %d transactions, %d on weekends, %d at night, %d differ" % (len(want), weekend, sum(w[2] for w in want), bad))
sys.exit(0 if bad == 0 and len(got) == len(want) and weekend > 0 else 1)
EOF
    if [ $? -eq 0 ]; then ok; else fail "handbook flags on the real transactions (above)"; fi
else
    echo "no $FDH: the real-data check is skipped"
fi
finish
