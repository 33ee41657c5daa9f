#!/usr/bin/env bash
# Offsets after a broker outage (issue 8, item 5). weir (2 workers) works
# through input that arrives at 10,000 records/s; the broker is killed
# (SIGKILL) in the middle, and started again on its data a few seconds later;
# once every record has an output (distinct seq, not just as many), SIGTERM.
# weir must exit 0, and the group's committed offsets must equal the end
# offsets of every partition (lag 0), or each partition left behind must be
# named in weir's one-line report (a SIGTERM that comes while the group
# session, expired during the outage, has not yet given the partitions
# back). Before the fix partitions were left behind without a word (lag 69,
# 1,872 on main).
# It also reports how long outputs stood still after the broker came back.
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_OUTAGE_PORT (default 29930); WEIR_KAFKA_OUTAGE_ARGS
# (one more weir argument, e.g. --set=source.kafka={"debug":"cgrp"}).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_OUTAGE_PORT:-29930}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
N=${WEIR_KAFKA_OUTAGE_N:-50000}
DOWN=${WEIR_KAFKA_OUTAGE_SECONDS:-3}
RATE=${WEIR_KAFKA_OUTAGE_RATE:-10000}
ok() { passed=$((passed + 1)); echo "test_kafka_outage: ok: $*"; }
fail() { failed=$((failed + 1)); echo "test_kafka_outage: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "test_kafka_outage: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-outage.XXXXXX)
KDIR=$T/kafka
WEIR_PID=""
cleanup() {
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "test_kafka_outage: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

kafka_start ""
kafka_topics ou-in:4 ou-out:4 ou-rej:1
awk -v n="$N" 'BEGIN { srand(3); for (i = 0; i < n; i++)
    printf "{\"seq\":%d,\"value\":%.3f,\"host\":\"h%d\"}\n", i, 50 + 10 * rand(), i % 7 }' >"$T/in.jsonl"

# The backlog arrives at RATE records/s while weir runs (weir replay's
# producer rides out the outage too), so that the outage falls in the middle.
start_weir "$T/weir.err" tests/pipelines/kafka-basic.json --workers 2 --set "source.brokers=$BOOT" \
    --set 'source.topics=["ou-in"]' --set source.group=weir-ou --set sinks[0].topic=ou-out \
    --set dead_letter.topic=ou-rej ${WEIR_KAFKA_OUTAGE_ARGS:+"$WEIR_KAFKA_OUTAGE_ARGS"}
"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic ou-in --key seq --rate "$RATE" >"$T/replay.log" 2>&1 &
REPLAY=$!
got=$(wait_count ou-out $((N / 5)) 60) || { fail "only $got outputs before the outage: $(tail -n2 "$T/weir.err")"; finish; }
t_down=$SECONDS
broker kill9 >"$T/stop.log" 2>&1
sleep "$DOWN"
broker start --keep-data >"$T/start.log" 2>&1 || { fail "the broker did not start again: $(tail -n1 "$T/start.log")"; finish; }
t_up=$SECONDS
echo "test_kafka_outage: broker away for $((t_up - t_down)) s after $got outputs"
# when outputs move again, then when all are there
before=$(kafka_topic_count ou-out)
resumed=""
deadline=$((SECONDS + 90))
while ((SECONDS < deadline)) && kill -0 "$WEIR_PID" 2>/dev/null; do
    n=$(kafka_topic_count ou-out)
    [[ -z $resumed ]] && ((n > before)) && resumed=$((SECONDS - t_up))
    ((n >= N)) && break
    sleep 0.5
done
echo "test_kafka_outage: outputs moved again ${resumed:-never} s after the broker was back; $n of $N after $((SECONDS - t_up)) s"
((n >= N)) || fail "$n of $N outputs within 90 s of the broker's return"
# n counts duplicates too: every input must have an output of its own (a
# record lost in the outage could hide behind records read twice)
d=0
while kill -0 "$WEIR_PID" 2>/dev/null; do
    total=$(kafka_topic_count ou-out)
    broker consume ou-out "$total" --timeout-ms 30000 >"$T/out.txt" 2>/dev/null
    d=$(distinct "$T/out.txt")
    ((d >= N || SECONDS >= deadline + 30)) && break
    sleep 2
done
((d == N)) && ok "every input has an output: $d distinct seq in ${total:-0} outputs" ||
    fail "$d distinct seq in ${total:-0} outputs, expected $N"
wait "$REPLAY" || fail "weir replay: $(tail -n1 "$T/replay.log")"
sleep 2 # an auto-commit or two: the final commit must make up for anything still missing either way
rc=0
# The stop may wait for the brokers (an OffsetFetch and the final commit, up
# to connect_timeout, 10 s, each) and librdkafka's close; weir's own limit is
# 60 s (engine/run.h). Under ASan a worker once took more than 30 s here.
t_stop=$SECONDS
stop_weir 65 || rc=$?
echo "test_kafka_outage: the stop took $((SECONDS - t_stop)) s"
((rc == 0)) && ok "exit 0 on SIGTERM" || fail "exit $rc: $(grep -v ' records in, ' "$T/weir.err" | tail -n2 | cut -c1-300)"
ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
    --describe --group weir-ou >"$T/group.txt" 2>&1
lags=$(awk '$2 == "ou-in" { printf "%s[%s] lag %s; ", $2, $3, $6 }' "$T/group.txt")
# partitions with a lag, or with no committed offset at all
behind=$(awk '$2 == "ou-in" && $6 == "0" { done[$3] = 1 } END { for (p = 0; p < 4; p++) if (!done[p]) print p }' "$T/group.txt")
report=$(grep 'offsets not committed' "$T/weir.err")
if [[ $(awk '$2 == "ou-in" { n++; if ($6 != "0") bad++ } END { print n + 0, bad + 0 }' "$T/group.txt") == "4 0" ]]; then
    ok "committed offsets = end offsets on all 4 partitions${report:+ (yet weir reported: $report)}"
else
    # Left behind is allowed only when weir said so: a SIGTERM that came while
    # the assignment was lost (the session expired during the outage) and
    # before the group gave it back.
    unsaid=""
    for p in $behind; do
        grep -q "offsets not committed.*ou-in\[$p\] at" <<<"$report" || unsaid+=" ou-in[$p]"
    done
    if [[ -z $unsaid ]]; then
        ok "partitions left behind (${lags:-no offsets committed}) are each named in weir's report: $(cut -c1-240 <<<"$report")"
    else
        fail "committed offsets behind without a word for$unsaid: ${lags:-$(tail -n1 "$T/group.txt")}"
        grep -E 'offsets not committed|rebalance|came back|checkpoint|commit' "$T/weir.err" | cut -c1-300 | tail -n 12
    fi
fi
# At-least-once allows outputs twice (records in flight when the assignment
# was lost); a partition that comes back to its worker reads on from its
# acknowledged offset, so few: printed, not asserted.
echo "test_kafka_outage: $(($(kafka_topic_count ou-out) - N)) outputs beyond the $N inputs (read again);" \
    "$(grep -c 'came back: reading on' "$T/weir.err") worker(s) had lost partitions back"
grep 'warning' "$T/weir.err" | cut -c1-200 | sort | uniq -c | head -5
finish
