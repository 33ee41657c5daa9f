#!/usr/bin/env bash
# weir's threads say what they are (pthread_setname_np), so that `top -H`,
# `perf` and /proc/PID/task/TID/comm tell a worker from the rest (before,
# every thread was "weir"): a run with 2 workers writing one file sink has
# threads weir-w0 and weir-w1 (the workers' loops) and weir-fwriter (the
# sink's one writer), a run with --http has weir-http, and the embedded
# cluster's replay runs on weir-replay. bench/fraud_features.sh
# reads the worker's CPU time off the thread named weir-w0.
# Env: WEIR_BIN, WEIR_SRC.
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/weir-test-thread-names.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT

# The flagship demo on the embedded cluster (4 partitions: 2 workers), its
# replay paced so that the run lasts while the names are read; its alerts go
# to standard output, one sink both workers write.
"$WEIR_BIN" run pipelines/monitor-embedded.json --workers 2 --http 127.0.0.1:0 \
    --set replay.rate=400 >"$T/out" 2>"$T/err" </dev/null &
pid=$!

names=""
for _ in $(seq 500); do # up to 10 s for the threads to start
    names=$(cat /proc/"$pid"/task/*/comm 2>/dev/null | sort | tr '\n' ' ')
    case $names in *weir-fwriter*weir-http*weir-replay*weir-w0*weir-w1*) break ;; esac
    sleep 0.02
done
echo "test_thread_names: threads: $names"
for want in weir-w0 weir-w1 weir-fwriter weir-http weir-replay; do
    case " $names" in
    *" $want "*) ok ;;
    *) fail "no thread named $want among: $names" ;;
    esac
done

kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
[ $rc -eq 0 ] && ok || { fail "SIGTERM exit $rc"; cat "$T/err"; }
finish
