#!/usr/bin/python3
"""Writes pipelines/monitor-silence.csv, the demo of pipelines/monitor-silence.json.

Three hosts report cpu every 5 minutes for two days from 2026-11-02 00:00 (a
Monday), Gaussian noise (sd 2) around 30, 35 and 55, seed 7. Three events:
db-1 sends nothing from 09:00 to 09:35 on the second day, web-1 reads 92.5 at
14:00 that day, and web-2 stops for good at 21:00. Usage, from the project
root: /usr/bin/python3 scripts/make_monitor_silence_csv.py
"""
import datetime as dt
import random

random.seed(7)
START = dt.datetime(2026, 11, 2)
DAY2 = START + dt.timedelta(days=1)
LEVEL = {"web-1": 30, "web-2": 35, "db-1": 55}


def silent(host, t):
    if host == "db-1":
        return DAY2 + dt.timedelta(hours=9) <= t < DAY2 + dt.timedelta(hours=9, minutes=40)
    return host == "web-2" and t >= DAY2 + dt.timedelta(hours=21)


rows = []
for minute in range(0, 2 * 24 * 60, 5):
    t = START + dt.timedelta(minutes=minute)
    for host in LEVEL:
        if silent(host, t):
            continue
        cpu = LEVEL[host] + random.gauss(0, 2)
        if host == "web-1" and t == DAY2 + dt.timedelta(hours=14):
            cpu = 92.5
        rows.append(f"{t:%Y-%m-%d %H:%M:%S},{host},{cpu:.1f}\n")
with open("pipelines/monitor-silence.csv", "w") as f:
    f.write("timestamp,host,cpu\n" + "".join(rows))
