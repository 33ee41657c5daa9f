#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/fuzz_*.c) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer into build-fuzz/, and runs each for SECONDS
# (default 10). Exits non-zero when any harness finds a crash, a leak, undefined
# behaviour or a broken invariant; the input that did it is saved as
# build-fuzz/artifacts/NAME-crash-* (rerun: build-fuzz/fuzz_NAME FILE).
#
# Usage: bash tests/fuzz/run.sh [SECONDS] [NAME...]
# Each harness starts from its seeds in tests/fuzz/corpus/NAME/ (committed, read
# only here) and the inputs earlier runs found in build-fuzz/corpus/NAME/.
# Exit 77 (skipped) when clang is not installed (scripts/install.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-10}
shift || true
if ! command -v clang >/dev/null; then
    echo "fuzz: clang not found; skipped (bash scripts/install.sh installs it)"
    exit 77
fi
names=("$@")
if [ "${#names[@]}" -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        n=${f##*/fuzz_}
        names+=("${n%.c}")
    done
fi

B=build-fuzz
# Without the CUDA back end: the harnesses parse input, and nvcc's host
# compiler would not be the clang that instruments everything else.
cmake -S . -B "$B" -DCMAKE_C_COMPILER=clang -DWEIR_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWEIR_BENCH=OFF -DWEIR_CUDA=OFF >/dev/null
cmake --build "$B" -j"${JOBS:-2}" --target fuzzers >/dev/null
mkdir -p "$B/artifacts"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=0
for n in "${names[@]}"; do
    mkdir -p "$B/corpus/$n"
    dict=()
    case $n in pipeline | override) dict=(-dict=tests/fuzz/pipeline.dict) ;; esac
    log=$B/fuzz_$n.log
    set +e
    "$B/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/artifacts/$n-" "${dict[@]}" "$B/corpus/$n" "tests/fuzz/corpus/$n" \
        >"$log" 2>&1
    rc=$?
    set -e
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true) # none: died loading
    if [ "$rc" -eq 0 ]; then
        printf 'fuzz %-9s ok: %s s, %s runs, cov %s, corpus %s inputs\n' "$n" "$secs" \
            "${execs:-?}" "${cov:-?}" "$(ls "$B/corpus/$n" | wc -l)"
    else
        failed=1
        printf 'fuzz %-9s FAILED (exit %d) after %s runs; log: %s\n' "$n" "$rc" "${execs:-?}" "$log"
        { grep -E 'ERROR|runtime error|invariant failed|Test unit written|SUMMARY' "$log" || true; } |
            head -8 | sed 's/^/    /'
    fi
done
exit "$failed"
