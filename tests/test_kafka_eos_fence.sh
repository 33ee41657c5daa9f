#!/usr/bin/env bash
# Exactly-once takeover fencing (issue 8, item 3; connectors/kafka_fence.c).
# Two weir processes in one group, "guarantee": "exactly_once", one worker
# each with their own transactional_id (a, b); their producers' transaction
# timeout is 60 s, so that without fencing a killed member's open transaction
# would hold back read_committed readers for at least 60 s.
#   1. A starts alone and takes every partition; B joins later: A loses
#      partitions to a live member in a normal rebalance and must fence no
#      one (nor be fenced: both keep running, no "fenced" line in either log).
#  1b. Before any input, B is stopped (SIGTERM) and started again at once: it
#      leaves the group and comes straight back. A's listing after the
#      rebalance misses B, but the listing that confirms an absence a second
#      later sees it again: no one is fenced, both keep running.
#   2. B is killed with SIGKILL, a transaction open, while input still
#      arrives. A must fence "b-0" (one log line) once the group drops B, and
#      a read_committed reader (a third weir) must see every input's output
#      within 45 s of the kill (a takeover after the 6 s session, plus the
#      fence: far below the 60 s transaction timeout); then A exits 0 on
#      SIGTERM and the topic read with read_committed holds every seq exactly
#      once (0 missing, 0 duplicated).
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_FENCE_PORT (default 29985; +1 the controller).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_FENCE_PORT:-29985}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
N=${WEIR_KAFKA_FENCE_N:-12000}
RATE=${WEIR_KAFKA_FENCE_RATE:-1500}
NAME=test_kafka_eos_fence
ok() { passed=$((passed + 1)); echo "$NAME: ok: $*"; }
fail() { failed=$((failed + 1)); echo "$NAME: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "$NAME: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-eos-fence.XXXXXX)
KDIR=$T/kafka
WEIR_PID="" PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "$NAME: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

kafka_start ""
kafka_topics fe-in:4 fe-out:4 fe-rej:1
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d,\"value\":%d}\n", i, i % 97 }' >"$T/in.jsonl"
cat >"$T/member.json" <<EOF
{
  "name": "eos-fence",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["fe-in"], "group": "fe",
             "guarantee": "exactly_once", "commit_interval": "200ms",
             "kafka": {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}},
  "operators": [{"type": "extract", "fields": {"seq": "/seq", "value": "/value"}}],
  "sinks": [{"type": "kafka", "topic": "fe-out", "kafka": {"transaction.timeout.ms": 60000}}],
  "dead_letter": {"type": "kafka", "topic": "fe-rej", "kafka": {"transaction.timeout.ms": 60000}}
}
EOF
cat >"$T/watch.json" <<EOF
{
  "name": "eos-fence-watch",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["fe-out"], "group": "fe-watch",
             "kafka": {"isolation.level": "read_committed"}},
  "operators": [{"type": "extract", "fields": {"seq": "/seq"}}],
  "sinks": [{"type": "file", "path": "$T/seen.jsonl", "fields": ["seq"]}]
}
EOF

no_fence() { # case what B's-log: neither member fenced, both still running
    if grep -q 'fenced' "$T/a.log" "$3"; then
        fail "$1: a live member was fenced ($2): $(grep -h fenced "$T/a.log" "$3" | head -n2)"
    elif ! kill -0 "$PA" 2>/dev/null || ! kill -0 "$PB" 2>/dev/null; then
        fail "$1: a member exited ($2): $(tail -n2 "$T/a.log" "$3")"
    else
        ok "$1: $2: no one fenced, both running"
    fi
}

# ---- 1. a member joining later: a normal rebalance fences no one -----------------
"$WEIR" run "$T/watch.json" 2>"$T/watch.log" & PW=$!
"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=a 2>"$T/a.log" & PA=$!
PIDS=("$PW" "$PA")
wait_log "$T/a.log" 'assigned 4 partition' 30 || { fail "1: A never took the 4 partitions: $(tail -n2 "$T/a.log")"; finish; }
"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=b 2>"$T/b.log" & PB=$!
PIDS+=("$PB")
wait_log "$T/b.log" 'assigned [1-9]' 30 || { fail "1: B never got partitions: $(tail -n2 "$T/b.log")"; finish; }

# ---- 1b. B stopped (SIGTERM) and started again at once: it leaves the group and
# comes straight back; A's listing misses it for a moment but must not fence it
kill -TERM "$PB"
wait "$PB"; rc=$?
((rc == 0)) || fail "1b: B exited with status $rc after SIGTERM: $(tail -n2 "$T/b.log")"
"$WEIR" run "$T/member.json" --workers 1 --set source.transactional_id=b 2>"$T/b2.log" & PB=$!
PIDS=("$PW" "$PA" "$PB")
WEIR_PID=$PB
if ! wait_log "$T/b2.log" 'assigned [1-9]' 30; then
    fail "1b: B never got partitions again: $(tail -n2 "$T/b2.log")"
else
    sleep 3 # A's listing after the rebalance, and the one confirming it 1 s later
    no_fence "1b" "B stopped and started again at once" "$T/b2.log"
fi
cat "$T/b2.log" >>"$T/b.log" && rm -f "$T/b2.log"

"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic fe-in --key seq --rate "$RATE" >"$T/replay.log" 2>&1 & PR=$!
PIDS+=("$PR")
# B is mid-stream (and so mid-transaction) once a quarter of the outputs exist
WEIR_PID=$PB
got=$(wait_count fe-out $((N / 4)) 60) || { fail "1: only $got outputs: $(tail -n2 "$T/b.log")"; finish; }
no_fence "1" "B joined and took partitions from A" "$T/b.log"

# ---- 2. B killed mid-transaction: fenced by A, everything visible soon -----------
kill -KILL "$PB"; wait "$PB" 2>/dev/null
t0=$(date +%s.%N)
elapsed() { awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'; }
visible=""
while :; do
    if (($(distinct "$T/seen.jsonl") >= N)); then visible=$(elapsed); break; fi
    awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { exit !(a - b > 45) }' && break
    sleep 0.2
done
wait "$PR" || fail "2: replay: $(tail -n1 "$T/replay.log")"
# the line comes once init_transactions returns, which may be after the abort
wait_log "$T/a.log" 'fenced transactional id b-0 of a member that left' 10
fence_line=$(grep -h 'fenced transactional id b-0 of a member that left' "$T/a.log" | head -n1)
if [[ -z $visible ]]; then
    fail "2: after the kill, only $(distinct "$T/seen.jsonl") of $N outputs visible to read_committed within 45 s (fence: ${fence_line:-none})"
elif [[ -z $fence_line ]]; then
    fail "2: everything visible after $visible s, but A logged no fence of b-0"
else
    ok "2: B killed: A logged \"${fence_line#*: }\"; all $N outputs visible to read_committed $visible s after the kill"
fi
grep -h 'fenced' "$T/a.log" | grep -qv 'b-0' && fail "2: A fenced another id: $(grep -h fenced "$T/a.log")"
sleep 1
kill -TERM "$PA" "$PW"
wait "$PA"; rc=$?
wait "$PW"
PIDS=()
((rc == 0)) || fail "2: A exited with status $rc after SIGTERM: $(tail -n2 "$T/a.log")"
broker consume fe-out $((N + 1)) --read-committed --timeout-ms 4000 >"$T/out.txt" 2>/dev/null
total=$(grep -c '"seq"' "$T/out.txt")
d=$(distinct "$T/out.txt")
if ((d == N && total == N)); then
    ok "2: read_committed: $N outputs, 0 missing, 0 duplicated"
else
    fail "2: read_committed: $total outputs, $((N - d)) missing, $((total - d)) duplicated"
fi
finish
