#!/usr/bin/env bash
# A reload that keeps the file source (only max_records changed) expands its
# path again: a gzip file added to the directory meanwhile comes in name
# order between the others, and every file is read once, under its own
# name, whether gzip files are inflated ahead on the helper thread (the
# default; the helper's list is the old one, so the source must not take
# the helper's file k for the new list's file k) or on the worker. A slow
# FIFO reader holds the source back so that the reload lands while it is
# still on the first file.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
T=$(mktemp -d /tmp/weir-test-reload-gzip-list.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$T"' EXIT

for ahead in true false; do
    mkdir -p "$T/$ahead"
    got=$(PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR_BIN" "$T/$ahead" "$ahead" <<'PY'
import gzip, json, os, signal, subprocess, sys, threading, time
from output_readers import slow_fifo_reader
from collections import Counter
weir, t, ahead = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
os.makedirs(f"{t}/d", exist_ok=True)
def mk(name, n):
    with gzip.open(f"{t}/d/{name}.jsonl.gz", "wb") as f:
        f.write("".join('{"f":"%s","i":%d}\n' % (name, i) for i in range(n)).encode())
mk("a", 60000)
mk("c", 1000)
out, pj, err = f"{t}/o.fifo", f"{t}/p.json", f"{t}/e.txt"
os.mkfifo(out)
def write_pipeline(max_records):
    src = {"type": "file", "path": f"{t}/d", "max_records": max_records, "read_size": 4096,
           "inflate_ahead": ahead}
    p = {"name": "k", "source": src,
         "operators": [{"type": "extract", "fields": {"i": "/i"}}],
         "sinks": [{"type": "file", "path": out, "max_buffered_bytes": 65536, "append": True}],
         "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
    json.dump(p, open(pj + ".tmp", "w"))
    os.rename(pj + ".tmp", pj)
write_pipeline(32)
proc = subprocess.Popen([weir, "run", pj], stdout=subprocess.DEVNULL, stderr=open(err, "w"))
got, fast = bytearray(), threading.Event()
th = slow_fifo_reader(out, got, fast)
time.sleep(1.0)
mk("b", 500)
write_pipeline(64)
proc.send_signal(signal.SIGHUP)
end = time.time() + 30
while time.time() < end and "reload applied by every worker" not in open(err).read():
    time.sleep(0.05)
fast.set()
rc = proc.wait(timeout=120)
th.join()
recs = [json.loads(l) for l in got.decode().splitlines() if l.strip()]
count = Counter(r["f"] for r in recs)
in_order = [r["f"] for r in recs] == sorted(r["f"] for r in recs)
print(f"rc={rc} a={count['a']} b={count['b']} c={count['c']} ordered={in_order}")
PY
)
    echo "test_reload_gzip_list: inflate_ahead $ahead: $got"
    if [ "$got" = "rc=0 a=60000 b=500 c=1000 ordered=True" ]; then
        ok
    else
        fail "inflate_ahead $ahead: $got (want every file once, in name order)"
    fi
done
finish
