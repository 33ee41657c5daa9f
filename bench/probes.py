#!/usr/bin/python3
"""Synthetic probes for weir's detectors (driven by bench/probes.sh).

  probes.py gen DIR                    writes DIR/<series>.csv and DIR/meta.json,
                                       prints the series names, one a line
  probes.py score DIR PIPELINE JSON    reads DIR/<series>.jsonl (weir's first
                                       sink), prints a table and one JSON line

Each series probes one generic failure mode of a monitoring detector: false
alerts on clean data (plain, a gap, low counts, drift, a weekly shape), and
misses on anomalies a threshold on the value alone does not see (a stuck
sensor, wider noise, an outage to 0, a small anomaly after a large one). The
seeds are fixed so that two runs, and two pipelines, see the same values.
"""
import datetime as dt
import json
import re
import sys

import numpy as np

DAY = 288            # 5-minute steps
STEP = 300           # seconds
TOL = 12             # an alert up to an hour after an anomaly still detects it
FMT = "%Y-%m-%d %H:%M:%S"
START = "2014-04-01 00:00:00"


def wave(n, rng, sd=1.0):
    k = np.arange(n)
    return 50 + 10 * np.sin(2 * np.pi * k / DAY) + rng.normal(0, sd, n)


def make_series():
    """name -> (values, kept indices or None, anomaly ranges, start, extras).
    Extras are windows [a, b) whose alerts are counted on their own."""
    s = {}
    n = 10 * DAY
    s["plain"] = (wave(n, np.random.default_rng(1)), None, [], START, {})
    # a 6-hour hole: a detector that treats time as record count sees a jump
    keep = [k for k in range(n) if not (DAY * 5 + 50 <= k < DAY * 5 + 122)]
    s["gap"] = (wave(n, np.random.default_rng(2)), keep, [], START, {})
    # small integers: a MAD or bin width near 0 makes every change look huge
    lam = 2 + 1.5 * np.sin(2 * np.pi * np.arange(n) / DAY)
    s["lowcount"] = (np.random.default_rng(3).poisson(lam).astype(float), None, [], START, {})
    # a slow trend the detector should follow, not alert on
    s["drift"] = (wave(n, np.random.default_rng(4)) + 30 * np.arange(n) / n, None, [], START, {})
    # stuck sensor: one ordinary value repeated, well inside the usual range
    v = wave(n, np.random.default_rng(5))
    a = DAY * 6
    v[a:a + 144] = v[a - 1]
    s["stuck"] = (v, None, [(a, a + 144)], START, {})
    # the same mean, five times the noise: invisible to a mean-only model
    k = np.arange(n)
    noise = np.random.default_rng(6).normal(0, 1, n)
    noise[a:] *= 5
    v = 50 + 10 * np.sin(2 * np.pi * k / DAY) + noise
    s["variance"] = (v, None, [(a, a + DAY)], START, {})
    v = wave(n, np.random.default_rng(7))
    v[a + 100:a + 112] = 0
    s["outage"] = (v, None, [(a + 100, a + 112)], START, {})
    # a spike a seasonal model may learn and replay the same time next day
    v = wave(n, np.random.default_rng(8), sd=2)
    b = DAY * 5 + 100
    v[b:b + 4] += 150
    s["echo"] = (v, None, [(b, b + 4)], START, {"echo_alerts": (DAY * 6 + 90, DAY * 6 + 115)})
    # a large spike widens the learned scale; is a small one a day later seen?
    v = wave(8 * DAY, np.random.default_rng(9))
    v[DAY * 3 + 50:DAY * 3 + 53] += 80
    v[DAY * 4 + 200:DAY * 4 + 210] += 7
    s["mask"] = (v, None, [(DAY * 3 + 50, DAY * 3 + 53), (DAY * 4 + 200, DAY * 4 + 210)],
                 START, {})
    # weekends at 40% of weekdays: a daily-only profile alerts at each edge;
    # weeks 3-5 show whether it keeps doing so once it has seen two weeks
    n = 35 * DAY
    k = np.arange(n)
    sn = np.sin(2 * np.pi * k / DAY)
    v = np.where((k // DAY) % 7 >= 5, 40 + 5 * sn, 100 + 25 * sn)
    v = v + np.random.default_rng(10).normal(0, 3, n)
    s["weekly"] = (v, None, [], "2014-03-31 00:00:00", {"false_weeks_3_5": (14 * DAY, n)})
    return s


def gen(d):
    meta = {}
    for name, (v, keep, anoms, start, extra) in make_series().items():
        t0 = dt.datetime.strptime(start, FMT)
        with open(f"{d}/{name}.csv", "w") as f:
            f.write("timestamp,value\n")
            for k in (range(len(v)) if keep is None else keep):
                t = t0 + dt.timedelta(seconds=STEP * k)
                f.write(f"{t.strftime(FMT)},{v[k]:.4f}\n")
        meta[name] = {"start": start, "rows": len(v) if keep is None else len(keep),
                      "anomalies": anoms, "extra": extra}
        print(name)
    json.dump(meta, open(f"{d}/meta.json", "w"))


def fired(explain):
    """Scorer names from "... (fired: a=0.9, b=0.9); ...": ties list several."""
    m = re.search(r"\(fired: ([^)]*)\)", explain or "")
    return re.findall(r"([A-Za-z_][\w.]*)=", m.group(1)) if m else ["?"]


def score_one(path, m):
    t0 = dt.datetime.strptime(m["start"], FMT)
    alerts = []                 # (series index k, scorer names)
    scores = {}                 # series index k -> anomaly_score, for near misses
    out_rows = 0
    with open(path) as f:
        for line in f:
            out_rows += 1
            r = json.loads(line)
            # k from the time, not the line number: the gap removes rows
            k = int((dt.datetime.strptime(r["timestamp"], FMT) - t0).total_seconds()) // STEP
            if isinstance(r.get("anomaly_score"), (int, float)):
                scores[k] = r["anomaly_score"]
            # an incident's closing record ("close_event") is not an alert
            # of an anomaly, whichever field ("explain_out") its text is in
            closing = any(isinstance(v, str) and v.startswith("incident closed: ")
                          for v in r.values())
            if r.get("alert") is True and not closing:
                alerts.append((k, fired(r.get("explain"))))
    anoms = m["anomalies"]
    hits = [[k for k, _ in alerts if a <= k < b + TOL] for a, b in anoms]
    delays = [h[0] - a if h else None for h, (a, _) in zip(hits, anoms)]
    inside = sum(1 for k, _ in alerts if any(a <= k < b + TOL for a, b in anoms))
    scorers = {}
    for _, names in alerts:
        for s in names:
            scorers[s] = scorers.get(s, 0) + 1
    # the top score inside each anomaly: how near a miss was to the threshold
    tops = [round(max((scores.get(k, 0) for k in range(a, b + TOL)), default=0), 4)
            for a, b in anoms]
    res = {"rows": m["rows"], "output_rows": out_rows, "anomalies": anoms, "top_score": tops,
           "alerts": len(alerts), "alerts_in_anomaly": inside,
           "detected": [d is not None for d in delays], "delays": delays,
           "first_delay": next((d for d in delays if d is not None), None),
           "false_alerts": len(alerts) - inside, "fired": scorers,
           "alerts_at": [{"k": k, "fired": names} for k, names in alerts]}
    for key, (a, b) in m["extra"].items():
        res[key] = sum(1 for k, _ in alerts if a <= k < b)
    return res


def score(d, pipeline, json_path):
    meta = json.load(open(f"{d}/meta.json"))
    series = {name: score_one(f"{d}/{name}.jsonl", m) for name, m in meta.items()}
    n_anom = sum(len(r["anomalies"]) for r in series.values())
    n_det = sum(sum(r["detected"]) for r in series.values())
    fmt = "{:<9} {:>6} {:>7} {:>6} {:>8} {:>6} {:>6}  {}"
    print(f"probes: {pipeline}, detection tolerance {TOL} records after an anomaly")
    print(fmt.format("series", "rows", "anomaly", "alerts", "detected", "delay", "false",
                     "fired / notes"))
    for name, r in series.items():
        det = f"{sum(r['detected'])}/{len(r['anomalies'])}" if r["anomalies"] else "-"
        notes = [", ".join(f"{s} {c}" for s, c in sorted(r["fired"].items()))]
        notes += [f"{k}={r[k]}" for k in meta[name]["extra"]]
        if len(r["anomalies"]) > 1:
            notes.append("delays " + ",".join("-" if x is None else str(x) for x in r["delays"]))
        if r["anomalies"]:
            notes.append("top " + ",".join(f"{x:.3f}" for x in r["top_score"]))
        if r["output_rows"] != r["rows"]:
            notes.append(f"output rows {r['output_rows']}")
        delay = "-" if r["first_delay"] is None else str(r["first_delay"])
        print(fmt.format(name, r["rows"], len(r["anomalies"]), r["alerts"], det, delay,
                         r["false_alerts"], "; ".join(x for x in notes if x)).rstrip())
    summary = {"bench": "probes", "pipeline": pipeline, "tolerance": TOL, "series": series,
               "false_alerts_total": sum(r["false_alerts"] for r in series.values()),
               "detected": f"{n_det} of {n_anom} anomalies"}
    print(f"false alerts {summary['false_alerts_total']}, detected {summary['detected']}")
    line = json.dumps(summary, separators=(",", ":"))
    with open(json_path, "w") as f:
        f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "score":
        score(*sys.argv[2:])
    else:
        sys.exit(__doc__)
