"""tests/test_model_explain.sh's Python half: checks the model operator's
"<out>_explain" accounts against XGBoost's own pred_contribs (exact TreeSHAP).
Usage: model_explain.py check DIR MODEL OUT K   (XGBoost, tests/model_xgb.py's models)
       model_explain.py ae DIR OUT K              (PyTorch, tests/model_torch.py's autoencoder):
each input's share of the reconstruction error and what it was reconstructed as"""
import json
import math
import re
import sys

import numpy as np
import xgboost as xgb

FEATURES = [f"f{i}" for i in range(8)]
HEAD = re.compile(r"^(log-odds|margin) (\S+) from ([^\s:;]+)(: none raised it)?")
ITEM = re.compile(r"(?:[:,]) (f\d)=(\S+) ([+-]\S+?)(?: expected (\S+)\.\.(\S+?))?(?=[,;]|$)")
REST = re.compile(r"the other (\d+) ([+-]\S+)$")


def check(d, model, out, k):
    X = np.load(f"{d}/X.npy")
    bst = xgb.Booster(model_file=f"{d}/{model}.json")
    bst.set_param({"nthread": 1})
    names = FEATURES if bst.feature_names else None
    want = bst.predict(xgb.DMatrix(X, missing=np.nan, feature_names=names), pred_contribs=True)
    problems, worst, seen = [], 0.0, 0
    for line in open(out):
        rec = json.loads(line)
        i, text = rec["row"], rec.get("y_explain")
        if text is None:
            continue
        seen += 1
        phi = want[i]
        head, items, rest = HEAD.match(text), ITEM.findall(text), REST.search(text)
        if not head or (not rest and len(items) < 8):
            problems.append(f"row {i}: cannot read {text!r}")
            continue
        margin, base = float(head.group(2)), float(head.group(3))
        worst = max(worst, abs(base - phi[-1]), abs(margin - phi.sum()))
        shown = [int(name[1:]) for name, _, _, _, _ in items]
        for (name, value, contrib, _, _), f in zip(items, shown):
            worst = max(worst, abs(float(contrib) - phi[f]))
            x = X[i, f]
            if (value == "missing") != bool(np.isnan(x)) or (value != "missing" and abs(float(value) - x) > 1e-5 * max(1, abs(x))):
                problems.append(f"row {i}: {name}={value}, the row has {x}")
        # contributions within 1e-5 of 0 may go either way (float against double)
        positive = sorted((f for f in range(8) if phi[f] > 1e-5), key=lambda f: -phi[f])
        maybe = sum(phi[f] > -1e-5 for f in range(8))
        if not min(k, len(positive)) <= len(shown) <= min(k, maybe) or any(
                phi[a] < phi[b] - 1e-5 for a, b in zip(shown, shown[1:])):
            problems.append(f"row {i}: listed {shown}, the top positive are {positive[:k]}: {text!r}")
        elif shown and max([phi[f] for f in range(8) if f not in shown], default=-1e9) > min(phi[f] for f in shown) + 1e-5:
            problems.append(f"row {i}: listed {shown}, missed a larger one of {positive[:k]}")
        others, left = (float(rest.group(2)), int(rest.group(1))) if rest else (0.0, 0)
        parts = base + sum(float(c) for _, _, c, _, _ in items) + others
        if abs(parts - margin) > 1e-3 * max(1, abs(margin)) or left != 8 - len(shown):
            problems.append(f"row {i}: the parts do not add up: {text!r}")
        p = rec["y"]
        if head.group(1) == "log-odds" and abs(1 / (1 + math.exp(-margin)) - p) > 1e-5:
            problems.append(f"row {i}: log-odds {margin}, the score {p}")
    print(f"{seen} accounts read; worst difference from xgboost's pred_contribs {worst:.3g}")
    for p in problems[:10]:
        print(p)
    sys.exit(1 if problems or worst > 1e-4 or seen == 0 else 0)


AE_HEAD = re.compile(r"^reconstruction error ([^\s:;]+)")
AE_ITEM = re.compile(r"(?:[:,]) (f\d)=(\S+) ([+-]\S+) reconstructed ([^\s,;]+)")


def autoencoder(d, out, k):
    import torch
    X = np.load(f"{d}/X.npy")
    mean, std = X.mean(0), X.std(0)
    X[np.arange(len(X)) % 500 == 7, 2] = mean[2]  # missing in the input: imputed ("on_nan")
    net = torch.load(f"{d}/autoencoder.pt")
    with torch.no_grad():
        z = torch.tensor((X - mean) / std)
        zhat = net(z)
    share = (((zhat - z) ** 2) / X.shape[1]).numpy().astype(np.float64)
    recon = zhat.numpy() * std + mean
    problems, worst, seen = [], 0.0, 0
    for line in open(out):
        rec = json.loads(line)
        i, text = rec["row"], rec.get("y_explain")
        if text is None:
            continue
        seen += 1
        head, items, rest = AE_HEAD.match(text), AE_ITEM.findall(text), REST.search(text)
        if not head or len(items) != min(k, 6) or (not rest and len(items) < 6):
            problems.append(f"row {i}: cannot read {text!r}")
            continue
        total = float(head.group(1))
        worst = max(worst, abs(total - rec["y"]) / max(rec["y"], 1e-3))
        shown = [int(name[1:]) for name, _, _, _ in items]
        for (name, value, contrib, rec_v), f in zip(items, shown):
            worst = max(worst, abs(float(contrib) - share[i, f]) / max(share[i].sum(), 1e-3),
                        abs(float(rec_v) - recon[i, f]) / max(abs(recon[i, f]), std[f]))
        if any(share[i, a] < share[i, b] - 1e-6 * share[i].sum() for a, b in zip(shown, shown[1:])):
            problems.append(f"row {i}: not in order of their shares: {text!r}")
    print(f"{seen} autoencoder accounts read; worst relative difference from PyTorch {worst:.3g}")
    for p in problems[:10]:
        print(p)
    sys.exit(1 if problems or worst > 1e-4 or seen == 0 else 0)


if __name__ == "__main__":
    if sys.argv[1] == "ae":
        autoencoder(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
