"""tests/test_model_torch.sh's Python half: trains small PyTorch networks,
exports them with scripts/export_safetensors.py, and later checks weir's
outputs against PyTorch's.  Usage: model_torch.py train DIR | check DIR"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))
from export_safetensors import export  # noqa: E402

N, F = 4000, 6
FEATURES = [f"f{i}" for i in range(F)]


def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(N, F)).astype(np.float32) * np.array([1, 10, 0.1, 5, 1, 100], np.float32)
    X += np.array([0, 50, 0, -3, 1, 1000], np.float32)
    y = ((X[:, 0] + X[:, 1] / 10 - X[:, 3] / 5 + rng.normal(size=N) * 0.3) > 5).astype(np.float32)
    return X, y


def models(mean, std):
    torch.manual_seed(3)
    return {
        "logistic": (nn.Sequential(nn.Linear(F, 1)), "probability", True),
        "mlp": (nn.Sequential(nn.Linear(F, 32), nn.LayerNorm(32), nn.ReLU(), nn.Linear(32, 16),
                              nn.GELU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1)),
                "probability", True),
        "autoencoder": (nn.Sequential(nn.Linear(F, 4), nn.Sigmoid(), nn.Linear(4, F)),
                        "reconstruction_error", True),
        "multi": (nn.Sequential(nn.Linear(F, 8), nn.ReLU(), nn.Linear(8, 3)), "raw", False),
    }


def train(d):
    X, y = data()
    mean, std = X.mean(0), X.std(0)
    xt = torch.tensor((X - mean) / std)
    for name, (net, output, norm) in models(mean, std).items():
        opt = torch.optim.Adam(net.parameters(), lr=0.01)
        for _ in range(60):
            opt.zero_grad()
            out = net(xt if norm else torch.tensor(X) / 100)
            if output == "probability":
                loss = nn.functional.binary_cross_entropy_with_logits(out[:, 0], torch.tensor(y))
            elif output == "reconstruction_error":
                loss = ((out - xt) ** 2).mean()
            else:
                loss = (out ** 2).mean() * 0 + ((out[:, 0] - torch.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()
        if not norm:  # raw inputs: fold the /100 into the first layer
            with torch.no_grad():
                net[0].weight /= 100
        export(net, f"{d}/{name}.safetensors", FEATURES, output,
               mean if norm else None, std if norm else None)
        torch.save(net, f"{d}/{name}.pt")
    with open(f"{d}/input.jsonl", "w") as f:
        for i, row in enumerate(X):
            rec = {"row": i, **{k: float(v) for k, v in zip(FEATURES, row)}}
            if i % 500 == 7:
                rec["f2"] = None  # missing: a dense model dead-letters the record
            f.write(json.dumps(rec) + "\n")
    np.save(f"{d}/X.npy", X)


def check(d):
    X = np.load(f"{d}/X.npy")
    mean, std = X.mean(0), X.std(0)
    worst = {}
    bad = 0
    for name, (_, output, norm) in list(models(mean, std).items()) + [("mlp8", (None, "probability", True))]:
        net = torch.load(f"{d}/{name.replace('8', '')}.pt")
        with torch.no_grad():
            xin = torch.tensor((X - mean) / std if norm else X)
            out = net(xin)
            if output == "probability":
                want = torch.sigmoid(out).numpy()
            elif output == "reconstruction_error":
                want = ((out - xin) ** 2).mean(1, keepdim=True).numpy()
            else:
                want = out.numpy()
        got, order = {}, []
        with open(f"{d}/{name}.out.jsonl") as f:
            for line in f:
                rec = json.loads(line)
                got[int(rec["row"])] = [rec[k] for k in sorted(k for k in rec if k.startswith("y"))]
                order.append(int(rec["row"]))
        rows = sorted(got)
        if order != rows:
            print(f"{name}: records came out of order")
            bad += 1
        if len(rows) != N - N // 500 or any(r % 500 == 7 for r in rows):
            print(f"{name}: only {len(rows)} rows came out")
            bad += 1
            continue
        g = np.array([got[r] for r in rows], np.float64)
        w = want[rows].astype(np.float64)
        if name == "mlp8":  # int8: reported, with a loose bound on the probability
            e = np.abs(g - w)
            worst["mlp8 (int8): worst, mean absolute"] = [float(e.max()), float(e.mean())]
            agree = float(((g > 0.5) == (w > 0.5)).mean())
            worst["mlp8 (int8): same side of 0.5"] = agree
            if e.max() > 0.1 or e.mean() > 0.01 or agree < 0.99:
                print(f"int8: worst absolute error {e.max():.3g}, mean {e.mean():.3g}, agree {agree}")
                bad += 1
            continue
        rel = np.abs(g - w) / np.maximum(np.abs(w), 1e-3)
        worst[name] = float(rel.max())
        if rel.max() > 1e-5:
            print(f"{name}: worst relative error {rel.max():.3g} at row {rows[int(rel.argmax()) // w.shape[1]]}")
            bad += 1
    print("worst relative error per model:", json.dumps(worst))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"train": train, "check": check}[sys.argv[1]](sys.argv[2])
