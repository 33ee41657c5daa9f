#!/usr/bin/env bash
# Metrics of a Kafka pipeline (embedded cluster, a paced replay into partition
# 0 of 4, 2 workers), scraped mid-run: /readyz is 200 once partitions are
# assigned; every partition has lag, position, high watermark and committed
# offset with its topic and partition; for partition 0 position > 0, the high
# watermark >= position, lag = high - position, committed <= position; the
# other partitions (nothing produced) have position -1. After SIGINT the
# summary's "records in" equals the last /metrics records_in or more; one
# log line per worker's assignment.
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-http-kafka.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

"$WEIR_BIN" run pipelines/monitor-embedded.json --http 0 --workers 2 --set replay.rate=1000 \
    >/dev/null 2>"$T/err" &
PID=$!
PORT=
for _ in $(seq 200); do
    PORT=$(sed -n 's/^weir: http: listening on .*:\([0-9]*\)$/\1/p' "$T/err")
    [ -n "$PORT" ] && break
    sleep 0.05
done
[ -n "$PORT" ] || { fail "no port: $(cat "$T/err")"; finish; }

get() {
    local fd
    exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || return 1
    printf 'GET %s HTTP/1.1\r\n\r\n' "$1" >&"$fd"
    timeout 5 cat <&"$fd"
    exec {fd}>&-
}
ready=
for _ in $(seq 100); do
    ready=$(get /readyz | head -1 | cut -d' ' -f2)
    [ "$ready" = 200 ] && break
    sleep 0.1
done
[ "$ready" = 200 ] && ok || fail "/readyz never 200 ($ready)"
val() { awk -v m="$1" '$1 == m {print $2}' "$T/m"; }
for _ in $(seq 200); do # records flow, the source's 500 ms tick publishes partition 0's position
    get /metrics >"$T/m"
    [ "$(grep -c '^weir_partition_position{topic="cpu-metrics",partition="0",worker="[0-9]"} [1-9]' "$T/m")" = 1 ] && break
    sleep 0.1
done
lbl='{topic="cpu-metrics",partition="0",worker="'
w=$(grep -o "^weir_partition_position{topic=\"cpu-metrics\",partition=\"0\",worker=\"[0-9]\"}" "$T/m" | sed 's/.*worker="\([0-9]\)".*/\1/')
[ -n "$w" ] && ok || fail "no position for partition 0: $(grep weir_partition "$T/m")"
pos=$(val "weir_partition_position$lbl$w\"}")
high=$(val "weir_partition_high_watermark$lbl$w\"}")
lag=$(val "weir_partition_lag$lbl$w\"}")
com=$(val "weir_partition_committed_offset$lbl$w\"}")
[ "${pos:-0}" -gt 0 ] && ok || fail "position $pos"
[ "${high:--1}" -ge "${pos:-0}" ] && ok || fail "high watermark $high < position $pos"
[ "$lag" = $((high - pos)) ] && ok || fail "lag $lag != $high - $pos"
[ "${com:-99999999}" -le "${pos:-0}" ] && ok || fail "committed $com > position $pos"
n=$(grep -c '^weir_partition_lag{topic="cpu-metrics",partition="[0-3]",worker="[01]"}' "$T/m")
[ "$n" -eq 4 ] && ok || fail "lag series: $n (want 4: 4 partitions)"
for p in 1 2 3; do
    v=$(grep "^weir_partition_position{topic=\"cpu-metrics\",partition=\"$p\"," "$T/m" | awk '{print $2}')
    [ "$v" = -1 ] && ok || fail "partition $p position '$v' (want -1: nothing produced there)"
done
# Kafka's own counters exist once a client does (none reset here)
grep -q '^# TYPE weir_kafka_offset_resets_total counter$' "$T/m" && ok || fail "no offset reset counter"
[ "$(val weir_kafka_offset_resets_total)" = 0 ] && ok || fail "offset resets: $(val weir_kafka_offset_resets_total)"
inm=$(val weir_records_in_total)
kill -INT "$PID"
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok || fail "exit $rc: $(cat "$T/err")"
# One log line per assignment (a real broker's rebalances log the same way).
n=$(grep -c '^weir: kafka source (worker [01]): assigned (embedded cluster: fixed) 2 partition(s): cpu-metrics\[[0-3],[0-3]\]$' "$T/err")
[ "$n" -eq 2 ] && ok || fail "assignment lines: $n: $(cat "$T/err")"
sum=$(sed -n 's/^weir: monitor-embedded: \([0-9]*\) records in,.*/\1/p' "$T/err")
[ "${sum:-0}" -ge "${inm:-1}" ] && ok || fail "summary records in $sum < scraped $inm"
finish
