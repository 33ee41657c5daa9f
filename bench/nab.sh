#!/usr/bin/env bash
# NAB harness: runs a pipeline over every labelled series of a NAB-layout
# directory and scores it with weir's own NAB scoring (bench/nab/).
#
#   bench/nab.sh [--plots DIR] [--json FILE] [--keep DIR] [--fit 'ARGS'] DATA_DIR PIPELINE.json
#
# Each series goes through `weir run PIPELINE --set source.path=SERIES --set
# sinks[0].path=OUT --quiet` (the pipeline's first sink must write every
# record with "anomaly_score", and "alert"); bench_nab then prints a
# per-series table, the three profiles' scores (NAB's corpus threshold sweep,
# a held-out half scored at the other half's threshold, and the pipeline's
# own alerts) and one JSON summary object on the last line.
# --fit 'ARGS': a model per series, trained on its probation period only (the
# first min(15%, 750) rows, which NAB never scores): the pipeline's first
# operator with a "model" option gets one; the operators before it run
# through `weir features` over the series' first rows (by position), `weir fit
# FEATURES --features <that operator's fields> --valid 0 ARGS` trains (e.g.
# --fit '--type iforest'), and the series runs with --set operators[K].model.
# Defaults: JSON to bench/results/nab_<pipeline name>.json, no plots, outputs
# in a temporary directory removed at exit. WEIR_BIN and BENCH_NAB override
# the binaries (default build/weir and build/bench_nab).
set -euo pipefail

plots="" json="" keep="" fit=""
while [[ $# -gt 2 ]]; do
  case "$1" in
    --plots) plots="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    --keep) keep="$2"; shift 2 ;;
    --fit) fit="$2"; shift 2 ;;
    *) echo "nab.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $# -eq 2 ]] || { sed -n '4,5p' "$0" >&2; exit 2; }
data="$1" pipeline="$2"
weir="${WEIR_BIN:-build/weir}" scorer="${BENCH_NAB:-build/bench_nab}"
for b in "$weir" "$scorer"; do # the series list comes from the scorer: none without it
  [[ -x "$b" ]] || { echo "nab.sh: $b is not built (set WEIR_BIN / BENCH_NAB)" >&2; exit 2; }
done
name="$(basename "$pipeline" .json)"
json="${json:-bench/results/nab_${name}.json}"

if [[ -n "$keep" ]]; then out="$keep"; mkdir -p "$out"
else out="$(mktemp -d "${TMPDIR:-/tmp}/weir-nab.XXXXXX")"; trap 'rm -rf "$out"' EXIT; fi
[[ -n "$plots" ]] && mkdir -p "$plots"
mkdir -p "$(dirname "$json")"

# --fit: the model operator's index and fields; the pipeline up to it
if [[ -n "$fit" ]]; then
  read -r fit_op fit_fields < <(/usr/bin/python3 - "$pipeline" "$out/features.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
k = next(i for i, o in enumerate(p["operators"]) if "model" in o)
f = p["operators"][k]["fields"]
p["operators"] = p["operators"][:k]
json.dump(p, open(sys.argv[2], "w"))
print(k, ",".join([f] if isinstance(f, str) else f))
PY
  ) || { echo "nab.sh: --fit: no operator with a \"model\" in $pipeline" >&2; exit 2; }
  # beside the pipeline file, relative paths in it resolve as in the original
  cp "$out/features.json" "$(dirname "$pipeline")/.nab-features-$$.json"
  fit_pipe="$(dirname "$pipeline")/.nab-features-$$.json"
  trap 'rm -f "$fit_pipe"; [[ -n "$keep" ]] || rm -rf "$out"' EXIT
fi

# Trains series $1's model on its probation period into $2: its first p rows
# by position, not by time (a series whose time steps back after them would
# hand scored rows to the training).
fit_series() {
  local csv="$data/data/$1" n p
  n=$(($(grep -c '' "$csv") - 1)) # rows, the last one without its newline too
  p=$(awk -v n="$n" 'BEGIN { p = int(0.15 * n); print (p < 750 ? p : 750) }')
  head -n "$((p + 1))" "$csv" >"$out/probation.csv"
  "$weir" features "$fit_pipe" --set "source.path=$out/probation.csv" --features "$fit_fields" \
    --out "$out/fit.csv" --quiet 2>"$out/stderr.txt" &&
  "$weir" fit "$out/fit.csv" --features "$fit_fields" --valid 0 --out "$2" --quiet $fit \
    >"$out/fit.txt" 2>>"$out/stderr.txt"
}

start=$(date +%s.%N)
rows=0
while IFS= read -r series; do
  mkdir -p "$out/$(dirname "$series")"
  dest="$out/${series%.csv}.jsonl"
  model=()
  if [[ -n "$fit" ]]; then
    fit_series "$series" "$out/${series%.csv}.model.json" ||
      { echo "nab.sh: --fit failed on $series:" >&2; cat "$out/stderr.txt" >&2; exit 1; }
    model=(--set "operators[$fit_op].model=$out/${series%.csv}.model.json")
  fi
  if ! "$weir" run "$pipeline" --set "source.path=$data/data/$series" \
       --set "sinks[0].path=$dest" "${model[@]}" --quiet >/dev/null 2>"$out/stderr.txt"; then
    echo "nab.sh: weir failed on $series:" >&2; cat "$out/stderr.txt" >&2; exit 1
  fi
  rows=$((rows + $(wc -l <"$dest")))
done < <("$scorer" --list "$data")
end=$(date +%s.%N)
echo "ran $name over $rows rows in $(awk "BEGIN{printf \"%.2f\", $end - $start}") s" >&2

"$scorer" "$data" "$out" --name "$name" --json "$json" ${plots:+--plots "$plots"}
