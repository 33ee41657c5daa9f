#!/usr/bin/env bash
# Backpressure (issue 12, item 5): a large backlog (a 400,000-record file)
# into a deliberately slow sink (a FIFO this test reads 64 KiB at a time with
# pauses). The file sink's max_buffered_bytes bounds what it holds; past it
# the source pauses and resumes as the writes catch up. Checks:
#   - the peak resident memory (VmHWM from /proc/PID/status, read while it
#     runs, and the exit's ru_maxrss) of the bounded run stays under a small
#     run's + twice the bound + the source's read buffers + 16 MiB of slack
#     (skipped under sanitizers, whose own memory swamps it), and is at
#     least 24 MiB below an unbounded run's (max_buffered_bytes = 1 GiB, the
#     output piling up in memory: the bound is what holds it);
#   - the source paused and resumed again and again (weir_source_pauses_total
#     climbs during the run);
#   - nothing is lost: every id comes out exactly once (outputs = inputs).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-backpressure.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
sanitized=0
grep -qa -e __asan_init -e __tsan_init "$WEIR_BIN" && sanitized=1

if /usr/bin/python3 - "$WEIR_BIN" "$T" "$sanitized" <<'PY'; then ok; else fail "backpressure"; fi
import json, os, random, re, socket, subprocess, sys, time

weir, t, sanitized = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
N = 400_000
random.seed(3)
with open(f"{t}/input.jsonl", "w") as f:
    for i in range(N):
        f.write('{"id":%d,"host":"h%d","v":%.6f,"pad":"%s"}\n'
                % (i, i % 13, random.gauss(50, 10), "x" * (i % 40)))
with open(f"{t}/small.jsonl", "w") as f:
    for i in range(2000):
        f.write('{"id":%d,"host":"h%d","v":%.6f}\n' % (i, i % 13, random.random()))

def pipeline(name, src, out, bound):
    p = {"name": name,
         "source": {"type": "file", "path": src},
         "operators": [
             {"type": "extract", "fields": {"v": "/v", "host": {"path": "/host", "type": "string"}}},
             {"type": "standardize", "fields": ["v"], "out": ["v_z"], "by": "host"}],
         "sinks": [{"type": "file", "path": out, "max_buffered_bytes": bound,
                    "append": True}],  # a FIFO: no truncating open first
         "dead_letter": {"type": "file", "path": f"{t}/dead-{name}.jsonl"}}
    path = f"{t}/{name}.json"
    json.dump(p, open(path, "w"))
    return path

def scrape(port, name=b"weir_source_pauses_total"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        m = re.search(rb"^" + name + rb" (\d+)$", data, re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None

# The reader stalls until weir has done what the checks need, whatever the
# machine's speed (a sanitized weir can write slower than this reader reads):
# until a metric reaches a value, up to limit_s.
def stall(port, name, at_least, limit_s):
    end = time.monotonic() + limit_s
    while port and time.monotonic() < end:
        v = scrape(port, name)
        if v is not None and v >= at_least:
            return
        time.sleep(0.02)

def http_port(err):
    for _ in range(500):
        err.seek(0)
        m = re.search(r"listening on .*:(\d+)$", err.read(), re.M)
        if m:
            return int(m.group(1))
        time.sleep(0.02)
    return None

def hwm_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0

def run(name, src, bound, slow):
    fifo = f"{t}/{name}.fifo"
    os.mkfifo(fifo)
    err = open(f"{t}/{name}.err", "a+")  # O_APPEND: seeking to read it never moves weir's writes
    p = subprocess.Popen([weir, "run", pipeline(name, src, fifo, bound), "--http", "0"],
                         stdout=subprocess.DEVNULL, stderr=err)
    fd = os.open(fifo, os.O_RDONLY)
    port = http_port(err)
    hwm, pauses, rest, last = 0, [], b"", 0.0
    count, since_stall, stalled_at = 0, 0, 0
    seen = bytearray(N)
    if slow and bound >= 1 << 30:  # the unbounded run: everything read, the output piled up
        stall(port, b"weir_records_in_total", N, 60)
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        since_stall += len(b)
        # The bounded run: 4 MiB read (the source resumed since the last
        # stall), the sink fills to its bound while this one lasts: a pause more.
        if slow and bound < 1 << 30 and since_stall >= 4 << 20:
            since_stall = 0
            stall(port, b"weir_source_pauses_total", stalled_at + 1, 5)
            stalled_at = scrape(port) or stalled_at
        lines = (rest + b).split(b"\n")
        rest = lines.pop()
        for l in lines:
            i = int(l[6:l.index(b",")])  # lines start {"id":N, as the input's did
            seen[i] += 1
            count += 1
        if slow:
            time.sleep(0.002)
        now = time.monotonic()
        if now - last > 0.1:
            last = now
            hwm = max(hwm, hwm_kib(p.pid))
            if port and (v := scrape(port)) is not None:
                pauses.append(v)
    os.close(fd)
    _, status, ru = os.wait4(p.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, (name, open(f"{t}/{name}.err").read())
    hwm = max(hwm, ru.ru_maxrss)
    return hwm, pauses, count, seen

base, _, n, _ = run("small", f"{t}/small.jsonl", 65536, False)
assert n == 2000, n
bound = 1 << 20
hwm, pauses, count, seen = run("bounded", f"{t}/input.jsonl", bound, True)
big, _, count_big, _ = run("unbounded", f"{t}/input.jsonl", 1 << 30, True)
mib = lambda k: k / 1024
print(f"peak resident memory: small run {mib(base):.1f} MiB; bounded (max_buffered_bytes "
      f"{bound >> 20} MiB) {mib(hwm):.1f} MiB; unbounded {mib(big):.1f} MiB; "
      f"source pauses seen: {pauses[:3]}...{pauses[-3:]}")
assert count == N and all(c == 1 for c in seen), (count, sum(1 for c in seen if c != 1))
assert count_big == N, count_big
assert len(pauses) >= 3 and pauses[-1] > pauses[0] >= 0 and pauses[-1] >= 3, pauses
limit = base + 2 * bound / 1024 + 2 * 1024 + 16 * 1024  # two 1 MiB reads, slack
if not sanitized:
    assert hwm <= limit, (mib(hwm), mib(limit))
assert big >= hwm + 24 * 1024, (mib(big), mib(hwm))
PY

finish
