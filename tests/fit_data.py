#!/usr/bin/env python3
"""Data and checks for tests/test_fit.sh (plain python3: no numpy).

    fit_data.py make OUT.jsonl          4,000 records: ts, a, b, c (2% absent, one
                                        not a number), y_lin, y_circ, anom
    fit_data.py auc RUN.jsonl FIELD LABEL      AUC of FIELD for LABEL
    fit_data.py ratio RUN.jsonl FIELD LABEL    mean FIELD of LABEL 1 / of LABEL 0
    fit_data.py same SCORES.csv RUN.jsonl FIELD     max |weir fit's score - weir run's|
    fit_data.py xgb MODEL.json FEATURES.csv RUN.jsonl FIELD   max |XGBoost - weir run|
"""
import csv
import json
import math
import random
import sys


def make(path):
    rnd = random.Random(11)
    with open(path, "w") as f:
        for i in range(4000):
            a, b, c = rnd.gauss(0, 1), rnd.gauss(0, 1), rnd.gauss(0, 1)
            anom = int(rnd.random() < 0.03)
            if anom:  # far from the normal cloud, in a direction it never takes
                a, b, c = a + 4, -b - 4, c + 4
            rec = {"ts": 1700000000 + i * 60 + rnd.randint(0, 90), "a": a, "b": b}
            # separable by a plane, and by a circle (not by a plane)
            rec["y_lin"] = int(a + 0.5 * b - c > 0.2)
            rec["y_circ"] = int(a * a + b * b < 1.2)
            if rnd.random() < 0.02:
                pass  # c absent: missing
            elif i == 100:
                rec["c"] = "oops"  # not a number: a dead letter
            else:
                rec["c"] = c
            rec["anom"] = anom
            f.write(json.dumps(rec) + "\n")


def auc(scores, labels):
    pos = [s for s, l in zip(scores, labels) if l]
    neg = [s for s, l in zip(scores, labels) if not l]
    order = sorted(neg)
    import bisect
    total = 0.0
    for s in pos:
        lo = bisect.bisect_left(order, s)
        hi = bisect.bisect_right(order, s)
        total += lo + 0.5 * (hi - lo)
    return total / (len(pos) * len(neg))


def main():
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "auc":
        out = [json.loads(l) for l in open(sys.argv[2])]
        print("%.6f" % auc([o[sys.argv[3]] for o in out], [o[sys.argv[4]] for o in out]))
    elif cmd == "ratio":  # mean score of label 1 / mean score of label 0
        out = [json.loads(l) for l in open(sys.argv[2])]
        s1 = [o[sys.argv[3]] for o in out if o[sys.argv[4]]]
        s0 = [o[sys.argv[3]] for o in out if not o[sys.argv[4]]]
        print("%.3f" % ((sum(s1) / len(s1)) / (sum(s0) / len(s0))))
    elif cmd == "same":
        fit = [float(r["score"]) for r in csv.DictReader(open(sys.argv[2]))]
        run = [json.loads(l)[sys.argv[4]] for l in open(sys.argv[3])]
        if len(fit) != len(run):
            print("rows %d vs %d" % (len(fit), len(run)))
            sys.exit(1)
        print("%.3g" % max(abs(a - b) for a, b in zip(fit, run)))
    elif cmd == "xgb":  # XGBoost's own predictions of MODEL on the features CSV
        import numpy as np
        import xgboost as xgb
        model, feats, run, field = sys.argv[2:6]
        rows = list(csv.DictReader(open(feats)))
        bst = xgb.Booster()
        bst.load_model(model)
        names = bst.feature_names
        X = np.array([[float(r[n]) if r[n] != "" else np.nan for n in names] for r in rows],
                     dtype=np.float32)
        p = bst.predict(xgb.DMatrix(X, missing=np.nan, feature_names=names))
        w = [json.loads(l)[field] for l in open(run)]
        print("%.3g" % max(abs(float(a) - b) for a, b in zip(p, w)))


if __name__ == "__main__":
    main()
