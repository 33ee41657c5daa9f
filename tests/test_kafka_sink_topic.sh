#!/usr/bin/env bash
# A Kafka sink whose topic does not exist, on brokers that create topics
# when asked for them (auto.create.topics.enable=true, Apache Kafka's
# default; the other broker tests turn it off): the run stops at start with
# "does not exist", and the topic is not there after it. The start-up check
# asked through the sink's producer, whose Metadata request lets the brokers
# create the topic: a misspelled topic was made and written to. The dead
# letter's topic is checked the same way.
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_SINK_TOPIC_PORT (default 29957; +1 the controller).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_SINK_TOPIC_PORT:-29957}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
NAME=test_kafka_sink_topic
ok() { passed=$((passed + 1)); echo "$NAME: ok: $*"; }
fail() { failed=$((failed + 1)); echo "$NAME: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "$NAME: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-sink-topic.XXXXXX)
KDIR=$T/kafka
cleanup() {
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "$NAME: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

echo "auto.create.topics.enable=true" >"$T/auto-create.properties"
kafka_start " (auto.create.topics.enable=true)" --extra-config "$T/auto-create.properties"
kafka_topics st-in:1 st-rej:1
cat >"$T/p.json" <<JSON
{"source": {"type": "kafka", "brokers": "$BOOT", "topics": ["st-in"], "group": "st"},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "kafka", "topic": "st-outt"}],
 "dead_letter": {"type": "kafka", "topic": "st-rej"}}
JSON
for what in sink dead; do
    sets=()
    [ $what = dead ] && sets=(--set 'sinks[0].topic=st-rej' --set 'dead_letter.topic=st-rejj')
    topic=$([ $what = sink ] && echo st-outt || echo st-rejj)
    rc=0
    timeout -k 5 60 "$WEIR" run "$T/p.json" --quiet "${sets[@]}" 2>"$T/$what.err" || rc=$?
    if [ $rc -eq 1 ] && grep -q "topic \"$topic\" does not exist on Kafka brokers" "$T/$what.err"; then
        ok "$what: a missing topic stops the run: $(head -c 160 "$T/$what.err")"
    else
        fail "$what: a missing topic: exit $rc: $(cat "$T/$what.err")"
    fi
    if broker topics 2>/dev/null | grep -qx "$topic"; then
        fail "$what: the check made topic $topic on the brokers"
    else
        ok "$what: topic $topic was not made"
    fi
done
finish
