/* A Kafka message's timestamp as a record's event time (connectors/kafka_common.h):
 * none (-1) stays none, and one past WEIR_TS_MAX_MS (a producer's
 * Long.MAX_VALUE, a common "no time" sentinel) is none too: taken as it
 * came, an aggregate's window end (time + size) overflowed int64_t and the
 * window was written at once with a negative end. */
#include <stdint.h>

#include "connectors/kafka_common.h"
#include "tests/check.h"

int main(void)
{
    CHECK(weir_kafka_event_time(-1) == -1);
    CHECK(weir_kafka_event_time(0) == 0);
    CHECK(weir_kafka_event_time(1700000000000) == 1700000000000);
    CHECK(weir_kafka_event_time((int64_t)WEIR_TS_MAX_MS) == (int64_t)WEIR_TS_MAX_MS);
    CHECK(weir_kafka_event_time(INT64_MAX) == -1);
    CHECK(weir_kafka_event_time((int64_t)WEIR_TS_MAX_MS + 1) == -1);
    /* the largest time left plus the largest window still fits */
    CHECK((int64_t)WEIR_TS_MAX_MS <= INT64_MAX - 36500LL * 86400000LL);
    return check_summary();
}
