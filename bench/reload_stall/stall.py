# bench/reload_stall.sh: one run of one binary in one mode (see there).
# stall.py WEIR T BROKERS KDIR MODE: one run; MODE kk-up | kf-up | kf-stopped | kk-stopped3 |
# sk-up | sk-stopped3 (a Kafka sink added to topic "so-NAME", the source unchanged) |
# ek-up | ek-stopped3 (as kk-*, exactly-once, the sink and dead letter Kafka on "so-NAME") |
# sr-up | sr-stopped3 (the Kafka sink on "so-NAME" removed, the file sink and source unchanged) |
# ak-up | ak-stopped3 (the source switched from at-least-once to exactly-once, its Kafka sink and
# dead letter on "so-NAME" made again) | ka-up | ka-stopped3 (the other way)
import json, os, re, signal, subprocess, sys, time
weir, t, brokers, kdir, mode = sys.argv[1:6]
os.makedirs(t, exist_ok=True)
name = os.path.basename(t)
topic = "st-" + name
with open(f"{t}/in.jsonl", "w") as f:
    for i in range(200000):
        f.write(json.dumps({"id": i, "v": i % 97}) + "\n")
os.mkfifo(f"{t}/other.jsonl")
fifo = os.open(f"{t}/other.jsonl", os.O_RDWR)  # held open: the file source never ends
def pipeline(k, kind):
    if kind == "removed":  # v0: a file sink and a Kafka sink; v1: the Kafka sink removed
        p = pipeline(0, "kafka")
        if k == 0:
            p["sinks"].append({"type": "kafka", "topic": "so-" + name})
        return write(p)
    if kind in ("alo", "eos2"):  # the guarantee switched; the Kafka sinks differ per version
        p = pipeline(k, "eos")
        if kind == "alo":
            del p["source"]["guarantee"], p["source"]["commit_interval"]
        for sk in p["sinks"] + [p["dead_letter"]]:
            sk["connect_timeout"] = f"{5 + k}s"  # the old code made them again too
        return write(p)
    if kind == "sink":  # the source as before; a Kafka sink added
        p = pipeline(0, "kafka")
        p["sinks"].append({"type": "kafka", "brokers": brokers, "topic": "so-" + name,
                           "connect_timeout": "5s"})
        return write(p)
    if kind == "eos":
        p = pipeline(k, "kafka")
        p["source"]["guarantee"] = "exactly_once"
        p["source"]["commit_interval"] = "4s"  # no periodic end running at the reload
        p["sinks"] = [{"type": "kafka", "topic": "so-" + name}]
        p["dead_letter"] = {"type": "kafka", "topic": "so-" + name}
        return write(p)
    if kind == "kafka":
        src = {"type": "kafka", "brokers": brokers, "topics": [topic], "group": "st-" + name,
               "connect_timeout": "5s", "max_inflight_records": 50000 + k}
        extra = {}
    else:
        src = {"type": "kafka", "brokers": "embedded", "topics": [topic], "group": "st-" + name}
        extra = {}
    p = {"name": "stall", "source": src, "state": {"durable": False},
         "operators": [{"type": "extract", "fields": {"id": "/id", "v": "/v"}}],
         "sinks": [{"type": "file", "path": f"{t}/out.jsonl"}],
         "dead_letter": {"type": "file", "path": f"{t}/dead.jsonl"}, **extra}
    return write(p)
def write(p):
    json.dump(p, open(f"{t}/p.json.tmp", "w")); os.rename(f"{t}/p.json.tmp", f"{t}/p.json")
    return p
def log(): return open(f"{t}/err").read()
def wait(pred, limit):
    end = time.time() + limit
    while time.time() < end:
        if pred(): return True
        time.sleep(0.05)
    return pred()
first = {"ek": "eos", "sr": "removed", "ak": "alo", "ka": "eos2"}.get(mode[:2], "kafka")
pipeline(0, first)
rp = subprocess.Popen([weir, "replay", f"{t}/in.jsonl", "--brokers", brokers, "--topic", topic,
                       "--key", "id", "--rate", "5000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
err = open(f"{t}/err", "w")
proc = subprocess.Popen([weir, "run", f"{t}/p.json", "--workers", "1"], stdout=subprocess.DEVNULL, stderr=err)
ok = wait(lambda: "assigned" in log() and (mode[:2] in ("ek", "ak", "ka") or os.path.exists(f"{t}/out.jsonl") and os.path.getsize(f"{t}/out.jsonl") > 10000), 40)
bpid = int(open(f"{kdir}/broker.pid").read())
time.sleep(1)
if mode.endswith("stopped") or mode.endswith("stopped3"):
    os.kill(bpid, signal.SIGSTOP); time.sleep(0.3)
pipeline(1, {"kf": "file", "sk": "sink", "ek": "eos", "sr": "removed", "ak": "eos2",
             "ka": "alo"}.get(mode[:2], "kafka"))
t0 = time.time()
proc.send_signal(signal.SIGHUP)
if mode.endswith("stopped3"):
    time.sleep(3); os.kill(bpid, signal.SIGCONT)
applied = wait(lambda: "reload applied by every worker" in log(), 60)
closed = mode[:2] in ("sk", "sr") or wait(lambda: "replaced consumer is closed" in log(), 60)
t1 = time.time()
os.kill(bpid, signal.SIGCONT)
proc.send_signal(signal.SIGTERM)
rp.kill()
try: rc = proc.wait(60)
except subprocess.TimeoutExpired: proc.kill(); rc = -9
m = re.findall(r"measure: worker \d+: (\w+) ([\d.]+) ms", log())
print(f"{mode}: flow={ok} applied={applied} closed={closed} {t1-t0:.1f}s rc={rc} " +
      " ".join(f"{k}={v}" for k, v in m))
if not (applied and closed) or rc:
    print("\n".join(log().splitlines()[-15:]))
