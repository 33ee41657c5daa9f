#!/usr/bin/env bash
# Reloads that change the file source's options (connectors/file_source.c,
# engine/worker_reload.c): the new source goes on where the old one stopped,
# and the old one is closed and freed once nothing of it is on the loop.
#   A. a FIFO written in pieces that cut lines anywhere (held open until
#      the reloads are done; at least 12 of them come while input is still
#      being written), 24 reloads each changing read_size or
#      max_record_bytes (the unread bytes, a partial line among them, move to
#      the new source): every id out exactly once,
#      24 "goes on in" lines, and weir holds one descriptor on the FIFO at
#      the end (each replaced source was closed: before, they stayed open
#      until the run ended, at most 7 of them).
#   B. a plain CSV file read into a slowly drained FIFO sink (64 KiB bound: the source
#      pauses mid-file): two reloads (read_size, max_record_bytes) resume at
#      the byte after the last line handed on with the header carried over,
#      then a third names another file, read from its start: the first
#      file's ids come out once each, in one unbroken run from 0, the second
#      file's all once.
#   C. a gzip file, slowly drained: two reloads read it again from its start
#      and drop the lines already handed on: every id out exactly once.
#   D. a directory, slowly drained, whose listing changes while its second
#      file is read (the first deleted, a new one sorting before it): the
#      reload goes on in that file by name, then the files after it; every
#      id of the three files once, none of the new one (before, a change
#      before the file read it all again from the start: its ids twice).
#   E. a directory whose file being read is deleted before a reload (plain,
#      then gzip): the rest of it is read from the descriptor still open on
#      it, then the files after it; every id once (before, the new listing
#      was read from its start: the first file's ids twice, the rest of the
#      deleted one lost).
#   F. the same with a path naming that one file (the run failed before).
#   G. the file renamed to a name sorting after it: its rest from the old
#      descriptor, then the files after it, among them the renamed one, read
#      again from its start (its ids twice; the log says "renamed or moved").
#   H. a file before the one being read deleted, and a reload that changes
#      only max_records: every id once (the running source kept its index
#      into a listing that had changed, and skipped c.jsonl).
#   I. the file being read replaced under its name (another renamed over
#      it; a directory, gzip, a single file's path): its rest, then the new
#      file from its start (before: the new one read from the old offset).
#   J. the file being read truncated in place and written shorter (plain,
#      gzip): the new content from its start (before: read past its end).
#   K. a single file's path deleted, then two reloads: the second goes on
#      in the held file without saying the file list changed.
#   L. three reloads the running source takes as it reads (max_records),
#      the first before it opens its second file: that file's records
#      (dead letters) name it (its name was freed with the first reload's
#      version: ASan, heap-use-after-free).
#   M. CSV parts, the second without its header, and a reload that makes a
#      new source while the first is read: the run fails naming both files
#      (the new source took the second's first row as the reference).
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

T=$(mktemp -d /tmp/weir-test-reload-source.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

PYTHONPATH="$HERE" /usr/bin/python3 - "$WEIR_BIN" "$T" <<'PY'
import gzip, json, os, random, signal, subprocess, sys, threading, time
from output_readers import slow_fifo_reader

weir, t = sys.argv[1], sys.argv[2]
random.seed(11)
failures = []

def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)

def write_pipeline(path, source, out, bounded):
    sink = {"type": "file", "path": out}
    if bounded:
        sink.update({"max_buffered_bytes": 65536, "append": True})  # a FIFO: no truncating open
    p = {"name": "reload-source", "source": source,
         "operators": [{"type": "extract", "fields": {"v": "/v"}}],
         "sinks": [sink], "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(p, f)
    os.rename(tmp, path)

def applied(proc, err, n, limit=30.0):
    end = time.time() + limit
    while time.time() < end:
        if open(err).read().count("reload applied by every worker") >= n:
            return True
        if proc.poll() is not None:  # its last words may have come after the check
            return open(err).read().count("reload applied by every worker") >= n
        time.sleep(0.02)
    return False

def ids_of(data):
    out = []
    for line in data.splitlines():
        if line.strip():
            out.append(int(json.loads(line)["id"]))
    return out

def reload(proc, pjson, source, out, bounded, err, n):
    write_pipeline(pjson, source, out, bounded)
    proc.send_signal(signal.SIGHUP)
    check(applied(proc, err, n), f"reload {n} applied: {open(err).read()[-2000:]}")

# ---- A: a FIFO, 24 source changes -------------------------------------------
N = 40000
fifo, out, pjson, err = f"{t}/in.fifo", f"{t}/a.jsonl", f"{t}/a.json", f"{t}/a.err"
os.mkfifo(fifo)
src = {"type": "file", "path": fifo, "max_records": 16}
write_pipeline(pjson, src, out, False)
proc = subprocess.Popen([weir, "run", pjson], stdout=subprocess.DEVNULL, stderr=open(err, "w"))
data = "".join('{"id":%d,"v":%.4f}\n' % (i, random.random()) for i in range(N)).encode()
reloads_done = threading.Event()
written = [0]
def writer():  # paced while the reloads go on; holds the FIFO open until they are done
    with open(fifo, "wb", buffering=0) as f:
        i = 0
        while i < len(data):
            if i >= len(data) * 4 // 5:  # the last fifth after the reloads, however slow they are
                reloads_done.wait(120)
            n = random.randint(1, 700)  # pieces that cut lines anywhere
            f.write(data[i:i + n])
            i += n
            written[0] = i
            if not reloads_done.is_set():
                time.sleep(0.0015)
        reloads_done.wait(120)
w = threading.Thread(target=writer)
w.start()
end = time.time() + 30  # records out: the workers are up (a SIGHUP before is ignored)
while (not os.path.exists(out) or os.path.getsize(out) == 0) and time.time() < end:
    time.sleep(0.01)
under_load = 0
for k in range(1, 25):
    s = dict(src)
    s["read_size"] = 4096 + 512 * (k % 5)
    if k % 2:
        s["max_record_bytes"] = 65536 + k
    reload(proc, pjson, s, out, False, err, k)
    under_load += written[0] < len(data)
    time.sleep(0.03)
check(under_load >= 12, f"A: only {under_load} of 24 reloads while the input was still coming")
def fifo_fds():
    return sum(1 for fd in os.listdir(f"/proc/{proc.pid}/fd")
               if os.path.realpath(f"/proc/{proc.pid}/fd/{fd}") == os.path.realpath(fifo))
for _ in range(100):  # the last replaced one goes on the worker's next loop turn
    if fifo_fds() == 1:
        break
    time.sleep(0.01)
fds = fifo_fds()
check(fds == 1, f"A: weir holds {fds} descriptors on the FIFO after 24 source changes (1 expected)")
reloads_done.set()
w.join()
rc = proc.wait(timeout=60)
check(rc == 0, f"A: weir exited {rc}: {open(err).read()[-2000:]}")
got = ids_of(open(out).read())
check(sorted(got) == list(range(N)), f"A: {len(got)} records out of {N}, {len(set(got))} distinct")
check(open(err).read().count("reload: the file source goes on in") == 24,
      "A: 24 'goes on in' lines: " + open(err).read()[-1500:])
check(not os.path.exists(f"{t}/dead.jsonl") or os.path.getsize(f"{t}/dead.jsonl") == 0,
      "A: dead letters (a line cut in two?): " + open(f"{t}/dead.jsonl").read()[:500])

# ---- B, C: a regular file into a slowly drained sink ------------------------
def slow_case(name, path, n, reloads, check_ids):
    out, pjson, err = f"{t}/{name}.fifo", f"{t}/{name}.json", f"{t}/{name}.err"
    os.mkfifo(out)
    src = {"type": "file", "path": path, "max_records": 32, "read_size": 4096}  # reads far behind the end
    write_pipeline(pjson, src, out, True)
    proc = subprocess.Popen([weir, "run", pjson], stdout=subprocess.DEVNULL, stderr=open(err, "w"))
    got = bytearray()
    done = threading.Event()
    r = slow_fifo_reader(out, got, done=done)  # about 250 KB/s: the source pauses mid-file
    time.sleep(0.3)
    if proc.poll() is not None:  # weir never opened the sink: let the reader go
        os.close(os.open(out, os.O_WRONLY | os.O_NONBLOCK))
    for k, change in enumerate(reloads, 1):
        s = dict(src)
        s.update(change)
        check(not done.is_set(), f"{name}: the run ended before reload {k} (not under load)")
        reload(proc, pjson, s, out, True, err, k)
        time.sleep(0.05)
    r.join(timeout=60)
    rc = proc.wait(timeout=60)
    check(rc == 0, f"{name}: weir exited {rc}: {open(err).read()[-2000:]}")
    check_ids(ids_of(got.decode()), open(err).read())

N2 = 30000
with open(f"{t}/input.csv", "w") as f:
    f.write("id,v,pad\n" + "".join("%d,%.4f,%s\n" % (i, random.random(), "x" * (i % 9))
                                   for i in range(N2)))
with open(f"{t}/more.csv", "w") as f:
    f.write("id,v,pad\n" + "".join("%d,%.4f,y\n" % (i, random.random()) for i in range(N2, N2 + 500)))

def b_ids(ids, err):
    first = sorted(i for i in ids if i < N2)
    check(first == list(range(len(first))), f"B: the first file's ids are not 0..m-1 once each "
          f"({len(first)} of them, {len(set(first))} distinct)")
    check(0 < len(first) < N2, f"B: {len(first)} of the first file's records (some, not all)")
    check(sorted(i for i in ids if i >= N2) == list(range(N2, N2 + 500)), "B: the second file")
    check(err.count("reload: the file source goes on in") == 2 and "after line" in err,
          "B: 2 'goes on in' lines: " + err[-1500:])
    check("reload: the file source's path changed: it reads" in err, "B: path change: " + err[-1500:])
slow_case("b", f"{t}/input.csv", N2, [{"read_size": 8192}, {"max_record_bytes": 4096},
                                       {"path": f"{t}/more.csv"}], b_ids)

with gzip.open(f"{t}/input.jsonl.gz", "wt") as f:
    for i in range(N2):
        f.write('{"id":%d,"v":%.4f,"pad":"%s"}\n' % (i, random.random(), "z" * (i % 9)))
def c_ids(ids, err):
    check(sorted(ids) == list(range(N2)), f"C: {len(ids)} records out of {N2}, {len(set(ids))} distinct")
    check(err.count("again from its start, dropping") == 2, "C: 2 'dropping' lines: " + err[-1500:])
slow_case("c", f"{t}/input.jsonl.gz", N2, [{"read_size": 8192}, {"read_size": 16384}], c_ids)

# ---- D, E: a directory whose listing changes while its second file is read ----
def write_ids(d, name, lo, hi):
    body = "".join('{"id":%d,"v":%.4f}\n' % (i, random.random()) for i in range(lo, hi))
    with (gzip.open(f"{d}/{name}", "wt") if name.endswith(".gz") else open(f"{d}/{name}", "w")) as f:
        f.write(body)

def dir_case(name, b, change, single=False, options={"read_size": 8192}, stall=False,
             again=False):
    """a.jsonl, b, c.jsonl (ids 0-100, -20100, -20200), read slowly; change(d)
    while b is read, then a reload: (ids out, the log, d). single: the path
    names b alone (ids 100-20100). stall: the sink stops draining first, so
    the source is paused, with no read in flight, from before the change
    until the reload has stopped it (a read after a truncation would find
    the file's end and go on to the next file before the reload came)."""
    d = f"{t}/dir-{name}"
    os.makedirs(d)
    write_ids(d, "a.jsonl", 0, 100)
    write_ids(d, b, 100, 20100)
    write_ids(d, "c.jsonl", 20100, 20200)
    out, pjson, err = f"{t}/{name}.fifo", f"{t}/{name}.json", f"{t}/{name}.err"
    os.mkfifo(out)
    src = {"type": "file", "path": f"{d}/{b}" if single else d, "max_records": 32,
           "read_size": 4096}
    write_pipeline(pjson, src, out, True)
    proc = subprocess.Popen([weir, "run", pjson], stdout=subprocess.DEVNULL, stderr=open(err, "w"))
    got, fast, stop = bytearray(), threading.Event(), threading.Event()
    r = slow_fifo_reader(out, got, fast, stall=stop)
    end = time.time() + 20  # in b, held back by the sink: b's first ids are out
    while got.count(b"\n") < 150 and time.time() < end and proc.poll() is None:
        time.sleep(0.01)
    if stall:
        stop.set()
        time.sleep(0.3)
    change(d)
    if stall:
        write_pipeline(pjson, dict(src, **options), out, True)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        stop.clear()
        check(applied(proc, err, 1), f"{name}: reload applied: {open(err).read()[-2000:]}")
    else:
        reload(proc, pjson, dict(src, **options), out, True, err, 1)
    if again:  # a second source change, while the first one's file is still read
        time.sleep(0.1)
        reload(proc, pjson, dict(src, read_size=16384), out, True, err, 2)
    fast.set()
    r.join(timeout=60)
    rc = proc.wait(timeout=60)
    log = open(err).read()
    check(rc == 0, f"{name}: weir exited {rc}: {log[-2000:]}")
    return ids_of(got.decode()), log, d

def d_change(d):
    os.unlink(f"{d}/a.jsonl")
    write_ids(d, "0.jsonl", 90000, 90050)  # new, and sorting before b.jsonl: not read
ids, log, d = dir_case("D", "b.jsonl", d_change)
check(sorted(ids) == list(range(20200)), f"D: {len(ids)} records, {len(set(ids))} distinct, "
      f"{sum(i >= 90000 for i in ids)} of 0.jsonl (want a, b, c once each)")
check(f"goes on in {d}/b.jsonl after line" in log and "file list changed before that file" in log,
      "D: the log line: " + log[-1500:])

# E: the file being read deleted before the reload (plain, then gzip)
for b in ("b.jsonl", "b.jsonl.gz"):
    ids, log, d = dir_case("E-" + b, b, lambda d: os.unlink(f"{d}/{b}"))
    # before: the new listing (a, c) was read from its start: a's ids twice, b's rest lost
    check(sorted(ids) == list(range(20200)), f"E {b}: {len(ids)} records, {len(set(ids))} "
          f"distinct, {sum(i < 100 for i in ids)} of a (want a, b, c once each)")
    check(f"{d}/{b}, being read, was deleted since" in log, f"E {b}: the log: " + log[-1500:])
# F: a single file's path, the file deleted before the reload (the run failed:
# its path was still listed, and opening it again found nothing)
ids, log, d = dir_case("F", "b.jsonl", lambda d: os.unlink(f"{d}/b.jsonl"), single=True)
check(sorted(ids) == list(range(100, 20100)), f"F: {len(ids)} records, {len(set(ids))} distinct")
check(f"{d}/b.jsonl, being read, was deleted since" in log, "F: the log: " + log[-1500:])
# G: renamed inside the directory to a name that sorts after it: the rest of
# it, then the files after it, the renamed one among them from its start
ids, log, d = dir_case("G", "b.jsonl", lambda d: os.rename(f"{d}/b.jsonl", f"{d}/bb.jsonl"))
want = sorted(list(range(20200)) + list(range(100, 20100)))  # b's ids twice: b, then bb
check(sorted(ids) == want, f"G: {len(ids)} records, {len(set(ids))} distinct (want {len(want)})")
check(f"{d}/b.jsonl, being read, was renamed or moved since" in log, "G: the log: " + log[-1500:])
# H: a file before it deleted, and a reload that changes only max_records
# (the running source takes that as it reads): the listing changed, so a
# new source goes on in b by name (it kept reading by index: c was skipped)
ids, log, d = dir_case("H", "b.jsonl", lambda d: os.unlink(f"{d}/a.jsonl"),
                       options={"max_records": 16})
check(sorted(ids) == list(range(20200)), f"H: {len(ids)} records, {len(set(ids))} distinct, "
      f"{sum(i >= 20100 for i in ids)} of c.jsonl")
check(f"goes on in {d}/b.jsonl after line" in log, "H: the log: " + log[-1500:])
# I: the file being read replaced under its name (a new file renamed over
# it, as a deploy or an atomic writer does): the rest of the old one, then
# the new one from its start (before: the new file was read from the old
# offset, its first 6,000 records lost); a directory, a gzip file, a single
# file's path
def replace_b(b):
    def change(d):
        write_ids(d, "new-" + b, 30000, 36000)
        os.rename(f"{d}/new-{b}", f"{d}/{b}")
    return change
for b, single in (("b.jsonl", False), ("b.jsonl.gz", False), ("b.jsonl", True)):
    ids, log, d = dir_case(f"I-{b}-{single}", b, replace_b(b), single=single)
    want = list(range(100, 20100)) if single else list(range(20200))
    want = sorted(want + list(range(30000, 36000)))
    check(sorted(ids) == want, f"I {b} single={single}: {len(ids)} records, {len(set(ids))} "
          f"distinct, {sum(i >= 30000 for i in ids)} of the new file (want 6000)")
    check(f"{d}/{b}, being read, was replaced by another file of that name" in log,
          f"I {b}: the log: " + log[-1500:])
# J: the file being read truncated and written again in place (the same
# inode, now shorter than what was read): its new content from its start
# (before: read on from the old offset, past its end: the 50 new ids lost)
# (plain, then gzip, which the helper thread read whole: no offset moved)
def truncate_b(b):
    def change(d):
        body = "".join('{"id":%d,"v":0}\n' % i for i in range(40000, 40050)).encode()
        with open(f"{d}/{b}", "r+b") as f:
            f.truncate(0)
            f.write(gzip.compress(body) if b.endswith(".gz") else body)
    return change
for b in ("b.jsonl", "b.jsonl.gz"):
    ids, log, d = dir_case("J-" + b, b, truncate_b(b), stall=True)
    old_b = [i for i in ids if 100 <= i < 20100]
    check(sorted(i for i in ids if i >= 40000) == list(range(40000, 40050)) and
          sorted(i for i in ids if i < 100 or 20100 <= i < 40000) == list(range(100)) +
          list(range(20100, 20200)) and len(set(old_b)) == len(old_b),
          f"J {b}: {len(ids)} records, {sum(i >= 40000 for i in ids)} new (want 50), "
          f"{len(old_b)} of b")
    check(f"{d}/{b}, being read, is shorter than the" in log, f"J {b}: the log: " + log[-1500:])

# K: a single file's path deleted, then two reloads: the second goes on in
# the file the first one held (it said the file list had changed before it)
ids, log, d = dir_case("K", "b.jsonl", lambda d: os.unlink(f"{d}/b.jsonl"), single=True,
                       again=True)
check(sorted(ids) == list(range(100, 20100)), f"K: {len(ids)} records, {len(set(ids))} distinct")
check(log.count("goes on in") == 2 and "file list changed" not in log, "K: the log: " + log[-1500:])

# L: reloads the running source takes as it reads (max_records), the first
# in a.jsonl, two more in b.jsonl: b's records name their file (the dead
# letters of its broken lines). b was opened from the first reload's
# version, which the later ones let go of, and its name pointed into that
# version's file list: freed under the records (ASan: heap-use-after-free)
d = f"{t}/dir-L"
os.makedirs(d)
write_ids(d, "a.jsonl", 0, 20000)  # more than the sink holds: a is read when the first reload comes
with open(f"{d}/b.jsonl", "w") as f:
    for i in range(20000, 40000):
        f.write("not json %d\n" % i if i % 1000 == 999 and i > 32000 else
                '{"id":%d,"v":0.5}\n' % i)
out, pjson, err = f"{t}/L.fifo", f"{t}/L.json", f"{t}/L.err"
os.mkfifo(out)
src = {"type": "file", "path": d, "max_records": 32, "read_size": 4096}
write_pipeline(pjson, src, out, True)
proc = subprocess.Popen([weir, "run", pjson], stdout=subprocess.DEVNULL, stderr=open(err, "w"))
got, fast = bytearray(), threading.Event()
r = slow_fifo_reader(out, got, fast)
def wait_lines(n):
    end = time.time() + 20
    while got.count(b"\n") < n and time.time() < end and proc.poll() is None:
        time.sleep(0.01)
wait_lines(150)
reload(proc, pjson, dict(src, max_records=16), out, True, err, 1)
wait_lines(20300)  # in b
reload(proc, pjson, dict(src, max_records=8), out, True, err, 2)
time.sleep(0.3)  # the second reload's grace period ends; a third frees the first's version
reload(proc, pjson, dict(src, max_records=4), out, True, err, 3)
fast.set()
r.join(timeout=60)
rc = proc.wait(timeout=60)
log = open(err).read()
check(rc == 0, f"L: weir exited {rc}: {log[-3000:]}")
ids = ids_of(got.decode())
dead = [json.loads(x) for x in open(f"{t}/dead.jsonl").read().splitlines()]
check(sorted(ids) == [i for i in range(40000) if not (i % 1000 == 999 and i > 32000)],
      f"L: {len(ids)} records, {len(set(ids))} distinct")
check(len(dead) == 8 and all(x["source"] == f"{d}/b.jsonl" for x in dead), f"L: dead letters {dead}")

# M: CSV parts of one table, the second cut without its header, and a
# reload that makes a new source while the first is read: the new source
# checks the second's first line against the first file's header, as the
# old one would (it took that line as its own reference: the row lost, the
# rest keyed by its values, the run ended well).
d = f"{t}/dir-M"
os.makedirs(d)
with open(f"{d}/part-aa.csv", "w") as f:
    f.write("id,v\n" + "".join("%d,%.4f\n" % (i, random.random()) for i in range(20000)))
with open(f"{d}/part-ab.csv", "w") as f:
    f.write("".join("%d,%.4f\n" % (i, random.random()) for i in range(20000, 20500)))
out, pjson, err = f"{t}/M.fifo", f"{t}/M.json", f"{t}/M.err"
os.mkfifo(out)
src = {"type": "file", "path": d, "max_records": 32, "read_size": 4096}
write_pipeline(pjson, src, out, True)
proc = subprocess.Popen([weir, "run", pjson], stdout=subprocess.DEVNULL, stderr=open(err, "w"))
got, fast = bytearray(), threading.Event()
r = slow_fifo_reader(out, got, fast)
wait_lines(150)
reload(proc, pjson, dict(src, read_size=8192), out, True, err, 1)
fast.set()
r.join(timeout=60)
rc = proc.wait(timeout=60)
log = open(err).read()
check(rc == 1 and f"{d}/part-ab.csv: line 1 names none of the columns of {d}/part-aa.csv's" in log,
      f"M: weir exited {rc}: {log[-2000:]}")
check(sorted(ids_of(got.decode())) == list(range(20000)), "M: the first part's ids once each")

sys.exit(1 if failures else 0)
PY
if [ $? -eq 0 ]; then ok; else fail "reload of the file source"; fi
finish
