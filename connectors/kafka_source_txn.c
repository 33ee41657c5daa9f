/* The Kafka source's exactly-once transactions (see kafka_source.h): a
 * batch begins one; every commit_interval (or commit_records inputs) the
 * operators hand on what they hold, the changed state joins the
 * transaction, and the producer's transaction thread sends the offsets and
 * commits (kafka_txn.c) while the loop goes on. */
#include "connectors/kafka_source.h"
#include "engine/log.h"


/* Exactly-once: a batch goes into the open transaction, or begins one. */
int ks_txn_begin(struct kafka_source *ks)
{
    struct weir_error e;
    int rc = weir_kafka_txn_begin(ks->txn, &e);
    if (rc < 0) {
        if (!weir_kafka_txn_fenced(ks->txn)) /* fenced: the next end re-creates the producer */
            weir_worker_fail(ks->s->worker, &e);
        return rc;
    }
    if (!ks->txn_armed && !ks->closing &&
        weir_loop_timer(ks->s->worker->loop, ks->c->commit_interval_ns, &ks->txn_ev) == 0)
        ks->txn_armed = 1;
    return 0;
}

/* ---- transactions (exactly-once) ------------------------------------------ */

static int txn_timeout_ms(const struct kafka_source *ks)
{
    return (int)(ks->c->connect_timeout_ns / 1000000u);
}


/* The assigned partitions whose fetch has started: an abort seeks only
 * them (weir_kafka_rewind_seeks). Read here, on the loop, when the end is
 * handed over, and still true when it rewinds: while it runs ks_drain()
 * consumes nothing (ks->committing), so no record, rebalance or statistics
 * can start a partition or change the assignment. */
static rd_kafka_topic_partition_list_t *txn_started(struct kafka_source *ks)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ks->nparts + 1);
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (p->assigned && p->started)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->first;
    }
    return l;
}

/* What the transaction commits: past every record dispatched, per partition. */
static rd_kafka_topic_partition_list_t *txn_offsets(struct kafka_source *ks)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ks->nparts + 1);
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (p->assigned && p->next >= 0 && p->next != p->sent)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->next;
    }
    return l;
}

static void txn_release(struct kafka_source *ks, struct weir_kafka_txn_end *e)
{
    if (e->offsets)
        rd_kafka_topic_partition_list_destroy(e->offsets);
    if (e->rewound)
        rd_kafka_topic_partition_list_destroy(e->rewound);
    if (e->started)
        rd_kafka_topic_partition_list_destroy(e->started);
    e->offsets = e->rewound = e->started = NULL;
    ks->txn_records = 0;
    ks->committing = 0;
}

/* The transaction is over. Committed: the offsets are the group's now.
 * Aborted: the input was rewound to the committed offsets and the state is
 * read back from the changelog, so both restart from the last commit. */
static void txn_finished(struct kafka_source *ks, struct weir_kafka_txn_end *e)
{
    struct weir_worker *w = ks->s->worker;
    if (e->rc == 0 && e->offsets) {
        for (int i = 0; i < e->offsets->cnt; i++) {
            struct kpart *p = ks_part_find(ks, e->offsets->elems[i].topic, e->offsets->elems[i].partition);
            if (p)
                p->sent = e->offsets->elems[i].offset;
        }
    } else if (e->rc == -EAGAIN) {
        int n = 0;
        for (int i = 0; e->rewound && i < e->rewound->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &e->rewound->elems[i];
            struct kpart *p = ks_part_find(ks, tp->topic, tp->partition);
            if (p) {
                p->next = p->sent = tp->offset >= 0 ? tp->offset : -1;
                ks_waiting_drop(p); /* fetched before the rewind */
                n++;
            }
        }
        if (e->replaced)
            weir_log(WEIR_LOG_WARN, "%s: recovered from being fenced (another member of group "
                     "\"%s\" took this one for gone, e.g. after it was stopped past the session "
                     "timeout): the producer is re-created with the same transactional.id, its "
                     "open transaction abandoned, %d partition(s) rewound to their committed "
                     "offsets and their state read back\n", ks->cl.what, ks->group, n);
        else
            weir_log(WEIR_LOG_WARN, "%s: transaction aborted; %d partition(s) rewound to their "
                     "committed offsets and their state read back (their records go through the "
                     "operators again)\n", ks->cl.what, n);
        if (weir_worker_state_reload(w) == 0)
            for (size_t i = 0; i < ks->nparts; i++)
                if (ks->parts[i]->assigned)
                    ks->parts[i]->ready = weir_worker_partition_ready(w, ks->parts[i]->slot);
    } else if (e->rc < 0) {
        struct weir_error err;
        weir_error_set(&err, e->rc, "%s", e->msg);
        weir_worker_fail(w, &err);
    }
    txn_release(ks, e);
}

void ks_txn_ended(struct weir_kafka_txn_end *e, void *ctx)
{
    struct kafka_source *ks = ctx;
    txn_finished(ks, e);
    if (ks->revoking)
        ks_revoke_finish(ks);
    if (ks->stopping || ks->s->worker->failed)
        ks_finish(ks);
    else if (!ks->closing && ks->txn_abandon)
        ks_txn_commit(ks); /* the assignment was lost while this one ended */
    else if (!ks->closing)
        ks_wake_self(ks); /* ks_drain() took no message while we committed */
}

/* Writes the state that changed into the open transaction (beginning one if
 * only state changed) and fills the end's request. */
static void txn_prepare_end(struct kafka_source *ks, struct weir_kafka_txn_end *e)
{
    struct weir_worker *w = ks->s->worker;
    int rewind = ks->txn_abandon || weir_kafka_txn_fenced(ks->txn) || /* fenced: the end
                                                      re-creates the producer, then rewinds */
                 weir_kafka_txn_must_abort(ks->txn);
    ks->txn_abandon = 0;
    if (!w->failed && ks->durable && !rewind) {
        struct weir_error err;
        if (weir_kafka_txn_begin(ks->txn, &err) < 0)
            weir_worker_fail(w, &err);
        else if (weir_worker_checkpoint(w, NULL, 0) < 0) {
            /* The transaction cannot hold this state (it became abortable: a
             * rejected delivery): abort it, rewind, and read the state back,
             * as after any abort. Committing would lose the state changes. */
            weir_log(WEIR_LOG_WARN, "%s: the state changelog could not join the transaction; "
                    "aborting it\n", ks->cl.what);
            rewind = 1;
        }
    }
    *e = (struct weir_kafka_txn_end){
        .abort = w->failed, .abort_rewind = rewind, .consumer = ks->rk,
        .offsets = w->failed ? NULL : txn_offsets(ks), .timeout_ms = txn_timeout_ms(ks),
        .start_latest = ks->c->start, .started = txn_started(ks), .done = ks_txn_ended,
        .ctx = ks,
    };
}

static void txn_quiesced(struct weir_worker *w, void *ctx)
{
    struct kafka_source *ks = ctx;
    txn_prepare_end(ks, &ks->txn_end);
    if (weir_kafka_txn_end(ks->txn, &ks->txn_end) < 0) {
        struct weir_error err;
        weir_error_set(&err, -EIO, "%s: a transaction end is already running", ks->cl.what);
        weir_worker_fail(w, &err);
        txn_finished(ks, &ks->txn_end);
    }
}

/* Commits on the loop, never waiting for the brokers there: what the source
 * batched goes down the chain, the operators hand on what they hold (they
 * may ks_finish later, from another completion), then the producer's
 * transaction thread sends the offsets and commits (kafka_txn.c) while the
 * loop serves delivery reports. Meanwhile ks_drain() takes no message. */
void ks_txn_commit(struct kafka_source *ks)
{
    if (!ks->txn || ks->committing || ks->finished) /* finished: the loop may stop before
                                                       the end came back (a commit timer after a
                                                       failure) */
        return;
    if (!ks->s->worker->failed)
        ks_flush_batch(ks);
    ks->committing = 1;
    ks->txn_q = (struct weir_quiesce){.done = txn_quiesced, .ctx = ks, .why = WEIR_FLUSH_COMMIT};
    weir_worker_quiesce(ks->s->worker, &ks->txn_q);
}

/* At close, the loop has stopped and the operators hold nothing: the end
 * runs on this thread. */
void ks_txn_commit_now(struct kafka_source *ks)
{
    if (!ks->txn)
        return;
    /* An end handed over whose answer the stopped loop never delivered: its
     * thread is through with ks->txn_end, and its lists are freed, before
     * this source goes. Rewound (aborted), nothing more may commit: offsets
     * past the aborted records would lose their outputs. */
    struct weir_kafka_txn_end *out = weir_kafka_txn_end_wait(ks->txn);
    if (out && out->rc == -EAGAIN) {
        txn_release(ks, out);
        return;
    }
    if (out)
        txn_finished(ks, out);
    ks_flush_batch(ks);
    struct weir_kafka_txn_end e;
    txn_prepare_end(ks, &e);
    weir_kafka_txn_end_now(ks->txn, &e);
    txn_finished(ks, &e);
}

int ks_transactional(const void *conf)
{
    return ((const struct weir_kafka_source_conf *)conf)->guarantee == WEIR_KAFKA_EXACTLY_ONCE;
}

/* The worker's producer was fenced (its error showed on a delivery, a
 * produce, or a begin): an end, run now, re-creates it (kafka_txn.c), so the
 * worker goes on instead of failing. */
void ks_txn_check_fenced(struct kafka_source *ks)
{
    if (ks->txn && !ks->committing && !ks->closing && !ks->stopping &&
        weir_kafka_txn_fenced(ks->txn))
        ks_txn_commit(ks);
}

/* The assignment was lost (the session expired): the open transaction may
 * hold outputs of partitions another member reads now, so it is aborted and
 * the partitions still assigned are rewound, never committed. */
void ks_txn_abandon(struct kafka_source *ks)
{
    if (!ks->txn || ks->closing || ks->stopping)
        return;
    ks->txn_abandon = 1;
    ks_txn_commit(ks); /* a running end: ks_txn_ended() starts the aborting one after it */
}

void ks_on_txn_timer(struct weir_event *ev, int res)
{
    struct kafka_source *ks = (struct kafka_source *)((char *)ev - offsetof(struct kafka_source, txn_ev));
    ks->txn_armed = 0;
    if (!ks->closing)
        ks_txn_commit(ks);
}

