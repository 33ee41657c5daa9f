#!/usr/bin/env bash
# Integration test of the Kafka source and sinks against a real broker
# (scripts/kafka/broker.sh: Kafka 4.1.1, KRaft, one node on 127.0.0.1).
#   1. 10,000 JSON records (5 malformed) on a 3-partition topic, 2 workers:
#      9,995 outputs with their keys, 5 dead letters with headers, and the
#      group's committed offsets cover all input (lag 0) after SIGTERM.
#   2. at-least-once under kill -9: 200,000 records, weir killed twice
#      mid-stream and restarted; every input has an output; duplicates counted.
#   3. bad input: an unreachable broker, a missing source topic and a missing
#      sink topic each end weir with a non-zero exit and one clear line.
# Skipped (77) only when Java is missing. Env: WEIR_BIN, WEIR_SRC; optional
# WEIR_KAFKA_TEST_PORT (default 19092), WEIR_KAFKA_TEST_PARTS (default 1,2,3).
set -euo pipefail

SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:?WEIR_BIN must point at the weir binary}
PORT=${WEIR_KAFKA_TEST_PORT:-19092}
PARTS=${WEIR_KAFKA_TEST_PARTS:-1,2,3}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs

command -v java >/dev/null 2>&1 || { echo "test_kafka: skipped: java is not installed"; exit 77; }

WORK=$(mktemp -d /tmp/weir-test-kafka.XXXXXX)
KDIR=$WORK/kafka
WEIR_PID=""
cleanup() {
    local rc=$?
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null || true
    "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1 || true
    if ((rc == 0)); then rm -rf "$WORK"; else echo "test_kafka: FAILED (rc $rc); files kept in $WORK"; fi
}
trap cleanup EXIT

say() { echo "test_kafka: $*"; }
fail() { echo "test_kafka: FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/kafka_lib.sh"
# JSON records with a "seq" number and key "hN"; every 2000th is malformed when $2 is 1.
gen() {
    awk -v n="$1" -v bad="$2" 'BEGIN { srand(7); for (i = 0; i < n; i++) {
        if (bad && i % 2000 == 1999) printf "h%d|{\"seq\":%d,\"value\": oops\n", i % 7, i;
        else printf "h%d|{\"seq\":%d,\"value\":%.3f,\"host\":\"h%d\"}\n", i % 7, i, 50 + 10 * rand(), i % 7 } }'
}

say "starting a Kafka broker on $BOOT"
broker start >/dev/null

PL=$SRC/tests/pipelines/kafka-basic.json

# ---- 1. counts, keys, dead letters, committed offsets ------------------------
if [[ $PARTS == *1* ]]; then
    say "1: 10,000 records (5 malformed), 2 workers"
    broker topic-create t1-in 3 >/dev/null
    broker topic-create t1-out 3 >/dev/null
    broker topic-create t1-rejected 1 >/dev/null
    gen 10000 1 >"$WORK/t1.txt"
    broker produce t1-in "$WORK/t1.txt" --key-separator '|'
    SETS=(--set "source.brokers=$BOOT" --set 'source.topics=["t1-in"]' --set source.group=weir-t1
          --set sinks[0].topic=t1-out --set dead_letter.topic=t1-rejected)
    t0=$SECONDS
    start_weir "$WORK/t1.log" "$PL" --workers 2 "${SETS[@]}"
    n=$(wait_count t1-out 9995 120) || fail "1: only $n of 9995 outputs after 120 s: $(tail -n3 "$WORK/t1.log")"
    d=$(wait_count t1-rejected 5 30) || fail "1: only $d of 5 dead letters"
    say "1: all outputs there after $((SECONDS - t0)) s; SIGTERM"
    stop_weir 60 || fail "1: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/t1.log")"
    grep -q "10000 records in, 9995 out, 5 dead letters" "$WORK/t1.log" ||
        fail "1: unexpected summary: $(tail -n1 "$WORK/t1.log")"
    n=$(kafka_topic_count t1-out) d=$(kafka_topic_count t1-rejected)
    ((n == 9995)) || fail "1: t1-out holds $n messages, expected 9995"
    ((d == 5)) || fail "1: t1-rejected holds $d messages, expected 5"
    broker consume t1-out 9995 --print-key >"$WORK/t1-out.txt" 2>/dev/null
    u=$(grep -o '"seq":[0-9]*' "$WORK/t1-out.txt" | sort -u | wc -l)
    ((u == 9995)) || fail "1: $u distinct seq in the output, expected 9995"
    grep -q '"score":' "$WORK/t1-out.txt" && grep -q '"alert":' "$WORK/t1-out.txt" ||
        fail "1: outputs lack the computed fields: $(head -n1 "$WORK/t1-out.txt")"
    # keys preserved: seq i has key h(i mod 7)
    bad=$(awk -F'\t' '{ match($2, /"seq":[0-9]+/); s = substr($2, RSTART + 6, RLENGTH - 6);
                       if ($1 != "h" (s % 7)) n++ } END { print n + 0 }' "$WORK/t1-out.txt")
    ((bad == 0)) || fail "1: $bad outputs with a wrong key"
    broker consume t1-rejected 5 >"$WORK/t1-dead.txt" 2>/dev/null
    grep -c '"reason":' "$WORK/t1-dead.txt" | grep -qx 5 || fail "1: dead letters lack a reason"
    grep -q '"partition":' "$WORK/t1-dead.txt" && grep -q '"offset":' "$WORK/t1-dead.txt" ||
        fail "1: dead letters lack their source coordinates"
    ktool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOT" --topic t1-rejected \
        --from-beginning --max-messages 5 --timeout-ms 10000 --property print.headers=true \
        >"$WORK/t1-dead-headers.txt" 2>/dev/null || true
    h=$(grep -c 'weir-pipeline:kafka-basic,weir-reason:.*weir-source-topic:t1-in,weir-source-partition:[0-9],weir-source-offset:[0-9]' \
        "$WORK/t1-dead-headers.txt" || true)
    ((h == 5)) || fail "1: dead letters lack their headers: $(head -n1 "$WORK/t1-dead-headers.txt")"
    ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
        --describe --group weir-t1 >"$WORK/t1-group.txt" 2>&1 || true
    lagged=$(awk '$2 == "t1-in" { n++; if ($6 != "0") bad++ } END { print n + 0, bad + 0 }' "$WORK/t1-group.txt")
    [[ $lagged == "3 0" ]] || fail "1: committed offsets do not cover the input (partitions, lagging: $lagged):
$(cat "$WORK/t1-group.txt")"
    say "1: ok: 9995 outputs (keys kept), 5 dead letters, lag 0 on 3 partitions"
fi

# ---- 3. bad input --------------------------------------------------------------
if [[ $PARTS == *3* ]]; then
    say "3: bad input"
    broker topic-create t3-out 1 >/dev/null 2>&1 || true
    broker topic-create t3-in 1 >/dev/null 2>&1 || true
    expect_error() { # name, deadline, grep pattern, weir args...
        local name=$1 limit=$2 pat=$3 t0=$SECONDS rc=0; shift 3
        timeout -s KILL "$((limit + 10))" "$WEIR" run "$PL" --quiet --workers 2 "$@" \
            >"$WORK/t3-$name.out" 2>"$WORK/t3-$name.err" || rc=$?
        local took=$((SECONDS - t0)) lines
        ((rc != 0 && rc != 137)) || fail "3: $name: exit status $rc (expected a failure, not a hang)"
        ((took <= limit)) || fail "3: $name: took $took s (limit $limit s)"
        lines=$(wc -l <"$WORK/t3-$name.err")
        ((lines == 1)) || fail "3: $name: expected one error line, got $lines:
$(cat "$WORK/t3-$name.err")"
        grep -qE "$pat" "$WORK/t3-$name.err" || fail "3: $name: unclear error: $(cat "$WORK/t3-$name.err")"
        say "3: $name: exit $rc after ${took}s: $(cat "$WORK/t3-$name.err")"
    }
    expect_error unreachable 20 'brokers 127\.0\.0\.1:1 ' --set source.brokers=127.0.0.1:1 \
        --set 'source.topics=["t3-in"]' --set sinks[0].topic=t3-out --set dead_letter.topic=t3-out \
        --set source.connect_timeout=3s
    expect_error missing-topic 20 'topic "no-such-topic" does not exist' --set "source.brokers=$BOOT" \
        --set 'source.topics=["no-such-topic"]' --set sinks[0].topic=t3-out --set dead_letter.topic=t3-out
    expect_error missing-sink-topic 20 'topic "no-such-out" does not exist' --set "source.brokers=$BOOT" \
        --set 'source.topics=["t3-in"]' --set sinks[0].topic=no-such-out --set dead_letter.topic=t3-out
    # A SASL client against the plaintext listener: what wrong security settings look like.
    expect_error bad-credentials 20 'brokers 127\.0\.0\.1:[0-9]+ .*SASL' --set "source.brokers=$BOOT" \
        --set 'source.topics=["t3-in"]' --set sinks[0].topic=t3-out --set dead_letter.topic=t3-out \
        --set 'source.kafka={"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                             "sasl.username": "weir", "sasl.password": "wrong"}' \
        --set sinks[0].connect_timeout=3s
    say "3: ok"
fi

# ---- 2. at-least-once under kill -9 ---------------------------------------------
if [[ $PARTS == *2* ]]; then
    N=200000
    say "2: $N records, kill -9 twice mid-stream"
    broker topic-create t2-in 3 >/dev/null
    broker topic-create t2-out 3 >/dev/null
    broker topic-create t2-rejected 1 >/dev/null
    gen "$N" 0 >"$WORK/t2.txt"
    broker produce t2-in "$WORK/t2.txt" --key-separator '|'
    # Short sessions so that a killed consumer's partitions move on quickly;
    # frequent commits so that the kills land between commits; a small
    # in-flight bound and a slow producer (~20k records/s) so that the kills
    # land mid-stream although the progress check (a JVM tool) takes ~1 s.
    SETS=(--set "source.brokers=$BOOT" --set 'source.topics=["t2-in"]' --set source.group=weir-t2
          --set sinks[0].topic=t2-out --set dead_letter.topic=t2-rejected
          --set 'source.kafka={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
                                   "auto.commit.interval.ms": 1000}'
          --set source.max_inflight_records=2000 --set 'sinks[0].kafka={"linger.ms": 100}')
    t0=$SECONDS
    n=0
    for k in 1 2; do # each run is killed as soon as it has written something new
        start_weir "$WORK/t2-run$k.log" "$PL" --workers 2 "${SETS[@]}"
        n=$(wait_count t2-out $((n + 1)) 180) || fail "2: run $k wrote nothing new ($n outputs)"
        kill -KILL "$WEIR_PID"; wait "$WEIR_PID" 2>/dev/null || true; WEIR_PID=""
        n=$(kafka_topic_count t2-out)
        say "2: kill -9 of run $k with $n outputs written"
    done
    ((n < N)) || say "2: warning: the kills came after all $N inputs had an output"
    start_weir "$WORK/t2-final.log" "$PL" --workers 2 "${SETS[@]}"
    # Done when the group's committed offsets reach the end of every partition.
    deadline=$((SECONDS + 240))
    while :; do
        ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
            --describe --group weir-t2 >"$WORK/t2-group.txt" 2>&1 || true
        lag=$(awk '$2 == "t2-in" { n++; if ($6 ~ /^[0-9]+$/) s += $6; else s = -1e12 }
                  END { print (n == 3 && s >= 0 ? s : "unknown") }' "$WORK/t2-group.txt")
        [[ $lag == 0 ]] && break
        ((SECONDS < deadline)) || fail "2: lag still $lag after 240 s: $(tail -n3 "$WORK/t2-final.log")"
        sleep 1
    done
    stop_weir 60 || fail "2: weir exited with status $? after SIGTERM"
    total=$(kafka_topic_count t2-out)
    broker consume t2-out "$total" --timeout-ms 30000 >"$WORK/t2-out.txt" 2>/dev/null
    grep -o '"seq":[0-9]*' "$WORK/t2-out.txt" | sort | uniq -c | awk '{ print $1 }' >"$WORK/t2-counts.txt"
    distinct=$(wc -l <"$WORK/t2-counts.txt")
    dups=$((total - distinct))
    say "2: $N inputs, $total outputs, $distinct distinct, $dups duplicates, $((N - distinct)) missing; $((SECONDS - t0)) s"
    ((distinct == N)) || fail "2: $((N - distinct)) inputs have no output"
    say "2: ok"
fi
say "all ok"
