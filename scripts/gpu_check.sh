#!/usr/bin/env bash
# One short run on a machine with an NVIDIA GPU (written for an H100/H200
# with 16 cores; about 3-5 minutes): builds the CUDA back end (Release,
# -DWEIR_CUDA=ON), runs the GPU tests, the model tests with the model served
# on the GPU (hot reload included) and the benchmarks, and writes every log
# and JSON under OUTDIR, with summary.txt saying what passed.
#
# Usage (from the repository root): bash scripts/gpu_check.sh OUTDIR
# Needs the CUDA toolkit (nvcc; libcublas for the baseline, optional) and a
# driver; installs the Debian packages first when they are missing
# (scripts/install.sh --no-build). Never stops early: each step's exit status
# is recorded and the next one runs.
set -u
OUT=${1:?usage: bash scripts/gpu_check.sh OUTDIR}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
cd "$(dirname "$0")/.." || exit 1
exec > >(tee "$OUT/gpu_check.log") 2>&1
START=$(date +%s)
JOBS=$(nproc)
B=build-gpu
export PATH="$PATH:/usr/local/cuda/bin"
: >"$OUT/summary.txt"

step() { # name timeout-seconds command... : runs it, logs to OUT/name.txt, records the status
    local name=$1 limit=$2
    shift 2
    echo "== $name ($(($(date +%s) - START)) s in) =="
    timeout "$limit" "$@" >"$OUT/$name.txt" 2>&1
    local rc=$?
    tail -25 "$OUT/$name.txt"
    local note=""
    [ "$rc" = 77 ] && note=" (skipped: no usable GPU seen; the reason is in $name.txt)"
    [ "$rc" = 124 ] && note=" (timed out after $limit s)"
    echo "$name: exit $rc$note" | tee -a "$OUT/summary.txt"
    return 0
}

{
    date -u
    git rev-parse HEAD 2>/dev/null
    nvidia-smi 2>&1
    nvcc --version 2>&1
    nproc
} >"$OUT/machine.txt" 2>&1
if ! pkg-config --exists liburing jansson rdkafka openblas 2>/dev/null; then
    step install 400 bash scripts/install.sh --no-build
fi

step configure 120 cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DWEIR_CUDA=ON -DWEIR_WERROR=OFF \
    -DCMAKE_CUDA_ARCHITECTURES="80-real;90-real"
step build 400 cmake --build "$B" -j"$JOBS"
export WEIR_BIN=$PWD/$B/weir WEIR_SRC=$PWD

# The GPU against the CPU: kernels, whole models, `weir run` (exit 0: ran;
# 77 would mean no GPU was seen).
step test_cuda 120 "$B/test_cuda"
# The model tests, the model served on the GPU: against PyTorch, XGBoost,
# and versions swapped in while records flow (hot reload).
for t in test_model_torch test_model_xgb test_model_reload; do
    step "$t.cuda" 180 env WEIR_MODEL_DEVICE=cuda WEIR_BUILD="$PWD/$B" bash "tests/$t.sh"
done
# The CPU path, unchanged (device cpu is the default).
step ctest_cpu 300 ctest --test-dir "$B" --output-on-failure -j4 \
    -R '^(test_kernels|test_op_model|test_cli|test_golden|test_bad_pipelines|test_worker_ops|test_model_torch|test_model_xgb|test_model_reload)$'

# Benchmarks: kernels, then file → file with the model on the CPU and the GPU.
step bench_cuda 240 "$B/bench_cuda" "$OUT/bench_cuda.json"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    step model_pipeline.cpu 240 env WEIR_MODEL_DEVICE=cpu /usr/bin/python3 bench/model_pipeline.py \
        "$WEIR_BIN" 200000 "$OUT/model_pipeline_cpu.json"
    step model_pipeline.cuda 240 env WEIR_MODEL_DEVICE=cuda WEIR_MODEL_MAX_RECORDS=8192 \
        /usr/bin/python3 bench/model_pipeline.py "$WEIR_BIN" 200000 "$OUT/model_pipeline_cuda.json"
fi
echo "done in $(($(date +%s) - START)) s; summary:"
cat "$OUT/summary.txt"
