#!/usr/bin/env bash
# `weir check` against a real broker (scripts/kafka/broker.sh: Kafka 4.1.1,
# KRaft, one node on 127.0.0.1):
#   - everything present: exit 0, each topic's partition count printed;
#   - a sink topic missing: exit 1, a FAIL line naming it and the brokers,
#     and the check did not create it (the broker auto-creates topics on
#     request by default: the check asks without auto-creation);
#   - brokers on a port where nothing listens: exit 1 within the timeout, one
#     line naming the brokers; the sinks on the same brokers are not asked again;
#   - a changelog topic that exists with cleanup.policy=delete (the run
#     refuses it): a FAIL line; and a source of eight topics: each asked for
#     Read (the eighth was not).
# The mock-cluster side (authorization errors among them) is
# tests/test_pipeline_check.c. Skipped (77) only when Java is missing.
# Env: WEIR_BIN, WEIR_SRC; WEIR_CHECK_PORT (default 29901; the controller
# takes the next port); 29909 must be free (the unreachable case).
set -euo pipefail

SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:-$SRC/build/weir}
PORT=${WEIR_CHECK_PORT:-29901}
DEAD_PORT=29909
BOOT=127.0.0.1:$PORT

say() { echo "test_weir_check_broker: $*"; }
fail() { echo "test_weir_check_broker: FAIL: $*" >&2; exit 1; }

command -v java >/dev/null 2>&1 || { say "skipped: java is not installed"; exit 77; }

WORK=$(mktemp -d /tmp/weir-test-check.XXXXXX)
KDIR=$WORK/kafka
cleanup() {
    local rc=$?
    "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1 || true
    if ((rc == 0)); then rm -rf "$WORK"; else echo "test_weir_check_broker: FAILED (rc $rc); files kept in $WORK"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

pipeline() { # pipeline FILE BROKERS SINK_TOPIC
    cat >"$1" <<EOF
{"name": "chk", "source": {"type": "kafka", "brokers": "$2", "topics": ["in"]},
 "operators": [{"type": "extract", "fields": {"x": "/x"}}],
 "sinks": [{"type": "kafka", "topic": "$3"}],
 "dead_letter": {"type": "file", "path": "$WORK/dead.jsonl"}}
EOF
}

say "starting a Kafka broker on $BOOT"
broker start >/dev/null
broker topic-create in 3 >/dev/null
broker topic-create out 1 >/dev/null
passed=0

pipeline "$WORK/ok.json" "$BOOT" out
rc=0
"$WEIR" check "$WORK/ok.json" --timeout 10 >"$WORK/ok.out" 2>&1 || rc=$?
cat "$WORK/ok.out"
((rc == 0)) || fail "all present: exit $rc, expected 0"
grep -q "^ok    kafka source: brokers $BOOT reachable" "$WORK/ok.out" || fail "no 'reachable' line"
grep -q '^ok    source topic "in": 3 partitions$' "$WORK/ok.out" || fail "no partition count for in"
grep -q '^ok    sinks\[0\] (kafka) topic "out": 1 partition$' "$WORK/ok.out" || fail "no partition count for out"
# The changelog of durable state (on by default) does not exist yet: a note.
grep -q '^note  changelog topic "weir-chk-changelog": does not exist yet' "$WORK/ok.out" || fail "no changelog note"
# What the run may do, asked of the broker (no authorizer here: everything).
grep -q '^ok    source topic "in": may Read (allowed: Read, Write, ' "$WORK/ok.out" || fail "no Read line for in"
grep -q '^ok    consumer group "weir-chk": may Read' "$WORK/ok.out" || fail "no Read line for the group"
grep -q '^ok    sinks\[0\] (kafka) topic "out": may Write' "$WORK/ok.out" || fail "no Write line for out"
! grep -q 'permission check' "$WORK/ok.out" || fail "permissions not asked of a real broker"
passed=$((passed + 1))

pipeline "$WORK/missing.json" "$BOOT" nope
rc=0
"$WEIR" check "$WORK/missing.json" --timeout 10 >"$WORK/missing.out" 2>&1 || rc=$?
cat "$WORK/missing.out"
((rc == 1)) || fail "missing topic: exit $rc, expected 1"
grep -q "^FAIL  sinks\[0\] (kafka) topic \"nope\": does not exist on brokers $BOOT" "$WORK/missing.out" ||
    fail "no FAIL line for the missing topic"
grep -q ': 1 problem$' "$WORK/missing.out" || fail "expected exactly 1 problem"
if broker topics | grep -qx nope; then fail "weir check created topic nope"; fi
if broker topics | grep -qx weir-chk-changelog; then fail "weir check created the changelog topic"; fi
passed=$((passed + 1))

pipeline "$WORK/down.json" "127.0.0.1:$DEAD_PORT" out
rc=0
t0=$SECONDS
"$WEIR" check "$WORK/down.json" --timeout 3 >"$WORK/down.out" 2>&1 || rc=$?
took=$((SECONDS - t0))
cat "$WORK/down.out"
((rc == 1)) || fail "unreachable: exit $rc, expected 1"
((took <= 8)) || fail "unreachable: took $took s with --timeout 3"
grep -q "^FAIL  kafka source: brokers 127.0.0.1:$DEAD_PORT unreachable within 3.0 s" "$WORK/down.out" ||
    fail "no one-line unreachable error naming the brokers"
grep -q "^FAIL  sinks\[0\] (kafka): brokers 127.0.0.1:$DEAD_PORT unreachable (above)" "$WORK/down.out" ||
    fail "the sink on the same brokers was asked again"
passed=$((passed + 1))

# The run refuses a changelog that is not compacted; so does the check.
for t in t2 t3 t4 t5 t6 t7 t8; do broker topic-create "$t" 1 >/dev/null; done
broker topic-create weir-chk8-changelog 3 >/dev/null # the default policy: delete
cat >"$WORK/eight.json" <<EOF
{"name": "chk8", "source": {"type": "kafka", "brokers": "$BOOT",
  "topics": ["in", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]},
 "operators": [{"type": "extract", "fields": {"x": "/x"}}],
 "sinks": [{"type": "kafka", "topic": "out"}],
 "dead_letter": {"type": "file", "path": "$WORK/dead.jsonl"}}
EOF
rc=0
"$WEIR" check "$WORK/eight.json" --timeout 10 >"$WORK/eight.out" 2>&1 || rc=$?
cat "$WORK/eight.out"
((rc == 1)) || fail "delete-policy changelog: exit $rc, expected 1"
grep -q '^FAIL  kafka source: changelog topic "weir-chk8-changelog" on Kafka brokers .* has cleanup.policy=delete' \
    "$WORK/eight.out" || fail "no FAIL line for the changelog's cleanup.policy"
grep -q ': 1 problem$' "$WORK/eight.out" || fail "expected exactly 1 problem"
for t in in t2 t3 t4 t5 t6 t7 t8; do
    grep -q "^ok    source topic \"$t\": may Read" "$WORK/eight.out" || fail "no Read line for $t"
done
grep -q '^ok    changelog topic "weir-chk8-changelog": may Read, Write' "$WORK/eight.out" ||
    fail "no Read line for the changelog"
passed=$((passed + 1))

say "$passed passed, 0 failed"
