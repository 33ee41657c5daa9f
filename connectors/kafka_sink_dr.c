/* The Kafka sink's delivery reports (see kafka_sink.h): each message's
 * opaque (its ticket and its record's coordinates), the delivery-report
 * events the loop serves, and records a topic will not take: a dead letter
 * instead, cut to fit, or as a last resort a log line. */
#include "connectors/kafka_sink.h"

/* ---- messages in flight ------------------------------------------------------- */

struct kmsg *ksk_kmsg_new(struct kafka_sink *ks, const struct weir_record *r,
                             struct weir_ticket *t, uint32_t kept)
{
    struct kafka_producer *p = ks->p;
    if (!p->free_kmsgs) {
        struct kmsg_chunk *c = malloc(sizeof *c);
        if (!c)
            return NULL;
        c->next = p->kmsg_chunks;
        p->kmsg_chunks = c;
        for (size_t i = 0; i < sizeof c->m / sizeof c->m[0]; i++) {
            c->m[i].next = p->free_kmsgs;
            p->free_kmsgs = &c->m[i];
        }
    }
    struct kmsg *k = p->free_kmsgs;
    p->free_kmsgs = k->next;
    *k = (struct kmsg){.magic = KMSG_MAGIC, .s = ks->s, .t = t, .topic = r->topic,
                       .offset = r->offset, .partition = r->partition, .part = r->part,
                       .kept = kept};
    return k;
}

void ksk_kmsg_put(struct kafka_producer *p, struct kmsg *k)
{
    k->magic = 0;
    k->next = p->free_kmsgs;
    p->free_kmsgs = k;
}

void ksk_kmsg_free_all(struct kafka_producer *p)
{
    for (struct kmsg_chunk *c = p->kmsg_chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    p->kmsg_chunks = NULL;
    p->free_kmsgs = NULL;
    free(p->dr);
    p->dr = NULL;
    p->capdr = 0;
}

/* A delivered message's opaque: a sink's kmsg, or NULL (a changelog write's
 * bare ticket, or none). */
static struct kmsg *kmsg_of(const rd_kafka_message_t *m)
{
    const uint32_t *tag = m->_private;
    return tag && *tag == KMSG_MAGIC ? m->_private : NULL;
}

/* Errors by which a topic says it will never take this message (too large,
 * invalid for it), as opposed to brokers or clients in trouble: the record
 * goes to the dead letters instead of failing the worker, which would stop
 * on the same record at every restart. */
int ksk_rejected(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
        return 1;
    default:
        return 0;
    }
}

/* What one delivery-report event says about rejections. A broker rejects
 * a whole batch for one bad message, and librdkafka 2.0.2 does not say
 * which: see on_rejected(). */
struct dr_scan {
    size_t ksk_rejected;
    size_t largest;
    size_t keyless; /* rejected as invalid without a key: a compacted topic's cause */
};
#define MAX_TRIES 2 /* times a message that may only have shared a batch with a bad one is produced again */

static int on_rejected(struct kafka_sink *ks, const rd_kafka_message_t *m, struct kmsg *k,
                       struct dr_scan *sc);

void ksk_deliver(struct kafka_producer *p, const rd_kafka_message_t *m, struct dr_scan *sc)
{
    struct kmsg *k = kmsg_of(m);
    struct weir_ticket *t = k ? k->t : m->_private;
    if (m->err && p->w->m) /* the worker's own figures: delivery reports are served on its loop */
        weir_metric_add(&p->w->m->delivery_errors, 1);
    if (m->err && k && ksk_rejected(m->err) && k->s->state && !p->w->closing && !p->w->failed &&
        on_rejected(k->s->state, m, k, sc) == 0)
        return; /* k went on: produced again, or its hold moved to a dead letter */
    if (m->err) {
        /* Transactional: the transaction is abortable now; the source's
         * commit aborts it and rewinds, so the worker goes on. */
        if (p->failed++ == 0 && !p->transactional && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
            m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
            struct weir_error e;
            weir_error_set(&e, -EIO, "%s: delivery to topic \"%s\" on brokers %s failed: %s",
                           p->cl.what, m->rkt ? rd_kafka_topic_name(m->rkt) : "?", p->cl.brokers,
                           rd_kafka_err2str(m->err));
            weir_worker_fail(p->w, &e);
        }
    } else {
        p->delivered++;
    }
    if (k)
        ksk_kmsg_put(p, k);
    if (t)
        weir_ticket_release(t, m->err == 0);
}

/* One delivery-report event: rejections are looked at as a batch first. */
void ksk_serve_dr(struct kafka_producer *p, rd_kafka_event_t *ev)
{
    size_t n = rd_kafka_event_message_count(ev);
    if (n > p->capdr) {
        const rd_kafka_message_t **v = realloc(p->dr, n * sizeof *v);
        if (v) {
            p->dr = v;
            p->capdr = n;
        }
    }
    if (n > p->capdr) { /* out of memory for the list: each rejection stands alone */
        const rd_kafka_message_t *m;
        while ((m = rd_kafka_event_message_next(ev)))
            ksk_deliver(p, m, NULL);
        return;
    }
    n = rd_kafka_event_message_array(ev, p->dr, n);
    struct dr_scan sc = {0};
    for (size_t i = 0; i < n; i++) {
        if (p->dr[i]->err && ksk_rejected(p->dr[i]->err)) {
            sc.ksk_rejected++;
            if (p->dr[i]->len > sc.largest)
                sc.largest = p->dr[i]->len;
            sc.keyless += p->dr[i]->err == RD_KAFKA_RESP_ERR_INVALID_RECORD && !p->dr[i]->key;
        }
    }
    for (size_t i = 0; i < n; i++)
        ksk_deliver(p, p->dr[i], &sc);
}

static const char *reason_of(const rd_kafka_headers_t *h, char *buf, size_t size)
{
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, "weir-reason", &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return "rejected";
    snprintf(buf, size, "%.*s", (int)n, (const char *)v);
    return buf;
}

/* k's message will never be taken (value, len: as produced). An output goes
 * to the dead letters instead, its raw being the input as far as the output
 * kept it; a dead letter has only the last resort (weir_worker_unwritable).
 * Either way k's hold is released as acknowledged: a dead letter holds the
 * ticket itself. Returns 0, or -1 when the dead-letter sink failed (k is
 * then still the caller's). */
int ksk_rejected_for_good(struct kafka_sink *ks, struct kmsg *k, const char *value, size_t len,
                             const rd_kafka_headers_t *h, const char *why)
{
    struct weir_worker *w = ks->s->worker;
    struct weir_record r = {.topic = k->topic, .offset = k->offset, .partition = k->partition,
                            .part = k->part, .ts_ms = -1};
    char reason[256];
    if (ks->s->when == WEIR_WHEN_DEAD) {
        r.reason = reason_of(h, reason, sizeof reason);
        weir_worker_unwritable(w, &r, why, k->t);
    } else {
        size_t kept = k->kept < len ? k->kept : len;
        ks->buf.len = 0;
        if (weir_buf_append(&ks->buf, value, kept) < 0 || weir_buf_append(&ks->buf, "}", 1) < 0)
            return -1;
        r.value = ks->buf.data;
        r.value_len = (uint32_t)ks->buf.len;
        int rc = weir_worker_dead_letter(w, &r, why, k->t);
        if (rc < 0) {
            struct weir_error e;
            weir_error_set(&e, rc, "%s: cannot send a rejected output to the dead letters: %s",
                           ks->what, strerror(-rc));
            weir_worker_fail(w, &e);
            return -1;
        }
    }
    struct weir_ticket *t = k->t;
    ksk_kmsg_put(ks->p, k);
    if (t)
        weir_ticket_release(t, 1);
    return 0;
}

/* Remembers a record whose message a transaction's topic rejected: the
 * transaction aborts, the input is read again, and then the record goes to
 * the dead letters instead (ksk_poison_find). blame: k is the cause; else
 * a suspect, the cause at its MAX_TRIES-th rejection. */
static void poison_add(struct kafka_sink *ks, const struct kmsg *k, const char *why, int blame)
{
    if (!blame) {
        unsigned n = ks->nsuspect < NSUSPECT ? ks->nsuspect : NSUSPECT;
        struct suspect *q = NULL;
        for (unsigned i = 0; i < n && !q; i++)
            if (ks->suspect[i].part == k->part && ks->suspect[i].offset == k->offset)
                q = &ks->suspect[i];
        if (!q) {
            q = &ks->suspect[ks->nsuspect++ % NSUSPECT];
            *q = (struct suspect){.part = k->part, .offset = k->offset};
        }
        if (++q->tries < MAX_TRIES)
            return;
    }
    struct poison *p = &ks->poison[ks->npoison++ % NPOISON];
    *p = (struct poison){.part = k->part, .offset = k->offset};
    snprintf(p->reason, sizeof p->reason, "%s", why);
}

const char *ksk_poison_find(const struct kafka_sink *ks, const struct weir_record *r)
{
    unsigned n = ks->npoison < NPOISON ? ks->npoison : NPOISON;
    for (unsigned i = 0; i < n; i++)
        if (ks->poison[i].part == r->part && ks->poison[i].offset == r->offset)
            return ks->poison[i].reason;
    return NULL;
}

/* The topic rejected k's message for good (its delivery report). Returns 0
 * when k went on (produced again, or its hold moved to a dead letter), -1
 * to fail it as any failed delivery. */
static int on_rejected(struct kafka_sink *ks, const rd_kafka_message_t *m, struct kmsg *k,
                       struct dr_scan *sc)
{
    /* A message rejected alone is the cause. Of a batch too large, the
     * messages at least half the size of its largest are (the others,
     * usually far smaller, go again: they succeed once the large ones are
     * out of their batch). Of a batch invalid for another reason, nothing
     * tells: each goes again, up to MAX_TRIES times, and is then taken for a
     * cause: messages that keep sharing batches with an invalid one may go
     * to the dead letters with it (docs/kafka.md). */
    int size = m->err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE ||
               m->err == RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE ||
               m->err == RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE;
    /* An invalid batch with messages without a key: a compacted topic
     * refuses those, and only those are the cause (the others went to the
     * dead letters with them after two tries, and under exactly-once a
     * whole transaction's batch came back together every time). */
    int keyless = m->err == RD_KAFKA_RESP_ERR_INVALID_RECORD && sc && sc->keyless > 0;
    int blame = !sc || sc->ksk_rejected <= 1 || k->tries >= MAX_TRIES ||
                (size && m->len * 2 >= sc->largest) || (keyless && !m->key);
    char why[300];
    snprintf(why, sizeof why, "%s: rejected by topic \"%s\": %s", ks->what, ks->c->topic,
             rd_kafka_err2str(m->err));
    rd_kafka_headers_t *mh = NULL;
    if (rd_kafka_message_headers(m, &mh) != RD_KAFKA_RESP_ERR_NO_ERROR)
        mh = NULL;
    if (ks->p->transactional) {
        /* The transaction is abortable now: it aborts and rewinds, and the
         * record goes to the dead letters when it comes again. */
        if (blame || !keyless) /* beside a keyless one, a keyed message is innocent */
            poison_add(ks, k, why, blame);
        return -1;
    }
    if (!blame) { /* it may only have shared a batch with the cause */
        k->tries++;
        rd_kafka_headers_t *h = mh ? rd_kafka_headers_copy(mh) : NULL;
        if ((!mh || h) && ksk_send_msg(ks, m->payload, m->len, m->key, m->key_len, h, k) == 0)
            return 0;
        if (h)
            rd_kafka_headers_destroy(h);
    }
    return ksk_rejected_for_good(ks, k, m->payload, m->len, mh, why);
}

/* Hands the backlog to the producer while it has room. Returns what is left. */
