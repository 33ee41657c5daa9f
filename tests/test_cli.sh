#!/usr/bin/env bash
# The command line: --version, help, usage errors (exit 2), `weir docs`
# against the committed docs/pipeline.md, and run failures (exit 1) with a
# message that names what failed.
#
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# weir ARGS...: runs weir, keeping stdout, stderr and the exit code.
weir() {
    "$WEIR_BIN" "$@" >"$T/out" 2>"$T/err" </dev/null
    RC=$?
}

# expect NAME RC [stdout|stderr REGEX]...: the exit code, and each stream
# matches its extended regex (grep -E, on any line).
expect() {
    local name=$1 want=$2 good=1
    shift 2
    if [ "$RC" -ne "$want" ]; then
        fail "$name: exit code $RC, expected $want (stderr: $(head -c 300 "$T/err"))"
        good=0
    fi
    while [ $# -ge 2 ]; do
        local file=$T/out
        [ "$1" = stderr ] && file=$T/err
        if ! grep -Eq -- "$2" "$file"; then
            fail "$name: $1 does not match /$2/: $(head -c 300 "$file")"
            good=0
        fi
        shift 2
    done
    [ "$good" -eq 1 ] && ok
}

# empty NAME STREAM: the stream is empty.
empty() {
    local file=$T/out
    [ "$2" = stderr ] && file=$T/err
    if [ -s "$file" ]; then fail "$1: $2 should be empty: $(head -c 300 "$file")"; else ok; fi
}

GOOD=tests/golden/pipeline.json

# --- version and help -------------------------------------------------------------
weir --version
expect "--version" 0 stdout '^weir [0-9]+\.[0-9]+\.[0-9]+'
empty "--version" stderr
weir help
expect "help" 0 stdout '^usage:' stdout 'weir run PIPELINE' stdout 'weir validate PIPELINE' \
    stdout 'weir docs' stdout 'exit codes: 0 ok, 1 the run failed, 2 bad usage or invalid pipeline'
empty "help" stderr
weir --help
expect "--help" 0 stdout 'weir run PIPELINE'
weir help run
expect "help run" 0 stdout '^usage: weir run PIPELINE' stdout '--set PATH=VALUE' stdout '--workers N' \
    stdout '--quiet' stdout 'SIGINT/SIGTERM'
empty "help run" stderr
weir help validate
expect "help validate" 0 stdout '^usage: weir validate PIPELINE' stdout 'Exit 0 when all are valid, 2 otherwise'
weir help docs
expect "help docs" 0 stdout '^usage: weir docs'
weir help frobnicate
expect "help for an unknown command" 2 stderr 'unknown command "frobnicate"'

# --- usage errors: exit 2 --------------------------------------------------------------
weir
expect "no command" 2 stderr 'usage:'
empty "no command" stdout
# --help answers wherever it is, not only right after the command
weir model list --help
expect "model list --help" 0 stdout '^usage: weir model'
weir model list -x
expect "model list -x: an option, not a directory" 2 stderr 'weir: model: unexpected option "-x"'
weir replay in.jsonl --brokers embedded --topic t
expect "replay --brokers embedded: refused at once" 2 stderr 'the embedded cluster lives inside one weir run'
weir run tests
expect "run on a directory" 2 stderr '^tests: cannot read the file: it is a directory'
# a section the file leaves out is made by --set; a misspelt one is still unknown
weir validate "$GOOD" --set state.durable=false
expect "--set state.durable on a file without \"state\"" 0 stdout 'valid'
weir validate "$GOOD" --set stat.durable=false
expect "--set stat.durable: unknown" 2 stderr 'stat: unknown option \(did you mean "state"\?\)'
weir validate "$GOOD" --set 'source.path="nodir/*.jsonl"'
expect "a glob in a missing directory says so" 2 stderr 'cannot expand pattern nodir/\*\.jsonl: nodir: No such file or directory'

weir frobnicate
expect "unknown command" 2 stderr '^weir: unknown command "frobnicate"'
empty "unknown command" stdout
weir run
expect "run without a pipeline" 2 stderr 'run needs a pipeline file; try: weir help run'
weir validate
expect "validate without a pipeline" 2 stderr 'validate needs a pipeline file'
weir run "$GOOD" --frobnicate
expect "unknown option" 2 stderr 'unknown option "--frobnicate"'
weir run "$GOOD" "$GOOD"
expect "two pipelines" 2 stderr 'unexpected argument'
for n in 0 257 abc -1 2x; do
    weir run "$GOOD" --workers "$n"
    expect "--workers $n" 2 stderr "--workers expects a number from 1 to 256, got \"$n\""
done
weir run "$GOOD" --set nonsense
expect "--set without =" 2 stderr '--set expects PATH=VALUE, got "nonsense"'
weir run "$GOOD" --set =1
expect "--set with an empty path" 2 stderr '--set expects PATH=VALUE'
# A known option missing its value is not an "unknown option".
weir run "$GOOD" --workers
expect "--workers without a value" 2 stderr '--workers'
if grep -q 'unknown option' "$T/err"; then
    fail "--workers without a value: reported as an unknown option: $(cat "$T/err")"
else
    ok
fi
weir run "$GOOD" --set
expect "--set without a value" 2 stderr '--set'
if grep -q 'unknown option' "$T/err"; then
    fail "--set without a value: reported as an unknown option: $(cat "$T/err")"
else
    ok
fi
# Nothing runs when the pipeline is invalid: exit 2, the validator's messages.
weir run tests/pipelines/bad/14-quantile-out-of-range.json --set "sinks[0].path=$T/never.jsonl"
expect "run with an invalid pipeline" 2 \
    stderr '^tests/pipelines/bad/14-quantile-out-of-range.json: operators\[3\].quantile: expected a number in \(0,1\), got 1.5$'
if [ -e "$T/never.jsonl" ]; then fail "run with an invalid pipeline created its sink file"; else ok; fi
weir run "$T/no-such-pipeline.json"
expect "run with a missing pipeline file" 2 stderr "no-such-pipeline.json"

# --- validate ----------------------------------------------------------------------------
weir validate "$GOOD"
expect "validate a good pipeline" 0 stdout "^$GOOD: valid \\(4 operators"
empty "validate a good pipeline" stderr
weir validate "$GOOD" tests/pipelines/bad/10-unknown-operator-type.json "$GOOD"
expect "validate several files, one bad" 2 stdout "^$GOOD: valid" \
    stderr '10-unknown-operator-type.json: operators\[1\].type: unknown operator type'
[ "$(grep -c 'valid (' "$T/out")" -eq 2 ] && ok || fail "validate several files: want two valid lines"
"$WEIR_BIN" validate - <"$GOOD" >"$T/out" 2>"$T/err"
RC=$?
expect "validate - (standard input)" 0 stdout '^<stdin>: valid \(4 operators'
for p in pipelines/*.json; do
    case $p in *.test.json) continue ;; esac # weir test's files, not pipelines
    weir validate "$p"
    expect "validate the example $p" 0 stdout ': valid'
done

# --- docs ---------------------------------------------------------------------------------
weir docs
expect "docs" 0 stdout '^# '
if [ ! -f docs/pipeline.md ]; then
    fail "docs/pipeline.md is missing: generate it with: build/weir docs > docs/pipeline.md"
elif cmp -s "$T/out" docs/pipeline.md; then
    ok
else
    fail "docs/pipeline.md differs from \`weir docs\`: regenerate it with: build/weir docs > docs/pipeline.md"
    diff docs/pipeline.md "$T/out" | head -n 10
fi

# --- run: success, and failures with exit 1 -----------------------------------------------
RUNSET=(--set "sinks[0].path=$T/out.jsonl" --set "dead_letter.path=$T/dead.jsonl")
weir run "$GOOD" "${RUNSET[@]}"
expect "run" 0 stderr 'golden-host-metrics: 200 records in, 195 out, 5 dead letters, 4 alerts'
empty "run" stdout
weir run "$GOOD" "${RUNSET[@]}" --quiet
expect "run --quiet" 0
empty "run --quiet" stderr
weir run "$GOOD" "${RUNSET[@]}" --timing
expect "run --timing" 0 stderr 'operators\[1\] standardize +[0-9.]+ ns/record'
weir run "$GOOD" "${RUNSET[@]}" --timing --http 0
expect "run --timing --http" 0 stderr "worker threads' CPU [0-9.]+ s, [0-9.]+ ns/record" \
    stderr "http responder's CPU [0-9.]+ s, 0 requests"

weir run "$GOOD" "${RUNSET[@]}" --set "source.path=$T/missing/input.jsonl"
expect "run with a missing source file" 1 stderr "$T/missing/input.jsonl: No such file or directory"
weir run "$GOOD" --set "sinks[0].path=$T/no/such/dir/out.jsonl" --set "dead_letter.path=$T/dead.jsonl"
expect "run with a sink in a missing directory" 1 stderr "$T/no/such/dir/out.jsonl: No such file or directory"
weir run "$GOOD" --set "sinks[0].path=$T/out.jsonl" --set "dead_letter.path=$T/no/dir/dead.jsonl"
expect "run with a dead-letter file in a missing directory" 1 stderr "$T/no/dir/dead.jsonl"
mkdir "$T/a-directory"
weir run "$GOOD" "${RUNSET[@]}" --set "source.path=$T/a-directory"
expect "run with an empty directory as the source (a load-time error)" 2 stderr "source.path: .*$T/a-directory has no data files"
printf 'host,cpu\n"unterminated\n' >"$T/bad-header.csv"
weir run "$GOOD" "${RUNSET[@]}" --set "source.path=$T/bad-header.csv" --set source.format=csv
expect "run on a CSV file whose header is fine" 0
printf '"host,cpu\nweb-1,1\n' >"$T/bad-header.csv"
weir run "$GOOD" "${RUNSET[@]}" --set "source.path=$T/bad-header.csv" --set source.format=csv
expect "run on a CSV file with a broken header" 1 stderr "bad-header.csv: line 1: CSV header has an unterminated quote"

# A sink that writes the file the source reads would empty it before it is
# read: refused at load (also through a link, and for the dead letter), the
# input left whole.
printf '{"host":"a","cpu":1}\n{"host":"b","cpu":2}\n' >"$T/same.jsonl"
ln -s "$T/same.jsonl" "$T/same-link.jsonl"
weir run "$GOOD" --set "source.path=$T/same.jsonl" --set "sinks[0].path=$T/same-link.jsonl" \
    --set "dead_letter.path=$T/same.jsonl"
expect "run whose sinks write the source's file" 2 \
    stderr "sinks\[0\]\.path: expected a file the source does not read, got $T/same-link.jsonl" \
    stderr "dead_letter\.path: expected a file the source does not read"
[ "$(wc -l <"$T/same.jsonl")" -eq 2 ] && ok || fail "the source file was touched: $(wc -l <"$T/same.jsonl") lines"
weir validate "$GOOD" --set "source.path=$T/same.jsonl" --set "sinks[0].path=$T/same.jsonl"
expect "validate: a sink writes the source's file" 2 stderr "sinks\[0\]\.path: expected a file"

# Event time: a file source's records have it only from an extract field of
# type timestamp (tests/pipelines/bad/76 is refused); a Kafka source's
# messages carry their own, so the same operators are valid there.
sed -e 's|"source": {"type": "file", "path": "tests/golden/input.jsonl"}|"source": {"type": "kafka", "brokers": "localhost:9092", "topics": "s"}|' \
    -e 's|"sinks": \[{"type": "file", "path": "-"}\]|"sinks": [{"type": "kafka", "topic": "o"}]|' \
    "$WEIR_SRC/tests/pipelines/bad/76-no-event-time.json" >"$T/kafka-time.json"
weir validate "$T/kafka-time.json"
expect "validate: event-time operators on a Kafka source (message timestamps)" 0 stdout "valid \(7 operators"

# An option that does nothing without another is refused ("expected only
# with"), unless given its default value (templates that spell out every
# option).
weir validate "$GOOD" --set 'operators[3].cooldown=5'
expect "validate: cooldown without incidents" 2 stderr 'operators\[3\]\.cooldown: expected only with "incidents": true'
weir validate "$GOOD" --set 'operators[3].cooldown=0.0' --set 'operators[3].close_event=false'
expect "validate: cooldown and close_event at their defaults without incidents" 0
weir validate "$WEIR_SRC/pipelines/monitor-kafka.json" --set 'source.commit_interval="0.1s"'
expect "validate: commit_interval at its default (another spelling) without exactly_once" 0

# validate runs nothing: run's own options would do nothing there, even invalid.
weir validate "$GOOD" --http 99999999
expect "validate --http" 2 stderr 'validate: \-\-http is for weir run'
weir validate "$GOOD" --progress=5
expect "validate --progress=5" 2 stderr 'validate: \-\-progress is for weir run'

# An option's value is never the next option, nor empty ("--state-dir
# --quiet" made a directory named --quiet and ran); "--opt=VALUE" works as
# "--opt VALUE", and "--progress N" as "--progress=N".
weir run "$GOOD" --state-dir --quiet
expect "--state-dir --quiet" 2 stderr '^weir: \-\-state-dir needs a value, got the option "\-\-quiet"$'
[ ! -e ./--quiet ] && ok || fail "a directory named --quiet was made"
weir run "$GOOD" --state-dir=
expect "--state-dir=" 2 stderr '^weir: \-\-state-dir needs a value, got an empty one$'
weir run "$GOOD" --http ""
expect "--http ''" 2 stderr '^weir: \-\-http needs a value, got an empty one$'
weir run "$GOOD" --workers=0
expect "--workers=0" 2 stderr 'workers expects a number from 1 to 256, got "0"'
weir run "$GOOD" --progress 0
expect "--progress 0" 2 stderr 'progress expects seconds from 1 to 86400, got "0"'
weir run "$GOOD" --log-format=xml
expect "--log-format=xml" 2 stderr 'log-format expects text, json or logfmt, got "xml"'
# standardize's default output is the input's name and _z however long the
# name (a 256-byte buffer cut the _z off: the threshold's "<f>_z" was unknown)
N=$(printf 'f%.0s' $(seq 300))
cat >"$T/long.json" <<JSON
{"source": {"type": "file", "path": "/dev/null"}, "operators": [{"type": "extract", "fields": {"$N": "/x"}},
 {"type": "standardize", "fields": "$N"}, {"type": "threshold", "score": "${N}_z", "above": 3}],
 "sinks": [{"type": "file", "path": "-"}]}
JSON
weir validate "$T/long.json"
expect "standardize over a 300-byte name" 0 stdout 'valid \(3 operators'

# --embedded on a file pipeline: said as such (it was "source.brokers: unknown option")
weir run "$GOOD" --embedded
expect "--embedded on a file source" 2 stderr 'source.type: \-\-embedded is for a Kafka source \("kafka"\), got "file"'

# checkpoint_interval saves durable state at least once: nothing to save
# without durable state, and exactly_once saves it in every transaction.
weir validate "$WEIR_SRC/pipelines/monitor-kafka.json" --set 'source.checkpoint_interval="5s"' \
    --set 'state={"durable": false}'
expect "validate: checkpoint_interval without durable state" 2 stderr \
    'source\.checkpoint_interval: expected only with durable keyed state'

# --set into "kafka": librdkafka's names have dots of their own.
weir validate "$WEIR_SRC/pipelines/monitor-kafka.json" --set source.kafka.fetch.wait.max.ms=100
expect "validate: --set source.kafka.fetch.wait.max.ms" 0 stdout 'valid'
weir validate "$WEIR_SRC/pipelines/monitor-kafka.json" --set source.kafka.fetch.wait.max.mss=100
expect "validate: --set an unknown Kafka property" 2 stderr 'source\.kafka\.fetch\.wait\.max\.mss: librdkafka rejects it'

weir run - --watch
expect "run - --watch: nothing to watch" 2 stderr '\-\-watch needs a pipeline file to watch, not standard input'

# A file source on standard input, a file of which a parent read a line
# first: the run goes on from there (it read the file from its start again).
printf '{"v":1}\n{"v":2}\n{"v":3}\n' >"$T/stdin.jsonl"
printf '{"source": {"type": "file", "path": "-"}, "operators": [{"type": "extract", "fields": {"v": "/v"}}], "sinks": [{"type": "file", "path": "-"}]}\n' >"$T/stdin.json"
got=$({ read -r _; "$WEIR_BIN" run "$T/stdin.json" --quiet; } <"$T/stdin.jsonl" | grep -o '"v":[0-9]' | tr '\n' ' ')
[ "$got" = '"v":2 "v":3 ' ] && ok || fail "standard input after a parent's read: $got"

# --replay on each file as it is read: the first file's "replay" decided
# for all (one with "replay", one without: "replay" does not exist; a
# pipeline on standard input lost its replay options the same way).
weir validate "$WEIR_SRC/pipelines/monitor-embedded.json" "$WEIR_SRC/pipelines/monitor-kafka.json" \
    --replay tests/golden/input.jsonl
expect "validate two files --replay" 0 stdout "monitor-kafka.json: valid"

# weir replay: a number it cannot read is refused, not taken as "as fast as
# possible" or "no limit" (a typo would flood a real topic).
weir replay tests/golden/input.jsonl --brokers 127.0.0.1:1 --topic t --rate abc
expect "replay: --rate abc" 2 stderr '\-\-rate expects records per second'
weir replay tests/golden/input.jsonl --brokers 127.0.0.1:1 --topic t --limit two
expect "replay: --limit two" 2 stderr '\-\-limit expects a number of records above 0'

finish
