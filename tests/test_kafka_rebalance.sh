#!/usr/bin/env bash
# Start-up rebalance duplicates (issue 8, item 4): one weir process with 4
# workers starts on a backlog (8 partitions) and writes into a FIFO that a
# reader drains slowly (~1.5 MB/s). Nothing fails during the run, so
# at-least-once must process every record exactly once: the outputs hold
# each seq once, and the summary counts the backlog once.
#
# Before the fix, worker 0 joined the group alone, took all 4 partitions and
# filled the slow sink with the backlog; worker 1 joined moments later, the
# rebalance revoked worker 0's partitions with their outputs still waiting on
# the FIFO, drain_timeout ran out and the new owner read them again
# (thousands of duplicates per run). Now the workers of one process hold
# their first assignment paused until every worker of the process has one.
#
# Four runs, each in a fresh group on the same backlog. drain_timeout is 0.5 s
# (not the default 10 s) so that a revocation with work in flight gives up
# soon. Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_REBALANCE_PORT (default 29920).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_REBALANCE_PORT:-29920}
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
PY=/usr/bin/python3
N=${WEIR_KAFKA_REBALANCE_N:-10000}
WORKERS=${WEIR_KAFKA_REBALANCE_WORKERS:-6}
RATE=${WEIR_KAFKA_REBALANCE_RATE:-300000}
RUNS=${WEIR_KAFKA_REBALANCE_RUNS:-4}
ok() { passed=$((passed + 1)); echo "test_kafka_rebalance: ok: $*"; }
fail() { failed=$((failed + 1)); echo "test_kafka_rebalance: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "test_kafka_rebalance: skipped: java is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-rebalance.XXXXXX)
KDIR=$T/kafka
WEIR_PID="" READER=""
cleanup() {
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null
    [[ -n $READER ]] && kill -KILL "$READER" 2>/dev/null
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "test_kafka_rebalance: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

kafka_start ""
kafka_topics rb-in:8 rb-out:8 rb-rej:1
awk -v n="$N" 'BEGIN { srand(5); for (i = 0; i < n; i++)
    printf "{\"seq\":%d,\"value\":%.3f,\"host\":\"h%d\",\"pad\":\"%s\"}\n", i, 50 + 10 * rand(), i % 7,
           "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" }' >"$T/in.jsonl"
"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic rb-in --key seq >"$T/replay.log" 2>&1 ||
    { fail "replay: $(tail -n1 "$T/replay.log")"; finish; }

# reader FIFO OUT BYTES_PER_S: copies the FIFO at that rate until its end.
reader() {
    "$PY" - "$@" <<'EOF'
import os, sys, time
fifo, out, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
fd, total, t0 = os.open(fifo, os.O_RDONLY), 0, time.monotonic()
with open(out, 'wb', buffering=0) as f:
    while True:
        b = os.read(fd, 16384)
        if not b:
            break
        f.write(b)
        total += len(b)
        ahead = total / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
EOF
}

for run in $(seq 1 $RUNS); do
    cat >"$T/p$run.json" <<EOF
{
  "name": "rebalance",
  "source": {"type": "kafka", "brokers": "$BOOT", "topics": ["rb-in"], "group": "weir-rb-$run",
             "max_records": 256, "drain_timeout": "500ms"},
  "operators": [
    {"type": "extract", "fields": {"value": "/value", "seq": "/seq"}},
    {"type": "standardize", "fields": ["value"], "out": ["value_z"], "warmup": 30}
  ],
  "sinks": [{"type": "kafka", "topic": "rb-out"}, {"type": "file", "path": "$T/fifo$run"}],
  "dead_letter": {"type": "kafka", "topic": "rb-rej"}
}
EOF
    mkfifo "$T/fifo$run"
    # The test holds the FIFO open until weir has exited, so the reader sees
    # its end only then, whoever opens and closes it before.
    exec 3<>"$T/fifo$run"
    reader "$T/fifo$run" "$T/out$run.jsonl" "$RATE" 3>&- &
    READER=$!
    t0=$SECONDS
    start_weir "$T/run$run.err" "$T/p$run.json" --workers "$WORKERS"
    # until every seq has an output (the reader lags weir by at most the pipe's 64 KB)
    deadline=$((SECONDS + 60))
    while ((SECONDS < deadline)) && kill -0 "$WEIR_PID" 2>/dev/null; do
        [[ $(sort -u "$T/out$run.jsonl" 2>/dev/null | wc -l) -ge $N ]] && break
        sleep 0.5
    done
    sleep 1 # duplicates still on their way
    rc=0
    if kill -0 "$WEIR_PID" 2>/dev/null; then
        stop_weir 30 || rc=$?
    else
        wait "$WEIR_PID"
        rc=$?
        WEIR_PID=""
        rc=$((rc == 0 ? 99 : rc))
    fi
    exec 3>&-
    for _ in $(seq 20); do kill -0 "$READER" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$READER" 2>/dev/null
    wait "$READER" 2>/dev/null
    READER=""
    secs=$((SECONDS - t0))
    read -r lines distinct <<<"$(sed -E 's/.*"seq":([0-9]+).*/\1/' "$T/out$run.jsonl" |
        awk '{ n++; if (!seen[$1]++) d++ } END { print n + 0, d + 0 }')"
    records_in=$(sed -n 's/^weir: [^:]*: \([0-9]*\) records in, .*/\1/p' "$T/run$run.err")
    assigned=$(grep -c 'rebalance: assigned' "$T/run$run.err")
    ((rc == 0)) || fail "run $run: exit $rc: $(grep -v ' records in, ' "$T/run$run.err" | tail -n2 | cut -c1-300)"
    if ((distinct == N && lines == N)) && [[ $records_in == "$N" ]]; then
        ok "run $run: $N records, each output once, $records_in read ($secs s, $assigned assignments)"
    else
        fail "run $run: $lines output lines for $distinct of $N records ($((lines - distinct)) duplicates), ${records_in:-?} records read ($assigned assignments)"
    fi
    grep -q 'were not acknowledged within drain_timeout' "$T/run$run.err" &&
        fail "run $run: a revocation abandoned work in flight: $(grep -m1 'drain_timeout' "$T/run$run.err" | cut -c1-200)"
done
finish
