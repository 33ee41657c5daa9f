#!/usr/bin/python3
"""The Fraud Detection Handbook's 15 features computed its own way, with pandas
(chapter 3, "Baseline feature transformation"): per-customer rolling windows
of 1, 7 and 30 days over TX_DATETIME, per-terminal counts and fraud ratios
with a 7-day delay (rolling(delay + w) minus rolling(delay)), missing values
as 0. The reference that weir's pipelines/fraud.json is checked against.

    fraud_features_ref.py DAILY_DIR FIRST_DAY LAST_DAY OUT.csv
"""
import glob
import os
import sys

import numpy as np
import pandas as pd

FEATURES = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"] + [
    f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")
] + [f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")]


def rolling(df, key, column, days, how):
    """pandas' time-based rolling per key, row for row with df (sorted by key,
    then stream position): the window (t - days, t], the current transaction
    included, and of transactions at the same time those that came before it
    in the stream (the files hold a few equal times out of TRANSACTION_ID
    order; the stream, like weir, sees them in file order)."""
    r = df.set_index("TX_DATETIME").groupby(key, sort=True)[column].rolling(f"{days}d")
    return getattr(r, how)().to_numpy()


def customer_features(df, windows=(1, 7, 30)):
    df = df.sort_values(["CUSTOMER_ID", "STREAM_POS"], kind="stable").reset_index(drop=True)
    for w in windows:
        s = rolling(df, "CUSTOMER_ID", "TX_AMOUNT", w, "sum")
        n = rolling(df, "CUSTOMER_ID", "TX_AMOUNT", w, "count")
        df[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = n
        df[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = s / n
    return df


def terminal_features(df, delay=7, windows=(1, 7, 30)):
    """Counts and fraud ratios over (t - delay - w, t - delay]: rolling(delay +
    w) minus rolling(delay), as the handbook computes them; 0 when empty."""
    df = df.sort_values(["TERMINAL_ID", "STREAM_POS"], kind="stable").reset_index(drop=True)
    fraud_delay = rolling(df, "TERMINAL_ID", "TX_FRAUD", delay, "sum")
    n_delay = rolling(df, "TERMINAL_ID", "TX_FRAUD", delay, "count")
    for w in windows:
        n = rolling(df, "TERMINAL_ID", "TX_FRAUD", delay + w, "count") - n_delay
        fraud = rolling(df, "TERMINAL_ID", "TX_FRAUD", delay + w, "sum") - fraud_delay
        df[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = n
        with np.errstate(invalid="ignore", divide="ignore"):
            df[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = np.nan_to_num(fraud / n, nan=0.0)
    return df


def main():
    daily, first, last, out = sys.argv[1:5]
    files = sorted(f for f in glob.glob(os.path.join(daily, "*.csv.gz"))
                   if first <= os.path.basename(f)[:10] <= last)
    df = pd.concat([pd.read_csv(f) for f in files], ignore_index=True)
    df["STREAM_POS"] = range(len(df))
    df["TX_DATETIME"] = pd.to_datetime(df["TX_DATETIME"])
    df["TX_DURING_WEEKEND"] = (df.TX_DATETIME.dt.weekday >= 5).astype(int)
    df["TX_DURING_NIGHT"] = (df.TX_DATETIME.dt.hour <= 6).astype(int)
    df = terminal_features(customer_features(df))
    df = df.sort_values("TRANSACTION_ID").reset_index(drop=True)
    df[["TRANSACTION_ID"] + FEATURES].to_csv(out, index=False, float_format="%.9g")


if __name__ == "__main__":
    main()
