#!/usr/bin/env bash
# The HTTP responder (engine/http.c) of a running pipeline, spoken to with
# bash's /dev/tcp (no curl needed). The golden pipeline reads a FIFO whose
# writer stays open, so the run lasts while the test talks to it:
#   1. /metrics counters equal what the run was fed (100 records: 97 out, 3
#      dead; per operator) and, at the end, the run's own summary line;
#      /healthz, /readyz, /status.json (JSON), / (the page), HEAD.
#   2. 404 for an unknown path, 405 for POST (with Allow), 400 for junk and a
#      header without a colon, 505 for HTTP/2.0, 431 for a head over 4 KiB.
#   3. A client that connects and sends nothing does not stop others being
#      served, and is disconnected after the head timeout (5 s).
#   4. 64 idle connections fill the table: the next waits, the oldest idle one
#      is evicted for it after its 2 s grace, and it is served (it used to get
#      503 until the idle ones left). 100 concurrent clients: every one gets
#      200 (the ones past 64 wait for a slot), and the server answers after.
#   5. --http-token-file: /metrics needs the bearer token (401 without, 200
#      with, or ?token=), /healthz does not.
#   7. A filter's drops are counted apart from dead letters, and per operator;
#      so are the keys a state bound evicted (and said once in the log);
#      the pipeline's "http" section works like --http.
#   6. SIGHUP does not kill the run: an unchanged file is "nothing to do"; an
#      invalid one is reported with its JSON path (tests/test_reload.sh checks
#      reloads that change operators).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-http.XXXXXX)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null
    exec 3>&- 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

# start_run PIPELINE [ARGS...]: weir reading $T/in.fifo (held open on fd 3);
# sets PID and PORT.
# hup_until PATTERN: SIGHUP until the log says PATTERN (up to 10 s): one that
# comes while the workers still start is dropped (said in the log), not queued.
hup_until() {
    for i in $(seq 100); do
        ((i % 10 == 1)) && kill -HUP "$PID"
        grep -q "$1" "$T/err" && return 0
        sleep 0.1
    done
    return 1
}
start_run() {
    local pipe=$1
    shift
    rm -f "$T/in.fifo" "$T/err"
    mkfifo "$T/in.fifo"
    "$WEIR_BIN" run "$pipe" --set "source.path=$T/in.fifo" --set "sinks[0].path=$T/out.jsonl" \
        --set "dead_letter.path=$T/dead.jsonl" --http 0 "$@" 2>"$T/err" &
    PID=$!
    exec 3>"$T/in.fifo"
    PORT=
    for _ in $(seq 100); do
        PORT=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$T/err")
        [ -n "$PORT" ] && break
        sleep 0.05
    done
    [ -n "$PORT" ] || { fail "no 'listening on' line: $(cat "$T/err")"; finish; }
}

# stop_run: ends the input; waits for weir; sets RC.
stop_run() {
    exec 3>&-
    wait "$PID"
    RC=$?
    PID=
}

# req RAW: sends RAW (printf %b escapes) and prints the whole response.
req() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf '%b' "$1" >&"$fd"
    timeout 5 cat <&"$fd"
    exec {fd}>&-
}
get() { req "GET $1 HTTP/1.1\r\nHost: x\r\n${2:-}\r\n"; }
status_of() { head -1 | tr -d '\r' | cut -d' ' -f2; }
body_of() { sed '1,/^\r$/d'; }
metric() { get /metrics | body_of | awk -v m="$1" '$1 == m {print $2}'; }

expect_eq() { # WHAT GOT WANT
    if [ "$2" = "$3" ]; then ok; else fail "$1: got '$2', want '$3'"; fi
}

# ---- 1. figures -----------------------------------------------------------------
start_run tests/golden/pipeline.json
head -100 tests/golden/input.jsonl >&3
for _ in $(seq 100); do
    [ "$(metric weir_records_out_total)" = 97 ] && [ "$(metric weir_dead_letters_total)" = 3 ] && break
    sleep 0.05
done
expect_eq "records in" "$(metric weir_records_in_total)" 100
expect_eq "records out" "$(metric weir_records_out_total)" 97
expect_eq "dead letters" "$(metric weir_dead_letters_total)" 3
expect_eq "extract in" "$(metric 'weir_operator_records_in_total{index="0",operator="extract"}')" 100
expect_eq "extract dead" "$(metric 'weir_operator_removed_total{index="0",operator="extract"}')" 3
expect_eq "threshold in" "$(metric 'weir_operator_records_in_total{index="3",operator="threshold"}')" 97
expect_eq "batch records sum" "$(metric weir_batch_records_sum)" 100
expect_eq "process histogram count = batches" \
    "$(metric 'weir_operator_process_seconds_count{index="0",operator="extract"}')" \
    "$(metric weir_batches_total)"
M=$(get /metrics)
expect_eq "/metrics status" "$(status_of <<<"$M")" 200
grep -q '^Content-Type: text/plain; version=0.0.4' <<<"$M" && ok || fail "/metrics content type"
grep -q '^# TYPE weir_event_age_seconds histogram' <<<"$M" && ok || fail "no event age histogram"
grep -q 'weir_event_age_seconds_bucket{le="+Inf"} 97' <<<"$M" && ok || fail "event age +Inf bucket != 97"
# Every bound, the empty tail too (a bound that appears later breaks
# histogram_quantile over rate()): 31 finite ones and +Inf.
expect_eq "event age bounds" "$(grep -c '^weir_event_age_seconds_bucket{' <<<"$M")" 32
# The inputs are of 2024: each age counts as the cap, 2^32 ms, in the sum
# (ages of years would wrap it after 1e7 records): 97 x 4294967.296 s.
expect_eq "event age sum, capped" "$(body_of <<<"$M" | awk '$1 == "weir_event_age_seconds_sum" {print $2}')" 416611828
# Every metric the Grafana dashboard and docs/operations.md use exists, in
# its table and in its alert rules (weir_model_*: only with a model operator,
# tests/test_model_cli.sh; weir_kafka_*: only with a Kafka client,
# tests/test_http_kafka.sh).
for name in $( (grep -o 'weir_[a-z_]*' docs/ops/grafana-dashboard.json
                grep -o '^| `weir_[a-z_]*' docs/operations.md | cut -c4-
                sed -n '/^Useful alerts:/,/^[^ ]/p' docs/operations.md |
                    grep '^    ' | grep -o 'weir_[a-z_]*') |
              sed 's/_\(bucket\|sum\|count\)$//' | grep -v '^weir_model_\|^weir_kafka_' | sort -u); do
    grep -q "^# TYPE $name " <<<"$M" && ok || fail "$name (dashboard or docs) is not in /metrics"
done
expect_eq "/healthz" "$(get /healthz | status_of)" 200
expect_eq "/readyz" "$(get /readyz | status_of)" 200
S=$(get /status.json | body_of)
if /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["records_in"]==100 and d["operators"][0]["dead"]==3, d' "$S" 2>"$T/py"; then
    ok
else
    fail "/status.json: $(cat "$T/py")"
fi
P=$(get /)
grep -q '<title>weir</title>' <<<"$P" && grep -q "fetch(url" <<<"$P" && ok || fail "status page"
H=$(req "HEAD /healthz HTTP/1.1\r\n\r\n")
expect_eq "HEAD status" "$(status_of <<<"$H")" 200
expect_eq "HEAD has no body" "$(body_of <<<"$H")" ""

# ---- 2. bad requests ------------------------------------------------------------
expect_eq "unknown path" "$(get /nope | status_of)" 404
H=$(req "HEAD /nope HTTP/1.1\r\n\r\n")
expect_eq "HEAD of an unknown path" "$(status_of <<<"$H")" 404
expect_eq "HEAD's 404 has no body" "$(body_of <<<"$H")" ""
R=$(req "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
expect_eq "POST" "$(status_of <<<"$R")" 405
grep -q '^Allow: GET, HEAD' <<<"$R" && ok || fail "405 without Allow"
expect_eq "junk" "$(req "GARBAGE\r\n\r\n" | status_of)" 400
expect_eq "header without colon" "$(req "GET / HTTP/1.1\r\nNoColon\r\n\r\n" | status_of)" 400
expect_eq "HTTP/2.0" "$(req "GET / HTTP/2.0\r\n\r\n" | status_of)" 505
BIG=$(head -c 5000 /dev/zero | tr '\0' a)
expect_eq "head over 4 KiB" "$(req "GET /$BIG HTTP/1.1\r\n" | status_of)" 431
expect_eq "still serving" "$(get /healthz | status_of)" 200

# ---- 3. a silent client -----------------------------------------------------------
exec {silent}<>"/dev/tcp/127.0.0.1/$PORT"
expect_eq "served beside a silent client" "$(get /readyz | status_of)" 200
t0=$(date +%s%3N)
timeout 10 cat <&"$silent" >/dev/null
t1=$(date +%s%3N)
exec {silent}>&-
waited=$((t1 - t0))
if [ "$waited" -ge 4000 ] && [ "$waited" -le 8000 ]; then ok; else
    fail "silent client closed after $waited ms, want about 5000"
fi

# ---- 4. a full table, many clients -------------------------------------------------
fds=()
for _ in $(seq 64); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT"
    fds+=("$fd")
done
# evicted: how many of the idle connections the server has closed (EOF).
evicted() {
    local n=0 fd x
    for fd in "${fds[@]}"; do
        read -r -t 0.01 -u "$fd" x
        [ $? = 1 ] && n=$((n + 1))
    done
    echo $n
}
# The server takes the 64 from its backlog in its own time (a loaded machine):
# a request that finds them all held waits for one to be evicted.
# Served within 4 s, with a few of the 64 closed: the head timeout (5 s)
# would serve it later and close all 64.
sleep 0.5
st= n=0 tries=0
t0=$(date +%s%N)
for tries in $(seq 5); do
    st=$(get /healthz | status_of)
    n=$(evicted)
    [ "$n" -ge 1 ] && break
done
waited=$((($(date +%s%N) - t0) / 1000000))
expect_eq "a request beside 64 idle connections" "$st" 200
[ "$n" -ge 1 ] && [ "$n" -le "$tries" ] && [ "$waited" -lt 4000 ] && ok ||
    fail "want one idle connection evicted per request, within 4 s: $n evicted in $tries tries, $waited ms"
for fd in "${fds[@]}"; do exec {fd}>&-; done
sleep 0.3
expect_eq "served after the idle ones left" "$(get /healthz | status_of)" 200
pids=()
for i in $(seq 100); do
    (get /metrics | status_of >"$T/c$i") &
    pids+=($!)
done
wait "${pids[@]}"
good=$(cat "$T"/c* | grep -c '^200$')
expect_eq "100 clients: answered 200" "$good" 100
expect_eq "still serving after 100" "$(get /healthz | status_of)" 200

# ---- 6. SIGHUP --------------------------------------------------------------------
hup_until "reload: .*: nothing the run uses changed; nothing to do" && ok || fail "SIGHUP log: $(cat "$T/err")"
kill -0 "$PID" 2>/dev/null && ok || fail "SIGHUP killed weir"

tail -100 tests/golden/input.jsonl >&3
stop_run
expect_eq "exit status" "$RC" 0
grep -q ': 200 records in, 195 out, 5 dead letters, 4 alerts' "$T/err" && ok || fail "summary: $(cat "$T/err")"

# SIGHUP with a broken file: reported, the run goes on.
cp tests/golden/pipeline.json "$T/p.json"
start_run "$T/p.json"
sed -i 's/"above": 0.999/"above": "high"/' "$T/p.json"
hup_until "not valid (above); the running pipeline goes on" && grep -q 'operators\[3\].above' "$T/err" &&
    ok || fail "invalid reload log: $(cat "$T/err")"
kill -0 "$PID" 2>/dev/null && ok || fail "SIGHUP (invalid file) killed weir"
expect_eq "serving after a failed reload" "$(get /healthz | status_of)" 200
stop_run
expect_eq "exit status after SIGHUP" "$RC" 0

# ---- 5. token ---------------------------------------------------------------------
printf 's3cret#tok&en\n' >"$T/token" # '#' and '&' reach a URL only as %23 and %26
start_run tests/golden/pipeline.json --http-token-file "$T/token"
expect_eq "no token" "$(get /metrics | status_of)" 401
expect_eq "wrong token" "$(get /metrics 'Authorization: Bearer nope\r\n' | status_of)" 401
expect_eq "bearer token" "$(get /metrics 'Authorization: Bearer s3cret#tok&en\r\n' | status_of)" 200
expect_eq "bearer, any case" "$(get /metrics 'Authorization: bearer s3cret#tok&en\r\n' | status_of)" 200
expect_eq "query token" "$(get '/status.json?token=s3cret%23tok%26en' | status_of)" 200
expect_eq "query token, not decoded" "$(get '/status.json?token=s3cret%23tok%2' | status_of)" 401
expect_eq "healthz without token" "$(get /healthz | status_of)" 200
stop_run
expect_eq "exit status (token run)" "$RC" 0

# A filter's drops: counted apart from dead letters, and per operator.
/usr/bin/python3 -c "import json,sys; d=json.load(open('tests/golden/pipeline.json')); d['operators'].insert(1, {'type': 'filter', 'keep': 'cpu < 50'}); json.dump(d, open(sys.argv[1], 'w'))" "$T/filter.json"
start_run "$T/filter.json"
cat tests/golden/input.jsonl >&3
for _ in $(seq 100); do [ "$(metric weir_dropped_total)" = 2 ] && break; sleep 0.05; done
expect_eq "dropped" "$(metric weir_dropped_total)" 2
expect_eq "filter removed" "$(metric 'weir_operator_removed_total{index="1",operator="filter"}')" 2
expect_eq "filter out" "$(metric 'weir_operator_records_out_total{index="1",operator="filter"}')" 193
expect_eq "out with a filter" "$(metric weir_records_out_total)" 193
stop_run
expect_eq "exit status (filter run)" "$RC" 0

# Keys a bound evicted: counted per operator (/metrics, /status.json) and
# said once. standardize by host with max_keys 2, over three hosts.
start_run tests/golden/pipeline.json --set 'operators[1].by=host' --set 'operators[1].max_keys=2'
cat tests/golden/input.jsonl >&3
for _ in $(seq 100); do [ "$(metric weir_records_out_total)" = 195 ] && break; sleep 0.05; done
EV=$(metric 'weir_operator_keys_evicted_total{index="1",operator="standardize"}')
[ "${EV:-0}" -gt 100 ] 2>/dev/null && ok || fail "standardize evicted: '$EV'"
expect_eq "threshold evicted" \
    "$(metric 'weir_operator_keys_evicted_total{index="3",operator="threshold"}')" 0
S=$(get /status.json | body_of)
expect_eq "/status.json evicted" "$(/usr/bin/python3 -c 'import json,sys
print(json.loads(sys.argv[1])["operators"][1]["evicted"])' "$S")" "$EV"
stop_run
expect_eq "exit status (evicting run)" "$RC" 0
FULL='operators\[1\] (standardize): keyed state full at max_keys 2 (2 keys'
expect_eq "said once" "$(grep -c "$FULL" "$T/err")" 1

# The pipeline's "http" section does the same as --http.
rm -f "$T/err"
"$WEIR_BIN" run tests/golden/pipeline.json --set 'http={"listen":"127.0.0.1:0"}' \
    --set "sinks[0].path=$T/out.jsonl" --set "dead_letter.path=$T/dead.jsonl" 2>"$T/err" </dev/null
grep -q '^weir: http: listening on 127.0.0.1:[0-9]*$' "$T/err" && ok || fail "http section: $(cat "$T/err")"
"$WEIR_BIN" validate tests/golden/pipeline.json --set 'http={"listen":"127.0.0.1:99999"}' >/dev/null 2>"$T/err"
grep -q 'http.listen: expected \[ADDR:\]PORT with ADDR an IPv4 or IPv6 address and PORT 0 to 65535, got "127.0.0.1:99999"' "$T/err" && ok ||
    fail "http.listen check: $(cat "$T/err")"
# a name is not an address the listener binds (weir run stopped at start)
"$WEIR_BIN" validate tests/golden/pipeline.json --set 'http={"listen":"localhost:9090"}' >/dev/null 2>"$T/err"
grep -q 'http.listen: expected .* got "localhost:9090"' "$T/err" && ok || fail "http.listen name: $(cat "$T/err")"

# Bad flags are usage errors.
"$WEIR_BIN" run tests/golden/pipeline.json --http nope 2>"$T/e" </dev/null
expect_eq "--http nope" "$?" 2
"$WEIR_BIN" run tests/golden/pipeline.json --http 0 --http-token-file "$T/missing" 2>"$T/e" </dev/null
expect_eq "missing token file" "$?" 2

finish
