#!/usr/bin/env bash
# The embedded Kafka cluster (librdkafka's mock cluster inside weir) and the
# replay producer; no broker, no Java: this test always runs.
#   a. pipelines/monitor-embedded.json (the flagship demo) exits 0 within 30 s
#      and prints on stdout exactly the alerts of pipelines/monitor-cpu.json (5)
#      (the same series read from the file): same records, same scores; only the
#      position differs ("p0@N" is the Kafka offset, "line N+2" the CSV line).
#      Its summary says 4032 records in, 4032 out and 4032 replayed.
#   b. `weir run PIPELINE --embedded --replay FILE` with a Kafka source, a Kafka
#      sink and a Kafka dead-letter sink (tests/pipelines/embedded-replay.json,
#      whose brokers are unreachable, the source's and the two sinks' own:
#      --embedded must replace them all) on JSON
#      Lines with malformed lines: exit 0, in = out + dead, every line counted
#      once; a second sink (JSON Lines on stdout) shows each good record once.
#   c. a "replay" on a pipeline with a file source is a validation error
#      (exit 2) that names the path and the source type.
#   d. an unpaced replay of 7 MB into one partition, more than the 5 MiB the
#      embedded cluster keeps of a partition: every record comes through once
#      and the run ends by itself. The replay used to outrun the consumers, the
#      cluster dropped the records they had not fetched and the run waited for
#      them for ever: here a run whose output stops growing for 15 s is stopped
#      and fails.
#   e. "max_inflight_records": 1: every record comes through (the source
#      stalled for good after a few).
#   f. standard output a non-blocking pipe read slowly, two workers: every
#      line comes out (their shared writer failed the run on EAGAIN).
#
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"
WEIR=$WEIR_BIN
ok() { passed=$((passed + 1)); echo "test_embedded: ok: $*"; } # says what passed
fail() { failed=$((failed + 1)); echo "test_embedded: FAIL: $*"; }

T=$(mktemp -d /tmp/weir-test-embedded.XXXXXX)
trap 'rm -rf "$T"' EXIT

# run NAME LIMIT ARGS...: weir ARGS with a deadline of LIMIT seconds (then
# SIGTERM, and SIGKILL 5 s later); sets RC and TOOK (seconds, 2 decimals);
# stdout and stderr go to $T/NAME.out and $T/NAME.err.
run() {
    local name=$1 limit=$2 t0 t1
    shift 2
    t0=$(date +%s%N)
    timeout -k 5 "$limit" "$WEIR" "$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
    RC=$?
    t1=$(date +%s%N)
    TOOK=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}

# ---- a. the flagship demo ----------------------------------------------------------
DATA=../shared/data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv
if [ ! -r "$DATA" ]; then
    fail "a: the demo's data file $DATA is missing"
else
    run cpu 30 run pipelines/monitor-cpu.json --set "sinks[0].path=$T/cpu.jsonl" \
        --set "dead_letter.path=$T/cpu.rejects.jsonl"
    [ "$RC" -eq 0 ] || fail "a: monitor-cpu.json exited $RC: $(tail -n2 "$T/cpu.err")"
    run emb 30 run pipelines/monitor-embedded.json
    if [ "$RC" -eq 0 ]; then
        ok "a: monitor-embedded.json exited 0 after $TOOK s"
    elif [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
        fail "a: monitor-embedded.json did not finish within 30 s ($(wc -l <"$T/emb.out") alerts printed; stderr: $(tail -n3 "$T/emb.err"))"
    else
        fail "a: monitor-embedded.json exited $RC after $TOOK s: $(tail -n3 "$T/emb.err")"
    fi
    # "ALERT  p0@N  rest" -> "N rest"; "ALERT  line L  rest" -> "L-2 rest".
    awk '{ if (match($0, /^ALERT +p0@[0-9]+ +/)) { split($2, a, "@"); sub(/^ALERT +p0@[0-9]+ +/, ""); print a[2], $0 }
           else print "UNEXPECTED", $0 }' "$T/emb.out" >"$T/emb.norm"
    awk '{ if (match($0, /^ALERT +line [0-9]+ +/)) { n = $3 - 2; sub(/^ALERT +line [0-9]+ +/, ""); print n, $0 }
           else print "UNEXPECTED", $0 }' "$T/cpu.out" >"$T/cpu.norm"
    n_emb=$(wc -l <"$T/emb.out")
    n_cpu=$(wc -l <"$T/cpu.out")
    if [ "$n_cpu" -ne 5 ]; then
        fail "a: monitor-cpu.json printed $n_cpu lines, expected its 5 alerts"
    elif [ "$n_emb" -eq 5 ] && cmp -s "$T/emb.norm" "$T/cpu.norm"; then
        ok "a: the 5 alerts on stdout are monitor-cpu.json's (same records, scores; offset = line - 2)"
    else
        fail "a: stdout has $n_emb lines, not monitor-cpu.json's 5 alerts:
$(diff "$T/cpu.norm" "$T/emb.norm" | head -n 10)"
    fi
    if grep -q '^weir: monitor-embedded: 4032 records in, 4032 out, 0 dead letters, 5 alerts;' "$T/emb.err" &&
        grep -q '^weir: replay: 4032 records from .*ec2_cpu_utilization_825cc2.csv produced and acknowledged' "$T/emb.err"; then
        ok "a: summary: 4032 records in, 4032 out, 4032 replayed"
    else
        fail "a: unexpected summary: $(cat "$T/emb.err")"
    fi
fi

# ---- b. --embedded --replay FILE, with malformed lines --------------------------------
GOOD=3000
awk -v n="$GOOD" 'BEGIN { srand(5); for (i = 0; i < n; i++) {
    printf "{\"seq\":%d,\"value\":%.3f,\"host\":\"h%d\"}\n", i, 50 + 10 * rand(), i % 7
    if (i == 100) print "{\"seq\":100,\"value\": oops"            # truncated JSON
    if (i == 700) print "not json at all"
    if (i == 1500) print "[1,2,3]"                               # not an object
    if (i == 2200) print "{\"seq\":2200,\"value\":\"abc\"}"      # a string for a number
    if (i == 2900) print "{\"seq\":2900}" } }' >"$T/replay.jsonl"      # a missing field
BAD=5
LINES=$(wc -l <"$T/replay.jsonl")
run replay 60 run tests/pipelines/embedded-replay.json --embedded --replay "$T/replay.jsonl" --workers 2
if [ "$RC" -eq 0 ]; then
    ok "b: --embedded --replay exited 0 after $TOOK s"
else
    fail "b: --embedded --replay exited $RC after $TOOK s: $(tail -n3 "$T/replay.err")"
fi
# weir: embedded-replay: IN records in, OUT out, DEAD dead letters, ...
read -r r_in r_out r_dead <<EOF
$(sed -n 's/^weir: embedded-replay: \([0-9]*\) records in, \([0-9]*\) out, \([0-9]*\) dead letters.*/\1 \2 \3/p' "$T/replay.err")
EOF
r_replayed=$(sed -n 's/^weir: replay: \([0-9]*\) records from .* produced and acknowledged$/\1/p' "$T/replay.err")
if [ -z "${r_in:-}" ] || [ -z "$r_replayed" ]; then
    fail "b: no summary: $(cat "$T/replay.err")"
elif [ "$r_in" -eq $((r_out + r_dead)) ] && [ "$r_in" -eq "$LINES" ] && [ "$r_replayed" -eq "$LINES" ] &&
    [ "$r_out" -eq "$GOOD" ] && [ "$r_dead" -eq "$BAD" ]; then
    ok "b: $LINES lines replayed: $r_in in = $r_out out + $r_dead dead letters"
else
    fail "b: $LINES lines ($GOOD good, $BAD malformed), summary: $r_replayed replayed, $r_in in, $r_out out, $r_dead dead letters"
fi
# The stdout sink: one output per good record, none twice, none missing.
grep -o '"seq":[0-9]*' "$T/replay.out" | cut -d: -f2 | sort -n | uniq -c >"$T/replay.counts"
n_lines=$(wc -l <"$T/replay.out")
n_seq=$(wc -l <"$T/replay.counts")
n_twice=$(awk '$1 > 1' "$T/replay.counts" | wc -l)
n_missing=$(awk -v n="$GOOD" '$2 >= 0 && $2 < n {k++} END {print n - k}' "$T/replay.counts")
if [ "$n_lines" -eq "$GOOD" ] && [ "$n_seq" -eq "$GOOD" ] && [ "$n_missing" -eq 0 ]; then
    ok "b: the stdout sink has one output for each of the $GOOD good records"
else
    fail "b: the stdout sink has $n_lines outputs for $GOOD good records: $n_seq distinct seq, $n_twice seen more than once, $n_missing missing"
fi
if grep -Eq '127\.0\.0\.1:[12]' "$T/replay.err"; then
    fail "b: the pipeline's own brokers were used despite --embedded: $(grep -Em1 '127\.0\.0\.1:[12]' "$T/replay.err")"
else
    ok "b: --embedded replaced the pipeline's brokers (the source's and the sinks' own)"
fi

# ---- c. replay needs a Kafka source ----------------------------------------------------
MSG='pipelines/monitor-cpu.json: replay: expected a pipeline with a "kafka" source, got a "file" source'
printf '{"seq":1,"value":2}\n' >"$T/one.jsonl"
run filerun 30 run pipelines/monitor-cpu.json --replay "$T/one.jsonl" --set "sinks[0].path=$T/c.jsonl" \
    --set "dead_letter.path=$T/c.rejects.jsonl"
if [ "$RC" -eq 2 ] && [ "$(cat "$T/filerun.err")" = "$MSG" ] && [ ! -s "$T/filerun.out" ] && [ ! -e "$T/c.jsonl" ]; then
    ok "c: run --replay on a file source: exit 2, \"$MSG\", nothing run"
else
    fail "c: run --replay on a file source: exit $RC, stderr: $(cat "$T/filerun.err"); stdout: $(head -c 200 "$T/filerun.out")"
fi
run fileval 30 validate pipelines/monitor-cpu.json --set "replay={\"path\": \"$T/one.jsonl\"}"
if [ "$RC" -eq 2 ] && [ "$(cat "$T/fileval.err")" = "$MSG" ]; then
    ok "c: validate with a \"replay\" object on a file source: exit 2, same message"
else
    fail "c: validate with a \"replay\" object on a file source: exit $RC, stderr: $(cat "$T/fileval.err")"
fi

# ---- d. an unpaced replay larger than what the embedded cluster keeps -------------------
N=30000
awk -v n="$N" 'BEGIN { pad = sprintf("%0200d", 0); for (i = 0; i < n; i++)
    printf "{\"seq\":%d,\"value\":%d,\"pad\":\"%s\"}\n", i, i % 97, pad }' >"$T/big.jsonl"
"$WEIR" run tests/pipelines/embedded-replay.json --embedded --replay "$T/big.jsonl" --workers 2 \
    --set replay.partition=0 >"$T/big.out" 2>"$T/big.err" </dev/null &
pid=$!
seen=-1 still=0 stalled=0
while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    n=$(wc -l <"$T/big.out")
    if [ "$n" -ne "$seen" ]; then
        seen=$n still=0
    elif [ $((still += 1)) -ge 15 ]; then
        stalled=1
        kill -TERM "$pid"
        sleep 5
        kill -KILL "$pid" 2>/dev/null
        break
    fi
done
wait "$pid"
RC=$?
n_seq=$(grep -o '"seq":[0-9]*' "$T/big.out" | sort -u | wc -l)
if [ "$stalled" -eq 0 ] && [ "$RC" -eq 0 ] && [ "$(wc -l <"$T/big.out")" -eq "$N" ] && [ "$n_seq" -eq "$N" ]; then
    ok "d: $(du -m "$T/big.jsonl" | cut -f1) MB replayed unpaced into one partition: $N records out, each once"
elif [ "$stalled" -eq 1 ]; then
    fail "d: stalled with $seen of $N records out (no output for 15 s): $(tail -n2 "$T/big.err")"
else
    fail "d: exit $RC, $(wc -l <"$T/big.out") outputs, $n_seq distinct seq of $N: $(tail -n2 "$T/big.err")"
fi

# ---- e. "max_inflight_records": 1, the least the option takes --------------------------
# The throttle let go under half the bound: under 0 for a bound of 1, never;
# the source stopped for good after a few records (290 of 300 out).
seq 1 300 | awk '{ printf "{\"seq\":%d,\"value\":%d.5}\n", $1, $1 % 9 }' >"$T/one.jsonl"
timeout -k 5 60 "$WEIR" run tests/pipelines/embedded-replay.json --embedded --replay "$T/one.jsonl" \
    --set source.max_inflight_records=1 >"$T/one.out" 2>"$T/one.err" </dev/null
RC=$?
if [ "$RC" -eq 0 ] && [ "$(wc -l <"$T/one.out")" -eq 300 ]; then
    ok "e: max_inflight_records 1: 300 records out"
else
    fail "e: max_inflight_records 1: exit $RC, $(wc -l <"$T/one.out") of 300 out: $(tail -n2 "$T/one.err")"
fi

# ---- f. standard output a non-blocking pipe read slowly, two workers ----------------
# Their shared writer took EAGAIN for an error: the run failed (exit 1 after
# 556 of 20,000 lines). It waits for room now.
seq 1 20000 | awk '{ printf "{\"seq\":%d,\"value\":%d.5,\"pad\":\"%050d\"}\n", $1, $1 % 7, 0 }' \
    >"$T/nb.jsonl"
/usr/bin/python3 - "$WEIR" "$T/nb.jsonl" >"$T/nb.txt" 2>&1 <<'PY'
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen([sys.argv[1], "run", "tests/pipelines/embedded-replay.json", "--embedded",
                      "--replay", sys.argv[2], "--workers", "2"], stdout=w,
                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
os.close(w)
lines = 0
while True:
    time.sleep(0.002)
    b = os.read(r, 4096)
    if not b:
        break
    lines += b.count(b"\n")
print(p.wait(timeout=60), lines)
PY
if [ "$(cat "$T/nb.txt")" = "0 20000" ]; then
    ok "f: a non-blocking standard output, read slowly: 20000 lines, exit 0"
else
    fail "f: a non-blocking standard output: exit and lines: $(cat "$T/nb.txt")"
fi

finish
