#!/usr/bin/env bash
# broker.sh: a single-node Apache Kafka broker (KRaft, combined broker+controller)
# on 127.0.0.1 for weir's integration tests and benchmarks. See README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# KAFKA_VERSION=V runs another version than pom.xml's (fetched into libs-V).
DEFAULT=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
[[ ${KAFKA_VERSION:-$DEFAULT} == "$DEFAULT" ]] || LIBS=$LIBS-$KAFKA_VERSION
die() { echo "broker.sh: $*" >&2; exit 1; }

usage() {
    cat >&2 <<'EOF'
usage: [KAFKA_VERSION=V] broker.sh COMMAND [ARGS] [--port P] [--controller-port P] [--dir DIR]
  start [--keep-data] [--extra-config FILE] [--add-scram SPEC]...
                               fetch jars, (re)format, start, wait until ready; FILE's
                               properties are appended (they win); SPEC as kafka-storage's
  stop | kill9 | restart       SIGTERM (30 s, then SIGKILL) | SIGKILL now | stop + start --keep-data
  status | wait [--timeout S]  is it running | wait until it serves requests
  topic-create NAME PARTITIONS
  topics                       list topics
  produce TOPIC FILE [--key-separator SEP]       one message per line (FILE may be -)
  consume TOPIC N [--read-committed] [--timeout-ms MS] [--print-key]
EOF
    exit 2
}

# ---- arguments ---------------------------------------------------------------
CMD=${1:-}; [[ -n $CMD ]] || usage; shift
PORT=${WEIR_KAFKA_PORT:-9092} CPORT="" DIR="" KEEP=0 TIMEOUT=90
KEYSEP="" ISOLATION=read_uncommitted TIMEOUT_MS=10000 PRINT_KEY=false
EXTRA="" SCRAM=()
ARGS=()
while (($#)); do
    case $1 in
        --port) PORT=${2:?}; shift ;;
        --controller-port) CPORT=${2:?}; shift ;;
        --dir) DIR=${2:?}; shift ;;
        --keep-data) KEEP=1 ;;
        --extra-config) EXTRA=${2:?}; shift ;;
        --add-scram) SCRAM+=(--add-scram "${2:?}"); shift ;;
        --timeout) TIMEOUT=${2:?}; shift ;;
        --key-separator) KEYSEP=${2:?}; shift ;;
        --read-committed) ISOLATION=read_committed ;;
        --timeout-ms) TIMEOUT_MS=${2:?}; shift ;;
        --print-key) PRINT_KEY=true ;;
        -h|--help) usage ;;
        -?*) die "unknown option $1" ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
CPORT=${CPORT:-$((PORT + 1))}
DIR=${DIR:-${WEIR_KAFKA_DIR:-/tmp/weir-kafka-$PORT}}
PIDF=$DIR/broker.pid LOG=$DIR/broker.log
BOOTSTRAP=127.0.0.1:$PORT

nargs() { ((${#ARGS[@]} == $1)) || die "$CMD: expected $1 argument(s), got ${#ARGS[@]} (see --help)"; }

# ---- helpers -----------------------------------------------------------------
# Run a Kafka CLI class with a JVM tuned to start fast, not to run long.
tool() {
    [[ -f $LIBS/.stamp ]] || die "Kafka jars missing in $LIBS: run fetch.sh or 'broker.sh start'"
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$HERE/log4j2.properties" -Dweir.log.level=WARN \
        -cp "$LIBS/*" "$@"
}

ERRF=$(mktemp); trap 'rm -f "$ERRF"' EXIT     # a tool's stderr
# The most useful line of a tool's output, for a one-line error message.
why() { grep -m1 -oE '[A-Za-z.]+(Exception|Error): .*' "$ERRF" || grep -m1 ERROR "$ERRF" || tail -n1 "$ERRF"; }

pid() { [[ -f $PIDF ]] && local p && p=$(<"$PIDF") && kill -0 "$p" 2>/dev/null && echo "$p"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ready = the log says the server started (it logs that once the broker is
# unfenced) and the listener accepts connections.
wait_ready() {
    local deadline=$((SECONDS + TIMEOUT)) p=${1:-}
    until grep -q 'Kafka Server started' "$LOG" 2>/dev/null && port_open "$PORT"; do
        if [[ -n $p ]] && ! kill -0 "$p" 2>/dev/null; then
            die "broker exited during startup: $(grep -m1 -E 'ERROR|Exception' "$LOG" || tail -n1 "$LOG") (log: $LOG)"
        fi
        ((SECONDS < deadline)) || die "broker on $BOOTSTRAP not ready after ${TIMEOUT}s (log: $LOG)"
        sleep 0.2
    done
}

write_config() {
    cat >"$DIR/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DIR/data
num.network.threads=2
num.io.threads=4
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=5000
log.segment.bytes=16777216
log.retention.ms=3600000
log.retention.check.interval.ms=60000
log.cleaner.dedupe.buffer.size=16777216
EOF
    if [[ -n $EXTRA ]]; then cat "$EXTRA" >>"$DIR/server.properties" || die "cannot read $EXTRA"; fi
}

# ---- commands ----------------------------------------------------------------
start() {
    nargs 0
    "$HERE/fetch.sh" >/dev/null
    local p t0=$SECONDS
    p=$(pid) && die "already running (pid $p) in $DIR"
    # a test killed at ctest's timeout skips its EXIT trap: its broker
    # (nohup'ed, adopted by init) keeps the port until it is stopped by hand
    port_open "$PORT" && die "port $PORT is already in use (a broker left by a killed test? \`ss -ltnp 'sport = :$PORT'\` names its pid)"
    port_open "$CPORT" && die "controller port $CPORT is already in use"
    ((KEEP)) || rm -rf "$DIR"
    mkdir -p "$DIR/data" || die "cannot create $DIR"
    write_config
    if [[ ! -f $DIR/data/meta.properties ]]; then
        local id
        id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
        id=A${id:1} # never a leading "-", which the tool would take for an option
        tool kafka.tools.StorageTool format -t "$id" -c "$DIR/server.properties" "${SCRAM[@]}" >"$ERRF" 2>&1 \
            || die "storage format failed: $(why)"
    fi
    [[ -f $LOG ]] && mv "$LOG" "$LOG.1"
    nohup java -Xms256m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Xshare:auto \
        -Djava.awt.headless=true -Dlog4j2.configurationFile="$HERE/log4j2.properties" \
        -cp "$LIBS/*" kafka.Kafka "$DIR/server.properties" >"$LOG" 2>&1 </dev/null &
    p=$!
    echo "$p" >"$PIDF"
    wait_ready "$p"
    echo "broker.sh: kafka ready on $BOOTSTRAP (pid $p, dir $DIR, $((SECONDS - t0))s)"
}

stop() {
    local p sig=${1:-TERM}
    p=$(pid) || { rm -f "$PIDF"; echo "broker.sh: not running ($DIR)"; return 0; }
    kill "-$sig" "$p"
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        kill -KILL "$p"
        while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
        echo "broker.sh: broker pid $p ignored SIGTERM for 30s, killed"
    else
        echo "broker.sh: stopped broker pid $p (SIG$sig)"
    fi
    rm -f "$PIDF"
}

status() {
    local p
    if p=$(pid); then echo "running: pid $p on $BOOTSTRAP (dir $DIR)"
    else echo "not running ($DIR)"; exit 1; fi
}

topic_create() {
    nargs 2
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --create \
        --topic "${ARGS[0]}" --partitions "${ARGS[1]}" --replication-factor 1 >"$ERRF" 2>&1 \
        || die "topic-create ${ARGS[0]} failed: $(why)"
    echo "broker.sh: created topic ${ARGS[0]} with ${ARGS[1]} partition(s)"
}

topics() {
    nargs 0
    tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" --list \
        || die "topic list failed on $BOOTSTRAP"
}

produce() {
    nargs 2
    local topic=${ARGS[0]} file=${ARGS[1]} p rc=0 keyopts=()
    [[ $file == - || -r $file ]] || die "produce: cannot read $file"
    [[ -n $KEYSEP ]] && keyopts=(--property parse.key=true --property "key.separator=$KEYSEP")
    [[ $file == - ]] && file=/dev/stdin
    tool org.apache.kafka.tools.ConsoleProducer --bootstrap-server "$BOOTSTRAP" --topic "$topic" \
        --max-block-ms 10000 "${keyopts[@]}" <"$file" >/dev/null 2>"$ERRF" &
    p=$!
    # A failed send is only logged (e.g. missing topic: every line waits
    # --max-block-ms), so stop at the first ERROR.
    while kill -0 "$p" 2>/dev/null; do
        grep -q ERROR "$ERRF" && { sleep 0.1; kill "$p"; break; }
        sleep 0.1
    done
    wait "$p" || rc=$?
    ((rc == 0)) && ! grep -q ERROR "$ERRF" || die "produce to $topic failed: $(why)"
}

consume() {
    nargs 2
    local topic=${ARGS[0]} n=${ARGS[1]} got
    tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$BOOTSTRAP" \
        --topic "$topic" --from-beginning --max-messages "$n" --timeout-ms "$TIMEOUT_MS" \
        --isolation-level "$ISOLATION" --property "print.key=$PRINT_KEY" 2>"$ERRF" || true
    got=$(sed -n 's/^Processed a total of \([0-9]*\) messages.*/\1/p' "$ERRF")
    ((${got:-0} >= n)) || die "consume: got ${got:-0} of $n messages from $topic" \
        "($(grep -v TimeoutException "$ERRF" | grep -m1 -oE '[A-Za-z.]+Exception: .*' || echo "none for ${TIMEOUT_MS}ms"))"
}

case $CMD in
    start) start ;;
    stop) nargs 0; stop TERM ;;
    kill9) nargs 0; stop KILL ;;
    restart) nargs 0; stop TERM; KEEP=1; start ;;
    status) nargs 0; status ;;
    wait) nargs 0; wait_ready "$(pid || true)"; echo "broker.sh: kafka ready on $BOOTSTRAP" ;;
    topic-create) topic_create ;;
    topics) topics ;;
    produce) produce ;;
    consume) consume ;;
    *) usage ;;
esac
