#!/usr/bin/env bash
# Installs what weir needs from Debian's archive and builds it into build/.
# Usage: bash scripts/install.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# clang builds the libFuzzer harnesses (tests/fuzz/run.sh; libclang-rt-14-dev holds the
# fuzzer runtime, only recommended by clang); weir itself builds with gcc.
# openssl and procps: tests/test_mask.sh's reference HMAC, pkill in the Kafka tests.
# python3-pandas: the reference of tests/test_window_pipeline.sh.
# python3-jsonschema and chromium: tests/test_schema.sh and tests/test_status_page.sh.
packages=(build-essential cmake pkg-config librdkafka-dev liburing-dev libjansson-dev
          libopenblas-dev zlib1g-dev libssl-dev python3 python3-pandas clang python3-jsonschema
          chromium libclang-rt-14-dev openssl procps)
# The model tests train with PyTorch and XGBoost (tests/test_model_*.sh; skipped without).
packages+=(python3-numpy python3-torch python3-xgboost)
# weir fit --type xgboost trains through XGBoost's C API (optional at build time).
packages+=(libxgboost-dev)
# gzip input inflates ~2.8x faster through libdeflate (optional: zlib alone without).
packages+=(libdeflate-dev)
# tests/test_valgrind.sh runs weir under valgrind (the loop yields to its other threads there).
packages+=(valgrind)
# Java and Maven only run Apache Kafka for the integration tests and benchmarks.
command -v java >/dev/null || packages+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || packages+=(maven)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    # through env: sudo's reset of the environment would drop it
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
echo "install.sh: built build/weir ($(build/weir --version))"
