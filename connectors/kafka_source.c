/* The Kafka source: one high-level consumer per worker, all in the pipeline's
 * consumer group.
 *
 * librdkafka's consumer queue signals an eventfd (rd_kafka_queue_io_event_enable,
 * 8-byte payload); the worker's io_uring polls it and, on each wake-up, the
 * source drains the queue without blocking (rd_kafka_consume_batch_queue with
 * timeout 0) into batches until it is empty, then re-arms the poll. Messages
 * are not copied: a record's value and key point into its rd_kafka_message_t,
 * which the batch's ticket keeps until the ticket is done.
 *
 * At-least-once: enable.auto.offset.store=false. Every batch records, per
 * partition, a segment (the batch's last offset + 1) at the tail of that
 * partition's FIFO. When the batch's ticket is done (every output it caused
 * acknowledged), its segments are marked done, and each partition stores the
 * offset of the longest done prefix of its FIFO: batches finish out of order,
 * offsets are stored in order. librdkafka's auto-commit commits what is stored;
 * revocation and close commit synchronously.
 *
 * Backpressure: past max_inflight_records or max_inflight_bytes read but not
 * acknowledged, the source stops taking messages from librdkafka's queue (whose
 * prefetch is bounded by queued.min.messages and queued.max.messages.kbytes);
 * below half it takes them again. When that lasts longer than PAUSE_AFTER_NS,
 * or the worker asks it to wait that long (a busy sink or operator, a
 * reload), the assigned partitions are paused too and the queue is served
 * again, so that rebalances and max.poll.interval.ms keep being honoured
 * while nothing is taken. (Pausing at
 * once would discard the prefetched messages and, measured with librdkafka
 * 2.0.2, stall fetching for about a second after each resume.)
 *
 * Exactly-once ("guarantee": "exactly_once"): the worker's Kafka sinks share
 * one transactional producer (kafka_sink.c). The first batch dispatched
 * begins a transaction; every commit_interval, or once it covers
 * commit_records inputs, the source sends its partitions' next offsets (past
 * every record dispatched, all of whose outputs were produced into the
 * transaction) with the consumer's group metadata, and commits, on the loop's
 * thread (blocking: commit_transaction flushes the producer). Nothing is
 * committed outside transactions (enable.auto.commit=false). An abortable
 * error aborts the transaction and rewinds the assigned partitions to their
 * committed offsets; a fenced producer is re-created in place, its
 * transaction abandoned and the partitions rewound alike (kafka_txn.c;
 * bounded, else the worker fails); another fatal one fails the worker. A lost
 * assignment aborts the open transaction. Revocation and close commit the
 * open transaction first. */
#include <sys/eventfd.h>

#include "connectors/kafka_source.h"
#include "engine/log.h"

#define TICK_NS (500ull * 1000000ull) /* safety-net ks_drain; keeps max.poll.interval.ms happy */
#define PAUSE_AFTER_NS (1000ull * 1000000ull) /* over the in-flight bounds this long: pause */

/* ---- tickets ------------------------------------------------------------- */

static void ticket_done(struct weir_ticket *t)
{
    struct kticket *kt = (struct kticket *)t;
    struct kafka_source *ks = kt->ks;
    if (!ks) { /* the source closed first: only the ticket itself is left */
        free(kt->msgs);
        free(kt);
        return;
    }
    for (struct kseg *g = kt->segs, *next; g; g = next) {
        next = g->tnext;
        g->tdone = 1;
        if (!g->part)
            ks_seg_free(ks, g); /* revoked meanwhile */
        else if (!t->failed || ks->txn) { /* exactly-once: the transaction decides */
            g->done = 1;
            ks_part_advance(ks, g->part);
        } /* failed: stays undone in its FIFO, nothing past it is stored */
    }
    kt->segs = NULL;
    for (uint32_t i = 0; i < kt->nmsgs; i++)
        rd_kafka_message_destroy(kt->msgs[i]);
    ks->inflight_records -= kt->nmsgs;
    ks->inflight_bytes -= kt->bytes;
    kt->nmsgs = 0;
    kt->bytes = 0;
    if (kt->prev)
        kt->prev->next = kt->next;
    else
        ks->live = kt->next;
    if (kt->next)
        kt->next->prev = kt->prev;
    kt->next = ks->free_tickets;
    ks->free_tickets = kt;
    if (ks->throttled_since)
        ks_check_bounds(ks);
    if (ks->revoking)
        ks_revoke_check(ks);
}

static struct kticket *ticket_get(struct kafka_source *ks)
{
    struct kticket *kt = ks->free_tickets;
    if (kt) {
        ks->free_tickets = kt->next;
    } else {
        if (!(kt = calloc(1, sizeof *kt)) || !(kt->msgs = calloc(ks->cap, sizeof *kt->msgs))) {
            free(kt);
            return NULL;
        }
    }
    kt->ks = ks;
    kt->t.pending = 0;
    kt->t.failed = 0;
    kt->t.done = ticket_done;
    kt->segs = NULL;
    kt->prev = NULL;
    kt->next = ks->live;
    if (ks->live)
        ks->live->prev = kt;
    ks->live = kt;
    return kt;
}

void ks_fail(struct kafka_source *ks, int code, const char *fmt, const char *a, const char *b)
{
    struct weir_error e;
    weir_error_set(&e, code, fmt, ks->cl.what, a, b);
    weir_worker_fail(ks->s->worker, &e);
}

void ks_flush_batch(struct kafka_source *ks)
{
    struct weir_batch *b = ks->batch;
    struct kticket *kt = ks->bt;
    if (!b)
        return;
    ks->batch = NULL;
    ks->bt = NULL;
    if (ks->txn && ks_txn_begin(ks) < 0) { /* the worker failed: nothing of it is committed */
        weir_batch_put(b);
        weir_ticket_hold(&kt->t);
        weir_ticket_release(&kt->t, 0);
        return;
    }
    ks->txn_records += b->n;
    weir_ticket_hold(&kt->t); /* ours, released after dispatch */
    weir_worker_dispatch(ks->s->worker, b, &kt->t);
    weir_ticket_release(&kt->t, 1);
    ks_check_bounds(ks);
}

/* One message becomes one record of the current batch (or an error, or
 * nothing when its partition is no longer ours). Takes ownership of m. */
void ks_take(struct kafka_source *ks, rd_kafka_message_t *m)
{
    if (m->err) {
        char why[512];
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        snprintf(why, sizeof why, "%s", rd_kafka_message_errstr(m));
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (weir_kafka_error_fatal(m->err))
                ks_fail(ks, -EIO, "%s: topic \"%s\": %s", topic, why);
            else
                weir_kafka_warn(&ks->cl, why);
        }
        rd_kafka_message_destroy(m);
        return;
    }
    struct kpart *p = ks_part_find(ks, rd_kafka_topic_name(m->rkt), m->partition);
    if (!p || !p->assigned || p->revoking) { /* the next owner reads it */
        rd_kafka_message_destroy(m);
        return;
    }
    if (!p->started) /* a record proves its fetch start was served */
        ks_part_started(ks, p, "a record");
    if (p->first < 0)
        p->first = m->offset;
    if (!p->ready || ks->held || ks->wait_resume) {
        /* its state is being restored, the workers are still joining, or
         * the worker asked us to wait: it waits (the partition is paused) */
        if (p->nwaiting == p->capwaiting) {
            size_t cap = p->capwaiting ? p->capwaiting * 2 : 64;
            rd_kafka_message_t **v = realloc(p->waiting, cap * sizeof *v);
            if (!v) {
                rd_kafka_message_destroy(m);
                ks_fail(ks, -ENOMEM, "%s: out of memory%s%s", "", "");
                return;
            }
            p->waiting = v;
            p->capwaiting = cap;
        }
        p->waiting[p->nwaiting++] = m;
        return;
    }
    if (!ks->batch) {
        ks->batch = weir_worker_batch(ks->s->worker);
        ks->bt = ks->batch ? ticket_get(ks) : NULL;
        if (!ks->bt) {
            if (ks->batch)
                weir_batch_put(ks->batch);
            ks->batch = NULL;
            rd_kafka_message_destroy(m);
            ks_fail(ks, -ENOMEM, "%s: out of memory%s%s", "", "");
            return;
        }
    }
    struct weir_batch *b = ks->batch;
    struct kticket *kt = ks->bt;
    struct kseg *g = kt->segs;
    while (g && g->part != p)
        g = g->tnext;
    if (!g) {
        if ((g = ks->free_segs))
            ks->free_segs = g->next;
        else if (!(g = malloc(sizeof *g))) {
            rd_kafka_message_destroy(m);
            ks_fail(ks, -ENOMEM, "%s: out of memory%s%s", "", "");
            return;
        }
        *g = (struct kseg){.part = p};
        if (p->tail)
            p->tail->next = g;
        else
            p->head = g;
        p->tail = g;
        g->tnext = kt->segs;
        kt->segs = g;
    }
    g->next_offset = m->offset + 1;
    p->next = m->offset + 1;
    int i = weir_batch_push(b);
    struct weir_record *r = &b->rec[i];
    r->value = m->payload ? (const char *)m->payload : "";
    r->value_len = m->payload ? (uint32_t)m->len : 0;
    r->key = m->key;
    r->key_len = (uint32_t)m->key_len;
    r->ts_ms = weir_kafka_event_time(rd_kafka_message_timestamp(m, NULL));
    r->offset = m->offset;
    r->partition = m->partition;
    r->topic = p->topic;
    r->part = p->slot;
    kt->msgs[kt->nmsgs++] = m;
    kt->bytes += m->len;
    ks->inflight_records++;
    ks->inflight_bytes += m->len;
    if (b->n == b->cap)
        ks_flush_batch(ks);
}

/* ---- the loop side -------------------------------------------------------- */

static void arm_poll(struct kafka_source *ks)
{
    if (ks->poll_armed || ks->stopping)
        return;
    if (weir_loop_poll(ks->s->worker->loop, ks->efd, POLLIN, &ks->poll_ev) == 0)
        ks->poll_armed = 1;
}

void ks_finish(struct kafka_source *ks)
{
    if (ks->finished)
        return;
    if (ks->committing && ks->txn)
        return; /* ks_txn_ended() finishes: a commit is on its way (maybe still quiescing) */
    if (ks->ckpt_final == 1 || (ks->ckpt_final == 0 && ks_ckpt_final(ks)))
        return; /* ckpt_done() finishes: the last checkpoint is on its way */
    ks_flush_batch(ks);
    ks->finished = 1;
    weir_worker_source_finished(ks->s->worker);
}

/* Records that waited for their partition's state go first. */
static void feed_waiting(struct kafka_source *ks)
{
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (!p->assigned || !p->ready || !p->nwaiting)
            continue;
        size_t n = p->nwaiting;
        p->nwaiting = 0;
        for (size_t k = 0; k < n; k++)
            ks_take(ks, p->waiting[k]);
    }
}

/* Takes everything the queue has now, without blocking. */
void ks_drain(struct kafka_source *ks)
{
    struct weir_worker *w = ks->s->worker;
    if (ks->draining || ks->finished)
        return;
    ks->draining = 1;
    if (ks->held)
        ks_hold_check(ks);
    ks_txn_check_fenced(ks);
    /* a reload's new producer still initializing transactions, off the
     * loop: nothing is taken until it is through (the tick looks again) */
    int starting = ks->txn && weir_kafka_txn_starting(ks->txn);
    if (!ks->committing && !ks->ckpt_holding && !ks->held && !starting &&
        !weir_worker_should_pause(w))
        feed_waiting(ks);
    while (!ks->stopping && !w->failed && !ks->committing && !starting) {
        /* a checkpoint's hold waits as a busy sink does: lasting, the
         * partitions pause and the queue is served for its events (a
         * rebalance, the poll interval) */
        int waiting = weir_worker_should_pause(w) || ks->ckpt_holding;
        if (waiting) {
            if (!ks->wait_resume)
                ks->wait_since = weir_now_ns();
            ks->wait_resume = 1; /* resume() drains again */
            if (!ks->kpaused)
                break; /* the tick pauses the partitions if it lasts */
            /* paused partitions deliver nothing more: the queue is served
             * once for its events (a rebalance) */
        }
        if (ks->throttled_since && !ks->kpaused)
            break; /* ks_check_bounds() wakes us below half */
        size_t room = ks->cap - (ks->batch ? ks->batch->n : 0);
        ssize_t n = rd_kafka_consume_batch_queue(ks->q, 0, ks->scratch, room);
        if (n < 0) {
            ks_fail(ks, -EIO, "%s: consume: %s%s", rd_kafka_err2str(rd_kafka_last_error()), "");
            break;
        }
        for (ssize_t i = 0; i < n; i++)
            ks_take(ks, ks->scratch[i]);
        if (ks->txn && ks->txn_records >= (uint64_t)ks->c->commit_records)
            ks_txn_commit(ks);
        ks_txn_check_fenced(ks);
        if (ks->cl.fatal)
            ks_fail(ks, -EIO, "%s: brokers %s: %s", ks->cl.brokers, ks->cl.last_err);
        if (n == 0 || waiting)
            break;
    }
    ks_flush_batch(ks);
    ks->draining = 0;
    if (ks->stopping || w->failed)
        ks_finish(ks);
    else
        arm_poll(ks);
}

static void on_poll(struct weir_event *ev, int res)
{
    struct kafka_source *ks = (struct kafka_source *)((char *)ev - offsetof(struct kafka_source, poll_ev));
    uint64_t v;
    ks->poll_armed = 0;
    ks->poll_cancelled = 0;
    if (ks->closing)
        return; /* replaced by a reload (detached), or cancelled by it */
    if (read(ks->efd, &v, sizeof v) < 0) {
        /* nothing to read: a spurious wake-up */
    }
    if (!ks->wait_resume || ks->kpaused)
        ks_drain(ks);
}

/* Lag for the metrics: the high watermark librdkafka caches from its fetch
 * responses (rd_kafka_get_watermark_offsets never asks the broker), minus
 * the next offset to read. */
static void ks_progress(struct kafka_source *ks)
{
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (!p->assigned)
            continue;
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(ks->rk, p->topic, p->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
            hi = -1;
        int64_t pos = p->next; /* -1 before the first record */
        weir_worker_partition_progress(ks->s->worker, p->slot, pos, hi, p->stored);
    }
}

static void on_tick(struct weir_event *ev, int res)
{
    struct kafka_source *ks = (struct kafka_source *)((char *)ev - offsetof(struct kafka_source, tick_ev));
    ks->tick_armed = 0;
    ks->tick_cancelled = 0;
    if (ks->stopping || ks->finished)
        return;
    uint64_t now = weir_now_ns();
    if (!ks->kpaused && ((ks->throttled_since && now - ks->throttled_since >= PAUSE_AFTER_NS) ||
                         (ks->wait_resume && now - ks->wait_since >= PAUSE_AFTER_NS)))
        ks_pause_all(ks, 1);
    ks_ckpt_maybe(ks);
    ks_commit_retry(ks);
    ks_revoke_check(ks);
    ks_txn_check_fenced(ks);
    ks_progress(ks);
    if (!ks->wait_resume || ks->kpaused)
        ks_drain(ks);
    if (!ks->stopping && weir_loop_timer(ks->s->worker->loop, TICK_NS, &ks->tick_ev) == 0)
        ks->tick_armed = 1;
}

/* ---- the source type ------------------------------------------------------- */

/* What the source reads back from the consumer's settings once "kafka" is
 * applied: "debug", and auto.commit.interval.ms (the commit retry waits three
 * of them). A "statistics.interval.ms" given is used (a deferred pause or
 * resume waits up to that long), but not 0: the statistics tell when a
 * partition's fetch started (kafka_fetch_start.c). */
static int read_consumer_conf(struct kafka_source *ks, rd_kafka_conf_t *conf,
                              struct weir_error *err)
{
    char v[64];
    size_t n = sizeof v;
    if (rd_kafka_conf_get(conf, "statistics.interval.ms", v, &n) == RD_KAFKA_CONF_OK &&
        strcmp(v, "0") == 0)
        return weir_error_set(err, -EINVAL, "%s: \"statistics.interval.ms\": 0 is not allowed: "
                              "the source needs librdkafka's statistics to tell when a "
                              "partition's fetch has started (docs/kafka.md)", ks->cl.what);
    n = sizeof v;
    ks->debug = rd_kafka_conf_get(conf, "debug", v, &n) == RD_KAFKA_CONF_OK && v[0];
    n = sizeof v;
    long interval_ms = rd_kafka_conf_get(conf, "auto.commit.interval.ms", v, &n) == RD_KAFKA_CONF_OK
                           ? strtol(v, NULL, 10)
                           : 0;
    ks->commit_retry_ns = 3ull * (uint64_t)(interval_ms > 0 ? interval_ms : 1000) * 1000000ull;
    return 0;
}

static int make_consumer(struct kafka_source *ks, struct weir_error *err)
{
    const struct weir_kafka_source_conf *c = ks->c;
    const struct weir_worker *w = ks->s->worker;
    char errstr[512], client_id[300], instance[300];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(client_id, sizeof client_id, "weir-%s-%d", w->pl->name, w->id);
    if (c->guarantee == WEIR_KAFKA_EXACTLY_ONCE) { /* names the member's producer (kafka_fence.c) */
        char tid[256];
        weir_kafka_transactional_id(w->pl, w->id, tid, sizeof tid);
        ks_fence_client_id(tid, client_id, sizeof client_id);
    }
    snprintf(instance, sizeof instance, "%s-%d", c->instance_id ? c->instance_id : "", w->id);
    weir_kafka_conf_common(conf, &ks->cl);
    rd_kafka_conf_set_rebalance_cb(conf, ks_on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, ks_on_commit);
    rd_kafka_conf_set_stats_cb(conf, ks_on_stats); /* when fetches start (kafka_fetch_start.c) */
    int rc;
    if ((rc = weir_kafka_conf_set(conf, "bootstrap.servers", ks->cl.brokers, ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "group.id", ks->group, ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "client.id", client_id, ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.auto.offset.store", "false", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.auto.commit", "true", ks->cl.what, err)) < 0 ||
        /* Recovery: acknowledged offsets reach the broker within a second (a
         * crash re-reads about a second of input, not five), and a dead
         * member's partitions move after 10 s, not 45 (librdkafka's
         * defaults); under exactly-once after 6 s (the brokers' minimum by
         * default), heartbeats every 1 s, since the dead member's open
         * transaction holds back read_committed readers until the survivors
         * learn of the rebalance (on their next heartbeat), take its
         * partitions and fence it (kafka_fence.c). The loop never blocks the
         * heartbeats, which run on librdkafka's thread; both can be set
         * through "kafka". */
        (rc = weir_kafka_conf_set(conf, "auto.commit.interval.ms", "1000", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "session.timeout.ms",
                                  c->guarantee == WEIR_KAFKA_EXACTLY_ONCE ? "6000" : "10000",
                                  ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "heartbeat.interval.ms",
                                  c->guarantee == WEIR_KAFKA_EXACTLY_ONCE ? "1000" : "2000",
                                  ks->cl.what, err)) < 0 ||
        (c->instance_id &&
         (rc = weir_kafka_conf_set(conf, "group.instance.id", instance, ks->cl.what, err)) < 0) ||
        (rc = weir_kafka_conf_set(conf, "auto.offset.reset", c->start ? "latest" : "earliest",
                                  ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.partition.eof", "false", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "statistics.interval.ms", "250", ks->cl.what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "socket.nagle.disable", "true", ks->cl.what, err)) < 0 ||
        /* librdkafka 2.0.2 stops fetching a partition for 1 s whenever its local queue
         * reaches queued.min.messages: a high mark keeps a backlog flowing (bench/kafka.sh:
         * 179k -> 479k records/s); the in-flight bounds still limit what weir holds. */
        (rc = weir_kafka_conf_set(conf, "queued.min.messages", "1000000", ks->cl.what, err)) < 0 ||
        /* librdkafka's mock cluster (2.0.2) holds a fetch that finds nothing for
         * all of fetch.wait.max.ms (500 ms), even when records arrive meanwhile: a
         * consumer that caught up with a replay idled half a second while the
         * replay waited for it (replay.c keeps its lead over the consumers under
         * 2 MiB): 14k records/s instead of 80k. 50 ms: under 1% of a core more idle. */
        (ks->cl.embedded &&
         (rc = weir_kafka_conf_set(conf, "fetch.wait.max.ms", "50", ks->cl.what, err)) < 0) ||
        (rc = weir_kafka_props_apply(conf, c->kafka, 0, ks->cl.what, err)) < 0 ||
        (c->guarantee == WEIR_KAFKA_EXACTLY_ONCE && /* after the pass-through: these win */
         ((rc = weir_kafka_conf_set(conf, "enable.auto.commit", "false", ks->cl.what, err)) < 0 ||
          (rc = weir_kafka_conf_set(conf, "isolation.level", "read_committed", ks->cl.what, err)) < 0))) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    if ((rc = read_consumer_conf(ks, conf, err)) < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr); /* owns conf on success */
    if (!ks->rk) {
        rd_kafka_conf_destroy(conf);
        return weir_error_set(err, -EINVAL, "%s: cannot create the consumer: %s", ks->cl.what, errstr);
    }
    return 0;
}

static rd_kafka_resp_err_t subscribe(struct kafka_source *ks)
{
    const struct weir_kafka_source_conf *c = ks->c;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)c->topics.n);
    for (size_t i = 0; i < c->topics.n; i++)
        rd_kafka_topic_partition_list_add(l, c->topics.v[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(ks->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

/* The embedded cluster lives and dies with this process, so its partitions
 * are split among the workers up front (partition % workers == worker id)
 * instead of through a consumer group: no group to form, no rebalance to
 * re-deliver records while a replay is counted. Offsets are still committed
 * to the group. */
static rd_kafka_resp_err_t assign_embedded(struct kafka_source *ks)
{
    const struct weir_kafka_source_conf *c = ks->c;
    const struct weir_worker *w = ks->s->worker;
    int n = w->nworkers > 0 ? w->nworkers : 1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (size_t i = 0; i < c->topics.n; i++)
        for (int p = 0; p < WEIR_KAFKA_EMBEDDED_PARTITIONS; p++)
            if (p % n == w->id)
                rd_kafka_topic_partition_list_add(l, c->topics.v[i], p);
    /* a reload's replaced consumer commits later, off the loop: its
     * successor starts where it stopped, not at the committed offsets */
    const struct weir_source *prev = ks->s->prev;
    const struct kafka_source *old = prev && prev->type == &weir_source_kafka ? prev->state : NULL;
    for (int i = 0; old && old->handoff && i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *h = rd_kafka_topic_partition_list_find(
            old->handoff, l->elems[i].topic, l->elems[i].partition);
        if (h)
            l->elems[i].offset = h->offset;
    }
    ks_log_partitions(ks, "assigned (embedded cluster: fixed)", l);
    ks_parts_assigned(ks, l);
    rd_kafka_topic_partition_list_t *late = ks_pause_unready(ks, l, 0);
    rd_kafka_resp_err_t e = rd_kafka_assign(ks->rk, l);
    ks_pause_late(ks, late);
    rd_kafka_topic_partition_list_destroy(l);
    return e;
}

static int ks_open(struct weir_source *s, struct weir_error *err)
{
    const struct weir_kafka_source_conf *c = s->conf;
    struct weir_worker *w = s->worker;
    struct kafka_source *ks = calloc(1, sizeof *ks);
    if (!ks)
        return weir_error_set(err, -ENOMEM, "out of memory");
    s->state = ks;
    ks->s = s;
    ks->c = c;
    ks->efd = -1;
    ks->cap = w->pl->max_records;
    ks->poll_ev.done = on_poll;
    ks->tick_ev.done = on_tick;
    ks->txn_ev.done = ks_on_txn_timer;
    if (c->guarantee == WEIR_KAFKA_EXACTLY_ONCE && !(ks->txn = weir_kafka_txn_of(w)))
        return weir_error_set(err, -EINVAL, "kafka source (worker %d): \"exactly_once\" needs the "
                              "worker's kafka sinks", w->id);
    s->name = c->topics.n == 1 ? c->topics.v[0] : "kafka";
    snprintf(ks->cl.what, sizeof ks->cl.what, "kafka source (worker %d)", w->id);
    if (c->group)
        snprintf(ks->group, sizeof ks->group, "%s", c->group);
    else
        snprintf(ks->group, sizeof ks->group, "weir-%s", w->pl->name);
    if (!(ks->scratch = calloc(ks->cap, sizeof *ks->scratch)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    int rc = weir_kafka_brokers_resolve(&ks->cl, c->brokers, c->topics.v, c->topics.n, err);
    if (rc < 0 || (rc = make_consumer(ks, err)) < 0)
        return rc;
    /* A reload's (prev set): its topics were checked before the workers took
     * it, off the loop (weir_kafka_source_precheck); at start nothing runs yet */
    if (!s->prev && (rc = weir_kafka_check_topics(ks->rk, &ks->cl, c->topics.v, c->topics.n,
                                                  c->connect_timeout_ns, err)) < 0)
        return rc;
    ks->cl.started = 1;
    rd_kafka_poll_set_consumer(ks->rk);
    ks->q = rd_kafka_queue_get_consumer(ks->rk);
    ks->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!ks->q || ks->efd < 0)
        return weir_error_set(err, -EIO, "%s: cannot set up the consumer queue's eventfd", ks->cl.what);
    static const uint64_t one = 1; /* an eventfd takes 8 bytes */
    rd_kafka_queue_io_event_enable(ks->q, ks->efd, &one, sizeof one);
    rd_kafka_resp_err_t e = ks->cl.embedded ? assign_embedded(ks) : subscribe(ks);
    if (e)
        return weir_error_set(err, -EIO, "%s: %s: %s", ks->cl.what,
                              ks->cl.embedded ? "assign" : "subscribe", rd_kafka_err2str(e));
    if (!ks->cl.embedded && ks_startup_join(ks) < 0)
        return weir_error_set(err, -ENOMEM, "out of memory");
    if (!ks->cl.embedded && ks->txn) {
        char tid[256];
        weir_kafka_transactional_id(w->pl, w->id, tid, sizeof tid);
        if (ks_fence_start(ks, tid) < 0)
            return weir_error_set(err, -EAGAIN, "%s: cannot start the fencer thread", ks->cl.what);
    }
    ks->subscribed = 1;
    ks->durable = w->has_durable;
    ks->ckpt_last = weir_now_ns();
    arm_poll(ks);
    if (weir_loop_timer(w->loop, 1000000, &ks->tick_ev) == 0) /* a first look right away */
        ks->tick_armed = 1;
    return 0;
}

static void ks_resume(struct weir_source *s)
{
    struct kafka_source *ks = s->state;
    ks->wait_resume = 0;
    ks->wait_since = 0;
    ks_unpause(ks);
    ks_drain(ks);
}

/* SIGTERM or a failure: read no more; what is in flight finishes (the worker
 * waits for every acknowledgement) and close() commits it. */
static void ks_stop(struct weir_source *s)
{
    struct kafka_source *ks = s->state;
    ks->stopping = 1;
    /* A reload replaces it: under exactly-once its transaction ends now, on
     * the producer's transaction thread (ks_txn_commit), and the source
     * finishes once that is over (ks_txn_ended), so that detach() has
     * nothing left to end on the loop. */
    if (s->replacing && !ks->finished && ks->rk && ks->subscribed && ks->txn &&
        !s->worker->failed)
        ks_txn_commit(ks);
    if (!ks->draining)
        ks_finish(ks);
}

/* The poll and the tick of a replaced source may never fire now: both are
 * cancelled (their done() still runs, and clears the armed flag). A cancel
 * that found no room on the ring is tried again from quiet(). */
static void ks_cancel_events(struct kafka_source *ks)
{
    struct weir_loop *loop = ks->s->worker->loop;
    if (ks->poll_armed && !ks->poll_cancelled)
        ks->poll_cancelled = weir_loop_cancel(loop, &ks->poll_ev) == 0;
    if (ks->tick_armed && !ks->tick_cancelled)
        ks->tick_cancelled = weir_loop_cancel(loop, &ks->tick_ev) == 0;
}

/* A reload replaced this (stopped) source. Under exactly-once its
 * transaction ended when it stopped, off the loop (ks_stop); an end here,
 * on the loop, only when none could run then (kafka_source_close.c); the
 * last commit and leaving the group, so that its partitions go to the new
 * consumer, run on a closer thread once quiet() finds nothing of it left
 * on the loop; close() frees the rest after that thread is through. */
static void ks_detach(struct weir_source *s)
{
    struct kafka_source *ks = s->state;
    if (!ks)
        return;
    ks->closing = ks->stopping = ks->replaced = 1;
    if (ks->rk && ks->subscribed && ks->txn) {
        ks_txn_commit_now(ks); /* aborts instead when the worker failed */
        ks->txn_ended = 1;
    } else if (ks->rk && !ks->txn && ks->cl.embedded) {
        /* assigned: the successor takes the same partitions at once, from
         * here (its commit comes later, on the closer thread; one landing
         * after the successor's own would only mean rereading, never a loss) */
        ks->handoff = rd_kafka_topic_partition_list_new((int)ks->nparts + 1);
        for (size_t i = 0; i < ks->nparts; i++) {
            const struct kpart *p = ks->parts[i];
            if (p->assigned && p->stored >= 0)
                rd_kafka_topic_partition_list_add(ks->handoff, p->topic, p->partition)->offset =
                    p->stored;
        }
    }
    ks_cancel_events(ks);
}

/* A replaced source may be closed and freed once nothing on the loop points
 * at it: no poll, tick or transaction timer armed, no quiesce (revocation,
 * checkpoint, commit) waiting in the worker's list, no checkpoint or batch
 * ticket out. Its partition slots need no wait: a slot its successor on
 * this worker assigned since (the same topic and partition: an assigned
 * consumer's fixed split, or a group's new assignment while a revocation of
 * the old one still waited) is the successor's, and the close leaves it
 * alone (weir_worker_partition_release); the others are revoked then.
 * Once quiet so far, the consumer closes on a thread of its own, and the
 * source is quiet when that thread is through. */
static int ks_quiet(struct weir_source *s)
{
    struct kafka_source *ks = s->state;
    if (!ks)
        return 1;
    ks_cancel_events(ks);
    for (const struct weir_quiesce *q = s->worker->quiescing; q; q = q->next)
        if (q->ctx == ks)
            return 0;
    if (ks->closer_state != KS_CLOSER_NONE) /* the closer owns the consumer until joined */
        return ks_closer_joined(ks, 0);
    if (ks->poll_armed || ks->tick_armed || ks->txn_armed || ks->live || ks->ckpt_busy ||
        ks->committing)
        return 0;
    /* nothing of it on the loop: the consumer leaves off it (kafka_source_close.c) */
    return ks->left || ks_closer_start(ks) < 0;
}

static void ks_close(struct weir_source *s)
{
    struct kafka_source *ks = s->state;
    if (!ks)
        return;
    ks->closing = ks->stopping = 1;
    ks_closer_joined(ks, 1); /* a replaced one's closer: the worker is ending */
    if (ks->batch) { /* never dispatched: its messages go back unstored */
        weir_batch_put(ks->batch);
        ks->batch = NULL;
    }
    ks_revoke_finish(ks); /* one still waiting: its outputs are in (or abandoned) by now */
    if (ks->ckpt) /* a checkpoint still out: the changelog's close releases it later */
        ks->ckpt->ks = NULL;
    ks_leave(ks, ks->replaced); /* on the loop at shutdown: it is finishing anyway */
    /* Tickets still out (a failed run): keep them for their holders, drop the
     * messages now (librdkafka wants them back before rd_kafka_destroy). */
    for (struct kticket *kt = ks->live, *next; kt; kt = next) {
        next = kt->next;
        for (uint32_t i = 0; i < kt->nmsgs; i++)
            rd_kafka_message_destroy(kt->msgs[i]);
        kt->nmsgs = 0;
        for (struct kseg *g = kt->segs, *gn; g; g = gn) {
            gn = g->tnext;
            if (g->part)
                g->tdone = 1; /* freed with its partition below */
            else
                free(g);
        }
        kt->segs = NULL;
        kt->ks = NULL;
        if (kt->t.pending == 0) /* the batch never left the source */
            ticket_done(&kt->t);
    }
    for (size_t i = 0; i < ks->nparts; i++) {
        if (ks->parts[i]->release_slot) /* revoked by the closer thread */
            weir_worker_partition_release(s->worker, s, ks->parts[i]->slot);
        ks_part_orphan(ks, ks->parts[i]);
        free(ks->parts[i]->waiting);
        free(ks->parts[i]->topic);
        free(ks->parts[i]);
    }
    free(ks->parts);
    ks_consumer_destroy(ks); /* a replaced one's closer did it already */
    ks_startup_leave(ks);
    if (ks->efd >= 0)
        close(ks->efd);
    weir_kafka_client_release(&ks->cl);
    for (struct kticket *kt = ks->free_tickets, *next; kt; kt = next) {
        next = kt->next;
        free(kt->msgs);
        free(kt);
    }
    for (struct kseg *g = ks->free_segs, *next; g; g = next) {
        next = g->next;
        free(g);
    }
    if (ks->replaced && !s->worker->closing) /* one line per reload that changed it */
        weir_log(WEIR_LOG_INFO, "%s: the replaced consumer is closed\n", ks->cl.what);
    if (ks->handoff)
        rd_kafka_topic_partition_list_destroy(ks->handoff);
    free(ks->scratch);
    free(ks);
    s->state = NULL;
}

const struct weir_source_type weir_source_kafka = {
    .name = "kafka",
    .summary = "A Kafka consumer per worker in one consumer group; at-least-once (offsets stored "
               "after every output is acknowledged), or exactly-once through Kafka transactions",
    .options = weir_kafka_source_options,
    .conf_size = sizeof(struct weir_kafka_source_conf),
    .per_worker = 1,
    .prepare = weir_kafka_source_prepare,
    .check = weir_kafka_source_check,
    .precheck = weir_kafka_source_precheck,
    .open = ks_open,
    .resume = ks_resume,
    .partition_ready = ks_partition_ready,
    .transactional = ks_transactional,
    .durable = &weir_durable_kafka,
    .timestamps = 1,
    .message_keys = 1,
    .stop = ks_stop,
    .detach = ks_detach,
    .quiet = ks_quiet,
    .close = ks_close,
};

