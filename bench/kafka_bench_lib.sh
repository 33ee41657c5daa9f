# Shared by the Kafka benchmarks that run weir processes against a broker of
# their own (kafka_eos_takeover.sh, kafka_restart.sh). The script sets SRC,
# NAME (for messages and the work directory) and PORT, then sources this:
# BOOT, LIBS, WORK (removed at exit unless KEEP=1), KDIR, PIDS (killed at
# exit), WEIR_PID and fail() are set, tests/kafka_lib.sh is loaded, the broker
# is started, and $WORK/in.jsonl holds N records {"seq": i, "value": i % 97}.
BOOT=127.0.0.1:$PORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
WORK=$(mktemp -d "/tmp/weir-bench-$NAME.XXXXXX")
KDIR=$WORK/kafka
WEIR_PID="" PIDS=()
fail() { echo "$NAME: $*" >&2; exit 1; }
cleanup() {
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    "$SRC/scripts/kafka/broker.sh" stop --port "$PORT" --dir "$KDIR" >/dev/null 2>&1 || true
    [[ -n ${KEEP:-} ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
. "$SRC/tests/kafka_lib.sh"

broker start >/dev/null || fail "the broker did not start"
awk -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d,\"value\":%d}\n", i, i % 97 }' >"$WORK/in.jsonl"
