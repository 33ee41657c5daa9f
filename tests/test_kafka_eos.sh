#!/usr/bin/env bash
# Exactly-once ("guarantee": "exactly_once" on the Kafka source) against a real
# broker (scripts/kafka/broker.sh: Kafka 4.1.1, KRaft, one node on 127.0.0.1).
#   1. validation: exactly_once with a file sink, or a kafka sink on other
#      brokers, is a pipeline error naming the sink (no broker needed).
#   2. kill -9: 200,000 records, weir killed twice mid-stream and restarted;
#      the output topic read with isolation.level=read_committed holds every
#      seq exactly once: zero missing, zero duplicated.
# Skipped (77) only when Java is missing (after case 1). Env: WEIR_BIN, WEIR_SRC;
# optional WEIR_KAFKA_EOS_PORT (default 19192), WEIR_KAFKA_EOS_RECORDS (200000),
# WEIR_KAFKA_EOS_GUARANTEE (default exactly_once; at_least_once measures the
# duplicates the same kills cause without transactions, and then fails).
set -euo pipefail

SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:?WEIR_BIN must point at the weir binary}
PORT=${WEIR_KAFKA_EOS_PORT:-19192}
N=${WEIR_KAFKA_EOS_RECORDS:-200000}
GUARANTEE=${WEIR_KAFKA_EOS_GUARANTEE:-exactly_once}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
PL=$SRC/tests/pipelines/kafka-basic.json

WORK=$(mktemp -d /tmp/weir-test-kafka-eos.XXXXXX)
KDIR=$WORK/kafka
WEIR_PID=""
BROKER_STARTED=0
cleanup() {
    local rc=$?
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null || true
    ((BROKER_STARTED)) && { "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1 || true; }
    if ((rc == 0 || rc == 77)); then rm -rf "$WORK"; else echo "test_kafka_eos: FAILED (rc $rc); files kept in $WORK"; fi
}
trap cleanup EXIT

say() { echo "test_kafka_eos: $*"; }
fail() { echo "test_kafka_eos: FAIL: $*" >&2; exit 1; }

# ---- 1. validation -------------------------------------------------------------
say "1: exactly_once needs kafka sinks on the source's brokers"
expect_invalid() { # name, expected line, --set arguments...
    local name=$1 want=$2 rc=0; shift 2
    "$WEIR" validate "$PL" --set source.guarantee=exactly_once "$@" >"$WORK/v-$name.out" 2>&1 || rc=$?
    ((rc != 0)) || fail "1: $name: weir validate accepted it"
    grep -qxF "$want" "$WORK/v-$name.out" || fail "1: $name: expected the line
$want
got:
$(cat "$WORK/v-$name.out")"
    say "1: $name: $want"
}
expect_invalid file-sink \
    "$PL: sinks[0]: a file sink can't join a Kafka transaction: with the source's \"guarantee\": \"exactly_once\", every sink must be a kafka sink" \
    --set 'sinks[0]={"type": "file", "path": "'"$WORK"'/out.jsonl"}'
expect_invalid other-brokers \
    "$PL: dead_letter: brokers \"other:9092\" differ from the source's \"127.0.0.1:19092\": with \"guarantee\": \"exactly_once\", outputs and input offsets commit in one transaction, on one cluster" \
    --set dead_letter.brokers=other:9092
"$WEIR" validate "$PL" --set source.guarantee=exactly_once >/dev/null ||
    fail "1: an all-kafka pipeline with exactly_once does not validate"
say "1: ok"

# ---- 2. kill -9 twice, read_committed: zero missing, zero duplicated ------------
command -v java >/dev/null 2>&1 || { say "2: skipped: java is not installed"; exit 77; }

. "$(dirname "$0")/kafka_lib.sh"

say "starting a Kafka broker on $BOOT"
BROKER_STARTED=1
broker start >/dev/null

say "2: $N records, $GUARANTEE, kill -9 twice mid-stream"
broker topic-create e2-in 3 >/dev/null
broker topic-create e2-out 3 >/dev/null
broker topic-create e2-rejected 1 >/dev/null
awk -v n="$N" 'BEGIN { srand(7); for (i = 0; i < n; i++)
    printf "h%d|{\"seq\":%d,\"value\":%.3f,\"host\":\"h%d\"}\n", i % 7, i, 50 + 10 * rand(), i % 7 }' >"$WORK/e2.txt"
broker produce e2-in "$WORK/e2.txt" --key-separator '|'
# As test_kafka.sh case 2: short sessions, a small in-flight bound and a slow
# producer so that the kills land mid-stream and mid-transaction.
SETS=(--set "source.brokers=$BOOT" --set 'source.topics=["e2-in"]' --set source.group=weir-e2
      --set source.guarantee="$GUARANTEE" --set sinks[0].topic=e2-out --set dead_letter.topic=e2-rejected
      --set 'source.kafka={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}'
      --set source.max_inflight_records=2000 --set 'sinks[0].kafka={"linger.ms": 100}')
t0=$SECONDS
n=0
for k in 1 2; do # each run is killed once it has written N/8 more messages
    start_weir "$WORK/e2-run$k.log" "$PL" --workers 2 "${SETS[@]}"
    n=$(wait_count e2-out $((n + N / 8)) 180) || fail "2: run $k wrote nothing new ($n messages): $(tail -n3 "$WORK/e2-run$k.log")"
    kill -KILL "$WEIR_PID"; wait "$WEIR_PID" 2>/dev/null || true; WEIR_PID=""
    n=$(kafka_topic_count e2-out)
    say "2: kill -9 of run $k with $n messages in e2-out (committed or not)"
done
((n < N)) || say "2: warning: the kills came after all $N inputs had an output"
start_weir "$WORK/e2-final.log" "$PL" --workers 2 "${SETS[@]}"
deadline=$((SECONDS + 240))
while :; do # done when the transactions' committed offsets reach the end of every partition
    ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
        --describe --group weir-e2 >"$WORK/e2-group.txt" 2>&1 || true
    lag=$(awk '$2 == "e2-in" { n++; if ($6 ~ /^[0-9]+$/) s += $6; else s = -1e12 }
              END { print (n == 3 && s >= 0 ? s : "unknown") }' "$WORK/e2-group.txt")
    [[ $lag == 0 ]] && break
    ((SECONDS < deadline)) || fail "2: lag still $lag after 240 s: $(tail -n3 "$WORK/e2-final.log")"
    sleep 1
done
stop_weir 60 || fail "2: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/e2-final.log")"
took=$((SECONDS - t0))
# Ask for one more than expected: a duplicate would be read; 5 s without a message ends it.
broker consume e2-out $((N + 1)) --read-committed --timeout-ms 5000 >"$WORK/e2-out.txt" 2>/dev/null || true
broker consume e2-rejected 1 --read-committed --timeout-ms 2000 >"$WORK/e2-dead.txt" 2>/dev/null || true
total=$(wc -l <"$WORK/e2-out.txt")
dead=$(wc -l <"$WORK/e2-dead.txt")
distinct=$(grep -o '"seq":[0-9]*' "$WORK/e2-out.txt" | sort -u | wc -l)
raw=$(kafka_topic_count e2-out)
say "2: $N inputs, $dead dead; read_committed: $total outputs, $distinct distinct, $((total - distinct)) duplicated, $((N - dead - distinct)) missing ($raw messages in the log, aborted ones included); $took s"
((dead == 0)) || fail "2: $dead dead letters, expected none"
((total == distinct)) || fail "2: $((total - distinct)) duplicated outputs"
((distinct == N - dead)) || fail "2: $((N - dead - distinct)) inputs have no output"
say "2: ok"
say "all ok"
