#!/usr/bin/env bash
# How long a reload that replaces a Kafka source holds the worker's loop
# (issue 12): the time spent on the loop in the old source's detach, quiet
# and close and the new one's open, per source change, with one worker
# reading a topic fed at 5,000 records/s on a real broker (Java and Kafka's
# libraries needed, as for the real-broker tests).
#   kk-up:       a Kafka option changes, the broker up;
#   kf-up:       the source moves to the embedded cluster (whose open needs
#                no broker), the broker up;
#   kf-stopped:  the same with the broker stopped (SIGSTOP) from before the
#                SIGHUP until the replaced consumer is closed or 60 s pass;
#   kk-stopped3: a Kafka option changes, the broker stopped for 3 s;
#   sk-up, sk-stopped3: the source unchanged, a Kafka sink added (topic
#                so-NAME), the broker up / stopped for 3 s;
#   ek-up, ek-stopped3: as kk-*, exactly-once (a Kafka sink and dead
#                letter on so-NAME).
#   sr-up, sr-stopped3: a Kafka sink on so-NAME removed (the file sink and
#                the source unchanged), the broker up / stopped for 3 s;
#   ak-up, ak-stopped3: the source switched from at-least-once to
#                exactly-once, its Kafka sink and dead letter on so-NAME made
#                again (their connect_timeout changed too, so that main, which
#                kept unchanged ones and stopped the run, makes them again);
#   ka-up, ka-stopped3: the same the other way.
# Usage: bench/reload_stall.sh WEIR... with binaries built with
# bench/reload_stall/measure.patch applied (`patch -p1`, which takes it
# before and after the sink changes; it logs "measure:" lines from
# engine/worker_reload.c). MODES picks the cases; PORT (default 29964).
# Measured 2026-12-01, 2 shared cores, one run each (ms on the loop):
#   before (detach did the final commit and consumer_close):
#     kk-up detach 36.7 + close 0.9; kf-up detach 39.6 + close 2.3;
#     kf-stopped detach 120341.9 (the reload not applied within 60 s);
#     kk-stopped3 detach 3049.6 (an earlier run: kk-up 36.7 + 1.8, kf-up 28.5 + 1.0,
#     kf-stopped 120242.0, kk-stopped3 3050.7)
#   after (a closer thread): detach 0.0, quiet calls under 1 ms (not
#     logged), close 0.0 in every case; kf-stopped: the reload applied at
#     once, the closer still waiting at 60 s (close 131.3 at SIGTERM, the
#     worker ending, after the broker was continued); kk-stopped3: open
#     3013.1 (the new consumer's topic check on the loop waits for the
#     broker: not changed here). open otherwise 2.4-16.6 both.
#   then (the new source's topics checked before the workers take it, on a
#   thread of the run's: engine/reload_check.c), MODES="kk-up kk-stopped3",
#   two runs each, before / after: kk-up open 16.6, 29.7 / 0.3, 1.2;
#   kk-stopped3 open 3019.6, 3032.7 / 5.1, 0.3 (the reload is applied once
#   the broker answers, 3.1-3.2 s after the SIGHUP both; after, the
#   running source read on meanwhile).
#   sk-up, sk-stopped3: the source unchanged, a Kafka sink added (the time
#   on the loop in rebuilding the sinks, "sinks="; the patch's other
#   lines for a source change). Before / after the new sink's topic is
#   checked off the loop (engine/reload_check.c, its precheck()), two runs
#   each, MODES="sk-up sk-stopped3": sk-up 28.3, 28.4 / 4.6, 0.8;
#   sk-stopped3 3020.6, 3031.0 / 3.3, 2.1 (applied 3.1 s after the SIGHUP
#   both).
#   ek-up, ek-stopped3 (commit_interval 4 s: no periodic end running at the
#   reload): before / after the replaced source's transaction ends as the
#   reload stops it, on the transaction thread (ks_stop), two runs of ek-up
#   (the first with the default 100 ms interval): detach 20.2, 55.5 / 0.0,
#   0.0. ek-stopped3 shows no wait either way (40.6 / 0.0): the new
#   source's check holds the reload until the broker is back, so the
#   detach finds it up.
#   sr-*, ak-*, ka-* (2026-12-01, the patch also logging "rebuild", the
#   whole rebuild on the loop, and "sinkclose", each sink's close during
#   the run): before / after a switch's new transactional producer
#   initializes transactions on its transaction thread and a removed Kafka
#   sink's producer is destroyed on a thread of its own (sinks= ms; two
#   passes, the second with the binaries in the other order, so that each
#   met a broker's first transactional use once in ak-up):
#     ak-up 609.9 (first use), 27.8 / 4.0, 1.1 (rebuild 611.8, 30.3 / 17.3,
#       17.5: the rest is the new consumer's open, unchanged);
#     ak-stopped3 19.5, 27.9 / 2.8, 3.8 (the new sinks' and source's checks
#       hold the reload until the broker is back, so init finds it up);
#     ka-up 12.3 / 4.8; ka-stopped3 21.1 / 3.6;
#     sr-up 1.5, 3.2 and the run aborted (the producer freed under its armed
#       poll: glibc's __pthread_tpp_change_priority assertion, rc=-6, the
#       reload never reported applied) / 0.0, 0.0 (sinkclose, at the reap
#       once the destroying thread is through: 1.2, 0.0);
#     sr-stopped3 7.2 and the same abort / 0.0 (applied 3.1 s after the
#       SIGHUP: the drain waits for the broker to acknowledge the removed
#       sink's outputs, as it must).
set -u
SRC=$(cd "$(dirname "$0")/.." && pwd)
PORT=${PORT:-29964} BOOT=127.0.0.1:${PORT:-29964}
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
T=$(mktemp -d /tmp/weir-reload-stall.XXXXXX) KDIR=$T/kafka
fail() { echo "FAIL $*"; }
finish() { exit 1; }
. "$SRC/tests/kafka_lib.sh"
trap 'kill -CONT $(cat "$KDIR/broker.pid" 2>/dev/null) 2>/dev/null; kafka_stop; rm -rf "$T"' EXIT
kafka_start ""
for mode in ${MODES:-kk-up kf-up kf-stopped kk-stopped3}; do
    for b in "$@"; do
        n=$(basename "$b")-$mode
        broker topic-create "st-$n" 4 >/dev/null || echo "topic st-$n: not created"
        [[ $mode != [se]k-* && $mode != sr-* && $mode != ak-* && $mode != ka-* ]] ||
            broker topic-create "so-$n" 4 >/dev/null || echo "so-$n: not created"
        echo -n "$(basename "$b") "
        /usr/bin/python3 "$SRC/bench/reload_stall/stall.py" "$b" "$T/$n" "$BOOT" "$KDIR" "$mode"
    done
done
