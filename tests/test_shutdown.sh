#!/usr/bin/env bash
# Dependable shutdown. Each scenario runs RUNS times (JOBS at a time), every
# run under a deadline: a run still going LIMIT seconds after its stop (or,
# for the pipes, after it started) is a hang, killed and counted. Each
# scenario passes with zero hangs and exit status 0 in every run.
#   1. SIGINT during a paced replay on the embedded cluster (monitor-embedded,
#      replay.rate=2000), 0.2-0.7 s after the start: exit 0, "stopped by signal,
#      drained", the replay stopped early (no 30 s message timeout).
#   2. SIGTERM mid-run of a file -> file pipeline reading a FIFO whose writer
#      stays open: exit 0, and every record read was written (drained).
#   3. `weir run monitor-embedded --workers 2 | head -3`, the replay spread over
#      the partitions (both workers print alerts) and paced (replay.rate=4000)
#      so that the reader goes away mid-run: exit 0, no error line. This hung
#      in 7 of 10 runs before the run stopped every worker when one ended.
#   4. EPIPE on stdout (a file pipeline | head -3): exit 0 (SIGPIPE does not
#      kill weir), one line on stderr: the summary, saying stdout was closed.
#   5. A second signal exits at once (128 + signal) while the first one's drain
#      waits on an output nobody reads (a FIFO whose reader never reads).
#
# Env: WEIR_BIN, WEIR_SRC; WEIR_SHUTDOWN_RUNS (20), WEIR_SHUTDOWN_JOBS (4),
# WEIR_SHUTDOWN_LIMIT (seconds, 10; sanitizer builds may need more).
set -u

. "$(dirname "$0")/lib.sh"

RUNS=${WEIR_SHUTDOWN_RUNS:-20}
JOBS=${WEIR_SHUTDOWN_JOBS:-4}
LIMIT=${WEIR_SHUTDOWN_LIMIT:-10}
DATA=../shared/data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv
T=$(mktemp -d /tmp/weir-test-shutdown.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

if [ ! -r "$DATA" ]; then
    fail "the demo's data file $DATA is missing"
    finish
fi

now_ms() { date +%s%3N; }

# taking_signals PID: waits (up to LIMIT s) until weir takes SIGINT and
# SIGTERM as stop requests, which it does from the start of `weir run`: it
# blocks them (main.c), its threads inherit the mask, and the main thread takes
# them with sigtimedwait. Seen from outside: some thread of the process has
# SIGINT in its SigBlk (the main thread's mask shows it unblocked while it
# sits in sigtimedwait, the workers' always show it). Counting threads is not
# enough: ThreadSanitizer's runtime starts a thread of its own before main,
# and a signal then is lost or kills the process.
taking_signals() {
    local t0 blk
    t0=$(now_ms)
    while [ $(($(now_ms) - t0)) -lt $((LIMIT * 1000)) ]; do
        [ -d "/proc/$1/task" ] || return
        for blk in $(cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^SigBlk:/ {print $2}'); do
            [ $((16#$blk & 2)) -ne 0 ] && return # bit 1: SIGINT (2)
        done
        sleep 0.01
    done
}

# stop_and_wait PID SIG DELAY: sends SIG to PID DELAY seconds after it takes
# signals, then waits up to LIMIT s for it to exit. Sets RC (124: a hang,
# killed) and TOOK (ms from the signal to the exit).
stop_and_wait() {
    local pid=$1 sig=$2 t0
    taking_signals "$pid"
    sleep "$3"
    kill -"$sig" "$pid" 2>/dev/null
    t0=$(now_ms)
    while kill -0 "$pid" 2>/dev/null; do
        if [ $(($(now_ms) - t0)) -gt $((LIMIT * 1000)) ]; then
            kill -KILL "$pid" 2>/dev/null
            wait "$pid" 2>/dev/null
            RC=124 TOOK=$(($(now_ms) - t0))
            return
        fi
        sleep 0.02
    done
    wait "$pid"
    RC=$?
    TOOK=$(($(now_ms) - t0))
}

# in_pipe K NAME ARGS...: `weir ARGS | head -3` under a deadline of LIMIT s;
# sets RC (weir's exit status; 124 on a hang) and TOOK (ms).
in_pipe() {
    local k=$1 name=$2 t0
    shift 2
    t0=$(now_ms)
    timeout -k 2 "$LIMIT" bash -c '"$@" 2>"'"$T/$name.$k.err"'" </dev/null | head -3 >/dev/null
                                   exit "${PIPESTATUS[0]}"' _ "$WEIR_BIN" "$@"
    RC=$?
    TOOK=$(($(now_ms) - t0))
}

# ---- the scenarios: one run each, K its number; each appends "K RC TOOK NOTE" -------

s1_sigint_replay() {
    local k=$1 pid
    # A background job of a script starts with SIGINT ignored; a terminal's
    # Ctrl-C reaches a program whose SIGINT is not: give weir that.
    env --default-signal=INT "$WEIR_BIN" run pipelines/monitor-embedded.json --set replay.rate=2000 \
        >"$T/s1.$k.out" 2>"$T/s1.$k.err" </dev/null &
    pid=$!
    stop_and_wait "$pid" INT "0.$((2 + k % 6))"
    local note=ok
    grep -q 'stopped by signal, drained' "$T/s1.$k.err" || note="no 'stopped by signal' summary"
    grep -qi 'timed out\|failed' "$T/s1.$k.err" && note="an error: $(grep -i -m1 'timed out\|failed' "$T/s1.$k.err")"
    echo "$k $RC $TOOK $note" >>"$T/s1.res"
}

s2_sigterm_fifo() {
    local k=$1 pid wpid
    mkfifo "$T/in.$k.fifo"
    { head -n 3001 "$DATA"; exec sleep 30; } >"$T/in.$k.fifo" &
    wpid=$!
    "$WEIR_BIN" run pipelines/monitor-cpu.json --set "source.path=$T/in.$k.fifo" \
        --set source.format=csv --set "sinks[0].path=$T/s2.$k.jsonl" \
        --set "dead_letter.path=$T/s2.$k.dead.jsonl" >/dev/null 2>"$T/s2.$k.err" </dev/null &
    pid=$!
    stop_and_wait "$pid" TERM "0.$((2 + k % 4))"
    kill "$wpid" 2>/dev/null
    local note=ok lines in
    lines=$(($(wc -l <"$T/s2.$k.jsonl") + $(cat "$T/s2.$k.dead.jsonl" 2>/dev/null | wc -l)))
    in=$(sed -n 's/^weir: monitor-cpu: \([0-9]*\) records in.*/\1/p' "$T/s2.$k.err")
    grep -q 'stopped by signal, drained' "$T/s2.$k.err" || note="no 'stopped by signal' summary"
    [ "${in:-x}" = "$lines" ] || note="$lines lines written for ${in:-?} records read (not drained)"
    echo "$k $RC $TOOK $note" >>"$T/s2.res"
}

s3_head_embedded() {
    local k=$1
    in_pipe "$k" s3 run pipelines/monitor-embedded.json --workers 2 \
        --set replay.partition=-1 --set replay.rate=4000
    local note=ok
    grep -qi 'broken pipe\|failed\|timed out' "$T/s3.$k.err" && note="an error: $(grep -i -m1 'broken pipe\|failed\|timed out' "$T/s3.$k.err")"
    echo "$k $RC $TOOK $note" >>"$T/s3.res"
}

s4_epipe_stdout() {
    local k=$1
    in_pipe "$k" s4 run pipelines/monitor-cpu.json --set 'sinks[0].path=-' \
        --set "dead_letter.path=$T/s4.$k.dead.jsonl"
    local note=ok
    if [ "$(wc -l <"$T/s4.$k.err")" -ne 1 ] ||
        ! grep -q '(stopped: <stdout> was closed by its reader)$' "$T/s4.$k.err"; then
        note="stderr is not the one summary line: $(head -c 300 "$T/s4.$k.err" | tr '\n' '|')"
    fi
    echo "$k $RC $TOOK $note" >>"$T/s4.res"
}

# repeat NAME FN: RUNS runs of FN, JOBS at a time; then one ok/fail line.
repeat() {
    local name=$1 fn=$2 k res=$T/${2%%_*}.res
    : >"$res"
    for ((k = 1; k <= RUNS; k++)); do
        "$fn" "$k" &
        (( k % JOBS == 0 )) && wait
    done
    wait
    local hangs bad worst
    hangs=$(awk '$2 == 124 || $2 == 137' "$res" | wc -l)
    bad=$(awk '$2 != 0 || $4 != "ok"' "$res" | wc -l)
    worst=$(sort -k3 -n "$res" | tail -n1 | awk '{print $3}')
    if [ "$(wc -l <"$res")" -eq "$RUNS" ] && [ "$hangs" -eq 0 ] && [ "$bad" -eq 0 ]; then
        echo "test_shutdown: ok: $name: $RUNS runs, 0 hangs, all exit 0 (slowest ${worst} ms)"
        ok
    else
        fail "$name: $RUNS runs, $hangs hangs (over $LIMIT s), $bad bad:
$(awk '$2 != 0 || $4 != "ok"' "$res" | head -n 5 | sed 's/^/    run /')"
    fi
}

repeat "1. SIGINT during a paced embedded replay" s1_sigint_replay
repeat "2. SIGTERM mid-run, file -> file from a FIFO" s2_sigterm_fifo
repeat "3. | head -3, embedded, --workers 2" s3_head_embedded
repeat "4. EPIPE on stdout (file pipeline | head -3)" s4_epipe_stdout

# ---- 5. a second signal exits at once ------------------------------------------------
mkfifo "$T/out.fifo"
sleep 60 <"$T/out.fifo" & # opens the FIFO and never reads it
reader=$!
"$WEIR_BIN" run pipelines/monitor-cpu.json --set "sinks[0].path=$T/out.fifo" \
    --set "dead_letter.path=$T/s5.dead.jsonl" >/dev/null 2>"$T/s5.err" </dev/null &
pid=$!
taking_signals "$pid"
# The first TERM must find output waiting for the FIFO (so the drain cannot
# finish): wait until the pipe is full (its 64 KiB of ~1.2 MB), up to 10 s.
/usr/bin/python3 - "$T/out.fifo" <<'EOF'
import fcntl, os, struct, sys, termios, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)  # reads nothing: only looks
for _ in range(200):
    if struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\0' * 4))[0] >= 60000:
        break
    time.sleep(0.05)
EOF
kill -TERM "$pid"
sleep 0.5
alive=0
kill -0 "$pid" 2>/dev/null && alive=1 # still draining into the FIFO nobody reads
stop_and_wait "$pid" TERM 0
kill "$reader" 2>/dev/null
if [ "$alive" -eq 1 ] && [ "$RC" -eq 143 ] && [ "$TOOK" -lt 3000 ] &&
    grep -q 'second signal' "$T/s5.err"; then
    echo "test_shutdown: ok: 5. a second SIGTERM exited at once (143, ${TOOK} ms) while the first one drained"
    ok
else
    fail "5. second signal: still draining after the first: $alive; exit $RC after $TOOK ms; stderr: $(head -c 300 "$T/s5.err")"
fi

finish
