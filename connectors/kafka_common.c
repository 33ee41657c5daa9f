/* Shared by the Kafka source and sink (see kafka_common.h): property
 * pass-through, error text, the embedded mock cluster. */
#include "connectors/kafka_common.h"

#include <errno.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "connectors/kafka_unsafe.h"
#include "engine/loop.h"
#include "engine/pipeline.h"
#include "engine/log.h"
#include "engine/metrics.h"

#define WARN_EVERY_NS (30ull * 1000000000ull)

/* A property value as librdkafka wants it: text. A string is its own,
 * whole (a PEM in "ssl.ca.pem" is kilobytes: one cut to a buffer's size
 * passed the load and failed at rd_kafka_new); a number or a boolean is
 * written into buf (PROP_NUM bytes). NULL: none of those. */
#define PROP_NUM 32
static const char *prop_text(const json_t *v, char *buf)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, PROP_NUM, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, PROP_NUM, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, PROP_NUM, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return buf;
}

int weir_kafka_props_same(const json_t *a, const json_t *b)
{
    size_t na = json_is_object(a) ? json_object_size(a) : 0;
    size_t nb = json_is_object(b) ? json_object_size(b) : 0;
    if (na != nb)
        return 0;
    const char *name;
    const json_t *v;
    char x[PROP_NUM], y[PROP_NUM];
    json_object_foreach((json_t *)a, name, v) {
        const json_t *w = json_object_get(b, name);
        const char *tx = prop_text(v, x), *ty = w ? prop_text(w, y) : NULL;
        if (!tx || !ty || strcmp(tx, ty) != 0)
            return 0;
    }
    return 1;
}

int weir_kafka_props_check(const json_t *props, const char *const *reserved,
                           struct weir_prepare *p)
{
    char kp[512], num[PROP_NUM], errstr[512];
    if (!props)
        return 0;
    snprintf(kp, sizeof kp, "%s%skafka", p->path, p->path[0] ? "." : "");
    if (!json_is_object(props)) {
        weir_diag_add(p->diag, kp, "expected an object of librdkafka properties, e.g. "
                      "{\"security.protocol\": \"SASL_SSL\"}");
        return 1;
    }
    int bad = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *name;
    const json_t *v;
    json_object_foreach((json_t *)props, name, v) {
        snprintf(kp, sizeof kp, "%s%skafka.%s", p->path, p->path[0] ? "." : "", name);
        const char *instead = NULL;
        for (size_t i = 0; reserved && reserved[i]; i += 2)
            if (strcmp(reserved[i], name) == 0)
                instead = reserved[i + 1];
        if (instead) {
            weir_diag_add(p->diag, kp, "weir sets this property itself; %s", instead);
            bad++;
            continue;
        }
        const char *val = prop_text(v, num);
        if (!val) {
            weir_diag_add(p->diag, kp, "expected a string, number or boolean");
            bad++;
            continue;
        }
        const char *unsafe = weir_kafka_prop_unsafe(name, val);
        if (unsafe && !p->allow_unsafe_kafka) {
            weir_diag_add(p->diag, kp, "refused: %s; pass --allow-unsafe-kafka-properties to "
                          "weir run if you trust this file", unsafe);
            bad++;
        }
        if (unsafe)
            continue; /* never to librdkafka while loading: plugins load on rd_kafka_conf_set */
        if (rd_kafka_conf_set(conf, name, val, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
            weir_diag_add(p->diag, kp, "librdkafka rejects it: %s", errstr);
            bad++;
        }
    }
    rd_kafka_conf_destroy(conf);
    return bad;
}

int weir_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                        const char *what, struct weir_error *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return weir_error_set(err, -EINVAL, "%s: property %s=%s: %s", what, name, value, errstr);
    return 0;
}

static int is_security_prop(const char *name)
{
    return strncmp(name, "security.", 9) == 0 || strncmp(name, "sasl.", 5) == 0 ||
           strncmp(name, "ssl.", 4) == 0 || strncmp(name, "ssl_", 4) == 0 ||
           strcmp(name, "enable.ssl.certificate.verification") == 0 ||
           strcmp(name, "enable.sasl.oauthbearer.unsecure.jwt") == 0;
}

int weir_kafka_props_apply(rd_kafka_conf_t *conf, const json_t *props, int security_only,
                           const char *what, struct weir_error *err)
{
    char num[PROP_NUM];
    const char *name;
    const json_t *v;
    if (!json_is_object(props))
        return 0;
    json_object_foreach((json_t *)props, name, v) {
        if (security_only && !is_security_prop(name))
            continue;
        const char *val = prop_text(v, num);
        if (!val)
            return weir_error_set(err, -EINVAL, "%s: property %s: expected a string, number or "
                                  "boolean", what, name);
        int rc = weir_kafka_conf_set(conf, name, val, what, err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

double weir_kafka_txn_timeout_ms(const json_t *props)
{
    char num[PROP_NUM], *end;
    const json_t *v = json_is_object(props) ? json_object_get(props, "transaction.timeout.ms") : NULL;
    const char *val = v ? prop_text(v, num) : NULL;
    if (!val)
        return WEIR_KAFKA_TXN_TIMEOUT_MS;
    double ms = strtod(val, &end);
    return end != val && *end == 0 && ms > 0 ? ms : WEIR_KAFKA_TXN_TIMEOUT_MS;
}

int weir_kafka_error_fatal(rd_kafka_resp_err_t code)
{
    switch (code) {
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        return 1;
    default:
        return 0;
    }
}

void weir_kafka_warn(struct weir_kafka_client *cl, const char *text)
{
    uint64_t now = weir_now_ns();
    if (cl->warned_ns && now - cl->warned_ns < WARN_EVERY_NS)
        return;
    cl->warned_ns = now;
    weir_log(WEIR_LOG_WARN, "warning: %s: brokers %s: %s (librdkafka keeps retrying)\n", cl->what,
            cl->brokers, text);
}

/* librdkafka explains any connection the broker closes during the first
 * request with "might be caused by incorrect security.protocol configuration
 * ... or broker version is < 0.10": mostly it is a broker restarting or going
 * away, and a user sent to check TLS settings is misled. Keep the first part
 * (which broker, which request) and say what is likely. */
const char *weir_kafka_transport_reason(const char *reason, char *buf, size_t size)
{
    const char *hint = strstr(reason, ": might be caused by incorrect security.protocol");
    if (!hint)
        return reason;
    snprintf(buf, size,
             "%.*s: the broker closed the connection (restarting or going away?); when it never "
             "connects, check that security.protocol matches the broker's listener",
             (int)(hint - reason), reason);
    return buf;
}

const char *weir_kafka_auth_reason(const char *reason, const char *mechanism, int version,
                                   char *buf, size_t size)
{
    if (!mechanism || strncasecmp(mechanism, "SCRAM-", 6) != 0 || version >= 0x02060100)
        return reason;
    snprintf(buf, size,
             "%s (librdkafka %d.%d.%d: before 2.6.1 it cannot authenticate with SCRAM to Kafka 4.0 "
             "or later, librdkafka#4895)",
             reason, (version >> 24) & 0xff, (version >> 16) & 0xff, (version >> 8) & 0xff);
    return buf;
}

/* The client's sasl.mechanisms, or NULL. */
static const char *sasl_mechanism(rd_kafka_t *rk, char *buf, size_t size)
{
    size_t n = size;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "sasl.mechanisms", buf, &n) != RD_KAFKA_CONF_OK)
        return NULL;
    return buf;
}

/* Runs on the thread that serves the client's queue: the worker, or the
 * opener during the start-up check. */
static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    struct weir_kafka_client *cl = opaque;
    char fatal[512];
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        reason = fatal;
    } else if (code == RD_KAFKA_RESP_ERR__TRANSPORT) {
        reason = weir_kafka_transport_reason(reason, fatal, sizeof fatal);
    } else if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        char mech[64];
        reason = weir_kafka_auth_reason(reason, sasl_mechanism(rk, mech, sizeof mech),
                                        rd_kafka_version(), fatal, sizeof fatal);
    }
    snprintf(cl->last_err, sizeof cl->last_err, "%s", reason);
    cl->last_code = code;
    if (weir_kafka_error_fatal((rd_kafka_resp_err_t)code))
        cl->fatal = 1;
    else if (cl->started)
        weir_kafka_warn(cl, reason);
}

/* Whether the pass-through asked for librdkafka's own lines: "debug", or a
 * "log_level" other than weir's 4. The client's configuration does not
 * change once it exists, so any thread may read it. */
static int own_lines_wanted(const rd_kafka_t *rk)
{
    char v[64];
    size_t n = sizeof v;
    const rd_kafka_conf_t *conf = rd_kafka_conf((rd_kafka_t *)rk);
    if (rd_kafka_conf_get(conf, "debug", v, &n) == RD_KAFKA_CONF_OK && v[0])
        return 1;
    n = sizeof v;
    return rd_kafka_conf_get(conf, "log_level", v, &n) == RD_KAFKA_CONF_OK && strcmp(v, "4") != 0;
}

int weir_kafka_offset_reset_line(int level, const char *fac, const char *text, char *out,
                                 size_t size)
{
    /* the first start of a group resets too, as a debug line */
    if (level > 4 || strcmp(fac, "OFFSET") != 0 || !strstr(text, "offset reset (at offset"))
        return 0;
    if (strncmp(text, "[thrd:", 6) == 0 && strstr(text, "]: ")) /* which librdkafka thread */
        text = strstr(text, "]: ") + 3;
    snprintf(out, size,
             "%s: the brokers no longer hold that offset (deleted by retention or "
             "DeleteRecords, or the partition was re-created or truncated): the records "
             "between it and where reading goes on were never read by this pipeline",
             text);
    return 1;
}

/* Offset resets of every consumer of the process (on_log, on librdkafka's
 * threads): the warning scrolls away, a count on /metrics and in the exit
 * summary does not. */
static atomic_ullong offset_resets;
static int resets_token; /* the metrics source's ctx */

uint64_t weir_kafka_offset_resets(void)
{
    return atomic_load(&offset_resets);
}

static int resets_prometheus(void *ctx, struct weir_buf *out)
{
    (void)ctx;
    char text[400];
    int n = snprintf(text, sizeof text,
                     "# HELP weir_kafka_offset_resets_total Kafka consumer positions the brokers "
                     "no longer held (records skipped unread, see the warnings).\n"
                     "# TYPE weir_kafka_offset_resets_total counter\n"
                     "weir_kafka_offset_resets_total %llu\n",
                     (unsigned long long)weir_kafka_offset_resets());
    return weir_buf_append(out, text, (size_t)n);
}

static int resets_json(void *ctx, struct weir_buf *out)
{
    (void)ctx;
    char text[64];
    int n = snprintf(text, sizeof text, "\"kafka_offset_resets\":%llu",
                     (unsigned long long)weir_kafka_offset_resets());
    return weir_buf_append(out, text, (size_t)n);
}

static int resets_summary(void *ctx, char *out, size_t cap)
{
    (void)ctx;
    unsigned long long n = weir_kafka_offset_resets();
    if (n)
        snprintf(out, cap, "%llu Kafka offset reset%s (records skipped unread: see the warning%s)",
                 n, n == 1 ? "" : "s", n == 1 ? "" : "s");
    return n != 0;
}

/* librdkafka's own log lines, through weir's (engine/log.h): same format,
 * a level from the syslog one. Unless the pass-through asked for them only
 * one kind comes through: a consumer's offset reset after "offset out of
 * range", which skips records that were never read, and which librdkafka
 * logs as a mere warning. Called on librdkafka's threads; cl->what is
 * written before the client exists and never after. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct weir_kafka_client *cl = rd_kafka_opaque(rk);
    const char *what = cl ? cl->what : "kafka";
    char line[1024];
    if (weir_kafka_offset_reset_line(level, fac, buf, line, sizeof line)) {
        atomic_fetch_add(&offset_resets, 1);
        weir_log(WEIR_LOG_WARN, "warning: %s: %s", what, line);
        return;
    }
    if (!own_lines_wanted(rk))
        return;
    enum weir_log_level lv = level <= 3 ? WEIR_LOG_ERROR : level == 4 ? WEIR_LOG_WARN
                             : level <= 6 ? WEIR_LOG_INFO : WEIR_LOG_DEBUG;
    weir_log(lv, "%s: librdkafka %s: %s", what, fac, buf);
}

void weir_kafka_conf_common(rd_kafka_conf_t *conf, struct weir_kafka_client *cl)
{
    char errstr[256];
    /* librdkafka's own log lines (every failed connect) would bury the one line
     * weir prints; "debug" or "log_level" in the pass-through bring them back.
     * Warnings are asked for only to see offset resets (on_log). */
    rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, cl);
    /* once per process (by ctx); a full table: no count, the warnings stay */
    struct weir_metrics_source src = {resets_prometheus, resets_json, &resets_token,
                                      resets_summary};
    weir_metrics_source_add(&src);
}

static long long conf_number(rd_kafka_conf_t *conf, const char *name)
{
    char v[64];
    size_t n = sizeof v;
    return rd_kafka_conf_get(conf, name, v, &n) == RD_KAFKA_CONF_OK ? atoll(v) : 0;
}

/* The client below is a consumer, and librdkafka holds a consumer's fetch
 * sizes to rules a producer's are not: "receive.message.max.bytes", which a
 * sink sets for large messages, must be at least fetch.max.bytes (52 MB)
 * + 512, and the sink's own settings failed its start-up check. It never
 * fetches: its fetch sizes are made to agree with what the producer set. */
static int fetch_sizes_agree(rd_kafka_conf_t *conf, struct weir_kafka_client *cl,
                             struct weir_error *err)
{
    long long msg = conf_number(conf, "message.max.bytes");
    long long recv = conf_number(conf, "receive.message.max.bytes");
    if (msg <= 0)
        msg = 1000000; /* librdkafka's default */
    char v[32];
    snprintf(v, sizeof v, "%lld", msg);
    int rc = weir_kafka_conf_set(conf, "fetch.max.bytes", v, cl->what, err);
    if (rc == 0)
        rc = weir_kafka_conf_set(conf, "max.partition.fetch.bytes", v, cl->what, err);
    if (rc == 0 && recv < msg + 512) {
        snprintf(v, sizeof v, "%lld", msg + 512);
        rc = weir_kafka_conf_set(conf, "receive.message.max.bytes", v, cl->what, err);
    }
    return rc;
}

rd_kafka_t *weir_kafka_metadata_client(struct weir_kafka_client *cl, const char *brokers,
                                        const json_t *security, const json_t *props,
                                        struct weir_error *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = weir_kafka_conf_set(conf, "bootstrap.servers", brokers, cl->what, err);
    if (rc == 0)
        rc = weir_kafka_props_apply(conf, security, 1, cl->what, err);
    if (rc == 0)
        rc = weir_kafka_props_apply(conf, props, 0, cl->what, err);
    /* Last, over the pipeline's own: a Metadata request for a missing topic
     * must not make it, and nothing is ever committed. */
    if (rc == 0)
        rc = weir_kafka_conf_set(conf, "allow.auto.create.topics", "false", cl->what, err);
    if (rc == 0)
        rc = weir_kafka_conf_set(conf, "enable.auto.commit", "false", cl->what, err);
    if (rc == 0)
        rc = fetch_sizes_agree(conf, cl, err);
    if (rc < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    weir_kafka_conf_common(conf, cl);
    char msg[512];
    /* A consumer handle that never subscribes or assigns: librdkafka asks for
     * metadata without auto-creation only from consumers. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, msg, sizeof msg); /* owns conf */
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        weir_error_set(err, -EINVAL, "%s: %s", cl->what, msg);
    }
    return rk;
}

int weir_kafka_precheck_topics(const char *what, const char *brokers, const json_t *security,
                               const json_t *props, const char *const *topics, size_t ntopics,
                               uint64_t timeout_ns, size_t *bad, struct weir_error *err)
{
    struct weir_kafka_client cl = {0};
    snprintf(cl.what, sizeof cl.what, "%s", what);
    snprintf(cl.brokers, sizeof cl.brokers, "%s", brokers);
    *bad = ntopics;
    rd_kafka_t *rk = weir_kafka_metadata_client(&cl, brokers, security, props, err);
    if (!rk)
        return err && err->code < 0 ? err->code : -EINVAL;
    int rc = 0;
    for (size_t i = 0; i < ntopics && rc == 0; i++)
        if ((rc = weir_kafka_check_topics(rk, &cl, &topics[i], 1, timeout_ns, err)) < 0)
            *bad = i;
    rd_kafka_destroy(rk);
    return rc;
}

/* The embedded cluster: one per process, shared by every worker's clients,
 * counted. The one piece of process-wide state in the connectors. */
static struct {
    pthread_mutex_t lock;
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;
    int refs;
} embedded = {PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0};

static int embedded_acquire(struct weir_kafka_client *cl, const char *const *topics,
                            size_t ntopics, struct weir_error *err)
{
    char errstr[256];
    int rc = 0;
    pthread_mutex_lock(&embedded.lock);
    if (!embedded.mc) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof errstr);
        embedded.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr); /* owns conf */
        if (!embedded.rk) {
            rd_kafka_conf_destroy(conf);
            rc = weir_error_set(err, -EIO, "%s: cannot start the embedded Kafka cluster: %s",
                                cl->what, errstr);
            goto out;
        }
        embedded.mc = rd_kafka_mock_cluster_new(embedded.rk, 1);
        if (!embedded.mc) {
            rd_kafka_destroy(embedded.rk);
            embedded.rk = NULL;
            rc = weir_error_set(err, -EIO, "%s: cannot start the embedded Kafka cluster "
                                "(librdkafka's mock cluster)", cl->what);
            goto out;
        }
    }
    embedded.refs++;
    cl->embedded = 1;
    snprintf(cl->brokers, sizeof cl->brokers, "%s", rd_kafka_mock_cluster_bootstraps(embedded.mc));
    for (size_t i = 0; i < ntopics; i++) /* exists already: fine */
        rd_kafka_mock_topic_create(embedded.mc, topics[i], WEIR_KAFKA_EMBEDDED_PARTITIONS, 1);
out:
    pthread_mutex_unlock(&embedded.lock);
    return rc;
}

int weir_kafka_brokers_resolve(struct weir_kafka_client *cl, const char *brokers,
                               const char *const *topics, size_t ntopics, struct weir_error *err)
{
    if (strcmp(brokers, "embedded") == 0)
        return embedded_acquire(cl, topics, ntopics, err);
    snprintf(cl->brokers, sizeof cl->brokers, "%s", brokers);
    return 0;
}

int weir_kafka_embedded_bootstraps(char *out, size_t size)
{
    pthread_mutex_lock(&embedded.lock);
    int rc = embedded.mc ? 0 : -ENOENT;
    if (embedded.mc)
        snprintf(out, size, "%s", rd_kafka_mock_cluster_bootstraps(embedded.mc));
    pthread_mutex_unlock(&embedded.lock);
    return rc;
}

int weir_kafka_embedded_topic_create(const char *name, int partitions)
{
    pthread_mutex_lock(&embedded.lock);
    int rc = -ENOENT;
    if (embedded.mc)
        rc = rd_kafka_mock_topic_create(embedded.mc, name, partitions, 1) ? -EIO : 0;
    pthread_mutex_unlock(&embedded.lock);
    return rc;
}

void weir_kafka_client_release(struct weir_kafka_client *cl)
{
    if (!cl->embedded)
        return;
    cl->embedded = 0;
    pthread_mutex_lock(&embedded.lock);
    if (--embedded.refs == 0) {
        rd_kafka_mock_cluster_destroy(embedded.mc);
        rd_kafka_destroy(embedded.rk);
        embedded.mc = NULL;
        embedded.rk = NULL;
    }
    pthread_mutex_unlock(&embedded.lock);
}

int weir_kafka_check_topics(rd_kafka_t *rk, struct weir_kafka_client *cl,
                            const char *const *topics, size_t ntopics, uint64_t timeout_ns,
                            struct weir_error *err)
{
    int timeout_ms = (int)(timeout_ns / 1000000u);
    for (size_t i = 0; i < ntopics; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms)
                                    : rd_kafka_last_error();
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        rd_kafka_poll(rk, 0); /* serve error events: their reason goes in the message */
        if (e) {
            int code = cl->last_code == RD_KAFKA_RESP_ERR__AUTHENTICATION ? -EACCES : -EHOSTUNREACH;
            return weir_error_set(err, code,
                                  "%s: cannot get metadata for topic \"%s\" from Kafka brokers "
                                  "%s within %.1f s: %s%s%s",
                                  cl->what, topics[i], cl->brokers, (double)timeout_ms / 1000.0,
                                  rd_kafka_err2str(e), cl->last_err[0] ? "; librdkafka: " : "",
                                  cl->last_err);
        }
        rd_kafka_resp_err_t te = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        int nparts = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(md);
        if (te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || te == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
            (!te && nparts == 0))
            return weir_error_set(err, -ENOENT,
                                  "%s: topic \"%s\" does not exist on Kafka brokers %s (weir does "
                                  "not create topics: create it first)",
                                  cl->what, topics[i], cl->brokers);
        if (te)
            return weir_error_set(err, te == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ? -EACCES : -EIO,
                                  "%s: topic \"%s\" on Kafka brokers %s: %s", cl->what, topics[i],
                                  cl->brokers, rd_kafka_err2str(te));
    }
    return 0;
}

const struct weir_kafka_source_conf *weir_kafka_source_conf_of(const struct weir_pipeline *pl)
{
    return pl->source_type == &weir_source_kafka ? pl->source_conf : NULL;
}

void weir_kafka_transactional_id(const struct weir_pipeline *pl, int w, char *out, size_t size)
{
    const struct weir_kafka_source_conf *c = weir_kafka_source_conf_of(pl);
    if (c && c->transactional_id) {
        snprintf(out, size, "%s-%d", c->transactional_id, w);
        return;
    }
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    if (c && c->group)
        snprintf(out, size, "%s-%s-%d", c->group, host, w);
    else
        snprintf(out, size, "weir-%s-%s-%d", pl->name, host, w);
}
