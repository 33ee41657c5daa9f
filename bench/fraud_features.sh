#!/bin/bash
# The 15 fraud features alone: pipelines/fraud.json's first four operators
# (extract, derive and the two handbook windows: not the extra model inputs,
# the model, threshold and alert sink), one worker, file -> file over the data set's
# daily gzip CSV files. Each run's wall-clock time, the process's CPU time
# (user + sys) and the worker thread's CPU time are printed; then, per
# binary, records per second of wall clock, per CPU-second of the worker
# thread and per CPU-second of the process, each from the least (and the
# median) of the runs. With BASELINE set to another weir binary, the two are
# run alternately (the same data, the same session) and the ratios of their
# least CPU times are printed. On a shared machine the least of several
# alternating runs is the figure to compare; wall clock counts the time
# other processes had the cores.
#
#     [BASELINE=old/weir] [OUT=file] bash bench/fraud_features.sh [WEIR] [RUNS] [DAILY_DIR]
#
# WEIR: a Release build's binary (default build-rel/weir); RUNS: default 3;
# DAILY_DIR: default ../shared/data/fraud/fdh/daily. Output goes to OUT
# (default /tmp/weir-fraud-features.jsonl; about 1 GB for all 153 days: a
# file on tmpfs, /dev/shm/..., leaves out the disk's writeback of the run
# before; each run's output is removed before it starts, so that no run
# pays for truncating the last one's); the summary to
# bench/results/fraud_features.json, or fraud_features_tmpfs.json when OUT
# is under /dev/shm.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/weir-fraud-features.jsonl}
result=fraud_features.json
case $out in /dev/shm/*) result=fraud_features_tmpfs.json ;; esac
weir=${1:-$here/build-rel/weir}
runs=${2:-3}
daily=$(cd "${3:-$here/../shared/data/fraud/fdh/daily}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$here/pipelines/fraud.json" "$daily" "$work/features.json" "$out" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["operators"] = p["operators"][:4]  # the handbook's 15 features
p["source"]["path"] = sys.argv[2]
p["sinks"] = [{"type": "file", "path": sys.argv[4],
               "exclude": ["TX_FRAUD", "TX_FRAUD_SCENARIO", "alert"]}]
p["dead_letter"]["path"] = "/tmp/weir-fraud-features.rejects.jsonl"
json.dump(p, open(sys.argv[3], "w"), indent=1)
PY
bins=("$weir")
[ -n "${BASELINE:-}" ] && bins+=("$BASELINE")
# One run: wall clock, the process's CPU (user + sys, from wait4) and the
# worker thread's own (/proc/PID/task/TID/stat of the thread named
# weir-w0, read every 20 ms until it exits: its last reading is within 20 ms
# of its total). "On one worker" is the worker thread's CPU: the kernel's
# copy of the output into the page cache runs in io_uring's own thread
# (iou-wrk-*), beside the worker, and counts in the process's CPU only, as
# does the inflating of the gzip input on the source's helper thread
# (weir-gunzip; --set source.inflate_ahead=false puts it on the worker).
cat > "$work/measure.py" <<'PY'
import os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
hz, worker, status = os.sysconf("SC_CLK_TCK"), 0.0, None
while status is None:
    r = os.wait4(pid, os.WNOHANG)
    if r[0] == pid:
        status, ru = r[1], r[2]
        break
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read()
            if st[st.index("(") + 1:st.rindex(")")] == "weir-w0":
                fs = st[st.rindex(")") + 2:].split()
                worker = (int(fs[11]) + int(fs[12])) / hz
    except (OSError, ValueError):
        pass
    time.sleep(0.02)
wall = time.monotonic() - t0
if status != 0:
    sys.exit(f"weir exited with status {status}")
if worker == 0:  # a build older than bb49fc0 does not name its threads
    sys.exit(f"{sys.argv[1]}: no thread named weir-w0 was seen: its worker CPU cannot be measured")
print(f"{wall:.3f} {ru.ru_utime + ru.ru_stime:.3f} {worker:.3f}")
PY
for r in $(seq "$runs"); do
    for b in "${bins[@]}"; do
        # Each run writes a new file: truncating the last run's (~1 GB) at
        # open took ~55 ms of the run's wall clock on tmpfs, more on ext4.
        rm -f "$out"
        read -r wall cpu worker < <(/usr/bin/python3 "$work/measure.py" "$b" run "$work/features.json" --quiet)
        echo "run $r: $b: wall $wall s, process CPU $cpu s, worker thread CPU $worker s"
        echo "$b $wall $cpu $worker" >> "$work/runs"
    done
done
mkdir -p "$here/bench/results"
/usr/bin/python3 - "$work/runs" "$(wc -l < "$out")" "$weir" \
    "$here/bench/results/$result" "$out" <<'PY'
import collections, json, statistics, sys
runs = collections.defaultdict(lambda: {"wall_s": [], "cpu_s": [], "worker_cpu_s": []})
for line in open(sys.argv[1]):
    b, wall, cpu, worker = line.split()
    for k, v in zip(("wall_s", "cpu_s", "worker_cpu_s"), (wall, cpu, worker)):
        runs[b][k].append(float(v))
n, weir = int(sys.argv[2]), sys.argv[3]
out = {"records": n, "output": sys.argv[5], "binaries": {}}
print(f"{'binary':32s} {'records/s (wall)':>17s} {'records/worker-CPU-s':>21s} "
      f"{'records/CPU-s':>14s}   least / median of each")
for b, v in runs.items():
    d = {k: {"runs": x, "least": min(x), "median": statistics.median(x)} for k, x in v.items()}
    d["records_per_s"] = n / d["wall_s"]["least"]
    d["records_per_worker_cpu_s"] = n / d["worker_cpu_s"]["least"]
    d["records_per_cpu_s"] = n / d["cpu_s"]["least"]
    out["binaries"][b] = d
    print(f"{b:32s} {n / d['wall_s']['least']:8.0f} / {n / d['wall_s']['median']:<7.0f} "
          f"{n / d['worker_cpu_s']['least']:10.0f} / {n / d['worker_cpu_s']['median']:<9.0f} "
          f"{n / d['cpu_s']['least']:7.0f} / {n / d['cpu_s']['median']:<7.0f}")
if len(runs) == 2:
    base = [b for b in runs if b != weir][0]
    for k in ("cpu_s", "worker_cpu_s"):
        out[f"ratio_least_{k}"] = min(runs[base][k]) / min(runs[weir][k])
        print(f"baseline / this, least {k}: {out[f'ratio_least_{k}']:.2f}x")
json.dump(out, open(sys.argv[4], "w"), indent=1)
PY
