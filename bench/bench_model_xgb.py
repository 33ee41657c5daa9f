#!/usr/bin/env python3
"""Baseline for bench_model's tree table: trains XGBoost models of 100 and
500 trees (depth 6, 16 features, binary:logistic) on synthetic rows with 5%
missing, saves them as JSON with the rows and XGBoost's predictions, and
times XGBoost's own predictor on one thread (inplace_predict, nthread=1,
best of 5, in the process's CPU time as bench_model times weir) on the same
rows.

Usage: /usr/bin/python3 bench/bench_model_xgb.py DIR [ROWS]
Writes DIR/trees{100,500}.json, DIR/rows.f32, DIR/pred{100,500}.f32 and
DIR/xgb.json ({"trees100": rows_per_s, ...}); bench_model --trees DIR reads them.
Models already in DIR are reused (the rows are the same for a given ROWS): a
second run only times XGBoost again, e.g. right before bench_model."""
import json
import os
import sys
import time

import numpy as np
import xgboost as xgb

d = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 100000
F = 16
rng = np.random.default_rng(5)
X = rng.normal(size=(n, F)).astype(np.float32)
X[rng.random(size=X.shape) < 0.05] = np.nan
y = (np.nan_to_num(X[:, 0]) * np.nan_to_num(X[:, 1]) + np.nan_to_num(X[:, 2]) > 0).astype(np.float32)
X.tofile(f"{d}/rows.f32")
out = {"rows": n, "features": F, "xgboost": xgb.__version__}
train = xgb.DMatrix(X[:20000], label=y[:20000], missing=np.nan)
for trees in (100, 500):
    if os.path.exists(f"{d}/trees{trees}.json"):  # trained before: only time it again
        bst = xgb.Booster(model_file=f"{d}/trees{trees}.json")
    else:
        bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "nthread": 1,
                         "seed": 1}, train, trees)
        bst.save_model(f"{d}/trees{trees}.json")
    bst.set_param({"nthread": 1})
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()  # CPU time, as bench_model measures weir
        p = bst.inplace_predict(X, missing=np.nan)
        best = min(best, time.process_time() - t0)
    np.asarray(p, dtype=np.float32).tofile(f"{d}/pred{trees}.f32")
    out[f"trees{trees}"] = n / best
json.dump(out, open(f"{d}/xgb.json", "w"))
print(json.dumps(out))
