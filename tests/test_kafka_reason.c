/* The warning weir prints when a broker closes a connection during the first
 * request: librdkafka's guess about security.protocol is replaced by the
 * likely cause (a broker restarting or going away), keeping which broker and
 * which request; other texts are left alone. An authentication failure with
 * a SCRAM mechanism on librdkafka before 2.6.1 gets a hint (librdkafka#4895). */
#include <string.h>

#include "connectors/kafka_common.h"
#include "tests/check.h"

int main(void)
{
    char buf[512];
    const char *in = "127.0.0.1:9092/bootstrap: Disconnected while requesting ApiVersion: "
                     "might be caused by incorrect security.protocol configuration (connecting "
                     "to a SSL listener?) or broker version is < 0.10 (see api.version.request) "
                     "(after 0ms in state APIVERSION_QUERY)";
    const char *out = weir_kafka_transport_reason(in, buf, sizeof buf);
    CHECK_STR(out, "127.0.0.1:9092/bootstrap: Disconnected while requesting ApiVersion: the "
                   "broker closed the connection (restarting or going away?); when it never "
                   "connects, check that security.protocol matches the broker's listener");
    const char *plain = "127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: "
                        "Connection refused";
    CHECK(weir_kafka_transport_reason(plain, buf, sizeof buf) == plain);
    char small[40];
    out = weir_kafka_transport_reason(in, small, sizeof small); /* cut, never overrun */
    CHECK(out == small && strlen(small) == sizeof small - 1);

    const char *auth = "SASL authentication error: Authentication failed during authentication "
                       "due to invalid credentials with SASL mechanism SCRAM-SHA-512";
    out = weir_kafka_auth_reason(auth, "SCRAM-SHA-512", 0x020002ff, buf, sizeof buf);
    CHECK(out == buf);
    CHECK(strncmp(out, auth, strlen(auth)) == 0);
    CHECK_STR(out + strlen(auth), " (librdkafka 2.0.2: before 2.6.1 it cannot authenticate with "
                                  "SCRAM to Kafka 4.0 or later, librdkafka#4895)");
    CHECK(weir_kafka_auth_reason(auth, "scram-sha-256", 0x020600ff, buf, sizeof buf) == buf);
    /* 2.6.1 and later, another mechanism, none: unchanged */
    CHECK(weir_kafka_auth_reason(auth, "SCRAM-SHA-512", 0x020601ff, buf, sizeof buf) == auth);
    CHECK(weir_kafka_auth_reason(auth, "SCRAM-SHA-256", 0x030000ff, buf, sizeof buf) == auth);
    CHECK(weir_kafka_auth_reason(auth, "PLAIN", 0x020002ff, buf, sizeof buf) == auth);
    CHECK(weir_kafka_auth_reason(auth, "", 0x020002ff, buf, sizeof buf) == auth);
    CHECK(weir_kafka_auth_reason(auth, NULL, 0x020002ff, buf, sizeof buf) == auth);
    out = weir_kafka_auth_reason(auth, "SCRAM-SHA-512", 0x020002ff, small, sizeof small);
    CHECK(out == small && strlen(small) == sizeof small - 1); /* cut, never overrun */
    return check_summary();
}
