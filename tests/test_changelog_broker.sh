#!/usr/bin/env bash
# The Kafka changelog (connectors/kafka_changelog.c) against a real broker
# (scripts/kafka/broker.sh: Kafka 4.1.1, KRaft, one node on 127.0.0.1): runs
# tests/test_changelog.c's checks there (WEIR_CHANGELOG_BROKERS), then asks
# Kafka's own tools whether the changelogs weir created are compacted and have
# the source's 4 partitions. The C test also checks, on this broker:
#   - an existing changelog with 2 partitions is refused, naming both counts;
#   - an existing topic with cleanup.policy=delete is refused, and one with
#     compact,delete (retention would delete idle keys' state);
#   - a creation the broker refuses ("cl.collide" collides with "cl_collide")
#     gives one line with the broker's reason;
#   - restores (an empty partition included) and exactly-once's aborts.
# Skipped (77) only when Java is missing. Env: WEIR_SRC, WEIR_BUILD (where
# test_changelog is); optional WEIR_CHANGELOG_PORT (default 19392).
set -euo pipefail

SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${WEIR_BUILD:-$SRC/build}
PORT=${WEIR_CHANGELOG_PORT:-19392}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
TEST=$BUILD/test_changelog

say() { echo "test_changelog_broker: $*"; }
fail() { echo "test_changelog_broker: FAIL: $*" >&2; exit 1; }

command -v java >/dev/null 2>&1 || { say "skipped: java is not installed"; exit 77; }
[[ -x $TEST ]] || fail "$TEST not found (build first, or set WEIR_BUILD)"

WORK=$(mktemp -d /tmp/weir-test-changelog.XXXXXX)
KDIR=$WORK/kafka
cleanup() {
    local rc=$?
    "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1 || true
    if ((rc == 0)); then rm -rf "$WORK"; else echo "test_changelog_broker: FAILED (rc $rc); files kept in $WORK"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

passed=0
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    "$@" || fail "$what"
    passed=$((passed + 1))
}

say "starting a Kafka broker on $BOOT"
broker start >/dev/null
broker topic-create in 4 >/dev/null
broker topic-create in2 2 >/dev/null
broker topic-create out 1 >/dev/null
broker topic-create cl-small 2 >/dev/null
broker topic-create cl-delete 4 >/dev/null   # cleanup.policy=delete, the default
broker topic-create cl_collide 1 >/dev/null
ktool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --create --topic cl-cdel \
    --partitions 4 --replication-factor 1 --config 'cleanup.policy=compact,delete' \
    >"$WORK/cdel.log" 2>&1 || fail "cannot create cl-cdel: $(tail -n1 "$WORK/cdel.log")"

say "test_changelog against $BOOT"
rc=0
WEIR_CHANGELOG_BROKERS=$BOOT WEIR_CHANGELOG_DELETE_TOPIC=cl-delete WEIR_CHANGELOG_COMPACT_DELETE_TOPIC=cl-cdel \
    WEIR_CHANGELOG_COLLIDE_TOPIC=cl.collide "$TEST" >"$WORK/c.log" 2>&1 || rc=$?
cat "$WORK/c.log"
((rc == 0)) || fail "test_changelog failed (status $rc)"
c_passed=$(awk '/ passed, / {print $1}' "$WORK/c.log")

# What weir created, as Kafka's tools see it.
for t in cl-alo cl-eos; do
    ktool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --describe --topic "$t" \
        >"$WORK/$t.describe" 2>&1 || fail "describe $t: $(tail -n1 "$WORK/$t.describe")"
    check "$t: 4 partitions: $(head -n1 "$WORK/$t.describe")" grep -q "PartitionCount: 4" "$WORK/$t.describe"
    ktool kafka.admin.ConfigCommand --bootstrap-server "$BOOT" --describe --entity-type topics \
        --entity-name "$t" >"$WORK/$t.configs" 2>&1 || fail "configs of $t: $(tail -n1 "$WORK/$t.configs")"
    check "$t: compacted: $(cat "$WORK/$t.configs")" grep -q "cleanup.policy=compact" "$WORK/$t.configs"
done
# Refused topics were left alone.
ktool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --list >"$WORK/topics" 2>&1
check "cl.collide was not created" bash -c "! grep -Fqx 'cl.collide' '$WORK/topics'"
ktool kafka.admin.ConfigCommand --bootstrap-server "$BOOT" --describe --entity-type topics \
    --entity-name cl-delete >"$WORK/del.configs" 2>&1
check "cl-delete kept its policy" bash -c "! grep -q 'cleanup.policy=compact' '$WORK/del.configs'"

echo "$((c_passed + passed)) passed, 0 failed"
