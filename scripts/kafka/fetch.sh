#!/usr/bin/env bash
# fetch.sh: download the Kafka broker + CLI jars (pom.xml) from Maven Central
# into $WEIR_KAFKA_HOME/libs (default ~/.cache/weir-kafka/libs). Idempotent:
# a stamp file records the Kafka version and a hash of pom.xml.
# KAFKA_VERSION=V fetches another version (same artifacts) into libs-V, with
# its own stamp: the SCRAM test runs Kafka 3.9.1 (see tests/test_kafka_secure.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${WEIR_KAFKA_HOME:-$HOME/.cache/weir-kafka}
die() { echo "fetch.sh: $*" >&2; exit 1; }

DEFAULT=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")
VERSION=${KAFKA_VERSION:-$DEFAULT}
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "KAFKA_VERSION: expected X.Y.Z, got '$VERSION'"
LIBS=$CACHE/libs
[[ $VERSION == "$DEFAULT" ]] || LIBS=$CACHE/libs-$VERSION
WANT="kafka $VERSION pom:$(sha256sum "$HERE/pom.xml" | cut -c1-16)"

mkdir -p "$CACHE" || die "cannot create $CACHE"
exec 9>"$CACHE/.lock"
flock 9                                   # concurrent test runs fetch once

if [[ -f $LIBS/.stamp && $(cat "$LIBS/.stamp") == "$WANT" ]]; then
    echo "fetch.sh: kafka $VERSION already in $LIBS"
    exit 0
fi

command -v mvn >/dev/null || die "mvn not found (needed to fetch Kafka from Maven Central)"
command -v java >/dev/null || die "java not found (Kafka needs a JDK 17+)"

t0=$SECONDS
rm -rf "$LIBS.tmp"
# Kafka 3.x brings slf4j-reload4j: excluded, so that slf4j binds to log4j2
# (log4j2.properties) as with 4.x.
mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies \
    -Dkafka.version="$VERSION" -DexcludeArtifactIds=slf4j-reload4j,reload4j \
    -DoutputDirectory="$LIBS.tmp" >"$CACHE/fetch-$VERSION.log" 2>&1 \
    || die "mvn dependency:copy-dependencies failed, see $CACHE/fetch-$VERSION.log"
rm -rf "$LIBS"
mv "$LIBS.tmp" "$LIBS"
echo "$WANT" >"$LIBS/.stamp"
echo "fetch.sh: fetched kafka $VERSION ($(ls "$LIBS" | wc -l) jars) into $LIBS in $((SECONDS - t0))s"
