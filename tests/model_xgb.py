"""tests/test_model_xgb.sh's Python half: trains XGBoost models on rows with
missing values, and later checks weir's predictions against XGBoost's own.
Usage: model_xgb.py train DIR | check DIR"""
import json
import sys

import numpy as np
import xgboost as xgb

N, F = 3000, 8
FEATURES = [f"f{i}" for i in range(F)]
MODELS = {  # name: params, rounds, named features
    "binary": ({"objective": "binary:logistic", "max_depth": 6, "eta": 0.3}, 60, True),
    "squared": ({"objective": "reg:squarederror", "max_depth": 5, "base_score": 2.5}, 40, False),
    "reglogistic": ({"objective": "reg:logistic", "max_depth": 4, "base_score": 0.3}, 30, True),
}


def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(N, F)).astype(np.float32)
    X[rng.random(size=X.shape) < 0.1] = np.nan  # missing: XGBoost's default directions
    X[5, :] = np.nan                            # a row with nothing at all
    return X


def train(d):
    X = data()
    x0 = np.nan_to_num(X[:, 0]); x1 = np.nan_to_num(X[:, 1])
    labels = {"binary": (x0 + x1 > 0.3).astype(np.float32),
              "squared": (3 * x0 - x1 * x1 + 2).astype(np.float32),
              "reglogistic": 1 / (1 + np.exp(-(x0 - x1)))}
    for name, (params, rounds, named) in MODELS.items():
        dm = xgb.DMatrix(X, label=labels[name], missing=np.nan,
                         feature_names=FEATURES if named else None)
        bst = xgb.train({**params, "nthread": 1, "seed": 1}, dm, rounds)
        bst.save_model(f"{d}/{name}.json")
    # XGBoost >= 2.1 writes base_score as a vector string "[5E-1]": the same model so.
    m = json.load(open(f"{d}/binary.json"))
    p = m["learner"]["learner_model_param"]
    p["base_score"] = "[" + p["base_score"] + "]"
    json.dump(m, open(f"{d}/binary_v2.json", "w"))
    with open(f"{d}/input.jsonl", "w") as f:
        for i, row in enumerate(X):
            rec = {"row": i}
            for k, v in zip(FEATURES, row):
                rec[k] = None if np.isnan(v) else float(v)
            f.write(json.dumps(rec) + "\n")
    np.save(f"{d}/X.npy", X)


def check(d):
    X = data()
    bad = 0
    worst = {}
    for name in list(MODELS) + ["binary_v2"]:
        bst = xgb.Booster(model_file=f"{d}/{name.replace('_v2', '')}.json")
        bst.set_param({"nthread": 1})
        named = MODELS[name.replace("_v2", "")][2]
        want = bst.predict(xgb.DMatrix(X, missing=np.nan, feature_names=FEATURES if named else None))
        got = {}
        for line in open(f"{d}/{name}.out.jsonl"):
            rec = json.loads(line)
            got[rec["row"]] = rec["y"]
        if sorted(got) != list(range(N)):
            print(f"{name}: {len(got)} rows came out, expected {N}")
            bad += 1
            continue
        diff = np.abs(np.array([got[i] for i in range(N)]) - want)
        worst[name] = float(diff.max())
        if diff.max() > 1e-5:
            i = int(diff.argmax())
            print(f"{name}: row {i}: weir {got[i]}, xgboost {want[i]}")
            bad += 1
    print("worst absolute error per model:", json.dumps(worst))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"train": train, "check": check}[sys.argv[1]](sys.argv[2])
