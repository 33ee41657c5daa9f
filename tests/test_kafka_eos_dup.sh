#!/usr/bin/env bash
# Exactly-once: re-creating a fenced producer in place is bounded
# (connectors/kafka_txn.c). Two weir processes in one group run with the SAME
# transactional_id while input flows: each one's producer fences the
# other's, and each fenced one re-creates its producer, which fences back.
# That must not go on for ever: a process fenced a 4th time within a minute
# fails (exit 1) with one line naming the cause (distinct
# "transactional_id"s), and the other one keeps running.
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_DUP_PORT (default 29948; +1 the controller).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_DUP_PORT:-29948}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
N=60000 # a minute of input at 1000/s: the fences need records flowing until one gives up
NAME=test_kafka_eos_dup
ok() { passed=$((passed + 1)); echo "$NAME: ok: $*"; }
fail() { failed=$((failed + 1)); echo "$NAME: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "$NAME: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-eos-dup.XXXXXX)
KDIR=$T/kafka
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "$NAME: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

kafka_start ""
kafka_topics du-in:4 du-out:4 du-rej:1
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d}\n", i }' >"$T/in.jsonl"
cat >"$T/member.json" <<EOF
{
  "name": "eos-dup",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["du-in"], "group": "du",
             "guarantee": "exactly_once", "commit_interval": "200ms"},
  "operators": [{"type": "extract", "fields": {"seq": "/seq"}}],
  "sinks": [{"type": "kafka", "topic": "du-out"}],
  "dead_letter": {"type": "kafka", "topic": "du-rej"}
}
EOF

"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=same 2>"$T/a.log" & PA=$!
PIDS=("$PA")
wait_log "$T/a.log" 'assigned 4 partition' 30 || { fail "A never took the 4 partitions: $(tail -n2 "$T/a.log")"; finish; }
"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic du-in --key seq --rate 1000 >"$T/replay.log" 2>&1 & PR=$!
"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=same 2>"$T/b.log" & PB=$!
PIDS+=("$PR" "$PB")
deadline=$((SECONDS + 60))
while kill -0 "$PA" 2>/dev/null && kill -0 "$PB" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
sleep 1
alive=0 rc=0 log=""
if kill -0 "$PA" 2>/dev/null; then alive=$((alive + 1)); else wait "$PA"; rc=$?; log=$T/a.log; fi
if kill -0 "$PB" 2>/dev/null; then alive=$((alive + 1)); else wait "$PB"; rc=$?; log=$T/b.log; fi
if ((alive != 1)); then
    fail "$alive of the 2 processes sharing a transactional id still run 60 s after the second started (a: $(grep -c 'recovered from being fenced' "$T/a.log") recoveries, b: $(grep -c 'recovered from being fenced' "$T/b.log"))"
elif ((rc != 1)); then
    fail "the process that stopped exited with status $rc: $(tail -n1 "$log")"
elif ! tail -n1 "$log" | grep -q 'fenced again, a 4th time within a minute.*distinct "transactional_id"s'; then
    fail "the process that stopped did not say why: $(tail -n1 "$log")"
else
    ok "one of the 2 processes sharing a transactional id gave up after $(grep -c 'recovered from being fenced' "$log") recoveries (exit 1, \"${log##*/}\": ...$(tail -n1 "$log" | grep -o 'fenced again.*'))"
fi
finish
