#!/usr/bin/env bash
# `weir test`: the shipped pipelines' tests (pipelines/*.test.json: file
# pipelines and Kafka ones on the embedded cluster, which must give the same
# figures, fraud's windows) pass; and
# tests that must fail do, each with the diff line that names the case, the
# sink, the record and the field: a number off by more than the tolerance
# (and the same number within it passing), a wrong record count, exact order,
# a dead letter's reason, the alert count, a Kafka sink's record; a broken
# test file is refused with its JSON paths (exit 2), an invalid "set" fails
# its case only.
#
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

SRC=$PWD # lib.sh moved to the repository root
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# weir ARGS...: runs weir, keeping stdout, stderr and the exit code.
weir() {
    "$WEIR_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null
    RC=$?
}

# expect NAME RC [stdout|stderr FIXED-STRING]...: the exit code, and each
# stream contains each string (grep -F).
expect() {
    local name=$1 want=$2 good=1
    shift 2
    if [ "$RC" -ne "$want" ]; then
        fail "$name: exit code $RC, expected $want (stdout: $(head -c 600 "$T/out"); stderr: $(head -c 600 "$T/err"))"
        good=0
    fi
    while [ $# -ge 2 ]; do
        local file=$T/out
        [ "$1" = stderr ] && file=$T/err
        if ! grep -Fq -- "$2" "$file"; then
            fail "$name: $1 does not contain \"$2\": $(head -c 800 "$file")"
            good=0
        fi
        shift 2
    done
    [ "$good" -eq 1 ] && ok
}

P=$SRC/pipelines
CPU_SINK='sinks[0] "/tmp/weir-monitor-cpu.jsonl"'

# ---- the shipped tests pass ----------------------------------------------------------
weir test "$P/monitor-cpu.json" "$P"/[!m]*.test.json "$P"/monitor-[!c]*.test.json \
    "$P/monitor-cpu-fit.test.json" "$P/monitor-cpu-flatline.test.json"
expect "shipped tests" 0 stdout "25 passed, 0 failed" \
    stdout "ok   $P/monitor-cpu.test.json: a drop to 5.5% after 260 values near 93% is an alert"
n_ok=$(grep -c '^ok   ' "$T/out")
[ "$n_ok" -eq 25 ] && ok || fail "shipped tests: $n_ok ok lines, expected 25"

# A file source whose format is "auto" (decided per file) over a directory:
# the case's input_file (*.csv) says CSV, as the run would read it (the
# directory's name said JSON Lines: every row a dead letter).
mkdir "$T/auto" "$T/auto/days"
sed -e 's|"format": "csv"|"format": "auto"|' \
    -e 's|"path": "../shared/data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_825cc2.csv"|"path": "days"|' \
    "$P/monitor-cpu.json" >"$T/auto/monitor-cpu.json"
grep -q '"path": "days"' "$T/auto/monitor-cpu.json" || fail "auto: the source path was not replaced"
cp "$P/monitor-cpu.test.csv" "$P/monitor-cpu-job.test.csv" "$T/auto/"
/usr/bin/python3 -c 'import json, sys
t = json.load(open(sys.argv[1]))
t["tests"] = [c for c in t["tests"] if "input_file" in c]
json.dump(t, open(sys.argv[2], "w"))' "$P/monitor-cpu.test.json" "$T/auto/monitor-cpu.test.json"
weir test "$T/auto/monitor-cpu.json"
expect "format auto over a directory, a CSV input_file" 0 stdout "4 passed, 0 failed"

# ---- tests that must fail --------------------------------------------------------------
# case FILE JSON: a test file for monitor-cpu.json with one case.
cpu_case() {
    printf '{"pipeline": "%s", "tests": [%s]}\n' "$P/monitor-cpu.json" "$2" >"$T/$1"
}
DROP='"input_file": "'$P'/monitor-cpu.test.csv", "input": [{"timestamp": "2014-04-11 00:00:00", "value": 5.5}]'

cpu_case lo.test.json '{"name": "lo off by 0.1", '"$DROP"', "expect": {"sinks": {"0": {"records": {"-1": {"cpu_lo": 86.332605}}}}}}'
weir test "$T/lo.test.json"
expect "number beyond the tolerance" 1 stdout "FAIL $T/lo.test.json: lo off by 0.1" \
    stdout "    $CPU_SINK: record 260: field \"cpu_lo\": expected 86.332605, got 86.232605" \
    stdout "0 passed, 1 failed"

# 86.2326 is 6e-8 relative from 86.232605: in with 1e-6, out with the default 1e-9.
cpu_case near.test.json '{"name": "near", "tolerance": 1e-6, '"$DROP"', "expect": {"sinks": {"0": {"records": {"-1": {"cpu_lo": 86.2326}}}}}}'
weir test "$T/near.test.json"
expect "within the tolerance" 0 stdout "ok   $T/near.test.json: near" stdout "1 passed, 0 failed"
cpu_case exact.test.json '{"name": "exact", '"$DROP"', "expect": {"sinks": {"0": {"records": {"-1": {"cpu_lo": 86.2326}}}}}}'
weir test "$T/exact.test.json"
expect "default tolerance 1e-9" 1 stdout "field \"cpu_lo\": expected 86.2326, got 86.232605"

cpu_case count.test.json '{"name": "count", "input": [{"timestamp": "2014-04-10 00:04:00", "value": 91}, {"timestamp": "2014-04-10 00:09:00", "value": 92}],
  "expect": {"sinks": {"0": [{"value": 91}, {"value": 92}, {"value": 93}]}}}'
weir test "$T/count.test.json"
expect "record count" 1 stdout "    $CPU_SINK: expected 3 records, got 2"

cpu_case order.test.json '{"name": "order", "input": [{"timestamp": "2014-04-10 00:04:00", "value": 91}, {"timestamp": "2014-04-10 00:09:00", "value": 92}],
  "expect": {"sinks": {"0": [{"value": 92}, {"value": 91}]}}}'
weir test "$T/order.test.json"
expect "exact order without a key" 1 stdout "    $CPU_SINK: record 0: field \"value\": expected 92, got 91" \
    stdout "    $CPU_SINK: record 1: field \"value\": expected 91, got 92"

cpu_case missing.test.json '{"name": "missing field", "input": [{"timestamp": "2014-04-10 00:04:00", "value": 91}],
  "expect": {"sinks": {"0": [{"value": 91, "no_such": 1}]}}}'
weir test "$T/missing.test.json"
expect "a field the record lacks" 1 stdout "record 0: field \"no_such\": expected 1, got no such field"

cpu_case reason.test.json '{"name": "reason", "input": [{"timestamp": "2014-04-10 00:04:00", "value": "x"}],
  "expect": {"dead_letters": [{"reason": "expected a string"}]}}'
weir test "$T/reason.test.json"
expect "dead letter reason" 1 \
    stdout "    dead_letters: record 0: field \"reason\": expected to contain \"expected a string\", got \"field \\\"cpu\\\" (/value): expected a number, got a string\""

cpu_case alerts.test.json '{"name": "alerts", '"$DROP"', "expect": {"alerts": 2, "sinks": {"-": []}}}'
weir test "$T/alerts.test.json"
expect "alert count and the text sink" 1 stdout "    alerts: expected 2, got 1" \
    stdout "    sinks[1] \"-\": expected 0 records, got 1"

cpu_case set.test.json '{"name": "bad set", "set": {"operators[2].above": "high"}, "input": [], "expect": {}}'
weir test "$T/set.test.json" "$T/near.test.json"
expect "an invalid set fails its case only" 1 stdout "FAIL $T/set.test.json: bad set" \
    stdout "the pipeline with this case's \"set\" is not valid: " stdout "operators[2].above" \
    stdout "1 passed, 1 failed"

# Kafka, on the embedded cluster: a wrong value in a sink topic.
printf '{"pipeline": "%s", "tests": [{"name": "kafka wrong", "key": "host", "input": [
  {"host": "a", "ts": "2024-03-01T00:00:00Z", "cpu": 40, "latency_ms": 12},
  {"host": "b", "ts": "2024-03-01T00:00:00Z", "cpu": 50, "latency_ms": 13},
  {"host": "a", "ts": "2024-03-01T00:01:00Z", "cpu": 41, "latency_ms": 12}],
  "expect": {"sinks": {"metrics-scored": [{"host": "a", "cpu": 40}, {"host": "a", "cpu": 41.5}, {"host": "b", "cpu": 50}]}}}]}\n' \
    "$P/monitor-kafka.json" >"$T/kafka.test.json"
weir test "$T/kafka.test.json"
expect "kafka sink record" 1 \
    stdout "    sinks[0] \"metrics-scored\": record 2 (key host=\"a\", expected[1]): field \"cpu\": expected 41.5, got 41"

# Kafka: a message that is not UTF-8 (from input_file, sent as it is) is a
# dead letter; a case's "set" moving the source topic moves the input too.
printf '{"host": "\xff\xfe", "cpu": 1}\n' >"$T/bad-utf8.jsonl"
printf '{"pipeline": "%s", "tests": [
  {"name": "not utf-8", "input_file": "bad-utf8.jsonl",
   "expect": {"sinks": {"metrics-scored": {"count": 0}}, "dead_letters": [{"reason": "UTF-8", "raw_base64": "eyJob3N0IjogIv/+IiwgImNwdSI6IDF9"}]}},
  {"name": "other topic", "set": {"source.topics": ["metrics-2"]},
   "input": [{"host": "a", "ts": "2024-03-01T00:00:00Z", "cpu": 1, "latency_ms": 3}],
   "expect": {"sinks": {"metrics-scored": [{"host": "a", "cpu": 1}]}}}]}\n' "$P/monitor-kafka.json" >"$T/kafka2.test.json"
weir test "$T/kafka2.test.json"
expect "kafka: not UTF-8, a set topic" 0 stdout "2 passed, 0 failed"

# Kafka: a CSV input_file whose header does not parse fails the case, as it
# fails `weir replay` (its rows went as raw lines, unsaid: the case passed)
printf 'host,host,cpu\na,b,1\n' >"$T/bad-header.csv"
printf '{"pipeline": "%s", "tests": [{"name": "bad header", "input_file": "bad-header.csv",
   "expect": {"sinks": {"metrics-scored": {"count": 0}}}}]}\n' "$P/monitor-kafka.json" >"$T/kafka3.test.json"
weir test "$T/kafka3.test.json"
expect "kafka: a CSV input_file's bad header" 1 \
    stdout "bad-header.csv: line 1: CSV header has a repeated column name \"host\" (columns 1 and 2)" \
    stdout "0 passed, 1 failed"

# ---- broken test files: every problem with its JSON path, exit 2, nothing run ----------
printf '{"pipeline": "%s", "tolerence": 1, "tests": [{"name": 3, "input": {}, "expect": {"sinks": {"9": [], "0": [1]}, "alerts": -1}}, {"input": []}]}\n' \
    "$P/monitor-cpu.json" >"$T/broken.test.json"
weir test "$T/broken.test.json"
expect "broken test file" 2 \
    stderr "$T/broken.test.json: unknown key \"tolerence\": expected one of pipeline, tolerance, tests" \
    stderr "$T/broken.test.json: tests[0].name: expected a string, got an integer" \
    stderr "$T/broken.test.json: tests[0].input: expected an array of records, got an object" \
    stderr "$T/broken.test.json: tests[0].expect.sinks.9: expected a sink of the pipeline (its index from 0 to 1, its topic or its path), got \"9\"" \
    stderr "$T/broken.test.json: tests[0].expect.sinks.0[0]: expected a record" \
    stderr "$T/broken.test.json: tests[0].expect.alerts: expected a count (an integer >= 0), got -1" \
    stderr "$T/broken.test.json: tests[1]: expected a \"name\"" \
    stderr "$T/broken.test.json: tests[1]: expected \"expect\"" \
    stderr "8 problems"
grep -q '^ok\|^FAIL' "$T/out" && fail "a broken test file ran cases" || ok

# A tolerance below 0 at the top (each case's was checked), a timeout of 0
# (was 30 s unsaid), more overrides than a case takes (the rest were dropped).
SETS=$(/usr/bin/python3 -c 'print(", ".join("\"name%d\": 1" % i for i in range(65)))')
printf '{"pipeline": "%s", "tolerance": -1, "tests": [{"name": "a", "input": [], "timeout": 0, "set": {%s}, "expect": {}}]}\n' \
    "$P/monitor-cpu.json" "$SETS" >"$T/limits.test.json"
weir test "$T/limits.test.json"
expect "limits in a test file" 2 \
    stderr "$T/limits.test.json: tolerance: expected a relative tolerance >= 0, got -1" \
    stderr "$T/limits.test.json: tests[0].timeout: expected seconds > 0, got 0" \
    stderr "$T/limits.test.json: tests[0].set: expected at most 64 overrides, got 65" \
    stderr "3 problems"

echo '{"tests": [' >"$T/syntax.test.json"
weir test "$T/syntax.test.json"
expect "JSON syntax error" 2 stderr "$T/syntax.test.json:2:"

weir test "$T/none.test.json"
expect "missing test file" 2 stderr "$T/none.test.json"

cp "$P/monitor-cpu.json" "$T/lonely.json"   # x.json without x.test.json beside it
weir test "$T/lonely.json"
expect "pipeline without tests" 2 \
    stderr "$T/lonely.test.json: unable to open $T/lonely.test.json: No such file or directory (weir test reads a pipeline's cases from the .test.json file beside it)"
grep -q -- "-1:-1" "$T/err" && fail "a test file not read: jansson's -1:-1 for a place" || ok

# SIGINT during a case's run: that case is not compared (its outputs are a
# part), no later case runs, exit 1 (the run drained, its partial output was
# compared, and the next cases ran on).
/usr/bin/python3 -c '
import datetime, random, sys
t, d = datetime.datetime(2014, 4, 10), datetime.timedelta(minutes=5)
random.seed(1)
with open(sys.argv[1], "w") as f:
    f.write("timestamp,value\n")
    for i in range(400000):
        f.write("%s,%.3f\n" % ((t + i * d).strftime("%Y-%m-%d %H:%M:%S"), 90 + 3 * random.random()))
' "$T/big.csv"
cpu_case big.test.json '{"name": "long", "input_file": "'$T'/big.csv", "input": [], "expect": {"alerts": 0}},
  {"name": "after", "input": [], "expect": {}}'
"$WEIR_BIN" test "$T/big.test.json" >"$T/out" 2>"$T/err" </dev/null &
pid=$!
sleep 1.5
kill -INT $pid
wait $pid
RC=$?
expect "SIGINT during a case" 1 stdout "stop $T/big.test.json: long: interrupted by a signal; no later case runs" \
    stdout "0 passed, 0 failed (interrupted: the cases after it did not run)"
grep -q ": after (" "$T/out" && fail "a case ran after SIGINT: $(cat "$T/out")" || ok

weir test
expect "no file" 2 stderr "weir: test needs a test file"
weir test "$T"
expect "a directory" 2 stderr "$T: cannot read the file: it is a directory"

weir test --help
expect "--help" 0 stdout "usage: weir test FILE..."
weir help check
expect "weir check's help" 0 stdout "usage: weir check PIPELINE"

finish
