#!/usr/bin/env bash
# Sink projections end to end (`weir run`, file source, file sinks): a CSV
# with label columns and a JSON Lines file go through sinks with "exclude",
# "fields" (wildcards) and the default; the outputs' keys, their order and
# values are checked with Python. Then the ULB data (V1..V28, Class), when
# present, against the CSV read by Python; wildcards in extract; a computed
# field named like an input field without a projection.
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PY=/usr/bin/python3

cat >"$T/tx.csv" <<'CSV'
TRANSACTION_ID,TX_AMOUNT,CUSTOMER_ID,V1,V2,V10,TX_FRAUD,TX_FRAUD_SCENARIO
1,10.5,c1,0.1,0.2,0.3,0,0
2,99,c2,-1,2,3e2,1,2
3,"1,000",c1,,0.5,7,0,0
CSV

cat >"$T/p.json" <<JSON
{
  "source": {"type": "file", "path": "$T/tx.csv"},
  "operators": [
    {"type": "extract", "fields": {"amount": {"path": "/TX_AMOUNT", "default": 0}, "v1": {"path": "/V1", "default": 0}}},
    {"type": "standardize", "fields": ["v1"], "out": ["v1_z"]}
  ],
  "sinks": [
    {"type": "file", "path": "$T/default.jsonl"},
    {"type": "file", "path": "$T/nolabels.jsonl", "exclude": ["TX_FRAUD*"]},
    {"type": "file", "path": "$T/vstar.jsonl", "fields": ["TRANSACTION_ID", "V*", "v1_z"], "exclude": ["V1?"]},
    {"type": "file", "path": "$T/text.txt", "format": "text", "exclude": ["TX_*"]}
  ],
  "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}
}
JSON
"$WEIR_BIN" run "$T/p.json" --quiet >"$T/out" 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else fail "csv run: exit $rc: $(cat "$T/err")"; fi

# check FILE LINES KEYS...: every line has exactly these keys, in this order.
check() {
    local file=$1
    if "$PY" - "$@" <<'PYEOF'; then ok; else fail "$file: keys differ"; fi
import json, sys
lines = open(sys.argv[1]).read().splitlines()
nlines, want = int(sys.argv[2]), sys.argv[3:]
assert len(lines) == nlines, lines
for line in lines:
    got = [k for k, _ in json.loads(line, object_pairs_hook=lambda p: p)]
    if got != want:
        print("got", got, "want", want, file=sys.stderr)
        sys.exit(1)
PYEOF
}
check "$T/default.jsonl" 2 TRANSACTION_ID TX_AMOUNT CUSTOMER_ID V1 V2 V10 TX_FRAUD TX_FRAUD_SCENARIO v1_z alert
check "$T/nolabels.jsonl" 2 TRANSACTION_ID TX_AMOUNT CUSTOMER_ID V1 V2 V10 v1_z alert
check "$T/vstar.jsonl" 2 TRANSACTION_ID V1 V2 v1_z
# Row 3 ("1,000" is no number) is a dead letter, with its raw row.
if [ "$(wc -l <"$T/dead.jsonl")" -eq 1 ] && grep -q '1,000' "$T/dead.jsonl"; then ok
else fail "dead letters: $(cat "$T/dead.jsonl")"; fi
# The input's values survive as they were (CSV: numbers as numbers).
if "$PY" - "$T/nolabels.jsonl" <<'PYEOF'; then ok; else fail "nolabels values"; fi
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["V1"] == 0.1 and rows[1]["V10"] == 300 and rows[0]["CUSTOMER_ID"] == "c1", rows
PYEOF
if grep -q 'TX_' "$T/text.txt"; then fail "text output shows an excluded label"; else ok; fi
if [ "$(wc -l <"$T/text.txt")" -eq 2 ]; then ok; else fail "text output: $(cat "$T/text.txt")"; fi

# JSON Lines: nested values and escaped keys go through whole; "fields" names
# input fields; an input field absent from a record is just absent.
printf '%s\n' '{"id":7,"nested":{"TX_FRAUD":1,"s":"},{"},"TX_FRAUD":1,"\u0041mount":5}' \
    '{"TX_FRAUD":0,"id":8}' >"$T/in.jsonl"
cat >"$T/j.json" <<JSON
{
  "source": {"type": "file", "path": "$T/in.jsonl"},
  "operators": [{"type": "extract", "fields": {"id": "/id"}}],
  "sinks": [{"type": "file", "path": "$T/j.jsonl", "fields": ["id", "nested", "Amount"], "exclude": ["TX_FRAUD"]}],
  "dead_letter": {"type": "file", "path": "$T/jdead.jsonl"}
}
JSON
"$WEIR_BIN" run "$T/j.json" --quiet 2>"$T/err"
want='{"id":7,"nested":{"TX_FRAUD":1,"s":"},{"},"\u0041mount":5}
{"id":8}'
if [ "$(cat "$T/j.jsonl")" = "$want" ]; then ok; else fail "jsonl projection: $(cat "$T/j.jsonl" "$T/err")"; fi

# A typo of a computed field is refused; a CSV header lets weir check names.
"$WEIR_BIN" validate "$T/p.json" --set 'sinks[2].fields=["v1_zz"]' >/dev/null 2>"$T/err"
if grep -q 'sinks\[2\].fields\[0\]: unknown field "v1_zz" (did you mean "v1_z"?)' "$T/err"; then ok
else fail "typo not refused: $(cat "$T/err")"; fi
"$WEIR_BIN" validate "$T/p.json" --set 'sinks[2].fields=["CUSTOMER_ID", "CUSTOMERID"]' >/dev/null 2>"$T/err"
if grep -q 'sinks\[2\].fields\[1\]: unknown field "CUSTOMERID" (did you mean "CUSTOMER_ID"?)' "$T/err"; then ok
else fail "unknown CSV column not refused: $(cat "$T/err")"; fi

# encode: one-hot and hashed features of a CSV column, picked by wildcard.
printf 'id,cat\n1,food\n2,travel\n3,toys\n4,\n' >"$T/cat.csv"
cat >"$T/e.json" <<JSON
{
  "source": {"type": "file", "path": "$T/cat.csv"},
  "operators": [
    {"type": "extract", "fields": {"cat": {"path": "/cat", "type": "string", "required": false}}},
    {"type": "encode", "field": "cat", "values": ["food", "travel"], "other": true},
    {"type": "encode", "field": "cat", "buckets": 4, "prefix": "cat_h"}
  ],
  "sinks": [{"type": "file", "path": "$T/e.jsonl", "fields": ["id", "cat_*"], "exclude": ["cat_h*"]},
            {"type": "file", "path": "$T/h.jsonl", "fields": ["cat_h?"]}],
  "dead_letter": {"type": "file", "path": "$T/edead.jsonl"}
}
JSON
"$WEIR_BIN" run "$T/e.json" --quiet 2>"$T/err"
want='{"id":1,"cat_food":1,"cat_travel":0,"cat_other":0}
{"id":2,"cat_food":0,"cat_travel":1,"cat_other":0}
{"id":3,"cat_food":0,"cat_travel":0,"cat_other":1}
{"id":4,"cat_food":0,"cat_travel":0,"cat_other":1}'
if [ "$(cat "$T/e.jsonl")" = "$want" ]; then ok; else fail "encode one-hot: $(cat "$T/e.jsonl" "$T/err")"; fi
if "$PY" - "$T/h.jsonl" <<'PYEOF'; then ok; else fail "encode hashing: $(cat "$T/h.jsonl")"; fi
import json, sys
def fnv1a(s):
    h = 0x811c9dc5
    for c in s.encode():
        h = ((h ^ c) * 0x01000193) & 0xffffffff
    return h
rows = [json.loads(l) for l in open(sys.argv[1])]
for row, cat in zip(rows, ["food", "travel", "toys", None]):
    want = {"cat_h%d" % k: 0 for k in range(4)}
    if cat is not None:
        want["cat_h%d" % (fnv1a(cat) % 4)] = 1
    assert row == want, (row, want)
PYEOF

# The ULB data: 28 PCA columns by wildcard, the label dropped.
ULB=../shared/data/fraud/ulb_head5000/creditcard_head5000.csv
if [ -f "$ULB" ]; then
    cat >"$T/u.json" <<JSON
{
  "source": {"type": "file", "path": "$PWD/$ULB"},
  "operators": [{"type": "extract", "fields": {"V*": "/V*", "amount": "/Amount"}}],
  "sinks": [{"type": "file", "path": "$T/u.jsonl", "fields": ["V*", "Amount"]},
            {"type": "file", "path": "$T/u2.jsonl", "exclude": ["Class", "V*"], "fields": ["*"]}],
  "dead_letter": {"type": "file", "path": "$T/udead.jsonl"}
}
JSON
    "$WEIR_BIN" run "$T/u.json" --quiet 2>"$T/err"
    if "$PY" - "$T/u.jsonl" "$ULB" <<'PYEOF'; then ok; else fail "ulb projection: $(cat "$T/err")"; fi
import csv, json, sys
out = [json.loads(l, object_pairs_hook=lambda p: p) for l in open(sys.argv[1])]
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(out) == len(rows) == 5000, (len(out), len(rows))
want = ["V%d" % i for i in range(1, 29)] + ["Amount"]
for o, r in zip(out, rows):
    assert [k for k, _ in o] == want, o
    for k, v in o:  # V1..V28: extract's features (floats) in the input's places
        assert abs(v - float(r[k])) <= 1e-6 * max(1.0, abs(float(r[k]))), (k, v, r[k])
PYEOF
    check "$T/u2.jsonl" 5000 Time Amount amount alert
fi

# The pointer "" (the record itself) on a CSV row: an object, not a number,
# so a dead letter; it was read past its end (the row's listed members).
cat >"$T/root.json" <<JSON
{"name": "root", "source": {"type": "file", "path": "$T/tx.csv"},
 "operators": [{"type": "extract", "fields": {"whole": ""}}],
 "sinks": [{"type": "file", "path": "/dev/null"}],
 "dead_letter": {"type": "file", "path": "$T/root.jsonl"}}
JSON
"$WEIR_BIN" run "$T/root.json" --quiet >/dev/null 2>"$T/err"
n=$(grep -c 'field \\"whole\\" (): expected a number, got an object' "$T/root.jsonl")
if [ "$n" = 3 ] && [ ! -s "$T/err" ]; then ok; else fail "the root pointer on CSV: $n, $(cat "$T/err")"; fi

# A wildcard in extract expands against the input's fields known at load: a
# JSON Lines file's first records' members (escapes decoded: "\u0041mount"
# is Amount); a record without the member takes the default.
"$WEIR_BIN" run "$T/j.json" --quiet --set 'operators[0].fields={"id": "/id", "a_*": {"path": "/A*", "default": -1}}' \
    --set 'sinks[0].fields=["id", "a_*"]' 2>"$T/err"
want='{"id":7,"a_mount":5}
{"id":8,"a_mount":-1}'
if [ "$(cat "$T/j.jsonl")" = "$want" ]; then ok; else fail "jsonl wildcard: $(cat "$T/j.jsonl" "$T/err")"; fi
"$WEIR_BIN" validate "$T/j.json" --set 'operators[0].fields={"V*": "/V*"}' >/dev/null 2>"$T/err"
if grep -q 'operators\[0\].fields.V\*: expected "/V\*" to match a field of the input, got none (its fields: id, nested, ...)' "$T/err"; then ok
else fail "jsonl wildcard, no match: $(cat "$T/err")"; fi
# From stdin the fields are not known at load.
"$WEIR_BIN" validate "$T/j.json" --set source.path=- --set 'operators[0].fields={"V*": "/V*"}' </dev/null >/dev/null 2>"$T/err"
if grep -q 'operators\[0\].fields.V\*: expected the input.s fields known when the pipeline loads' "$T/err"; then ok
else fail "stdin wildcard: $(cat "$T/err")"; fi

# A computed field named like an input field the pipeline reads takes its
# place, with no "fields" or "exclude" too: the record is not copied whole
# with "amount" in it twice (a JSON Lines file read from a pipe, so its
# members are not known at load: extract's pointer says the input has it).
printf '{"amount": 1, "card": "a"}\n{"amount": 2.5, "card": "b"}\n' >"$T/shadow.jsonl"
cat >"$T/shadow.json" <<JSON
{
  "source": {"type": "file", "path": "-"},
  "operators": [
    {"type": "extract", "fields": {"a": "/amount"}},
    {"type": "derive", "fields": {"amount": "a * 10"}}
  ],
  "sinks": [{"type": "file", "path": "-"}, {"type": "file", "path": "$T/shadow.txt", "format": "text"}]
}
JSON
"$WEIR_BIN" run "$T/shadow.json" --quiet <"$T/shadow.jsonl" >"$T/shadow.out" 2>"$T/err"
want='{"amount":10,"card": "a","alert":false}
{"amount":25,"card": "b","alert":false}'
if [ "$(cat "$T/shadow.out")" = "$want" ]; then ok; else fail "shadowed input field: $(cat "$T/shadow.out" "$T/err")"; fi
# A text line shows the computed fields apart, then the record as it came.
want='ok     line 1       amount=10  {"amount": 1, "card": "a"}
ok     line 2       amount=25  {"amount": 2.5, "card": "b"}'
if [ "$(cat "$T/shadow.txt")" = "$want" ]; then ok; else fail "shadowed input field, text: $(cat "$T/shadow.txt")"; fi

# An extract's copy of an input field named after it ("V*": "/V*"), named
# by a sink's "fields" (a pattern or the name): the input's own bytes are
# written, not the copy (-1.3598071336738 came out as the float -1.3598071,
# 12345678901 as 12345679000, "3" as 3).
printf 'ID,V1,V2,amt\n1,-1.3598071336738,12345678901,12.50\n2,0.5,7,"3"\n' >"$T/v.csv"
cat >"$T/v.json" <<JSON
{"source": {"type": "file", "path": "$T/v.csv"},
 "operators": [{"type": "extract", "fields": {"V*": "/V*", "amt": "/amt", "amount": "/amt"}},
               {"type": "derive", "fields": {"s": "V1 + V2"}}],
 "sinks": [{"type": "file", "path": "$T/v1.jsonl", "fields": ["ID", "V*", "amt", "amount"]}]}
JSON
"$WEIR_BIN" run "$T/v.json" --quiet 2>"$T/v.err" || fail "extract copies: $(cat "$T/v.err")"
want='{"ID":1,"V1":-1.3598071336738,"V2":12345678901,"amt":12.50,"amount":12.5}
{"ID":2,"V1":0.5,"V2":7,"amt":"3","amount":3}'
if [ "$(cat "$T/v1.jsonl")" = "$want" ]; then ok; else fail "extract copies named by fields: $(cat "$T/v1.jsonl")"; fi

finish
