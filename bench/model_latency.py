#!/usr/bin/env python3
"""The latency micro-batching adds at 10,000 records/s (issue 10): the same
stdin -> stdout pipeline (extract of 16 features) without a model, and with
a 16-128-64-1 MLP (random weights, relu, probability) or 300 XGBoost trees of
depth 6, for several max_delay_ms / max_records settings of the model
operator. bench_model_latency feeds each at a fixed rate and times every
record from its write into weir's stdin to its line on weir's stdout; the
model's added latency is the difference from the pipeline without it. Each
configuration runs WEIR_LATENCY_REPEATS times (default 3), interleaved with
the others, and the medians are reported (a shared machine's bursts of load
hit the tails of single runs).

Usage: /usr/bin/python3 bench/model_latency.py BUILD_DIR [SECONDS] [RESULT.json]
(default 5 s per run after 1 s of warm-up, bench/results/model_latency.json)
Env: WEIR_LATENCY_RATE (records/s, default 10000), WEIR_LATENCY_REPEATS,
WEIR_MODEL_DEVICE (the model's "device", default cpu)."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from export_safetensors import write_safetensors  # noqa: E402

build = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
result = sys.argv[3] if len(sys.argv) > 3 else "bench/results/model_latency.json"
repeats = int(os.environ.get("WEIR_LATENCY_REPEATS", "3"))
rate = float(os.environ.get("WEIR_LATENCY_RATE", "10000"))
device = os.environ.get("WEIR_MODEL_DEVICE", "cpu")
weir, tool = f"{build}/weir", f"{build}/bench_model_latency"
F = 16
names = [f"f{i}" for i in range(F)]
d = tempfile.mkdtemp(prefix="weir-model-latency-")
atexit.register(shutil.rmtree, d, True)
rng = np.random.default_rng(9)

tensors, layers, width = {}, [], F
for i, out in enumerate((128, 64, 1)):
    tensors[f"w{i}"] = (rng.normal(size=(out, width)) / np.sqrt(width)).astype(np.float32)
    tensors[f"b{i}"] = rng.normal(size=out).astype(np.float32) * 0.1
    layers.append({"weight": f"w{i}", "bias": f"b{i}", "activation": "relu" if out > 1 else "none"})
    width = out
write_safetensors(f"{d}/mlp.safetensors", tensors,
                  {"weir": json.dumps({"features": names, "layers": layers, "output": "probability"})})
models = [("MLP 16-128-64-1", "mlp.safetensors")]
try:
    import xgboost as xgb
    X = rng.normal(size=(20000, F)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] + X[:, 2] > 0).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1},
                    xgb.DMatrix(X, label=y, feature_names=names), 300)
    bst.save_model(f"{d}/trees.json")
    models.append(("300 trees depth 6", "trees.json"))
except ImportError:
    print("xgboost not found: the trees are skipped")

SETTINGS = [(0, 1024), (1, 1024), (5, 1024), (20, 1024), (20, 64), (5, 16)]  # (max_delay_ms, max_records)


def pipeline(model, delay=0, max_records=1024):
    ops = [{"type": "extract", "fields": {k: f"/{k}" for k in names}}]
    fields = ["t_ns", "seq"]
    if model:
        ops.append({"type": "model", "path": f"{d}/{model}", "out": "p", "device": device,
                    "max_delay_ms": delay, "max_records": max_records})
        fields.append("p")
    p = {"source": {"type": "file", "path": "-"}, "operators": ops,
         "sinks": [{"type": "file", "path": "-", "fields": fields}],
         "dead_letter": {"type": "file", "path": f"{d}/dead.jsonl"}}
    path = f"{d}/p.json"
    json.dump(p, open(path, "w"))
    return path


def run(label, path):
    out = f"{d}/r.json"
    subprocess.run([tool, weir, path, "--rate", str(rate), "--seconds", str(seconds),
                    "--features", str(F), "--label", label, "--result", out], check=True)
    r = json.load(open(out))
    if os.path.getsize(f"{d}/dead.jsonl") if os.path.exists(f"{d}/dead.jsonl") else 0:
        raise SystemExit(f"{label}: dead letters in {d}/dead.jsonl")
    return r


configs = [(None, None, 0, 1024)] + [(ml, mf, dl, mr) for ml, mf in models for dl, mr in SETTINGS]
load_before = os.getloadavg()[0]
raw = {c: [] for c in configs}
for rep in range(repeats):  # interleaved, so a burst of load on the machine hits every config alike
    for c in configs:
        mlabel, mfile, delay, mr = c
        label = "no model" if mlabel is None else f"{mlabel}, max_delay_ms {delay}, max_records {mr}"
        raw[c].append(run(f"{label} [{rep + 1}/{repeats}]", pipeline(mfile, delay, mr)))


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


runs = []
for c in configs:
    mlabel, _, delay, mr = c
    rs = raw[c]
    runs.append({"model": mlabel, "max_delay_ms": delay if mlabel else None,
                 "max_records": mr if mlabel else None,
                 "p50_us": round(median([r["p50_us"] for r in rs]), 1),
                 "p99_us": round(median([r["p99_us"] for r in rs]), 1),
                 "p99_us_best": min(r["p99_us"] for r in rs),
                 "p50_us_runs": [r["p50_us"] for r in rs], "p99_us_runs": [r["p99_us"] for r in rs],
                 "mean_us_runs": [r["mean_us"] for r in rs],
                 "complete": all(r["complete"] for r in rs)})
b50, b99 = runs[0]["p50_us"], runs[0]["p99_us"]
print(f"\nmedians of {repeats} runs each; load average {load_before:.1f} before, "
      f"{os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")
print(f"{'model':20} {'max_delay_ms':>12} {'max_records':>11} {'p50 us':>8} {'p99 us':>8} "
      f"{'added p50':>10} {'added p99':>10} {'best p99':>9}")
for r in runs:
    r["added_p50_us"] = round(r["p50_us"] - b50, 1)
    r["added_p99_us"] = round(r["p99_us"] - b99, 1)
    print(f"{r['model'] or 'none':20} {str(r['max_delay_ms'] if r['model'] else '-'):>12} "
          f"{str(r['max_records'] if r['model'] else '-'):>11} {r['p50_us']:8.0f} {r['p99_us']:8.0f} "
          f"{r['added_p50_us']:10.0f} {r['added_p99_us']:10.0f} {r['p99_us_best']:9.0f}")
json.dump({"benchmark": "model_latency", "rate": rate, "seconds": seconds, "repeats": repeats,
           "device": device, "commit": os.environ.get("WEIR_BENCH_COMMIT", ""),
           "nproc": os.cpu_count(), "loadavg_before": load_before,
           "loadavg_after": os.getloadavg()[0], "runs": runs}, open(result, "w"), indent=1)
