#!/usr/bin/python3
"""Trains the flagship fraud model (pipelines/models/fraud-xgb.json) on the
features weir itself computes, so that the model sees in training exactly what
it is served.

    build/weir run pipelines/fraud.json --set 'sinks[0].path=/tmp/fraud-features.jsonl' --quiet
    /usr/bin/python3 scripts/train_fraud_model.py /tmp/fraud-features.jsonl \\
        ../shared/data/fraud/fdh/daily pipelines/models/fraud-xgb.json

Labels (TX_FRAUD) are joined from the daily files by TRANSACTION_ID: the
pipeline's output never carries them. Only transactions up to --train-end
(2018-07-31) are used. Everything is chosen on a time-ordered split — fit on
data up to 7 days before the validation week, validate on the last 7 days
before --train-end (the handbook's label delay) — never on the test week:

1. the inputs: the handbook's 15 features, plus groups of features that
   express the data's fraud scenarios (GROUPS below; fraud.json computes them
   all). Candidates: the 15 alone, the 15 with every group, and the 15 with
   every group but one, for each group; fixed settings (depth 6, eta 0.1,
   early stopping); the one with the best validation AP wins;
2. the tree depth and learning rate (a small grid) and the number of boosting
   rounds (early stopping) for those inputs;

then the model is refit on everything up to --train-end with the chosen
settings. `--groups none` (the 15 features, step 1 skipped) reproduces the
previous recipe. Deterministic for a seed. Writes XGBoost's JSON model format
and prints the chosen inputs (the model operator's "features", in order) as a
JSON list on stdout.
"""
import argparse
import glob
import json
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

HANDBOOK = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"] + [
    f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")
] + [f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")]

# Extra inputs by fraud mechanism (the data README's scenarios), each a group
# of fields pipelines/fraud.json writes.
GROUPS = {
    # this amount against the card's own recent mean, spread and maximum
    "card_amount": ["AMOUNT_TO_AVG_1DAY", "AMOUNT_TO_AVG_7DAY", "AMOUNT_TO_AVG_30DAY",
                    "AMOUNT_Z_30DAY", "CUSTOMER_ID_MAX_AMOUNT_7DAY_WINDOW",
                    "CUSTOMER_ID_MAX_AMOUNT_30DAY_WINDOW", "CUSTOMER_ID_STD_AMOUNT_7DAY_WINDOW",
                    "CUSTOMER_ID_STD_AMOUNT_30DAY_WINDOW"],
    # against the card's baseline before the last 14 days (a compromise lasts 14)
    "card_baseline": ["CUSTOMER_ID_BASE_AVG", "CUSTOMER_ID_BASE_STD", "CUSTOMER_ID_BASE_MAX",
                      "AMOUNT_TO_BASE", "AMOUNT_Z_BASE", "AMOUNT_TO_BASE_MAX"],
    # how unusual the card's recent transactions were (a compromised card's
    # amounts are multiplied for 14 days)
    "card_recent": [f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for k in ("NB_HIGH", "AVG_TO_BASE", "MAX_TO_BASE")
                    for w in (1, 7, 14)],
    "card_gap": ["CUSTOMER_ID_SINCE_LAST"],
    # the terminal's known fraud over other windows (a compromise lasts 28 days)
    "terminal_risk": [f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for k in ("NB_TX", "RISK") for w in (3, 14, 60)]
    + ["TERMINAL_ID_LAST_KNOWN_FRAUD"],
    # the terminal's current traffic and amounts
    "terminal_now": ["TERMINAL_ID_NB_TX_NOW_1DAY_WINDOW", "TERMINAL_ID_NB_TX_NOW_30DAY_WINDOW",
                     "TERMINAL_ID_AVG_AMOUNT_30DAY_WINDOW", "AMOUNT_TO_TERMINAL_AVG_30DAY"],
}


def log(msg):
    print(f"train_fraud_model: {msg}", file=sys.stderr, flush=True)


def load(features_path, daily, names):
    labels = pd.concat([pd.read_csv(f, usecols=["TRANSACTION_ID", "TX_DATETIME", "TX_FRAUD"])
                        for f in sorted(glob.glob(os.path.join(daily, "*.csv.gz")))])
    rows = []
    with open(features_path) as f:
        for line in f:
            r = json.loads(line)
            rows.append([r["TRANSACTION_ID"]] + [r.get(k, np.nan) for k in names])
    feats = pd.DataFrame(rows, columns=["TRANSACTION_ID"] + names)
    feats[names] = feats[names].astype(np.float32)
    df = feats.merge(labels, on="TRANSACTION_ID", how="inner").sort_values("TRANSACTION_ID")
    df["TX_DATETIME"] = pd.to_datetime(df["TX_DATETIME"])
    return df


def matrix(df, names):
    return xgb.DMatrix(df[names].to_numpy(np.float32), label=df.TX_FRAUD.to_numpy(),
                       feature_names=names)


def probe(params, fit, valid, names, max_rounds):
    """Validation AP and the best round count of params on these inputs."""
    m = xgb.train(params, matrix(fit, names), max_rounds, evals=[(matrix(valid, names), "valid")],
                  early_stopping_rounds=30, verbose_eval=False)
    return m.best_score, m.best_iteration + 1


def candidates(groups):
    """Input sets step 1 compares, as (label, names)."""
    every = HANDBOOK + [f for g in groups for f in GROUPS[g]]
    out = [("handbook 15", HANDBOOK), ("15 + every group", every)]
    for left in groups:
        out.append((f"15 + every group but {left}",
                    HANDBOOK + [f for g in groups if g != left for f in GROUPS[g]]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features"), ap.add_argument("daily"), ap.add_argument("out")
    ap.add_argument("--train-start", default="2018-04-01")
    ap.add_argument("--train-end", default="2018-07-31")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="candidate groups, comma-separated, or none (default: all)")
    ap.add_argument("--max-rounds", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    groups = [] if a.groups == "none" else a.groups.split(",")
    for g in groups:
        if g not in GROUPS:
            sys.exit(f"train_fraud_model: unknown group {g!r} (expected one of {', '.join(GROUPS)})")
    df = load(a.features, a.daily, HANDBOOK + [f for g in groups for f in GROUPS[g]])
    start, end = pd.Timestamp(a.train_start), pd.Timestamp(a.train_end) + pd.Timedelta(days=1)
    df = df[(df.TX_DATETIME >= start) & (df.TX_DATETIME < end)]
    valid_start = end - pd.Timedelta(days=7)
    fit = df[df.TX_DATETIME < valid_start - pd.Timedelta(days=7)]
    valid = df[df.TX_DATETIME >= valid_start]
    log(f"{len(fit)} rows to fit, {len(valid)} to validate (from {valid_start.date()})")
    base = {"objective": "binary:logistic", "eval_metric": "aucpr", "subsample": 0.8,
            "colsample_bytree": 0.8, "min_child_weight": 1, "seed": a.seed, "nthread": a.threads,
            "tree_method": "hist"}
    names = HANDBOOK
    if groups:
        best = None
        for label, cand in candidates(groups):
            score, rounds = probe(dict(base, max_depth=6, eta=0.1), fit, valid, cand, a.max_rounds)
            log(f"inputs {label} ({len(cand)}): {rounds} rounds, validation AP {score:.4f}")
            if best is None or score > best[0]:
                best = (score, label, cand)
        names = best[2]
        log(f"chose inputs {best[1]} ({len(names)}, validation AP {best[0]:.4f})")
    best = None
    for depth in (3, 6):
        for eta in (0.05, 0.1, 0.3):
            params = dict(base, max_depth=depth, eta=eta)
            score, rounds = probe(params, fit, valid, names, a.max_rounds)
            log(f"depth {depth}, eta {eta}: {rounds} rounds, validation AP {score:.4f}")
            if best is None or score > best[0]:
                best = (score, params, rounds)
    score, params, rounds = best
    log(f"chose depth {params['max_depth']}, eta {params['eta']}, {rounds} rounds "
        f"(validation AP {score:.4f})")
    model = xgb.train(params, matrix(df, names), rounds)
    model.save_model(a.out)
    log(f"{len(df)} rows ({df.TX_DATETIME.min().date()} .. {df.TX_DATETIME.max().date()}, "
        f"{int(df.TX_FRAUD.sum())} frauds), {len(names)} inputs, {rounds} rounds -> {a.out}")
    print(json.dumps(names))


if __name__ == "__main__":
    main()
