#!/usr/bin/env bash
# A pause or resume that can only come after an assignment waits until the
# partition's fetch start was served (connectors/kafka_fetch_start.c): one
# that overtook it made librdkafka (2.0.2) drop the start as outdated, and
# the partition was never read, with no error. Here the resume after a
# durable state's restore (ks_partition_ready) is made to land inside
# partition 0's fetch start every time: weir runs with librdkafka's "topic"
# debug lines and tests/log_delay.c preloaded in its "resume_inside" mode,
# which holds a resume until the start took its version, and the start until
# a resume of partition 0 took a newer one (or 5 s). The embedded cluster's
# consumer (assigned, 1 worker, 4 partitions, durable keyed state, so every
# partition is paused until its state is restored) reads every record of a
# replay keyed by id exactly once. Before: "received outdated op FETCH_START"
# for partition 0, which was never read (1501 of 2000 ids).
# Also: a "statistics.interval.ms" of 0 in "kafka" is refused with its reason.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
need_log_delay test_kafka_fetch_start
T=$(mktemp -d /tmp/weir-test-fetch-start.XXXXXX)
trap 'rm -rf "$T"' EXIT

if PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR_BIN" "$T" "$PRELOAD" <<'PY'; then ok; else fail "a resume after the restore waits for the fetch start"; fi
import collections, json, os, signal, subprocess, sys, time
from output_readers import whole_lines
weir, t, preload = sys.argv[1:4]
n = 2000
with open(f"{t}/in.jsonl", "w") as f:
    for i in range(n):
        f.write(json.dumps({"id": i}) + "\n")
p = {"name": "fetch-start",
     "source": {"type": "kafka", "brokers": "embedded", "topics": ["fs-in"],
                "kafka": {"debug": "topic"}},
     "replay": {"path": f"{t}/in.jsonl", "key": "id", "stop": False},
     "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/id"}},
                   {"type": "standardize", "fields": ["v"], "out": ["v_z"]}],
     "sinks": [{"type": "file", "path": f"{t}/out.jsonl"}]}
with open(f"{t}/p.json", "w") as f:
    json.dump(p, f)
env = dict(os.environ, LD_PRELOAD=preload, WEIR_LOG_DELAY="resume_inside")
proc = subprocess.Popen([weir, "run", f"{t}/p.json", "--workers", "1"], env=env,
                        stdout=subprocess.DEVNULL, stderr=open(f"{t}/err", "w"))
def ids():
    return [json.loads(l)["id"] for l in whole_lines(f"{t}/out.jsonl")]
end = time.time() + 25
while time.time() < end and proc.poll() is None and len(set(ids())) < n:
    time.sleep(0.1)
proc.send_signal(signal.SIGTERM)
try:
    rc = proc.wait(30)
except subprocess.TimeoutExpired:
    proc.kill()
    rc = proc.wait()
got = ids()
twice = sum(1 for c in collections.Counter(got).values() if c > 1)
log = open(f"{t}/err").read().splitlines()
def first(pred):
    return next((i for i, l in enumerate(log) if pred(l)), None)
# the start's own line is written once the module let it go on, so only what
# its hold says, or weir's line deferring the resume before the hold ended
end_ = first(lambda l: l.startswith("log_delay: ") and "partition 0" in l)
deferred = first(lambda l: "fs-in [0]: resume deferred" in l)
inside = end_ is not None and ("took its version inside" in log[end_] or
                               (deferred is not None and deferred < end_))
ok = True
def check(cond, what):
    global ok
    ok = ok and bool(cond)
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
check(end_ is not None and sum(l.startswith("log_delay: ") for l in log) == 1,
      "the preloaded module held partition 0's fetch start")
check(inside, "partition 0's resume after its restore was asked inside its fetch start")
check(len(set(got)) == n and set(got) == set(range(n)), f"every id out: {len(set(got))} of {n}")
check(twice == 0, f"no id twice: {twice}")
check(rc == 0, f"SIGTERM exit {rc}")
if not ok:
    print("--- weir's log (partition 0) ---")
    print("\n".join(l for l in log if "fs-in [0]" in l and
                    ("BARRIER" in l or " OP:" in l or "deferred" in l or "started" in l)
                    or l.startswith("log_delay")))
sys.exit(0 if ok else 1)
PY

# Without statistics a paused partition's start would never be seen: a
# "statistics.interval.ms" of 0 is refused at load (weir validate and weir
# check said nothing: it was refused only when the consumer opened), with
# the reason.
echo '{"id": 1}' > "$T/one.jsonl"
cat > "$T/zero.json" <<EOF
{"name": "stats-zero",
 "source": {"type": "kafka", "brokers": "embedded", "topics": ["sz-in"],
            "kafka": {"statistics.interval.ms": "0"}},
 "replay": {"path": "$T/one.jsonl", "key": "id"},
 "operators": [{"type": "extract", "fields": {"id": "/id"}}],
 "sinks": [{"type": "file", "path": "$T/zero.jsonl"}]}
EOF
timeout 60 "$WEIR_BIN" run "$T/zero.json" --workers 1 >/dev/null 2>"$T/zero.err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q 'source.kafka.statistics.interval.ms: expected a number of milliseconds above 0' "$T/zero.err"; then
    ok
else
    fail "statistics.interval.ms 0 refused (exit $rc): $(tail -3 "$T/zero.err")"
fi
finish
