"""What the cases of tests/test_reload_kafka.sh share: a weir run in a
folder of its own, its pipeline file rewritten for each reload, its log and
its output read back, checks that print ok/FAIL lines. Each case's driver
imports it (the test puts tests/ on PYTHONPATH)."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from output_readers import whole_lines


class Case:
    def __init__(self, t):
        self.t = t
        self.results = []
        self.proc = None
        os.makedirs(t)

    def check(self, cond, what):
        self.results.append(bool(cond))
        print(("ok: " if cond else "FAIL: ") + what, flush=True)
        return cond

    def write_ids(self, name, ids):
        """An input file of records {"id", "v"}, one per line."""
        with open(f"{self.t}/{name}", "w") as f:
            for i in ids:
                f.write(json.dumps({"id": i, "v": i % 97}) + "\n")

    def replay(self, weir, brokers, topic, lo, hi):
        """Ids lo..hi-1 into topic through weir replay, keyed by id."""
        self.write_ids(f"in{lo}.jsonl", range(lo, hi))
        subprocess.run([weir, "replay", f"{self.t}/in{lo}.jsonl", "--brokers", brokers,
                        "--topic", topic, "--key", "id"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def out_total(self):
        """weir_records_out_total from the run's /metrics (--http 0: its port
        read from the log), -1 before it listens or after it ended."""
        if not self.http_port():
            return -1
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.http}/metrics",
                                          timeout=10).read()
        except OSError:  # the run ended
            return -1
        v = [l for l in body.decode().splitlines() if l.startswith("weir_records_out_total ")]
        return int(float(v[0].split()[1])) if v else -1

    def partitions(self, brokers, topic):
        """For a failure message: each partition of topic as the brokers hold
        it (end offsets) and as the run read it (/metrics: next offset to
        read, high watermark, offset stored for commit), so that a record
        missing says which partition it was in and where reading stopped."""
        lines = [f"{topic} end offsets (brokers):"]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        libs = os.path.join(os.environ.get("WEIR_KAFKA_HOME",
                                           os.path.expanduser("~/.cache/weir-kafka")), "libs")
        try:
            r = subprocess.run(["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                                f"-Dlog4j2.configurationFile={root}/scripts/kafka/log4j2.properties",
                                "-Dweir.log.level=WARN", "-cp", f"{libs}/*",
                                "org.apache.kafka.tools.GetOffsetShell", "--bootstrap-server",
                                brokers, "--topic", topic], capture_output=True, text=True,
                               timeout=60)
            lines += ["  " + l for l in r.stdout.split()] or ["  none: " + r.stderr[-200:]]
        except (OSError, subprocess.TimeoutExpired) as e:
            lines.append(f"  not known: {e}")
        lines.append("the run's partitions (/metrics):")
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.http_port()}/metrics",
                                          timeout=10).read().decode()
            lines += ["  " + l for l in body.splitlines()
                      if l.startswith("weir_partition_") and f'topic="{topic}"' in l]
        except (OSError, TypeError) as e:
            lines.append(f"  not known: {e}")
        return "\n".join(lines)

    def http_port(self):
        """The run's /metrics port (--http 0: read from its log), or None."""
        if not getattr(self, "http", None):
            g = re.search(r"http: listening on .*:(\d+)$", self.log(), re.M)
            self.http = g and int(g.group(1))
        return self.http

    def write_pipeline(self, p):
        """Written whole, then renamed: a reload never reads half a file."""
        with open(f"{self.t}/p.json.tmp", "w") as f:
            json.dump(p, f)
        os.rename(f"{self.t}/p.json.tmp", f"{self.t}/p.json")

    def start(self, *args):
        self.proc = subprocess.Popen(list(args), stdout=subprocess.DEVNULL,
                                     stderr=open(f"{self.t}/err", "w"))

    def log(self):
        try:
            return open(f"{self.t}/err").read()
        except OSError:
            return ""

    def wait_for(self, pred, limit, step=0.05):
        """pred() within limit seconds, while the run lasts."""
        end = time.time() + limit
        while time.time() < end and self.proc.poll() is None:
            if pred():
                return True
            time.sleep(step)
        return pred()

    def outputs(self):
        """The ids of out.jsonl's whole lines, and how many lines."""
        lines = whole_lines(f"{self.t}/out.jsonl")
        return {json.loads(line)["id"] for line in lines}, len(lines)

    def ids_out(self):
        return self.outputs()[0]

    def stop(self):
        """SIGTERM; the exit status (killed after 30 s)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def clean_log(self, what, ignore=None):
        """No error line (but those containing ignore), no sanitizer report."""
        lines = [l for l in self.log().splitlines() if not ignore or ignore not in l]
        bad = ("ERROR", "AddressSanitizer", "runtime error", "ThreadSanitizer")
        return self.check(not any(w in l for l in lines for w in bad), what)

    def exit(self):
        """Exits 0 when every check passed; else 1 after the log's tail."""
        if not all(self.results):
            print("--- weir's log (tail) ---\n" + "\n".join(self.log().splitlines()[-40:]))
        raise SystemExit(0 if all(self.results) else 1)
