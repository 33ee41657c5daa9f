#!/usr/bin/env bash
# NAB harness: runs a pipeline over every labelled series of a NAB-layout
# directory and scores it with weir's own NAB scoring (bench/nab/).
#
#   bench/nab.sh [--plots DIR] [--json FILE] [--keep DIR] DATA_DIR PIPELINE.json
#
# Each series goes through `weir run PIPELINE --set source.path=SERIES --set
# sinks[0].path=OUT --quiet` (the pipeline's first sink must write every
# record with "anomaly_score", and "alert"); bench_nab then prints a
# per-series table, the three profiles' scores (NAB's corpus threshold sweep,
# a held-out half scored at the other half's threshold, and the pipeline's
# own alerts) and one JSON summary object on the last line.
# Defaults: JSON to bench/results/nab_<pipeline name>.json, no plots, outputs
# in a temporary directory removed at exit. WEIR_BIN and BENCH_NAB override
# the binaries (default build/weir and build/bench_nab).
set -euo pipefail

plots="" json="" keep=""
while [[ $# -gt 2 ]]; do
  case "$1" in
    --plots) plots="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    *) echo "nab.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -eq 2 ]] || { sed -n '4,5p' "$0" >&2; exit 2; }
data="$1" pipeline="$2"
weir="${WEIR_BIN:-build/weir}" scorer="${BENCH_NAB:-build/bench_nab}"
name="$(basename "$pipeline" .json)"
json="${json:-bench/results/nab_${name}.json}"

if [[ -n "$keep" ]]; then out="$keep"; mkdir -p "$out"
else out="$(mktemp -d "${TMPDIR:-/tmp}/weir-nab.XXXXXX")"; trap 'rm -rf "$out"' EXIT; fi
[[ -n "$plots" ]] && mkdir -p "$plots"
mkdir -p "$(dirname "$json")"

start=$(date +%s.%N)
rows=0
while IFS= read -r series; do
  mkdir -p "$out/$(dirname "$series")"
  dest="$out/${series%.csv}.jsonl"
  if ! "$weir" run "$pipeline" --set "source.path=$data/data/$series" \
       --set "sinks[0].path=$dest" --quiet >/dev/null 2>"$out/stderr.txt"; then
    echo "nab.sh: weir failed on $series:" >&2; cat "$out/stderr.txt" >&2; exit 1
  fi
  rows=$((rows + $(wc -l <"$dest")))
done < <("$scorer" --list "$data")
end=$(date +%s.%N)
echo "ran $name over $rows rows in $(awk "BEGIN{printf \"%.2f\", $end - $start}") s" >&2

"$scorer" "$data" "$out" --name "$name" --json "$json" ${plots:+--plots "$plots"}
