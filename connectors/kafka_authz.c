/* What the brokers let this client do (KIP-430 authorized operations), for
 * `weir check`: Metadata v8 with the topics' operations, FindCoordinator v2
 * and DescribeGroups v3 with the group's. Nothing is produced, consumed or
 * committed, and no group is joined. The brokers' own authorizer answers,
 * so super users, allow.everyone.if.no.acl.found and authorizers that are
 * not ACLs are all taken into account (no authorizer: everything). */
#include "connectors/kafka_authz.h"

#include "connectors/kafka_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { API_METADATA = 3, API_FIND_COORDINATOR = 10, API_DESCRIBE_GROUPS = 15 };
enum {
    ERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
    ERR_COORDINATOR_NOT_AVAILABLE = 15,
    ERR_TOPIC_AUTHORIZATION_FAILED = 29,
    ERR_GROUP_AUTHORIZATION_FAILED = 30,
    ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
};

void weir_kafka_ops_names(int32_t ops, char *out, size_t size)
{
    static const char *const names[] = {"Read",  "Write",         "Create",
                                        "Delete", "Alter",        "Describe",
                                        "ClusterAction", "DescribeConfigs", "AlterConfigs",
                                        "IdempotentWrite"};
    size_t n = 0;
    out[0] = 0;
    for (int op = WEIR_KAFKA_OP_READ; op <= 12; op++)
        if (ops & (1 << op) && n < size)
            n += (size_t)snprintf(out + n, size - n, "%s%s", n ? ", " : "",
                                  names[op - WEIR_KAFKA_OP_READ]);
    if (!out[0])
        snprintf(out, size, "none");
}

static void skip_int32_array(struct weir_kread *r)
{
    int32_t n = weir_kread32(r);
    if (n > 0)
        weir_kread_skip(r, (size_t)n * 4);
}

int weir_kafka_metadata_ops(struct weir_kread *r, const char *const *topics, size_t n,
                            int32_t *ops)
{
    weir_kread32(r); /* throttle */
    for (int32_t b = weir_kread32(r); b > 0 && !r->bad; b--) {
        weir_kread32(r);
        weir_kread_str(r, NULL, 0);
        weir_kread32(r);
        weir_kread_str(r, NULL, 0);
    }
    weir_kread_str(r, NULL, 0); /* cluster id */
    weir_kread32(r);            /* controller */
    for (int32_t t = weir_kread32(r); t > 0 && !r->bad; t--) {
        int16_t err = weir_kread16(r);
        char name[256];
        weir_kread_str(r, name, sizeof name);
        weir_kread_skip(r, 1);
        for (int32_t q = weir_kread32(r); q > 0 && !r->bad; q--) {
            weir_kread_skip(r, 2 + 4 + 4 + 4);
            skip_int32_array(r);
            skip_int32_array(r);
            skip_int32_array(r);
        }
        int32_t allowed = weir_kread32(r);
        for (size_t i = 0; i < n && !r->bad; i++)
            if (strcmp(topics[i], name) == 0)
                ops[i] = err == ERR_TOPIC_AUTHORIZATION_FAILED ? 0
                         : err                                 ? WEIR_KAFKA_OPS_UNKNOWN
                                                               : allowed;
    }
    return r->bad ? -1 : 0;
}

/* Metadata v8: each topic's authorized operations. */
static int topics_ops(struct weir_kprobe *p, const char *const *topics, size_t n, int32_t *ops,
                      char *why, size_t size)
{
    struct weir_kwrite w = {0};
    weir_kwrite32(&w, (int32_t)n);
    for (size_t i = 0; i < n; i++)
        weir_kwrite_str(&w, topics[i]);
    weir_kwrite8(&w, 0); /* allow_auto_topic_creation */
    weir_kwrite8(&w, 0); /* include_cluster_authorized_operations */
    weir_kwrite8(&w, 1); /* include_topic_authorized_operations */
    struct weir_kread r;
    if (weir_kprobe_call(p, API_METADATA, 8, &w, &r, why, size) < 0)
        return -1;
    int rc = weir_kafka_metadata_ops(&r, topics, n, ops);
    free((void *)r.p);
    if (rc < 0)
        snprintf(why, size, "%s:%d: a Metadata answer out of shape", p->host, p->port);
    return rc;
}

int weir_kafka_coordinator_read(struct weir_kread *r, char *host, size_t hsize, int *port, int *err)
{
    weir_kread32(r);
    *err = weir_kread16(r);
    weir_kread_str(r, NULL, 0);
    weir_kread32(r);
    weir_kread_str(r, host, hsize);
    *port = weir_kread32(r);
    return r->bad ? -1 : 0;
}

int weir_kafka_group_ops_read(struct weir_kread *r, int32_t *ops, int *err)
{
    weir_kread32(r);
    int32_t ng = weir_kread32(r);
    *err = weir_kread16(r);
    for (int s = 0; s < 4; s++)
        weir_kread_str(r, NULL, 0); /* id, state, protocol type and data */
    for (int32_t m = weir_kread32(r); m > 0 && !r->bad; m--) {
        for (int s = 0; s < 3; s++)
            weir_kread_str(r, NULL, 0);
        for (int b = 0; b < 2; b++) {
            int32_t len = weir_kread32(r);
            weir_kread_skip(r, len > 0 ? (size_t)len : 0);
        }
    }
    *ops = weir_kread32(r);
    return r->bad || ng != 1 ? -1 : 0;
}

/* FindCoordinator v2: the coordinator of a group or transactional id; 1
 * when it may not even be described (ops known: none), -2 when the
 * coordinator is not available yet. */
static int coordinator(struct weir_kprobe *p, const char *key, int8_t key_type, char *host,
                       size_t hsize, int *port, char *why, size_t size)
{
    struct weir_kwrite w = {0};
    weir_kwrite_str(&w, key);
    weir_kwrite8(&w, key_type); /* 0: a group, 1: a transactional id */
    struct weir_kread r;
    if (weir_kprobe_call(p, API_FIND_COORDINATOR, 2, &w, &r, why, size) < 0)
        return -1;
    int err = 0, bad = weir_kafka_coordinator_read(&r, host, hsize, port, &err) < 0;
    free((void *)r.p);
    if (!bad &&
        (err == ERR_GROUP_AUTHORIZATION_FAILED || err == ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED))
        return 1;
    if (bad || err) {
        snprintf(why, size, "%s:%d: no coordinator for %s \"%s\" (%s%d)", p->host, p->port,
                 key_type ? "transactional id" : "group", key,
                 bad ? "an answer out of shape, " : "error ", err);
        return !bad && (err == ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                        err == ERR_COORDINATOR_NOT_AVAILABLE)
                   ? -2
                   : -1;
    }
    return 0;
}

/* DescribeGroups v3 on the coordinator: the group's authorized operations. */
static int group_ops_at(struct weir_kprobe *p, const char *group, int32_t *ops, char *why,
                        size_t size)
{
    struct weir_kwrite w = {0};
    weir_kwrite32(&w, 1);
    weir_kwrite_str(&w, group);
    weir_kwrite8(&w, 1); /* include_authorized_operations */
    struct weir_kread r;
    if (weir_kprobe_call(p, API_DESCRIBE_GROUPS, 3, &w, &r, why, size) < 0)
        return -1;
    int32_t allowed;
    int err = 0, bad = weir_kafka_group_ops_read(&r, &allowed, &err) < 0;
    free((void *)r.p);
    if (!bad && err == ERR_GROUP_AUTHORIZATION_FAILED) {
        *ops = 0;
        return 0;
    }
    if (bad || err) {
        snprintf(why, size, "%s:%d: group \"%s\" not described (%s%d)", p->host, p->port,
                 group, bad ? "an answer out of shape, " : "error ", err);
        return !bad && (err == ERR_COORDINATOR_LOAD_IN_PROGRESS ||
                        err == ERR_COORDINATOR_NOT_AVAILABLE)
                   ? -2
                   : -1;
    }
    *ops = allowed;
    return 0;
}

/* The coordinator found may still be loading its offsets partition (a
 * fresh cluster, a coordinator that just moved): asked again, as clients
 * do, within the timeout. */
static int group_ops_retried(struct weir_kprobe *p, const char *group, int32_t *ops, char *why,
                             size_t size)
{
    int rc = -1;
    for (int waited = 0; waited <= p->timeout_ms; waited += 200) {
        if ((rc = group_ops_at(p, group, ops, why, size)) != -2)
            break;
        usleep(200 * 1000);
    }
    return rc < 0 ? -1 : rc;
}

/* A fresh cluster makes its offsets topic on the first FindCoordinator and
 * answers "not available" meanwhile, as a coordinator still loading does:
 * asked again, as clients do, within the timeout. */
static int coordinator_retried(struct weir_kprobe *p, const char *key, int8_t key_type,
                               char *host, size_t hsize, int *port, char *why, size_t size)
{
    int rc = -1;
    for (int waited = 0; waited <= p->timeout_ms; waited += 200) {
        if ((rc = coordinator(p, key, key_type, host, hsize, port, why, size)) != -2)
            break;
        usleep(200 * 1000);
    }
    return rc;
}

static int group_ops(struct weir_kprobe *p, const struct weir_kprobe_conf *c, const char *group,
                     int32_t *ops, char *why, size_t size)
{
    char host[256];
    int port, rc = coordinator_retried(p, group, 0, host, sizeof host, &port, why, size);
    if (rc != 0) {
        *ops = 0;
        return rc == 1 ? 0 : -1;
    }
    if (strcmp(host, p->host) == 0 && port == p->port)
        return group_ops_retried(p, group, ops, why, size);
    struct weir_kprobe q;
    if (weir_kprobe_open(&q, c, host, port, p->timeout_ms, why, size) < 0)
        return -1;
    rc = group_ops_retried(&q, group, ops, why, size);
    weir_kprobe_close(&q);
    return rc;
}

int weir_kafka_authorized(const struct weir_kafka_authz_ask *a, int32_t *topic_ops,
                          int32_t *group_ops_out, char *why, size_t size)
{
    struct weir_kprobe_conf c;
    for (size_t i = 0; i < a->ntopics; i++)
        topic_ops[i] = WEIR_KAFKA_OPS_UNKNOWN;
    if (group_ops_out)
        *group_ops_out = WEIR_KAFKA_OPS_UNKNOWN;
    if (weir_kprobe_conf_read(&c, a->security, a->props, why, size) < 0)
        return -1;
    struct weir_kprobe p;
    if (weir_kprobe_open_list(&p, &c, a->brokers, a->timeout_ms, why, size) < 0)
        return -1;
    int rc = a->ntopics ? topics_ops(&p, a->topics, a->ntopics, topic_ops, why, size) : 0;
    /* The topics' answer stands when the group's cannot be had: it stays
     * unknown, and why says why. */
    if (rc == 0 && a->group && group_ops_out &&
        group_ops(&p, &c, a->group, group_ops_out, why, size) < 0)
        *group_ops_out = WEIR_KAFKA_OPS_UNKNOWN;
    weir_kprobe_close(&p);
    return rc;
}

int weir_kafka_txn_describable(const struct weir_kafka_authz_ask *a, const char *txn_id,
                               char *why, size_t size)
{
    struct weir_kprobe_conf c;
    struct weir_kprobe p;
    if (weir_kprobe_conf_read(&c, a->security, a->props, why, size) < 0 ||
        weir_kprobe_open_list(&p, &c, a->brokers, a->timeout_ms, why, size) < 0)
        return -1;
    char host[256];
    int port, rc = coordinator_retried(&p, txn_id, 1, host, sizeof host, &port, why, size);
    weir_kprobe_close(&p);
    return rc == 1 ? 0 : rc == 0 ? 1 : -1;
}
