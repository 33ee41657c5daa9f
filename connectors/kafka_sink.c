/* The Kafka sink: an asynchronous idempotent producer per worker and sink.
 *
 * Each record the sink wants becomes one message: the input JSON object with
 * the computed fields appended (engine/output.h), the input's key, and a
 * "weir-pipeline" header. Each message holds the batch's ticket until its
 * delivery report: the acknowledgement that lets the source store the input
 * offset. A failed delivery (after librdkafka's own retries, up to
 * message.timeout.ms) fails the worker, so nothing past it is committed.
 *
 * Used as "dead_letter", each dead record becomes the dead-letter JSON
 * (reason, source coordinates, raw bytes) with headers weir-reason,
 * weir-source-topic, weir-source-partition and weir-source-offset.
 *
 * Delivery reports wake the worker's loop through the producer main queue's
 * eventfd; flush() serves them and returns rd_kafka_outq_len(). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/buf.h"
#include "engine/loop.h"
#include "engine/output.h"
#include "engine/worker.h"

enum { KEY_SOURCE, KEY_NONE };

struct kafka_sink_conf {
    const char *brokers;
    const char *topic;
    int key;
    uint64_t connect_timeout_ns;
    const json_t *kafka;
};

#define CONF(f) offsetof(struct kafka_sink_conf, f)
static const struct weir_option kafka_sink_options[] = {
    {"brokers", WEIR_OPT_STRING, NULL,
     "bootstrap servers, or \"embedded\" (default: the kafka source's brokers and its security.*, "
     "sasl.* and ssl.* properties; required when the source is not kafka)",
     CONF(brokers), 0, 0, 0, NULL},
    {"topic", WEIR_OPT_STRING, NULL, "topic to produce to (it must exist)", CONF(topic),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"key", WEIR_OPT_ENUM, "\"source\"", "message key: source (the input message's key) or none",
     CONF(key), 0, 0, 0, "source|none"},
    {"connect_timeout", WEIR_OPT_DURATION, "\"10s\"",
     "at start: how long to wait for the brokers and the topic's metadata before failing",
     CONF(connect_timeout_ns), 0, 0, 0, NULL},
    {"kafka", WEIR_OPT_JSON, NULL, "librdkafka producer properties, passed through (docs/kafka.md)",
     CONF(kafka), 0, 0, 0, NULL},
    {0},
};

static const char *const reserved_props[] = {
    "bootstrap.servers", "use the sink's \"brokers\"",
    "metadata.broker.list", "use the sink's \"brokers\"",
    "enable.idempotence", "weir always uses the idempotent producer",
    "transactional.id", "transactions are not supported yet",
    NULL, NULL,
};

struct kafka_sink {
    struct weir_kafka_client cl; /* first: the client's opaque */
    struct weir_sink *s;
    const struct kafka_sink_conf *c;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    rd_kafka_queue_t *mainq;
    int efd;
    struct weir_event poll_ev;
    int poll_armed;
    struct weir_buf buf;  /* one message being formatted */
    int busy_at;          /* messages in the producer's queue past which the source pauses */
    uint64_t delivered, failed;
};

static int prepare(void *conf, const json_t *raw, struct weir_prepare *p)
{
    struct kafka_sink_conf *c = conf;
    char kp[256];
    int bad = 0;
    if (c->topic && !c->topic[0]) {
        weir_diag_add(p->diag, weir_path_key(kp, sizeof kp, p->path, "topic"), "expected a topic name");
        bad++;
    }
    return bad + weir_kafka_props_check(c->kafka, reserved_props, p);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kafka_sink *ks = opaque;
    struct weir_ticket *t = m->_private;
    if (m->err) {
        if (ks->failed++ == 0 && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
            m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
            struct weir_error e;
            weir_error_set(&e, -EIO, "%s: delivery to topic \"%s\" on brokers %s failed: %s",
                           ks->cl.what, ks->c->topic, ks->cl.brokers, rd_kafka_err2str(m->err));
            weir_worker_fail(ks->s->worker, &e);
        }
    } else {
        ks->delivered++;
    }
    if (t)
        weir_ticket_release(t, m->err == 0);
}

static void check_fatal(struct kafka_sink *ks)
{
    if (!ks->cl.fatal || ks->s->worker->failed)
        return;
    struct weir_error e;
    weir_error_set(&e, -EIO, "%s: topic \"%s\" on brokers %s: %s", ks->cl.what, ks->c->topic,
                   ks->cl.brokers, ks->cl.last_err);
    weir_worker_fail(ks->s->worker, &e);
}

static void arm_poll(struct kafka_sink *ks)
{
    if (!ks->poll_armed && weir_loop_poll(ks->s->worker->loop, ks->efd, POLLIN, &ks->poll_ev) == 0)
        ks->poll_armed = 1;
}

static void on_poll(struct weir_event *ev, int res)
{
    struct kafka_sink *ks = (struct kafka_sink *)((char *)ev - offsetof(struct kafka_sink, poll_ev));
    uint64_t v;
    ks->poll_armed = 0;
    if (read(ks->efd, &v, sizeof v) < 0) {
        /* nothing to read: a spurious wake-up */
    }
    rd_kafka_poll(ks->rk, 0); /* delivery reports and errors, all that are queued */
    check_fatal(ks);
    arm_poll(ks);
}

static int add_header_int(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char num[32];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    return rd_kafka_header_add(h, name, -1, num, n) ? -1 : 0;
}

static rd_kafka_headers_t *headers_for(struct kafka_sink *ks, const struct weir_batch *b, uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    int dead = ks->s->when == WEIR_WHEN_DEAD;
    rd_kafka_headers_t *h = rd_kafka_headers_new(dead ? 5 : 1);
    const char *name = ks->s->worker->pl->name;
    rd_kafka_header_add(h, "weir-pipeline", -1, name, -1);
    if (dead) {
        const char *reason = r->reason ? r->reason : "rejected";
        rd_kafka_header_add(h, "weir-reason", -1, reason, -1);
        rd_kafka_header_add(h, "weir-source-topic", -1,
                            weir_kafka_record_topic(&ks->s->worker->source, r), -1);
        add_header_int(h, "weir-source-partition", r->partition);
        add_header_int(h, "weir-source-offset", r->offset);
    }
    return h;
}

static int produce_one(struct kafka_sink *ks, const struct weir_batch *b, uint32_t i,
                       struct weir_ticket *t)
{
    struct weir_sink *s = ks->s;
    const struct weir_record *r = &b->rec[i];
    int dead = s->when == WEIR_WHEN_DEAD;
    ks->buf.len = 0;
    int rc = dead ? weir_output_dead(&ks->buf, b, i, weir_kafka_record_topic(&s->worker->source, r))
                  : weir_output_record(&ks->buf, s->output, b, i);
    if (rc < 0)
        return rc;
    size_t len = ks->buf.len > 0 ? ks->buf.len - 1 : 0; /* without the '\n' */
    const void *key = ks->c->key == KEY_SOURCE ? r->key : NULL;
    size_t key_len = key ? r->key_len : 0;
    rd_kafka_headers_t *h = headers_for(ks, b, i);
    if (t)
        weir_ticket_hold(t); /* released by on_delivery */
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            ks->rk, RD_KAFKA_V_RKT(ks->rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(ks->buf.data, len),
            RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(t),
            RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0; /* the headers belong to the message now */
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !s->worker->failed) {
            /* busy() should have paused the source before this: serve delivery
             * reports to make room (librdkafka's advice) rather than drop. */
            rd_kafka_poll(ks->rk, 10);
            check_fatal(ks);
            continue;
        }
        rd_kafka_headers_destroy(h);
        if (t)
            weir_ticket_release(t, 0);
        if (!s->worker->failed) {
            struct weir_error err;
            weir_error_set(&err, -EIO, "%s: produce to topic \"%s\": %s", ks->cl.what, ks->c->topic,
                           rd_kafka_err2str(e));
            weir_worker_fail(s->worker, &err);
        }
        return -EIO;
    }
}

static int kk_write(struct weir_sink *s, struct weir_batch *b, struct weir_ticket *t)
{
    struct kafka_sink *ks = s->state;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_sink_wants(s, &b->rec[i]))
            continue;
        int rc = produce_one(ks, b, i, t);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int kk_flush(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    rd_kafka_poll(ks->rk, 0);
    check_fatal(ks);
    return rd_kafka_outq_len(ks->rk);
}

static int kk_busy(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    return rd_kafka_outq_len(ks->rk) >= ks->busy_at;
}

int weir_kafka_sinks_poll(struct weir_worker *w, int timeout_ms)
{
    int n = 0, nk = 0;
    for (size_t k = 0; k < w->nsinks; k++)
        nk += w->sinks[k].type == &weir_sink_kafka && w->sinks[k].state;
    for (size_t k = 0; k < w->nsinks; k++) {
        struct kafka_sink *ks = w->sinks[k].state;
        if (w->sinks[k].type != &weir_sink_kafka || !ks)
            continue;
        rd_kafka_poll(ks->rk, timeout_ms / (nk ? nk : 1));
        n += rd_kafka_outq_len(ks->rk);
    }
    return n;
}

/* brokers: the sink's own, or the Kafka source's (with its security properties). */
static int make_producer(struct kafka_sink *ks, struct weir_error *err)
{
    const struct kafka_sink_conf *c = ks->c;
    const struct weir_pipeline *pl = ks->s->worker->pl;
    const struct weir_kafka_source_conf *src =
        pl->source_type == &weir_source_kafka ? pl->source_conf : NULL;
    const char *brokers = c->brokers ? c->brokers : src ? src->brokers : NULL;
    char errstr[512], client_id[300], num[32];
    if (!brokers)
        return weir_error_set(err, -EINVAL, "%s: \"brokers\" is required when the source is not "
                              "kafka", ks->cl.what);
    int rc = weir_kafka_brokers_resolve(&ks->cl, brokers, &c->topic, 1, err);
    if (rc < 0)
        return rc;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(client_id, sizeof client_id, "weir-%s-%d", pl->name, ks->s->worker->id);
    weir_kafka_conf_common(conf, &ks->cl);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    if ((rc = weir_kafka_conf_set(conf, "bootstrap.servers", ks->cl.brokers, ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "client.id", client_id, ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.idempotence", "true", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "linger.ms", "5", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "socket.nagle.disable", "true", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_props_apply(conf, src && !c->brokers ? src->kafka : NULL, 1, ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_props_apply(conf, c->kafka, 0, ks->cl.what, err)) < 0)
        goto fail;
    size_t size = sizeof num;
    int qmax = 100000;
    if (rd_kafka_conf_get(conf, "queue.buffering.max.messages", num, &size) == RD_KAFKA_CONF_OK)
        qmax = atoi(num);
    ks->busy_at = qmax > 2 ? qmax / 2 : 1;
    ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr); /* owns conf on success */
    if (!ks->rk) {
        rc = weir_error_set(err, -EINVAL, "%s: cannot create the producer: %s", ks->cl.what, errstr);
        goto fail;
    }
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return rc;
}

static int kk_open(struct weir_sink *s, struct weir_error *err)
{
    const struct kafka_sink_conf *c = s->conf;
    struct kafka_sink *ks = calloc(1, sizeof *ks);
    if (!ks)
        return weir_error_set(err, -ENOMEM, "out of memory");
    s->state = ks;
    ks->s = s;
    ks->c = c;
    ks->efd = -1;
    ks->poll_ev.done = on_poll;
    snprintf(ks->cl.what, sizeof ks->cl.what, "kafka %s \"%s\" (worker %d)",
             s->when == WEIR_WHEN_DEAD ? "dead-letter sink" : "sink", c->topic, s->worker->id);
    int rc = make_producer(ks, err);
    if (rc < 0)
        return rc;
    rc = weir_kafka_check_topics(ks->rk, &ks->cl, &c->topic, 1, c->connect_timeout_ns, err);
    if (rc < 0)
        return rc;
    ks->cl.started = 1;
    if (!(ks->rkt = rd_kafka_topic_new(ks->rk, c->topic, NULL)))
        return weir_error_set(err, -EINVAL, "%s: topic \"%s\": %s", ks->cl.what, c->topic,
                              rd_kafka_err2str(rd_kafka_last_error()));
    ks->mainq = rd_kafka_queue_get_main(ks->rk);
    ks->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!ks->mainq || ks->efd < 0)
        return weir_error_set(err, -EIO, "%s: cannot set up the delivery reports' eventfd", ks->cl.what);
    static const uint64_t one = 1; /* an eventfd takes 8 bytes */
    rd_kafka_queue_io_event_enable(ks->mainq, ks->efd, &one, sizeof one);
    arm_poll(ks);
    return 0;
}

static void kk_close(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    if (!ks)
        return;
    if (ks->rk) {
        if (!s->worker->failed)
            rd_kafka_flush(ks->rk, 10000);
        /* Whatever is left fails its tickets: nothing past it gets committed. */
        rd_kafka_purge(ks->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(ks->rk, 0);
        if (ks->rkt)
            rd_kafka_topic_destroy(ks->rkt);
        if (ks->mainq)
            rd_kafka_queue_destroy(ks->mainq);
        rd_kafka_destroy(ks->rk);
    }
    if (ks->efd >= 0)
        close(ks->efd);
    weir_kafka_client_release(&ks->cl);
    weir_buf_free(&ks->buf);
    free(ks);
    s->state = NULL;
}

const struct weir_sink_type weir_sink_kafka = {
    .name = "kafka",
    .summary = "JSON records to a Kafka topic through an idempotent producer; acknowledged on "
               "the broker's delivery report",
    .options = kafka_sink_options,
    .conf_size = sizeof(struct kafka_sink_conf),
    .prepare = prepare,
    .open = kk_open,
    .write = kk_write,
    .flush = kk_flush,
    .busy = kk_busy,
    .close = kk_close,
};
