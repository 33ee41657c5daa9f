#!/usr/bin/env bash
# bench/run.sh: builds weir in Release into build-bench/ and runs the
# self-contained benchmarks, each writing its JSON under bench/results/.
#
#   bench/run.sh [--quick] [NAME...]
#
# NAME picks benchmarks by binary name (bench_pipeline, bench_jscan); none
# runs them all. --quick runs bench_pipeline on 100,000 records instead of
# 1,000,000. The Kafka benchmarks (bench_kafka_*) are tools driven by a
# broker and are listed as skipped here; see bench/README.md.
#
# Environment: WEIR_BENCH_BUILD (build folder, default build-bench),
# TMPDIR (where bench_pipeline writes its ~600 MB of temporary files).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${WEIR_BENCH_BUILD:-build-bench}
quick=0
wanted=()
for arg in "$@"; do
    case "$arg" in
    --quick) quick=1 ;;
    -h | --help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "bench/run.sh: unknown option $arg (try --help)" >&2
        exit 2
        ;;
    *) wanted+=("$arg") ;;
    esac
done

echo "== building (Release) in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DWEIR_BENCH=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
mkdir -p bench/results

# Recorded in the results: which code was measured.
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if ! git diff --quiet HEAD -- 2>/dev/null; then
    commit="$commit+dirty"
fi
export WEIR_BENCH_COMMIT=$commit

failed=0
ran=0
for src in bench/bench_*.c; do
    name=$(basename "$src" .c)
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ " $name " ]]; then
        continue
    fi
    bin="$build/$name"
    result="bench/results/${name#bench_}.json"
    case "$name" in
    bench_kafka_*)
        echo "== $name: skipped (needs a Kafka broker and its driver; see bench/README.md)"
        continue
        ;;
    bench_http)
        echo "== $name: skipped here (a load generator; bench/http.sh drives it)"
        continue
        ;;
    bench_model_latency)
        echo "== $name: skipped here (a paced driver; bench/model_latency.py drives it)"
        continue
        ;;
    bench_nab | bench_fraud_eval)
        echo "== $name: skipped here (an evaluation over ../shared/data; bench/${name#bench_}.sh drives it)"
        continue
        ;;
    bench_pipeline)
        result=bench/results/pipeline_file.json
        args=()
        [ "$quick" = 1 ] && args=(--records 100000)
        ;;
    bench_model)
        # the tree table needs XGBoost's baseline: its models are trained
        # once and kept in TMPDIR, its predictor timed again in every run
        # (the same machine, minutes apart: not a rate saved another day)
        args=()
        tdir=${TMPDIR:-/tmp}/weir-bench-model
        if /usr/bin/python3 -c 'import xgboost' 2>/dev/null; then
            mkdir -p "$tdir"
            /usr/bin/python3 bench/bench_model_xgb.py "$tdir"
            args=(--trees "$tdir")
        fi
        ;;
    *) args=() ;;
    esac
    echo "== $name -> $result"
    ran=$((ran + 1))
    set +e
    "$bin" "${args[@]}" "$result"
    rc=$?
    set -e
    if [ "$rc" = 77 ]; then
        echo "== $name: skipped"
    elif [ "$rc" != 0 ]; then
        echo "== $name: FAILED (exit $rc)" >&2
        failed=$((failed + 1))
    fi
done

echo "== $ran benchmark(s) run, $failed failed; results in bench/results/ (commit $commit)"
[ "$failed" = 0 ]
