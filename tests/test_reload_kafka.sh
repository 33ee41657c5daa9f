#!/usr/bin/env bash
# Reloads that change the Kafka source (connectors/kafka_source.c's detach,
# quiet and close, kafka_source_close.c; engine/worker_reload.c): each
# replaced consumer commits and leaves its group off the worker's loop (a
# closer thread) as soon as nothing of it is on the loop, and is closed and
# freed once that is done, not when the run ends.
#   A. the embedded cluster (an assigned consumer: its successor takes the
#      same partitions, i.e. the same partition slots of the worker, before
#      the old one is closed): 2 workers, a paced replay of N records keyed
#      by id over 4 partitions, 20 reloads each changing max_inflight_records.
#      Every id comes out at least once, and more than once only where weir
#      said a drain ran out of time (before: duplicates only counted), 20 "replaced
#      consumer is closed" lines per worker, the thread count after 20
#      changes is that after 2 (before: +2 librdkafka threads per worker per
#      change), and SIGTERM exits 0. After the reloads /metrics lists all 4
#      partitions as assigned (the late close of a replaced consumer used to
#      revoke the worker's slots its successor held by then: those
#      partitions vanished, their keyed state dropped) and at most 4
#      pipeline versions in memory (a replaced consumer held its own).
#   B. a real broker (skipped without Java; WEIR_RELOAD_KAFKA_PORT, default
#      29923; the broker also takes the next port): a subscribed consumer in a group, 20 source changes under a
#      paced replay, the same checks (threads 19 after 20 changes as after
#      2; before: 175 vs 31).
#   C. the brokers stopped (SIGSTOP) while a reload replaces the subscribed
#      consumer (by one of the embedded cluster, which needs no broker): the
#      replaced consumer's last commit and leaving the group wait for the
#      brokers, now on a thread of their own (kafka_source_close.c), so the
#      reload is applied while the brokers are still stopped (before, the
#      worker's loop waited in the commit and the close: 120 s measured), and
#      the replaced consumer is not closed (freed) before the brokers are
#      back; then it is, every id of the input came out, and SIGTERM exits 0
#      with no error in the log (its offsets were committed).
#   D. a new source's topics are checked before the workers take it, on a
#      thread of the run's own (engine/reload_check.c), while the running
#      source (on the embedded cluster, fed by a paced replay) goes on: a
#      topic missing on the new brokers is reported with its JSON path
#      (source.topics[1]) and the run goes on with its output growing
#      (before: the worker failed and the run stopped, exit 1); with the
#      brokers stopped (SIGSTOP) the output keeps growing while the reload
#      waits (before: the running source was stopped and the worker's loop
#      waited in the new consumer's topic check for as long as the brokers
#      were stopped, 11 s here, nothing out); once they are back the reload is applied, the new source reads
#      every record of its topic, and SIGTERM exits 0.
#   E. the same for a Kafka sink a reload adds (its topic checked by the
#      sink type's precheck() on that thread; the open on the loop skips the
#      check): the source on the embedded cluster, a paced replay, a file
#      sink kept throughout. A missing topic is reported with its JSON path
#      (sinks[1].topic) and the run goes on (before: the worker failed, exit
#      1); with the brokers stopped the file sink's output keeps growing
#      while the reload waits (before: the loop waited in the new sink's
#      open, nothing out); once they are back the reload is applied, every
#      id comes out, and the new sink wrote to its topic.
#   F. exactly-once on the real broker, a reload replacing the sink and the
#      dead letter (every Kafka sink): the new sinks join the worker's
#      transactional producer, which the replaced ones kept alive until they
#      opened (engine/worker_reload.c), instead of a new producer whose
#      init_transactions waited on the loop while the source went on with
#      the freed one. Then a reload replaces the source (its open
#      transaction now ends as the reload stops it, on the producer's
#      transaction thread, instead of in its detach on the loop: 20-56 ms
#      there with the broker up, bench/reload_stall.sh ek-up). Every id
#      comes out exactly once (read_committed) over the old and the new
#      topic, and SIGTERM exits 0.
#   G. the source switched from at-least-once to exactly-once and back, its
#      Kafka sink and dead letter unchanged in the file: both are made again
#      (engine/reload.c: their producer's kind follows the guarantee), the
#      new transactional producer's init_transactions runs on its
#      transaction thread, not on the loop (the source takes nothing until it
#      is through), and the replaced producers are destroyed off the loop
#      (kafka_sink_retire.c). The run goes on through each switch (before:
#      the kept at-least-once sinks left the new source without a
#      transactional producer, "exactly_once needs the worker's kafka
#      sinks", and the run stopped, exit 1); every id comes out (read_committed)
#      and more than once only where weir said a drain ran out of time; a
#      last switch to exactly-once with SIGTERM right after it exits 0. (The
#      loop's wait in init_transactions is measured by bench/reload_stall.sh
#      ak-*, not asserted here: the checks before the switch find the
#      brokers up, so no outage can be timed to fall in it.)
#   H. reloads that remove a Kafka sink (at-least-once; a file sink kept)
#      and add it back, 6 times: the removed sink's producer is destroyed on
#      a thread of its own once the sink is detached, after the drain. The
#      run goes on with every record out to the file sink (before: the
#      producer was freed on the loop while its delivery-report poll was
#      still armed there, and the run aborted in the first removal: glibc's
#      "__pthread_tpp_change_priority" assertion, bench/reload_stall.sh
#      sr-up), the thread count after 6 removals is that after 1, what the
#      Kafka sink wrote is on its topic, and SIGTERM exits 0.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_RELOAD_KAFKA_PORT:-29923}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs

T=$(mktemp -d /tmp/weir-test-reload-kafka.XXXXXX)
KDIR=$T/kafka
WEIR_PID=""
cleanup() {
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null
    kafka_stop
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

# run_case NAME BROKERS N RATE: the Python driver below; prints ok/FAIL lines.
run_case() {
    PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/$1" "$2" "$3" "$4" <<'PY'
import os, re, signal, sys, time, urllib.request
from reload_kafka_case import Case

weir, t, brokers, n, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
c = Case(t)
check, log, ids_out = c.check, c.log, c.outputs
wait_for = lambda pred, limit: c.wait_for(pred, limit, 0.02)
name = os.path.basename(t)
topic = "rk-in-" + name
c.write_ids("in.jsonl", range(n))

def write_pipeline(k):
    src = {"type": "kafka", "brokers": brokers, "topics": [topic],
           "group": "rk-" + name, "drain_timeout": "2s",
           "max_inflight_records": 50000 + k}  # the harmless change
    p = {"name": "reload-kafka", "source": src, "state": {"durable": False},
         "replay": {"path": f"{t}/in.jsonl", "key": "id", "rate": float(rate), "stop": False},
         "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
         "sinks": [{"type": "file", "path": f"{t}/out.jsonl"}],
         "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
    c.write_pipeline(p)

def count(pattern):
    return log().count(pattern)

def threads():
    return len(os.listdir(f"/proc/{proc.pid}/task"))

write_pipeline(0)
c.start(weir, "run", f"{t}/p.json", "--workers", "2", "--http", "0")
proc = c.proc
port = None
def http_port():
    global port
    g = re.search(r"http: listening on .*:(\d+)$", log(), re.M)
    port = g and int(g.group(1))
    return port
wait_for(http_port, 20)
wait_for(lambda: count("assigned") >= 2 and ids_out()[1] > 0, 30)
check(proc.poll() is None and ids_out()[1] > 0, "records flow before the reloads")
workers = 2
thr = {}
for k in range(1, 21):
    write_pipeline(k)
    proc.send_signal(signal.SIGHUP)
    if not wait_for(lambda: count("reload applied by every worker") >= k, 20):
        check(False, f"reload {k} applied")
        break
    if k in (2, 20):  # every replaced consumer closed, then the threads settle
        wait_for(lambda: count("the replaced consumer is closed") >= workers * k, 10)
        time.sleep(0.3)
        thr[k] = threads()
    time.sleep(0.12)
closed = count("the replaced consumer is closed")
check(closed == workers * 20, f"replaced consumers closed during the run: {closed} (want {workers * 20})")
check(thr.get(20, 999) <= thr.get(2, 0),
      f"threads after 20 source changes {thr.get(20)} <= after 2 {thr.get(2)}")
def metrics():
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    lag = [l for l in body.splitlines() if l.startswith(f'weir_partition_lag{{topic="{topic}"')]
    ver = [l for l in body.splitlines() if l.startswith("weir_pipeline_versions ")]
    return len(lag), int(float(ver[0].split()[1])) if ver else -1

m = (0, -1)
def settled():
    global m
    m = metrics()
    return m[0] == 4 and 0 <= m[1] <= 4
wait_for(settled, 20)
check(m[0] == 4, f"partitions assigned after the reloads: {m[0]} (want 4)")
check(0 <= m[1] <= 4, f"pipeline versions in memory: {m[1]} (want at most 4)")
ok = wait_for(lambda: len(ids_out()[0]) >= n, 40)
seen, total = ids_out()
check(ok and seen == set(range(n)), f"every id out at least once: {len(seen)} of {n}")
dups = total - len(seen)
print(f"{name}: {total} outputs for {n} inputs, {dups} duplicates", flush=True)
# A replaced consumer hands its successor the offsets of what was acknowledged
# once its in-flight records drained: a record comes out twice only when a
# drain ran out of time, and weir says so when it does.
check(dups == 0 or count("will be read again") > 0,
      f"duplicates ({dups}) only where weir said a drain ran out of time")
rc = c.stop()
check(rc == 0, f"SIGTERM exit {rc}")
c.clean_log("no error, sanitizer report or failure in the log")
c.exit()
PY
}

out=$(run_case embedded embedded "${WEIR_RELOAD_KAFKA_N:-20000}" 2500 2>&1)
rc=$?
echo "$out" | sed 's/^/test_reload_kafka: A: /'
[ $rc -eq 0 ] && ok || fail "A (embedded cluster)"

if ! command -v java >/dev/null 2>&1 || [ ! -d "$LIBS" ] || [ -n "${WEIR_RELOAD_KAFKA_NO_BROKER:-}" ]; then
    echo "test_reload_kafka: B skipped: no Java, no Kafka libraries in $LIBS, or WEIR_RELOAD_KAFKA_NO_BROKER"
    finish
fi
kafka_start ""
broker topic-create rk-in-broker 4 >/dev/null || { fail "cannot create topic rk-in-broker"; finish; }
out=$(run_case broker "$BOOT" "${WEIR_RELOAD_KAFKA_N:-20000}" 2500 2>&1)
rc=$?
echo "$out" | sed 's/^/test_reload_kafka: B: /'
[ $rc -eq 0 ] && ok || fail "B (real broker)"

# ---- C: the brokers stopped during the source change ---------------------------
broker topic-create rk-in-stopped 4 >/dev/null || { fail "cannot create topic rk-in-stopped"; finish; }
PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/stopped" "$BOOT" "$KDIR/broker.pid" <<'PY'
import os, signal, subprocess, sys, time
from reload_kafka_case import Case
weir, t, brokers, pidfile = sys.argv[1:5]
c = Case(t)
check, log, wait_for, ids_out = c.check, c.log, c.wait_for, c.ids_out
n = 3000
c.write_ids("in.jsonl", range(n))
subprocess.run([weir, "replay", f"{t}/in.jsonl", "--brokers", brokers, "--topic", "rk-in-stopped",
                "--key", "id"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def write_pipeline(b):
    p = {"name": "reload-stopped", "state": {"durable": False},
         "source": {"type": "kafka", "brokers": b, "topics": ["rk-in-stopped"], "group": "rk-stopped"},
         "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
         "sinks": [{"type": "file", "path": f"{t}/out.jsonl"}],
         "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
    c.write_pipeline(p)
write_pipeline(brokers)
c.start(weir, "run", f"{t}/p.json", "--workers", "1", "--http", "0")
proc = c.proc
if not check(wait_for(lambda: len(ids_out()) >= n, 60),
             f"every id out before the reload: {len(ids_out())} of {n}"):
    print(c.partitions(brokers, "rk-in-stopped"), flush=True)
time.sleep(1.2)  # an auto-commit interval: the offsets are committed already
bpid = int(open(pidfile).read())
os.kill(bpid, signal.SIGSTOP)
try:
    write_pipeline("embedded")
    proc.send_signal(signal.SIGHUP)
    applied = wait_for(lambda: "reload applied by every worker" in log(), 20)
    check(applied, "the reload is applied while the brokers are stopped")
    check("the replaced consumer is closed" not in log(),
          "the replaced consumer is not closed while its last commit waits for the brokers")
finally:
    os.kill(bpid, signal.SIGCONT)
check(wait_for(lambda: "the replaced consumer is closed" in log(), 60),
      "the replaced consumer is closed once the brokers are back")
rc = c.stop()
check(rc == 0, f"SIGTERM exit {rc}")
check(ids_out() == set(range(n)), f"every id out: {len(ids_out())} of {n}")
check("offsets not committed" not in log(), "the replaced consumer's offsets were committed")
c.clean_log("no error, sanitizer report or failure in the log")
c.exit()
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "C (brokers stopped during the source change)"

# ---- D: a new source's topics checked off the loop -------------------------------
broker topic-create rk-in-check 4 >/dev/null || { fail "cannot create topic rk-in-check"; finish; }
PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/check" "$BOOT" "$KDIR/broker.pid" <<'PY'
import os, signal, subprocess, sys, time
from reload_kafka_case import Case
weir, t, brokers, pidfile = sys.argv[1:5]
c = Case(t)
check, log, wait_for, ids_out = c.check, c.log, c.wait_for, c.ids_out
topic = "rk-in-check"
n, nk = 40000, 1000
c.write_ids("in.jsonl", range(n))
c.write_ids("k.jsonl", range(100000, 100000 + nk))  # what the real broker's topic holds
subprocess.run([weir, "replay", f"{t}/k.jsonl", "--brokers", brokers, "--topic", topic,
                "--key", "id"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def write_pipeline(b, topics):
    p = {"name": "reload-check", "state": {"durable": False},
         "source": {"type": "kafka", "brokers": b, "topics": topics, "group": "rk-check",
                    "connect_timeout": "30s"},
         "replay": {"path": f"{t}/in.jsonl", "key": "id", "rate": 1000.0, "stop": False},
         "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
         "sinks": [{"type": "file", "path": f"{t}/out.jsonl"}],
         "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
    c.write_pipeline(p)
def grows(limit):  # the embedded source's output grows by more than 100 records
    base = len(ids_out())
    return wait_for(lambda: len(ids_out()) > base + 100, limit)
write_pipeline("embedded", ["rk-in-embedded"])
c.start(weir, "run", f"{t}/p.json", "--workers", "1")
proc = c.proc
check(grows(30), "records flow from the embedded cluster")
# D1: a topic missing on the new brokers (the broker up)
write_pipeline(brokers, [topic, "rk-no-such"])
proc.send_signal(signal.SIGHUP)
missing = wait_for(lambda: 'source.topics[1]: kafka source: topic "rk-no-such" does not exist' in log(), 30)
check(missing, "a missing topic is reported with its JSON path")
check(missing and "the running pipeline goes on unchanged" in log() and grows(10),
      "the running pipeline goes on after it")
# D2: the brokers stopped (SIGSTOP) while the new source's topics are checked
bpid = int(open(pidfile).read())
os.kill(bpid, signal.SIGSTOP)
try:
    write_pipeline(brokers, [topic])
    proc.send_signal(signal.SIGHUP)
    time.sleep(1)  # the old code had stopped the source by now, waiting in the open
    check(grows(10), "records flow while the new source waits for the stopped brokers")
    check("reload applied" not in log(), "the reload waits for the brokers")
finally:
    os.kill(bpid, signal.SIGCONT)
check(wait_for(lambda: "reload applied by every worker" in log(), 40),
      "the reload is applied once the brokers are back")
check(wait_for(lambda: set(range(100000, 100000 + nk)) <= ids_out(), 40),
      "the new source reads its topic")
rc = c.stop()
check(rc == 0, f"SIGTERM exit {rc}")
c.clean_log("no other error, sanitizer report or failure in the log", ignore="rk-no-such")
c.exit()
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "D (a new source's topics checked off the loop)"

# ---- E: a new Kafka sink's topic checked off the loop ----------------------------
broker topic-create rk-out-sink 4 >/dev/null || { fail "cannot create topic rk-out-sink"; finish; }
PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/sink" "$BOOT" "$KDIR/broker.pid" <<'PY'
import os, signal, sys, time
from reload_kafka_case import Case
weir, t, brokers, pidfile = sys.argv[1:5]
c = Case(t)
check, log, wait_for, ids_out = c.check, c.log, c.wait_for, c.ids_out
n = 10000
c.write_ids("in.jsonl", range(n))
def write_pipeline(topic):
    sinks = [{"type": "file", "path": f"{t}/out.jsonl"}]
    if topic:
        sinks.append({"type": "kafka", "brokers": brokers, "topic": topic,
                      "connect_timeout": "30s"})
    p = {"name": "reload-sink", "state": {"durable": False},
         "source": {"type": "kafka", "brokers": "embedded", "topics": ["rk-in-sink"],
                    "group": "rk-sink"},
         "replay": {"path": f"{t}/in.jsonl", "key": "id", "rate": 1000.0, "stop": False},
         "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
         "sinks": sinks,
         "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
    c.write_pipeline(p)
def grows(limit):  # the file sink's output grows by more than 100 records
    base = len(ids_out())
    return wait_for(lambda: len(ids_out()) > base + 100, limit)
write_pipeline(None)
c.start(weir, "run", f"{t}/p.json", "--workers", "1")
proc = c.proc
check(grows(30), "records flow to the file sink")
# E1: the new sink's topic missing on its brokers (the broker up)
write_pipeline("rk-no-such-sink")
proc.send_signal(signal.SIGHUP)
missing = wait_for(lambda: 'sinks[1].topic: kafka sink: topic "rk-no-such-sink" does not exist'
                   in log(), 30)
check(missing, "a new sink's missing topic is reported with its JSON path")
check(missing and "the running pipeline goes on unchanged" in log() and grows(10),
      "the running pipeline goes on after it")
# E2: the brokers stopped (SIGSTOP) while the new sink's topic is checked
bpid = int(open(pidfile).read())
os.kill(bpid, signal.SIGSTOP)
try:
    write_pipeline("rk-out-sink")
    proc.send_signal(signal.SIGHUP)
    time.sleep(1)  # the old code's loop waited in the new sink's open by now
    check(grows(10), "records flow while the new sink waits for the stopped brokers")
    check("reload applied" not in log(), "the reload waits for the brokers")
finally:
    os.kill(bpid, signal.SIGCONT)
check(wait_for(lambda: "reload applied by every worker" in log(), 40),
      "the reload is applied once the brokers are back")
check(wait_for(lambda: len(ids_out()) >= n, 40), f"every id out: {len(ids_out())} of {n}")
check(ids_out() == set(range(n)), "every id out, no other")
rc = c.stop()
check(rc == 0, f"SIGTERM exit {rc}")
c.clean_log("no other error, sanitizer report or failure in the log", ignore="rk-no-such-sink")
c.exit()
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "E (a new sink's topic checked off the loop)"
if ((rc == 0)); then
    got=$(kafka_topic_count rk-out-sink)
    ((got > 0)) && ok || fail "E: the new kafka sink wrote nothing to rk-out-sink"
fi

# ---- F: exactly-once, a reload replaces every Kafka sink ---------------------------
for t in rk-eos-in rk-eos-out1 rk-eos-out2 rk-eos-dl1 rk-eos-dl2; do
    broker topic-create $t 2 >/dev/null || { fail "cannot create topic $t"; finish; }
done
PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/eos" "$BOOT" "$SRC/scripts/kafka/broker.sh" \
    "$PORT" "$KDIR" <<'PY'
import json, re, signal, subprocess, sys, urllib.request
from reload_kafka_case import Case
weir, t, brokers, broker_sh, port, kdir = sys.argv[1:7]
c = Case(t)
check, log, wait_for = c.check, c.log, c.wait_for
n = 2000
def replay(lo, hi):
    c.replay(weir, brokers, "rk-eos-in", lo, hi)
def write_pipeline(k, inflight=50000):
    p = {"name": "reload-eos", "state": {"durable": False},
         "source": {"type": "kafka", "brokers": brokers, "topics": ["rk-eos-in"],
                    "group": "rk-eos", "guarantee": "exactly_once",
                    "max_inflight_records": inflight},
         "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
         "sinks": [{"type": "kafka", "topic": f"rk-eos-out{k}"}],
         "dead_letter": {"type": "kafka", "topic": f"rk-eos-dl{k}"}}
    c.write_pipeline(p)
out_total = c.out_total
replay(0, n)
write_pipeline(1)
c.start(weir, "run", f"{t}/p.json", "--workers", "1", "--http", "0")
proc = c.proc
check(wait_for(lambda: out_total() >= n, 60), f"the first {n} records out to rk-eos-out1")
write_pipeline(2)  # the sink and the dead letter both replaced
proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: "reload applied by every worker" in log(), 30), "the reload is applied")
replay(n, 2 * n)
check(wait_for(lambda: out_total() >= 2 * n, 60), f"the next {n} records out after the reload")
write_pipeline(2, 50001)  # the source replaced: its transaction ends as it stops
proc.send_signal(signal.SIGHUP)
check(wait_for(lambda: log().count("reload applied by every worker") >= 2, 30),
      "the source change is applied")
replay(2 * n, 3 * n)
check(wait_for(lambda: out_total() >= 3 * n, 60), f"the last {n} records out after it")
check(wait_for(lambda: "the replaced consumer is closed" in log(), 30),
      "the replaced consumer is closed")
rc = c.stop()
check(rc == 0, f"SIGTERM exit {rc}")
def committed(topic):  # one more than expected: a duplicate would be read
    r = subprocess.run([broker_sh, "consume", topic, str(3 * n + 1), "--read-committed",
                        "--timeout-ms", "5000", "--port", port, "--dir", kdir],
                       capture_output=True, text=True)
    return [json.loads(l)["id"] for l in r.stdout.splitlines() if l.startswith("{")]
ids = committed("rk-eos-out1") + committed("rk-eos-out2")
check(sorted(ids) == list(range(3 * n)),
      f"read_committed: every id exactly once in out1 + out2: {len(set(ids))} distinct of "
      f"{3 * n}, {len(ids)} in all")
c.clean_log("no error, sanitizer report or failure in the log")
c.exit()
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "F (exactly-once, every Kafka sink replaced)"

# ---- G: the guarantee switched, at-least-once <-> exactly-once -----------------------
for t in rk-sw-in rk-sw-out rk-sw-dl; do
    broker topic-create $t 2 >/dev/null || { fail "cannot create topic $t"; finish; }
done
PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/switch" "$BOOT" "$SRC/scripts/kafka/broker.sh" \
    "$PORT" "$KDIR" <<'PY'
import json, re, signal, subprocess, sys, time, urllib.request
from reload_kafka_case import Case
weir, t, brokers, broker_sh, port, kdir = sys.argv[1:7]
c = Case(t)
check, log, wait_for = c.check, c.log, c.wait_for
n = 1500
def replay(lo, hi):
    c.replay(weir, brokers, "rk-sw-in", lo, hi)
def write_pipeline(eos):
    src = {"type": "kafka", "brokers": brokers, "topics": ["rk-sw-in"], "group": "rk-sw",
           "drain_timeout": "5s"}
    if eos:
        src["guarantee"] = "exactly_once"
    c.write_pipeline({"name": "reload-switch", "state": {"durable": False}, "source": src,
                      "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
                      "sinks": [{"type": "kafka", "topic": "rk-sw-out"}],
                      "dead_letter": {"type": "kafka", "topic": "rk-sw-dl"}})
out_total = c.out_total
replay(0, n)
write_pipeline(False)
c.start(weir, "run", f"{t}/p.json", "--workers", "1", "--http", "0")
proc = c.proc
check(wait_for(lambda: out_total() >= n, 60), f"at-least-once: the first {n} records out")
for k, eos in ((1, True), (2, False)):
    write_pipeline(eos)
    proc.send_signal(signal.SIGHUP)
    what = "exactly-once" if eos else "at-least-once"
    check(wait_for(lambda: log().count("reload applied by every worker") >= k, 30),
          f"the switch to {what} is applied")
    replay((k) * n, (k + 1) * n)
    # out_total counts from the start: every record once so far, more after a reread
    check(wait_for(lambda: out_total() >= (k + 1) * n, 60),
          f"{what}: the next {n} records out after the switch")
check(proc.poll() is None, "the run goes on after both switches")
write_pipeline(True)  # and a last switch, stopped at once
proc.send_signal(signal.SIGHUP)
wait_for(lambda: log().count("reload applied by every worker") >= 3, 30)
rc = c.stop()
check(rc == 0, f"SIGTERM right after a switch to exactly-once: exit {rc}")
r = subprocess.run([broker_sh, "consume", "rk-sw-out", str(4 * n), "--read-committed",
                    "--timeout-ms", "5000", "--port", port, "--dir", kdir],
                   capture_output=True, text=True)
ids = [json.loads(l)["id"] for l in r.stdout.splitlines() if l.startswith("{")]
check(set(ids) == set(range(3 * n)),
      f"read_committed: every id out: {len(set(ids))} distinct of {3 * n}, {len(ids)} in all")
check(len(ids) == 3 * n or "will be read again" in log(),
      f"duplicates ({len(ids) - len(set(ids))}) only where weir said a drain ran out of time")
c.clean_log("no error, sanitizer report or failure in the log")
c.exit()
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "G (at-least-once <-> exactly-once)"

# ---- H: a Kafka sink removed and added back ------------------------------------------
broker topic-create rk-rm-in 2 >/dev/null || { fail "cannot create topic rk-rm-in"; finish; }
broker topic-create rk-rm-out 2 >/dev/null || { fail "cannot create topic rk-rm-out"; finish; }
PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR" "$T/removed" "$BOOT" <<'PY'
import os, signal, sys, time
from reload_kafka_case import Case
weir, t, brokers = sys.argv[1:4]
c = Case(t)
check, log, wait_for, ids_out = c.check, c.log, c.wait_for, c.ids_out
n = 12000
c.write_ids("in.jsonl", range(n))
def write_pipeline(k, kafka):
    sinks = [{"type": "file", "path": f"{t}/out.jsonl"}]
    if kafka:
        sinks.append({"type": "kafka", "topic": "rk-rm-out"})
    c.write_pipeline({"name": "reload-removed", "state": {"durable": False},
                      "source": {"type": "kafka", "brokers": brokers, "topics": ["rk-rm-in"],
                                 "group": "rk-rm"},
                      "replay": {"path": f"{t}/in.jsonl", "key": "id", "rate": 1000.0,
                                 "stop": False},
                      "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
                      "sinks": sinks, "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}})
def grows(limit):  # the file sink's output grows by more than 100 records
    base = len(ids_out())
    return wait_for(lambda: len(ids_out()) > base + 100, limit)
def threads():
    return len(os.listdir(f"/proc/{c.proc.pid}/task"))
write_pipeline(0, True)
c.start(weir, "run", f"{t}/p.json", "--workers", "1")
proc = c.proc
check(grows(30), "records flow to both sinks")
thr = {}
applied = 0
for k in range(1, 7):
    write_pipeline(k, False)  # removed
    proc.send_signal(signal.SIGHUP)
    applied += 1
    if not check(wait_for(lambda: log().count("reload applied by every worker") >= applied, 20),
                 f"removal {k} applied"):
        break
    if not check(grows(10), f"records flow after removal {k}"):
        break
    time.sleep(0.3)  # the removed sink's producer destroyed, its thread joined
    thr[k] = threads()
    write_pipeline(k, True)  # added back
    proc.send_signal(signal.SIGHUP)
    applied += 1
    if not check(wait_for(lambda: log().count("reload applied by every worker") >= applied, 20),
                 f"addition {k} applied"):
        break
check(proc.poll() is None, "the run goes on after the removals")
check(thr.get(6, 999) <= thr.get(1, 0), f"threads after 6 removals {thr.get(6)} <= after 1 {thr.get(1)}")
check(wait_for(lambda: len(ids_out()) >= n, 60), f"every id out: {len(ids_out())} of {n}")
check(ids_out() == set(range(n)), "every id out to the file sink, no other")
rc = c.stop()
check(rc == 0, f"SIGTERM exit {rc}")
c.clean_log("no error, sanitizer report or failure in the log")
c.exit()
PY
rc=$?
[ $rc -eq 0 ] && ok || fail "H (a Kafka sink removed and added back)"
if ((rc == 0)); then
    got=$(kafka_topic_count rk-rm-out)
    ((got > 0)) && ok || fail "H: the kafka sink wrote nothing to rk-rm-out"
fi
finish
