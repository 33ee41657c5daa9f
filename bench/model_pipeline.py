#!/usr/bin/env python3
"""The model operator inside a running pipeline, file -> file on one worker:
records/s of extract alone, extract + a 16-128-64-1 MLP (random weights,
relu, probability) and extract + 300 XGBoost trees of depth 6, on the same
generated rows; the model's cost per record is the difference from extract
alone. Best of 3 runs each: wall clock of `weir run`, and its CPU time
(user + system, from getrusage of the child), which a shared machine
disturbs less.

Usage: /usr/bin/python3 bench/model_pipeline.py WEIR_BIN [ROWS] [RESULT.json]
(default 200000 rows, bench/results/model_pipeline.json)
Env: WEIR_MODEL_DEVICE (the model's "device", default cpu) and
WEIR_MODEL_MAX_RECORDS (its "max_records", default the operator's), for the
GPU runs of scripts/gpu_check.sh."""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from export_safetensors import write_safetensors  # noqa: E402

weir = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200000
result = sys.argv[3] if len(sys.argv) > 3 else "bench/results/model_pipeline.json"
F = 16
names = [f"f{i}" for i in range(F)]
d = tempfile.mkdtemp(prefix="weir-model-pipeline-")
rng = np.random.default_rng(9)
X = rng.normal(size=(n, F)).astype(np.float32)
with open(f"{d}/in.jsonl", "w") as f:
    for row in X:
        f.write(json.dumps({k: round(float(v), 5) for k, v in zip(names, row)}) + "\n")

# 16-128-64-1 MLP, random weights
tensors, layers, width = {}, [], F
for i, out in enumerate((128, 64, 1)):
    tensors[f"w{i}"] = (rng.normal(size=(out, width)) / np.sqrt(width)).astype(np.float32)
    tensors[f"b{i}"] = rng.normal(size=out).astype(np.float32) * 0.1
    layers.append({"weight": f"w{i}", "bias": f"b{i}", "activation": "relu" if out > 1 else "none"})
    width = out
write_safetensors(f"{d}/mlp.safetensors", tensors,
                  {"weir": json.dumps({"features": names, "layers": layers, "output": "probability"})})
have_xgb = True
try:
    import xgboost as xgb
    y = (X[:20000, 0] * X[:20000, 1] + X[:20000, 2] > 0).astype(np.float32)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1},
                    xgb.DMatrix(X[:20000], label=y, feature_names=names), 300)
    bst.save_model(f"{d}/trees.json")
except ImportError:
    have_xgb = False


def pipeline(model):
    ops = [{"type": "extract", "fields": {k: f"/{k}" for k in names}}]
    if model:
        op = {"type": "model", "path": f"{d}/{model}", "out": "p",
              "device": os.environ.get("WEIR_MODEL_DEVICE", "cpu")}
        if os.environ.get("WEIR_MODEL_MAX_RECORDS"):
            op["max_records"] = int(os.environ["WEIR_MODEL_MAX_RECORDS"])
        ops.append(op)
    p = {"source": {"type": "file", "path": f"{d}/in.jsonl"}, "operators": ops,
         "sinks": [{"type": "file", "path": f"{d}/out.jsonl"}],
         "dead_letter": {"type": "file", "path": f"{d}/dead.jsonl"}}
    path = f"{d}/p.json"
    json.dump(p, open(path, "w"))
    return path


rows = {}
for label, model in [("extract only", None), ("+ MLP 16-128-64-1", "mlp.safetensors"),
                     ("+ 300 trees depth 6", "trees.json" if have_xgb else None)]:
    if label.startswith("+ 300") and not have_xgb:
        continue
    path = pipeline(model)
    best = cpu_best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([weir, "run", path, "--quiet", "--workers", "1"], check=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, time.perf_counter() - t0)
        cpu_best = min(cpu_best, r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    rows[label] = (n / best, cpu_best * 1e6 / n)
base, base_cpu = rows["extract only"]
print(f"{'pipeline':24} {'records/s':>12} {'CPU us/record':>14} {'model CPU us/record':>20}")
out = {"benchmark": "model_pipeline", "rows": n,
       "device": os.environ.get("WEIR_MODEL_DEVICE", "cpu"), "commit": os.environ.get("WEIR_BENCH_COMMIT", ""),
       "runs": []}
for label, (r, cpu) in rows.items():
    print(f"{label:24} {r:12.0f} {cpu:14.2f} {cpu - base_cpu:20.2f}")
    out["runs"].append({"pipeline": label, "records_s": round(r), "cpu_us_per_record": round(cpu, 3),
                        "model_cpu_us_per_record": round(cpu - base_cpu, 3)})
json.dump(out, open(result, "w"), indent=1)
subprocess.run(["rm", "-rf", d])
