#!/usr/bin/env bash
# bench/kafka_restart.sh: how long a weir process killed with SIGKILL takes,
# once restarted at once, to produce output again (issue 8, item 3: target
# 5 s). One weir process (--workers W, default 2) consumes topic "in" (4
# partitions) into "out"; the input arrives while it runs, at RATE records/s
# (weir replay), so there is always a backlog. Once a quarter of the outputs
# exist it is killed (SIGKILL) and started again immediately, with weir's
# log in logfmt (timestamps) and librdkafka's "cgrp" debug lines (and "eos"
# for the producer under exactly-once).
#
# Configurations (WEIR_RESTART_CONFIGS, default all four), RUNS times each,
# interleaved:
#   alo-dynamic  at-least-once, dynamic membership (weir's default)
#   alo-static   at-least-once, "instance_id" set (static membership)
#   eos-dynamic  exactly-once, dynamic membership
#   eos-static   exactly-once, "instance_id" set
#
# first_out: the restart (the moment `weir run` is started) to the first
# output record produced by the new process: the smallest CreateTime (set by
# the producer when weir hands the record to it) at or after the restart, read
# back from the output topic (read_committed under exactly-once: the record
# also committed). Break-down, from the restarted process's log, seconds after
# the restart: join (the last worker's JoinGroup completed: a generation; a
# dynamic member's first JoinGroup is only answered with its member id), sync (the last worker's
# SyncGroup response: assignment known), assigned (the last worker's
# "rebalance: assigned" line: weir's start-up hold releases there), txn (under
# exactly-once: the last worker's producer has its producer id, after it fenced
# the killed incarnation and its open transaction was aborted).
# missing / twice: distinct input seqs without an output, outputs beyond one
# per seq (read_committed under exactly-once), once everything is in.
#
# With BASELINE=/path/to/another/weir, every configuration also runs with
# that binary (column bin: "base"), interleaved with WEIR_BIN's ("new").
#
# usage: bench/kafka_restart.sh [RUNS] [RECORDS]   (default 2 and 30000)
# Env: WEIR_BIN (default build/weir), WEIR_KAFKA_BENCH_PORT (default 29970; +1
# the controller), WEIR_BENCH_RATE (default 3000), WEIR_BENCH_WORKERS (2),
# WEIR_RESTART_CONFIGS, KEEP=1 keeps the work directory. Takes
# /tmp/weir-kafka.lock (one broker at a time) and starts its own broker.
# Result: bench/results/kafka_restart.json.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z ${WEIR_KAFKA_LOCKED:-} ]]; then
    WEIR_KAFKA_LOCKED=1 exec flock /tmp/weir-kafka.lock "$0" "$@"
fi
WEIR=${WEIR_BIN:-$SRC/build/weir}
RUNS=${1:-2}
N=${2:-30000}
RATE=${WEIR_BENCH_RATE:-3000}
W=${WEIR_BENCH_WORKERS:-2}
CONFIGS=${WEIR_RESTART_CONFIGS:-alo-dynamic alo-static eos-dynamic eos-static}
PORT=${WEIR_KAFKA_BENCH_PORT:-29970}
OUT=$SRC/bench/results/kafka_restart.json
NAME=kafka_restart
. "$SRC/bench/kafka_bench_lib.sh"

cat >"$WORK/p.json" <<EOF
{
  "name": "restart-bench",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["in"], "group": "g"},
  "operators": [{"type": "extract", "fields": {"seq": "/seq", "value": "/value"}}],
  "sinks": [{"type": "kafka", "topic": "out"}],
  "dead_letter": {"type": "kafka", "topic": "rej"}
}
EOF

now_ms() { date +%s%3N; }

# The output topic with each message's CreateTime: "ms seq" per line.
read_out() {
    local topic=$1 iso=$2
    ktool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOT" --topic "$topic" \
        --from-beginning --timeout-ms 4000 --isolation-level "$iso" \
        --property print.timestamp=true 2>/dev/null |
        sed -n 's/^CreateTime:\([0-9]*\)\t.*"seq":\([0-9]*\).*/\1 \2/p'
}

# Seconds after T0 (ms) of the first (min) or last (max) per-worker first
# occurrence of a log line matching RE in the logfmt log FILE; "-" if none.
# Per worker: "(worker N)" in the line.
log_at() {
    local file=$1 re=$2 agg=$3 t0=$4
    /usr/bin/python3 - "$file" "$re" "$agg" "$t0" <<'PY'
import re, sys, datetime
path, pat, agg, t0 = sys.argv[1], re.compile(sys.argv[2]), sys.argv[3], int(sys.argv[4])
first = {}
for line in open(path, errors="replace"):
    m = re.match(r'ts=(\S+) ', line)
    if not m or not pat.search(line):
        continue
    w = re.search(r'\(worker (\d+)\)', line)
    key = w.group(1) if w else "?"
    if key in first:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000
    first[key] = t
if not first:
    print("-")
else:
    v = (min if agg == "min" else max)(first.values())
    print("%.2f" % ((v - t0) / 1000))
PY
}

# run CONFIG R WEIR_BINARY TAG: sets RESULT to "first_out join sync assigned txn missing twice"
run() {
    local cfg=$1 r=$2 WEIR=$3 id=$1-$2-$4 sets=() dbg iso=read_uncommitted t0 first
    local t=in-$id o=out-$id
    broker topic-create "$t" 4 >/dev/null && broker topic-create "$o" 4 >/dev/null &&
        broker topic-create "rej-$id" 1 >/dev/null || fail "topic-create"
    sets=(--set "source.topics=[\"$t\"]" --set "source.group=g-$id" --set "sinks[0].topic=$o"
          --set "dead_letter.topic=rej-$id" --workers "$W")
    dbg=(--set 'source.kafka={"debug": "cgrp"}')
    case $cfg in
        eos-*) sets+=(--set source.guarantee=exactly_once --set source.transactional_id="tx-$id")
               dbg+=(--set 'sinks[0].kafka={"debug": "eos"}')
               iso=read_committed ;;
    esac
    [[ $cfg == *-static ]] && sets+=(--set source.instance_id="host-$id")
    "$WEIR" replay "$WORK/in.jsonl" --brokers "$BOOT" --topic "$t" --key seq --rate "$RATE" \
        >"$WORK/replay-$id.log" 2>&1 & local pr=$!
    "$WEIR" run "$WORK/p.json" "${sets[@]}" 2>"$WORK/a-$id.log" & local pa=$!
    PIDS=("$pr" "$pa")
    WEIR_PID=$pa
    wait_count "$o" $((N / 4)) 120 >/dev/null || fail "$id: no progress: $(tail -n2 "$WORK/a-$id.log")"
    kill -KILL "$pa"; wait "$pa" 2>/dev/null || true
    t0=$(now_ms)
    "$WEIR" run "$WORK/p.json" "${sets[@]}" "${dbg[@]}" --log-format logfmt 2>"$WORK/b-$id.log" &
    local pb=$!
    PIDS=("$pr" "$pb")
    WEIR_PID=$pb
    wait "$pr" || fail "replay: $(tail -n1 "$WORK/replay-$id.log")"
    # everything in: every seq has an output (or 90 s passed)
    local deadline=$((SECONDS + 90)) d
    while :; do
        read_out "$o" "$iso" >"$WORK/out-$id.txt"
        d=$(cut -d' ' -f2 "$WORK/out-$id.txt" | sort -u | wc -l)
        ((d >= N || SECONDS >= deadline)) && break
        kill -0 "$pb" 2>/dev/null || break
        sleep 2
    done
    kill -TERM "$pb" 2>/dev/null || true
    wait "$pb" 2>/dev/null || true
    PIDS=()
    local total lb=$WORK/b-$id.log
    total=$(wc -l <"$WORK/out-$id.txt")
    first=$(awk -v t0="$t0" '$1 >= t0 && (m == "" || $1 < m) { m = $1 }
                             END { if (m == "") print "-"; else printf "%.2f", (m - t0) / 1000 }' "$WORK/out-$id.txt")
    RESULT="$first $(log_at "$lb" 'JoinGroup response: GenerationId [0-9]' max "$t0") \
$(log_at "$lb" 'SyncGroup response' max "$t0") $(log_at "$lb" 'rebalance: assigned' max "$t0") \
$(log_at "$lb" 'transactional producer.*(Acquired|[Ss]et|[Rr]eceived) .*(PID|[Pp]roducer ?[Ii][Dd])' max "$t0") \
$((N - d)) $((total - d))"
}

BINS=(new)
[[ -n ${BASELINE:-} ]] && BINS=(base new)
printf '%-12s %-4s %3s %9s %6s %6s %9s %6s %8s %6s\n' config bin run first_out join sync assigned txn missing twice
json="" ok=1
for r in $(seq "$RUNS"); do
    for cfg in $CONFIGS; do
        for bin in "${BINS[@]}"; do
            exe=$WEIR
            [[ $bin == base ]] && exe=$BASELINE
            run "$cfg" "$r" "$exe" "$bin"
            read -r first join sync asg txn miss twice <<<"$RESULT"
            printf '%-12s %-4s %3d %9s %6s %6s %9s %6s %8d %6d\n' "$cfg" "$bin" "$r" "$first" "$join" "$sync" \
                "$asg" "$txn" "$miss" "$twice"
            ((miss == 0)) || ok=0
            [[ $cfg == eos-* ]] && ((twice != 0)) && ok=0
            json+="${json:+,}{\"config\":\"$cfg\",\"bin\":\"$bin\",\"run\":$r,\"first_out_s\":\"$first\","
            json+="\"join_s\":\"$join\",\"sync_s\":\"$sync\",\"assigned_s\":\"$asg\",\"txn_s\":\"$txn\","
            json+="\"missing\":$miss,\"twice\":$twice}"
        done
    done
done
mkdir -p "$(dirname "$OUT")"
printf '{"bench":"kafka_restart","records":%d,"rate":%d,"workers":%d,"commit":"%s","librdkafka":"%s","runs":[%s]}\n' \
    "$N" "$RATE" "$W" "${WEIR_BENCH_COMMIT:-$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')}" \
    "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" "$json" >"$OUT"
echo "kafka_restart: wrote $OUT"
((ok)) || fail "missing outputs (or duplicates under exactly-once): see the table"
