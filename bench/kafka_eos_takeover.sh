#!/usr/bin/env bash
# bench/kafka_eos_takeover.sh: exactly-once after a member is killed (issue 8,
# item 3). Two weir processes in one consumer group, "guarantee":
# "exactly_once", one worker each (their own transactional_id); process B is
# killed with SIGKILL mid-stream, with a transaction open. Its open
# transaction holds back read_committed readers of every output partition it
# wrote (process A's outputs there too) until the broker aborts it,
# transaction.timeout.ms after it began, checked every
# transaction.abort.timed.out.transaction.cleanup.interval.ms (the broker's
# default, 10 s). A watcher (a third weir, reading the output topic with
# librdkafka's isolation.level=read_committed into a file) timestamps when
# every input's output is visible.
#
# Since connectors/kafka_fence.c, A fences B's transactional id once the group
# drops B (init_transactions with it: the broker aborts the open transaction
# at once), so visibility follows the group session timeout, not the
# transaction timeout.
#
# Configurations, RUNS times each, interleaved:
#   txn60s   the sink's "kafka": {"transaction.timeout.ms": 60000}: librdkafka's
#            default, what weir used before (without the fence: the baseline)
#   sess10s  the source's "kafka": {"session.timeout.ms": 10000}: the session
#            weir used under exactly-once before the fence
#   default  weir's defaults (transaction timeout 10 s, connectors/kafka_common.h;
#            session 6 s under exactly-once, kafka_source.c)
# Per run: takeover = the kill to A's assignment of B's partitions (the group
# session timeout); fence = the kill to A's "fenced transactional id" line
# ("-": none; it comes once init_transactions returned, after the abort); input = the kill to the end of the input (no output can be
# visible before its input exists: a floor under visible); visible = the kill
# to every output visible
# to read_committed; missing and twice, counted from the watcher's file once
# everything is visible (plus 3 s).
#
# usage: bench/kafka_eos_takeover.sh [RUNS] [RECORDS]   (default 2 and 60000)
# The input is produced while the members run, at WEIR_BENCH_RATE records/s
# (default 4000); B is killed once a quarter of the outputs exist.
# Env: WEIR_BIN (default build/weir), WEIR_KAFKA_BENCH_PORT (default 29957; +1
# the controller). Starts its own broker. Result: bench/results/kafka_eos_takeover.json.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
WEIR=${WEIR_BIN:-$SRC/build/weir}
RUNS=${1:-2}
N=${2:-60000}
RATE=${WEIR_BENCH_RATE:-4000}
PORT=${WEIR_KAFKA_BENCH_PORT:-29957}
OUT=$SRC/bench/results/kafka_eos_takeover.json
NAME=kafka_eos_takeover
. "$SRC/bench/kafka_bench_lib.sh"

# The members' pipeline (extract only: the takeover, not state restore, is
# measured). Outputs keep the input's key (seq), so an output produced again
# by A lands in the partition B's open transaction holds back.
cat >"$WORK/member.json" <<EOF
{
  "name": "eos-bench",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["in"], "group": "g",
             "guarantee": "exactly_once", "commit_interval": "200ms"},
  "operators": [{"type": "extract", "fields": {"seq": "/seq", "value": "/value"}}],
  "sinks": [{"type": "kafka", "topic": "out"}],
  "dead_letter": {"type": "kafka", "topic": "rej"}
}
EOF
cat >"$WORK/watch.json" <<EOF
{
  "name": "eos-watch",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["out"], "group": "w",
             "kafka": {"isolation.level": "read_committed"}},
  "operators": [{"type": "extract", "fields": {"seq": "/seq"}}],
  "sinks": [{"type": "file", "path": "$WORK/seen.jsonl", "fields": ["seq"]}]
}
EOF

now() { date +%s.%N; }
distinct() { { grep -o '"seq":[0-9]*' "$1" 2>/dev/null || true; } | sort -u | wc -l; }

# run CONFIG R: sets RESULT to "takeover fence input visible missing twice"
run() {
    local cfg=$1 r=$2 t=in-$1-$2 o=out-$1-$2 sets=() tk tf ti tv t0 d total
    broker topic-create "$t" 4 >/dev/null && broker topic-create "$o" 4 >/dev/null &&
        broker topic-create "rej-$cfg-$r" 1 >/dev/null || fail "topic-create"
    sets=(--set "source.topics=[\"$t\"]" --set "source.group=g-$cfg-$r" --set "sinks[0].topic=$o"
          --set "dead_letter.topic=rej-$cfg-$r")
    [[ $cfg == txn60s ]] && sets+=(--set 'sinks[0].kafka={"transaction.timeout.ms": 60000}'
                                   --set 'dead_letter.kafka={"transaction.timeout.ms": 60000}')
    [[ $cfg == sess10s ]] && sets+=(--set 'source.kafka={"session.timeout.ms": 10000}')
    rm -f "$WORK/seen.jsonl"
    "$WEIR" run "$WORK/watch.json" --set "source.topics=[\"$o\"]" --set "source.group=w-$cfg-$r" \
        2>"$WORK/watch-$cfg-$r.log" & local pw=$!
    "$WEIR" run "$WORK/member.json" "${sets[@]}" --workers 1 --set "source.transactional_id=a-$cfg-$r" \
        2>"$WORK/a-$cfg-$r.log" & local pa=$!
    "$WEIR" run "$WORK/member.json" "${sets[@]}" --workers 1 --set "source.transactional_id=b-$cfg-$r" \
        2>"$WORK/b-$cfg-$r.log" & local pb=$!
    # the input arrives while they run, at RATE records/s: B is mid-transaction when killed
    "$WEIR" replay "$WORK/in.jsonl" --brokers "$BOOT" --topic "$t" --key seq --rate "$RATE" \
        >"$WORK/replay-$cfg-$r.log" 2>&1 & local pr=$!
    PIDS=("$pw" "$pa" "$pb" "$pr")
    WEIR_PID=$pb
    wait_count "$o" $((N / 4)) 120 >/dev/null || fail "$cfg: no progress: $(tail -n2 "$WORK/b-$cfg-$r.log")"
    grep -q 'assigned [1-9]' "$WORK/b-$cfg-$r.log" || fail "$cfg: B has no partitions"
    local assigned_before
    assigned_before=$(grep -c 'rebalance: assigned' "$WORK/a-$cfg-$r.log" || true)
    kill -KILL "$pb"; wait "$pb" 2>/dev/null || true
    t0=$(now) tk="" tf="" ti="" tv=""
    while :; do
        [[ -z $tf ]] && grep -q 'fenced transactional id' "$WORK/a-$cfg-$r.log" &&
            tf=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
        [[ -z $ti ]] && ! kill -0 "$pr" 2>/dev/null &&
            ti=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
        if [[ -z $tk ]] && (($(grep -c 'rebalance: assigned [1-9]' "$WORK/a-$cfg-$r.log" || true) > assigned_before)); then
            tk=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
        fi
        d=$(distinct "$WORK/seen.jsonl")
        if ((d >= N)); then tv=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }'); break; fi
        awk -v a="$(now)" -v b="$t0" 'BEGIN { exit !(a - b > 150) }' && break
        sleep 0.2
    done
    for _ in $(seq 15); do # 3 s more; the fence's line may come after the outputs
        [[ -z $tf ]] && grep -q 'fenced transactional id' "$WORK/a-$cfg-$r.log" &&
            tf=$(awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
        sleep 0.2
    done
    wait "$pr" || fail "replay: $(tail -n1 "$WORK/replay-$cfg-$r.log")"
    for p in "$pa" "$pw"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    PIDS=()
    d=$(distinct "$WORK/seen.jsonl")
    total=$(grep -c '"seq"' "$WORK/seen.jsonl" || true)
    RESULT="${tk:-?} ${tf:--} ${ti:-?} ${tv:-timeout} $((N - d)) $((total - d))"
}

printf '%-8s %3s %11s %8s %8s %10s %8s %6s\n' config run takeover_s fence_s input_s visible_s \
    missing twice
json="" ok=1
for r in $(seq "$RUNS"); do
    for cfg in txn60s sess10s default; do
        run "$cfg" "$r"
        read -r tk tf ti tv miss twice <<<"$RESULT"
        printf '%-8s %3d %11s %8s %8s %10s %8d %6d\n' "$cfg" "$r" "$tk" "$tf" "$ti" "$tv" "$miss" \
            "$twice"
        ((miss == 0 && twice == 0)) || ok=0
        json+="${json:+,}{\"config\":\"$cfg\",\"run\":$r,\"takeover_s\":\"$tk\",\"fence_s\":\"$tf\",\"input_s\":\"$ti\",\"visible_s\":\"$tv\",\"missing\":$miss,\"twice\":$twice}"
    done
done
mkdir -p "$(dirname "$OUT")"
printf '{"bench":"kafka_eos_takeover","records":%d,"librdkafka":"%s","runs":[%s]}\n' \
    "$N" "$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')" "$json" >"$OUT"
echo "kafka_eos_takeover: wrote $OUT"
((ok)) || fail "missing or duplicated outputs (see the table)"
