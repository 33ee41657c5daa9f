#!/usr/bin/env bash
# The model operator's GPU path on a machine without a GPU: weir_hostcuda is
# weir with the CUDA API run on the host (tests/cuda_host_shim.c: malloc'ed
# "device" memory, streams that finish at once, the host function writing
# the operator's eventfd), so the slots, the eventfd completions, held
# batches, flush and the per-version weight uploads all run for real. The
# model tests (against PyTorch and XGBoost, hot reload, and weir model with
# SIGHUP, its inference times as the "cuda" series) must pass with
# "device": "cuda" on it (one that skips, for want of numpy, torch or
# xgboost, is no pass: all skipped, this skips). test_cuda.c injects a CUDA
# error the same way.
set -u
. "$(dirname "$0")/lib.sh"
HC=${WEIR_HOSTCUDA:-build/weir_hostcuda}
case $HC in /*) ;; *) HC=$PWD/$HC ;; esac
[ -x "$HC" ] || { fail "weir_hostcuda not found at $HC (set WEIR_HOSTCUDA)"; finish; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
for t in test_model_torch test_model_xgb test_model_reload test_model_cli; do
    WEIR_MODEL_DEVICE=cuda WEIR_BIN=$HC bash "tests/$t.sh" >"$T/$t.log" 2>&1
    rc=$?
    if [ "$rc" = 0 ]; then ok
    elif [ "$rc" = 77 ]; then echo "$t: skipped ($(tail -1 "$T/$t.log"))" # not a pass
    else fail "$t with \"device\": \"cuda\" on weir_hostcuda: $(grep -E 'FAIL|failed' "$T/$t.log" | head -5)"; fi
done
finish
