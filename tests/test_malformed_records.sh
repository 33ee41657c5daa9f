#!/usr/bin/env bash
# Malformed records: errors are data. A JSON Lines input mixing good records
# with every kind of bad one (broken JSON, wrong types, missing fields, empty
# and blank lines, a 10 MB line, invalid UTF-8, NUL bytes, CRLF, non-objects,
# records at and just over max_record_bytes) and a CSV input (BOM, CRLF,
# short and long rows, quotes) go through `weir run` with a file sink and a
# file dead-letter sink. Checked: exit 0; input lines = output lines + dead
# letters, exactly; every dead letter is valid JSON with the right line
# number, a reason matching the expected text, and its raw bytes (raw_base64
# when they are not UTF-8); every good record comes out, in order, byte for
# byte, also after bad ones. A 10 MB valid line is processed when
# max_record_bytes allows it.
#
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root).
set -u

. "$(dirname "$0")/lib.sh"
if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 is needed to build the inputs and parse the outputs: skipped"
    echo "0 passed, 0 failed"
    exit 77
fi

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# python3 prints "FAIL: ..." lines and, last, "RESULT <passed> <failed>".
add_results() {
    local out=$1 p f
    grep -v '^RESULT ' "$out"
    read -r _ p f < <(grep '^RESULT ' "$out" | tail -n 1)
    if [ -z "${p:-}" ]; then
        fail "the checker did not finish: $(tail -n 5 "$out")"
        return
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

# pipeline FILE SOURCE_PATH: extract cpu (a number, required) and host (a
# string, required), nothing else: each output line is the input object plus
# "alert":false.
pipeline() {
    cat >"$1" <<EOF
{
  "name": "malformed",
  "source": {"type": "file", "path": "$2"},
  "operators": [
    {"type": "extract", "fields": {"cpu": "/cpu", "host": {"path": "/host", "type": "string"}}}
  ],
  "sinks": [{"type": "file", "path": "$T/out.jsonl"}],
  "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}
}
EOF
}

# The shared checker: reads the cases (a JSON list of {"raw": base64 of the
# line's bytes, "expect": "out" | "dead", "reason": regex, "out": the exact
# output line or null, "rawcheck": "exact" | "prefix" | "skip"}), the output and the
# dead-letter file, the expected "source" and the first record's line number.
cat >"$T/check.py" <<'PY'
import base64, json, re, sys

cases = json.load(open(sys.argv[1]))
out_path, dead_path, source = sys.argv[2], sys.argv[3], sys.argv[4]
first_line = int(sys.argv[5]) if len(sys.argv) > 5 else 1  # CSV: 2, after the header
passed = failed = 0

def check(cond, msg):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + msg)
    return cond

def short(b, n=80):
    r = repr(b)
    return r if len(r) <= n else r[:n] + "..."

out_lines = open(out_path, "rb").read().split(b"\n")
if out_lines and out_lines[-1] == b"":
    out_lines.pop()
dead_raw = open(dead_path, "rb").read().split(b"\n")
if dead_raw and dead_raw[-1] == b"":
    dead_raw.pop()

want_out = [c for c in cases if c["expect"] == "out"]
want_dead = [c for c in cases if c["expect"] == "dead"]
check(len(out_lines) + len(dead_raw) == len(cases),
      "%d input lines but %d output lines + %d dead letters" % (len(cases), len(out_lines), len(dead_raw)))
check(len(out_lines) == len(want_out), "%d output lines, expected %d" % (len(out_lines), len(want_out)))
check(len(dead_raw) == len(want_dead), "%d dead letters, expected %d" % (len(dead_raw), len(want_dead)))

# Dead letters: each must be a valid JSON object in UTF-8.
dead = {}
for k, line in enumerate(dead_raw):
    obj = None
    try:
        obj = json.loads(line.decode("utf-8"))
        check(isinstance(obj, dict), "dead letter %d is not a JSON object" % (k + 1))
        passed += 1
    except (UnicodeDecodeError, ValueError) as e:
        check(False, "dead letter %d is not valid JSON (%s): %s" % (k + 1, e, short(line, 300)))
        # Keep checking the rest of it: quote a bare base64 value if that is the problem.
        fixed = re.sub(rb'"raw_base64":([A-Za-z0-9+/=]*)}$', rb'"raw_base64":"\1"}', line)
        try:
            obj = json.loads(fixed.decode("utf-8", "replace"))
        except ValueError:
            continue
    if isinstance(obj, dict) and isinstance(obj.get("line"), int):
        dead[obj["line"]] = obj

for no, c in enumerate(cases, first_line):
    raw = base64.b64decode(c["raw"])
    body = raw[:-1] if raw.endswith(b"\r") else raw
    if c["expect"] == "out":
        check(no not in dead, "line %d (%s) should be output, went to the dead letters: %s"
              % (no, c["name"], dead.get(no, {}).get("reason")))
        continue
    d = dead.get(no)
    if not check(d is not None, "line %d (%s): no dead letter with \"line\": %d" % (no, c["name"], no)):
        continue
    check(d.get("source") == source, "line %d: source %r, expected %r" % (no, d.get("source"), source))
    reason = d.get("reason", "")
    check(re.search(c["reason"], reason) is not None,
          "line %d (%s): reason %r does not match /%s/" % (no, c["name"], reason, c["reason"]))
    if c.get("not_reason"):
        check(re.search(c["not_reason"], reason) is None,
              "line %d (%s): reason %r should not match /%s/" % (no, c["name"], reason, c["not_reason"]))
    want_raw = base64.b64decode(c["want_raw"]) if c.get("want_raw") else body
    try:
        valid = want_raw.decode("utf-8")
    except UnicodeDecodeError:
        valid = None
    got_raw = d.get("raw", "")
    if c["rawcheck"] == "skip":
        continue
    if valid is not None:
        ok = got_raw == valid if c["rawcheck"] == "exact" else (len(got_raw) > 0 and valid.startswith(got_raw))
        check(ok, "line %d (%s): raw %s, expected %s%s" % (no, c["name"], short(got_raw.encode()),
              "a prefix of " if c["rawcheck"] == "prefix" else "", short(want_raw)))
        check("raw_base64" not in d, "line %d (%s): raw_base64 given for valid UTF-8" % (no, c["name"]))
    else:
        b64 = d.get("raw_base64")
        if check(isinstance(b64, str), "line %d (%s): invalid UTF-8 without a raw_base64 string" % (no, c["name"])):
            try:
                back = base64.b64decode(b64, validate=True)
            except ValueError:
                back = None
            check(back == want_raw, "line %d (%s): raw_base64 decodes to %s, expected %s"
                  % (no, c["name"], short(back), short(want_raw)))
        check("\ufffd" in got_raw, "line %d (%s): raw should show invalid bytes as U+FFFD: %r"
              % (no, c["name"], got_raw[:80]))

# Good records: in input order, byte for byte (those wrongly rejected were
# reported above and are left out here, so one miss is not counted twice).
produced = [c for no, c in enumerate(cases, first_line) if c["expect"] == "out" and no not in dead]
for k, c in enumerate(produced):
    if k >= len(out_lines):
        check(False, "output line %d (%s) is missing" % (k + 1, c["name"]))
        continue
    want = base64.b64decode(c["out"])
    check(out_lines[k] == want, "output line %d (%s): %s, expected %s"
          % (k + 1, c["name"], short(out_lines[k], 200), short(want, 200)))

print("RESULT %d %d" % (passed, failed))
PY

# --- JSON Lines ----------------------------------------------------------------
cat >"$T/make_jsonl.py" <<'PY'
import base64, json, sys

T = sys.argv[1]
MAX = 1048576  # the default max_record_bytes
cases = []

def b64(b):
    return base64.b64encode(b).decode()

def good(name, raw, out=None):
    body = raw[:-1] if raw.endswith(b"\r") else raw
    if out is None:
        out = body[:-1] + b',"alert":false}'
    cases.append({"name": name, "raw": b64(raw), "expect": "out", "out": b64(out)})

def bad(name, raw, reason, rawcheck="exact", not_reason=None):
    cases.append({"name": name, "raw": b64(raw), "expect": "dead", "reason": reason,
                  "rawcheck": rawcheck, "not_reason": not_reason})

def sized(n, tag):
    head = b'{"host":"%s","cpu":1,"pad":"' % tag
    return head + b"x" * (n - len(head) - 2) + b'"}'

# A byte-order mark before the first record is not part of it.
cases.append({"name": "BOM then a good record", "raw": b64(b'\xef\xbb\xbf{"host":"web-1","cpu":1.5}'),
              "expect": "out", "out": b64(b'{"host":"web-1","cpu":1.5,"alert":false}')})
bad("unterminated string", b'{"host":"web-1","cpu":2.5,"note":"disk ful', r"^invalid JSON at byte \d+: unterminated string$")
good("good after bad JSON", b'{"host":"web-2","cpu":3.5}')
bad("trailing comma", b'{"host":"web-1","cpu":2,}', r"^invalid JSON at byte 23: trailing comma in object$")
bad("bare word", b'hello', r"^invalid JSON at byte 0: ")
bad("string that is not a number", b'{"host":"web-1","cpu":"high"}',
    r'^field "cpu" \(/cpu\): expected a number, got a string$')
good("string holding a number (lenient)", b'{"host":"web-1","cpu":"12.5"}')
bad("object for a number", b'{"host":"web-1","cpu":{"value":1}}',
    r'^field "cpu" \(/cpu\): expected a number, got an object$')
bad("array for a string", b'{"host":["web-1"],"cpu":1}',
    r'^field "host" \(/host\): expected a string, got an array$')
bad("missing required field", b'{"host":"web-1"}', r'^missing required field "cpu" \(/cpu\)$')
bad("null for a required number", b'{"host":"web-1","cpu":null}', r'"cpu".*expected a number, got null')
bad("empty line", b'', r"^empty line$")
bad("whitespace-only line", b' \t  ', r"^invalid JSON at byte \d+: ")
bad("10 MB line", sized(10 * MAX, b"huge"),
    r"^record too long: 10485760 bytes \(max_record_bytes is 1048576\)$", rawcheck="prefix")
good("good after the 10 MB line", b'{"host":"web-3","cpu":4.5}')
bad("invalid UTF-8 byte 0xff", b'{"host":"\xff","cpu":1}', r"^invalid JSON at byte 9: invalid UTF-8$")
bad("Latin-1 text", b'{"host":"caf\xe9","cpu":1}', r"invalid UTF-8")
good("valid multi-byte UTF-8", '{"host":"z\u00fcrich-\u65e5\u672c-\U0001F600","cpu":1}'.encode())
good("CRLF line", b'{"host":"web-1","cpu":5.5}\r')
bad("array record", b'[1,2,3]', r"^record is not a JSON object$")
bad("number record", b'42', r"^record is not a JSON object$")
bad("string record", b'"cpu=1"', r"^record is not a JSON object$")
bad("NUL byte in a string", b'{"host":"web\x00-1","cpu":1}', r"^invalid JSON at byte \d+: control character")
bad("two values on a line", b'{"host":"web-1","cpu":1} {"host":"web-2","cpu":2}', r"^invalid JSON at byte \d+: trailing")
good("exactly max_record_bytes", sized(MAX, b"exact"))
bad("max_record_bytes + 1", sized(MAX + 1, b"over"),
    r"^record too long: 1048577 bytes \(max_record_bytes is 1048576\)$", rawcheck="prefix")
# The CR of a CRLF ending is framing, not record: it is trimmed from every
# other line, so it must not count against the limit either.
good("exactly max_record_bytes, CRLF ending", sized(MAX, b"exactcr") + b"\r")
good("last line, no newline at the end", b'{"host":"web-9","cpu":9.5}')

with open(T + "/in.jsonl", "wb") as f:
    f.write(b"\n".join(base64.b64decode(c["raw"]) for c in cases))
json.dump(cases, open(T + "/cases.json", "w"))

# A 10 MB valid line between two good ones, for a run with a larger limit.
big = sized(10 * MAX, b"big")
with open(T + "/big.jsonl", "wb") as f:
    f.write(b'{"host":"a","cpu":1}\n' + big + b'\n{"host":"b","cpu":2}\n')
big_cases = [
    {"name": "before", "raw": b64(b'{"host":"a","cpu":1}'), "expect": "out", "out": b64(b'{"host":"a","cpu":1,"alert":false}')},
    {"name": "10 MB valid line", "raw": b64(big), "expect": "out", "out": b64(big[:-1] + b',"alert":false}')},
    {"name": "after", "raw": b64(b'{"host":"b","cpu":2}'), "expect": "out", "out": b64(b'{"host":"b","cpu":2,"alert":false}')},
]
json.dump(big_cases, open(T + "/big-cases.json", "w"))
PY
python3 "$T/make_jsonl.py" "$T" || { fail "could not build the inputs"; finish; }

pipeline "$T/jsonl.json" "$T/in.jsonl"
"$WEIR_BIN" run "$T/jsonl.json" 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else fail "jsonl: exit code $rc, expected 0: $(head -c 500 "$T/err")"; fi
if grep -q "28 records in, 9 out, 19 dead letters" "$T/err"; then ok; else fail "jsonl: summary: $(cat "$T/err")"; fi
python3 "$T/check.py" "$T/cases.json" "$T/out.jsonl" "$T/dead.jsonl" "$T/in.jsonl" >"$T/result" 2>&1
add_results "$T/result"

# The same input through standard input: the same outcome, source "<stdin>".
rm -f "$T/out.jsonl" "$T/dead.jsonl"
"$WEIR_BIN" run "$T/jsonl.json" --quiet --set source.path=- <"$T/in.jsonl" 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else fail "jsonl from stdin: exit code $rc: $(head -c 500 "$T/err")"; fi
python3 "$T/check.py" "$T/cases.json" "$T/out.jsonl" "$T/dead.jsonl" "<stdin>" >"$T/result" 2>&1
add_results "$T/result"

# A 10 MB valid line is processed when max_record_bytes allows it.
pipeline "$T/big.json" "$T/big.jsonl"
rm -f "$T/out.jsonl" "$T/dead.jsonl"
"$WEIR_BIN" run "$T/big.json" --quiet --set source.max_record_bytes=16777216 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else fail "10 MB line, max_record_bytes=16777216: exit code $rc: $(head -c 500 "$T/err")"; fi
python3 "$T/check.py" "$T/big-cases.json" "$T/out.jsonl" "$T/dead.jsonl" "$T/big.jsonl" >"$T/result" 2>&1
add_results "$T/result"
# ... and rejected, with the others going on, under the default limit.
rm -f "$T/out.jsonl" "$T/dead.jsonl"
"$WEIR_BIN" run "$T/big.json" --quiet 2>"$T/err"
if [ "$(wc -l <"$T/out.jsonl")" -eq 2 ] && grep -q '"reason":"record too long: 10485760 bytes' "$T/dead.jsonl" &&
    grep -q '"line":2,' "$T/dead.jsonl"; then
    ok
else
    fail "10 MB line under the default limit: $(wc -l <"$T/out.jsonl") output lines; dead: $(head -c 200 "$T/dead.jsonl")"
fi

# --- CSV -------------------------------------------------------------------------
cat >"$T/make_csv.py" <<'PY'
import base64, json, sys

T = sys.argv[1]
cases = []
b64 = lambda b: base64.b64encode(b).decode()

def good(name, raw, out):
    cases.append({"name": name, "raw": b64(raw), "expect": "out", "out": b64(out)})

def bad(name, raw, reason, not_reason=None):
    cases.append({"name": name, "raw": b64(raw), "expect": "dead", "reason": reason,
                  "rawcheck": "exact", "not_reason": not_reason})

# Line 1 is the header (after a BOM; CRLF endings throughout); rows start at line 2.
header = b"\xef\xbb\xbfhost,cpu,note"
good("a plain row", b"web-1,1.5,ok", b'{"host":"web-1","cpu":1.5,"note":"ok","alert":false}')
bad("short row", b"web-2,2", r"^CSV row has 2 fields, the header has 3$")
bad("extra field", b"web-3,3,x,extra", r"^CSV row has 4 fields, the header has 3$")
good("quoted field with \"\" and a comma", b'web-5,5,"say ""hi"", then go"',
     b'{"host":"web-5","cpu":5,"note":"say \\"hi\\", then go","alert":false}')
# A quoted field may not span lines: the line it opens on, and the next one
# (its rest, not a row), are dead letters.
bad("unterminated quote", b'web-4,4,"disk full', r"^CSV row has an unterminated quote$")
bad("the quoted field's rest", b'at 90%",x', r"^CSV line continues a quoted field from the line before")
bad("Latin-1 text", b"caf\xe9,1,x", r'^CSV column 1 \("host"\) is not valid UTF-8$')
good("empty value (not extracted)", b"web-6,6,", b'{"host":"web-6","cpu":6,"note":null,"alert":false}')
bad("empty value for a required number", b"web-7,,ok", r'"cpu".*expected a number, got null')
# Its raw is weir's JSON rendering of the row, not the line as read: not checked.
cases[-1]["rawcheck"] = "skip"
good("quoted host, quoted comma", b'"web-8",8,"a,b"', b'{"host":"web-8","cpu":8,"note":"a,b","alert":false}')
# The quote is closed; what is wrong is the text after it.
bad("text after a closing quote", b'web-9,9,"x"y', r"quote", not_reason=r"unterminated")
# Text after a closing quote, then a field that opens a quote and runs on:
# the next line is that field's rest, not a row of its pieces.
bad("text after a quote, then one that runs on", b'web-12,"12" screen","line one', r"quote",
    not_reason=r"unterminated")
bad("that field's rest", b'line two",more,3', r"^CSV line continues a quoted field from the line before")
bad("empty line", b"", r"^empty line$")
good("numbers stay as written", b"web-10,1e3,007", b'{"host":"web-10","cpu":1e3,"note":"007","alert":false}')
good("last row, no newline at the end", b"web-11,11,last", b'{"host":"web-11","cpu":11,"note":"last","alert":false}')

rows = [base64.b64decode(c["raw"]) for c in cases]
with open(T + "/in.csv", "wb") as f:
    f.write(b"\r\n".join([header] + rows))
json.dump(cases, open(T + "/csv-cases.json", "w"))
PY
python3 "$T/make_csv.py" "$T" || { fail "could not build the CSV input"; finish; }

pipeline "$T/csv.json" "$T/in.csv"
rm -f "$T/out.jsonl" "$T/dead.jsonl"
"$WEIR_BIN" run "$T/csv.json" 2>"$T/err"
rc=$?
if [ "$rc" -eq 0 ]; then ok; else fail "csv: exit code $rc, expected 0: $(head -c 500 "$T/err")"; fi
if grep -q "16 records in, 6 out, 10 dead letters" "$T/err"; then ok; else fail "csv: summary: $(cat "$T/err")"; fi
python3 "$T/check.py" "$T/csv-cases.json" "$T/out.jsonl" "$T/dead.jsonl" "$T/in.csv" 2 >"$T/result" 2>&1
add_results "$T/result"

# Without a "dead_letter", rejects go to standard error; redirected to a
# file, they and weir's summary line must both come out whole (the sink
# once opened /dev/stderr anew, with an offset of its own, and the summary
# overwrote the dead letter written before it).
printf '{"amount": 1}\n{"amount": "12\n{"amount": 3}\n' >"$T/dl.jsonl"
cat >"$T/dl.json" <<EOF
{"name": "dl", "source": {"type": "file", "path": "$T/dl.jsonl"},
 "operators": [{"type": "extract", "fields": {"amount": "/amount"}}],
 "sinks": [{"type": "file", "path": "/dev/null"}]}
EOF
"$WEIR_BIN" run "$T/dl.json" 2>"$T/dl.err"
if grep -q '^{"reason":"invalid JSON at byte 11: unterminated string".*"line":2,' "$T/dl.err" &&
    grep -q '^weir: dl: 3 records in, 2 out, 1 dead letters' "$T/dl.err" && [ "$(wc -l <"$T/dl.err")" -eq 2 ]; then
    ok
else
    fail "dead letters on standard error redirected to a file: $(cat -A "$T/dl.err")"
fi

finish
