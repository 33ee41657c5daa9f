/* The Kafka changelog: durable operator state (engine/durable.h) in a
 * compacted topic, the way Kafka Streams backs its state stores.
 *
 * Layout. The state of source partition (topic, P) goes to partition P of the
 * changelog, so it follows its partition to whichever process owns it next.
 * Several source topics share one changelog: a message's key is the source
 * topic, a NUL byte, then the engine's key; its value is the engine's value,
 * or null (a tombstone) for a deletion. Compaction keeps the last value of
 * each key and eventually drops tombstones.
 *
 * open() makes sure the topic exists, before the loop runs (blocking there is
 * fine; kafka_changelog_topic.c): created compacted with as many partitions as
 * the widest source topic, or, when it exists, checked for that many
 * partitions and for cleanup.policy=compact.
 *
 * Writes. At-least-once: an idempotent producer of our own (acks=all), whose
 * delivery reports release the tickets; they are served on the worker's loop
 * through the main queue's eventfd, as the Kafka sink does. When librdkafka's
 * queue is full, writes wait in a FIFO (and every later write behind them, to
 * keep each key's order) and go out from the next delivery completion or a
 * short timer, without blocking the loop. Exactly-once: the worker's
 * transactional producer (kafka_sink.c), so state, outputs and input offsets
 * commit or abort together. A write that fails at once releases its ticket
 * with ok = 0 and returns -errno, after one line on standard error.
 *
 * Restores. One consumer per worker, outside any consumer group's
 * membership: a changelog partition is assigned from the beginning
 * (rd_kafka_incremental_assign) and read until its end, which librdkafka
 * 2.0.2 reports as RD_KAFKA_RESP_ERR__PARTITION_EOF (enable.partition.eof),
 * then unassigned. An empty partition ends the same way: the first fetch
 * answer, at offset 0 = the high watermark, brings the EOF (seen on the
 * embedded cluster and on Kafka 4.1.1), so no watermark query, which would
 * block, and no timer are needed. Under exactly-once the consumer reads
 * read_committed: the end is the last stable offset and aborted entries are
 * skipped. The consumer queue's eventfd wakes the loop, which drains it
 * without blocking. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/buf.h"
#include "engine/durable.h"
#include "engine/loop.h"
#include "engine/pipeline.h"
#include "engine/worker.h"
#include "engine/log.h"

#define RETRY_NS (20ull * 1000000ull)   /* a full queue: try again this soon (deliveries wake us first) */
#define TICK_NS (100ull * 1000000ull)   /* while restoring: drain even without a wake-up */
#define CLOSE_FLUSH_MS 5000             /* close(): wait this long for deliveries */
#define TXN_FULL_MS 30000               /* exactly-once: a full queue fails the write after this */
#define NSCRATCH 256                    /* messages taken from the restore queue at once */

/* A write librdkafka's queue had no room for (at-least-once). */
struct pending {
    struct pending *next;
    struct weir_ticket *t;
    int32_t partition;
    uint32_t klen, vlen;
    char data[];                        /* key (topic, NUL, key), then value */
};

enum { R_WAITING, R_ACTIVE, R_ENDING, R_OVER };

/* One restore() in progress. */
struct restore {
    struct restore *next;
    uint32_t part;                      /* the engine's */
    int32_t partition;                  /* source partition = changelog partition */
    int state;                          /* R_WAITING: its partition is being read for another */
    size_t tlen;
    char topic[];
};

struct changelog {
    struct weir_kafka_client pcl;       /* our producer's: its opaque (at-least-once) */
    struct weir_kafka_client ccl;       /* the restore consumer's: its opaque */
    struct weir_durable *d;
    const char *name;                   /* d->where */
    int32_t nparts;                     /* the changelog's partitions */
    /* writing */
    rd_kafka_t *prk;                    /* ours, or the worker's transactional producer */
    int own;                            /* prk is ours (at-least-once) */
    struct weir_kafka_txn *txn;         /* exactly-once */
    rd_kafka_topic_t *prkt;             /* ours only: the shared producer may close first */
    rd_kafka_queue_t *pq;
    int pefd;
    struct weir_event pev, retry_ev;
    int pev_armed, retry_armed;
    struct pending *phead, *ptail;
    struct weir_buf key;
    uint64_t failed;                    /* failed deliveries (at-least-once) */
    int fatal_said;
    /* restoring */
    rd_kafka_t *crk;
    rd_kafka_queue_t *cq;
    int cefd;
    struct weir_event cev, tick_ev;
    int cev_armed, tick_armed;
    unsigned char *reading;             /* (nparts) the partition is assigned */
    struct restore *restores;
    int depth;                          /* inside the engine's callbacks: see settle() */
    int settle;                         /* restores ended: partitions may move on */
    int closing;
    rd_kafka_message_t *scratch[NSCRATCH];
};

#define FROM(ptr, member) ((struct changelog *)((char *)(ptr) - offsetof(struct changelog, member)))

/* ---- writing ---------------------------------------------------------------- */

static rd_kafka_resp_err_t produce(struct changelog *c, int32_t partition, const void *key,
                                   size_t klen, const void *value, size_t vlen,
                                   struct weir_ticket *t)
{
    if (c->prkt)
        return rd_kafka_producev(c->prk, RD_KAFKA_V_RKT(c->prkt), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_KEY(key, klen),
                                 RD_KAFKA_V_VALUE(vlen ? (void *)value : NULL, vlen),
                                 RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
    /* The shared transactional producer: by name, so that we keep no topic
     * handle on a producer the sinks may destroy before we close; asked for
     * each time, since a fenced one is re-created (kafka_txn.c). */
    return rd_kafka_producev(weir_kafka_txn_rk(c->txn), RD_KAFKA_V_TOPIC(c->name),
                             RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_KEY(key, klen),
                             RD_KAFKA_V_VALUE(vlen ? (void *)value : NULL, vlen),
                             RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
}

static void arm_retry(struct changelog *c)
{
    if (!c->retry_armed && !c->closing &&
        weir_loop_timer(c->d->loop, RETRY_NS, &c->retry_ev) == 0)
        c->retry_armed = 1;
}

static void write_failed(struct changelog *c, int32_t partition, rd_kafka_resp_err_t e)
{
    if (c->failed++ == 0) /* the first says it; the tickets carry the rest */
        weir_log(WEIR_LOG_ERROR, "%s: writing to changelog topic \"%s\" [%d] on brokers %s failed: %s "
                "(the input it covers won't be committed)\n", c->pcl.what, c->name, (int)partition,
                c->pcl.brokers, rd_kafka_err2str(e));
}

/* Produces the writes that waited for room, in order, until the queue is
 * full again. */
static void pending_retry(struct changelog *c)
{
    while (c->phead) {
        struct pending *pe = c->phead;
        rd_kafka_resp_err_t e = produce(c, pe->partition, pe->data, pe->klen, pe->data + pe->klen,
                                        pe->vlen, pe->t);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        if (!(c->phead = pe->next))
            c->ptail = NULL;
        if (e) {
            write_failed(c, pe->partition, e);
            if (pe->t)
                weir_ticket_release(pe->t, 0);
        }
        free(pe);
    }
    if (c->phead)
        arm_retry(c);
}

/* Keeps a write for later; takes over its hold on t. */
static int pending_add(struct changelog *c, int32_t partition, const void *value, uint32_t vlen,
                       struct weir_ticket *t)
{
    struct pending *pe = malloc(sizeof *pe + c->key.len + vlen);
    if (!pe)
        return -ENOMEM;
    pe->next = NULL;
    pe->t = t;
    pe->partition = partition;
    pe->klen = (uint32_t)c->key.len;
    pe->vlen = vlen;
    memcpy(pe->data, c->key.data, c->key.len);
    if (vlen)
        memcpy(pe->data + c->key.len, value, vlen);
    if (c->ptail)
        c->ptail->next = pe;
    else
        c->phead = pe;
    c->ptail = pe;
    arm_retry(c);
    return 0;
}

static void on_retry(struct weir_event *ev, int res)
{
    struct changelog *c = FROM(ev, retry_ev);
    c->retry_armed = 0;
    if (c->closing)
        return;
    rd_kafka_poll(c->prk, 0); /* delivery reports make the room */
    pending_retry(c);
}

/* Our producer's delivery report: the entry is durable (or not). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct changelog *c = FROM(opaque, pcl);
    struct weir_ticket *t = m->_private;
    if (m->err && m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
        m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        write_failed(c, m->partition, m->err);
    if (t)
        weir_ticket_release(t, m->err == 0);
}

static void arm_ppoll(struct changelog *c)
{
    if (!c->pev_armed && !c->closing && weir_loop_poll(c->d->loop, c->pefd, POLLIN, &c->pev) == 0)
        c->pev_armed = 1;
}

static void on_ppoll(struct weir_event *ev, int res)
{
    struct changelog *c = FROM(ev, pev);
    uint64_t v;
    c->pev_armed = 0;
    if (c->closing)
        return;
    if (read(c->pefd, &v, sizeof v) < 0) {
        /* nothing to read: a spurious wake-up */
    }
    rd_kafka_poll(c->prk, 0); /* delivery reports and errors, all that are queued */
    pending_retry(c);
    arm_ppoll(c);
}

/* Exactly-once, queue full: the entry must join the transaction open now,
 * which the source may commit at any moment, so it can't wait on the loop.
 * Serve delivery reports and retry, as the Kafka sinks do. */
static rd_kafka_resp_err_t produce_txn(struct changelog *c, int32_t partition, const void *value,
                                       uint32_t vlen, struct weir_ticket *t)
{
    uint64_t deadline = weir_now_ns() + TXN_FULL_MS * 1000000ull;
    rd_kafka_resp_err_t e;
    while ((e = produce(c, partition, c->key.data, c->key.len, value, vlen, t)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL && weir_now_ns() < deadline)
        weir_kafka_txn_serve(c->txn, 10); /* event-mode delivery reports: the sinks' code serves them */
    return e;
}

static int cl_write(struct weir_durable *d, const char *topic, int32_t partition, const void *key,
                    uint32_t klen, const void *value, uint32_t vlen, struct weir_ticket *t)
{
    struct changelog *c = d->state;
    if (partition < 0 || partition >= c->nparts) {
        weir_log(WEIR_LOG_ERROR, "%s: source partition \"%s\" [%d] has no changelog partition: "
                "changelog topic \"%s\" has %d (add partitions to it)\n", c->pcl.what, topic,
                (int)partition, c->name, (int)c->nparts);
        return -ERANGE;
    }
    if (c->pcl.fatal) {
        if (!c->fatal_said)
            weir_log(WEIR_LOG_ERROR, "%s: brokers %s: %s\n", c->pcl.what, c->pcl.brokers, c->pcl.last_err);
        c->fatal_said = 1;
        return -EIO;
    }
    weir_buf_reset(&c->key);
    if (weir_buf_append(&c->key, topic, strlen(topic) + 1) < 0 ||
        weir_buf_append(&c->key, key, klen) < 0)
        return -ENOMEM;
    if (t)
        weir_ticket_hold(t); /* released by the delivery report */
    rd_kafka_resp_err_t e;
    if (c->txn) {
        /* The engine writes inside a dispatched batch's transaction; begin
         * one should it write between transactions (the next commit takes it). */
        struct weir_error err;
        if (!weir_kafka_txn_is_open(c->txn) && weir_kafka_txn_begin(c->txn, &err) < 0) {
            weir_log(WEIR_LOG_ERROR, "%s: %s\n", c->pcl.what, err.msg);
            if (t)
                weir_ticket_release(t, 0);
            return err.code;
        }
        e = produce_txn(c, partition, value, vlen, t);
    } else {
        /* Behind writes still waiting for room, a write waits too: each
         * key's entries must reach the partition in order. */
        e = c->phead ? RD_KAFKA_RESP_ERR__QUEUE_FULL
                     : produce(c, partition, c->key.data, c->key.len, value, vlen, t);
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (pending_add(c, partition, value, vlen, t) == 0)
                return 0;
            weir_log(WEIR_LOG_ERROR, "%s: out of memory\n", c->pcl.what);
            if (t)
                weir_ticket_release(t, 0);
            return -ENOMEM;
        }
    }
    if (!e)
        return 0;
    weir_log(WEIR_LOG_ERROR, "%s: produce to changelog topic \"%s\" [%d] on brokers %s: %s\n",
            c->pcl.what, c->name, (int)partition, c->pcl.brokers, rd_kafka_err2str(e));
    if (t)
        weir_ticket_release(t, 0);
    return -EIO;
}

/* ---- restoring -------------------------------------------------------------- */

static void arm_cpoll(struct changelog *c)
{
    if (!c->cev_armed && !c->closing && weir_loop_poll(c->d->loop, c->cefd, POLLIN, &c->cev) == 0)
        c->cev_armed = 1;
}

/* rd_kafka_incremental_(un)assign hand the change to librdkafka's thread and
 * wait for it to take it: no network round trip. Without a subscription the
 * group has no rebalance protocol, so the incremental calls are allowed and
 * leave the other partitions' positions alone. */
static int assign(struct changelog *c, int32_t partition, int on)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->name, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *e = on ? rd_kafka_incremental_assign(c->crk, l)
                             : rd_kafka_incremental_unassign(c->crk, l);
    rd_kafka_topic_partition_list_destroy(l);
    c->reading[partition] = on && !e;
    if (!e)
        return 0;
    weir_log(WEIR_LOG_ERROR, "%s: %s changelog topic \"%s\" [%d]: %s\n", c->ccl.what,
            on ? "assign" : "unassign", c->name, (int)partition, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -EIO;
}

/* Calls restored() for r once; nothing more is called for it. */
static void restore_end(struct changelog *c, struct restore *r, int rc)
{
    if (r->state == R_OVER)
        return;
    r->state = R_OVER;
    c->settle = 1;
    c->depth++;
    c->d->restored(c->d, r->part, rc);
    c->depth--;
}

static int count_on(const struct changelog *c, int32_t partition, int state)
{
    int n = 0;
    for (const struct restore *r = c->restores; r; r = r->next)
        n += r->partition == partition && r->state == state;
    return n;
}

/* No restore reads partition any more: give it up, and read it again from
 * the beginning for the restores that waited for it. */
static void partition_next(struct changelog *c, int32_t partition)
{
    if (c->reading[partition])
        assign(c, partition, 0);
    if (!count_on(c, partition, R_WAITING))
        return;
    for (struct restore *r = c->restores; r; r = r->next)
        if (r->partition == partition && r->state == R_WAITING)
            r->state = R_ACTIVE;
    if (assign(c, partition, 1) < 0)
        for (struct restore *r = c->restores; r; r = r->next)
            if (r->partition == partition && r->state == R_ACTIVE)
                restore_end(c, r, -EIO);
}

/* After restores ended or were cancelled: partitions nobody reads any more
 * move on. Never from inside the engine's callbacks, which may cancel or
 * start restores: a restore that waited must not see the rest of a read
 * that began before it. Frees what is over. */
static void settle(struct changelog *c)
{
    if (c->depth)
        return;
    while (c->settle) {
        c->settle = 0;
        for (int32_t p = 0; p < c->nparts; p++)
            if (!count_on(c, p, R_ACTIVE) && (c->reading[p] || count_on(c, p, R_WAITING)))
                partition_next(c, p);
    }
    for (struct restore **pp = &c->restores, *r; (r = *pp);) {
        if (r->state == R_OVER) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

/* Ends every restore reading partition: 0 at its end, or -errno. */
static void partition_end(struct changelog *c, int32_t partition, int rc, const char *why)
{
    for (struct restore *r = c->restores; r; r = r->next)
        if (r->partition == partition && r->state == R_ACTIVE)
            r->state = R_ENDING; /* not those restored() starts */
    for (struct restore *r = c->restores; r; r = r->next) {
        if (r->partition != partition || r->state != R_ENDING)
            continue;
        if (rc < 0)
            weir_log(WEIR_LOG_INFO, "%s: restoring \"%s\" [%d] from changelog topic \"%s\" on brokers "
                    "%s failed: %s\n", c->ccl.what, r->topic, (int)partition, c->name,
                    c->ccl.brokers, why);
        restore_end(c, r, rc);
    }
}

/* One message of a changelog partition: an entry for each restore of its
 * source topic. Takes ownership of m. */
static void take(struct changelog *c, rd_kafka_message_t *m)
{
    int32_t p = m->partition;
    int ours = m->rkt && p >= 0 && p < c->nparts && c->reading[p];
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (ours)
            partition_end(c, p, 0, NULL);
    } else if (m->err) {
        char why[512];
        snprintf(why, sizeof why, "%s", rd_kafka_message_errstr(m));
        /* a damaged record (check.crcs): the restore stops, as a damaged
         * state file does, rather than leave the entry out unsaid */
        if (ours && (weir_kafka_error_fatal(m->err) || m->err == RD_KAFKA_RESP_ERR__BAD_MSG))
            partition_end(c, p, -EIO, why);
        else
            weir_kafka_warn(&c->ccl, why);
    } else if (ours) {
        const char *k = m->key;
        const char *nul = k ? memchr(k, 0, m->key_len) : NULL;
        size_t tlen = nul ? (size_t)(nul - k) : 0;
        size_t klen = nul ? m->key_len - tlen - 1 : 0;
        for (struct restore *r = c->restores; nul && r; r = r->next) {
            if (r->partition != p || r->state != R_ACTIVE || r->tlen != tlen ||
                memcmp(r->topic, k, tlen) != 0)
                continue;
            c->depth++;
            int rc = c->d->entry(c->d, r->part, nul + 1, (uint32_t)klen,
                                 m->len ? m->payload : NULL, (uint32_t)m->len);
            c->depth--;
            if (rc < 0)
                restore_end(c, r, rc);
        }
    }
    rd_kafka_message_destroy(m);
    settle(c);
}

/* A fatal client error (authorization, a fenced or failed client) ends every
 * restore in progress. */
static void check_fatal(struct changelog *c)
{
    if (!c->ccl.fatal)
        return;
    for (int32_t p = 0; p < c->nparts; p++)
        if (count_on(c, p, R_ACTIVE))
            partition_end(c, p, -EIO, c->ccl.last_err);
    settle(c);
}

/* Takes everything the consumer queue has now, without blocking. */
static void drain(struct changelog *c)
{
    ssize_t n;
    while ((n = rd_kafka_consume_batch_queue(c->cq, 0, c->scratch, NSCRATCH)) > 0)
        for (ssize_t i = 0; i < n; i++)
            take(c, c->scratch[i]);
    check_fatal(c);
}

static void arm_tick(struct changelog *c)
{
    if (!c->tick_armed && !c->closing && c->restores &&
        weir_loop_timer(c->d->loop, TICK_NS, &c->tick_ev) == 0)
        c->tick_armed = 1;
}

static void on_cpoll(struct weir_event *ev, int res)
{
    struct changelog *c = FROM(ev, cev);
    uint64_t v;
    c->cev_armed = 0;
    if (c->closing)
        return;
    if (read(c->cefd, &v, sizeof v) < 0) {
        /* nothing to read: a spurious wake-up */
    }
    drain(c);
    arm_cpoll(c);
}

/* The safety net for a missed wake-up, while restores are in progress. */
static void on_tick(struct weir_event *ev, int res)
{
    struct changelog *c = FROM(ev, tick_ev);
    c->tick_armed = 0;
    if (c->closing)
        return;
    drain(c);
    arm_tick(c);
}

static int cl_restore(struct weir_durable *d, uint32_t part, const char *topic, int32_t partition)
{
    struct changelog *c = d->state;
    if (partition < 0 || partition >= c->nparts) {
        weir_log(WEIR_LOG_ERROR, "%s: source partition \"%s\" [%d] has no changelog partition: "
                "changelog topic \"%s\" has %d (add partitions to it)\n", c->ccl.what, topic,
                (int)partition, c->name, (int)c->nparts);
        return -ERANGE;
    }
    size_t tlen = strlen(topic);
    struct restore *r = malloc(sizeof *r + tlen + 1);
    if (!r)
        return -ENOMEM;
    r->part = part;
    r->partition = partition;
    r->tlen = tlen;
    memcpy(r->topic, topic, tlen + 1);
    /* A partition being read for another source topic is read again after
     * it: joining halfway would miss the entries before. */
    r->state = c->reading[partition] ? R_WAITING : R_ACTIVE;
    if (r->state == R_ACTIVE && assign(c, partition, 1) < 0) {
        free(r);
        return -EIO;
    }
    r->next = c->restores;
    c->restores = r;
    arm_tick(c);
    return 0;
}

static void cl_cancel(struct weir_durable *d, uint32_t part)
{
    struct changelog *c = d->state;
    for (struct restore *r = c->restores; r; r = r->next)
        if (r->part == part && r->state != R_OVER) {
            r->state = R_OVER; /* without a callback */
            c->settle = 1;
        }
    settle(c);
}

/* ---- the clients ------------------------------------------------------------ */

static int consumer_new(struct changelog *c, const struct weir_kafka_source_conf *src,
                        struct weir_error *err)
{
    const struct weir_worker *w = c->d->w;
    char errstr[512], client_id[300], group[300];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(client_id, sizeof client_id, "weir-%s-%d-changelog", w->pl->name, w->id);
    /* rd_kafka_assign needs a group.id, but the consumer never joins it nor
     * commits to it: the source's group, which its ACLs already cover. */
    if (src->group)
        snprintf(group, sizeof group, "%s", src->group);
    else
        snprintf(group, sizeof group, "weir-%s", w->pl->name);
    weir_kafka_conf_common(conf, &c->ccl);
    const char *what = c->ccl.what;
    int rc;
    if ((rc = weir_kafka_conf_set(conf, "bootstrap.servers", c->ccl.brokers, what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "group.id", group, what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "client.id", client_id, what, err)) < 0 ||
        (rc = weir_kafka_props_apply(conf, src->kafka, 1, what, err)) < 0 ||
        /* after the pass-through: these win */
        (rc = weir_kafka_conf_set(conf, "enable.auto.commit", "false", what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.auto.offset.store", "false", what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.partition.eof", "true", what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "auto.offset.reset", "earliest", what, err)) < 0 ||
        /* The end of a partition shows in the fetch after its last message,
         * which waits this long for more: a restore ends that much sooner. */
        (rc = weir_kafka_conf_set(conf, "fetch.wait.max.ms", "50", what, err)) < 0 ||
        /* read_committed under at-least-once too: a changelog written
         * under exactly-once before (the guarantee switched by a restart)
         * holds aborted entries, which a restore must not apply; entries
         * written without transactions read the same either way */
        (rc = weir_kafka_conf_set(conf, "isolation.level", "read_committed", what, err)) < 0 ||
        /* a record damaged on the broker's disk is refused, not restored as
         * state (brokers check CRCs when written, not when served) */
        (rc = weir_kafka_conf_set(conf, "check.crcs", "true", what, err)) < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    c->crk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr); /* owns conf on success */
    if (!c->crk) {
        rd_kafka_conf_destroy(conf);
        return weir_error_set(err, -EINVAL, "%s: cannot create the restore consumer: %s", what, errstr);
    }
    return 0;
}

/* After the topic checks (they serve its main queue with rd_kafka_poll). */
static int consumer_start(struct changelog *c, struct weir_error *err)
{
    if (!(c->reading = calloc((size_t)c->nparts, 1)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    rd_kafka_poll_set_consumer(c->crk); /* errors come with the messages */
    c->cq = rd_kafka_queue_get_consumer(c->crk);
    c->cefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!c->cq || c->cefd < 0)
        return weir_error_set(err, -EIO, "%s: cannot set up the restore consumer's eventfd",
                              c->ccl.what);
    static const uint64_t one = 1; /* an eventfd takes 8 bytes */
    rd_kafka_queue_io_event_enable(c->cq, c->cefd, &one, sizeof one);
    arm_cpoll(c);
    return 0;
}

static int producer_new(struct changelog *c, const struct weir_kafka_source_conf *src,
                        struct weir_error *err)
{
    const struct weir_worker *w = c->d->w;
    char errstr[512], client_id[300];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(client_id, sizeof client_id, "weir-%s-%d-changelog", w->pl->name, w->id);
    weir_kafka_conf_common(conf, &c->pcl);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    const char *what = c->pcl.what;
    int rc;
    if ((rc = weir_kafka_conf_set(conf, "bootstrap.servers", c->pcl.brokers, what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "client.id", client_id, what, err)) < 0 ||
        (rc = weir_kafka_props_apply(conf, src->kafka, 1, what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "enable.idempotence", "true", what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "acks", "all", what, err)) < 0 ||
        (rc = weir_kafka_conf_set(conf, "linger.ms", "5", what, err)) < 0) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    c->prk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr); /* owns conf on success */
    if (!c->prk) {
        rd_kafka_conf_destroy(conf);
        return weir_error_set(err, -EINVAL, "%s: cannot create the producer: %s", what, errstr);
    }
    c->own = 1;
    if (!(c->prkt = rd_kafka_topic_new(c->prk, c->name, NULL)))
        return weir_error_set(err, -EINVAL, "%s: topic \"%s\": %s", what, c->name,
                              rd_kafka_err2str(rd_kafka_last_error()));
    c->pq = rd_kafka_queue_get_main(c->prk);
    c->pefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!c->pq || c->pefd < 0)
        return weir_error_set(err, -EIO, "%s: cannot set up the delivery reports' eventfd", what);
    static const uint64_t one = 1; /* an eventfd takes 8 bytes */
    rd_kafka_queue_io_event_enable(c->pq, c->pefd, &one, sizeof one);
    arm_ppoll(c);
    return 0;
}

static int cl_open(struct weir_durable *d, struct weir_error *err)
{
    struct weir_worker *w = d->w;
    const struct weir_kafka_source_conf *src = weir_kafka_source_conf_of(w->pl);
    struct changelog *c = calloc(1, sizeof *c);
    if (!c)
        return weir_error_set(err, -ENOMEM, "out of memory");
    d->state = c;
    c->d = d;
    c->name = d->where;
    c->pefd = c->cefd = -1;
    c->pev.done = on_ppoll;
    c->retry_ev.done = on_retry;
    c->cev.done = on_cpoll;
    c->tick_ev.done = on_tick;
    snprintf(c->ccl.what, sizeof c->ccl.what, "kafka changelog \"%s\" (worker %d)",
             c->name ? c->name : "", w->id);
    snprintf(c->pcl.what, sizeof c->pcl.what, "%s", c->ccl.what);
    if (!c->name || !c->name[0])
        return weir_error_set(err, -EINVAL, "%s: no changelog topic name", c->ccl.what);
    if (!src)
        return weir_error_set(err, -EINVAL, "%s: a Kafka changelog needs a kafka source (its "
                              "brokers, and the partitions its state follows)", c->ccl.what);
    /* Embedded: also creates the source topics, which the source (opened
     * after us) would otherwise create, and which set the partition count. */
    int rc = weir_kafka_brokers_resolve(&c->ccl, src->brokers, src->topics.v, src->topics.n, err);
    if (rc < 0 || (rc = consumer_new(c, src, err)) < 0)
        return rc;
    rc = weir_kafka_changelog_topic(c->crk, &c->ccl, c->name, src->topics.v, src->topics.n,
                                    src->connect_timeout_ns, err);
    if (rc < 0)
        return rc;
    c->nparts = rc;
    /* An error event seen during those checks (the topic missing before we
     * created it) is over: it must not end the first restores. */
    c->ccl.fatal = 0;
    c->ccl.last_err[0] = 0;
    snprintf(c->pcl.brokers, sizeof c->pcl.brokers, "%s", c->ccl.brokers);
    if (d->exactly_once) {
        if (!(c->txn = weir_kafka_txn_of(w)))
            return weir_error_set(err, -EINVAL, "%s: exactly-once writes join the worker's "
                                  "transactions, but it has no transactional producer (no kafka "
                                  "sink opened)", c->pcl.what);
        c->prk = weir_kafka_txn_rk(c->txn);
    } else if ((rc = producer_new(c, src, err)) < 0) {
        return rc;
    }
    if ((rc = consumer_start(c, err)) < 0)
        return rc;
    c->pcl.started = c->ccl.started = 1;
    return 0;
}

/* Our producer's deliveries get CLOSE_FLUSH_MS; what is left (and what never
 * went out) fails its tickets: nothing past it gets committed. */
static void producer_close(struct changelog *c)
{
    uint64_t deadline = weir_now_ns() + CLOSE_FLUSH_MS * 1000000ull;
    while ((c->phead || rd_kafka_outq_len(c->prk) > 0) && !c->pcl.fatal &&
           weir_now_ns() < deadline) {
        pending_retry(c);
        rd_kafka_flush(c->prk, 50);
    }
    rd_kafka_purge(c->prk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(c->prk, 0);
    for (struct pending *pe = c->phead, *next; pe; pe = next) {
        next = pe->next;
        if (pe->t)
            weir_ticket_release(pe->t, 0);
        free(pe);
    }
    c->phead = c->ptail = NULL;
    if (c->prkt)
        rd_kafka_topic_destroy(c->prkt);
    if (c->pq)
        rd_kafka_queue_destroy(c->pq);
    rd_kafka_destroy(c->prk);
}

/* Runs when the loop no longer dispatches (the worker is being destroyed), so
 * events still armed are dropped with it. */
static void cl_close(struct weir_durable *d)
{
    struct changelog *c = d->state;
    if (!c)
        return;
    c->closing = 1;
    if (c->own && c->prk)
        producer_close(c);
    if (c->cq)
        rd_kafka_queue_destroy(c->cq);
    if (c->crk) /* never joined the group: nothing to leave or commit */
        rd_kafka_destroy_flags(c->crk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (c->pefd >= 0)
        close(c->pefd);
    if (c->cefd >= 0)
        close(c->cefd);
    weir_kafka_client_release(&c->ccl);
    for (struct restore *r = c->restores, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    free(c->reading);
    weir_buf_free(&c->key);
    free(c);
    d->state = NULL;
}

const struct weir_durable_type weir_durable_kafka = {
    .name = "kafka",
    .open = cl_open,
    .restore = cl_restore,
    .cancel = cl_cancel,
    .write = cl_write,
    .sync = NULL, /* at-least-once: tickets; exactly-once: the transaction's commit flushes */
    .close = cl_close,
};
