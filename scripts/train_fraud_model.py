#!/usr/bin/python3
"""Trains the flagship fraud model (pipelines/models/fraud-xgb.json) on the
features weir itself computes, so that the model sees in training exactly what
it is served.

    build/weir run pipelines/fraud.json --set 'sinks[0].path=/tmp/fraud-features.jsonl' --quiet
    /usr/bin/python3 scripts/train_fraud_model.py /tmp/fraud-features.jsonl \\
        ../shared/data/fraud/fdh/daily pipelines/models/fraud-xgb.json

Labels (TX_FRAUD) are joined from the daily files by TRANSACTION_ID: the
pipeline's output never carries them. Only transactions up to --train-end
(2018-07-31) are used. The tree depth and learning rate (a small grid) and
the number of boosting rounds (early stopping) are chosen on a time-ordered
split — fit on data up to 7 days before the validation week, validate on the
last 7 days before --train-end (the handbook's label delay) — never on the
test week; then the model is refit on everything up to --train-end with the
chosen settings. Deterministic for a seed. Writes XGBoost's JSON model format.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

FEATURES = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"] + [
    f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")
] + [f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")]


def load(features_path, daily):
    labels = pd.concat([pd.read_csv(f, usecols=["TRANSACTION_ID", "TX_DATETIME", "TX_FRAUD"])
                        for f in sorted(glob.glob(os.path.join(daily, "*.csv.gz")))])
    rows = []
    with open(features_path) as f:
        for line in f:
            r = json.loads(line)
            rows.append([r["TRANSACTION_ID"]] + [r.get(k, np.nan) for k in FEATURES])
    feats = pd.DataFrame(rows, columns=["TRANSACTION_ID"] + FEATURES)
    df = feats.merge(labels, on="TRANSACTION_ID", how="inner").sort_values("TRANSACTION_ID")
    df["TX_DATETIME"] = pd.to_datetime(df["TX_DATETIME"])
    return df


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features"), ap.add_argument("daily"), ap.add_argument("out")
    ap.add_argument("--train-start", default="2018-04-01")
    ap.add_argument("--train-end", default="2018-07-31")
    ap.add_argument("--max-rounds", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    df = load(a.features, a.daily)
    start, end = pd.Timestamp(a.train_start), pd.Timestamp(a.train_end) + pd.Timedelta(days=1)
    df = df[(df.TX_DATETIME >= start) & (df.TX_DATETIME < end)]
    valid_start = end - pd.Timedelta(days=7)
    fit = df[df.TX_DATETIME < valid_start - pd.Timedelta(days=7)]
    valid = df[df.TX_DATETIME >= valid_start]
    base = {"objective": "binary:logistic", "eval_metric": "aucpr", "subsample": 0.8,
            "colsample_bytree": 0.8, "min_child_weight": 1, "seed": a.seed, "nthread": 2,
            "tree_method": "hist"}
    dfit = xgb.DMatrix(fit[FEATURES].to_numpy(np.float32), label=fit.TX_FRAUD.to_numpy(),
                       feature_names=FEATURES)
    dval = xgb.DMatrix(valid[FEATURES].to_numpy(np.float32), label=valid.TX_FRAUD.to_numpy(),
                       feature_names=FEATURES)
    best = None
    for depth in (3, 6):
        for eta in (0.05, 0.1, 0.3):
            params = dict(base, max_depth=depth, eta=eta)
            probe = xgb.train(params, dfit, a.max_rounds, evals=[(dval, "valid")],
                              early_stopping_rounds=30, verbose_eval=False)
            rounds = probe.best_iteration + 1
            print(f"train_fraud_model: depth {depth}, eta {eta}: {rounds} rounds, validation AP "
                  f"{probe.best_score:.4f}", file=sys.stderr)
            if best is None or probe.best_score > best[0]:
                best = (probe.best_score, params, rounds)
    _, params, rounds = best
    print(f"train_fraud_model: {len(fit)} rows to fit, {len(valid)} to validate "
          f"(from {valid_start.date()}): chose depth {params['max_depth']}, eta {params['eta']}, "
          f"{rounds} rounds (validation AP {best[0]:.4f})", file=sys.stderr)
    dall = xgb.DMatrix(df[FEATURES].to_numpy(np.float32), label=df.TX_FRAUD.to_numpy(),
                       feature_names=FEATURES)
    model = xgb.train(params, dall, rounds)
    model.save_model(a.out)
    print(f"train_fraud_model: {len(df)} rows ({df.TX_DATETIME.min().date()} .. "
          f"{df.TX_DATETIME.max().date()}, {int(df.TX_FRAUD.sum())} frauds), {rounds} rounds -> {a.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
