/* The changelog topic's start-up check (kafka_changelog.c): it exists,
 * compacted, with a partition for every partition of the source's topics.
 * Missing, it is created (the Admin API's CreateTopics, or directly on the
 * embedded cluster). Runs before the loop does, so it blocks, up to the
 * source's connect_timeout per request. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "connectors/kafka_common.h"
#include "engine/loop.h"
#include "engine/log.h"

/* Partitions of topic, 0 when it does not exist, or -errno (err filled). */
static int partitions_of(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *topic,
                         int timeout_ms, struct weir_error *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms)
                                : rd_kafka_last_error();
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e)
        return weir_error_set(err, -EHOSTUNREACH, "%s: cannot get metadata for topic \"%s\" from "
                              "Kafka brokers %s within %.1f s: %s%s%s", cl->what, topic,
                              cl->brokers, timeout_ms / 1000.0, rd_kafka_err2str(e),
                              cl->last_err[0] ? "; librdkafka: " : "", cl->last_err);
    rd_kafka_resp_err_t te = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || te == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        return 0;
    if (te && !(te == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE && n > 0)) /* just created: fine */
        return weir_error_set(err, te == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ? -EACCES : -EIO,
                              "%s: topic \"%s\" on Kafka brokers %s: %s", cl->what, topic,
                              cl->brokers, rd_kafka_err2str(te));
    return n;
}

/* One admin request: its options and the queue its result comes back on. */
struct admin {
    rd_kafka_t *rk;
    rd_kafka_AdminOptions_t *o;
    rd_kafka_queue_t *q;
};

static void admin_begin(struct admin *a, rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms)
{
    char errstr[256];
    a->rk = rk;
    a->o = rd_kafka_AdminOptions_new(rk, op);
    a->q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_set_request_timeout(a->o, timeout_ms, errstr, sizeof errstr);
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS) /* the answer waits until the topic is created */
        rd_kafka_AdminOptions_set_operation_timeout(a->o, timeout_ms, errstr, sizeof errstr);
}

/* The request's result event (the caller destroys it), or NULL with why filled. */
static rd_kafka_event_t *admin_wait(struct admin *a, int timeout_ms, char *why, size_t size)
{
    /* The request's own timeout answers first; this is a backstop. */
    rd_kafka_event_t *ev = rd_kafka_queue_poll(a->q, timeout_ms + 2000);
    if (!ev) {
        snprintf(why, size, "no answer within %.1f s", timeout_ms / 1000.0);
    } else if (rd_kafka_event_error(ev)) {
        snprintf(why, size, "%s", rd_kafka_event_error_string(ev));
        rd_kafka_event_destroy(ev);
        ev = NULL;
    }
    return ev;
}

static void admin_end(struct admin *a)
{
    rd_kafka_queue_destroy(a->q);
    rd_kafka_AdminOptions_destroy(a->o);
}

/* CreateTopics: compacted, the broker's default replication factor (-1 needs
 * Kafka 2.4). Another process creating it first is fine. */
static int create(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *name, int partitions,
                  int timeout_ms, struct weir_error *err)
{
    char errstr[512], why[512] = "";
    rd_kafka_resp_err_t code = 0;
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, partitions, -1, errstr, sizeof errstr);
    if (!nt)
        snprintf(why, sizeof why, "%s", errstr);
    else if (rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact"))
        snprintf(why, sizeof why, "cannot set cleanup.policy=compact");
    if (!why[0]) {
        struct admin a;
        admin_begin(&a, rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
        rd_kafka_CreateTopics(rk, &nt, 1, a.o, a.q);
        rd_kafka_event_t *ev = admin_wait(&a, timeout_ms, why, sizeof why);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **res =
            ev ? rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt)
               : NULL;
        if (ev && cnt != 1) {
            snprintf(why, sizeof why, "unexpected answer (%zu topics)", cnt);
        } else if (ev && (code = rd_kafka_topic_result_error(res[0])) &&
                   code != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *s = rd_kafka_topic_result_error_string(res[0]);
            snprintf(why, sizeof why, "%s", s ? s : rd_kafka_err2str(code));
        }
        if (ev)
            rd_kafka_event_destroy(ev);
        admin_end(&a);
    }
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (!why[0])
        return 0;
    int denied = code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                 code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED;
    return weir_error_set(err, denied ? -EACCES : -EIO,
                          "%s: cannot create the changelog topic \"%s\" on Kafka brokers %s: %s "
                          "(create it with cleanup.policy=compact and at least %d partitions, or "
                          "allow weir to create topics)",
                          cl->what, name, cl->brokers, why, partitions);
}

int weir_kafka_changelog_compacted(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *name,
                                   int timeout_ms, struct weir_error *err)
{
    char why[512] = "";
    const char *policy = NULL, *retention = NULL, *bytes = NULL;
    struct admin a;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name);
    admin_begin(&a, rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_DescribeConfigs(rk, &cr, 1, a.o, a.q);
    rd_kafka_event_t *ev = admin_wait(&a, timeout_ms, why, sizeof why);
    size_t cnt = 0, nent = 0;
    const rd_kafka_ConfigResource_t **rs =
        ev ? rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &cnt)
           : NULL;
    if (ev && cnt != 1) {
        snprintf(why, sizeof why, "unexpected answer (%zu resources)", cnt);
    } else if (ev && rd_kafka_ConfigResource_error(rs[0])) {
        snprintf(why, sizeof why, "%s", rd_kafka_ConfigResource_error_string(rs[0]));
    } else if (ev) {
        const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(rs[0], &nent);
        for (size_t i = 0; i < nent; i++) {
            if (strcmp(rd_kafka_ConfigEntry_name(ents[i]), "cleanup.policy") == 0)
                policy = rd_kafka_ConfigEntry_value(ents[i]);
            if (strcmp(rd_kafka_ConfigEntry_name(ents[i]), "retention.ms") == 0)
                retention = rd_kafka_ConfigEntry_value(ents[i]);
            if (strcmp(rd_kafka_ConfigEntry_name(ents[i]), "retention.bytes") == 0)
                bytes = rd_kafka_ConfigEntry_value(ents[i]);
        }
    }
    int rc = 0;
    if (why[0]) {
        snprintf(err->msg, sizeof err->msg,
                 "%s: cannot check that changelog topic \"%s\" on "
                 "brokers %s is compacted (DescribeConfigs): %s",
                 cl->what, name, cl->brokers, why);
        rc = 1;
    } else if (!policy || !strstr(policy, "compact")) {
        rc = weir_error_set(err, -EINVAL, "%s: changelog topic \"%s\" on Kafka brokers %s has "
                            "cleanup.policy=%s: retention would delete operator state; set "
                            "cleanup.policy=compact on it (kafka-configs --alter --add-config "
                            "cleanup.policy=compact) or name another topic",
                            cl->what, name, cl->brokers, policy ? policy : "(unknown)");
    } else if (strstr(policy, "delete") &&
               !(retention && strcmp(retention, "-1") == 0 && bytes && strcmp(bytes, "-1") == 0)) {
        /* compact,delete: a key no record rewrote within retention.ms (or
         * past retention.bytes) loses its state, while the offsets that
         * built it stay committed */
        rc = weir_error_set(err, -EINVAL,
                            "%s: changelog topic \"%s\" on Kafka brokers %s has "
                            "cleanup.policy=%s, retention.ms=%s and retention.bytes=%s: retention "
                            "would delete the state of keys idle that long; set "
                            "cleanup.policy=compact on it (or both retentions to -1) or name "
                            "another topic",
                            cl->what, name, cl->brokers, policy,
                            retention ? retention : "(unknown)", bytes ? bytes : "(unknown)");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    admin_end(&a);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

/* One worker at a time in this process: the first creates the topic, the
 * others find it. Other processes racing us get TOPIC_ALREADY_EXISTS. */
static pthread_mutex_t ensure_lock = PTHREAD_MUTEX_INITIALIZER;

static int ensure_locked(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *name, int need,
                         const char *widest, int timeout_ms, struct weir_error *err)
{
    int n = partitions_of(rk, cl, name, timeout_ms, err);
    if (n == 0) {
        int rc = cl->embedded ? weir_kafka_embedded_topic_create(name, need)
                              : create(rk, cl, name, need, timeout_ms, err);
        if (rc < 0 && cl->embedded)
            return weir_error_set(err, rc, "%s: cannot create changelog topic \"%s\" on the "
                                  "embedded cluster", cl->what, name);
        if (rc < 0)
            return rc;
        /* Metadata lags the creation a little, even on one broker. */
        uint64_t deadline = weir_now_ns() + (uint64_t)timeout_ms * 1000000u;
        while ((n = partitions_of(rk, cl, name, timeout_ms, err)) == 0 && weir_now_ns() < deadline)
            nanosleep(&(struct timespec){0, 50 * 1000000}, NULL);
        if (n == 0)
            return weir_error_set(err, -EIO, "%s: created changelog topic \"%s\" on Kafka brokers "
                                  "%s, but its metadata did not show it within %.1f s", cl->what,
                                  name, cl->brokers, timeout_ms / 1000.0);
    }
    if (n < 0)
        return n;
    if (n < need)
        return weir_error_set(err, -EINVAL, "%s: changelog topic \"%s\" on brokers %s has %d "
                              "partitions; the source topic \"%s\" has %d: the state of its "
                              "partitions %d and up would have nowhere to go (add partitions: "
                              "kafka-topics --alter --partitions %d, or name another topic)",
                              cl->what, name, cl->brokers, n, widest, need, n, need);
    /* The mock cluster answers no DescribeConfigs (and compacts nothing). */
    struct weir_error why = {0};
    int rc = cl->embedded ? 0 : weir_kafka_changelog_compacted(rk, cl, name, timeout_ms, &why);
    if (rc > 0) /* the topic may well be right */
        weir_log(WEIR_LOG_WARN, "warning: %s\n", why.msg);
    if (rc < 0)
        *err = why;
    return rc < 0 ? rc : n;
}

int weir_kafka_changelog_topic(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *name,
                               const char *const *topics, size_t ntopics, uint64_t timeout_ns,
                               struct weir_error *err)
{
    int timeout_ms = (int)(timeout_ns / 1000000u);
    int rc = weir_kafka_check_topics(rk, cl, topics, ntopics, timeout_ns, err);
    if (rc < 0)
        return rc;
    int need = 0;
    const char *widest = NULL;
    for (size_t i = 0; i < ntopics; i++) {
        int n = partitions_of(rk, cl, topics[i], timeout_ms, err);
        if (n < 0)
            return n;
        if (n > need) {
            need = n;
            widest = topics[i];
        }
    }
    pthread_mutex_lock(&ensure_lock);
    rc = ensure_locked(rk, cl, name, need, widest, timeout_ms, err);
    pthread_mutex_unlock(&ensure_lock);
    return rc;
}
