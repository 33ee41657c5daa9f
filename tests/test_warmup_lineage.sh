#!/usr/bin/env bash
# Warm-ups mute only the scores they feed (engine/schema.h, feat_deps): a
# threshold on forecast's score of cpu alerts on cpu's spikes while an
# iforest on mem, which that score does not come from, still warms up (it
# stayed silent until the forest's 256th record: every record was flagged
# for every threshold); a threshold on an ensemble of the two is still
# muted while either warms up (warm-ups chain); one on calibrate's fc_cal,
# calibrating fc and ifo together, comes from fc alone; one on a model's
# score comes from the model's inputs alone.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T=$(mktemp -d /tmp/weir-test-warmup-lineage.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
/usr/bin/python3 - <<'EOF'
import json, random
random.seed(5)
with open("in.jsonl", "w") as f:
    for i in range(600):
        cpu = 50 + random.gauss(0, 1) + (400 if i in (150, 200, 400) else 0)
        f.write(json.dumps({"i": i, "cpu": round(cpu, 3), "mem": round(30 + random.gauss(0, 1), 3)}) + "\n")
def pipeline(score, ensemble, calibrate=False):
    ops = [{"type": "extract", "fields": {"i": "/i", "cpu": "/cpu", "mem": "/mem"}},
           {"type": "forecast", "fields": ["cpu"], "warmup": 20, "out": "fc"},
           {"type": "iforest", "fields": ["mem"], "out": "ifo"}]
    if calibrate:
        ops.append({"type": "calibrate", "fields": ["fc", "ifo"], "warmup": 50})
    if ensemble:
        ops.append({"type": "score", "method": "scores", "fields": ["fc", "ifo"]})
    ops.append({"type": "threshold", "score": score, "above": 0.9, "warmup": 0})
    return {"name": "lineage", "source": {"type": "file", "path": "in.jsonl"}, "operators": ops,
            "sinks": [{"type": "file", "path": "out.jsonl"}]}
json.dump(pipeline("fc", False), open("own.json", "w"))
json.dump(pipeline("anomaly_score", True), open("ensemble.json", "w"))
json.dump(pipeline("fc_cal", False, True), open("calibrated.json", "w"))
EOF
alerts() { # pipeline -> the alerting records' i, one line; "weir failed" when it did
    # (inside $(...) set -e is off: a refused pipeline must not leave the last
    # run's out.jsonl to be read as its own)
    rm -f out.jsonl
    "$WEIR_BIN" run "$1" --quiet || { echo "weir failed ($?)"; return; }
    /usr/bin/python3 -c 'import json, sys
print(" ".join(str(r["i"]) for r in map(json.loads, open("out.jsonl")) if r.get("alert")))'
}
own=$(alerts own.json)
missing=
for n in 150 200 400; do [[ " $own " == *" $n "* ]] || missing="$missing $n"; done
[ -z "$missing" ] && ok ||
    fail "forecast's threshold, iforest warming up: alerts at [$own], missing$missing"
ens=$(alerts ensemble.json)
[ "$ens" = 400 ] && ok || fail "the ensemble's threshold: alerts at [$ens], expected 400 alone (muted before the forest's 256th record)"
# calibrate of both: fc_cal comes from fc alone (each output from its own input)
cal=$(alerts calibrated.json)
missing=
for n in 150 200 400; do [[ " $cal " == *" $n "* ]] || missing="$missing $n"; done
[ -z "$missing" ] && ok ||
    fail "a threshold on fc_cal (calibrate of fc and ifo), iforest warming up: alerts at [$cal], missing$missing"
# A model declares what it reads: a threshold on an XGBoost model's score of
# cpu alerts while the iforest on mem warms up (before 2026-12-04 the model
# counted as reading every feature before it: 400 alone).
if /usr/bin/python3 -c 'import xgboost, numpy' 2>/dev/null; then
    /usr/bin/python3 - <<'EOF'
import json
import numpy as np, xgboost as xgb
rows = [json.loads(l) for l in open("in.jsonl")]
X = np.array([[r["cpu"]] for r in rows], dtype=np.float32)
y = (X[:, 0] > 200).astype(np.float32)
xgb.train({"objective": "binary:logistic", "max_depth": 2, "min_child_weight": 0, "nthread": 1, "seed": 1},
          xgb.DMatrix(X, label=y, feature_names=["cpu"]), 30).save_model("m.json")
p = json.load(open("own.json"))
p["operators"][1] = {"type": "model", "path": "m.json", "out": "p"}
p["operators"][-1]["score"] = "p"
json.dump(p, open("model.json", "w"))
EOF
    mod=$(alerts model.json)
    [ "$mod" = "150 200 400" ] && ok ||
        fail "a threshold on a model's score of cpu, iforest warming up: alerts at [$mod], expected 150 200 400"
else
    echo "the model case: skipped (/usr/bin/python3 without xgboost)"
fi
finish test_warmup_lineage
