#!/usr/bin/env bash
# A rebalance while a sink stays busy: member A writes into a FIFO nobody
# reads, so its file sink is over max_buffered_bytes and the worker stops
# taking records. Member B joins the group. A must still serve its consumer
# queue (its partitions paused after 1 s busy), so the rebalance goes
# through within drain_timeout instead of waiting for max.poll.interval.ms
# (300 s by default) to throw A out of the group. Then the FIFO is read: every
# record has an output (at-least-once: A's abandoned outputs may be read
# again by B, never lost).
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_BUSY_PORT (default 29960; +1 the controller).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_BUSY_PORT:-29960}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
N=20000
ok() { passed=$((passed + 1)); echo "test_kafka_busy_rebalance: ok: $*"; }
fail() { failed=$((failed + 1)); echo "test_kafka_busy_rebalance: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "test_kafka_busy_rebalance: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-busy-rebalance.XXXXXX)
KDIR=$T/kafka
WEIR_PID="" PB="" READER=""
cleanup() {
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null
    [[ -n $PB ]] && kill -KILL "$PB" 2>/dev/null
    [[ -n $READER ]] && kill -KILL "$READER" 2>/dev/null
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "test_kafka_busy_rebalance: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

kafka_start ""
kafka_topics br-in:2
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++)
    printf "{\"seq\":%d,\"pad\":\"%s\"}\n", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }' >"$T/in.jsonl"
"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic br-in --key seq >"$T/replay.log" 2>&1 ||
    { fail "replay: $(tail -n1 "$T/replay.log")"; finish; }
cat >"$T/member.json" <<JSON
{
  "name": "busy-rebalance",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["br-in"], "group": "br",
             "max_records": 64, "drain_timeout": "2s"},
  "operators": [{"type": "extract", "fields": {"seq": "/seq"}}],
  "sinks": [{"type": "file", "path": "$T/sink", "max_buffered_bytes": 65536}]
}
JSON

mkfifo "$T/fifo"
exec 3<>"$T/fifo" # holds the FIFO open and never reads: A's writes fill it, then wait
start_weir "$T/a.err" "$T/member.json" --workers 1 --set "sinks[0].path=$T/fifo" 3>&-
wait_log "$T/a.err" 'assigned 2 partition' 30 || { fail "A never took the 2 partitions: $(tail -n2 "$T/a.err")"; finish; }
sleep 3 # A's sink is over its bound: the worker waits, the source paused
"$WEIR" run "$T/member.json" --workers 1 --set "sinks[0].path=$T/b.jsonl" 2>"$T/b.err" 3>&- & PB=$!
if wait_log "$T/a.err" 'rebalance: revoked' 20 && wait_log "$T/b.err" 'rebalance: assigned' 20; then
    ok "busy A gave up its partitions and B was assigned within seconds"
else
    fail "the rebalance waited for busy A: A: $(grep rebalance "$T/a.err" | tail -n1 | cut -c1-200); B: $(tail -n1 "$T/b.err" | cut -c1-200)"
fi
cat "$T/fifo" >"$T/a.jsonl" 3>&- & READER=$!
deadline=$((SECONDS + 60))
until [[ $(cat "$T/a.jsonl" "$T/b.jsonl" 2>/dev/null | distinct /dev/stdin) -ge $N ]]; do
    ((SECONDS < deadline)) || break
    sleep 0.5
done
rc=0
stop_weir 40 || rc=$?
((rc == 0)) || fail "A: exit $rc: $(grep -v ' records in, ' "$T/a.err" | tail -n2 | cut -c1-300)"
WEIR_PID=$PB
PB=""
rc=0
stop_weir 40 || rc=$?
((rc == 0)) || fail "B: exit $rc: $(grep -v ' records in, ' "$T/b.err" | tail -n2 | cut -c1-300)"
exec 3>&-
for _ in $(seq 20); do kill -0 "$READER" 2>/dev/null || break; sleep 0.5; done
kill -KILL "$READER" 2>/dev/null
READER=""
got=$(cat "$T/a.jsonl" "$T/b.jsonl" | distinct /dev/stdin)
if ((got == N)); then ok "all $N records have an output"; else fail "$got of $N records have an output"; fi
finish
