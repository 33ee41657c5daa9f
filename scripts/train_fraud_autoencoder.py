#!/usr/bin/python3
"""Trains the unsupervised fraud model: an autoencoder over the fraud
pipeline's 15 features, scored by its reconstruction error (no labels used).

    build/weir run pipelines/fraud.json --set 'sinks[0].path=/tmp/fraud-features.jsonl' --quiet
    /usr/bin/python3 scripts/train_fraud_autoencoder.py /tmp/fraud-features.jsonl \\
        pipelines/models/fraud-ae.safetensors

Trained on every transaction up to --train-end (2018-07-31), labels unseen
(about 0.8% of them are frauds). Inputs are standardised with the training
data's mean and standard deviation, carried in the file. Architecture
15-16-8-16-15 (ReLU), MSE, Adam, deterministic for a seed. Exported with
scripts/export_safetensors.py, output "reconstruction_error".
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_safetensors import export  # noqa: E402
from train_fraud_model import HANDBOOK as FEATURES  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features"), ap.add_argument("out")
    ap.add_argument("--train-end", default="2018-07-31")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    rows = []
    with open(a.features) as f:
        for line in f:
            r = json.loads(line)
            if r["TX_DATETIME"][:10] <= a.train_end:
                rows.append([r[k] for k in FEATURES])
    x = np.asarray(rows, np.float32)
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1
    z = torch.from_numpy((x - mean) / std)
    net = torch.nn.Sequential(torch.nn.Linear(15, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
                              torch.nn.ReLU(), torch.nn.Linear(8, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, 15))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    torch.set_num_threads(2)
    for epoch in range(a.epochs):
        perm = torch.randperm(len(z))
        total = 0.0
        for i in range(0, len(z), 1024):
            b = z[perm[i:i + 1024]]
            loss = ((net(b) - b) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(b)
        print(f"train_fraud_autoencoder: epoch {epoch + 1}: MSE {total / len(z):.4f}", file=sys.stderr)
    export(net, a.out, features=FEATURES, output="reconstruction_error", input_mean=mean, input_std=std)
    print(f"train_fraud_autoencoder: {len(z)} transactions up to {a.train_end} -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
