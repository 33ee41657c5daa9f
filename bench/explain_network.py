"""How close a network's explanations (the model operator's "explain" on a
classifier network: Shapley values of its log-odds, operators/model_shapley.c)
come to the exact values, and what they cost, for several explain_evals.

A 12-input PyTorch classifier (12-32-16-1, ReLU and GELU) is trained on a
synthetic target with interactions; weir explains 1,000 records with every
explain_evals in the table (4096 = 2^12: every coalition, exact); the exact
values are computed here over the 4,096 coalitions with PyTorch. Error: the
listed shares' distance from the exact values, relative to the sum of the
record's exact |values|. "Top right": the first listed input is the one
with the largest exact value, of the records whose largest exact value is
positive. Time: the run's user CPU against the same run without "explain"
(the baseline, in the same loop), per explained record.

Usage: /usr/bin/python3 bench/explain_network.py WEIR_BIN [RESULT_JSON]
(needs torch and numpy; result bench/results/explain_network.json)"""
import json
import os
import re
import resource
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from export_safetensors import export  # noqa: E402
from model_explain import exact_shapley  # noqa: E402

F, N, REPEATS = 12, 1000, 3
ITEM = re.compile(r"(?:[:,]) (f\d+)=(\S+) ([+-]\S+) mean ([^\s,;]+)")


def train(d):
    rng = np.random.default_rng(11)
    scale = np.linspace(1, 20, F).astype(np.float32)
    X = rng.normal(size=(N, F)).astype(np.float32) * scale
    Z = X / scale
    y = ((Z[:, 0] * Z[:, 1] + Z[:, 2] - np.abs(Z[:, 3]) + 0.5 * Z[:, 4:8].sum(1)
          + rng.normal(size=N) * 0.3) > 0.5).astype(np.float32)
    mean, std = X.mean(0), X.std(0)
    torch.manual_seed(5)
    net = nn.Sequential(nn.Linear(F, 32), nn.ReLU(), nn.Linear(32, 16), nn.GELU(), nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt = torch.tensor((X - mean) / std)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(net(xt)[:, 0], torch.tensor(y)).backward()
        opt.step()
    names = [f"f{i}" for i in range(F)]
    export(net, f"{d}/m.safetensors", names, "probability", mean, std)
    with open(f"{d}/in.jsonl", "w") as f:
        for i, r in enumerate(X):
            f.write(json.dumps({"row": i, **{k: float(v) for k, v in zip(names, r)}}) + "\n")
    phi, _, _ = exact_shapley(net, ((X - mean) / std).astype(np.float32))
    return names, phi


def user_time(weir, d, names, evals):
    model = {"type": "model", "path": f"{d}/m.safetensors", "out": "y"}
    if evals:
        model.update({"explain": True, "explain_k": F, "explain_above": 0, "explain_evals": evals})
    p = {"source": {"type": "file", "path": f"{d}/in.jsonl"},
         "operators": [{"type": "extract", "fields": {k: "/" + k for k in names}}, model],
         "sinks": [{"type": "file", "path": f"{d}/out{evals}.jsonl"}]}
    with open(f"{d}/p.json", "w") as f:
        json.dump(p, f)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    subprocess.run([weir, "run", f"{d}/p.json", "--quiet"], check=True)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def accuracy(path, phi):
    errs, right, ranked = [], 0, 0
    for line in open(path):
        rec = json.loads(line)
        i = rec["row"]
        got = {int(n[1:]): float(c) for n, _, c, _ in ITEM.findall(rec["y_explain"])}
        scale = np.abs(phi[i]).sum()
        errs += [abs(c - phi[i, f]) / scale for f, c in got.items()]
        if phi[i].max() > 0:
            ranked += 1
            right += bool(got) and max(got, key=got.get) == int(np.argmax(phi[i]))
    e = np.array(errs)
    return {"mean_error": float(e.mean()), "p95_error": float(np.percentile(e, 95)),
            "worst_error": float(e.max()), "top_right": right, "top_ranked": ranked}


def main():
    weir = os.path.abspath(sys.argv[1])
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "results", "explain_network.json")
    rows = []
    with tempfile.TemporaryDirectory() as d:
        names, phi = train(d)
        settings = [0, 64, 256, 1024, 4096]
        times = {e: [] for e in settings}
        for _ in range(REPEATS):  # interleaved: the baseline in the same loop
            for e in settings:
                times[e].append(user_time(weir, d, names, e))
        base = float(np.median(times[0]))
        print(f"{N} records, {F} inputs; user CPU without explain (median of {REPEATS}): {base:.3f} s")
        print("| explain_evals | orders | mean error | 95th pct | worst | top right | ms per explained record |")
        print("|---|---|---|---|---|---|---|")
        for e in settings[1:]:
            a = accuracy(f"{d}/out{e}.jsonl", phi)
            orders = 0 if 2 ** F <= e else (e - 2) // (F - 1) & ~1
            ms = (float(np.median(times[e])) - base) / N * 1e3
            rows.append({"explain_evals": e, "orders": orders, "ms_per_record": ms, **a})
            print(f"| {e} | {orders or 'exact'} | {a['mean_error']:.2%} | {a['p95_error']:.2%} | "
                  f"{a['worst_error']:.2%} | {a['top_right']} / {a['top_ranked']} | {ms:.3f} |")
    with open(out, "w") as f:
        json.dump({"records": N, "inputs": F, "baseline_user_s": base, "rows": rows}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
