/* weir check's readers of Kafka answers (connectors/kafka_authz.c) on
 * arbitrary bytes, as a broker that lies or a stream cut short would send
 * them: Metadata v8, FindCoordinator v2 and DescribeGroups v3. Each must
 * stay inside the answer, say "out of shape" rather than read past it, set
 * only the operations of topics it was asked about, and end a host name
 * within its buffer. */
#include <string.h>

#include "connectors/kafka_authz.h"
#include "connectors/kafka_probe.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of its own size, so that ASan sees any read past the end */
    uint8_t *b = malloc(size ? size : 1);
    memcpy(b, data, size);
    const char *topics[] = {"in", "out", ""};
    int32_t ops[3] = {WEIR_KAFKA_OPS_UNKNOWN, WEIR_KAFKA_OPS_UNKNOWN, WEIR_KAFKA_OPS_UNKNOWN};
    struct weir_kread r = {.p = b, .n = size};
    int rc = weir_kafka_metadata_ops(&r, topics, 3, ops);
    FUZZ_ASSERT(rc == 0 || rc == -1);
    FUZZ_ASSERT(r.at <= r.n);
    FUZZ_ASSERT((rc < 0) == (r.bad != 0));

    char host[16];
    int port = 0;
    r = (struct weir_kread){.p = b, .n = size};
    int err = 0;
    rc = weir_kafka_coordinator_read(&r, host, sizeof host, &port, &err);
    FUZZ_ASSERT((rc == 0 || rc == -1) && r.at <= r.n);
    FUZZ_ASSERT(err >= -32768 && err <= 32767);
    FUZZ_ASSERT(memchr(host, 0, sizeof host) != NULL);

    int32_t gops = 0;
    r = (struct weir_kread){.p = b, .n = size};
    rc = weir_kafka_group_ops_read(&r, &gops, &err);
    FUZZ_ASSERT((rc == 0 || rc == -1) && r.at <= r.n);
    free(b);
    return 0;
}
