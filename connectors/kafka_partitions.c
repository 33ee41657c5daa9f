/* The Kafka source's partitions (see kafka_source.h): offset tracking per
 * partition (segments finish out of order, offsets are stored in order, and
 * with durable state no further than the last saved state covers),
 * at-least-once checkpoints of the keyed state, and rebalances that never
 * wait on the loop: a revocation finishes from later completions. */
#include "connectors/kafka_source.h"
#include "engine/log.h"

#include <stdlib.h>

/* ---- partitions and offsets --------------------------------------------- */

struct kpart *ks_part_find(struct kafka_source *ks, const char *topic, int32_t partition)
{
    struct kpart *p = ks->last;
    if (p && p->partition == partition && strcmp(p->topic, topic) == 0)
        return p;
    for (size_t i = 0; i < ks->nparts; i++) {
        p = ks->parts[i];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return ks->last = p;
    }
    return NULL;
}

static struct kpart *part_get(struct kafka_source *ks, const char *topic, int32_t partition)
{
    struct kpart *p = ks_part_find(ks, topic, partition);
    if (p)
        return p;
    if (ks->nparts == ks->partcap) {
        size_t cap = ks->partcap ? ks->partcap * 2 : 16;
        struct kpart **v = realloc(ks->parts, cap * sizeof *v);
        if (!v)
            return NULL;
        ks->parts = v;
        ks->partcap = cap;
    }
    if (!(p = calloc(1, sizeof *p)) || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->next = p->sent = p->revoke_at = p->named = p->want_pause = -1;
    ks->parts[ks->nparts++] = p;
    return p;
}

void ks_seg_free(struct kafka_source *ks, struct kseg *g)
{
    g->next = ks->free_segs;
    ks->free_segs = g;
}

/* Stores what may be committed: past the acknowledged prefix, and with
 * durable state no further than the last saved state covers, so a restart
 * restores state and input from the same point. */
static void part_store(struct kafka_source *ks, struct kpart *p)
{
    int64_t off = p->acked;
    if (ks->durable && p->safe < off)
        off = p->safe;
    if (off < 0 || off <= p->stored || !ks->rk || ks->txn || !p->assigned)
        return; /* exactly-once: offsets go inside the transaction instead */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = off;
    if (!rd_kafka_offsets_store(ks->rk, l))
        p->stored = off;
    rd_kafka_topic_partition_list_destroy(l);
}

/* The longest done prefix of p's FIFO is acknowledged. */
void ks_part_advance(struct kafka_source *ks, struct kpart *p)
{
    int64_t off = -1;
    while (p->head && p->head->done) {
        struct kseg *g = p->head;
        off = g->next_offset;
        p->head = g->next;
        ks_seg_free(ks, g); /* its ticket let go of it already (done implies tdone) */
    }
    if (!p->head)
        p->tail = NULL;
    if (off >= 0)
        p->acked = off;
    part_store(ks, p);
}

void ks_waiting_drop(struct kpart *p)
{
    for (size_t i = 0; i < p->nwaiting; i++)
        rd_kafka_message_destroy(p->waiting[i]);
    p->nwaiting = 0;
}

/* A revoked partition forgets its FIFO: the segments still held by tickets
 * become theirs alone, and nothing more is stored for it. */
size_t ks_part_orphan(struct kafka_source *ks, struct kpart *p)
{
    size_t pending = 0;
    for (struct kseg *g = p->head, *next; g; g = next) {
        next = g->next;
        if (g->tdone) {
            ks_seg_free(ks, g);
        } else {
            g->part = NULL;
            pending++;
        }
    }
    p->head = p->tail = NULL;
    p->revoking = 0;
    p->started = 0;
    p->want_pause = -1;
    ks_waiting_drop(p);
    if (p->assigned && ks->closer_state == KS_CLOSER_RUNNING)
        p->release_slot = 1; /* the slots are the loop's: close() releases it */
    else if (p->assigned) /* not when a reload's successor holds the slot now */
        weir_worker_partition_release(ks->s->worker, ks->s, p->slot);
    p->assigned = 0;
    if (ks->last == p)
        ks->last = NULL;
    return pending;
}

void ks_pause_all(struct kafka_source *ks, int pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(ks->rk, &l) == 0 && l)
        ks_set_paused(ks, l, pause);
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    ks->kpaused = pause;
}

/* Wakes our own poll: ks_drain from the loop, never from inside an acknowledgement. */
void ks_wake_self(struct kafka_source *ks)
{
    uint64_t one = 1;
    if (write(ks->efd, &one, sizeof one) < 0) {
        /* the counter is saturated: a wake-up is pending anyway */
    }
}

static void resume_ready(struct kafka_source *ks);

/* Paused partitions fetch again once the source is under its bounds and the
 * worker no longer asks it to wait. */
void ks_unpause(struct kafka_source *ks)
{
    if (!ks->kpaused || ks->throttled_since || ks->wait_resume || ks->closing)
        return;
    ks->kpaused = 0;
    if (!ks->held) /* released at start-up by ks_hold_check */
        resume_ready(ks);
}

void ks_check_bounds(struct kafka_source *ks)
{
    const struct weir_kafka_source_conf *c = ks->c;
    if (ks->inflight_records >= (uint64_t)c->max_inflight_records ||
        ks->inflight_bytes >= (uint64_t)c->max_inflight_bytes) {
        if (!ks->throttled_since)
            ks->throttled_since = weir_now_ns();
    } else if (ks->throttled_since &&
               ks->inflight_records < ((uint64_t)c->max_inflight_records + 1) / 2 &&
               ks->inflight_bytes < ((uint64_t)c->max_inflight_bytes + 1) / 2) {
        /* (+ 1: a bound of 1 has a half of 1, not 0, which nothing is under) */
        ks->throttled_since = 0;
        if (ks->closing)
            return;
        ks_unpause(ks);
        if (!ks->stopping)
            ks_wake_self(ks);
    }
}

/* ---- at-least-once checkpoints of the keyed state ----------------------------- */

static void ckpt_quiesced(struct weir_worker *w, void *ctx);

/* The entries are acknowledged: the marker of what they cover follows,
 * under the same ticket (a revocation waits for it too). Written with them
 * it could land although one of them was given up (an outage past
 * message.timeout.ms), and a restart would trust it. 1: ckpt_done runs
 * again once the marker is durable (maybe already, from in here). */
static int ckpt_mark(struct kckpt *k)
{
    struct weir_worker *w = k->ks->s->worker;
    if (k->marked || k->t.failed || w->failed)
        return 0;
    k->marked = 1;
    k->t.pending = 1;
    int n = weir_worker_checkpoint_covered(w, &k->t);
    if (n < 0) {
        struct weir_error e;
        weir_error_set(&e, -EIO, "%s: cannot write the state changelog", k->ks->cl.what);
        weir_worker_fail(w, &e);
    }
    weir_ticket_release(&k->t, n >= 0);
    return 1;
}

static void ckpt_quiesced(struct weir_worker *w, void *ctx);

/* A checkpoint's state is taken once the operators hold nothing and every
 * output is acknowledged, taking no input meanwhile: saved state never
 * reflects an output that a crash could still lose (an aggregate's window,
 * deleted from its state once written, would never be written again). */
static void ckpt_queue(struct kafka_source *ks, int why)
{
    ks->ckpt_busy = 1;
    ks->ckpt_holding = 1;
    ks->ckpt_q = (struct weir_quiesce){.done = ckpt_quiesced, .ctx = ks, .why = why, .acked = 1};
    weir_worker_quiesce(ks->s->worker, &ks->ckpt_q);
}

static void ckpt_done(struct weir_ticket *t)
{
    struct kckpt *k = (struct kckpt *)((char *)t - offsetof(struct kckpt, t));
    struct kafka_source *ks = k->ks;
    if (ks && ckpt_mark(k))
        return;
    int failed = t->failed;
    free(k);
    if (!ks)
        return; /* the source closed first (kafka_source.h: struct kckpt) */
    ks->ckpt = NULL;
    ks->ckpt_busy = 0;
    if (ks->ckpt_final && ks->ckpt_again && !failed && !ks->s->worker->failed) {
        /* a periodic one was in flight at stop: it does not cover what was
         * taken after it began, so one more, the last */
        ks->ckpt_again = 0;
        ks_ckpt_covered(ks);
        ckpt_queue(ks, WEIR_FLUSH_END);
        return;
    }
    if (ks->ckpt_final) { /* the last one, at stop: the source may finish now */
        ks->ckpt_final = 2;
        if (!failed)
            ks_ckpt_covered(ks);
        else if (!ks->s->worker->failed) /* else the worker's failure says it */
            weir_log(WEIR_LOG_ERROR, "%s: the last checkpoint was not acknowledged by the state "
                     "changelog %s: the offsets of what was processed since the one before are "
                     "not committed; the next run reads those records again\n", ks->cl.what,
                     ks->s->worker->durable.where);
        ks_finish(ks);
        return;
    }
    if (failed) {
        if (!ks->s->worker->failed) {
            struct weir_error e;
            weir_error_set(&e, -EIO, "%s: the state changelog %s did not acknowledge a checkpoint",
                           ks->cl.what, ks->s->worker->durable.where);
            weir_worker_fail(ks->s->worker, &e);
        }
    } else {
        ks_ckpt_covered(ks);
    }
    ks_revoke_check(ks); /* a revocation waits for this one */
}

/* The checkpoint is acknowledged: what it covers may be committed. */
void ks_ckpt_covered(struct kafka_source *ks)
{
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (p->assigned && p->covered > p->safe) {
            p->safe = p->covered;
            part_store(ks, p);
        }
    }
}

/* Every record dispatched so far went through every operator: what the
 * state holds covers exactly the offsets taken. */
static void ckpt_quiesced(struct weir_worker *w, void *ctx)
{
    struct kafka_source *ks = ctx;
    ks->ckpt_holding = 0;
    if (!w->failed && !ks->closing) {
        if (ks->wait_resume && !weir_worker_should_pause(w)) { /* waited for the hold only */
            ks->wait_resume = 0;
            ks->wait_since = 0;
            ks_unpause(ks);
        }
        ks_wake_self(ks); /* ks_drain() took nothing since the checkpoint began */
    }
    if (w->failed || ks->closing) {
        ks->ckpt_busy = 0;
        if (ks->ckpt_final && !w->failed)
            weir_log(WEIR_LOG_ERROR, "%s: closed before its last checkpoint: the offsets of what "
                     "was processed since the one before are not committed; the next owner reads "
                     "those records again\n", ks->cl.what);
        if (ks->ckpt_final) {
            ks->ckpt_final = 2;
            ks_finish(ks);
        }
        return;
    }
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        p->covered = p->assigned && p->ready ? p->next : -1;
        if (p->covered >= 0) /* saved with the state: a restart knows its replays */
            weir_worker_partition_covered(w, p->slot, p->covered);
    }
    struct kckpt *k = malloc(sizeof *k);
    if (k)
        *k = (struct kckpt){.t = {.pending = 1, .done = ckpt_done}, .ks = ks};
    if (!k || weir_worker_checkpoint(w, &k->t, 0) < 0) {
        struct weir_error e;
        weir_error_set(&e, -EIO, "%s: cannot write the state changelog", ks->cl.what);
        weir_worker_fail(w, &e);
    }
    if (!k) {
        ks->ckpt_busy = 0;
        return;
    }
    ks->ckpt = k;
    weir_ticket_release(&k->t, !w->failed);
}

/* At stop (at-least-once with durable state): a last checkpoint, so that
 * what was processed is committable. ks_finish() waits for it. Returns 1
 * when one was started. */
int ks_ckpt_final(struct kafka_source *ks)
{
    if (!ks->durable || ks->txn || ks->ckpt_final || ks->s->worker->failed)
        return 0;
    ks->ckpt_final = 1;
    if (ks->ckpt_busy) {
        ks->ckpt_again = 1; /* ckpt_done starts the last one after it */
        return 1;
    }
    ks_flush_batch(ks);
    ckpt_queue(ks, WEIR_FLUSH_END);
    return 1;
}

static void ckpt_start(struct kafka_source *ks)
{
    ks_flush_batch(ks);
    ckpt_queue(ks, WEIR_FLUSH_COMMIT);
}

void ks_ckpt_maybe(struct kafka_source *ks)
{
    if (!ks->durable || ks->txn || ks->ckpt_busy || ks->stopping)
        return;
    uint64_t now = weir_now_ns();
    if (now - ks->ckpt_last < ks->c->checkpoint_interval_ns)
        return;
    ks->ckpt_last = now;
    ckpt_start(ks);
}

/* ---- rebalancing ----------------------------------------------------------- */

static size_t pending_in(struct kafka_source *ks, const rd_kafka_topic_partition_list_t *l)
{
    size_t n = 0;
    for (int i = 0; i < l->cnt; i++) {
        struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
        if (p && p->head)
            n++;
    }
    return n;
}

static void unassign(struct kafka_source *ks, rd_kafka_topic_partition_list_t *l)
{
    rd_kafka_error_t *e = NULL;
    if (strcmp(rd_kafka_rebalance_protocol(ks->rk), "COOPERATIVE") == 0)
        e = rd_kafka_incremental_unassign(ks->rk, l);
    else
        rd_kafka_assign(ks->rk, NULL);
    if (e) {
        weir_kafka_warn(&ks->cl, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

/* The end of a revocation: commit what is stored (at-least-once), hand the
 * partitions back (their state is dropped), and tell librdkafka, which waited
 * for this call to go on with the rebalance. What was not acknowledged in
 * time is abandoned: the next owner reads it again. */
void ks_revoke_finish(struct kafka_source *ks)
{
    rd_kafka_topic_partition_list_t *l = ks->revoked;
    if (!ks->revoking || !l)
        return;
    if (!ks->txn && !ks_worker_failed(ks) && !rd_kafka_assignment_lost(ks->rk)) {
        /* explicit offsets: librdkafka skips those it believes committed */
        rd_kafka_topic_partition_list_t *c = rd_kafka_topic_partition_list_new(l->cnt);
        for (int i = 0; i < l->cnt; i++) {
            struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
            if (p && p->assigned && p->stored >= 0 && p->stored > p->committed) {
                rd_kafka_topic_partition_list_add(c, p->topic, p->partition)->offset = p->stored;
                p->revoke_at = p->stored; /* a failure is named when it comes back (ks_on_commit) */
            }
        }
        rd_kafka_resp_err_t e = c->cnt ? rd_kafka_commit(ks->rk, c, 1) : 0; /* async: the loop goes on */
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            ks_on_commit(ks->rk, e, c, ks); /* refused at once: named the same way */
        rd_kafka_topic_partition_list_destroy(c);
    }
    size_t abandoned = 0;
    int lost = rd_kafka_assignment_lost(ks->rk);
    for (int i = 0; i < l->cnt; i++) {
        struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
        if (!p)
            continue;
        /* checked against the brokers at close (a restarted broker can forget
         * a confirmed commit), reported then unless it came back */
        p->lost = lost && (p->stored >= 0 || p->acked >= 0);
        abandoned += ks_part_orphan(ks, p);
    }
    if (abandoned && !ks->closing)
        weir_log(WEIR_LOG_WARN, "%s: %zu batch(es) of revoked partitions were not acknowledged "
                "within drain_timeout; their records will be read again by the next owner\n",
                ks->cl.what, abandoned);
    ks->revoking = 0;
    ks->revoked = NULL;
    unassign(ks, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (!ks->stopping)
        ks_wake_self(ks);
}

/* At-least-once: called on every acknowledgement and tick while revoking. */
void ks_revoke_check(struct kafka_source *ks)
{
    /* exactly-once waits for its commit; or the operators are still flushing;
     * or the batch being filled is: a ticket acknowledged at once inside it
     * (a batch no sink kept) ended the revocation before its drain began,
     * against the last one's deadline, long past */
    if (!ks->revoking || ks->txn || ks->revoke_q.done || ks->revoke_flushing)
        return;
    /* A checkpoint in flight has written (or is writing) state to the
     * changelog that covers offsets the commit must cover too: finished
     * before it is acknowledged, the next owner restores that state and reads
     * those records again (counted twice). */
    int waiting = pending_in(ks, ks->revoked) || ks->ckpt_busy;
    if (!waiting || ks->s->worker->failed)
        ks_revoke_finish(ks);
    else if (weir_now_ns() >= ks->revoke_deadline) {
        if (ks->ckpt_busy)
            weir_log(WEIR_LOG_WARN,
                     "%s: a checkpoint of the state changelog was not acknowledged "
                     "within drain_timeout of a revocation: the next owner may count the records "
                     "since the one before twice in its keyed state\n",
                     ks->cl.what);
        ks_revoke_finish(ks);
    }
}

static void revoke_flush(struct kafka_source *ks)
{
    ks->revoke_flushing = 1;
    ks_flush_batch(ks);
    ks->revoke_flushing = 0;
}

static void revoke_quiesced(struct weir_worker *w, void *ctx)
{
    struct kafka_source *ks = ctx;
    ks->revoke_q.done = NULL;
    ks->revoke_deadline = weir_now_ns() + ks->c->drain_timeout_ns;
    ks_revoke_check(ks);
}

/* A revocation, inside the rebalance callback: nothing here waits. Under
 * exactly-once what was dispatched commits first (ks_txn_commit, which calls
 * ks_revoke_finish when the transaction ended); at-least-once, the operators
 * hand on what they hold and the revoked partitions' outputs are awaited on
 * the loop up to drain_timeout. Records of the partitions that arrive
 * meanwhile are dropped (ks_take()). Lost partitions, or a closing consumer,
 * are handed back at once. */
static void revoke_begin(struct kafka_source *ks, const rd_kafka_topic_partition_list_t *l)
{
    ks->revoked = rd_kafka_topic_partition_list_copy(l);
    ks->revoking = 1;
    for (int i = 0; i < l->cnt; i++) {
        struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
        if (p)
            p->revoking = 1;
    }
    int lost = rd_kafka_assignment_lost(ks->rk);
    /* Records of the lost partitions in the batch being filled go down the
     * chain while their slots are there, as a revocation's do: flushed after
     * ks_revoke_finish, they made keyed state for a slot nobody owned, which
     * the partition found again when it came back (counted twice). Under
     * exactly-once too: the abandoning commit below flushed them after the
     * slots went; their outputs are aborted with the transaction. */
    if (lost && !ks->closing && !ks_worker_failed(ks))
        revoke_flush(ks);
    if (ks->closing || lost || ks_worker_failed(ks)) {
        ks_revoke_finish(ks);
        if (lost && ks->txn && !ks_worker_failed(ks))
            ks_txn_abandon(ks); /* what it holds of them must not commit with other offsets */
        return;
    }
    if (ks->txn) {
        if (!ks->committing)
            ks_txn_commit(ks);
        return; /* ks_txn_ended() finishes the revocation */
    }
    revoke_flush(ks);
    ks->revoke_q = (struct weir_quiesce){.done = revoke_quiesced, .ctx = ks, .why = WEIR_FLUSH_REVOKE};
    weir_worker_quiesce(ks->s->worker, &ks->revoke_q);
    /* With durable state, offsets are committable only as far as a
     * checkpoint covers: one now, which the revocation waits for, so the next
     * owner reads again only what came after it, not all since the last. */
    if (ks->durable && !ks->ckpt_busy && !ks->stopping)
        ckpt_start(ks);
}

/* Partitions this consumer now owns start with clean offset tracking.
 * At-least-once, a partition whose assignment was lost (the session expired,
 * e.g. while the brokers were away) with acknowledged offsets it could not
 * commit, and that comes back to this consumer, reads on from its
 * acknowledged offset instead of the last committed one: every record before
 * it has its outputs delivered, so reading them again only made duplicates
 * (tests/test_kafka_outage.sh: 48,057 outputs twice before, 5,008-6,677
 * after, those the producers still held). That offset is committed
 * explicitly (ks_commit_retry, the final commit). If another member moved the
 * partition on meanwhile, the records between are read again: duplicates,
 * never a loss. Exactly-once stores nothing (its offsets go in transactions). */
void ks_parts_assigned(struct kafka_source *ks, rd_kafka_topic_partition_list_t *l)
{
    int back = 0;
    for (int i = 0; i < l->cnt; i++) {
        struct kpart *p = part_get(ks, l->elems[i].topic, l->elems[i].partition);
        if (!p) {
            ks_fail(ks, -ENOMEM, "%s: out of memory%s%s", "", "");
            break;
        }
        /* only past its last confirmed commit: otherwise the brokers' offset
         * is at least as far (another member may have moved it on) */
        int64_t resume = !ks->txn && p->lost && p->stored > p->committed ? p->stored : -1;
        ks_part_orphan(ks, p); /* a stale FIFO from an earlier assignment */
        int slot = weir_worker_partition_assign(ks->s->worker, p->topic, p->partition);
        if (slot < 0) {
            ks_fail(ks, -ENOMEM, "%s: out of memory%s%s", "", "");
            break;
        }
        p->slot = (uint32_t)slot;
        p->assigned = 1;
        p->ready = weir_worker_partition_ready(ks->s->worker, p->slot);
        p->next = p->sent = p->acked = p->safe = p->covered = p->stored = p->committed = -1;
        p->behind_since = 0;
        p->lost = 0;
        p->started = 0; /* this assignment's fetch start is still to come */
        p->first = -1;
        p->want_pause = -1;
        p->assigned_ns = weir_now_ns();
        p->named = -1; /* not revoke_at: an earlier revocation's answer may still come */
        if (resume >= 0) {
            l->elems[i].offset = resume; /* rd_kafka_assign starts there */
            p->stored = resume;          /* not confirmed: committed by ks_commit_retry */
            back++;
        }
    }
    if (back)
        weir_log(WEIR_LOG_INFO, "%s: %d partition(s) whose assignment was lost came back: reading "
                 "on from their acknowledged offsets, not the last committed ones\n", ks->cl.what,
                 back);
}

/* Sets the pause of partitions about to be assigned (all: every one, while
 * held at start-up or throttled): paused while their state is being
 * restored, else resumed. librdkafka keeps a partition's pause across a
 * revocation and a later assignment (librdkafka#1849): a partition paused
 * while held at start-up, revoked, and given back once the hold was over
 * would otherwise stand still (seen: one of two partitions never read).
 *
 * Before rd_kafka_assign(), not after: a pause or resume takes a new version
 * of the partition, and librdkafka drops any older operation on it still
 * queued, the assignment's fetch start among them (librdkafka#2190). That
 * start is made by librdkafka's thread once the committed offsets are
 * fetched (rd_kafka_toppar_op_fetch_start: it takes its version, then
 * queues), so after the assignment a pause or resume from here that takes
 * its version between the two is served first and the partition was never
 * fetched, with no error (seen under load, 2.0.2: tests/test_reload_kafka.sh
 * C read 2250 of 3000 records, one partition never). Before it, every fetch
 * start is newer. Returns the partitions librdkafka did not know yet, to
 * pause after the assignment (a partition it does not know is not paused:
 * resuming it is moot), or NULL.
 *
 * The pauses and resumes that must come after an assignment (ks_pause_late,
 * ks_partition_ready, ks_hold_check, a throttle's ks_pause_all) go through
 * ks_set_paused(), which holds them back until the partition's start was
 * seen served (kafka_fetch_start.c). docs/kafka.md. */
rd_kafka_topic_partition_list_t *ks_pause_unready(struct kafka_source *ks,
                                                  const rd_kafka_topic_partition_list_t *l,
                                                  int all)
{
    rd_kafka_topic_partition_list_t *u = rd_kafka_topic_partition_list_new(l->cnt);
    rd_kafka_topic_partition_list_t *r = rd_kafka_topic_partition_list_new(l->cnt);
    rd_kafka_topic_partition_list_t *late = NULL;
    for (int i = 0; i < l->cnt; i++) {
        struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
        if (p)
            rd_kafka_topic_partition_list_add(all || !p->ready ? u : r, p->topic, p->partition);
    }
    if (u->cnt)
        rd_kafka_pause_partitions(ks->rk, u);
    if (r->cnt)
        rd_kafka_resume_partitions(ks->rk, r);
    for (int i = 0; i < u->cnt; i++)
        if (u->elems[i].err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
            if (!late)
                late = rd_kafka_topic_partition_list_new(u->cnt);
            rd_kafka_topic_partition_list_add(late, u->elems[i].topic, u->elems[i].partition);
        }
    rd_kafka_topic_partition_list_destroy(u);
    rd_kafka_topic_partition_list_destroy(r);
    return late;
}

/* After rd_kafka_assign(): pauses what ks_pause_unready() could not yet. */
void ks_pause_late(struct kafka_source *ks, rd_kafka_topic_partition_list_t *late)
{
    if (!late)
        return;
    ks_set_paused(ks, late, 1);
    rd_kafka_topic_partition_list_destroy(late);
}

/* Resumes the assigned partitions whose state is back (not those still
 * restoring: ks_partition_ready resumes each when it is) and not revoked. */
static void resume_ready(struct kafka_source *ks)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ks->nparts + 1);
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (p->assigned && p->ready && !p->revoking)
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    }
    ks_set_paused(ks, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
}

/* The engine finished restoring a partition's state: what waited goes first. */
void ks_partition_ready(struct weir_source *s, uint32_t slot)
{
    struct kafka_source *ks = s->state;
    struct kpart *p = NULL;
    for (size_t i = 0; i < ks->nparts && !p; i++)
        if (ks->parts[i]->assigned && ks->parts[i]->slot == slot)
            p = ks->parts[i];
    if (!p || p->ready)
        return;
    p->ready = 1; /* ks_drain() hands on what waited, in order, before anything newer */
    if (!ks->kpaused && !ks->held && ks->rk) {
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
        ks_set_paused(ks, l, 0);
        rd_kafka_topic_partition_list_destroy(l);
    }
    ks_wake_self(ks);
}

/* While held at start-up (kafka_startup.c), from ks_drain: once every worker
 * of the process had an assignment, or connect_timeout after this worker's
 * first one, its ready partitions resume. */
void ks_hold_check(struct kafka_source *ks)
{
    if (!ks->held || !ks->rk)
        return;
    int released = ks_startup_released(ks);
    if (!released && !(ks->held_since && weir_now_ns() - ks->held_since >= ks->c->connect_timeout_ns))
        return;
    ks->held = 0;
    if (!released)
        weir_log(WEIR_LOG_WARN, "%s: the other workers of this process did not join group \"%s\" "
                 "within connect_timeout; consuming anyway\n", ks->cl.what, ks->group);
    if (!ks->kpaused)
        resume_ready(ks);
}

/* One log line per rebalance (kafka_source.h). */
void ks_log_partitions(const struct kafka_source *ks, const char *what,
                       const rd_kafka_topic_partition_list_t *l)
{
    struct weir_kafka_names names = {.len = 0};
    const char *topic = NULL;
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        if (topic && strcmp(topic, e->topic) == 0)
            weir_kafka_names_add(&names, ",", "%d", (int)e->partition);
        else
            weir_kafka_names_add(&names, "] ", "%s[%d", e->topic, (int)e->partition);
        topic = e->topic;
    }
    weir_log(WEIR_LOG_INFO, "%s: %s %d partition(s)%s%s", ks->cl.what, what, l->cnt,
             l->cnt ? ": " : "", weir_kafka_names_end(&names, "]"));
}

void ks_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *l, void *opaque)
{
    struct kafka_source *ks = opaque;
    int coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *e = NULL;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && ks->closer_state == KS_CLOSER_RUNNING) {
        /* served while a replaced consumer leaves, on its closer thread: the
         * worker's slots are the loop's; nothing is read any more, and the
         * revocation that follows finds no partition of it */
        ks_log_partitions(ks, "rebalance while leaving: assigned (untracked)", l);
        if (coop)
            e = rd_kafka_incremental_assign(rk, l);
        else
            rd_kafka_assign(rk, l);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ks_log_partitions(ks, "rebalance: assigned", l);
        ks_parts_assigned(ks, l);
        ks_startup_assigned(ks);
        ks_fence_check(ks); /* a member that left: its open transaction aborted at once */
        rd_kafka_topic_partition_list_t *late = ks_pause_unready(ks, l, ks->kpaused || ks->held);
        if (coop)
            e = rd_kafka_incremental_assign(rk, l);
        else
            rd_kafka_assign(rk, l);
        ks_pause_late(ks, late);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !ks->revoking) {
        ks_log_partitions(ks, "rebalance: revoked", l);
        revoke_begin(ks, l); /* unassigns when done, maybe later, from the loop */
    } else {
        weir_kafka_warn(&ks->cl, rd_kafka_err2str(err));
        unassign(ks, l);
    }
    if (e) {
        weir_kafka_warn(&ks->cl, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
}

