/* The warning weir prints when a broker closes a connection during the first
 * request: librdkafka's guess about security.protocol is replaced by the
 * likely cause (a broker restarting or going away), keeping which broker and
 * which request; other texts are left alone. */
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
    return check_summary();
}
