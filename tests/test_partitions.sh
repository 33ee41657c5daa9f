#!/usr/bin/env bash
# State per partition: a NAB series replayed over the embedded cluster's 4
# partitions (keyed by timestamp, so each record's partition is fixed) with
# two workers gives the same alerts in every run, however the partitions
# interleave in a worker. (Before Engine v2 the operators mixed all
# partitions of a worker: 17-39 alerts from run to run.)
set -euo pipefail
SRC=${WEIR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
WEIR=${WEIR_BIN:-$SRC/build/weir}
cd "$SRC"
T=$(mktemp -d /tmp/weir-test-partitions.XXXXXX)
trap 'rm -rf "$T"' EXIT
passed=0 failed=0
for k in 1 2 3 4 5; do
    timeout 120 "$WEIR" run pipelines/monitor-embedded.json --workers 2 --set replay.partition=-1 \
        --set replay.key=timestamp --quiet >"$T/run$k.txt" 2>"$T/run$k.err" || {
        echo "test_partitions: FAIL: run $k exited $?: $(tail -n2 "$T/run$k.err")"; failed=$((failed + 1)); continue; }
    # "ALERT  pP@OFFSET  fields  record": the same set of records, whatever the order
    sed -E 's/^ALERT +p[0-9]+@[0-9]+ +//' "$T/run$k.txt" | sort >"$T/alerts$k.txt"
done
n=$(wc -l <"$T/alerts1.txt")
for k in 2 3 4 5; do
    if cmp -s "$T/alerts1.txt" "$T/alerts$k.txt"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "test_partitions: FAIL: run $k's alerts differ from run 1's ($n): $(diff "$T/alerts1.txt" "$T/alerts$k.txt" | head -4)"
    fi
done
((n > 0)) && passed=$((passed + 1)) || { failed=$((failed + 1)); echo "test_partitions: FAIL: no alerts at all"; }
echo "test_partitions: 5 runs over 4 partitions, 2 workers: $n alerts each time"
echo "$passed passed, $failed failed"
((failed == 0))
