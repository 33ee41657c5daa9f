#!/usr/bin/env bash
# `replay.key` / `weir replay --key F` keys each message by the record's
# top-level member F as a JSON parser reads it (connectors/replay.c,
# find_key): a number's JSON text without the whitespace around it, a
# string's unescaped text, the last of repeated names, never a nested member
# or a string that happens to contain `"F":`. Before, the key was found by
# searching the line for `"F":`, so `{"id": 7}` (json.dumps' spacing) was
# keyed " 7": the embedded cluster's partitioner (CRC-32 of the key modulo 4
# partitions, as librdkafka's default) then put the records where a producer
# keying by "7" would not.
#
# Seen from the outside through the partition each record is read from (the
# text sink prints p<partition>@<offset>): every record's partition is
# crc32(expected key) % 4, for 400 records of each shape below.
# Env: WEIR_BIN, WEIR_SRC.
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-replay-key.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

if /usr/bin/python3 - "$WEIR_BIN" "$T" <<'PY'; then ok; else fail "replay keys"; fi
import json, re, subprocess, sys, zlib
weir, t = sys.argv[1:3]
n = 400
# (line, expected key) per shape: the expected key is what the record says
# the member is, as any JSON reader would give it.
shapes = {
    "number, space after the colon": lambda i: (json.dumps({"id": i, "v": 1}), str(i)),
    "string with an escape": lambda i: (json.dumps({"id": f"h\"{i}", "v": 1}), f"h\"{i}"),
    "nested namesake first": lambda i: (json.dumps({"u": {"id": -1}, "id": i, "v": 1}), str(i)),
    "namesake inside a string first": lambda i: ('{"s": "\\"id\\": 9", "id": %d, "v": 1}' % i,
                                                 str(i)),
    "repeated name: the last": lambda i: ('{"id": 1, "id": %d, "v": 1}' % i, str(i)),
}
ok = True
for name, make in shapes.items():
    lines = [make(i) for i in range(n)]
    with open(f"{t}/in.jsonl", "w") as f:
        f.writelines(line + "\n" for line, _ in lines)
    p = {"name": "replay-key", "state": {"durable": False},
         "source": {"type": "kafka", "brokers": "embedded", "topics": ["rk"]},
         "replay": {"path": f"{t}/in.jsonl", "key": "id"},
         "operators": [{"type": "extract", "fields": {"v": "/v"}}],
         "sinks": [{"type": "file", "path": f"{t}/out.txt", "format": "text"}]}
    with open(f"{t}/p.json", "w") as f:
        json.dump(p, f)
    r = subprocess.run([weir, "run", f"{t}/p.json", "--workers", "1"], capture_output=True,
                       text=True, timeout=60)
    want = {line: zlib.crc32(key.encode()) % 4 for line, key in lines}
    got, wrong = 0, []
    for out in open(f"{t}/out.txt"):
        m = re.match(r"\S+\s+p(\d+)@\d+\s.*?(\{.*\})$", out.rstrip("\n"))
        if not m:
            continue
        got += 1
        line, part = m.group(2), int(m.group(1))
        if want.get(line) != part:
            wrong.append((line, part, want.get(line)))
    good = r.returncode == 0 and got == n and not wrong
    ok = ok and good
    print(f"{'ok' if good else 'FAIL'}: {name}: {got} of {n} read, {len(wrong)} on another "
          f"partition than crc32(key) % 4, exit {r.returncode}"
          + (f"; e.g. {wrong[0]}" if wrong else "") + ("" if r.returncode == 0 else r.stderr[-500:]),
          flush=True)
sys.exit(0 if ok else 1)
PY
finish
