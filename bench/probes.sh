#!/usr/bin/env bash
# Synthetic probes: runs a pipeline over series built to show generic failure
# modes of a monitoring detector, and counts its alerts on each.
#
#   bench/probes.sh [--json FILE] PIPELINE.json
#
# bench/probes.py generates the series (fixed seeds; a daily wave in 5-minute
# steps: plain, a 6-hour gap, low counts, drift, a stuck sensor, wider noise,
# an outage, a spike and the same time next day, a small anomaly a day after a
# large one, and five weeks with weekends), each goes through `weir run
# PIPELINE --set source.path=SERIES --set sinks[0].path=OUT --quiet` (the
# pipeline's first sink must write every record with "timestamp", "alert" and
# "explain"), and probes.py prints a per-series table (alerts, detections
# within 12 records after an anomaly, first delay, false alerts, the scorers
# that fired) and one JSON summary object on the last line.
# Defaults: JSON to bench/results/probes_<pipeline name>.json, series and
# outputs in a temporary directory removed at exit. WEIR_BIN overrides the
# binary (default build/weir).
set -euo pipefail

json=""
while [[ $# -gt 1 ]]; do
  case "$1" in
    --json) json="$2"; shift 2 ;;
    *) echo "probes.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -eq 1 ]] || { sed -n '5p' "$0" >&2; exit 2; }
pipeline="$1"
weir="${WEIR_BIN:-build/weir}"
name="$(basename "$pipeline" .json)"
json="${json:-bench/results/probes_${name}.json}"
here="$(dirname "$0")"

out="$(mktemp -d "${TMPDIR:-/tmp}/weir-probes.XXXXXX")"; trap 'rm -rf "$out"' EXIT
mkdir -p "$(dirname "$json")"

names="$(/usr/bin/python3 "$here/probes.py" gen "$out")"
start=$(date +%s.%N)
rows=0
while IFS= read -r series; do
  dest="$out/$series.jsonl"
  if ! "$weir" run "$pipeline" --set "source.path=$out/$series.csv" \
       --set "sinks[0].path=$dest" --quiet >/dev/null 2>"$out/stderr.txt"; then
    echo "probes.sh: weir failed on $series:" >&2; cat "$out/stderr.txt" >&2; exit 1
  fi
  rows=$((rows + $(wc -l <"$dest")))
done <<<"$names"
end=$(date +%s.%N)
echo "ran $name over $rows rows in $(awk "BEGIN{printf \"%.2f\", $end - $start}") s" >&2

/usr/bin/python3 "$here/probes.py" score "$out" "$name" "$json"
