#!/usr/bin/env python3
"""Generates tests/golden/input.jsonl, once; the result is committed.

200 lines of host metrics, one a minute, from a fixed seed: cpu and mem with
noise, a few spikes (the anomalies the golden pipeline must flag), and a few
records that must go to the dead-letter file. Re-running this script must
reproduce the committed file byte for byte (python3 tests/golden/gen_input.py
> /tmp/x && cmp /tmp/x tests/golden/input.jsonl).
"""
import random

rng = random.Random(20240601)
hosts = ["web-1", "web-2", "db-1"]
spikes = {120: ("cpu", 97.5), 150: ("mem", 99.1), 171: ("cpu", 2.0), 185: ("cpu", 99.9)}
dead = {
    40: '{"ts": "2024-06-01T00:40:00Z", "host": "web-2", "cpu": "n/a", "mem": 50.1}',
    77: '{"ts": "2024-06-01T01:17:00Z", "host": "db-1", "mem": 48.3}',
    99: '{"ts": "2024-06-01T01:39:00Z", "host": "web-1", "cpu": 31.2, "mem": 52.0',
    133: '',
    160: '{"ts": "2024-06-01T02:40:00Z", "host": "web-2", "cpu": 30.4, "mem": 49.9, "note": "disk full',
}
for i in range(200):
    if i in dead:
        print(dead[i])
        continue
    cpu = 30.0 + 5.0 * rng.gauss(0, 1)
    mem = 50.0 + 2.0 * rng.gauss(0, 1)
    if i in spikes:
        field, value = spikes[i]
        if field == "cpu":
            cpu = value
        else:
            mem = value
    h, m = divmod(i, 60)
    host = hosts[i % 3]
    print('{"ts": "2024-06-01T%02d:%02d:00Z", "host": "%s", "cpu": %.2f, "mem": %.2f}'
          % (h, m, host, cpu, mem))
