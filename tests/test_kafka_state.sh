#!/usr/bin/env bash
# Durable keyed state against a real broker (Kafka 4.1.1, KRaft, one node on
# 127.0.0.1): tests/pipelines/kafka-state.json keeps standardize and a
# quantile threshold per host and a 30 s sliding window per host by event
# time, exactly-once, with its state in a changelog topic. The reference is the same pipeline over the same records read from
# a file in one uninterrupted run (per host the order is the same: a host's
# records share a key, so a partition).
#   1. kill -9 twice mid-stream, then a run to the end: read_committed, the
#      outputs are exactly the reference's records with the same computed
#      values (value_z, score, alert, the window's count and mean), none
#      missing, none twice.
#   2. two processes in one consumer group; one is killed (kill -9) mid-stream
#      and the survivor takes its partitions and their state: the same check.
#   3. at-least-once, half the input, SIGTERM, the other half, SIGTERM: a stop
#      saves the state (a last checkpoint), so the restart carries it on and
#      the outputs equal the uninterrupted run's (no crash: no duplicates).
#   4. static membership ("instance_id"): after kill -9 the restarted process
#      takes its partitions back at once — outputs resume well within the
#      group's 45 s session timeout, which a dynamic member would wait out —
#      and the outputs are again exactly the reference's.
#   5. at-least-once, a second process joins mid-stream (no periodic
#      checkpoint: checkpoint_interval 10 min): the revocation checkpoints
#      the state and waits for it, so its commit covers all that was
#      processed: the outputs are exactly the reference's, none twice (the
#      next owners read again from the last checkpoint's offsets, or from
#      the start, before).
#   6. at-least-once, kill -9 mid-stream with no commit yet
#      (auto.commit.interval.ms 10 min), past a checkpoint or two: the restart
#      reads again, from the start, records the restored state counted
#      already. Two thirds of the input are produced before the kill, the rest
#      after (so the kill is mid-stream whatever the machine's speed). None of them is dead-lettered
#      as late against that state (the window's default, late: dead; each
#      host's records come in time order), and every input has an output
#      (some twice, as at-least-once allows), with the window's figures of
#      the uninterrupted run (a replay's read from the restored events, none
#      counted twice). Before, the records between the committed offset and
#      the state's went to the dead letters, and then had no window figures.
#   7. a configuration changed (standardize's mode) and changed back before
#      the changelog is compacted: a key's newest record, which does not fit
#      the first configuration, wins over its older one that does; the keys
#      start afresh (they came back with the older, stale state).
# The changelog topic must exist, compacted, with the source's partitions.
# Env: WEIR_BIN, WEIR_SRC; optional WEIR_KAFKA_STATE_PORT (19492),
# WEIR_KAFKA_STATE_RECORDS (12000).
set -euo pipefail

SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:?WEIR_BIN must point at the weir binary}
PORT=${WEIR_KAFKA_STATE_PORT:-19492}
N=${WEIR_KAFKA_STATE_RECORDS:-12000}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
PL=$SRC/tests/pipelines/kafka-state.json

command -v java >/dev/null 2>&1 || { echo "test_kafka_state: skipped: java is not installed"; exit 77; }

WORK=$(mktemp -d /tmp/weir-test-kafka-state.XXXXXX)
KDIR=$WORK/kafka
WEIR_PID="" PID_A="" PID_B=""
BROKER_STARTED=0
passed=0
failed=0
cleanup() {
    local rc=$?
    for p in $WEIR_PID $PID_A $PID_B; do kill -KILL "$p" 2>/dev/null || true; done
    ((BROKER_STARTED)) && { "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1 || true; }
    if ((rc == 0)); then rm -rf "$WORK"; else echo "test_kafka_state: files kept in $WORK"; fi
}
trap cleanup EXIT
say() { echo "test_kafka_state: $*"; }
ok() { passed=$((passed + 1)); say "ok: $*"; }
fail() { echo "test_kafka_state: FAIL: $*" >&2; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

. "$(dirname "$0")/kafka_lib.sh"
BROKER_STARTED=1
say "starting a Kafka broker on $BOOT"
broker start >/dev/null

# Seven hosts, each with its own level and noise and a few spikes.
awk -v n="$N" 'BEGIN { srand(11); for (i = 0; i < n; i++) { h = i % 7;
    v = 10 * h + 3 * rand() + (rand() < 0.004 ? 40 : 0);
    printf "h%d|{\"seq\":%d,\"ts\":%.0f,\"value\":%.3f,\"host\":\"h%d\"}\n", h, i, 1700000000000 + 700 * i, v, h } }' >"$WORK/in.txt"
cut -d'|' -f2- "$WORK/in.txt" >"$WORK/in.jsonl"

# "seq value_z score alert n mean" per output line, sorted by seq.
fields() {
    /usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(*(json.dumps(r[k]) for k in ("seq", "value_z", "score", "alert", "n_30S", "mean_30S")))
' "$1" | sort -n
}

say "reference: one uninterrupted file run"
"$WEIR" run "$PL" --set "source={\"type\":\"file\",\"path\":\"$WORK/in.jsonl\"}" \
    --set "sinks[0]={\"type\":\"file\",\"path\":\"$WORK/ref.jsonl\"}" \
    --set "dead_letter={\"type\":\"file\",\"path\":\"$WORK/ref-dead.jsonl\"}" --quiet 2>"$WORK/ref.log" ||
    fail "the reference run failed: $(tail -n3 "$WORK/ref.log")"
fields "$WORK/ref.jsonl" >"$WORK/ref.txt"
(($(wc -l <"$WORK/ref.txt") == N)) || fail "the reference has $(wc -l <"$WORK/ref.txt") outputs, expected $N"
alerts=$(awk '$4 == "true"' "$WORK/ref.txt" | wc -l)
say "reference: $N outputs, $alerts alerts"

# Waits until group $1's committed offsets on topic $2 ($3 partitions) reach the end.
wait_lag0() {
    local group=$1 topic=$2 parts=$3 deadline=$((SECONDS + 240)) lag
    while :; do
        ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
            --describe --group "$group" >"$WORK/group.txt" 2>&1 || true
        lag=$(awk -v t="$topic" -v p="$parts" '$2 == t { n++; if ($6 ~ /^[0-9]+$/) s += $6; else if ($5 != "0") s = -1e12 }
                  END { print (n == p && s >= 0 ? s : "unknown") }' "$WORK/group.txt")
        [[ $lag == 0 ]] && return 0
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# Compares topic $1 (read_committed) with the reference.
# A killed member's open transaction holds read_committed readers back until
# the broker aborts it (transaction.timeout.ms, weir's default 10 s, plus the
# broker's check interval, 10 s): read again until everything is there, for
# up to 60 s.
check_outputs() {
    local topic=$1 what=$2 total distinct deadline=$((SECONDS + 60))
    while :; do
        broker consume "$topic" $((N + 1)) --read-committed --timeout-ms 5000 >"$WORK/$topic.jsonl" 2>/dev/null || true
        total=$(wc -l <"$WORK/$topic.jsonl")
        ((total >= N || SECONDS >= deadline)) && break
        say "$what: $total of $N outputs visible to read_committed so far; reading again"
        sleep 3
    done
    fields "$WORK/$topic.jsonl" >"$WORK/$topic.txt"
    total=$(wc -l <"$WORK/$topic.txt")
    distinct=$(cut -d' ' -f1 "$WORK/$topic.txt" | sort -u | wc -l)
    say "$what: $total outputs read_committed, $distinct distinct seqs ($((N - distinct)) missing, $((total - distinct)) twice)"
    ((total == N && distinct == N)) || fail "$what: expected exactly $N outputs"
    local diffs
    diffs=$(diff "$WORK/ref.txt" "$WORK/$topic.txt" | grep -c '^>' || true)
    ((diffs == 0)) || fail "$what: $diffs outputs differ from the uninterrupted run, e.g.
$(diff "$WORK/ref.txt" "$WORK/$topic.txt" | head -6)"
    ok "$what: every output equals the uninterrupted run's (value_z, score, alert, window count and mean)"
}

SLOW=(--set 'source.kafka={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}'
      --set source.max_inflight_records=100 --set source.commit_interval=200ms
      --set 'sinks[0].kafka={"linger.ms": 100}')

# ---- 1. kill -9 twice --------------------------------------------------------------------------
broker topic-create st-in 3 >/dev/null
broker topic-create st-out 3 >/dev/null
broker topic-create st-rejected 1 >/dev/null
broker produce st-in "$WORK/in.txt" --key-separator '|'
SETS=(--set "source.brokers=$BOOT" "${SLOW[@]}")
n=0
for k in 1 2; do
    # each run is killed once it wrote N/5 more messages (or after 60 s: a run
    # that came after a late kill may have less than that left to do)
    start_weir "$WORK/run$k.log" "$PL" --workers 2 "${SETS[@]}"
    n=$(wait_count st-out $((n + N / 5)) 60) || true
    kill -0 "$WEIR_PID" 2>/dev/null || fail "1: run $k exited by itself: $(tail -n3 "$WORK/run$k.log")"
    kill -KILL "$WEIR_PID"; wait "$WEIR_PID" 2>/dev/null || true; WEIR_PID=""
    n=$(kafka_topic_count st-out)
    say "1: kill -9 of run $k with $n messages in st-out (committed or not)"
done
((n < N)) || say "1: warning: the kills came after every input had an output"
start_weir "$WORK/final.log" "$PL" --workers 2 "${SETS[@]}"
wait_lag0 weir-kafka-state st-in 3 || fail "1: lag not 0 after 240 s: $(tail -n3 "$WORK/final.log")"
stop_weir 60 || fail "1: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/final.log")"
ktool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOT" --describe \
    --topic weir-kafka-state-changelog >"$WORK/changelog.txt" 2>&1 || true
grep -q 'PartitionCount: 3' "$WORK/changelog.txt" && grep -q 'cleanup.policy=compact' "$WORK/changelog.txt" ||
    fail "1: the changelog topic is not compacted with 3 partitions: $(head -n2 "$WORK/changelog.txt")"
ok "1: changelog weir-kafka-state-changelog: compacted, 3 partitions"
check_outputs st-out "1: kill -9 twice"

# ---- 2. two processes, one killed ------------------------------------------------------------------
broker topic-create s2-in 4 >/dev/null
broker topic-create s2-out 4 >/dev/null
broker produce s2-in "$WORK/in.txt" --key-separator '|'
SETS2=(--set "source.brokers=$BOOT" --set 'source.topics=["s2-in"]' --set source.group=weir-s2
       --set sinks[0].topic=s2-out --set 'state={"changelog": "weir-s2-changelog"}' "${SLOW[@]}")
start_weir "$WORK/a.log" "$PL" --workers 1 "${SETS2[@]}" --set source.transactional_id=s2-a
PID_A=$WEIR_PID
start_weir "$WORK/b.log" "$PL" --workers 1 "${SETS2[@]}" --set source.transactional_id=s2-b
PID_B=$WEIR_PID
wait_count s2-out $((N / 3)) 180 >/dev/null || fail "2: no progress: $(tail -n3 "$WORK/b.log")"
kill -KILL "$PID_B"; wait "$PID_B" 2>/dev/null || true; PID_B=""
t_kill=$SECONDS
say "2: killed process B with $(kafka_topic_count s2-out) messages in s2-out"
WEIR_PID=$PID_A
wait_lag0 weir-s2 s2-in 4 || fail "2: lag not 0 after 240 s: $(tail -n3 "$WORK/a.log")"
stop_weir 60 || fail "2: A exited with status $? after SIGTERM: $(tail -n3 "$WORK/a.log")"
# weir's default transaction.timeout.ms (10 s): B's open transaction no longer
# holds read_committed readers back for librdkafka's 60 s (the time is printed,
# not asserted; bench/kafka_eos_takeover.sh measures it)
check_outputs s2-out "2: a member killed, its partitions and state taken over"
say "2: every output visible to read_committed $((SECONDS - t_kill)) s after the kill (reads included)"

# ---- 3. at-least-once: a stop saves the state, a restart carries it on --------------------------------
head -n $((N / 2)) "$WORK/in.txt" >"$WORK/in-a.txt"
tail -n +$((N / 2 + 1)) "$WORK/in.txt" >"$WORK/in-b.txt"
broker topic-create s3-in 3 >/dev/null
broker topic-create s3-out 3 >/dev/null
SETS3=(--set "source.brokers=$BOOT" --set 'source.topics=["s3-in"]' --set source.group=weir-s3
       --set source.guarantee=at_least_once --set sinks[0].topic=s3-out
       --set 'state={"changelog": "weir-s3-changelog"}')
for half in a b; do
    broker produce s3-in "$WORK/in-$half.txt" --key-separator '|'
    start_weir "$WORK/s3-$half.log" "$PL" --workers 2 "${SETS3[@]}"
    wait_lag0 weir-s3 s3-in 3 || fail "3: lag not 0 after 240 s: $(tail -n3 "$WORK/s3-$half.log")"
    stop_weir 60 || fail "3: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/s3-$half.log")"
    cl=$(kafka_topic_count weir-s3-changelog)
    ((cl > 0)) || fail "3: after the stop of run $half the changelog holds nothing"
    say "3: run $half stopped; the changelog holds $cl entries"
done
check_outputs s3-out "3: at-least-once, stopped and restarted between halves"

# ---- 4. static membership: a restart after kill -9 does not wait for the session timeout ----------
broker topic-create s4-in 3 >/dev/null
broker topic-create s4-out 3 >/dev/null
broker produce s4-in "$WORK/in.txt" --key-separator '|'
SETS4=(--set "source.brokers=$BOOT" --set 'source.topics=["s4-in"]' --set source.group=weir-s4
       --set sinks[0].topic=s4-out --set 'state={"changelog": "weir-s4-changelog"}' "${SLOW[@]}"
       --set 'source.kafka={"session.timeout.ms": 45000, "heartbeat.interval.ms": 1000}'
       --set source.instance_id=s4-host)
start_weir "$WORK/s4-a.log" "$PL" --workers 2 "${SETS4[@]}"
wait_count s4-out $((N / 5)) 120 >/dev/null || fail "4: no progress: $(tail -n3 "$WORK/s4-a.log")"
kill -KILL "$WEIR_PID"; wait "$WEIR_PID" 2>/dev/null || true; WEIR_PID=""
n=$(kafka_topic_count s4-out)
t0=$SECONDS
start_weir "$WORK/s4-b.log" "$PL" --workers 2 "${SETS4[@]}"
wait_count s4-out $((n + 200)) 40 >/dev/null ||
    fail "4: no new outputs within 40 s of the restart (session timeout 45 s): $(tail -n3 "$WORK/s4-b.log")"
say "4: killed with $n messages in s4-out; the restart produced again within $((SECONDS - t0)) s"
ok "4: static membership: a restart takes its partitions back without waiting out the 45 s session"
wait_lag0 weir-s4 s4-in 3 || fail "4: lag not 0 after 240 s: $(tail -n3 "$WORK/s4-b.log")"
stop_weir 60 || fail "4: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/s4-b.log")"
check_outputs s4-out "4: static membership, kill -9 and restart"

# ---- 5. at-least-once: a revocation commits what was processed ----------------------------------
broker topic-create s5-in 4 >/dev/null
broker topic-create s5-out 4 >/dev/null
# Half the input now, the rest once B has partitions: the rebalance comes
# mid-stream however fast A runs (under ASan on a busy host A once finished
# all of it before B joined, which proved nothing).
head -n $((N / 2)) "$WORK/in.txt" >"$WORK/s5-first.txt"
tail -n +$((N / 2 + 1)) "$WORK/in.txt" >"$WORK/s5-rest.txt"
broker produce s5-in "$WORK/s5-first.txt" --key-separator '|'
SETS5=(--set "source.brokers=$BOOT" --set 'source.topics=["s5-in"]' --set source.group=weir-s5
       --set source.guarantee=at_least_once --set source.checkpoint_interval=10m
       --set sinks[0].topic=s5-out --set 'state={"changelog": "weir-s5-changelog"}'
       --set 'source.kafka={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}'
       --set source.max_inflight_records=20 --set 'sinks[0].kafka={"linger.ms": 100}')
start_weir "$WORK/s5-a.log" "$PL" --workers 1 "${SETS5[@]}"
PID_A=$WEIR_PID
wait_count s5-out $((N / 10)) 120 >/dev/null || fail "5: no progress: $(tail -n3 "$WORK/s5-a.log")"
start_weir "$WORK/s5-b.log" "$PL" --workers 1 "${SETS5[@]}"
PID_B=$WEIR_PID
deadline=$((SECONDS + 60))
until grep -q 'assigned [1-9]' "$WORK/s5-b.log"; do
    ((SECONDS < deadline)) || fail "5: B was assigned nothing within 60 s: $(tail -n3 "$WORK/s5-b.log")"
    sleep 0.2
done
n=$(kafka_topic_count s5-out)
say "5: B took partitions with $n of $N messages in s5-out"
((n < N)) || fail "5: the rebalance came after every input had an output: it proves nothing"
broker produce s5-in "$WORK/s5-rest.txt" --key-separator '|'
grep -q 'revoked [1-9]' "$WORK/s5-a.log" || fail "5: A had nothing revoked: $(grep -i 'partition' "$WORK/s5-a.log" | head -3)"
# no commit before the stops (no periodic checkpoint): every input has an output
wait_count s5-out "$N" 240 >/dev/null || fail "5: $(kafka_topic_count s5-out) of $N outputs after 240 s"
stop_weir 60 || fail "5: B exited with status $? after SIGTERM: $(tail -n3 "$WORK/s5-b.log")"
PID_B=""
WEIR_PID=$PID_A
stop_weir 60 || fail "5: A exited with status $? after SIGTERM: $(tail -n3 "$WORK/s5-a.log")"
check_outputs s5-out "5: at-least-once, a member joined mid-stream"

# ---- 6. at-least-once: a restart's replays are not late against the restored state -----------------
broker topic-create s6-in 3 >/dev/null
broker topic-create s6-out 3 >/dev/null
broker topic-create s6-rejected 1 >/dev/null
head -n $((2 * N / 3)) "$WORK/in.txt" >"$WORK/s6-first.txt"
tail -n +$((2 * N / 3 + 1)) "$WORK/in.txt" >"$WORK/s6-rest.txt"
broker produce s6-in "$WORK/s6-first.txt" --key-separator '|'
SETS6=(--set "source.brokers=$BOOT" --set 'source.topics=["s6-in"]' --set source.group=weir-s6
       --set source.guarantee=at_least_once
       --set sinks[0].topic=s6-out --set dead_letter.topic=s6-rejected
       --set 'state={"changelog": "weir-s6-changelog"}'
       --set 'source.kafka={"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000, "auto.commit.interval.ms": 600000}'
       --set source.max_inflight_records=100 --set 'sinks[0].kafka={"linger.ms": 100}')
start_weir "$WORK/s6-a.log" "$PL" --workers 1 "${SETS6[@]}"
wait_count s6-out $((N / 3)) 120 >/dev/null || fail "6: no progress: $(tail -n3 "$WORK/s6-a.log")"
sleep 2 # a checkpoint or two; no commit (the interval is 10 min)
kill -KILL "$WEIR_PID"; wait "$WEIR_PID" 2>/dev/null || true; WEIR_PID=""
n=$(kafka_topic_count s6-out)
say "6: kill -9 with $n of $N messages in s6-out"
((n > 0 && n <= 2 * N / 3)) || fail "6: $n outputs before the kill, of $((2 * N / 3)) inputs produced"
saved=$(kafka_topic_count weir-s6-changelog || true)
((saved > 0)) || fail "6: no checkpoint before the kill: the restart restores nothing, so it proves nothing"
broker produce s6-in "$WORK/s6-rest.txt" --key-separator '|'
start_weir "$WORK/s6-b.log" "$PL" --workers 1 "${SETS6[@]}"
# no commit before the stop either: every input read again has an output or
# (the bug this case is for) a dead letter, which the checks below name
deadline=$((SECONDS + 240))
until (($(kafka_topic_count s6-out || true) + $(kafka_topic_count s6-rejected || true) >= n + N)); do
    ((SECONDS < deadline)) || fail "6: $(kafka_topic_count s6-out || true) of $((n + N)) outputs after 240 s: $(tail -n3 "$WORK/s6-b.log")"
    sleep 0.5
done
stop_weir 60 || fail "6: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/s6-b.log")"
broker consume s6-out $((2 * N)) --timeout-ms 5000 >"$WORK/s6-out.jsonl" 2>/dev/null || true
total=$(wc -l <"$WORK/s6-out.jsonl")
distinct=$(grep -o '"seq":[0-9]*' "$WORK/s6-out.jsonl" | sort -u | wc -l)
dead=$(kafka_topic_count s6-rejected)
say "6: $total outputs, $distinct distinct seqs of $N, $dead dead letters"
((dead == 0)) || fail "6: $dead records read again went to the dead letters (late against the restored state)"
((total >= N + n)) || fail "6: $total outputs: the restart did not read again the $n records output before the kill (no commit came before it)"
((distinct == N)) || fail "6: $((N - distinct)) inputs have no output"
# The window's figures are the uninterrupted run's, a replay's too where the
# restored events still hold its windows (none counted twice: one at the
# restored watermark was added again), and none where they do not (the
# events cut before the kill: NaN, not a count of what is left).
/usr/bin/python3 - "$WORK/ref.jsonl" "$WORK/s6-out.jsonl" >"$WORK/s6-window.txt" <<'PY' ||
import collections, json, sys
ref = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    ref[r["seq"]] = (r["n_30S"], r["mean_30S"])
figures = collections.defaultdict(list)  # seq: per output, has window figures
bad = []
for line in open(sys.argv[2]):
    r = json.loads(line)
    n, mean, want = r.get("n_30S"), r.get("mean_30S"), ref[r["seq"]]
    has = isinstance(mean, (int, float))
    figures[r["seq"]].append(has)
    if (has or n is not None) and (n != want[0] or not has or
                                   abs(mean - want[1]) > 1e-6 * max(1.0, abs(want[1]))):
        bad.append((r["seq"], n, mean, want))
bad += [(seq, "no figures on any of its outputs") for seq, h in figures.items() if not any(h)]
twice = [h for h in figures.values() if len(h) == 2]
with_ = sum(all(h) for h in twice)
print(f"{len(bad)} outputs whose window figures differ from the uninterrupted run's {bad[:3]}; "
      f"replays with figures {with_}, without {len(twice) - with_}")
sys.exit(1 if bad or with_ < 1 else 0)
PY
    fail "6: $(cat "$WORK/s6-window.txt")"
ok "6: at-least-once, kill -9: every input has an output, the replays none dead-lettered, every window figure the uninterrupted run's ($(cat "$WORK/s6-window.txt" | sed 's/.*; //'))"

# ---- 7. a configuration changed and changed back: a key's newest record wins -----------------
broker topic-create s7-in 1 >/dev/null
broker topic-create s7-out 1 >/dev/null
broker topic-create s7-rejected 1 >/dev/null
sed -n '1,700p' "$WORK/in.txt" >"$WORK/s7-1.txt"
sed -n '701,1400p' "$WORK/in.txt" >"$WORK/s7-2.txt"
sed -n '1401,1470p' "$WORK/in.txt" >"$WORK/s7-3.txt" # 10 a host: inside standardize's warm-up of 20
SETS7=(--set "source.brokers=$BOOT" --set 'source.topics=["s7-in"]' --set source.group=weir-s7
       --set source.guarantee=at_least_once --set sinks[0].topic=s7-out --set dead_letter.topic=s7-rejected
       --set 'state={"changelog": "weir-s7-changelog"}')
for run in 1 2 3; do
    extra=()
    ((run == 2)) && extra=(--set 'operators[2].mode=ewm')
    broker produce s7-in "$WORK/s7-$run.txt" --key-separator '|'
    start_weir "$WORK/s7-$run.log" "$PL" --workers 1 "${SETS7[@]}" "${extra[@]}"
    wait_lag0 weir-s7 s7-in 1 || fail "7: lag not 0 after 240 s: $(tail -n3 "$WORK/s7-$run.log")"
    stop_weir 60 || fail "7: weir exited with status $? after SIGTERM: $(tail -n3 "$WORK/s7-$run.log")"
done
grep -q "saved records skipped" "$WORK/s7-3.log" ||
    fail "7: the last run did not say it skipped the other configuration's records: $(tail -n3 "$WORK/s7-3.log")"
broker consume s7-out 1471 --timeout-ms 5000 >"$WORK/s7-out.jsonl" 2>/dev/null || true
fields "$WORK/s7-out.jsonl" | awk '$1 >= 1400' >"$WORK/s7-last.txt"
warm=$(awk '$2 == "0" || $2 == "0.0"' "$WORK/s7-last.txt" | wc -l)
last=$(wc -l <"$WORK/s7-last.txt")
((last == 70 && warm == 70)) ||
    fail "7: of the last run's $last outputs (70 expected) $warm have value_z 0 (in a fresh warm-up), 70 expected: a key came back with its older record's state"
ok "7: changed and changed back: the last run's keys start afresh (70 outputs in their warm-up)"

echo "$passed passed, $failed failed"
