#!/usr/bin/env bash
# Kafka properties that run code (connectors/kafka_unsafe.h): a pipeline file
# that sets plugin.library.paths, sasl.kerberos.kinit.cmd and the like is
# refused when it loads, and `weir validate` never loads a library or runs a
# command, whatever the file says and whatever the flags. Each probe would
# create a marker file: the plugin (tests/marker_plugin.c) when it is
# loaded, the command when it runs. No broker is needed: the one `weir run`
# that gets as far as creating a client points at a closed local port.
#
# Env: WEIR_BIN (the weir binary), WEIR_SRC (the repository root), WEIR_BUILD
# (the build directory, which holds libweir_marker_plugin.so).
set -u

. "$(dirname "$0")/lib.sh"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
PLUGIN=${WEIR_BUILD:-build}/libweir_marker_plugin.so
case $PLUGIN in /*) ;; *) PLUGIN=$PWD/$PLUGIN ;; esac
if [ ! -f "$PLUGIN" ]; then
    fail "marker plugin not found at $PLUGIN (set WEIR_BUILD)"
    finish
fi
export WEIR_TEST_MARKER=$T/plugin-loaded
MARK=$T/command-ran

# pipeline FILE KAFKA_PROPERTIES_JSON: a Kafka source with those properties.
pipeline() {
    cat >"$1" <<JSON
{"name": "unsafe",
 "source": {"type": "kafka", "brokers": "127.0.0.1:9", "topics": "t", "connect_timeout": "1s",
            "kafka": $2},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "file", "path": "$T/out.jsonl"}], "dead_letter": {"type": "file", "path": "$T/dead.jsonl"}}
JSON
}

# expect NAME WANT_RC WANT_STDERR_GREP COMMAND...: exit code, a line of
# standard error, and neither marker afterwards.
expect() {
    local name=$1 want_rc=$2 want_err=$3
    shift 3
    rm -f "$WEIR_TEST_MARKER" "$MARK"
    "$@" >"$T/out" 2>"$T/err" </dev/null
    local rc=$?
    if [ -e "$WEIR_TEST_MARKER" ]; then
        fail "$name: the plugin was loaded"
    elif [ -e "$MARK" ]; then
        fail "$name: the command ran"
    elif [ "$rc" -ne "$want_rc" ]; then
        fail "$name: exit code $rc, expected $want_rc; stderr: $(head -c 400 "$T/err")"
    elif [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$T/err"; then
        fail "$name: standard error lacks '$want_err': $(head -c 400 "$T/err")"
    else
        ok
    fi
}

P=$T/p.json
pipeline "$P" "{\"plugin.library.paths\": \"$PLUGIN\"}"
expect "validate: plugin.library.paths" 2 \
    "$P: source.kafka.plugin.library.paths: refused: librdkafka loads these shared libraries into weir (dlopen); pass --allow-unsafe-kafka-properties to weir run if you trust this file" \
    "$WEIR_BIN" validate "$P"
expect "run: plugin.library.paths" 2 "source.kafka.plugin.library.paths: refused" "$WEIR_BIN" run "$P"
# With the flag the file is valid, and validating still loads nothing.
expect "validate --allow-unsafe-kafka-properties: plugin.library.paths" 0 "" \
    "$WEIR_BIN" validate "$P" --allow-unsafe-kafka-properties

KINIT="{\"security.protocol\": \"SASL_PLAINTEXT\", \"sasl.mechanisms\": \"GSSAPI\", \"sasl.kerberos.kinit.cmd\": \"touch $MARK\"}"
pipeline "$P" "$KINIT"
expect "validate: sasl.kerberos.kinit.cmd" 2 \
    "source.kafka.sasl.kerberos.kinit.cmd: refused: librdkafka runs this shell command" \
    "$WEIR_BIN" validate "$P"
expect "validate --allow-unsafe-kafka-properties: sasl.kerberos.kinit.cmd" 0 "" \
    "$WEIR_BIN" validate "$P" --allow-unsafe-kafka-properties
# weir run creates the consumer, and librdkafka runs kinit when it does: a
# run without the flag must stop before that.
expect "run: sasl.kerberos.kinit.cmd" 2 "source.kafka.sasl.kerberos.kinit.cmd: refused" \
    "$WEIR_BIN" run "$P"
# The flag does hand it to librdkafka (which proves the probe above would
# have seen the command run). The client then fails on the closed port.
rm -f "$MARK"
"$WEIR_BIN" run "$P" --allow-unsafe-kafka-properties --quiet >/dev/null 2>"$T/err" </dev/null
if [ -e "$MARK" ]; then
    ok
else
    fail "run --allow-unsafe-kafka-properties: the kinit command did not run: $(head -c 400 "$T/err")"
fi

# Values pasted into the default kinit command, engines, provider paths.
pipeline "$P" "{\"sasl.kerberos.principal\": \"x; touch $MARK\"}"
expect "validate: a principal with shell syntax" 2 \
    "source.kafka.sasl.kerberos.principal: refused: librdkafka puts it into its kinit shell command" \
    "$WEIR_BIN" validate "$P"
pipeline "$P" "{\"sasl.kerberos.keytab\": \"\$(touch $MARK)\"}"
expect "validate: a keytab with shell syntax" 2 "source.kafka.sasl.kerberos.keytab: refused" \
    "$WEIR_BIN" validate "$P"
pipeline "$P" "{\"sasl.kerberos.principal\": \"kafka/host.example.com@EXAMPLE.COM\", \"sasl.kerberos.keytab\": \"/etc/krb5.keytab\"}"
expect "validate: a plain principal and keytab" 0 "" "$WEIR_BIN" validate "$P"
pipeline "$P" "{\"ssl.engine.location\": \"$PLUGIN\"}"
expect "validate: ssl.engine.location" 2 "source.kafka.ssl.engine.location: refused" \
    "$WEIR_BIN" validate "$P"
pipeline "$P" "{\"ssl.providers\": \"default,$PLUGIN\"}"
expect "validate: ssl.providers with a path" 2 "source.kafka.ssl.providers: refused" \
    "$WEIR_BIN" validate "$P"
pipeline "$P" "{\"ssl.providers\": \"default,legacy\"}"
expect "validate: ssl.providers by name" 0 "" "$WEIR_BIN" validate "$P"

# A sink's own properties are checked the same way.
cat >"$P" <<JSON
{"source": {"type": "file", "path": "$T/in.jsonl"},
 "operators": [{"type": "extract", "fields": {"v": "/v"}}],
 "sinks": [{"type": "kafka", "brokers": "127.0.0.1:9", "topic": "t",
            "kafka": {"plugin.library.paths": "$PLUGIN"}}]}
JSON
expect "validate: a sink's plugin.library.paths" 2 "sinks[0].kafka.plugin.library.paths: refused" \
    "$WEIR_BIN" validate "$P"

finish
