#!/usr/bin/env bash
# A secured broker (issue 8, item 8): the test broker also listens with
# SASL_SSL (TLS with a certificate from a CA this script makes with openssl),
# and ACLs (StandardAuthorizer; nothing is allowed that no ACL allows). weir
# connects through the pass-through "kafka" properties, with the password
# read from a secret file ("@password" beside the pipeline file).
# On Kafka 4.1.1 the mechanism is PLAIN: librdkafka before 2.6.1 (Debian 12
# has 2.0.2) builds a SCRAM client-final-message that Kafka 4.x rejects as
# invalid credentials (librdkafka#4895; Kafka 3.x accepts it). So SCRAM runs
# against a second broker, Kafka 3.9.1 (KAFKA_VERSION, scripts/kafka/fetch.sh),
# with SCRAM-SHA-512 and -256 users made at format time (KRaft's --add-scram).
#   a. the right password and CA: every record has an output; exit 0 on SIGTERM.
#      a2: `weir check` asks the authorizer; a3: a "replay" section produces
#      with the source's credentials.
#   b. a wrong password, c. a CA that did not sign the broker's certificate,
#   d. an output topic the principal may not write: each exits 1 with ONE
#      line (besides the summary) that names the broker and the cause.
#   e. Kafka 3.9.1, SASL_SSL with SCRAM-SHA-512, the password from a file:
#      every record has an output; f. a wrong SCRAM password: one line as in b
#      (with librdkafka < 2.6.1, a hint about Kafka 4.x). The broker also has
#      a SCRAM-SHA-256 user (run by hand: scram NAME SCRAM-SHA-256 TOPIC).
# Env: WEIR_BIN, WEIR_SRC; WEIR_KAFKA_SECURE_PORT (default 29940; +1 the
# controller, +2 SASL_SSL; the 3.9.1 broker: +3, +4, +5).
set -u

. "$(dirname "$0")/lib.sh"
SRC=$PWD
WEIR=$WEIR_BIN
PORT=${WEIR_KAFKA_SECURE_PORT:-29940}
SPORT=$((PORT + 2))
BOOT=127.0.0.1:$PORT
SBOOT=127.0.0.1:$SPORT
LIBS=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}/libs
N=1000
ok() { passed=$((passed + 1)); echo "test_kafka_secure: ok: $*"; }
fail() { failed=$((failed + 1)); echo "test_kafka_secure: FAIL: $*"; }

command -v java >/dev/null 2>&1 || { echo "test_kafka_secure: skipped: java is not installed"; exit 77; }
command -v openssl >/dev/null 2>&1 || { echo "test_kafka_secure: skipped: openssl is not installed"; exit 77; }
T=$(mktemp -d /tmp/weir-test-secure.XXXXXX)
KDIR=$T/kafka
WEIR_PID=""
cleanup() {
    [[ -n $WEIR_PID ]] && kill -KILL "$WEIR_PID" 2>/dev/null
    kafka_stop
    if ((failed == 0)) && [[ -z ${KEEP:-} ]]; then rm -rf "$T"; else echo "test_kafka_secure: files kept in $T"; fi
}
trap cleanup EXIT
. "$(dirname "$0")/kafka_lib.sh"

# ---- certificates: a CA, the broker's certificate (for 127.0.0.1), another CA --------
(
    cd "$T" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=weir-test-ca &&
        openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj /CN=127.0.0.1 &&
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext &&
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.pem \
            -days 2 -extfile san.ext &&
        openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -out broker.p12 \
            -passout pass:changeit &&
        openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem -days 2 -subj /CN=other-ca
) >"$T/openssl.log" 2>&1 || { fail "openssl: $(tail -n2 "$T/openssl.log")"; finish; }

cat >"$T/secure.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$((PORT + 1)),SASL_SSL://127.0.0.1:$SPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$SPORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_weir="weir-secret";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$T/broker.p12
ssl.keystore.password=changeit
ssl.key.password=changeit
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
EOF
kafka_start " (PLAINTEXT, for the tools) and $SBOOT (SASL_SSL)" --extra-config "$T/secure.properties" \
    --add-scram 'SCRAM-SHA-512=[name="weir",password="weir-secret"]' # for a librdkafka >= 2.6.1
kafka_topics sec-in:2 sec-out:2 sec-rej:1 sec-forbidden:1 sec-ro:1
acl() { ktool org.apache.kafka.tools.AclCommand --bootstrap-server "$BOOT" --add --allow-principal User:weir "$@" >>"$T/acl.log" 2>&1; }
{ acl --operation Read --operation Describe --topic sec-in --group weir-sec &&
    acl --operation Write --operation Describe --topic sec-out --topic sec-rej &&
    acl --operation Read --operation Describe --topic sec-ro &&
    acl --operation Describe --topic weir-secure-changelog &&
    acl --operation Describe --group weir-ro; } ||
    { fail "ACLs: $(tail -n2 "$T/acl.log")"; finish; }
awk -v n=$N 'BEGIN { for (i = 0; i < n; i++) printf "{\"seq\":%d,\"value\":%d}\n", i, i % 50 }' >"$T/in.jsonl"
"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic sec-in --key seq >"$T/replay.log" 2>&1 ||
    { fail "replay: $(tail -n1 "$T/replay.log")"; finish; }

# pipeline NAME PASSWORD CA OUT_TOPIC [MECHANISM]: $T/NAME.json for the broker
# on $SBOOT, its password in $T/NAME.password
pipeline() {
    printf '%s\n' "$2" >"$T/$1.password"
    cat >"$T/$1.json" <<EOF
{
  "name": "secure",
  "source": {"type": "kafka", "brokers": "$SBOOT", "topics": ["sec-in"], "group": "weir-sec",
             "connect_timeout": "5s",
             "kafka": {"security.protocol": "SASL_SSL", "sasl.mechanisms": "${5:-PLAIN}",
                       "sasl.username": "weir", "sasl.password": "@$1.password",
                       "ssl.ca.location": "$3"}},
  "operators": [{"type": "extract", "fields": {"value": "/value", "seq": "/seq"}}],
  "sinks": [{"type": "kafka", "topic": "$4", "connect_timeout": "5s"}],
  "dead_letter": {"type": "kafka", "topic": "sec-rej", "connect_timeout": "5s"}
}
EOF
}

# ---- a. the right credentials ----------------------------------------------------------
pipeline good weir-secret "$T/ca.pem" sec-out
start_weir "$T/good.err" "$T/good.json" --workers 2
got=$(wait_count sec-out $N 40)
rc=0
if [[ -n $WEIR_PID ]] && kill -0 "$WEIR_PID" 2>/dev/null; then stop_weir 30 || rc=$?; else wait "$WEIR_PID"; rc=99; WEIR_PID=""; fi
if ((rc == 0 && got >= N)); then
    ok "a: SASL_SSL (PLAIN), the password from a file: $got outputs, exit 0"
else
    fail "a: $got of $N outputs, exit $rc: $(grep -v ' records in, ' "$T/good.err" | tail -n2 | cut -c1-300)"
fi

# ---- a2. `weir check` asks the brokers what this principal may do (KIP-430) -----------
# good: Read on the source topic and group, Write on the sink topics; ro: a
# sink topic it may only read and a group it may only describe, which
# metadata alone (the check before) passed as "ok".
# check_expect NAME RC WHAT PATTERN...: `weir check` of $T/NAME.json exits RC
# and prints a line matching each PATTERN (a "!"-prefixed one: no such line).
check_expect() {
    local name=$1 want=$2 what=$3 rc=0 pat out="$T/check-$1.out"
    shift 3
    "$WEIR" check "$T/$name.json" >"$out" 2>&1 || rc=$?
    for pat in "$@"; do
        if [[ $pat == !* ]]; then grep -q -- "${pat:1}" "$out" && rc=-1; else grep -q -- "$pat" "$out" || rc=-1; fi
    done
    if ((rc == want)); then
        ok "$what"
    else
        fail "$what: weir check $name.json: exit $rc (-1: a line missing or unwanted), expected $want: $(grep -v '^ok' "$out" | head -n4 | cut -c1-300)"
    fi
}
check_expect good 0 "a2: weir check: Read and Write allowed where the ACLs allow them, exit 0" \
    'source topic "sec-in": may Read' 'consumer group "weir-sec": may Read' \
    'sinks\[0\] (kafka) topic "sec-out": may Write' 'dead_letter topic "sec-rej": may Write'
pipeline ro weir-secret "$T/ca.pem" sec-ro
sed -i 's/"weir-sec"/"weir-ro"/' "$T/ro.json"
check_expect ro 1 "a2: weir check: no Write on sec-ro, no Read on group weir-ro: two FAIL lines, exit 1" \
    '^FAIL.*topic "sec-ro": this client may not Write (the brokers allow it: Read, Describe)' \
    '^FAIL.*consumer group "weir-ro": this client may not Read (the brokers allow it: Describe)'

# exactly-once: no ACL on the transactional ids -> FAIL; a prefixed ACL -> ok
pipeline eos weir-secret "$T/ca.pem" sec-out
sed -i 's/"group": "weir-sec",/"group": "weir-sec", "guarantee": "exactly_once", "transactional_id": "weir-sec-txn",/' "$T/eos.json"
check_expect eos 1 "a2: weir check, exactly-once without an ACL on the transactional ids: FAIL, exit 1" \
    '^FAIL  exactly-once: transactional id "weir-sec-txn-0": this client may not even Describe it'
acl --operation Write --operation Describe --transactional-id weir-sec-txn --resource-pattern-type prefixed ||
    fail "ACL on the transactional ids: $(tail -n2 "$T/acl.log")"
check_expect eos 0 "a2: weir check, exactly-once with a prefixed ACL on the transactional ids: exit 0" \
    '^ok    exactly-once: transactional id "weir-sec-txn-0": may Describe'

# ---- a3. a pipeline's "replay" section on the secured listener --------------------------
# Its producer takes the source's credentials (it once connected with none, and
# the run ended on the replay's 30 s message timeout). It may write sec-in.
acl --operation Write --topic sec-in || fail "ACL Write on sec-in: $(tail -n2 "$T/acl.log")"
awk 'BEGIN { for (i = 0; i < 50; i++) printf "{\"seq\":%d,\"value\":%d}\n", 100000 + i, i }' >"$T/more.jsonl"
pipeline replay weir-secret "$T/ca.pem" sec-out
sed -i "s|^  \"name\": \"secure\",|&\n  \"replay\": {\"path\": \"$T/more.jsonl\", \"key\": \"seq\"},|" "$T/replay.json"
check_expect replay 0 "a3: weir check asks Write on the replay's topic (sec-in, beside Read)" \
    'source topic "sec-in": may Read, Write'
rc=0
timeout -k 5 90 "$WEIR" run "$T/replay.json" --workers 2 >/dev/null 2>"$T/replay-run.err" </dev/null || rc=$?
if ((rc == 0)) && grep -q "replay: 50 records from .* produced and acknowledged" "$T/replay-run.err"; then
    ok "a3: a replay section on SASL_SSL: 50 records produced with the source's credentials, exit 0"
else
    fail "a3: replay on SASL_SSL: exit $rc: $(grep -v ' records in, ' "$T/replay-run.err" | tail -n3 | cut -c1-300)"
fi

# ---- b, c, d. one line each --------------------------------------------------------------
# expect NAME CAUSE_REGEX: weir exits 1; its lines other than the summary are
# one line that names the broker and matches the cause.
expect() {
    local name=$1 cause=$2 rc=0 lines
    timeout -k 5 60 "$WEIR" run "$T/$name.json" --workers 2 >/dev/null 2>"$T/$name.err" </dev/null || rc=$?
    lines=$(grep -v ' records in, ' "$T/$name.err" | sort -u)
    if ((rc != 1)); then
        fail "$name: exit $rc, expected 1: $(head -n2 <<<"$lines" | cut -c1-300)"
    elif [[ $(wc -l <<<"$lines") != 1 ]]; then
        fail "$name: $(wc -l <<<"$lines") distinct lines, expected one: $(cut -c1-200 <<<"$lines")"
    elif ! grep -q "$SBOOT" <<<"$lines" || ! grep -Eqi "$cause" <<<"$lines"; then
        fail "$name: the line does not name $SBOOT and /$cause/: $(cut -c1-400 <<<"$lines")"
    else
        ok "$name: $(cut -c1-300 <<<"$lines")"
    fi
}
pipeline badpass not-the-password "$T/ca.pem" sec-out
expect badpass 'authentication failed|invalid credentials'
pipeline badca weir-secret "$T/other.pem" sec-out
expect badca 'certificate verify failed|certificate'
pipeline forbidden weir-secret "$T/ca.pem" sec-forbidden
expect forbidden 'not authorized|authorization failed'

# ---- e, f. SCRAM on Kafka 3.9.1 --------------------------------------------------------
kafka_stop
export KAFKA_VERSION=3.9.1
PORT=$((PORT + 3)) SPORT=$((SPORT + 3)) KDIR=$T/kafka39
BOOT=127.0.0.1:$PORT SBOOT=127.0.0.1:$SPORT
cat >"$T/scram.properties" <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$((PORT + 1)),SASL_SSL://127.0.0.1:$SPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$SPORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$T/broker.p12
ssl.keystore.password=changeit
ssl.key.password=changeit
EOF
kafka_start " (PLAINTEXT) and $SBOOT (SASL_SSL, SCRAM)" --extra-config "$T/scram.properties" \
    --add-scram 'SCRAM-SHA-512=[name="weir",password="weir-secret"]' \
    --add-scram 'SCRAM-SHA-256=[name="weir",password="weir-secret"]'
kafka_topics sec-in:2 sec-out:2 sec-rej:1
"$WEIR" replay "$T/in.jsonl" --brokers "$BOOT" --topic sec-in --key seq >"$T/replay39.log" 2>&1 ||
    { fail "replay to $KAFKA_VERSION: $(tail -n1 "$T/replay39.log")"; finish; }
# scram NAME MECHANISM TOPIC: every record has an output in TOPIC, exit 0
scram() {
    local got rc=0
    pipeline "$1" weir-secret "$T/ca.pem" "$3" "$2"
    sed -i "s/\"weir-sec\"/\"weir-$1\"/" "$T/$1.json" # a group of its own: reads everything
    start_weir "$T/$1.err" "$T/$1.json" --workers 2
    got=$(wait_count "$3" $N 40)
    if kill -0 "$WEIR_PID" 2>/dev/null; then stop_weir 30 || rc=$?; else wait "$WEIR_PID"; rc=99; WEIR_PID=""; fi
    if ((rc == 0 && got >= N)); then
        ok "$1: Kafka $KAFKA_VERSION, SASL_SSL ($2), the password from a file: $got outputs, exit 0"
    else
        fail "$1: $2: $got of $N outputs, exit $rc: $(grep -v ' records in, ' "$T/$1.err" | tail -n2 | cut -c1-300)"
    fi
}
scram scram512 SCRAM-SHA-512 sec-out
# weir check's own client speaks SCRAM too (no authorizer here: everything allowed)
for m in 512 256; do
    pipeline "check$m" weir-secret "$T/ca.pem" sec-out "SCRAM-SHA-$m"
    check_expect "check$m" 0 "check$m: weir check over SCRAM-SHA-$m: Write allowed, exit 0" \
        'sinks\[0\] (kafka) topic "sec-out": may Write' '!permission check'
done
pipeline scrambad not-the-password "$T/ca.pem" sec-out SCRAM-SHA-512
expect scrambad 'authentication failed|invalid credentials'
finish
