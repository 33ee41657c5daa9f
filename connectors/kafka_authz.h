/* What the brokers let this client do with topics and a consumer group
 * (KIP-430 authorized operations), asked without producing, consuming or
 * committing: `weir check`'s Write and Read checks (kafka_authz.c). */
#ifndef WEIR_CONNECTORS_KAFKA_AUTHZ_H
#define WEIR_CONNECTORS_KAFKA_AUTHZ_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Kafka's AclOperation codes; an operations set has bit (1 << code). */
enum {
    WEIR_KAFKA_OP_READ = 3,
    WEIR_KAFKA_OP_WRITE = 4,
    WEIR_KAFKA_OP_DESCRIBE = 8,
};
#define WEIR_KAFKA_OPS_UNKNOWN INT32_MIN /* the brokers did not say */

struct weir_kafka_authz_ask {
    const char *brokers;
    const json_t *security, *props; /* as weir_kafka_metadata_client's */
    const char *const *topics;
    size_t ntopics;
    const char *group; /* or NULL */
    int timeout_ms;
};

/* Fills topic_ops[i] for each topic (0 when it may not even be described)
 * and *group_ops; one the brokers did not say is WEIR_KAFKA_OPS_UNKNOWN
 * (the group's: why says why). 0, or -1 with why when the brokers could not
 * be asked at all (a property the check does not follow, unreachable,
 * refused). */
int weir_kafka_authorized(const struct weir_kafka_authz_ask *a, int32_t *topic_ops,
                          int32_t *group_ops, char *why, size_t size);

/* The responses' readers (tests and tests/fuzz): Metadata v8 into ops[i]
 * by topic name; FindCoordinator v2 and DescribeGroups v3 (one group) set
 * *err to the response's error code (any but 0 an error: -1 is Kafka's
 * UNKNOWN_SERVER_ERROR). Each returns 0, or -1 for an answer out of
 * shape. */
struct weir_kread;
int weir_kafka_metadata_ops(struct weir_kread *r, const char *const *topics, size_t n,
                            int32_t *ops);
int weir_kafka_coordinator_read(struct weir_kread *r, char *host, size_t hsize, int *port,
                                int *err);
int weir_kafka_group_ops_read(struct weir_kread *r, int32_t *ops, int *err);

/* Whether this client may Describe transactional id txn_id (asking for its
 * coordinator needs it; a run under exactly-once needs Write, which implies
 * it, and which no request shows without starting a transaction): 1 yes, 0
 * no, -1 could not be asked (why). */
int weir_kafka_txn_describable(const struct weir_kafka_authz_ask *a, const char *txn_id,
                               char *why, size_t size);

/* "Read, Write, Describe", or "none". */
void weir_kafka_ops_names(int32_t ops, char *out, size_t size);

#endif
