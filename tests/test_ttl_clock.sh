#!/usr/bin/env bash
# A TTL store expires keys on its operator's own clock, not the partition's
# (engine/worker_state.c, weir_worker_state_housekeep): a filter ahead of an
# aggregate drops records that still move the partition's watermark. User u's
# one record at 10:05 opens its [10:00, 11:00) window; 200 records of
# another type (dropped by the filter) move the partition to 11:10; then v's
# record at 11:15 moves the aggregate past 11:00. With "ttl": "1h" (size +
# allowed_lateness, the least the check takes), u's window is written: the
# key expired on the partition's clock first (10:05 < 11:10 - 1h) and the
# window was lost, with nothing said. Housekeeping runs every 64 batches: a
# record a batch.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-ttl-clock.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 - "$T" <<'PY'
import json, sys
t = sys.argv[1]
base = 1767261600000  # 2026-01-01T10:00:00Z
with open(f"{t}/in.jsonl", "w") as f:
    f.write(json.dumps({"ts": base + 5 * 60000, "user": "u", "type": "A", "x": 1}) + "\n")
    for i in range(200):
        f.write(json.dumps({"ts": base + 6 * 60000 + i * 64 * 60000 // 200, "user": "w",
                            "type": "B", "x": 2}) + "\n")
    f.write(json.dumps({"ts": base + 75 * 60000, "user": "v", "type": "A", "x": 3}) + "\n")
pipeline = {
    "name": "ttl-clock",
    "source": {"type": "file", "path": f"{t}/in.jsonl", "max_records": 1},
    "operators": [
        {"type": "extract", "fields": {"x": "/x", "ts": {"path": "/ts", "type": "timestamp"},
                                       "user": {"path": "/user", "type": "string"},
                                       "type": {"path": "/type", "type": "string"}}},
        {"type": "filter", "keep": "type == 'A'"},
        {"type": "aggregate", "by": "user", "kind": "tumbling", "size": "1h", "evict": "ttl",
         "ttl": "1h", "aggregates": [{"agg": "count", "out": "n"}]}],
    "sinks": [{"type": "file", "path": f"{t}/out.jsonl"}]}
json.dump(pipeline, open(f"{t}/p.json", "w"))
PY
if "$WEIR_BIN" run "$T/p.json" 2> "$T/err"; then ok; else fail "weir run: $(tail -5 "$T/err")"; fi
if grep -q '"user":"u".*"window_start":"2026-01-01T10:00:00' "$T/out.jsonl"; then
    ok
else
    fail "u's window [10:00, 11:00) is not written: $(grep window "$T/out.jsonl" || true)"
fi
finish
