#!/usr/bin/env bash
# Golden test: a fixed input (tests/golden/input.jsonl, 200 host-metric lines
# with 4 spikes and 5 rejects, made once by tests/golden/gen_input.py) through
# tests/golden/pipeline.json (extract -> standardize -> score -> threshold)
# must give tests/golden/expected.jsonl and expected-dead.jsonl byte for byte:
# from a file, with --workers 2, with other batch and read sizes, from
# standard input (a file and a pipe), to standard output. Then a SIGTERM sent
# to a run reading a pipe that never ends must drain: exit 0, everything read
# before the signal written out, no torn lines.
#
# The expected files were checked independently when they were made (Welford
# z-scores of earlier records, erf scores, >= 0.999 alerts after 20 records).
# When a change alters them on purpose, regenerate with:
#   build/weir run tests/golden/pipeline.json --quiet \
#     --set sinks[0].path=tests/golden/expected.jsonl \
#     --set dead_letter.path=tests/golden/expected-dead.jsonl
# and review the diff.
#
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
cleanup() {
    [ -n "${WEIR_PID:-}" ] && kill -KILL "$WEIR_PID" 2>/dev/null
    exec 3>&- 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

G=tests/golden
PIPE=$G/pipeline.json
IN=$G/input.jsonl
EXP=$G/expected.jsonl
EXP_DEAD=$G/expected-dead.jsonl

# same NAME FILE EXPECTED: FILE equals EXPECTED byte for byte.
same() {
    if cmp -s "$2" "$3"; then
        ok
    else
        fail "$1: $2 differs from $3"
        diff "$3" "$2" | head -n 10
    fi
}

# expect_rc NAME WANT GOT
expect_rc() {
    if [ "$3" -eq "$2" ]; then ok; else fail "$1: exit code $3, expected $2 (stderr: $(head -c 400 "$T/err" 2>/dev/null))"; fi
}

# run_case NAME [ARGS...]: runs the golden pipeline into $T/NAME.jsonl and
# $T/NAME-dead.jsonl (standard input is inherited).
run_case() {
    local name=$1
    shift
    "$WEIR_BIN" run "$PIPE" --quiet --set "sinks[0].path=$T/$name.jsonl" \
        --set "dead_letter.path=$T/$name-dead.jsonl" "$@" 2>"$T/err"
}

# --- the committed input is what the generator makes --------------------------
if command -v python3 >/dev/null 2>&1; then
    python3 $G/gen_input.py >"$T/regen.jsonl"
    same "gen_input.py reproduces input.jsonl" "$T/regen.jsonl" "$IN"
fi
lines_in=$(wc -l <"$IN")
lines_out=$(wc -l <"$EXP")
lines_dead=$(wc -l <"$EXP_DEAD")
if [ "$lines_in" -eq $((lines_out + lines_dead)) ] && [ "$lines_dead" -gt 0 ] &&
    [ "$(grep -c '"alert":true' "$EXP")" -gt 0 ]; then
    ok
else
    fail "golden files: $lines_in input lines != $lines_out output + $lines_dead dead, or no alerts"
fi

# --- file to file --------------------------------------------------------------
run_case file
expect_rc "file source" 0 $?
same "file source: output" "$T/file.jsonl" "$EXP"
same "file source: dead letters" "$T/file-dead.jsonl" "$EXP_DEAD"

# --- --workers 2: a file is one partition, so one worker and the same output ----
run_case workers --workers 2
expect_rc "--workers 2" 0 $?
same "--workers 2: output" "$T/workers.jsonl" "$EXP"
same "--workers 2: dead letters" "$T/workers-dead.jsonl" "$EXP_DEAD"
"$WEIR_BIN" run "$PIPE" --workers 2 --set "sinks[0].path=$T/w2.jsonl" \
    --set "dead_letter.path=$T/w2-dead.jsonl" 2>"$T/err"
if grep -q ", 1 worker" "$T/err"; then ok; else fail "--workers 2 with a file source: summary does not say 1 worker: $(cat "$T/err")"; fi

# --- batching and read sizes must not change results ---------------------------
run_case batch1 --set source.max_records=1
expect_rc "max_records=1" 0 $?
same "max_records=1: output" "$T/batch1.jsonl" "$EXP"
same "max_records=1: dead letters" "$T/batch1-dead.jsonl" "$EXP_DEAD"
run_case small_reads --set source.read_size=4096 --set source.max_records=1024
expect_rc "read_size=4096" 0 $?
same "read_size=4096: output" "$T/small_reads.jsonl" "$EXP"
same "read_size=4096: dead letters" "$T/small_reads-dead.jsonl" "$EXP_DEAD"

# --- standard input: a redirected file, then a pipe ------------------------------
# Dead letters name their source: <stdin> instead of the file's path.
sed 's|"source":"tests/golden/input.jsonl"|"source":"<stdin>"|' "$EXP_DEAD" >"$T/exp-dead-stdin.jsonl"
run_case stdin_file --set source.path=- <"$IN"
expect_rc "stdin (file)" 0 $?
same "stdin (file): output" "$T/stdin_file.jsonl" "$EXP"
same "stdin (file): dead letters" "$T/stdin_file-dead.jsonl" "$T/exp-dead-stdin.jsonl"
cat "$IN" | run_case stdin_pipe --set source.path=-
expect_rc "stdin (pipe)" 0 $?
same "stdin (pipe): output" "$T/stdin_pipe.jsonl" "$EXP"
same "stdin (pipe): dead letters" "$T/stdin_pipe-dead.jsonl" "$T/exp-dead-stdin.jsonl"

# --- standard output --------------------------------------------------------------
"$WEIR_BIN" run "$PIPE" --quiet --set "sinks[0].path=-" --set "dead_letter.path=$T/stdout-dead.jsonl" \
    >"$T/stdout.jsonl" 2>"$T/err"
expect_rc "stdout sink" 0 $?
same "stdout sink: output" "$T/stdout.jsonl" "$EXP"
same "stdout sink: dead letters" "$T/stdout-dead.jsonl" "$EXP_DEAD"
if [ ! -s "$T/err" ]; then ok; else fail "stdout sink with --quiet: unexpected stderr: $(head -c 400 "$T/err")"; fi

# stdin to stdout, through a pipe on both sides
cat "$IN" | "$WEIR_BIN" run "$PIPE" --quiet --set source.path=- --set "sinks[0].path=-" \
    --set "dead_letter.path=$T/both-dead.jsonl" 2>"$T/err" | cat >"$T/both.jsonl"
rc=${PIPESTATUS[1]}
expect_rc "stdin to stdout" 0 "$rc"
same "stdin to stdout: output" "$T/both.jsonl" "$EXP"
same "stdin to stdout: dead letters" "$T/both-dead.jsonl" "$T/exp-dead-stdin.jsonl"

# --- SIGTERM on a never-ending pipe drains ----------------------------------------
# count_lines FILE...: lines in the files that exist (0 when none).
count_lines() {
    local n=0 f
    for f in "$@"; do [ -f "$f" ] && n=$((n + $(wc -l <"$f"))); done
    echo "$n"
}

# wait_exit PID SECONDS: polls until PID has exited; 1 on timeout.
wait_exit() {
    local end=$((SECONDS + $2))
    while kill -0 "$1" 2>/dev/null; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.05
    done
    return 0
}

# Dead letters name the fifo as their source.
N=100
mkfifo "$T/fifo"
exec 3<>"$T/fifo" # read-write: never blocks, and keeps a writer so the pipe never ends
"$WEIR_BIN" run "$PIPE" --set "source.path=$T/fifo" --set "sinks[0].path=$T/sig.jsonl" \
    --set "dead_letter.path=$T/sig-dead.jsonl" 2>"$T/sig.err" &
WEIR_PID=$!
head -n "$N" "$IN" >&3
end=$((SECONDS + 20))
while [ "$(count_lines "$T/sig.jsonl" "$T/sig-dead.jsonl")" -lt "$N" ] && [ "$SECONDS" -lt "$end" ] &&
    kill -0 "$WEIR_PID" 2>/dev/null; do
    sleep 0.05
done
got=$(count_lines "$T/sig.jsonl" "$T/sig-dead.jsonl")
if [ "$got" -eq "$N" ]; then
    ok
else
    fail "pipe: $got of $N lines written out within 20 s, before any signal (records wait for more input?)"
fi
if kill -0 "$WEIR_PID" 2>/dev/null; then
    ok
else
    fail "pipe: weir exited while its input was still open: $(cat "$T/sig.err")"
fi
kill -TERM "$WEIR_PID" 2>/dev/null
if wait_exit "$WEIR_PID" 10; then
    wait "$WEIR_PID"
    rc=$?
    WEIR_PID=
    expect_rc "SIGTERM drain" 0 "$rc"
else
    fail "SIGTERM: weir still running 10 s after the signal"
    kill -KILL "$WEIR_PID"
    wait "$WEIR_PID" 2>/dev/null
    WEIR_PID=
fi
exec 3>&-
dead_n=$(sed -n 's/.*"line":\([0-9]*\),.*/\1/p' "$EXP_DEAD" | awk -v n="$N" '$1 <= n' | wc -l)
head -n $((N - dead_n)) "$EXP" >"$T/sig-exp.jsonl"
head -n "$dead_n" "$EXP_DEAD" | sed "s|\"source\":\"tests/golden/input.jsonl\"|\"source\":\"$T/fifo\"|" >"$T/sig-exp-dead.jsonl"
same "SIGTERM drain: output" "$T/sig.jsonl" "$T/sig-exp.jsonl"
same "SIGTERM drain: dead letters" "$T/sig-dead.jsonl" "$T/sig-exp-dead.jsonl"
if grep -q "stopped by signal, drained" "$T/sig.err" && grep -q "$N records in" "$T/sig.err"; then
    ok
else
    fail "SIGTERM drain: summary should count $N records in and say it was stopped by a signal: $(cat "$T/sig.err")"
fi

# A signal while lines are still arriving: what was written out is a prefix
# of the expected output, in whole lines, and exit is still 0.
rm -f "$T/fifo"
mkfifo "$T/fifo"
exec 3<>"$T/fifo"
"$WEIR_BIN" run "$PIPE" --quiet --set "source.path=$T/fifo" --set "sinks[0].path=$T/sig2.jsonl" \
    --set "dead_letter.path=$T/sig2-dead.jsonl" 2>"$T/sig2.err" &
WEIR_PID=$!
head -n 10 "$IN" >&3
end=$((SECONDS + 20))
while [ "$(count_lines "$T/sig2.jsonl")" -lt 10 ] && [ "$SECONDS" -lt "$end" ] &&
    kill -0 "$WEIR_PID" 2>/dev/null; do
    sleep 0.05
done
tail -n +11 "$IN" >&3
kill -TERM "$WEIR_PID" 2>/dev/null
if wait_exit "$WEIR_PID" 10; then
    wait "$WEIR_PID"
    rc=$?
    WEIR_PID=
    expect_rc "SIGTERM mid-stream" 0 "$rc"
else
    fail "SIGTERM mid-stream: weir still running 10 s after the signal"
    kill -KILL "$WEIR_PID"
    wait "$WEIR_PID" 2>/dev/null
    WEIR_PID=
fi
exec 3>&-
n_out=$(count_lines "$T/sig2.jsonl")
head -n "$n_out" "$EXP" >"$T/sig2-exp.jsonl"
if [ "$n_out" -ge 10 ]; then ok; else fail "SIGTERM mid-stream: only $n_out lines out, 10 were read before the signal"; fi
same "SIGTERM mid-stream: output is a prefix of the expected output" "$T/sig2.jsonl" "$T/sig2-exp.jsonl"
if [ ! -s "$T/sig2.jsonl" ] || [ "$(tail -c 1 "$T/sig2.jsonl" | od -An -c | tr -d ' ')" = '\n' ]; then
    ok
else
    fail "SIGTERM mid-stream: the output ends in a torn line"
fi

finish
