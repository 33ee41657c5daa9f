#!/usr/bin/env bash
# The example pipeline tests/pipelines/fraud-windows.json (the Fraud Detection
# Handbook's per-customer and delayed per-terminal windows) over the first
# eight days of ../shared/data/fraud/fdh/daily/:
#   1. every window value equals the handbook's pandas computation
#      (groupby + rolling("Nd"); terminal windows as rolling(d + w) - rolling(d))
#      within 1e-4 relative (outputs are float32);
#   2. two runs over days 1-5 and 6-8 with one --state-dir write exactly what
#      one run over the eight days writes (the windows survive the restart).
#   3. tests/pipelines/fraud-daily.json (tumbling 1-day windows per terminal,
#      the aggregate operator through a real worker) writes one record per
#      (terminal, day) for days 1-7 with pandas' count, sum and max, none for
#      day 8 (its end is past the watermark), and the same windows when run
#      in two halves with one --state-dir; and a record of a day already
#      written, in a third run, is late (the watermark was restored).
# Skipped (77) without the data or without pandas (Debian's python3-pandas).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
DAILY=../shared/data/fraud/fdh/daily
PY=/usr/bin/python3
if [ ! -d "$DAILY" ] || ! "$PY" -c 'import pandas' 2>/dev/null; then
    echo "no fraud data or no pandas: skipped"
    exit 77
fi
WORK=$(mktemp -d /tmp/weir-test-window.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
days() { # first last → CSV with one header
    local files=()
    for d in $(seq "$1" "$2"); do files+=("$(printf "%s/2018-04-%02d.csv.gz" "$DAILY" "$d")"); done
    zcat "${files[@]}" | awk 'NR == 1 || !/^TRANSACTION_ID/'
}
days 1 8 >"$WORK/all.csv"
days 1 5 >"$WORK/a.csv"
days 6 8 >"$WORK/b.csv"
run() { # input output extra...
    local in=$1 out=$2
    shift 2
    "$WEIR_BIN" run tests/pipelines/fraud-windows.json --set source.path="$in" \
        --set "sinks[0].path=$out" --quiet "$@"
}
run "$WORK/all.csv" "$WORK/whole.jsonl" || fail "the pipeline did not run"

if "$PY" - "$WORK/all.csv" "$WORK/whole.jsonl" <<'PYEOF'; then ok; else fail "values differ from pandas"; fi
import json, sys
import numpy as np
import pandas as pd

df = pd.read_csv(sys.argv[1], parse_dates=["TX_DATETIME"])
df["ONE"] = 1.0
want = pd.DataFrame(index=df.index)
def roller(key, cols):
    # groupby(sort=True) yields groups in key order, rows in file order:
    # the rolling results line up with this permutation of the rows.
    order = np.lexsort((np.arange(len(df)), df[key].values))
    g = df.set_index("TX_DATETIME").groupby(key, sort=True)[cols]
    def roll(days):
        out = np.empty((len(df), len(cols)))
        out[order] = g.rolling(f"{days}d").sum().values
        return out
    return roll
roll = roller("CUSTOMER_ID", ["ONE", "TX_AMOUNT"])
for w in (1, 7, 30):
    r = roll(w)
    want[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = r[:, 0]
    want[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = r[:, 1] / r[:, 0]
roll = roller("TERMINAL_ID", ["ONE", "TX_FRAUD"])
r7 = roll(7)
for w in (1, 7, 30):
    r = roll(7 + w) - r7
    want[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = r[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        want[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = np.nan_to_num(r[:, 1] / r[:, 0], nan=0.0)
got = pd.DataFrame([json.loads(l) for l in open(sys.argv[2])])
assert len(got) == len(df), (len(got), len(df))
assert (got["TRANSACTION_ID"].values == df["TRANSACTION_ID"].values).all()
bad = 0
for col in want.columns:
    w, x = want[col].values, got[col].values.astype(float)
    off = np.abs(x - w) > 1e-4 * np.abs(w) + 1e-6
    if off.any():
        i = np.argmax(off)
        print(f"{col}: {off.sum()} values differ, e.g. row {i}: {x[i]} want {w[i]}")
        bad += 1
    print(f"{col}: {len(w)} values, max {w.max():.4g}")
sys.exit(1 if bad else 0)
PYEOF

run "$WORK/a.csv" "$WORK/1.jsonl" --state-dir "$WORK/state" || fail "first half did not run"
run "$WORK/b.csv" "$WORK/2.jsonl" --state-dir "$WORK/state" || fail "second half did not run"
if cat "$WORK/1.jsonl" "$WORK/2.jsonl" | cmp -s - "$WORK/whole.jsonl"; then
    ok
else
    fail "two runs with --state-dir differ from one run"
fi
run "$WORK/b.csv" "$WORK/fresh.jsonl"
if cmp -s "$WORK/2.jsonl" "$WORK/fresh.jsonl"; then
    fail "without --state-dir the second half is the same: the check proves nothing"
else
    ok
fi

daily() { # input output extra...
    local in=$1 out=$2
    shift 2
    "$WEIR_BIN" run tests/pipelines/fraud-daily.json --set source.path="$in" \
        --set "sinks[0].path=$out" --quiet "$@"
}
daily "$WORK/all.csv" "$WORK/daily.jsonl" || fail "the daily pipeline did not run"
if "$PY" - "$WORK/all.csv" "$WORK/daily.jsonl" <<'PYEOF'; then ok; else fail "daily windows differ from pandas"; fi
import json, sys
import pandas as pd
df = pd.read_csv(sys.argv[1], parse_dates=["TX_DATETIME"])
df["DAY"] = df["TX_DATETIME"].dt.strftime("%Y-%m-%dT00:00:00.000Z")
df = df[df["DAY"] < "2018-04-08"]  # day 8 ends after the last record: still open
want = df.groupby(["TERMINAL_ID", "DAY"])["TX_AMOUNT"].agg(["count", "sum", "max"])
got = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    if "window_start" in r:
        k = (int(r["TERMINAL_ID"]), r["window_start"])
        assert k not in got, k
        got[k] = (r["DAY_NB_TX"], r["DAY_AMOUNT"], r["DAY_MAX_AMOUNT"])
assert len(got) == len(want), (len(got), len(want))
for (term, day), row in want.iterrows():
    n, s, m = got[(term, day)]
    assert n == row["count"] and abs(s - row["sum"]) <= 1e-4 * abs(row["sum"]) + 1e-3 \
        and abs(m - row["max"]) <= 1e-4 * row["max"], (term, day, n, s, m, row)
print(f"{len(got)} daily windows match pandas")
PYEOF
daily "$WORK/a.csv" "$WORK/d1.jsonl" --state-dir "$WORK/dstate" || fail "daily first half did not run"
daily "$WORK/b.csv" "$WORK/d2.jsonl" --state-dir "$WORK/dstate" || fail "daily second half did not run"
if cmp -s <(cat "$WORK/d1.jsonl" "$WORK/d2.jsonl" | grep window_start | sort) \
    <(grep window_start "$WORK/daily.jsonl" | sort); then
    ok
else
    fail "daily windows in two runs with --state-dir differ from one run"
fi
# The watermark survives the restart too: a third run given one record of
# day 1 (long written out) finds it late and dead-letters it, instead of
# opening a day-1 window again and writing it twice.
head -1 "$WORK/a.csv" >"$WORK/c.csv"
sed -n 2p "$WORK/a.csv" >>"$WORK/c.csv"
daily "$WORK/c.csv" "$WORK/d3.jsonl" --state-dir "$WORK/dstate" \
    --set 'dead_letter={"type": "file", "path": "'"$WORK/d3.dead"'"}' || fail "daily third run did not run"
if [ "$(grep -c window_start "$WORK/d3.jsonl")" = 0 ] &&
    grep -q 'behind the watermark (late)' "$WORK/d3.dead"; then
    ok
else
    fail "a record behind the restored watermark: $(cat "$WORK/d3.jsonl" "$WORK/d3.dead" 2>&1 | head -5)"
fi
finish
