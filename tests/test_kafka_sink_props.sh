#!/usr/bin/env bash
# A Kafka sink's producer properties for large messages
# ("receive.message.max.bytes" below the 52 MB a consumer fetches) pass the
# start-up topic check, which asks through a consumer client (one that
# cannot create a topic): librdkafka refused that client ("receive.message.max.bytes
# must be >= fetch.max.bytes + 512") and the run stopped before its first
# record. No broker needed: one that does not answer gets its own error.
# Env: WEIR_BIN; 39997 must be free.
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-kafka-sink-props.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo '{"v": 1}' >"$T/in.jsonl"
cat >"$T/p.json" <<JSON
{"name": "props", "source": {"type": "file", "path": "$T/in.jsonl"},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "kafka", "brokers": "127.0.0.1:39997", "topic": "t", "connect_timeout": "1s",
            "kafka": {"message.max.bytes": 10485760, "receive.message.max.bytes": 10485760}}]}
JSON
for cmd in run check; do
    "$WEIR_BIN" $cmd "$T/p.json" >"$T/$cmd.out" 2>&1
    ! grep -q "fetch.max.bytes" "$T/$cmd.out" && grep -q "127.0.0.1:39997" "$T/$cmd.out" && ok ||
        fail "weir $cmd: $(grep -v '^ok' "$T/$cmd.out" | head -3)"
done
finish
