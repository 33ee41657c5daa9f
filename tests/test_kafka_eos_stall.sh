#!/usr/bin/env bash
# Exactly-once: a member stopped past the session timeout recovers in place
# (connectors/kafka_txn.c). Two weir processes in one group, "guarantee":
# "exactly_once", one worker each (transactional ids a, b), input flowing.
# B is stopped (SIGSTOP) for 10 s, past the 6 s session timeout: the group
# drops it, A takes its partitions and fences "b-0". When B goes on
# (SIGCONT), its producer is fenced: B must re-create it and go on (one
# "recovered from being fenced" line), not exit; it rejoins and gets
# partitions again. At the end both exit 0 on SIGTERM and the output topic,
# read with read_committed, holds every input exactly once (0 missing, 0
# duplicated). Before the re-creation B exited 1 with the fenced error.
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_STALL_PORT (default 29943; +1 the controller).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_STALL_PORT:-29943}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
N=${WEIR_KAFKA_STALL_N:-8000}
RATE=${WEIR_KAFKA_STALL_RATE:-400} # 20 s of input: it flows before, during and after the stop
NAME=test_kafka_eos_stall
ok() { passed=$((passed + 1)); echo "$NAME: ok: $*"; }
fail() { failed=$((failed + 1)); echo "$NAME: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "$NAME: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-eos-stall.XXXXXX)
KDIR=$T/kafka
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "$NAME: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

kafka_start ""
kafka_topics st-in:4 st-out:4 st-rej:1
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d,\"value\":%d}\n", i, i % 97 }' >"$T/in.jsonl"
cat >"$T/member.json" <<EOF
{
  "name": "eos-stall",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["st-in"], "group": "st",
             "guarantee": "exactly_once", "commit_interval": "200ms"},
  "operators": [{"type": "extract", "fields": {"seq": "/seq", "value": "/value"}}],
  "sinks": [{"type": "kafka", "topic": "st-out"}],
  "dead_letter": {"type": "kafka", "topic": "st-rej"}
}
EOF

"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=a 2>"$T/a.log" & PA=$!
PIDS=("$PA")
wait_log "$T/a.log" 'assigned 4 partition' 30 || { fail "A never took the 4 partitions: $(tail -n2 "$T/a.log")"; finish; }
"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=b 2>"$T/b.log" & PB=$!
PIDS+=("$PB")
wait_log "$T/b.log" 'assigned [1-9]' 30 || { fail "B never got partitions: $(tail -n2 "$T/b.log")"; finish; }

"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic st-in --key seq --rate "$RATE" >"$T/replay.log" 2>&1 & PR=$!
PIDS+=("$PR")
WEIR_PID=$PB
got=$(wait_count st-out $((N / 8)) 30) || { fail "only $got outputs before the stop: $(tail -n2 "$T/b.log")"; finish; }

# ---- B stopped past the session timeout, mid-stream (so mid-transaction) ------------
kill -STOP "$PB"
wait_log "$T/a.log" 'fenced transactional id b-0 of a member that left' 25
fenced_b=$?
sleep $((fenced_b == 0 ? 1 : 0))
after=$(($(wc -l <"$T/b.log") + 1)) # B's lines from here on are after the stop
kill -CONT "$PB"
if ((fenced_b != 0)); then
    fail "A did not fence b-0 while B was stopped: $(tail -n2 "$T/a.log")"
else
    ok "A took over and fenced b-0 while B was stopped"
fi
# B goes on: one recovery line, then partitions again (it rejoined), still running
if ! wait_log "$T/b.log" 'recovered from being fenced' 20; then
    fail "B did not recover after SIGCONT ($(kill -0 "$PB" 2>/dev/null && echo running || echo exited)): $(tail -n2 "$T/b.log")"
    finish
fi
recovered=$(grep -h 'recovered from being fenced' "$T/b.log" | head -n1)
lines=$(grep -c 'recovered from being fenced' "$T/b.log")
deadline=$((SECONDS + 20))
until tail -n +"$after" "$T/b.log" | grep -q 'assigned [1-9]'; do
    ((SECONDS < deadline)) && kill -0 "$PB" 2>/dev/null || break
    sleep 0.2
done
if ! kill -0 "$PB" 2>/dev/null; then
    fail "B exited after it recovered: $(tail -n2 "$T/b.log")"
elif ! tail -n +"$after" "$T/b.log" | grep -q 'assigned [1-9]'; then
    fail "B recovered but got no partitions again within 20 s: $(tail -n2 "$T/b.log")"
else
    ok "B recovered in place ($lines line: \"${recovered#*warning: }\") and got partitions again"
fi

wait "$PR" || fail "replay: $(tail -n1 "$T/replay.log")"
WEIR_PID=$PB
for _ in $(seq 60); do # until every input is committed (the topic's count includes markers and aborts)
    kafka_lag0 st st-in 4 "$T/group.txt" && break
    sleep 0.5
done
kill -TERM "$PA" "$PB"
wait "$PA"; rca=$?
wait "$PB"; rcb=$?
PIDS=()
if ((rca == 0 && rcb == 0)); then
    ok "both exit 0 on SIGTERM"
else
    fail "exit status after SIGTERM: A $rca, B $rcb: $(tail -n1 "$T/a.log") / $(tail -n1 "$T/b.log")"
fi
broker consume st-out $((N + 1)) --read-committed --timeout-ms 4000 >"$T/out.txt" 2>/dev/null
total=$(grep -c '"seq"' "$T/out.txt")
d=$(distinct "$T/out.txt")
if ((d == N && total == N)); then
    ok "read_committed: $N outputs, 0 missing, 0 duplicated"
else
    fail "read_committed: $total outputs, $((N - d)) missing, $((total - d)) duplicated"
fi
finish
