#!/usr/bin/env bash
# Poison records: outputs and dead letters that no topic will take must not
# stop their partition. Inputs the broker accepted, among normal records:
# 400 KB of invalid UTF-8, 200 KB of control characters and 600 KB of quotes
# (malformed: their dead letters grow past message.max.bytes when escaped),
# and a valid ~999,950-byte record whose output does not fit once the
# computed fields are appended.
#   a. the embedded cluster (always runs, ~2 s): exit 0, in = out + dead.
#   b. a real broker (skipped without Java): record by record, every input
#      has exactly one output or one dead letter; the four dead letters fit
#      (raw cut, "raw_truncated" says how long it was) and keep their reason
#      and coordinates; exit 0 on SIGTERM, lag 0.
#   c. a restart on new records goes on from there (it does not stop on the
#      same record), into an output topic that takes 100 KB at most
#      (max.message.bytes): the broker rejects two 300 KB outputs in their
#      delivery reports; they become dead letters, the 200 records batched
#      with them are outputs, exit 0, lag 0.
#   d. the same rejections with "guarantee": "exactly_once" and a producer
#      queue smaller than a batch: each transaction holding one aborts, the
#      input is read again, the record's dead letter goes instead; read
#      committed, 400 outputs once each and 2 dead letters, exit 0, lag 0.
#   e. exactly-once into a compacted topic, one input without a key: its
#      batch is rejected whole; the keyless record goes to the dead letters,
#      the 300 others out, exit 0, lag 0 (it aborted for ever).
#   f. a glob of two files into a topic that takes 100 KB: line 3 of each
#      is rejected; the summary counts 2 dead letters, not 1.
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_TEST_PORT (default 29910; 29900-29990
# are this test's).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_TEST_PORT:-29910}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
PY=/usr/bin/python3
ok() { passed=$((passed + 1)); echo "test_poison: ok: $*"; }
fail() { failed=$((failed + 1)); echo "test_poison: FAIL: $*"; }

T=$(mktemp -d /tmp/weir-test-poison.XXXXXX)
KDIR=$T/kafka
WEIR_PID=""
cleanup() {
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null
    kafka_stop
    if ((failed == 0)); then rm -rf "$T"; else echo "test_poison: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

# gen FILE FIRST N: N normal records (seq FIRST...) with the four poison
# records among them; every record starts with its "seq", dead letters too
# (raw keeps its start).
gen() {
    "$PY" - "$@" <<'EOF'
import random, sys
path, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(first)
lines = []
def rec(seq, tail):
    return b'{"seq":%d,"s":' % seq + tail
for i in range(first, first + n):
    lines.append(b'{"seq":%d,"value":%.3f,"host":"h%d"}' % (i, 50 + 10 * random.random(), i % 7))
    if i == first + n // 5:
        lines.append(rec(900001, b'\xff' * 400000))          # invalid UTF-8
    if i == first + 2 * n // 5:
        lines.append(rec(900002, b'\x01' * 200000))          # control characters
    if i == first + 3 * n // 5:
        lines.append(rec(900003, b'"' * 600000))             # quotes
    if i == first + 4 * n // 5:                              # valid; its output is too large
        head = b'{"seq":900004,"value":50.5,"host":"h1","pad":"'
        lines.append(head + b'x' * (999950 - len(head) - 2) + b'"}')
open(path, 'wb').write(b'\n'.join(lines) + b'\n')
EOF
}
POISON=4

# summary FILE: "IN OUT DEAD" from weir's summary line.
summary() {
    sed -n 's/^weir: [^:]*: \([0-9]*\) records in, \([0-9]*\) out, \([0-9]*\) dead letters.*/\1 \2 \3/p' "$1"
}

# ---- a. embedded -------------------------------------------------------------------
N=400
gen "$T/a.jsonl" 0 $N
t0=$SECONDS
timeout -k 5 60 "$WEIR" run tests/pipelines/embedded-replay.json --embedded --replay "$T/a.jsonl" \
    --workers 2 >"$T/a.out" 2>"$T/a.err" </dev/null
rc=$?
read -r a_in a_out a_dead <<<"$(summary "$T/a.err")"
if ((rc == 0)); then
    ok "a: embedded: exit 0 after $((SECONDS - t0)) s"
else
    fail "a: embedded: exit $rc: $(grep -v '^weir: [a-z-]*: [0-9]* records in' "$T/a.err" | tail -n2 | cut -c1-300)"
fi
if [[ ${a_in:-} == $((N + POISON)) && ${a_out:-} == "$N" && ${a_dead:-} == "$POISON" ]]; then
    ok "a: $a_in records in = $a_out out + $a_dead dead letters"
else
    fail "a: expected $((N + POISON)) in = $N out + $POISON dead letters: $(head -n1 "$T/a.err" | cut -c1-200)"
fi

# ---- b, c. a real broker ----------------------------------------------------------------
if ! command -v java >/dev/null 2>&1; then
    echo "test_poison: b, c skipped: java is not installed"
    finish
fi
kafka_start ""
topic() { # NAME PARTITIONS [CONFIG]
    ktool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --create --topic "$1" \
        --partitions "$2" --replication-factor 1 ${3:+--config "$3"} >"$T/topic-$1.log" 2>&1 ||
        echo "cannot create topic $1: $(tail -n1 "$T/topic-$1.log")"
}
{ topic pb-in 2 & topic pb-out 2 & topic pb-rej 1 & topic pc-out 1 max.message.bytes=100000 &
  topic pd-in 1 & topic pd-out 1 max.message.bytes=100000 & topic pd-rej 1 &
  topic pe-in 1 & topic pe-out 1 cleanup.policy=compact & topic pe-rej 1 & wait; } \
    >"$T/topics.log"
[[ -s $T/topics.log ]] && fail "$(cat "$T/topics.log")"
PL=tests/pipelines/kafka-basic.json

# lag GROUP TOPIC PARTITIONS: succeeds when the group's committed offsets
# reach the end of every partition.
lag0() { kafka_lag0 "$1" "$2" "$3" "$T/group-$1.txt"; }

# stop_running: SIGTERM to weir, which must still run; sets RC (99: it had
# exited 0 on its own).
stop_running() {
    RC=0
    if [[ -n $WEIR_PID ]] && kill -0 "$WEIR_PID" 2>/dev/null; then
        stop_weir 60 || RC=$?
    else
        wait "$WEIR_PID"
        RC=$?
        WEIR_PID=""
        RC=$((RC == 0 ? 99 : RC)) # it must run until it is stopped
    fi
}
# run_until NAME OUT_TOPIC N DEAD_TOPIC D ARGS...: weir in the background
# until the topics hold N and D messages, then SIGTERM; sets RC.
run_until() {
    local name=$1 out=$2 n=$3 dead=$4 d=$5 got
    shift 5
    start_weir "$T/$name.err" "$PL" --workers 2 "$@"
    got=$(wait_count "$out" "$n" 60) || echo "test_poison: $name: $got of $n outputs"
    got=$(wait_count "$dead" "$d" 30) || echo "test_poison: $name: $got of $d dead letters"
    stop_running
}
# run_to_lag0 NAME GROUP TOPIC PARTITIONS ARGS...: weir in the background until
# the group's committed offsets reach the end of every partition of TOPIC
# (under exactly-once a topic's count includes commit markers and aborted
# outputs, so it says nothing of what is committed), then SIGTERM; sets RC.
run_to_lag0() {
    local name=$1 group=$2 topic=$3 parts=$4
    shift 4
    start_weir "$T/$name.err" "$PL" --workers 2 "$@"
    for _ in $(seq 120); do
        lag0 "$group" "$topic" "$parts" && break
        kill -0 "$WEIR_PID" 2>/dev/null || break
        sleep 0.5
    done
    stop_running
}

# ---- b. record by record, then a restart ---------------------------------------------------
N=2000
gen "$T/b.jsonl" 0 $N
"$WEIR" replay "$T/b.jsonl" --brokers "$BOOT" --topic pb-in --key host >"$T/b-replay.log" 2>&1 ||
    fail "b: replay: $(tail -n1 "$T/b-replay.log")"
SETS=(--set "source.brokers=$BOOT" --set 'source.topics=["pb-in"]' --set source.group=weir-pb
      --set sinks[0].topic=pb-out --set dead_letter.topic=pb-rej)
t0=$SECONDS
run_until b pb-out $N pb-rej $POISON "${SETS[@]}"
if ((RC == 0)); then
    ok "b: exit 0 on SIGTERM after $((SECONDS - t0)) s"
else
    fail "b: exit $RC: $(grep -v ' records in, ' "$T/b.err" | tail -n2 | cut -c1-300)"
fi
read -r b_in b_out b_dead <<<"$(summary "$T/b.err")"
[[ ${b_in:-} == $((N + POISON)) && ${b_out:-} == "$N" && ${b_dead:-} == "$POISON" ]] &&
    ok "b: summary: $b_in in = $b_out out + $b_dead dead letters" ||
    fail "b: summary: expected $((N + POISON)) in = $N out + $POISON dead: $(grep ' records in, ' "$T/b.err")"
broker consume pb-out "$N" --timeout-ms 20000 >"$T/b-out.txt" 2>/dev/null &
broker consume pb-rej "$POISON" --timeout-ms 20000 >"$T/b-rej.txt" 2>/dev/null
wait
"$PY" - "$T/b-out.txt" "$T/b-rej.txt" "$N" "$T/b.jsonl" >"$T/b-check.txt" <<'EOF'
import json, re, sys
out_path, rej_path, n, inp = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
size = {int(re.match(rb'{"seq":(\d+)', l).group(1)): len(l) for l in open(inp, 'rb').read().split(b'\n') if l}
seen, problems = {}, []
for line in open(out_path, 'rb'):
    seq = json.loads(line)['seq']
    seen[seq] = seen.get(seq, 0) + 1
for line in open(rej_path, 'rb'):
    if len(line.rstrip(b'\n')) > 1000000:
        problems.append('a dead letter of %d bytes' % len(line))
    d = json.loads(line)
    m = re.match(r'{"seq":(\d+)', d['raw'])
    if not m:
        problems.append('a dead letter whose raw does not start with its seq: %r' % d['raw'][:40])
        continue
    seq = int(m.group(1))
    seen[seq] = seen.get(seq, 0) + 1
    for k in ('reason', 'source', 'partition', 'offset'):
        if k not in d:
            problems.append('seq %d: the dead letter has no %s' % (seq, k))
    if d.get('raw_truncated') != size[seq]:
        problems.append('seq %d: raw_truncated %s, the record had %d bytes' % (seq, d.get('raw_truncated'), size[seq]))
    if seq == 900001 and 'raw_base64' not in d:
        problems.append('seq 900001 (invalid UTF-8): no raw_base64')
    if seq == 900004 and 'message.max.bytes' not in d['reason']:
        problems.append('seq 900004: reason %r does not name message.max.bytes' % d['reason'])
for seq in size:
    if seen.get(seq, 0) != 1:
        problems.append('seq %d: %d outputs and dead letters, expected 1' % (seq, seen.get(seq, 0)))
extra = set(seen) - set(size)
if extra:
    problems.append('unknown seqs: %s' % sorted(extra)[:5])
print('\n'.join(problems[:10]) if problems else 'ok')
EOF
if [[ $(cat "$T/b-check.txt") == ok ]]; then
    ok "b: record by record: each of $((N + POISON)) inputs has one output or one dead letter; dead letters fit, keep reason and coordinates, say raw_truncated"
else
    fail "b: record by record:
$(cat "$T/b-check.txt")"
fi
lag0 weir-pb pb-in 2 && ok "b: lag 0 on both partitions" || fail "b: lag: $(cat "$T/group-weir-pb.txt")"

# ---- c. a restart, and outputs the broker rejects in their delivery reports ----------------
# The restart reads only what came after b's records: it does not stop on the
# same record. Its sink's topic takes 100 KB at most; linger.ms=100 batches
# the two 300 KB outputs with small ones.
"$PY" - "$T/c.jsonl" <<'EOF'
import sys
lines = []
for i in range(5000, 5200):
    lines.append(b'{"seq":%d,"value":%d.5,"host":"h%d"}' % (i, 50 + i % 5, i % 7))
    if i in (5060, 5140):
        lines.append(b'{"seq":%d,"value":50.5,"host":"h1","pad":"' % (900000 + i) + b'y' * 300000 + b'"}')
open(sys.argv[1], 'wb').write(b'\n'.join(lines) + b'\n')
EOF
"$WEIR" replay "$T/c.jsonl" --brokers "$BOOT" --topic pb-in --key host >"$T/c-replay.log" 2>&1 ||
    fail "c: replay: $(tail -n1 "$T/c-replay.log")"
run_until c pc-out 200 pb-rej $((POISON + 2)) "${SETS[@]}" --set sinks[0].topic=pc-out \
    --set 'sinks[0].kafka={"linger.ms": 100}'
read -r c_in c_out c_dead <<<"$(summary "$T/c.err")"
broker consume pb-rej $((POISON + 2)) --timeout-ms 20000 >"$T/c-rej.txt" 2>/dev/null &
broker consume pc-out 200 --timeout-ms 20000 >"$T/c-out.txt" 2>/dev/null
wait
c_rej=$(grep -c ': rejected by topic \\"pc-out\\": Broker: Message size too large' "$T/c-rej.txt")
c_seq=$(grep -o '"seq":[0-9]*' "$T/c-out.txt" | sort -u | wc -l)
if ((RC == 0)) && [[ ${c_in:-} == 202 && ${c_out:-} == 200 && ${c_dead:-} == 2 ]]; then
    ok "c: restart: exit 0, 202 records in (none of b's) = 200 out + 2 dead letters"
else
    fail "c: restart: exit $RC, $(grep -v '^$' "$T/c.err" | tail -n2 | cut -c1-300)"
fi
((c_rej == 2 && c_seq == 200)) &&
    ok "c: the broker rejected 2 outputs: 2 dead letters name the reason; the 200 others were delivered" ||
    fail "c: $c_rej dead letters rejected by the topic (expected 2), $c_seq distinct outputs (expected 200)"
lag0 weir-pb pb-in 2 && ok "c: lag 0" || fail "c: lag: $(cat "$T/group-weir-pb.txt")"

# ---- d. the same rejections under exactly-once ----------------------------------------
# A rejection in a delivery report makes the transaction abortable: it
# aborts (said in the log), the input is read again and the sink sends the
# record's dead letter instead (docs/kafka.md; no test had run this path).
# A producer queue of 8 messages for batches of 16 keeps outputs waiting in
# the sink: produced after the rejection (librdkafka: "Erroneous state") or
# during a commit, they stopped the worker (exit 1 after 16 or 96 outputs);
# a commit now waits for them, and one the producer refuses aborts it.
"$PY" - "$T/d.jsonl" <<'EOF'
import sys
lines = []
for i in range(6000, 6400):
    lines.append(b'{"seq":%d,"value":%d.5,"host":"h%d"}' % (i, 50 + i % 5, i % 7))
    if i in (6100, 6300):
        lines.append(b'{"seq":%d,"value":50.5,"host":"h1","pad":"' % (900000 + i) + b'y' * 300000 + b'"}')
open(sys.argv[1], 'wb').write(b'\n'.join(lines) + b'\n')
EOF
"$WEIR" replay "$T/d.jsonl" --brokers "$BOOT" --topic pd-in --key host >"$T/d-replay.log" 2>&1 ||
    fail "d: replay: $(tail -n1 "$T/d-replay.log")"
run_to_lag0 d weir-pd pd-in 1 --set "source.brokers=$BOOT" --set 'source.topics=["pd-in"]' \
    --set source.group=weir-pd --set source.guarantee=exactly_once --set sinks[0].topic=pd-out \
    --set dead_letter.topic=pd-rej --set source.max_records=16 \
    --set 'sinks[0].kafka={"linger.ms": 20, "queue.buffering.max.messages": 8}'
broker consume pd-rej 3 --read-committed --timeout-ms 5000 >"$T/d-rej.txt" 2>/dev/null &
broker consume pd-out 401 --read-committed --timeout-ms 5000 >"$T/d-out.txt" 2>/dev/null
wait
d_rej=$(grep -c ': rejected by topic \\"pd-out\\": Broker: Message size too large' "$T/d-rej.txt")
d_out=$(wc -l <"$T/d-out.txt")
d_seq=$(grep -o '"seq":[0-9]*' "$T/d-out.txt" | sort -u | wc -l)
d_abort=$(grep -c 'transaction aborted' "$T/d.err")
if ((RC == 0 && d_rej == 2 && d_out == 400 && d_seq == 400 && d_abort >= 1)); then
    ok "d: exactly-once: exit 0; read committed: 400 outputs once each, 2 dead letters rejected by the topic"
else
    fail "d: exactly-once: exit $RC, $d_out outputs ($d_seq distinct), $d_rej dead letters rejected by the topic, $d_abort aborts: $(grep -v '^$' "$T/d.err" | tail -n3 | cut -c1-300)"
fi
lag0 weir-pd pd-in 1 && ok "d: lag 0" || fail "d: lag: $(cat "$T/group-weir-pd.txt")"

# ---- e. a batch the topic rejects whole, under exactly-once ---------------------------
# A compacted topic refuses a message without a key (INVALID_RECORD), and
# with it the batch it is in (here every output of the transaction). A
# message was remembered only when rejected alone, so the transaction
# aborted and came back for ever (102,340 records read in 170 s, none out);
# now the keyless one is taken for the cause and goes to the dead letters,
# and the rest go out.
"$PY" - "$T/e.jsonl" <<'EOF'
import sys
lines = []
for i in range(7000, 7300):
    lines.append(b'{"seq":%d,"value":%d.5,"host":"h%d"}' % (i, 50 + i % 5, i % 7))
    if i == 7150:
        lines.append(b'{"seq":907150,"value":50.5}')  # no host: sent without a key
open(sys.argv[1], 'wb').write(b'\n'.join(lines) + b'\n')
EOF
"$WEIR" replay "$T/e.jsonl" --brokers "$BOOT" --topic pe-in --key host >"$T/e-replay.log" 2>&1 ||
    fail "e: replay: $(tail -n1 "$T/e-replay.log")"
run_to_lag0 e weir-pe pe-in 1 --set "source.brokers=$BOOT" --set 'source.topics=["pe-in"]' \
    --set source.group=weir-pe --set source.guarantee=exactly_once --set sinks[0].topic=pe-out \
    --set dead_letter.topic=pe-rej --set source.max_records=16 --set 'sinks[0].kafka={"linger.ms": 20}'
broker consume pe-rej 302 --read-committed --timeout-ms 5000 >"$T/e-rej.txt" 2>/dev/null &
broker consume pe-out 302 --read-committed --timeout-ms 5000 >"$T/e-out.txt" 2>/dev/null
wait
e_all=$(cat "$T/e-out.txt" "$T/e-rej.txt" | grep -o 'seq\\\?":[0-9]*' | grep -o '[0-9]*$' |
    sort | uniq -c | awk '$1 == 1' | wc -l) # dead letters hold the input escaped in raw
e_rows=$(cat "$T/e-out.txt" "$T/e-rej.txt" | wc -l)
e_key=$(grep -c 'seq\\":907150' "$T/e-rej.txt")
e_dead=$(wc -l <"$T/e-rej.txt")
if ((RC == 0 && e_all == 301 && e_rows == 301 && e_key == 1 && e_dead == 1)); then
    ok "e: exactly-once, a batch rejected whole: exit 0; 300 outputs and 1 dead letter, the keyless one"
else
    fail "e: exit $RC, $e_rows outputs and dead letters, $e_all seqs once, keyless dead $e_key: $(grep -v '^$' "$T/e.err" | tail -n3 | cut -c1-300)"
fi
lag0 weir-pe pe-in 1 && ok "e: lag 0" || fail "e: lag: $(cat "$T/group-weir-pe.txt")"

# ---- f. files into a topic: the same line rejected in two files -----------------------
# A glob's files share one partition slot, and line numbers repeat from one
# file to the next: line 3 of each file is the same (slot, offset). The
# count of dead letters told records apart by those alone, so a batch that
# held both rejections counted one of them as an output: "4 out, 1 dead".
for f in 1 2; do
    "$PY" - "$T/f-$f.jsonl" "$f" <<'EOF'
import sys
seqs = [int(sys.argv[2]) * 10 + i for i in range(3)]
lines = [b'{"seq":%d,"value":1.5}' % q for q in seqs[:2]]
lines.append(b'{"seq":%d,"value":1.5,"pad":"' % seqs[2] + b'z' * 300000 + b'"}')
open(sys.argv[1], 'wb').write(b'\n'.join(lines) + b'\n')
EOF
done
cat >"$T/f.json" <<EOF
{"name": "poison-files",
 "source": {"type": "file", "path": "$T/f-*.jsonl"},
 "operators": [{"type": "extract", "fields": {"value": "/value"}}],
 "sinks": [{"type": "kafka", "brokers": "$BOOT", "topic": "pc-out"}],
 "dead_letter": {"type": "file", "path": "$T/f-dead.jsonl"}}
EOF
timeout -k 5 60 "$WEIR" run "$T/f.json" >"$T/f.out" 2>"$T/f.err" </dev/null
rc=$?
read -r f_in f_out f_dead <<<"$(summary "$T/f.err")"
f_rej=$(grep -c 'rejected by topic \\"pc-out\\"' "$T/f-dead.jsonl" 2>/dev/null)
if ((rc == 0 && ${f_rej:-0} == 2)) && [[ ${f_in:-} == 6 && ${f_out:-} == 4 && ${f_dead:-} == 2 ]]; then
    ok "f: two files, line 3 of each rejected by the topic: 6 records in = 4 out + 2 dead letters"
else
    fail "f: exit $rc, $f_rej dead letters rejected by the topic (expected 2): $(grep ' records in, ' "$T/f.err" || tail -n2 "$T/f.err")"
fi

finish
