# Shared by the real-broker tests (test_kafka*.sh, test_scaleout.sh): the
# broker on this test's port and directory, Kafka's Java tools, and weir
# started and stopped in the background. Expects SRC, PORT, KDIR, LIBS, BOOT,
# WEIR, and a fail() of the test's own (kafka_start: and finish(), lib.sh's).

broker() { "$SRC/scripts/kafka/broker.sh" "$@" --port "$PORT" --dir "$KDIR"; }
# kafka_start NOTE [broker.sh start options]: starts the test's broker (the
# Kafka version KAFKA_VERSION names, else pom.xml's), saying so with NOTE
# appended; its output goes to $KDIR.start.log. When it does not start:
# fail with broker.sh's last line, and finish. The test's cleanup calls
# kafka_stop, which stops it (also one that never got ready).
kafka_start() {
    local note=$1 name=${0##*/}
    shift
    echo "${name%.sh}: starting Kafka ${KAFKA_VERSION:-broker} on $BOOT$note"
    mkdir -p "$(dirname "$KDIR")"
    KAFKA_STARTED=1
    broker start "$@" >"$KDIR.start.log" 2>&1 && return 0
    fail "the broker${KAFKA_VERSION:+ (Kafka $KAFKA_VERSION)} did not start: $(tail -n1 "$KDIR.start.log")"
    finish
}
# kafka_topics NAME:PARTITIONS...: creates each topic on the test's broker;
# at the first that cannot be: fail, and finish.
kafka_topics() {
    local t
    for t in "$@"; do
        broker topic-create "${t%:*}" "${t#*:}" >/dev/null ||
            { fail "cannot create topic ${t%:*}${KAFKA_VERSION:+ on $KAFKA_VERSION}"; finish; }
    done
}
# wait_log FILE PATTERN SECONDS: until FILE has a line matching PATTERN
# (status 0), or SECONDS pass (status 1).
wait_log() {
    local deadline=$((SECONDS + $3))
    until grep -q "$2" "$1" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}
# distinct FILE: how many distinct "seq" values FILE's records hold.
distinct() { { grep -o '"seq":[0-9]*' "$1" 2>/dev/null || true; } | sort -u | wc -l; }
kafka_stop() {
    ((${KAFKA_STARTED:-0})) || return 0
    KAFKA_STARTED=0
    broker stop >/dev/null 2>&1
}
ktool() {
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$SRC/scripts/kafka/log4j2.properties" -Dweir.log.level=WARN \
        -cp "$LIBS/*" "$@"
}
# kafka_lag0 GROUP TOPIC PARTITIONS FILE: succeeds when the group's committed
# offsets reach the end of every partition of TOPIC (the group's listing is
# left in FILE for failure messages).
kafka_lag0() {
    ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
        --describe --group "$1" >"$4" 2>&1
    [[ $(awk -v t="$2" '$2 == t { n++; if ($6 != "0") bad++ } END { print n + 0, bad + 0 }' "$4") == "$3 0" ]]
}
# Messages in a topic: the sum of its partitions' end offsets (with
# transactions: aborted messages and markers included).
kafka_topic_count() {
    ktool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$BOOT" --topic "$1" 2>/dev/null |
        awk -F: '{s += $NF} END {print s + 0}'
}
# Waits until topic $1 holds at least $2 messages, or $3 seconds pass, or weir
# ($WEIR_PID, when set) exits. Prints the last count.
wait_count() {
    local deadline=$((SECONDS + $3)) n=0
    while ((SECONDS < deadline)); do
        n=$(kafka_topic_count "$1")
        ((n >= $2)) && { echo "$n"; return 0; }
        [[ -n ${WEIR_PID:-} ]] && ! kill -0 "$WEIR_PID" 2>/dev/null && break
        sleep 0.5
    done
    echo "$n"
    return 1
}
# Starts weir in the background; its stderr goes to $1.
start_weir() {
    local log=$1; shift
    "$WEIR" run "$@" 2>"$log" &
    WEIR_PID=$!
}
# SIGTERM, then waits (deadline $1 s) and returns weir's exit status.
stop_weir() {
    local deadline=$((SECONDS + $1)) rc=0
    kill -TERM "$WEIR_PID"
    while kill -0 "$WEIR_PID" 2>/dev/null; do
        ((SECONDS < deadline)) || { kill -KILL "$WEIR_PID"; fail "weir did not exit within $1 s of SIGTERM"; }
        sleep 0.1
    done
    wait "$WEIR_PID" || rc=$?
    WEIR_PID=""
    return $rc
}
