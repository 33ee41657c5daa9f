#!/usr/bin/env bash
# bench_fraud_eval end to end on a tiny data directory made here: three
# days of transactions; a customer whose fraud is known before the test day
# (delay 1) is removed, one whose fraud is too recent is kept; a perfect
# score gives AUC 1, AP 1; an unscored test transaction is counted and
# ranks lowest; a missing day is an error; known frauds are read from a
# week before the delay by default. Skipped (77) without the binary
# (-DWEIR_BENCH=OFF).
#
# Env: WEIR_BUILD (the build directory).
set -u
. "$(dirname "$0")/lib.sh"

BIN="${WEIR_BUILD:-build}/bench_fraud_eval"
[ -x "$BIN" ] || { echo "skipped: $BIN not built"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/d/daily"
H=TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO
printf '%s\n1,2018-01-01 10:00:00,7,1,10.00,0,0,1,1\n2,2018-01-01 11:00:00,8,1,10.00,0,0,0,0\n' "$H" |
  gzip >"$T/d/daily/2018-01-01.csv.gz"
printf '%s\n3,2018-01-02 10:00:00,9,1,10.00,0,0,1,1\n' "$H" | gzip >"$T/d/daily/2018-01-02.csv.gz"
# test day: 7 (fraud known since day 1: removed), 9 (fraud on day 2, not yet
# known with a delay of 1), 8 and 10 genuine
printf '%s\n4,2018-01-03 01:00:00,7,1,10.00,0,0,1,1\n5,2018-01-03 02:00:00,8,1,10.00,0,0,0,0\n6,2018-01-03 03:00:00,9,1,10.00,0,0,1,1\n7,2018-01-03 04:00:00,10,1,10.00,0,0,0,0\n' "$H" |
  gzip >"$T/d/daily/2018-01-03.csv.gz"
for i in 1 2 3 4 5 6 7; do
  s=0.1; [ $i -eq 6 ] && s=0.9; [ $i -eq 4 ] && s=0.95
  [ $i -ne 7 ] && echo "{\"TRANSACTION_ID\":$i,\"CUSTOMER_ID\":0,\"fraud_score\":$s}"
done >"$T/s.jsonl"
echo '{"TRANSACTION_ID":99,"fraud_score":1}' >>"$T/s.jsonl"
out=$("$BIN" "$T/s.jsonl" "$T/d" --test-start 2018-01-03 --days 1 --delay 1 \
      --known-from 2018-01-01 --k 2 --pr-svg "$T/pr.svg" 2>&1 | tail -n1)
want='"test_transactions":3,"frauds":1,"removed_known_customers":1,"unscored":1,"unknown_ids":1,"auc_roc":1.0,"average_precision":1.0,"k":2,"card_precision_at_k":0.5'
case "$out" in *"$want"*) ok "protocol: removal, unscored, AUC/AP 1, CP@2 0.5" ;;
  *) fail "got $out" ;; esac
grep -q '<path' "$T/pr.svg" && ok "PR curve written" || fail "no PR curve"
# without --known-from the known frauds start a training week before the
# delay: 2018-01-03 - 1 - 7 days, a day this directory lacks
"$BIN" "$T/s.jsonl" "$T/d" --test-start 2018-01-03 --days 1 --delay 1 >"$T/out" 2>"$T/err" &&
  fail "known-from default: a missing day was accepted" ||
  { grep -q '2017-12-26.csv.gz: cannot read it' "$T/err" && ok "known-from: test start - delay - 7 days" ||
    fail "known-from default: $(cat "$T/err")"; }
rm "$T/d/daily/2018-01-02.csv.gz"
"$BIN" "$T/s.jsonl" "$T/d" --test-start 2018-01-03 --days 1 --delay 1 --known-from 2018-01-01 \
  >"$T/out" 2>"$T/err" && fail "a missing day was accepted" ||
  { grep -q '2018-01-02.csv.gz: cannot read it' "$T/err" && ok "a missing day is an error" ||
    fail "missing day: $(cat "$T/err")"; }
finish
