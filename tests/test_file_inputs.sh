#!/usr/bin/env bash
# File source inputs beyond one plain file: gzip, globs, directories.
#   1. A directory reads its data files (csv, csv.gz, jsonl.gz; not a README,
#      nor a subdirectory named like data)
#      one after another in name order, each CSV with its own header; every
#      line becomes one record (input lines = outputs + dead letters).
#   2. A dead letter names the file and the line within it.
#   3. Concatenated gzip members are one stream; a truncated or corrupt gzip
#      file fails the run with a message naming it, instead of a short input;
#      zero bytes after the last member are padding, other bytes an error
#      that says where; a failing file after one that read fine fails the run
#      only once that file's records are all written; a 0-byte .gz is empty.
#   4. A glob matching nothing, or an empty directory, is a load-time error
#      with the JSON path; a CSV header after a byte-order mark names its
#      first column without it at load (a sink's "fields" may name it).
#   4b. CSV rows: the lines that continue a quoted field are dead letters,
#      as the line that opens it is; a field that is not UTF-8 is one too; a
#      header that names two columns alike fails the run.
#   4c. A CSV file of a glob whose first line names none of the first file's
#      columns (a part cut without its header) fails the run, naming both
#      files, instead of losing that row; a header with a new column is
#      read, with a warning.
#   5. A large real gzip file (a day of the fraud stream) gives every row.
#   6. The replay companion reads a directory of gzip and plain files too.
#   7. gzip files inflated ahead on a helper thread (the default) give what
#      inflating on the worker gives (inflate_ahead false): a directory of
#      gzip files with one of several members (the worker's to read) between
#      them, a small read size, a file of long lines, CRLF and a byte-order
#      mark (the same dead letters too), and a file that ends inside a member
#      failing the run with the same message either way.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-file-inputs.XXXXXX)
trap 'rm -rf "$T"' EXIT

mkdir -p "$T/in" "$T/empty"
printf 'id,v\n1,1.5\n2,2.5\n' | gzip >"$T/in/a.csv.gz"
printf 'v,id\n3.5,3\nbad,4,4\n4.5,5\n' >"$T/in/b.csv"
printf '{"id":6,"v":6.5}\n{"id":7,"v":7.5}' | gzip >"$T/in/c.jsonl.gz"
echo "not data" >"$T/in/README.md"
mkdir -p "$T/in/archive.jsonl" # a directory named like data: skipped, as a glob skips it
printf '{"id":99}\n' >"$T/in/archive.jsonl/old.jsonl"
cat >"$T/p.json" <<JSON
{"name": "inputs", "source": {"type": "file", "path": "$T/in"},
 "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
 "sinks": [{"type": "file", "path": "$T/out.jsonl"}],
 "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}}
JSON
"$WEIR_BIN" run "$T/p.json" --quiet 2>"$T/err"
rc=$?
ids=$(grep -o '"id":[0-9]*' "$T/out.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')
if [ $rc -eq 0 ] && [ "$ids" = "1 2 3 5 6 7 " ]; then ok; else fail "directory: rc $rc, ids '$ids' (want 1 2 3 5 6 7)"; cat "$T/err"; fi
if grep -q '"id":3,"v":3.5\|"v":3.5,"id":3' "$T/out.jsonl"; then ok; else fail "b.csv's own header was not used"; fi
if [ "$(wc -l <"$T/dead.jsonl")" -eq 1 ] && grep -q "b.csv" "$T/dead.jsonl" && grep -q '"line":3' "$T/dead.jsonl"; then
    ok
else
    fail "dead letter should name b.csv line 3: $(cat "$T/dead.jsonl")"
fi

# Concatenated members; then truncated and corrupt files.
{ printf 'x\n1\n' | gzip; printf '2\n3\n' | gzip; } >"$T/multi.csv.gz"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/multi.csv.gz" \
    --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
n=$(wc -l <"$T/out.jsonl")
if [ "$n" -eq 3 ]; then ok; else fail "two gzip members: $n records, want 3"; cat "$T/err"; fi

# Members inflated whole (libdeflate, when weir has it: the file's end is in
# the read and the output fits) and streamed (reads smaller than a member; a
# member whose 2 MB of output do not fit the line buffer), mixed: every row.
{ seq 1 20000 | sed '1i x' | gzip; seq 20001 20010 | gzip; seq 20011 300000 | gzip; } >"$T/big.csv.gz"
for rs in 4096 1048576; do
    "$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/big.csv.gz" --set source.read_size=$rs \
        --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
    sum=$(grep -o '"x":[0-9]*' "$T/out.jsonl" | cut -d: -f2 | awk '{s += $1; n++} END {printf "%d %.0f\n", n, s}')
    if [ "$sum" = "300000 45000150000" ]; then ok; else fail "three members, read_size $rs: '$sum'"; cat "$T/err"; fi
done

seq 1 20000 | sed '1i x' | gzip >"$T/full.csv.gz"
head -c $(($(stat -c %s "$T/full.csv.gz") / 2)) "$T/full.csv.gz" >"$T/trunc.csv.gz"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/trunc.csv.gz" \
    --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "trunc.csv.gz.*truncated" "$T/err"; then ok; else fail "truncated gzip: rc $rc: $(cat "$T/err")"; fi
# A 0-byte .gz between two others is an empty file (a rotation with nothing
# to log leaves one), not a truncated one that fails the run.
mkdir -p "$T/zero"
printf 'x\n1\n' | gzip >"$T/zero/a.csv.gz"
: >"$T/zero/b.csv.gz"
printf 'x\n2\n' | gzip >"$T/zero/c.csv.gz"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/zero" \
    --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
rc=$?
n=$(wc -l <"$T/out.jsonl")
if [ $rc -eq 0 ] && [ "$n" -eq 2 ]; then ok; else fail "an empty .gz: rc $rc, $n records: $(cat "$T/err")"; fi
printf 'x\n1\n' | gzip | head -c 12 >"$T/corrupt.csv.gz"
printf 'garbage after the header, not deflate data' >>"$T/corrupt.csv.gz"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/corrupt.csv.gz" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -q "corrupt.csv.gz" "$T/err"; then ok; else fail "corrupt gzip: rc $rc: $(cat "$T/err")"; fi

# Zero bytes after the last member (tape and block tools pad so; gzip -d
# takes it), across reads, inflated ahead or on the worker: every record;
# other bytes after the stream fail the run, saying where they start.
{ printf 'x\n1\n' | gzip; printf '2\n' | gzip; head -c 10000 /dev/zero; } >"$T/pad.csv.gz"
{ cat "$T/pad.csv.gz"; printf 'junk'; } >"$T/junk.csv.gz"
for ahead in true false; do
    "$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/pad.csv.gz" \
        --set source.read_size=4096 --set source.inflate_ahead=$ahead \
        --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
    rc=$?
    n=$(wc -l <"$T/out.jsonl")
    if [ $rc -eq 0 ] && [ "$n" -eq 2 ]; then
        ok
    else
        fail "zero padding, ahead $ahead: rc $rc, $n records: $(cat "$T/err")"
    fi
    "$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/junk.csv.gz" \
        --set source.inflate_ahead=$ahead --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
    rc=$?
    at=$(stat -c %s "$T/pad.csv.gz")
    want="junk.csv.gz: trailing data after the gzip stream at byte $at"
    if [ $rc -eq 1 ] && grep -q "$want" "$T/err"; then
        ok
    else
        fail "trailing junk, ahead $ahead: rc $rc: $(cat "$T/err") (want byte $at)"
    fi
done

# A file that fails (a truncated gzip) after one that read fine: the run
# fails, but only after every record of the file before it is written (the
# batch that held its end was dropped: 3000 % 1024 records lost).
mkdir -p "$T/cut"
seq 1 3000 | sed 's/.*/{"x":&}/' >"$T/cut/a.jsonl"
head -c 30 "$T/full.csv.gz" >"$T/cut/b.jsonl.gz"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/cut" \
    --set 'operators[0].fields={"id": "/x"}' 2>"$T/err"
rc=$?
n=$(wc -l <"$T/out.jsonl")
if [ $rc -eq 1 ] && [ "$n" -eq 3000 ] && grep -q "b.jsonl.gz.*truncated" "$T/err"; then
    ok
else
    fail "a truncated file after a good one: rc $rc, $n of 3000 records: $(cat "$T/err")"
fi

# Load-time errors.
"$WEIR_BIN" validate "$T/p.json" --set source.path="$T/in/*.parquet" 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q 'source.path.*matches no file' "$T/err"; then ok; else fail "empty glob: rc $rc: $(cat "$T/err")"; fi
"$WEIR_BIN" validate "$T/p.json" --set source.path="$T/empty" 2>"$T/err"
rc=$?
if [ $rc -eq 2 ] && grep -q 'source.path.*no data files' "$T/err"; then ok; else fail "empty dir: rc $rc: $(cat "$T/err")"; fi

# CSV rows that cannot be taken as they are: a quoted field that goes on
# over two more lines (each continuation line a dead letter too, not a row
# of the field's pieces), a field that is not UTF-8 (Latin-1: a dead letter
# naming the column, not U+FFFD that would make "caf\xe9" and "caf\xe8" one
# value); a stray quote inside an unquoted field is text, as before.
printf 'id,comment,n\n1,"a, b\nmiddle ""q""\nend, c",9\n2,5" screen,3\n3,caf\xe9,4\n4,ok,5\n' \
    >"$T/rows.csv"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/rows.csv" \
    --set 'operators[0].fields={"id": "/id"}' 2>"$T/err"
rc=$?
ids=$(grep -o '"id":[0-9]*' "$T/out.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')
reasons=$(grep -o '"reason":"[^"]*' "$T/dead.jsonl" | cut -d'"' -f4 | cut -c1-20 | tr '\n' '|')
want='CSV row has an unter|CSV line continues a|CSV line continues a|CSV column 2 (\|'
if [ $rc -eq 0 ] && [ "$ids" = "2 4 " ] && [ "$reasons" = "$want" ] &&
    grep -q 'CSV column 2 (\\"comment\\") is not valid UTF-8' "$T/dead.jsonl"; then
    ok
else
    fail "CSV rows: rc $rc, ids '$ids' (want 2 4), dead letters '$reasons': $(cat "$T/err")"
fi

# A CSV header that names two columns alike fails the run, as an empty name
# does (each row would be an object with the key twice).
printf 'a,b,a\n1,2,3\n' >"$T/twice.csv"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/twice.csv" \
    --set 'operators[0].fields={"id": "/a"}' 2>"$T/err"
rc=$?
want='twice.csv: line 1: CSV header has a repeated column name "a" (columns 1 and 3)'
if [ $rc -eq 1 ] && grep -q "$want" "$T/err"; then
    ok
else
    fail "a repeated CSV column name: rc $rc: $(cat "$T/err")"
fi

# 4c. Parts cut from one CSV file (split -l): only the first has the header.
# The second's first row was taken as its header, neither written nor
# dead-lettered, and its rows keyed "3" and "3.5".
mkdir -p "$T/parts" "$T/wide"
printf 'id,v\n1,1.5\n2,2.5\n' >"$T/parts/part-aa.csv"
printf '3,3.5\n4,4.5\n' >"$T/parts/part-ab.csv"
"$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/parts/part-*.csv" \
    --set "sinks[0].path=$T/parts.jsonl" 2>"$T/err"
rc=$?
ids=$(grep -o '"id":[0-9]*' "$T/parts.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')
want='part-ab.csv: line 1 names none of the columns of .*part-aa.csv.s CSV header ("id", "v")'
if [ $rc -eq 1 ] && grep -q "$want" "$T/err" && [ "$ids" = "1 2 " ]; then
    ok
else
    fail "a CSV part without its header: rc $rc, ids '$ids': $(cat "$T/err")"
fi
printf 'id,v\n1,1.5\n' >"$T/wide/a.csv"
printf 'id,v,w\n5,5.5,9\n' >"$T/wide/b.csv"
"$WEIR_BIN" run "$T/p.json" --set source.path="$T/wide" --set "sinks[0].path=$T/wide.jsonl" \
    2>"$T/err"
rc=$?
ids=$(grep -o '"id":[0-9]*' "$T/wide.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')
want='b.csv: its CSV header differs from .*a.csv.s: 0 column(s) missing, 1 new ("w")'
if [ $rc -eq 0 ] && grep -q "$want" "$T/err" && [ "$ids" = "1 5 " ]; then
    ok
else
    fail "a CSV file with a new column: rc $rc, ids '$ids': $(cat "$T/err")"
fi

# A byte-order mark before a CSV header, plain and gzip, is skipped at load
# as in the run: a sink's "fields" may name the first column.
printf '\xef\xbb\xbfts,v\n1,2\n' >"$T/bom.csv"
gzip -c "$T/bom.csv" >"$T/bom.csv.gz"
for f in bom.csv bom.csv.gz; do
    "$WEIR_BIN" validate "$T/p.json" --set source.path="$T/$f" \
        --set 'operators[0].fields={"x": "/v"}' --set 'sinks[0].fields=["ts", "x"]' 2>"$T/err"
    rc=$?
    if [ $rc -eq 0 ]; then ok; else fail "$f, with a byte-order mark: rc $rc: $(cat "$T/err")"; fi
done

# A real day of the fraud stream, through a glob.
DAY=../shared/data/fraud/fdh/daily/2018-04-01.csv.gz
if [ -f "$DAY" ]; then
    "$WEIR_BIN" run "$T/p.json" --quiet --set source.path="${DAY%-01.csv.gz}-0[1-2].csv.gz" \
        --set 'operators[0].fields={"id": "/TRANSACTION_ID"}' 2>"$T/err"
    want=$(for f in "${DAY%-01.csv.gz}"-0[1-2].csv.gz; do zcat "$f" | tail -n +2; done | wc -l)
    got=$(wc -l <"$T/out.jsonl")
    last=$(tail -n 1 "$T/out.jsonl" | grep -o '"TRANSACTION_ID":[0-9]*' | cut -d: -f2)
    if [ "$got" -eq "$want" ] && [ "$last" -eq $((want - 1)) ]; then ok; else fail "fraud days: $got of $want, last id $last"; fi
else
    echo "skipped the fraud-data case: $DAY is missing"
fi

# Inflated ahead, or on the worker: the same records in the same order.
mkdir -p "$T/gz"
for k in 1 2 3 4 5 6; do
    seq $((k * 100000)) $((k * 100000 + 30000)) | sed '1i x' | gzip >"$T/gz/d$k.csv.gz"
done
{ seq 1 5 | sed '1i x' | gzip; seq 6 9 | gzip; } >"$T/gz/d3.csv.gz"
# A byte-order mark, CRLF, lines longer than a read (65536) and than
# max_record_bytes (100000), an empty line, a last line without a newline.
/usr/bin/python3 -c 'import gzip, sys; gzip.open(sys.argv[1], "wb").write(
    b"\xef\xbb\xbfx\r\n1\r\n" + b"a" * 80000 + b"\r\n" + b"b" * 150000 + b"\n\n2\n3")' "$T/gz/d7.csv.gz"
for ahead in true false; do
    "$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/gz" --set source.read_size=65536 \
        --set source.max_record_bytes=100000 \
        --set source.inflate_ahead=$ahead --set 'operators[0].fields={"id": "/x"}' \
        --set "sinks[0].path=$T/gz-$ahead.jsonl" --set "dead_letter.path=$T/gzdead-$ahead.jsonl" \
        2>"$T/err-$ahead"
    echo "rc $?" >>"$T/err-$ahead"
done
want=$(for f in "$T"/gz/*.csv.gz; do zcat "$f" | tail -n +2; done | grep -c .)
if cmp -s "$T/gz-true.jsonl" "$T/gz-false.jsonl" && [ "$(wc -l <"$T/gz-true.jsonl")" -eq $((want - 2)) ] &&
    grep -q "rc 0" "$T/err-true"; then
    ok
else
    fail "inflated ahead: $(wc -l <"$T/gz-true.jsonl") lines, on the worker $(wc -l <"$T/gz-false.jsonl"), want $((want - 2)): $(cat "$T/err-true")"
fi
if cmp -s "$T/gzdead-true.jsonl" "$T/gzdead-false.jsonl" && [ "$(wc -l <"$T/gzdead-true.jsonl")" -eq 3 ] &&
    grep -q 'too long: 150000 bytes' "$T/gzdead-true.jsonl"; then
    ok
else
    fail "dead letters inflated ahead / on the worker: $(cut -c1-300 "$T/gzdead-true.jsonl") / $(cut -c1-300 "$T/gzdead-false.jsonl")"
fi
rm "$T/gz/d7.csv.gz"
head -c $(($(stat -c %s "$T/gz/d5.csv.gz") / 2)) "$T/gz/d5.csv.gz" >"$T/gz/d5.tmp" && mv "$T/gz/d5.tmp" "$T/gz/d5.csv.gz"
for ahead in true false; do
    "$WEIR_BIN" run "$T/p.json" --quiet --set source.path="$T/gz" --set source.inflate_ahead=$ahead \
        --set 'operators[0].fields={"id": "/x"}' --set "sinks[0].path=$T/gz-$ahead.jsonl" 2>"$T/err-$ahead"
    echo "rc $?" >>"$T/err-$ahead"
done
if grep -q "d5.csv.gz.*truncated" "$T/err-true" && grep -q "rc 1" "$T/err-true" &&
    [ "$(grep -v '^rc' "$T/err-true")" = "$(grep -v '^rc' "$T/err-false")" ]; then
    ok
else
    fail "truncated, inflated ahead: $(cat "$T/err-true") / on the worker: $(cat "$T/err-false")"
fi

# The replay companion reads the same inputs: a directory with gzip files,
# produced in name order into the embedded cluster.
cat >"$T/emb.json" <<JSON
{"name": "inputs-replay", "source": {"type": "kafka", "brokers": "embedded", "topics": ["in"]},
 "replay": {"path": "$T/in", "partition": 0},
 "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
 "sinks": [{"type": "file", "path": "$T/emb.jsonl"}],
 "dead_letter": {"type": "file", "path": "$T/emb-dead.jsonl"}}
JSON
timeout 120 "$WEIR_BIN" run "$T/emb.json" --quiet 2>"$T/err"
rc=$?
ids=$(grep -o '"id":[0-9]*' "$T/emb.jsonl" 2>/dev/null | cut -d: -f2 | tr '\n' ' ')
if [ $rc -eq 0 ] && [ "$ids" = "1 2 3 5 6 7 " ] && [ "$(wc -l <"$T/emb-dead.jsonl")" -eq 1 ]; then
    ok
else
    fail "replay of a directory: rc $rc, ids '$ids' (want 1 2 3 5 6 7): $(cat "$T/err")"
fi
finish
