#!/usr/bin/env bash
# SIGHUP reload (engine/reload.c, weir_worker_request_reload):
#   1. The golden pipeline reads a FIFO; after 100 records the file's threshold
#      changes (above 0.999 -> 0.9) and SIGHUP swaps that operator in between
#      batches. Nothing is lost (200 in, 195 out, 5 dead), the first 97
#      outputs equal the golden run's, and every later output keeps the golden
#      z-scores and scores (standardize and score kept their state: a reset
#      standardize would restart its running mean and warm-up), while the new
#      threshold raises more alerts than the golden run's after record 100,
#      from the first record after it (the threshold's own keyed state, its
#      warm-up count, means the same under the new level: kept).
#   2. A change a running pipeline cannot take (allowed_lateness) is logged
#      as needing a restart and the run goes on; an unchanged file is "nothing
#      to do"; an invalid one is reported with its JSON path; a reload that
#      adds "reload": {"watch": true} starts the file watch, which takes the
#      change of 1 without a signal.
#   3. Under load: the embedded cluster, 2 workers, a paced replay; SIGHUP
#      mid-run changes the threshold, then another adds a file sink (shared
#      by the workers; the Kafka consumers are not made again), then another
#      changes the source's options (each worker's consumer closed,
#      committing, and a new one resuming from the committed offsets; keyed
#      state is not durable here: a changelog follows the source, so with it
#      a source change needs a restart); the run ends with every replayed
#      record through (the replay's own check), records in = out, and the new
#      sink holds whole lines.
#   4. Exactly-once: a reload's new Kafka sink whose "kafka" properties differ
#      from the worker's transactional producer's joins it as it is, and says
#      so (per worker); the run goes on.
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-reload.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; exec 3>&- 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

wait_for() { # PATTERN FILE: up to 10 s
    for _ in $(seq 200); do
        grep -q "$1" "$2" && return 0
        sleep 0.05
    done
    return 1
}

cp tests/golden/pipeline.json "$T/p.json"
mkfifo "$T/in.fifo"
"$WEIR_BIN" run "$T/p.json" --set "source.path=$T/in.fifo" --set "sinks[0].path=$T/out.jsonl" \
    --set "dead_letter.path=$T/dead.jsonl" 2>"$T/err" &
PID=$!
exec 3>"$T/in.fifo"
head -100 tests/golden/input.jsonl >&3
for _ in $(seq 200); do [ "$(wc -l <"$T/out.jsonl" 2>/dev/null)" = 97 ] && break; sleep 0.05; done
[ "$(wc -l <"$T/out.jsonl")" = 97 ] && ok || fail "97 outputs before the reload, got $(wc -l <"$T/out.jsonl")"

# 2. before the real change: nothing changed, then a change that needs a restart, then invalid.
kill -HUP "$PID"
wait_for "nothing the run uses changed; nothing to do" "$T/err" && ok || fail "unchanged file: $(cat "$T/err")"
sed -i 's/"name": "golden-host-metrics",/&\n  "allowed_lateness": "5s",/' "$T/p.json"
kill -HUP "$PID"
wait_for 'allowed_lateness was added: that needs a restart; the running pipeline goes on unchanged' "$T/err" && ok ||
    fail "lateness change: $(cat "$T/err")"
sed -i '/"allowed_lateness": "5s",/d; s/"above": 0.999/"above": "high"/' "$T/p.json"
kill -HUP "$PID"
wait_for 'not valid (above); the running pipeline goes on unchanged' "$T/err" && ok || fail "invalid: $(cat "$T/err")"
grep -q 'operators\[3\].above' "$T/err" && ok || fail "no JSON path: $(cat "$T/err")"

# The file asks for the watch (a reload that changes only that): it starts.
sed -i 's/"above": "high"/"above": 0.999/; s/"name": "golden-host-metrics",/&\n  "reload": {"watch": true},/' "$T/p.json"
kill -HUP "$PID"
wait_for 'only reload.watch changed' "$T/err" && wait_for "watch: reloading when $T/p.json changes" "$T/err" &&
    ok || fail "reload.watch added: $(cat "$T/err")"

# 1. the real change, taken by the watch (no signal)
sed -i 's/"above": 0.999/"above": 0.9/' "$T/p.json"
wait_for 'reload applied by every worker: operators\[3\] made again' "$T/err" && ok ||
    fail "reload not applied: $(cat "$T/err")"
tail -100 tests/golden/input.jsonl >&3
exec 3>&-
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok || fail "exit $rc: $(cat "$T/err")"
grep -q ': 200 records in, 195 out, 5 dead letters, ' "$T/err" && ok || fail "summary: $(cat "$T/err")"
if /usr/bin/python3 - "$T/out.jsonl" tests/golden/expected.jsonl <<'PY'; then ok; else fail "outputs after the reload"; fi
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
assert len(got) == len(want) == 195, (len(got), len(want))
assert got[:97] == want[:97], "outputs before the reload differ"
for g, w in zip(got[97:], want[97:]):
    for k in ("cpu_z", "mem_z", "score"):
        assert abs(g[k] - w[k]) <= 1e-6 * max(1, abs(w[k])), (k, g, w)  # state kept
alerts_got = sum(g["alert"] for g in got[97:])
alerts_want = sum(w["alert"] for w in want[97:])
assert alerts_got > alerts_want, (alerts_got, alerts_want)  # the new threshold is in use
# The threshold kept its keyed state (its layout did not change): no second
# warm-up of 20 records, every output after the reload is judged at 0.9.
late = [i for i, g in enumerate(got[97:], 97) if g["alert"] != (g["score"] > 0.9)]
assert not late, f"outputs {late} not judged by the new threshold (warm-up again?)"
print(f"after the reload: {alerts_got} alerts (golden: {alerts_want}), scores unchanged")
PY

# 3. under load on the embedded cluster
cp pipelines/monitor-embedded.json "$T/e.json"
sed -i "s#\"path\": \"../shared#\"path\": \"$PWD/../shared#" "$T/e.json"
"$WEIR_BIN" run "$T/e.json" --workers 2 --set replay.rate=400 --set 'state={"durable": false}' --http 0 >/dev/null 2>"$T/e.err" &
PID=$!
wait_for 'listening on' "$T/e.err"
PORT=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$T/e.err")
for _ in $(seq 100); do # ready: workers up, partitions assigned
    st=$(exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET /readyz HTTP/1.1\r\n\r\n' >&"$fd" &&
         timeout 5 cat <&"$fd" | head -1 | cut -d' ' -f2)
    [ "$st" = 200 ] && break
    sleep 0.1
done
for _ in $(seq 200); do # records flowing (the reloads below happen mid-run)
    n=$(exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" && printf 'GET /metrics HTTP/1.1\r\n\r\n' >&"$fd" &&
        timeout 5 cat <&"$fd" | sed -n 's/^weir_records_out_total \([0-9]*\)\r*$/\1/p')
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.05
done
# The last operator (a threshold) gets a lower "above", whatever the shipped file says.
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); t=d['operators'][-1]; assert t['type'] == 'threshold'; t['above'] = t['above'] * 0.9; json.dump(d, open(sys.argv[1], 'w'))" "$T/e.json"
kill -HUP "$PID"
wait_for 'reload applied by every worker: operators\[[0-9]*\] made again' "$T/e.err" && ok || fail "embedded reload: $(cat "$T/e.err")"
# A sink added while both workers run: they share its one writer (made by the
# main thread as at the start); the Kafka source goes on in its group.
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['sinks'].append({'type': 'file', 'path': sys.argv[2]}); json.dump(d, open(sys.argv[1], 'w'))" "$T/e.json" "$T/extra.jsonl"
kill -HUP "$PID"
wait_for 'reload applied by every worker: \([0-9]*\) of \1 operators kept .* 3 of 4 sinks kept open; the source went on$' "$T/e.err" && ok ||
    fail "embedded sink added: $(cat "$T/e.err")"
[ "$(grep -c 'assigned (embedded cluster: fixed)' "$T/e.err")" = 2 ] && ok ||
    fail "the consumers were made again: $(grep assigned "$T/e.err")"
# The source's options changed: each worker's consumer is closed (committing
# what was acknowledged) and a new one resumes from the committed offsets.
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['source']['max_inflight_records'] = 5000; json.dump(d, open(sys.argv[1], 'w'))" "$T/e.json"
kill -HUP "$PID"
wait_for 'reload applied by every worker: .* the source was stopped and the new one opened$' "$T/e.err" && ok ||
    fail "embedded source changed: $(cat "$T/e.err")"
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok || fail "embedded exit $rc: $(cat "$T/e.err")"
grep -q 'weir: replay: [0-9]* records from .* produced and acknowledged' "$T/e.err" && ok ||
    fail "replay: $(cat "$T/e.err")"
in=$(sed -n 's/^weir: [a-z-]*: \([0-9]*\) records in, \([0-9]*\) out, 0 dead letters.*/\1 \2/p' "$T/e.err")
set -- $in
[ -n "${1:-}" ] && [ "$1" = "$2" ] && [ "$1" -gt 0 ] && ok || fail "embedded: in/out '$in': $(cat "$T/e.err")"
# Whole lines from both workers, fewer than all records (added mid-run).
extra=$(wc -l <"$T/extra.jsonl")
/usr/bin/python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$T/extra.jsonl" &&
    [ "$extra" -gt 0 ] && [ "$extra" -lt "$1" ] && ok || fail "extra sink: $extra lines of $1"

# 4. Exactly-once: a worker's Kafka sinks share one transactional producer. A
# reload's new sink with "kafka" properties of its own joins it as it is:
# said, per worker, not ignored without a word; the records go on.
cat >"$T/x.json" <<JSON
{"name": "eos-reload", "source": {"type": "kafka", "brokers": "embedded", "topics": ["in"],
  "guarantee": "exactly_once"},
 "replay": {"path": "$T/x.jsonl", "partition": 0, "rate": 500, "stop": false},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "kafka", "topic": "out"}], "dead_letter": {"type": "kafka", "topic": "dead"}}
JSON
seq 1 20000 | awk '{ printf "{\"v\":%d}\n", $1 }' >"$T/x.jsonl"
"$WEIR_BIN" run "$T/x.json" --workers 2 2>"$T/x.err" &
PID=$!
wait_for 'assigned (embedded cluster: fixed)' "$T/x.err"
sed -i 's/"topic": "out"}/"topic": "out2", "kafka": {"linger.ms": "20"}}/' "$T/x.json"
# A SIGHUP while the workers start is ignored (said): sent again until taken.
for i in $(seq 200); do
    grep -q 'reload applied by every worker' "$T/x.err" && break
    ((i % 20 == 1)) && kill -HUP "$PID"
    sleep 0.05
done
grep -q 'reload applied by every worker' "$T/x.err" && ok || fail "eos reload: $(cat "$T/x.err")"
[ "$(grep -c 'kafka sink "out2" (worker [01]): the file.s "kafka" properties for the Kafka sinks are not taken' "$T/x.err")" = 2 ] &&
    ok || fail "eos reload, properties not taken: $(cat "$T/x.err")"
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
in=$(sed -n 's/^weir: eos-reload: \([0-9]*\) records in, \([0-9]*\) out, 0 dead letters.*/\1 \2/p' "$T/x.err")
set -- $in
[ $rc -eq 0 ] && [ -n "${1:-}" ] && [ "$1" = "$2" ] && ok || fail "eos reload: exit $rc, in/out '$in': $(cat "$T/x.err")"

finish
