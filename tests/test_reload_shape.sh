#!/usr/bin/env bash
# Reloads that change the pipeline's shape (engine/reload.c, worker_reload.c),
# under load: a writer streams records with ids into a FIFO (300 during each
# reload and 300 after it, read before the next: every version sees records
# whatever the machine's load) while the file is
# edited and SIGHUP sent, each waiting for the last to be applied:
#   1. an operator added at the end (new columns: the keyed standardize is made
#      again for them and takes its state along);
#   2. the sink changed (another path: the old writer closes, a new one opens)
#      and a second sink added, and an option of standardize changed (its
#      state goes on: the same layout);
#   3. a column added to extract (extract made again) and the batch size
#      changed (the file source keeps reading where it is);
#   4. an operator inserted before standardize (it moves from 1 to 2);
#   then an invalid file (JSON path logged, nothing changes), then the file
#   watch (--watch) takes an edit made by renaming a new file over the old
#   (every edit above is seen by the watch too: whichever comes second finds
#   nothing to do, or the last reload still being applied).
# Checks: every input id comes out exactly once over the sinks (outputs =
# inputs per id), nothing is dead; every record's z-score equals a run of the
# first pipeline without reloads (the keyed state by "k" survived every
# reload: a reset would restart its running means and warm-up); the new
# fields appear after their reloads; /metrics: weir_reloads_total ok 5 and
# failed 1 or 2, and standardize's records-in counter followed it through the
# reorder (it counts every record, those before the reloads included).
#   With --timing, the summary does not print per-operator times under the
#   first version's names (they moved).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-reload-shape.XXXXXX)
PID=
WPID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "$WPID" ] && kill "$WPID" 2>/dev/null; exec 3>&- 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
N=6000

wait_count() { # N PATTERN FILE: up to 20 s for N lines matching
    for _ in $(seq 400); do
        [ "$(grep -c "$2" "$3")" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}

/usr/bin/python3 - "$T/input.jsonl" "$N" <<'PY'
import json, random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        k = i % 7
        f.write(json.dumps({"id": i, "k": f"key{k}", "v": 10 * k + random.gauss(0, 1 + k),
                            "w": random.random()}) + "\n")
PY

# The first pipeline; edit.py N rewrites it as version N.
cat >"$T/edit.py" <<'PY'
import json, os, sys
t, step = sys.argv[1], int(sys.argv[2])
p = {"name": "reload-shape",
     "source": {"type": "file", "path": f"{t}/in.fifo", "max_records": 8},
     "operators": [
         {"type": "extract", "fields": {"v": "/v", "k": {"path": "/k", "type": "string"}}},
         {"type": "standardize", "fields": ["v"], "out": ["v_z"], "mode": "running", "warmup": 5,
          "by": "k"}],
     "sinks": [{"type": "file", "path": f"{t}/a.jsonl"}],
     "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
ops, sinks = p["operators"], p["sinks"]
if step >= 1:
    ops.append({"type": "score", "method": "zscore", "fields": ["v_z"], "out": "s"})
if step >= 2:  # an option of standardize too: its state goes on (same layout)
    ops[1]["warmup"] = 6
    sinks[0]["path"] = f"{t}/a2.jsonl"
    sinks.append({"type": "file", "path": f"{t}/b.jsonl", "when": "s > 0.99"})
if step >= 3:
    ops[0]["fields"]["w"] = "/w"
    p["source"]["max_records"] = 5
if step >= 4:
    ops.insert(1, {"type": "score", "method": "zscore", "fields": ["w"], "out": "s_w"})
if step >= 5:
    ops.append({"type": "threshold", "score": "s", "above": 0.999, "warmup": 0})
tmp = f"{t}/p.json.tmp"
with open(tmp, "w") as f:
    json.dump(p, f, indent=1)
os.rename(tmp, f"{t}/p.json")  # as editors do: a new file renamed over the old
PY
/usr/bin/python3 "$T/edit.py" "$T" 0

# The reference: the first pipeline, no reloads, the same input.
sed "s#$T/in.fifo#$T/input.jsonl#; s#$T/a.jsonl#$T/ref.jsonl#; s#$T/dead.jsonl#$T/ref-dead.jsonl#" \
    "$T/p.json" >"$T/ref.json"
"$WEIR_BIN" run "$T/ref.json" --quiet && ok || fail "reference run"

mkfifo "$T/in.fifo"
"$WEIR_BIN" run "$T/p.json" --http 0 --watch --timing 2>"$T/err" &
PID=$!
exec 3>"$T/in.fifo" # held open until the metrics are read: the input ends when it closes
wait_count 1 'listening on' "$T/err"
PORT=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$T/err")
# Records flow all along, about 3000 a second, up to the limit the test sets
# in $T/limit: each version gets records of its own whatever the load (a
# writer paced by the clock alone could end before the last reload, or send
# nothing between two, and the checks on new fields would fail by chance).
echo 600 >"$T/limit"
/usr/bin/python3 - "$T/input.jsonl" "$T/in.fifo" "$T/limit" <<'PY' &
import sys, time
lines = open(sys.argv[1]).readlines()
i = 0
with open(sys.argv[2], "w") as f:
    while i < len(lines):
        limit = int(open(sys.argv[3]).read() or 0)
        if i >= limit:
            time.sleep(0.005)
            continue
        j = min(i + 30, limit)
        f.write("".join(lines[i:j]))
        f.flush()
        i = j
        time.sleep(0.01)
PY
WPID=$!
set_limit() { echo "$1" >"$T/limit.tmp" && mv "$T/limit.tmp" "$T/limit"; }
records_in() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&"$fd"
    timeout 5 cat <&"$fd" | awk '$1 == "weir_records_in_total" {print $2}'
    exec {fd}>&-
}
wait_read() { # N: up to 20 s for the run to have read N records
    for _ in $(seq 400); do
        [ "$(records_in)" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
# Records read before a SIGHUP went through the version before it; records
# written after "applied" through the new one. Each step lets 300 records flow
# during the reload and 300 more after it, and waits until they were read.
wait_read 600 && ok || fail "first records: $(cat "$T/err")"
LIMIT=600
next_step_records() { LIMIT=$((LIMIT + 300)); set_limit "$LIMIT"; }

for step in 1 2 3 4; do
    next_step_records
    /usr/bin/python3 "$T/edit.py" "$T" "$step"
    kill -HUP "$PID"
    wait_count "$step" 'reload applied by every worker' "$T/err" && ok || fail "reload $step: $(cat "$T/err")"
    next_step_records
    wait_read "$LIMIT" && ok || fail "records after reload $step: $(records_in) read, want $LIMIT"
done
grep -q 'reload applied by every worker: 2 of 3 operators kept with their state' "$T/err" && ok ||
    fail "first reload's summary: $(grep applied "$T/err")"
grep -q '2 of 2 sinks kept open; the source went on$' "$T/err" && ok || fail "kept sinks: $(grep applied "$T/err")"
grep -q '3 of 3 sinks kept open; the source went on with its new options$' "$T/err" && ok ||
    fail "the source kept reading: $(grep applied "$T/err")"

# Invalid: logged with its JSON path, nothing changes.
cp "$T/p.json" "$T/good.json"
sed -i 's/"warmup": 6/"warmup": "six"/' "$T/p.json"
kill -HUP "$PID"
wait_count 1 'not valid (above); the running pipeline goes on unchanged' "$T/err" && ok || fail "invalid: $(cat "$T/err")"
grep -q 'operators\[2\].warmup' "$T/err" && ok || fail "no JSON path: $(cat "$T/err")"
cp "$T/good.json" "$T/p.json.tmp" && mv "$T/p.json.tmp" "$T/p.json" # the watch: nothing changed

# The file watch: version 5 renamed over the file, no signal.
next_step_records
/usr/bin/python3 "$T/edit.py" "$T" 5
wait_count 5 'reload applied by every worker' "$T/err" && ok || fail "watch: $(cat "$T/err")"
set_limit "$N"

wait "$WPID"
WPID=
# Every record out: the metrics, before the run ends.
for _ in $(seq 200); do
    n=$(cat "$T"/a.jsonl "$T"/a2.jsonl 2>/dev/null | wc -l)
    [ "$n" -ge "$N" ] && break
    sleep 0.05
done
exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' >&"$fd"
timeout 5 cat <&"$fd" >"$T/metrics" || true
exec {fd}>&-
grep -q '^weir_reloads_total{result="ok"} 5$' "$T/metrics" && ok || fail "reloads ok: $(grep reloads "$T/metrics")"
# failed: the invalid file, read once or twice (SIGHUP, and the watch when it came first)
grep -q '^weir_reloads_total{result="failed"} [12]$' "$T/metrics" && ok || fail "reloads failed: $(grep reloads "$T/metrics")"
grep -q "^weir_operator_records_in_total{index=\"2\",operator=\"standardize\"} $N\$" "$T/metrics" && ok ||
    fail "standardize's counter: $(grep operator_records_in "$T/metrics")"

exec 3>&-
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok || fail "exit $rc: $(cat "$T/err")"
grep -q ": $N records in, $N out, 0 dead letters, " "$T/err" && ok || fail "summary: $(tail -3 "$T/err")"
# --timing: the times are by operator position, which the reloads moved (they
# were printed under the first version's names)
grep -q "per-operator times not shown: the pipeline was reloaded" "$T/err" &&
    ! grep -q " ns/record$" <(grep -v "worker threads" "$T/err") && ok || fail "timing: $(tail -6 "$T/err")"

if /usr/bin/python3 - "$T" "$N" <<'PY'; then ok; else fail "outputs"; fi
import json, math, sys
t, n = sys.argv[1], int(sys.argv[2])
def rows(name):
    try:
        return [json.loads(l) for l in open(f"{t}/{name}")]
    except FileNotFoundError:
        return []
a, a2, b, ref = rows("a.jsonl"), rows("a2.jsonl"), rows("b.jsonl"), rows("ref.jsonl")
assert not rows("dead.jsonl"), "dead letters"
ids = sorted(r["id"] for r in a + a2)
assert ids == list(range(n)), f"{len(ids)} outputs, {len(set(ids))} distinct ids, want {n}"
assert a and a2, (len(a), len(a2))
assert all(a2[i]["id"] > a[-1]["id"] for i in range(len(a2))), "a2 starts after a"
want = {r["id"]: r["v_z"] for r in ref}
assert len(want) == n
for r in a + a2:
    z, w = r["v_z"], want[r["id"]]
    assert (z is None and w is None) or abs(z - w) <= 1e-6 * max(1, abs(w)), (r, w)
assert any("s" in r for r in a), "score added in the first reload"
assert not any("s_w" in r for r in a), "s_w only after the fourth"
assert any("s_w" in r for r in a2), "s_w after the fourth reload"
assert all(r["s"] > 0.99 for r in b) and b, ("second sink", len(b))
print(f"{len(a)} + {len(a2)} outputs, ids 0..{n - 1} once each, z-scores equal to the run "
      f"without reloads; {len(b)} in the second sink")
PY

finish
