#!/usr/bin/env bash
# Installs, builds and runs every test: the normal build, then the same suite
# under AddressSanitizer + UndefinedBehaviorSanitizer, the multi-threaded tests
# under ThreadSanitizer, then each libFuzzer harness for a short while (clang;
# tests/fuzz/run.sh).
# Usage: bash scripts/test.sh [--no-sanitizers]
# Env: WEIR_FUZZ_SECONDS per harness (default 10; 0: no fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --no-build

jobs=$(nproc)
run_suite() { # build-dir, extra cmake args... [-- ctest args...]
    local dir=$1 cm=() ct=(); shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do cm+=("$1"); shift; done
    [ $# -gt 0 ] && shift && ct=("$@")
    cmake -S . -B "$dir" -DWEIR_WERROR=ON "${cm[@]}" >/dev/null
    cmake --build "$dir" -j"$jobs" >/dev/null
    ctest --test-dir "$dir" --output-on-failure --timeout 900 "${ct[@]}"
}

echo "== tests: build/ =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${1:-}" != "--no-sanitizers" ]; then
    echo "== tests: build-asan/ (address,undefined) =="
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        WEIR_SHUTDOWN_LIMIT=20 run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DWEIR_SANITIZE=address,undefined -DWEIR_BENCH=OFF
    # Every test with more than one thread: the workers, the run's main thread,
    # the replay, librdkafka's threads (tests/tsan.supp: only inside librdkafka).
    # Without the CUDA back end: TSan cannot see into the CUDA runtime's
    # threads, and the GPU path's threads are the runtime's, not ours.
    echo "== tests: build-tsan/ (thread) =="
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
        WEIR_SHUTDOWN_LIMIT=20 \
        run_suite build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWEIR_SANITIZE=thread -DWEIR_BENCH=OFF \
        -DWEIR_CUDA=OFF \
        -- -R '^(test_loop|test_worker|test_worker_ops|test_golden|test_embedded|test_shutdown|test_partitions|test_changelog|test_shared_sink|test_whole_lines|test_model_xgb|test_model_explain|test_model_reload|test_model_cli|test_http|test_logs|test_reload|test_reload_shape|test_reload_source|test_reload_many|test_reload_kafka|test_backpressure|test_thread_names|test_http_kafka|test_kafka_rebalance|test_kafka_eos_fence|test_kafka_eos_stall|test_kafka_revoke_drain|test_kafka_offset_reset|test_kafka_probe|test_gunzip_ahead|test_file_inputs|test_reload_gzip_list)$'
fi

fuzz_secs=${WEIR_FUZZ_SECONDS:-10}
if [ "$fuzz_secs" -gt 0 ] && [ "${1:-}" != "--no-sanitizers" ]; then
    if command -v clang >/dev/null; then
        echo "== fuzz: build-fuzz/ (clang, address,undefined; $fuzz_secs s per harness) =="
        JOBS=$jobs bash tests/fuzz/run.sh "$fuzz_secs"
    else
        echo "== fuzz: skipped (clang is not installed) =="
    fi
fi
