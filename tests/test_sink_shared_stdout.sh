#!/usr/bin/env bash
# Two outputs on one pipe ("-" for a JSON Lines sink, "/dev/stdout" for a text sink,
# standard output piped into a slow reader) cut no line: each writes whole
# lines of at most PIPE_BUF bytes there, which the kernel writes in one
# piece. Before, each wrote up to 256 KiB at once; into a full pipe such a
# write goes in pieces as the reader makes room, and the other output's
# lines landed between them, in the middle of a line. One worker (the
# loop's writes) and two (a writer thread per sink).
set -u
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-sink-shared-stdout.XXXXXX)
trap 'rm -rf "$T"' EXIT
N=20000
awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d,\"v\":%d,\"pad\":\"%0200d\"}\n", i, i % 7, 0 }' >"$T/in.jsonl"
cat >"$T/p.json" <<JSON
{"source": {"type": "file", "path": "$T/in.jsonl"},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "file", "path": "-"}, {"type": "file", "path": "/dev/stdout", "format": "text"}]}
JSON
# reads 4 KiB at a time, slowly, so that the pipe stays full
cat >"$T/slow.py" <<'PY'
import os, sys, time
with open(sys.argv[1], "wb") as out:
    while True:
        b = os.read(0, 4096)
        if not b:
            break
        out.write(b)
        time.sleep(0.0002)
PY
for workers in 1 2; do
    "$WEIR_BIN" run "$T/p.json" --workers $workers 2>"$T/err" | /usr/bin/python3 "$T/slow.py" "$T/out"
    rc=${PIPESTATUS[0]}
    [ "$rc" = 0 ] && ok || fail "workers $workers: weir exited $rc: $(tail -3 "$T/err")"
    /usr/bin/python3 - "$T/out" $N <<'PY' >"$T/check" 2>&1
import json, re, sys
n = int(sys.argv[2])
js = text = bad = 0
seen_j, seen_t = set(), set()
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    m = re.fullmatch(r'ok +line (\d+) +(\{.*\})', line)
    try:
        if m:
            seen_t.add(json.loads(m.group(2))["seq"])
            text += 1
            continue
        seen_j.add(json.loads(line)["seq"])
        js += 1
    except Exception:
        bad += 1
        if bad <= 3:
            print("cut:", line[:100], "...", line[-60:])
print(js, text, bad, len(seen_j), len(seen_t))
sys.exit(0 if (js, text, bad, len(seen_j), len(seen_t)) == (n, n, 0, n, n) else 1)
PY
    [ $? = 0 ] && ok || fail "workers $workers: JSON lines, text lines, cut lines, distinct: $(tail -4 "$T/check")"
done
finish
