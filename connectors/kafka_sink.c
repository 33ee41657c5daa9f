/* The Kafka sink: an asynchronous idempotent producer per worker and sink.
 *
 * Each record the sink wants becomes one message: the input JSON object with
 * the computed fields appended (engine/output.h), the input's key, and with
 * "headers": true a "weir-pipeline" header. Each message holds the batch's ticket until its
 * delivery report: the acknowledgement that lets the source store the input
 * offset. A failed delivery (after librdkafka's own retries, up to
 * message.timeout.ms) fails the worker, so nothing past it is committed.
 *
 * Used as "dead_letter", each dead record becomes the dead-letter JSON
 * (reason, source coordinates, raw bytes) with headers weir-reason,
 * weir-source-topic, weir-source-partition and weir-source-offset.
 *
 * A record the topic will never take must not stop its partition at every
 * restart: an output over the producer's message.max.bytes, or rejected for
 * good in its delivery report (too large for the topic, invalid for it),
 * goes to the dead letters instead (weir_worker_dead_letter); a dead letter
 * is cut to fit (weir_output_dead_fit), and one that still cannot be written
 * is logged and acknowledged (weir_worker_unwritable). docs/kafka.md,
 * "Records a topic will not take".
 *
 * Delivery reports are events on the producer's main queue (event mode, so
 * that a transaction commit running on another thread only waits for them
 * while the loop serves them); the queue's eventfd wakes the loop. flush()
 * serves them and returns what is still in flight. A full local queue never
 * blocks the loop: the message waits in the sink's backlog, the sink reports
 * busy (the source pauses), and the backlog goes out as deliveries make room.
 *
 * At-least-once, each sink has a producer of its own. Exactly-once (the Kafka
 * source's "guarantee": "exactly_once"), the worker's Kafka sinks share one
 * transactional producer (struct kafka_producer, counted, shared through the
 * worker under WEIR_KAFKA_TXN_SHARED), created by the first of them to open;
 * the source begins and ends its transactions (weir_kafka_txn_*, the ends on
 * the producer's transaction thread, kafka_txn.c), with the input offsets
 * inside. A failed delivery then
 * doesn't fail the worker: it makes the transaction abortable, and the source
 * aborts it and rewinds.
 *
 * A reload never waits for the brokers on the loop here: a new sink's topic
 * is checked before (kk_precheck), a new transactional producer initializes
 * transactions on its transaction thread (kafka_sink_txn.c), and a removed
 * sink's producer is destroyed on a thread of its own (kafka_sink_retire.c). */
#include "connectors/kafka_sink.h"
#include "engine/log.h"

#define CONF(f) offsetof(struct kafka_sink_conf, f)
static const struct weir_option kafka_sink_options[] = {
    {"brokers", WEIR_OPT_STRING, NULL,
     "bootstrap servers, or \"embedded\" (default: the kafka source's brokers and its security.*, "
     "sasl.*, ssl.* and enable.ssl/sasl.* properties; required when the source is not kafka)",
     CONF(brokers), 0, 0, 0, NULL},
    {"topic", WEIR_OPT_STRING, NULL, "topic to produce to (it must exist)", CONF(topic),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"key", WEIR_OPT_ENUM, "\"source\"", "message key: source (the input message's key) or none",
     CONF(key), 0, 0, 0, "source|none"},
    {"headers", WEIR_OPT_BOOL, "false",
     "add a weir-pipeline header to each output (opt-in: it costs about a third of Kafka->Kafka "
     "throughput in librdkafka 2.0.2, docs/benchmarks.md); dead letters always carry their headers",
     CONF(headers), 0, 0, 0, NULL},
    {"connect_timeout", WEIR_OPT_DURATION, "\"10s\"",
     "at start, and for a reload's new sink (off the workers' loops): how long to wait for the "
     "brokers and the topic's metadata before failing",
     CONF(connect_timeout_ns), 0, 0, 0, NULL},
    {"kafka", WEIR_OPT_JSON, NULL, "librdkafka producer properties, passed through (docs/kafka.md)",
     CONF(kafka), 0, 0, 0, NULL},
    {0},
};

static const char *const reserved_props[] = {
    "bootstrap.servers", "use the sink's \"brokers\"",
    "metadata.broker.list", "use the sink's \"brokers\"",
    "enable.idempotence", "weir always uses the idempotent producer",
    "transactional.id", "weir sets it with the kafka source's \"guarantee\": \"exactly_once\" "
    "(see its \"transactional_id\")",
    NULL, NULL,
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

static void check_fatal(struct kafka_producer *p)
{
    if (!p->cl.fatal || p->w->failed)
        return;
    if (p->transactional && weir_kafka_fenced(p->rk))
        return; /* the source's next transaction end re-creates it, or fails (kafka_txn.c) */
    struct weir_error e;
    weir_error_set(&e, -EIO, "%s: brokers %s: %s", p->cl.what, p->cl.brokers, p->cl.last_err);
    weir_worker_fail(p->w, &e);
}

void ksk_arm_poll(struct kafka_producer *p)
{
    if (!p->poll_armed && !p->retired &&
        weir_loop_poll(p->w->loop, p->efd, POLLIN, &p->poll_ev) == 0)
        p->poll_armed = 1;
}

/* Serves what the main queue holds: delivery-report events (other events are
 * served as callbacks inside rd_kafka_queue_poll). timeout_ms: 0 on the loop. */
void ksk_serve(struct kafka_producer *p, int timeout_ms)
{
    rd_kafka_event_t *ev;
    if (!p->mainq) {
        rd_kafka_poll(p->rk, 0);
        return;
    }
    while ((ev = rd_kafka_queue_poll(p->mainq, timeout_ms))) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DR)
            ksk_serve_dr(p, ev);
        rd_kafka_event_destroy(ev);
        timeout_ms = 0;
    }
}

static void on_poll(struct weir_event *ev, int res)
{
    struct kafka_producer *p =
        (struct kafka_producer *)((char *)ev - offsetof(struct kafka_producer, poll_ev));
    uint64_t v;
    p->poll_armed = 0;
    if (p->retired)
        return; /* a reload removed its sinks: cancelled (kafka_sink_retire.c) */
    if (read(p->efd, &v, sizeof v) < 0) {
        /* nothing to read: a spurious wake-up */
    }
    ksk_serve(p, 0);
    check_fatal(p);
    ksk_arm_poll(p);
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
    if (!dead && !ks->c->headers)
        return NULL;
    rd_kafka_headers_t *h = rd_kafka_headers_new(dead ? 5 : 1);
    const char *name = ks->s->worker->pl->name;
    rd_kafka_header_add(h, "weir-pipeline", -1, name, -1);
    if (dead) {
        const char *reason = r->reason ? r->reason : "rejected";
        rd_kafka_header_add(h, "weir-reason", -1, reason, -1);
        rd_kafka_header_add(h, "weir-source-topic", -1,
                            (r->topic ? r->topic : ""), -1);
        add_header_int(h, "weir-source-partition", r->partition);
        add_header_int(h, "weir-source-offset", r->offset);
    }
    return h;
}

/* What librdkafka adds to key, value and headers when it checks a message
 * against message.max.bytes (RD_KAFKAP_MESSAGE_V2_MAX_OVERHEAD, 36 bytes in
 * 2.0.2), with room to spare. */
#define MSG_OVERHEAD 64

/* The headers' bytes on the wire, or a little more. */
static size_t headers_size(const rd_kafka_headers_t *h)
{
    const char *name;
    const void *value;
    size_t size, n = 5;
    if (!h)
        return 0;
    for (size_t i = 0; rd_kafka_header_get_all(h, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
        n += strlen(name) + size + 10;
    return n;
}

/* The largest value that fits in a message with this key and these headers. */
static size_t value_room(const struct kafka_sink *ks, size_t key_len, const rd_kafka_headers_t *h)
{
    if (!ks->max_bytes)
        return SIZE_MAX;
    size_t used = MSG_OVERHEAD + key_len + headers_size(h);
    return ks->max_bytes > used ? ks->max_bytes - used : 0;
}

/* The producer's message.max.bytes: librdkafka refuses larger messages when
 * they are produced, so outputs and dead letters are measured first. */
static size_t max_bytes_of(rd_kafka_t *rk)
{
    char num[32];
    size_t size = sizeof num;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", num, &size) != RD_KAFKA_CONF_OK)
        return 0;
    return (size_t)strtoull(num, NULL, 10);
}

static rd_kafka_resp_err_t produce(struct kafka_sink *ks, const void *value, size_t len,
                                   const void *key, size_t key_len, rd_kafka_headers_t *h,
                                   struct kmsg *k)
{
    return h ? rd_kafka_producev(ks->rk, RD_KAFKA_V_RKT(ks->rkt),
                                 RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE((void *)value, len),
                                 RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_HEADERS(h),
                                 RD_KAFKA_V_OPAQUE(k), RD_KAFKA_V_END)
             : rd_kafka_producev(ks->rk, RD_KAFKA_V_RKT(ks->rkt),
                                 RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_VALUE((void *)value, len),
                                 RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_OPAQUE(k),
                                 RD_KAFKA_V_END);
}

static int produce_failed(struct kafka_sink *ks, rd_kafka_resp_err_t e, rd_kafka_headers_t *h,
                          struct kmsg *k)
{
    struct weir_sink *s = ks->s;
    struct weir_ticket *t = k->t;
    if (h)
        rd_kafka_headers_destroy(h);
    ksk_kmsg_put(ks->p, k);
    if (t)
        weir_ticket_release(t, 0);
    if (ks->p->transactional && weir_kafka_fenced(ks->rk))
        return 0; /* its transaction is abandoned anyway: the input is read again */
    if (ks->p->transactional && ks->p->in_txn && !ks->p->ending && e == RD_KAFKA_RESP_ERR__STATE) {
        /* The transaction became abortable (a delivery the topic rejected):
         * librdkafka takes no more of it. Its end aborts and the input is
         * read again (weir_kafka_txn_must_abort); the worker failed here,
         * and a restart met the same record again. Not while an end runs:
         * a commit would then go through without this output. */
        ks->p->must_abort = 1;
        return 0;
    }
    if (!s->worker->failed) {
        struct weir_error err;
        weir_error_set(&err, -EIO, "%s: produce to topic \"%s\": %s", ks->what, ks->c->topic,
                       rd_kafka_err2str(e));
        weir_worker_fail(s->worker, &err);
    }
    return -EIO;
}

/* The producer's queue is full: the message waits here (copied), in order. */
static int backlog_push(struct kafka_sink *ks, const void *value, size_t len, const void *key,
                        size_t key_len, rd_kafka_headers_t *h, struct kmsg *k)
{
    if (ks->nbacklog == ks->capbacklog) {
        if (ks->backlog_head > 0) {
            memmove(ks->backlog, ks->backlog + ks->backlog_head,
                    (ks->nbacklog - ks->backlog_head) * sizeof *ks->backlog);
            ks->nbacklog -= ks->backlog_head;
            ks->backlog_head = 0;
        }
        if (ks->nbacklog == ks->capbacklog) {
            size_t cap = ks->capbacklog ? ks->capbacklog * 2 : 256;
            struct backlog_msg *v = realloc(ks->backlog, cap * sizeof *v);
            if (!v)
                return -ENOMEM;
            ks->backlog = v;
            ks->capbacklog = cap;
        }
    }
    struct backlog_msg *m = &ks->backlog[ks->nbacklog];
    *m = (struct backlog_msg){.len = len, .key_len = key_len, .h = h, .k = k};
    if (!(m->value = malloc(len ? len : 1)) || (key_len && !(m->key = malloc(key_len)))) {
        free(m->value);
        return -ENOMEM;
    }
    memcpy(m->value, value, len);
    if (key_len)
        memcpy(m->key, key, key_len);
    ks->nbacklog++;
    return 0;
}

/* Hands a message to the producer, or to the backlog behind what already
 * waits there. h belongs to the message on success. Returns 0 or the
 * producer's error (h is still the caller's). */
rd_kafka_resp_err_t ksk_send_msg(struct kafka_sink *ks, const void *value, size_t len,
                                    const void *key, size_t key_len, rd_kafka_headers_t *h,
                                    struct kmsg *k)
{
    rd_kafka_resp_err_t e = ks->nbacklog > ks->backlog_head
                                ? RD_KAFKA_RESP_ERR__QUEUE_FULL
                                : produce(ks, value, len, key, key_len, h, k);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && !ks->s->worker->failed &&
        backlog_push(ks, value, len, key, key_len, h, k) == 0)
        return RD_KAFKA_RESP_ERR_NO_ERROR;
    return e;
}

/* A dead letter's reason, from its weir-reason header. */
static size_t backlog_send(struct kafka_sink *ks)
{
    while (ks->backlog_head < ks->nbacklog && !ks->s->worker->failed) {
        struct backlog_msg *m = &ks->backlog[ks->backlog_head];
        rd_kafka_resp_err_t e = produce(ks, m->value, m->len, m->key, m->key_len, m->h, m->k);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        if (e && ksk_rejected(e)) { /* over a limit value_room() missed */
            char why[300];
            snprintf(why, sizeof why, "%s: %s", ks->what, rd_kafka_err2str(e));
            if (ksk_rejected_for_good(ks, m->k, m->value, m->len, m->h, why) < 0)
                produce_failed(ks, e, NULL, m->k);
            if (m->h)
                rd_kafka_headers_destroy(m->h);
        } else if (e) {
            produce_failed(ks, e, m->h, m->k);
        }
        free(m->value);
        free(m->key);
        ks->backlog_head++;
    }
    if (ks->backlog_head == ks->nbacklog)
        ks->backlog_head = ks->nbacklog = 0;
    return ks->nbacklog - ks->backlog_head;
}

static void backlog_drop(struct kafka_sink *ks)
{
    for (size_t i = ks->backlog_head; i < ks->nbacklog; i++) {
        struct backlog_msg *m = &ks->backlog[i];
        struct weir_ticket *t = m->k->t;
        if (m->h)
            rd_kafka_headers_destroy(m->h);
        ksk_kmsg_put(ks->p, m->k);
        if (t)
            weir_ticket_release(t, 0);
        free(m->value);
        free(m->key);
    }
    free(ks->backlog);
    ks->backlog = NULL;
    ks->nbacklog = ks->capbacklog = ks->backlog_head = 0;
}

/* Record r cannot be sent as it is (too large, or remembered as rejected):
 * an output goes to the dead letters with why; a dead letter has only the
 * last resort. Takes h. */
static int send_instead(struct kafka_sink *ks, const struct weir_record *r, rd_kafka_headers_t *h,
                        const char *why, struct weir_ticket *t)
{
    if (h)
        rd_kafka_headers_destroy(h);
    if (ks->s->when != WEIR_WHEN_DEAD)
        return weir_worker_dead_letter(ks->s->worker, r, why, t);
    weir_worker_unwritable(ks->s->worker, r, why, t);
    return 0;
}

static int produce_one(struct kafka_sink *ks, const struct weir_batch *b, uint32_t i,
                       struct weir_ticket *t)
{
    struct weir_sink *s = ks->s;
    const struct weir_record *r = &b->rec[i];
    int dead = s->when == WEIR_WHEN_DEAD;
    const void *key = ks->c->key == KEY_SOURCE ? r->key : NULL;
    size_t key_len = key ? r->key_len : 0;
    rd_kafka_headers_t *h = headers_for(ks, b, i);
    size_t room = value_room(ks, key_len, h);
    const char *poisoned = ks->npoison ? ksk_poison_find(ks, r) : NULL;
    char why[300];
    if (poisoned)
        return send_instead(ks, r, h, poisoned, t);
    ks->buf.len = 0;
    int rc = dead ? weir_output_dead_fit(&ks->buf, r, (r->topic ? r->topic : ""), room)
                  : weir_output_record(&ks->buf, s->output, b, i);
    size_t len = ks->buf.len > 0 ? ks->buf.len - 1 : 0; /* without the '\n' */
    if (rc == -ENOSPC || (rc == 0 && len > room)) {
        snprintf(why, sizeof why, "%s: %s is over message.max.bytes (%zu) with its key and headers",
                 ks->what, dead ? "the dead letter without its raw bytes" : "the output", ks->max_bytes);
        return send_instead(ks, r, h, why, t);
    }
    if (rc < 0) {
        if (h)
            rd_kafka_headers_destroy(h);
        return rc;
    }
    struct kmsg *k = ksk_kmsg_new(ks, r, t, dead ? 0 : weir_output_kept_of(s->output, r, len));
    if (!k) {
        if (h)
            rd_kafka_headers_destroy(h);
        return -ENOMEM;
    }
    if (t)
        weir_ticket_hold(t); /* released by ksk_deliver() */
    rd_kafka_resp_err_t e = ksk_send_msg(ks, ks->buf.data, len, key, key_len, h, k);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0; /* the headers belong to the message now */
    if (ksk_rejected(e)) { /* over a limit value_room() missed */
        snprintf(why, sizeof why, "%s: %s", ks->what, rd_kafka_err2str(e));
        ksk_kmsg_put(ks->p, k);
        rc = send_instead(ks, r, h, why, t); /* holds t itself */
        if (t)
            weir_ticket_release(t, rc == 0);
        return rc;
    }
    return produce_failed(ks, e, h, k);
}

static int kk_write(struct weir_sink *s, struct weir_batch *b, struct weir_ticket *t)
{
    struct kafka_sink *ks = s->state;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_sink_wants(s, b, i))
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
    ksk_serve(ks->p, 0);
    size_t waiting = backlog_send(ks);
    check_fatal(ks->p);
    return rd_kafka_outq_len(ks->rk) + (int)waiting;
}

static size_t kk_backlog(struct weir_sink *s)
{
    const struct kafka_sink *ks = s->state;
    return ks ? ks->nbacklog - ks->backlog_head : 0;
}

static int kk_busy(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    return ks->nbacklog > ks->backlog_head || rd_kafka_outq_len(ks->rk) >= ks->p->busy_at;
}

/* brokers: the sink's own, or the Kafka source's (with its security properties).
 * Transactional: the worker's producer, "<transactional_id>-<worker>". */
static int producer_new(struct kafka_producer *p, const struct kafka_sink_conf *c, int transactional,
                        struct weir_error *err)
{
    const struct weir_pipeline *pl = p->w->pl;
    const struct weir_kafka_source_conf *src = weir_kafka_source_conf_of(pl);
    const char *brokers = c->brokers ? c->brokers : src ? src->brokers : NULL;
    char errstr[512], client_id[300], num[32], txn_timeout[32];
    if (!brokers)
        return weir_error_set(err, -EINVAL, "%s: \"brokers\" is required when the source is not "
                              "kafka", p->cl.what);
    int rc = weir_kafka_brokers_resolve(&p->cl, brokers, &c->topic, 1, err);
    if (rc < 0)
        return rc;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(client_id, sizeof client_id, "weir-%s-%d", pl->name, p->w->id);
    snprintf(txn_timeout, sizeof txn_timeout, "%d", WEIR_KAFKA_TXN_TIMEOUT_MS);
    weir_kafka_conf_common(conf, &p->cl);
    rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR);
    if ((rc = weir_kafka_conf_set(conf, "bootstrap.servers", p->cl.brokers, p->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "client.id", client_id, p->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.idempotence", "true", p->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "linger.ms", "5", p->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "socket.nagle.disable", "true", p->cl.what, err)) < 0 ||
        (transactional &&
         ((rc = weir_kafka_conf_set(conf, "transactional.id", p->txn_id, p->cl.what, err)) < 0 ||
          (rc = weir_kafka_conf_set(conf, "transaction.timeout.ms", txn_timeout, p->cl.what,
                                    err)) < 0)) ||
        (rc = weir_kafka_props_apply(conf, src && !c->brokers ? src->kafka : NULL, 1, p->cl.what, err)) < 0 ||
        (rc = weir_kafka_props_apply(conf, weir_kafka_sink_producer_props(pl, c->kafka), 0,
                                     p->cl.what, err)) < 0)
        goto fail;
    size_t size = sizeof num;
    int qmax = 100000;
    if (rd_kafka_conf_get(conf, "queue.buffering.max.messages", num, &size) == RD_KAFKA_CONF_OK)
        qmax = atoi(num);
    p->busy_at = qmax > 2 ? qmax / 2 : 1;
    if (transactional) { /* to re-create it should it be fenced (kafka_txn.c) */
        p->conf_copy = rd_kafka_conf_dup(conf);
        p->props = json_deep_copy(weir_kafka_txn_props(pl)); /* NULL: none */
    }
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr); /* owns conf on success */
    if (!p->rk) {
        rc = weir_error_set(err, -EINVAL, "%s: cannot create the producer: %s", p->cl.what, errstr);
        goto fail;
    }
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* After the first sink's topic check (the brokers answer): the delivery
 * reports' eventfd, and for a transactional producer init_transactions, which
 * fences an earlier incarnation with the same transactional.id and aborts its
 * open transaction. A reload's (reload set: a switch to exactly-once) runs
 * it on the producer's transaction thread, not on the loop, which waited
 * there up to connect_timeout while the brokers were away; the source begins
 * no transaction until it is through (weir_kafka_txn_starting). */
static int producer_start(struct kafka_producer *p, uint64_t timeout_ns, int reload,
                          struct weir_error *err)
{
    if (p->transactional && !reload) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(p->rk, (int)(timeout_ns / 1000000u));
        if (e) {
            int rc = weir_error_set(err, -EIO, "%s: cannot initialize transactions on Kafka brokers "
                                    "%s: %s", p->cl.what, p->cl.brokers, rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            return rc;
        }
    }
    p->mainq = rd_kafka_queue_get_main(p->rk);
    p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!p->mainq || p->efd < 0)
        return weir_error_set(err, -EIO, "%s: cannot set up the delivery reports' eventfd", p->cl.what);
    static const uint64_t one = 1; /* an eventfd takes 8 bytes */
    rd_kafka_queue_io_event_enable(p->mainq, p->efd, &one, sizeof one);
    ksk_arm_poll(p);
    if (p->transactional) {
        int rc = weir_kafka_txn_runner_new(&p->runner, p->rk, p->conf_copy, p->w->loop,
                                           p->cl.what, p->cl.brokers, err);
        p->conf_copy = NULL; /* the runner's now */
        if (rc < 0)
            return rc;
        weir_worker_share(p->w, WEIR_KAFKA_TXN_SHARED, p);
        if (reload)
            return ksk_start_async(p, (int)(timeout_ns / 1000000u), err);
    }
    return 0;
}

/* On the loop: a fenced producer's replacement (kafka_txn.c) takes its place.
 * The old one has nothing in flight; what the sinks' backlogs hold belongs to
 * the abandoned transaction and is dropped (its input is read again). The
 * runner destroys the old producer on its thread. */
void ksk_producer_replace(struct kafka_producer *p, rd_kafka_t *rk)
{
    static const uint64_t one = 1;
    for (struct kafka_sink *ks = p->sinks; ks; ks = ks->pnext) {
        backlog_drop(ks);
        if (ks->rkt)
            rd_kafka_topic_destroy(ks->rkt);
        ks->rk = rk;
        ks->rkt = rd_kafka_topic_new(rk, ks->c->topic, NULL); /* local: no broker call */
        if (!ks->rkt && !p->w->failed) {
            struct weir_error e;
            weir_error_set(&e, -EIO, "%s: topic \"%s\": %s", ks->what, ks->c->topic,
                           rd_kafka_err2str(rd_kafka_last_error()));
            weir_worker_fail(p->w, &e);
        }
    }
    if (p->mainq) {
        rd_kafka_queue_io_event_enable(p->mainq, -1, NULL, 0);
        rd_kafka_queue_destroy(p->mainq);
    }
    p->mainq = rd_kafka_queue_get_main(rk);
    if (p->mainq)
        rd_kafka_queue_io_event_enable(p->mainq, p->efd, &one, sizeof one);
    p->rk = rk;
    p->in_txn = 0;
    p->cl.fatal = 0;
    p->cl.last_err[0] = 0;
    weir_kafka_txn_runner_swap(p->runner, rk);
    ksk_serve(p, 0); /* anything the new one queued while it started */
}

/* Serves delivery reports on the calling thread until nothing is in flight
 * or timeout_ms passed: for a worker whose loop has stopped. */
static void drain_now(struct kafka_producer *p, int timeout_ms)
{
    uint64_t deadline = weir_now_ns() + (uint64_t)timeout_ms * 1000000u;
    while (rd_kafka_outq_len(p->rk) > 0 && weir_now_ns() < deadline)
        ksk_serve(p, 50);
}

static void producer_put(struct kafka_producer *p)
{
    if (!p || --p->refs > 0)
        return;
    if (p->transactional)
        weir_worker_share(p->w, WEIR_KAFKA_TXN_SHARED, NULL);
    if (p->rk && p->in_txn && p->runner) { /* the source closed without ending it (a failed start) */
        struct weir_kafka_txn_end e = {.abort = 1, .timeout_ms = 10000};
        weir_kafka_txn_end_now((struct weir_kafka_txn *)p, &e);
    }
    weir_kafka_txn_runner_free(p->runner); /* joins: a running end finishes first */
    p->runner = NULL;
    if (p->conf_copy)
        rd_kafka_conf_destroy(p->conf_copy);
    if (p->rk) {
        if (!p->w->failed)
            drain_now(p, 10000);
        /* Whatever is left fails its tickets: nothing past it gets committed. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        ksk_serve(p, 0);
        if (p->mainq)
            rd_kafka_queue_destroy(p->mainq);
        rd_kafka_destroy(p->rk);
    }
    ksk_producer_free(p);
}

/* What is left once the producer is destroyed. */
void ksk_producer_free(struct kafka_producer *p)
{
    ksk_kmsg_free_all(p); /* after the last delivery report */
    if (p->efd >= 0)
        close(p->efd);
    weir_kafka_client_release(&p->cl);
    json_decref(p->props);
    free(p);
}

static int kk_open(struct weir_sink *s, struct weir_error *err)
{
    const struct kafka_sink_conf *c = s->conf;
    struct weir_worker *w = s->worker;
    const struct weir_kafka_source_conf *src = weir_kafka_source_conf_of(w->pl);
    int transactional = src && src->guarantee == WEIR_KAFKA_EXACTLY_ONCE;
    struct kafka_sink *ks = calloc(1, sizeof *ks);
    if (!ks)
        return weir_error_set(err, -ENOMEM, "out of memory");
    s->state = ks;
    ks->s = s;
    ks->c = c;
    snprintf(ks->what, sizeof ks->what, "kafka %s \"%s\" (worker %d)",
             s->when == WEIR_WHEN_DEAD ? "dead-letter sink" : "sink", c->topic, w->id);
    if (transactional && (ks->p = weir_worker_shared(w, WEIR_KAFKA_TXN_SHARED))) {
        ks->p->refs++;
        ks->pnext = ks->p->sinks;
        ks->p->sinks = ks;
        if (!weir_kafka_props_same(ks->p->props, weir_kafka_txn_props(w->pl)))
            weir_log(WEIR_LOG_WARN, "%s: the file's \"kafka\" properties for the Kafka sinks "
                     "are not taken: it joins the worker's transactional producer, which goes on "
                     "as it was made (restart to change them)", ks->what);
    }
    int rc, first = !ks->p;
    if (first) {
        struct kafka_producer *p = calloc(1, sizeof *p);
        if (!p)
            return weir_error_set(err, -ENOMEM, "out of memory");
        ks->p = p;
        p->sinks = ks;
        p->w = w;
        p->efd = -1;
        p->refs = 1;
        p->poll_ev.done = on_poll;
        p->transactional = transactional;
        if (transactional) {
            weir_kafka_transactional_id(w->pl, w->id, p->txn_id, sizeof p->txn_id);
            snprintf(p->cl.what, sizeof p->cl.what, "kafka transactional producer \"%s\" (worker %d)",
                     p->txn_id, w->id);
        } else {
            snprintf(p->cl.what, sizeof p->cl.what, "%s", ks->what);
        }
        if ((rc = producer_new(p, c, transactional, err)) < 0)
            return rc;
    }
    ks->rk = ks->p->rk;
    ks->max_bytes = max_bytes_of(ks->rk);
    /* A reload's sink: its topic was checked before the workers took it
     * (precheck), off this loop, which must not wait for the brokers. */
    if (!s->checked && (rc = ksk_check_topic(ks, err)) < 0)
        return rc;
    if (first) {
        if ((rc = producer_start(ks->p, c->connect_timeout_ns, s->checked, err)) < 0)
            return rc;
        ks->p->cl.started = 1;
    }
    if (!(ks->rkt = rd_kafka_topic_new(ks->rk, c->topic, NULL)))
        return weir_error_set(err, -EINVAL, "%s: topic \"%s\": %s", ks->what, c->topic,
                              rd_kafka_err2str(rd_kafka_last_error()));
    return 0;
}

/* The sink lets go of its topic and its place among the producer's sinks. */
void ksk_unlink(struct kafka_sink *ks)
{
    backlog_drop(ks);
    if (ks->rkt)
        rd_kafka_topic_destroy(ks->rkt);
    ks->rkt = NULL;
    for (struct kafka_sink **pp = ks->p ? &ks->p->sinks : NULL; pp && *pp; pp = &(*pp)->pnext)
        if (*pp == ks) {
            *pp = ks->pnext;
            break;
        }
}

static void kk_close(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    if (!ks)
        return;
    ksk_unlink(ks);
    producer_put(ks->p);
    if (ks->retiring) { /* detached: its thread destroys the producer (kafka_sink_retire.c) */
        ksk_disposer_join(ks->retiring);
        ksk_producer_free(ks->retiring);
    }
    weir_buf_free(&ks->buf);
    free(ks);
    s->state = NULL;
}

const char *weir_kafka_sink_brokers(const void *sink_conf)
{
    return ((const struct kafka_sink_conf *)sink_conf)->brokers;
}

int weir_kafka_txn_props_from(const struct weir_pipeline *pl)
{
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        const json_t *props = st->type == &weir_sink_kafka ? weir_kafka_sink_props(st->conf) : NULL;
        if (props && json_object_size(props) > 0)
            return (int)k;
    }
    return -1;
}

const json_t *weir_kafka_txn_props(const struct weir_pipeline *pl)
{
    int k = weir_kafka_txn_props_from(pl);
    if (k < 0)
        return NULL;
    return weir_kafka_sink_props((size_t)k < pl->nsinks ? pl->sinks[k].conf : pl->dead.conf);
}

const json_t *weir_kafka_sink_producer_props(const struct weir_pipeline *pl, const json_t *own)
{
    const struct weir_kafka_source_conf *src = weir_kafka_source_conf_of(pl);
    return src && src->guarantee == WEIR_KAFKA_EXACTLY_ONCE ? weir_kafka_txn_props(pl) : own;
}

const json_t *weir_kafka_sink_props(const void *sink_conf)
{
    return ((const struct kafka_sink_conf *)sink_conf)->kafka;
}

const struct weir_sink_type weir_sink_kafka = {
    .name = "kafka",
    .summary = "JSON records to a Kafka topic through an idempotent producer (transactional with "
               "the kafka source's exactly_once); acknowledged on the broker's delivery report",
    .options = kafka_sink_options,
    .conf_size = sizeof(struct kafka_sink_conf),
    .prepare = prepare,
    .precheck = ksk_precheck,
    .open = kk_open,
    .write = kk_write,
    .flush = kk_flush,
    .busy = kk_busy,
    .backlog = kk_backlog,
    .detach = ksk_detach,
    .quiet = ksk_quiet,
    .close = kk_close,
};
