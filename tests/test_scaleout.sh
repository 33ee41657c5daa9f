#!/usr/bin/env bash
# Scale-out and fail-over against a real broker (scripts/kafka/broker.sh,
# Kafka 4.1.1, KRaft, one node on 127.0.0.1, its own port and directory):
# "two weir processes in one group on a 6-partition topic split the
# partitions; kill one, the other takes over its partitions; zero input lost."
#
#   0. `weir replay FILE --key seq` into a 6-partition topic spreads the
#      records over all 6 partitions (the partitioner hashes the key).
#   1. A and B run the same pipeline (tests/pipelines/kafka-basic.json) in the
#      same group, --workers 1 each. Each writes to its own output topic
#      (so-out-a, so-out-b) and has its own client.id, so that outputs and
#      assignments can be told apart. ConsumerGroupCommand --describe must show
#      two consumers with 3 of the 6 partitions each.
#   2. The first half of 120,000 numbered records (key = seq, spread over the 6
#      partitions by broker.sh produce) goes in while both run: its first 30,000
#      at once, and each process writes at least one output per input on its
#      own partitions; then the next 30,000 at ~10,000 records/s.
#   3. kill -9 B as soon as it writes outputs for those (mid-stream: some of its
#      work is not committed yet), then produce the second half. --describe must
#      show all 6 partitions assigned to A; A writes an output for every record
#      of the second half on B's old partitions (B was dead when they came).
#   4. SIGTERM A: exit 0; the group's lag is 0 on all 6 partitions; every seq
#      has at least one output in so-out-a + so-out-b (duplicates are reported,
#      not failed: kill -9 is at-least-once).
#
# Skipped (77) only when Java is missing. Env: WEIR_BIN, WEIR_SRC; optional
# WEIR_SCALEOUT_PORT (default 19292), WEIR_SCALEOUT_N (default 120000).
set -u

SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:-$SRC/build/weir}
case $WEIR in /*) ;; *) WEIR=$PWD/$WEIR ;; esac
PORT=${WEIR_SCALEOUT_PORT:-19292}
N=${WEIR_SCALEOUT_N:-120000}
HALF=$((N / 2))
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
PL=$SRC/tests/pipelines/kafka-basic.json
GROUP=weir-scaleout

passed=0
failed=0
say() { echo "test_scaleout: $*"; }
ok() { passed=$((passed + 1)); say "ok: $*"; }
fail() { failed=$((failed + 1)); echo "test_scaleout: FAIL: $*"; }
finish() {
    ((failed == 0)) || [[ -z ${WORK:-} ]] || say "files kept in $WORK"
    echo "$passed passed, $failed failed"
    ((failed == 0)) && exit 0
    exit 1
}
# A failure after which the rest cannot run.
fatal() { fail "$*"; finish; }

command -v java >/dev/null 2>&1 || { echo "test_scaleout: skipped: java is not installed"; exit 77; }
[[ -x $WEIR ]] || fatal "weir binary not found at $WEIR (set WEIR_BIN)"

WORK=$(mktemp -d /tmp/weir-test-scaleout.XXXXXX)
KDIR=$WORK/kafka
PID_A="" PID_B="" PID_P=""
cleanup() {
    local rc=$?
    if [[ -n $PID_P ]]; then pkill -KILL -P "$PID_P" 2>/dev/null; kill -KILL "$PID_P" 2>/dev/null; fi
    local p
    for p in $PID_A $PID_B; do { kill -KILL "$p"; wait "$p"; } 2>/dev/null; done
    "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1
    ((rc == 0)) && rm -rf "$WORK"
}
trap cleanup EXIT

. "$(dirname "$0")/kafka_lib.sh"
# "PARTITION END-OFFSET" lines of topic $1.
end_offsets() {
    ktool org.apache.kafka.tools.GetOffsetShell --bootstrap-server "$BOOT" --topic "$1" 2>/dev/null |
        awk -F: '{print $2, $3}' | sort -n
}
topic_count() { end_offsets "$1" | awk '{s += $2} END {print s + 0}'; }
# The group's description; rows "PARTITION LAG CLIENT-ID" for topic so-in into $WORK/group.txt.
describe() {
    ktool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$BOOT" \
        --describe --group "$GROUP" >"$WORK/group-raw.txt" 2>&1
    awk '$2 == "so-in" {print $3, $6, $9}' "$WORK/group-raw.txt" | sort -n >"$WORK/group.txt"
}
alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
# Polls until "$@" succeeds (0), $1 seconds pass (1) or a weir process of
# $WATCH exits (2); every 0.5 s, plus the predicate's JVM start-up.
WATCH=""
poll() {
    local deadline=$((SECONDS + $1)) p
    shift
    while :; do
        for p in $WATCH; do alive "$p" || return 2; done
        "$@" && return 0
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}
# Fails the test when process A or B (if still expected to run) has exited.
check_alive() { # STEP
    alive "$PID_A" || fatal "$1: A exited: $(tail -n3 "$WORK/a.log")"
    [[ -z $PID_B ]] || alive "$PID_B" || fatal "$1: B exited: $(tail -n3 "$WORK/b.log")"
}
# Lines "SEQ|{"seq":SEQ,"value":V,"host":"hN"}" (key|value) for SEQ in [$1, $2).
gen() {
    awk -v a="$1" -v b="$2" 'BEGIN { srand(11); for (i = a; i < b; i++)
        printf "%d|{\"seq\":%d,\"value\":%.3f,\"host\":\"h%d\"}\n", i, i, 50 + 10 * rand(), i % 7 }'
}
# Produces FILE (key|value lines) into so-in: Kafka's partitioner spreads the keys.
produce() {
    broker produce so-in "$1" --key-separator '|' || fatal "cannot produce $1 into so-in"
}
# Starts process A or B of the group; its stderr goes to $WORK/NAME.log.
start_weir() {
    local name=$1
    "$WEIR" run "$PL" --workers 1 --set "source.brokers=$BOOT" --set 'source.topics=["so-in"]' \
        --set "source.group=$GROUP" --set "sinks[0].topic=so-out-$name" --set dead_letter.topic=so-rejected \
        --set "source.kafka={\"client.id\": \"weir-$name\", \"session.timeout.ms\": 6000,
                             \"heartbeat.interval.ms\": 1000, \"auto.commit.interval.ms\": 1000}" \
        2>"$WORK/$name.log" &
}

T0=$SECONDS
say "starting a Kafka broker on $BOOT"
broker start >/dev/null || fatal "the broker did not start: $(tail -n5 "$KDIR/broker.log" 2>/dev/null)"
for t in so-in:6 so-out-a:6 so-out-b:6 so-rejected:1 so-replay:6; do
    broker topic-create "${t%:*}" "${t#*:}" >/dev/null || fatal "cannot create topic ${t%:*}"
done
Q=$((HALF / 2))
gen 0 "$Q" >"$WORK/half1a.txt"
gen "$Q" "$HALF" >"$WORK/half1b.txt"
gen "$HALF" "$N" >"$WORK/half2.txt"

# ---- 0. weir replay --key spreads the records over the partitions ---------------------
head -n 600 "$WORK/half1a.txt" | cut -d'|' -f2- >"$WORK/replay.jsonl"
out=$("$WEIR" replay "$WORK/replay.jsonl" --brokers "$BOOT" --topic so-replay --key seq 2>&1)
rc=$?
end_offsets so-replay >"$WORK/replay-ends.txt"
used=$(awk '$2 > 0' "$WORK/replay-ends.txt" | wc -l)
total=$(awk '{s += $2} END {print s + 0}' "$WORK/replay-ends.txt")
if ((rc == 0 && total == 600 && used == 6)); then
    ok "0: weir replay --key seq: 600 records on all 6 partitions"
else
    fail "0: weir replay --key seq (exit $rc: $out): $total records on $used of 6 partitions (partition count: $(awk '{printf "%s:%s ", $1, $2}' "$WORK/replay-ends.txt"))"
fi

# ---- 1. two processes split the 6 partitions ---------------------------------------
start_weir a
PID_A=$!
start_weir b
PID_B=$!
WATCH="$PID_A $PID_B"
split_ok() {
    describe
    local a b
    a=$(awk '$3 == "weir-a"' "$WORK/group.txt" | wc -l)
    b=$(awk '$3 == "weir-b"' "$WORK/group.txt" | wc -l)
    ((a == 3 && b == 3))
}
if poll 60 split_ok; then
    ok "1: A and B split so-in: A has partitions $(awk '$3 == "weir-a" {printf "%s ", $1}' "$WORK/group.txt")and B has $(awk '$3 == "weir-b" {printf "%s ", $1}' "$WORK/group.txt")($((SECONDS - T0)) s)"
else
    check_alive 1
    fatal "1: no 3+3 split of the 6 partitions within 60 s:
$(cat "$WORK/group-raw.txt")"
fi
PARTS_A=$(awk '$3 == "weir-a" {print $1}' "$WORK/group.txt")
PARTS_B=$(awk '$3 == "weir-b" {print $1}' "$WORK/group.txt")

# ---- 2. first half while both run ------------------------------------------------------
produce "$WORK/half1a.txt"
end_offsets so-in >"$WORK/in-ends1.txt"
in_a=$(awk -v p=" $(echo $PARTS_A) " 'index(p, " " $1 " ") {s += $2} END {print s + 0}' "$WORK/in-ends1.txt")
in_b=$(awk -v p=" $(echo $PARTS_B) " 'index(p, " " $1 " ") {s += $2} END {print s + 0}' "$WORK/in-ends1.txt")
empty_parts=$(awk '$2 == 0' "$WORK/in-ends1.txt" | wc -l)
((in_a + in_b == Q && empty_parts == 0)) ||
    fatal "2: so-in holds $((in_a + in_b)) records ($empty_parts empty partitions), expected $Q on 6 partitions"
first_half_done() {
    out_a=$(topic_count so-out-a) out_b=$(topic_count so-out-b)
    ((out_a >= in_a && out_b >= in_b))
}
out_a=0 out_b=0
poll 60 first_half_done
if ((out_a >= in_a && out_b >= in_b)); then
    ok "2: both processes wrote their share: A $out_a outputs for $in_a inputs on its partitions, B $out_b for $in_b ($((SECONDS - T0)) s)"
else
    fail "2: A wrote $out_a outputs for $in_a inputs, B $out_b for $in_b (A: $(tail -n2 "$WORK/a.log"); B: $(tail -n2 "$WORK/b.log"))"
fi
check_alive 2

# The rest of the first half, paced (a rate, not a wait for correctness).
awk '{ print; if (NR % 500 == 0) { fflush(); system("sleep 0.05") } }' "$WORK/half1b.txt" |
    broker produce so-in - --key-separator '|' &
PID_P=$!
b_grew() { (($(topic_count so-out-b) > out_b)); }
poll 60 b_grew || fail "3: B wrote nothing for the next 30,000 records within 60 s"
check_alive 3

# ---- 3. kill -9 B; A takes its partitions over --------------------------------------
kill -KILL "$PID_B"
t_kill=$SECONDS
mid="mid-stream"
kill -0 "$PID_P" 2>/dev/null || mid="after the last record was produced (not mid-stream)"
wait "$PID_B" 2>/dev/null
PID_B=""
WATCH="$PID_A"
say "3: B killed (-9) at $((SECONDS - T0)) s, $mid"
wait "$PID_P" || { PID_P=""; fatal "3: producing $WORK/half1b.txt failed"; }
PID_P=""
say "3: producing the second half"
produce "$WORK/half2.txt"
all_to_a() {
    describe
    (($(awk '$3 == "weir-a"' "$WORK/group.txt" | wc -l) == 6))
}
if poll 60 all_to_a; then
    ok "3: A owns all 6 partitions $((SECONDS - t_kill)) s after the kill"
else
    check_alive 3
    fail "3: A does not own all 6 partitions 60 s after B's kill:
$(cat "$WORK/group-raw.txt")"
fi
lag_zero() { # the committed offsets of all 6 partitions reach the end
    describe
    [[ $(awk '{n++; if ($2 != "0") bad++} END {print n + 0, bad + 0}' "$WORK/group.txt") == "6 0" ]]
}
poll 90 lag_zero || { check_alive 3; fail "3: the group's lag is not 0 90 s after the second half:
$(cat "$WORK/group-raw.txt")"; }
check_alive 3

# ---- 4. SIGTERM A; lag 0; every input has an output -------------------------------
WATCH=""
kill -TERM "$PID_A"
deadline=$((SECONDS + 60))
while alive "$PID_A" && ((SECONDS < deadline)); do sleep 0.1; done
if alive "$PID_A"; then
    fail "4: A did not exit within 60 s of SIGTERM"
    kill -KILL "$PID_A"
fi
rc=0
wait "$PID_A" || rc=$?
PID_A=""
if ((rc == 0)); then ok "4: A exited 0 after SIGTERM: $(grep 'records in' "$WORK/a.log")"
else fail "4: A exited $rc after SIGTERM: $(tail -n3 "$WORK/a.log")"; fi
describe
lagged=$(awk '{n++; if ($2 != "0") bad++} END {print n + 0, bad + 0}' "$WORK/group.txt")
if [[ $lagged == "6 0" ]]; then ok "4: lag 0 on all 6 partitions of so-in after A left"
else fail "4: committed offsets do not cover the input (partitions, lagging: $lagged):
$(cat "$WORK/group-raw.txt")"; fi

# Every output, and the partition of every input.
consume() { # TOPIC COUNT [extra ConsoleConsumer args]: values (and what the args add) to stdout
    local topic=$1 n=$2
    shift 2
    ((n > 0)) || return 0
    ktool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOT" --topic "$topic" \
        --from-beginning --max-messages "$n" --timeout-ms 30000 "$@" 2>/dev/null
}
total_a=$(topic_count so-out-a) total_b=$(topic_count so-out-b)
consume so-out-a "$total_a" >"$WORK/out-a.txt"
consume so-out-b "$total_b" >"$WORK/out-b.txt"
consume so-in "$N" --property print.partition=true >"$WORK/in.txt"
got_a=$(wc -l <"$WORK/out-a.txt") got_b=$(wc -l <"$WORK/out-b.txt") got_in=$(wc -l <"$WORK/in.txt")
((got_a == total_a && got_b == total_b && got_in == N)) ||
    fail "4: read $got_a of $total_a outputs of A, $got_b of $total_b of B, $got_in of $N inputs"
seqs() { grep -ho '"seq":[0-9]*' "$@" | cut -d: -f2; }
seqs "$WORK/out-a.txt" "$WORK/out-b.txt" | sort -n | uniq -c | awk '{print $2, $1}' >"$WORK/counts.txt"
distinct=$(wc -l <"$WORK/counts.txt")
missing=$(awk -v n="$N" '$1 >= 0 && $1 < n {k++} END {print n - k}' "$WORK/counts.txt")
dups=$((total_a + total_b - distinct))
say "4: $N inputs, $((total_a + total_b)) outputs (A $total_a, B $total_b), $distinct distinct seq, $dups duplicates, $missing missing"
if ((missing == 0)); then ok "4: every seq has an output ($dups duplicates)"
else
    fail "4: $missing of $N inputs have no output, e.g. seq $(awk '{print $1}' "$WORK/counts.txt" |
        awk -v n="$N" '{s[$1] = 1} END {for (i = 0; i < n && k < 5; i++) if (!(i in s)) {printf "%d ", i; k++}}')"
fi
# The takeover, seen in the outputs: every second-half record on B's old
# partitions has an output from A (B was dead when they were produced); and
# how many of B's records from before the kill A processed again.
awk -F'\t' '{ sub(/^Partition:/, "", $1); match($2, /"seq":[0-9]+/); print substr($2, RSTART + 6, RLENGTH - 6), $1 }' \
    "$WORK/in.txt" >"$WORK/in-parts.txt"
seqs "$WORK/out-a.txt" | sort -u >"$WORK/seqs-a.txt"
read -r b_half2 b_half2_from_a < <(awk -v half="$HALF" -v p=" $(echo $PARTS_B) " '
    FILENAME == ARGV[1] { a[$1] = 1; next }
    $1 >= half && index(p, " " $2 " ") { n++; if ($1 in a) k++ }
    END { print n + 0, k + 0 }' "$WORK/seqs-a.txt" "$WORK/in-parts.txt")
again=$(awk -v half="$HALF" -v p=" $(echo $PARTS_B) " '
    FILENAME == ARGV[1] { a[$1] = 1; next }
    FILENAME == ARGV[2] { b[$1] = 1; next }
    $1 < half && index(p, " " $2 " ") && ($1 in a) && ($1 in b) { k++ }
    END { print k + 0 }' "$WORK/seqs-a.txt" <(seqs "$WORK/out-b.txt" | sort -u) "$WORK/in-parts.txt")
say "4: A processed $again records of B's partitions again that B had written before its kill"
if ((b_half2 > 0 && b_half2_from_a == b_half2)); then
    ok "4: A wrote outputs for all $b_half2 second-half records on B's old partitions"
else
    fail "4: A wrote outputs for $b_half2_from_a of the $b_half2 second-half records on B's old partitions ($(echo $PARTS_B))"
fi
dead=$(topic_count so-rejected)
((dead == 0)) && ok "4: no dead letters" || fail "4: $dead dead letters for well-formed input"
say "done in $((SECONDS - T0)) s"
finish
