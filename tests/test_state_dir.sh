#!/usr/bin/env bash
# --state-dir: keyed state of a file run carries over to the next run.
#   1. A keyed pipeline over a file split in two, run twice with one state
#      directory, writes exactly what one run over the whole file writes.
#   2. Without --state-dir the second half starts afresh (the check can fail).
#   3. A damaged state file is an error naming it; nothing runs.
#   4. The file is replaced whole (temporary file + rename): no .tmp is left.
#   5. A TTL store's keys keep their last-touched times across the restart.
set -euo pipefail
SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:-$SRC/build/weir}
. "$SRC/tests/lib.sh" 2>/dev/null || true
WORK=$(mktemp -d /tmp/weir-test-state-dir.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "test_state_dir: ok: $*"; }
bad() { failed=$((failed + 1)); echo "test_state_dir: FAIL: $*"; }

awk 'BEGIN { srand(5); for (i = 0; i < 6000; i++) { h = i % 5;
    printf "{\"seq\":%d,\"host\":\"h%d\",\"v\":%.3f}\n", i, h, 10 * h + 3 * rand() + (rand() < 0.01 ? 30 : 0) } }' \
    >"$WORK/all.jsonl"
head -n 2500 "$WORK/all.jsonl" >"$WORK/a.jsonl"
tail -n +2501 "$WORK/all.jsonl" >"$WORK/b.jsonl"
cat >"$WORK/p.json" <<JSON
{"name": "state-dir",
 "source": {"type": "file", "path": "$WORK/all.jsonl"},
 "operators": [
   {"type": "extract", "fields": {"v": "/v", "host": {"path": "/host", "type": "string"}}},
   {"type": "standardize", "by": "host", "fields": ["v"], "warmup": 10},
   {"type": "score", "fields": ["v_z"], "out": "score"},
   {"type": "threshold", "by": "host", "score": "score", "quantile": 0.99, "warmup": 20}],
 "sinks": [{"type": "file", "path": "$WORK/out.jsonl"}]}
JSON
run() { # input, output, extra args...
    local in=$1 out=$2; shift 2
    "$WEIR" run "$WORK/p.json" --set source.path="$in" --set sinks[0].path="$out" --quiet "$@"
}
run "$WORK/all.jsonl" "$WORK/whole.jsonl"
run "$WORK/a.jsonl" "$WORK/1.jsonl" --state-dir "$WORK/state"
run "$WORK/b.jsonl" "$WORK/2.jsonl" --state-dir "$WORK/state"
if cat "$WORK/1.jsonl" "$WORK/2.jsonl" | cmp -s - "$WORK/whole.jsonl"; then
    ok "two runs with --state-dir write what one run writes ($(wc -l <"$WORK/whole.jsonl") records)"
else
    bad "two runs with --state-dir differ from one run: $(cat "$WORK/1.jsonl" "$WORK/2.jsonl" | diff - "$WORK/whole.jsonl" | head -4)"
fi
run "$WORK/b.jsonl" "$WORK/fresh.jsonl"
if cat "$WORK/1.jsonl" "$WORK/fresh.jsonl" | cmp -s - "$WORK/whole.jsonl"; then
    bad "without --state-dir the second half gave the same output: the check proves nothing"
else
    ok "without --state-dir the second half starts afresh (differs)"
fi
ls "$WORK/state" | grep -q '\.tmp$' && bad "a temporary state file was left" || ok "no temporary file left"
f=$(ls "$WORK/state"/*.state | head -1)
printf 'garbage' >"$f"
rc=0
run "$WORK/b.jsonl" "$WORK/x.jsonl" --state-dir "$WORK/state" 2>"$WORK/err.txt" || rc=$?
if ((rc == 1)) && grep -q "damaged" "$WORK/err.txt"; then
    ok "a damaged state file stops the run with: $(grep -m1 damaged "$WORK/err.txt")"
else
    bad "a damaged state file: rc $rc, $(cat "$WORK/err.txt")"
fi

# 5. A TTL store's keys come back with their last-touched times: a key idle
# (but well within its ttl) through the second run's first 64 batches, when
# the first expiry sweep runs, is still there after it. Restored as touched
# at 0 it was swept away and started afresh: output line 3705 differed.
awk 'BEGIN { srand(7); for (i = 0; i < 6000; i++) { h = (i >= 2500 && i < 3700) ? i % 4 : i % 5;
    printf "{\"ts\":\"2024-06-01T%02d:%02d:%02dZ\",\"host\":\"h%d\",\"v\":%.3f}\n",
        int(i / 3600), int(i / 60) % 60, i % 60, h, 10 * h + 3 * rand() } }' >"$WORK/ttl.jsonl"
head -n 2500 "$WORK/ttl.jsonl" >"$WORK/ttl-a.jsonl"
tail -n +2501 "$WORK/ttl.jsonl" >"$WORK/ttl-b.jsonl"
cat >"$WORK/ttl.json" <<JSON
{"name": "state-dir-ttl",
 "source": {"type": "file", "path": "$WORK/ttl.jsonl", "max_records": 16},
 "operators": [
   {"type": "extract", "fields": {"v": "/v", "host": {"path": "/host", "type": "string"},
                                  "ts": {"path": "/ts", "type": "timestamp"}}},
   {"type": "standardize", "by": "host", "fields": ["v"], "warmup": 10,
    "evict": "ttl", "ttl": "1h"}],
 "sinks": [{"type": "file", "path": "$WORK/out.jsonl"}]}
JSON
ttl_run() { # input, output, extra args...
    local in=$1 out=$2; shift 2
    "$WEIR" run "$WORK/ttl.json" --set source.path="$in" --set sinks[0].path="$out" --quiet "$@"
}
ttl_run "$WORK/ttl.jsonl" "$WORK/ttl-whole.jsonl"
ttl_run "$WORK/ttl-a.jsonl" "$WORK/ttl-1.jsonl" --state-dir "$WORK/ttl-state"
ttl_run "$WORK/ttl-b.jsonl" "$WORK/ttl-2.jsonl" --state-dir "$WORK/ttl-state"
if cat "$WORK/ttl-1.jsonl" "$WORK/ttl-2.jsonl" | cmp -s - "$WORK/ttl-whole.jsonl"; then
    ok "a TTL store's idle key survives the restart and the first sweep"
else
    bad "a TTL store's idle key after a restart: $(cat "$WORK/ttl-1.jsonl" "$WORK/ttl-2.jsonl" |
        diff - "$WORK/ttl-whole.jsonl" | head -4)"
fi

echo "$passed passed, $failed failed"
((failed == 0))
