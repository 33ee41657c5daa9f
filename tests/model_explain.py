"""tests/test_model_explain.sh's Python half: checks the model operator's
"<out>_explain" accounts against XGBoost's own pred_contribs (exact TreeSHAP),
PyTorch's autoencoder, and exact Shapley values of PyTorch's classifiers.
Usage: model_explain.py check DIR MODEL OUT K   (XGBoost, tests/model_xgb.py's models)
       model_explain.py ae DIR OUT K              (PyTorch, tests/model_torch.py's autoencoder):
each input's share of the reconstruction error and what it was reconstructed as
       model_explain.py net DIR NAME OUT K exact|worst TOL|mean TOL  (PyTorch, a classifier
network): its margin's Shapley values against exact ones"""
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


def accounts(out):
    """(row, record, text) of each explained record in the output file."""
    for line in open(out):
        rec = json.loads(line)
        if rec.get("y_explain") is not None:
            yield rec["row"], rec, rec["y_explain"]


def check(d, model, out, k):
    X = np.load(f"{d}/X.npy")
    bst = xgb.Booster(model_file=f"{d}/{model}.json")
    bst.set_param({"nthread": 1})
    names = FEATURES if bst.feature_names else None
    want = bst.predict(xgb.DMatrix(X, missing=np.nan, feature_names=names), pred_contribs=True)
    problems, worst, seen = [], 0.0, 0
    for i, rec, text in accounts(out):
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


def torch_case(d, name):
    """tests/model_torch.py's inputs as the network scored them (its missing
    ones imputed, "on_nan"), their mean and spread, and the network."""
    import torch
    X = np.load(f"{d}/X.npy")
    mean, std = X.mean(0), X.std(0)
    X[np.arange(len(X)) % 500 == 7, 2] = mean[2]
    return X, mean, std, torch.load(f"{d}/{name}.pt")


def autoencoder(d, out, k):
    import torch
    X, mean, std, net = torch_case(d, "autoencoder")
    with torch.no_grad():
        z = torch.tensor((X - mean) / std)
        zhat = net(z)
    share = (((zhat - z) ** 2) / X.shape[1]).numpy().astype(np.float64)
    recon = zhat.numpy() * std + mean
    problems, worst, seen = [], 0.0, 0
    for i, rec, text in accounts(out):
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


NET_HEAD = re.compile(r"^(log-odds|margin) (\S+) from ([^\s:;]+?)(?: by (\d+) orders)?(: none raised it)?(?=[:;]|$)")
NET_ITEM = re.compile(r"(?:[:,]) (f\d)=(\S+) ([+-]\S+) mean ([^\s,;]+)")


def exact_shapley(net, z):
    """Every coalition of the inputs (the others at the reference, z = 0, the
    input mean): the network's margin, then each input's Shapley value."""
    import itertools
    import torch
    n = z.shape[1]
    masks = np.array(list(itertools.product([0, 1], repeat=n)), np.float32)[:, ::-1]
    with torch.no_grad():
        f = net(torch.tensor(z[:, None, :] * masks[None, :, :]).reshape(-1, n))
    f = f[:, 0].numpy().astype(np.float64).reshape(len(z), len(masks))
    size = masks.sum(1).astype(int)
    phi = np.zeros((len(z), n))
    index = {tuple(m): i for i, m in enumerate(masks.astype(int))}
    for s, m in enumerate(masks.astype(int)):
        for i in range(n):
            if not m[i]:
                w = math.factorial(size[s]) * math.factorial(n - size[s] - 1) / math.factorial(n)
                with_i = m.copy()
                with_i[i] = 1
                phi[:, i] += w * (f[:, index[tuple(with_i)]] - f[:, s])
    return phi, f[:, -1], f[:, 0]


def network(d, name, out, k, stat, tol):
    """A classifier network's accounts against exact Shapley values computed
    here by PyTorch. stat: exact (weir says they are; within 1e-4), or worst
    or mean: estimated (weir says from how many orders), that error of the
    listed shares within tol (relative to the sum of the exact |values|)."""
    X, mean, std, net = torch_case(d, name)
    phi, fx, fref = exact_shapley(net, ((X - mean) / std).astype(np.float32))
    problems, worst, errs, seen = [], 0.0, [], 0
    for i, rec, text in accounts(out):
        seen += 1
        head, items, rest = NET_HEAD.match(text), NET_ITEM.findall(text), REST.search(text)
        if not head or (not rest and len(items) < 6) or (head.group(4) is None) != (stat == "exact"):
            problems.append(f"row {i}: cannot read {text!r}")
            continue
        margin, base = float(head.group(2)), float(head.group(3))
        worst = max(worst, abs(margin - fx[i]) / max(1, abs(fx[i])), abs(base - fref[i]) / max(1, abs(fref[i])))
        if abs(1 / (1 + math.exp(-margin)) - rec["y"]) > 1e-5:
            problems.append(f"row {i}: log-odds {margin}, the score {rec['y']}")
        scale = max(np.abs(phi[i]).sum(), 1e-3)
        shown = [int(name[1:]) for name, _, _, _ in items]
        shares = [float(c) for _, _, c, _ in items]
        for (fname, value, contrib, m), f in zip(items, shown):
            errs.append(abs(float(contrib) - phi[i, f]) / scale)
            if abs(float(m) - mean[f]) > 1e-5 * max(1, abs(mean[f])):
                problems.append(f"row {i}: {fname}'s mean {m}, not {mean[f]}")
        if any(a < b for a, b in zip(shares, shares[1:])) or len(shown) > k or any(c <= 0 for c in shares):
            problems.append(f"row {i}: not the top raising inputs in order: {text!r}")
        others = float(rest.group(2)) if rest else 0.0
        if abs(base + sum(shares) + others - margin) > 1e-3 * max(1, abs(margin)):
            problems.append(f"row {i}: the parts do not add up: {text!r}")
        if stat == "exact" and sum(phi[i] > 1e-4 * scale) > len(shown) and len(shown) < k:
            problems.append(f"row {i}: left out a raising input: {text!r}")
    errs = np.array(errs or [0.0])
    print(f"{name}: {seen} accounts read; margin and base within {worst:.3g} of PyTorch's; "
          f"shares against exact Shapley values: worst {errs.max():.3g}, mean {errs.mean():.3g} of the sum of |values|")
    for p in problems[:10]:
        print(p)
    err = errs.mean() if stat == "mean" else errs.max()
    sys.exit(1 if problems or worst > 1e-4 or err > (1e-4 if stat == "exact" else tol) or seen == 0 else 0)


if __name__ == "__main__":
    if sys.argv[1] == "ae":
        autoencoder(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "net":
        network(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6],
                float(sys.argv[7]) if len(sys.argv) > 7 else 0.0)
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
