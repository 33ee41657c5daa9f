/* At-least-once offset commits: tracked, retried, and checked at exit
 * (issue 8, item 5).
 *
 * librdkafka's auto-commit sends the stored offsets every
 * auto.commit.interval.ms, but it only sends those that differ from what it
 * believes is committed, and a commit that fails (no coordinator while a
 * broker is away, a member whose generation went stale while the group
 * rebalanced) is only logged. Nothing told weir, and the final commit at
 * close (rd_kafka_commit with NULL: "the current assignment") answered
 * "no offset" and exited 0 with partitions left behind.
 *
 * So every commit result comes back to the source (offset_commit_cb, served
 * on the worker's loop), which keeps per partition the offset the brokers
 * confirmed. A partition whose stored offset stays ahead of it for three
 * auto-commit intervals is committed again with explicit offsets (which librdkafka
 * always sends). At close the stored offsets are committed explicitly and
 * the result awaited up to connect_timeout, retried on failure; what could
 * still not be committed is reported in one line. A revocation's commit
 * that fails cannot be retried (the partitions were handed back): it is
 * named when its answer comes, or at close when none came. Partition lists in these lines are built
 * by weir_kafka_names (kafka_names.c): "and N more" past the room. */
#include "connectors/kafka_source.h"
#include "engine/log.h"

/* A failed commit that nobody retries: a revocation's (ks_revoke_finish,
 * or librdkafka's own at unassign) for a partition this worker no longer
 * holds, or holds again from the brokers' offset. Not a lost one (named at
 * exit), not one confirmed further or named already. */
static int unretried(const struct kpart *p, const rd_kafka_topic_partition_t *e, int revocation)
{
    if (p->assigned && !revocation)
        return 0;
    return !p->lost && e->offset > p->committed && e->offset > p->named;
}

/* The offset commit callback: auto-commits and weir's own async commits.
 * Failures of the assigned partitions are retried (ks_commit_retry) and
 * warned about; those of revoked ones cannot be, and are named in one
 * line: their records are read again by the next owner (issue 8). */
void ks_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
                  void *opaque)
{
    struct kafka_source *ks = opaque;
    (void)rk;
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET || !l)
        return;
    int failed = 0;
    struct weir_kafka_names gone = {.len = 0};
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        struct kpart *p = ks_part_find(ks, e->topic, e->partition);
        rd_kafka_resp_err_t pe = err ? err : e->err;
        if (!p || e->offset < 0)
            continue;
        int revocation = p->revoke_at >= 0 && e->offset == p->revoke_at;
        if (revocation)
            p->revoke_at = -1; /* answered */
        if (!pe) {
            if (e->offset > p->committed) {
                p->committed = e->offset;
                p->behind_since = 0;
            }
            continue;
        }
        snprintf(ks->commit_err, sizeof ks->commit_err, "%s", rd_kafka_err2str(pe));
        if (unretried(p, e, revocation)) {
            p->named = e->offset;
            weir_kafka_names_add(&gone, ", ", "%s[%d] at %lld", e->topic, (int)e->partition,
                                 (long long)e->offset);
        } else if (p->assigned && !revocation) {
            failed++;
        }
    }
    if (gone.len || gone.more)
        weir_log(WEIR_LOG_WARN, "warning: %s: offsets committed on revocation not taken by "
                 "brokers %s: %s: %s; not retried (the partitions were handed back): whoever owns them next "
                 "reads those records again\n", ks->cl.what, ks->cl.brokers,
                 weir_kafka_names_end(&gone, ""), ks->commit_err);
    if (failed) {
        char why[400];
        snprintf(why, sizeof why, "offset commit failed for %d partition(s): %s (retried)", failed,
                 ks->commit_err);
        weir_kafka_warn(&ks->cl, why);
    }
}

/* The assigned partitions whose stored offset is ahead of the committed one
 * (all of them when stale_ns is 0; else only those behind that long). */
static rd_kafka_topic_partition_list_t *behind(struct kafka_source *ks, uint64_t stale_ns)
{
    uint64_t now = weir_now_ns();
    rd_kafka_topic_partition_list_t *l = NULL;
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (!p->assigned || p->stored < 0 || p->stored <= p->committed) {
            p->behind_since = 0;
            continue;
        }
        if (!p->behind_since)
            p->behind_since = now;
        if (stale_ns && now - p->behind_since < stale_ns)
            continue;
        if (!l)
            l = rd_kafka_topic_partition_list_new((int)ks->nparts);
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->stored;
    }
    return l;
}

/* From the tick: a partition whose commits have not caught up for three
 * auto-commit intervals (ks->commit_retry_ns: before, a fixed 3 s, which
 * beat a longer configured interval to every commit) is committed again (asynchronously;
 * ks_on_commit sees the result). */
void ks_commit_retry(struct kafka_source *ks)
{
    if (ks->txn || !ks->rk || ks->closing || ks->s->worker->failed)
        return;
    rd_kafka_topic_partition_list_t *l = behind(ks, ks->commit_retry_ns);
    if (!l)
        return;
    for (int i = 0; i < l->cnt; i++) { /* wait another period before the next try */
        struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
        if (p)
            p->behind_since = weir_now_ns();
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(ks->rk, l, 1);
    if (e)
        snprintf(ks->commit_err, sizeof ks->commit_err, "%s", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
}

/* One explicit commit of l, awaited up to timeout_ms. Fills l's elements'
 * errors; returns the request's error. */
static rd_kafka_resp_err_t commit_wait(struct kafka_source *ks, rd_kafka_topic_partition_list_t *l,
                                       int timeout_ms)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(ks->rk);
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(ks->rk, l, q, NULL, NULL);
    if (!err) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms);
        if (!ev) {
            err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        } else {
            err = rd_kafka_event_error(ev);
            const rd_kafka_topic_partition_list_t *r = rd_kafka_event_topic_partition_list(ev);
            for (int i = 0; r && i < r->cnt; i++) {
                rd_kafka_topic_partition_t *e =
                    rd_kafka_topic_partition_list_find(l, r->elems[i].topic, r->elems[i].partition);
                if (e)
                    e->err = err ? err : r->elems[i].err;
            }
            rd_kafka_event_destroy(ev);
        }
    }
    rd_kafka_queue_destroy(q);
    if (err)
        for (int i = 0; i < l->cnt; i++)
            if (!l->elems[i].err)
                l->elems[i].err = err;
    return err;
}

/* What the brokers hold now: a confirmed commit can still be gone (a
 * broker killed and restarted lost the group's last offsets in
 * tests/test_kafka_outage.sh), so the final commit compares with the
 * brokers' answer, not with what was confirmed earlier. Lost partitions
 * too: report_lost() must not trust a confirmation the restarted broker
 * forgot (seen: a worker's two lost partitions left behind without a word).
 * One OffsetFetch round trip, within connect_timeout. When the brokers do
 * not answer, nothing is taken as committed: every stored offset is
 * committed again, and every lost one reported (seen under ASan: a worker
 * that trusted its confirmations exited with two partitions behind). */
static void refresh_committed(struct kafka_source *ks)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)ks->nparts + 1);
    for (size_t i = 0; i < ks->nparts; i++)
        if ((ks->parts[i]->assigned && ks->parts[i]->stored >= 0) || ks->parts[i]->lost)
            rd_kafka_topic_partition_list_add(l, ks->parts[i]->topic, ks->parts[i]->partition);
    int ms = (int)(ks->c->connect_timeout_ns / 1000000u);
    rd_kafka_resp_err_t err = l->cnt ? rd_kafka_committed(ks->rk, l, ms) : 0;
    for (int i = 0; i < l->cnt; i++) {
        struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
        rd_kafka_resp_err_t pe = err ? err : l->elems[i].err;
        if (pe)
            snprintf(ks->fetch_err, sizeof ks->fetch_err, "%s", rd_kafka_err2str(pe));
        if (p)
            p->committed = pe ? -2 : l->elems[i].offset >= 0 ? l->elems[i].offset : -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* "t[p] at 120 (brokers hold: 100)", one piece of the reports below; p, when
 * known, remembers that it was named. */
static void describe(struct weir_kafka_names *b, const struct kafka_source *ks, struct kpart *p,
                     const char *topic, int32_t partition, int64_t at, int64_t committed)
{
    if (committed < -1)
        weir_kafka_names_add(b, ", ", "%s[%d] at %lld (brokers' offset unknown: %s)", topic,
                             (int)partition, (long long)at, ks->fetch_err);
    else
        weir_kafka_names_add(b, ", ", "%s[%d] at %lld (brokers hold: %lld)", topic,
                             (int)partition, (long long)at, (long long)committed);
    if (p && at > p->named)
        p->named = at;
}

/* Partitions whose assignment was lost (the group session expired, e.g.
 * while a broker was away) with acknowledged records the brokers' offsets
 * do not cover (refresh_committed; stored or not: with durable state the
 * offsets wait for a checkpoint, seen: a run whose first checkpoint had not
 * come back when the broker went away committed nothing), and that did not
 * come back before close: weir may not commit them any more (another member
 * may own them), so it says which. */
static void report_lost(struct kafka_source *ks)
{
    struct weir_kafka_names names = {.len = 0};
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        int64_t done = p->acked > p->stored ? p->acked : p->stored;
        if (p->assigned || !p->lost || done <= p->committed)
            continue;
        describe(&names, ks, p, p->topic, p->partition, done, p->committed);
    }
    if (names.len || names.more)
        weir_log(WEIR_LOG_ERROR, "%s: offsets not committed to brokers %s: %s: the assignment was "
                 "lost (group session expired) before they could be, and had not come back at "
                 "exit; the next owner reads those records again\n", ks->cl.what, ks->cl.brokers,
                 weir_kafka_names_end(&names, ""));
}

/* At close (at-least-once): the stored offsets are committed explicitly,
 * retried until connect_timeout; one line names what could not be. */
void ks_commit_final(struct kafka_source *ks)
{
    refresh_committed(ks);
    rd_kafka_topic_partition_list_t *l = behind(ks, 0);
    report_lost(ks);
    if (!l)
        return;
    uint64_t deadline = weir_now_ns() + ks->c->connect_timeout_ns;
    const char *why = "";
    for (;;) {
        uint64_t now = weir_now_ns();
        int ms = now < deadline ? (int)((deadline - now) / 1000000u) : 0;
        if (ms <= 0)
            break;
        commit_wait(ks, l, ms);
        rd_kafka_topic_partition_list_t *left = rd_kafka_topic_partition_list_new(l->cnt);
        for (int i = 0; i < l->cnt; i++) {
            rd_kafka_topic_partition_t *e = &l->elems[i];
            struct kpart *p = ks_part_find(ks, e->topic, e->partition);
            if (!e->err) {
                if (p && e->offset > p->committed)
                    p->committed = e->offset;
                continue;
            }
            why = rd_kafka_err2str(e->err);
            rd_kafka_topic_partition_list_add(left, e->topic, e->partition)->offset = e->offset;
        }
        rd_kafka_topic_partition_list_destroy(l);
        l = left;
        if (!l->cnt || weir_now_ns() + 200000000ull >= deadline)
            break;
        usleep(200000); /* at close, on the worker's thread: nothing else waits on this loop */
    }
    if (l->cnt) {
        struct weir_kafka_names names = {.len = 0};
        for (int i = 0; i < l->cnt; i++) {
            struct kpart *p = ks_part_find(ks, l->elems[i].topic, l->elems[i].partition);
            describe(&names, ks, p, l->elems[i].topic, l->elems[i].partition, l->elems[i].offset,
                     p ? p->committed : -1);
        }
        weir_log(WEIR_LOG_ERROR, "%s: offsets not committed to brokers %s within connect_timeout: "
                 "%s: %s; the next run reads those records again\n", ks->cl.what, ks->cl.brokers,
                 weir_kafka_names_end(&names, ""), why);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* After the consumer closed: a revocation's commit whose answer never came
 * (sent while the coordinator was away, and the process stopped before
 * librdkafka gave up on it, or librdkafka dropped it at close) may or may not
 * have been taken, and nobody will know: it is named, as those the brokers
 * refused are when their answer comes (ks_on_commit). Answers still queued
 * are served first. Not one confirmed since by a later commit of this
 * worker, nor one named already. */
void ks_commit_unanswered(struct kafka_source *ks)
{
    rd_kafka_event_t *ev;
    while (ks->q && (ev = rd_kafka_queue_poll(ks->q, 0))) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_OFFSET_COMMIT)
            ks_on_commit(ks->rk, rd_kafka_event_error(ev),
                         /* ks_on_commit only reads it; the callback's type is not const */
                         (rd_kafka_topic_partition_list_t *)rd_kafka_event_topic_partition_list(ev),
                         ks);
        rd_kafka_event_destroy(ev);
    }
    struct weir_kafka_names names = {.len = 0};
    for (size_t i = 0; i < ks->nparts; i++) {
        struct kpart *p = ks->parts[i];
        if (p->revoke_at < 0 || p->revoke_at <= p->committed || p->revoke_at <= p->named)
            continue;
        weir_kafka_names_add(&names, ", ", "%s[%d] at %lld", p->topic, (int)p->partition,
                             (long long)p->revoke_at);
        p->named = p->revoke_at;
        p->revoke_at = -1;
    }
    if (names.len || names.more)
        weir_log(WEIR_LOG_WARN, "warning: %s: offsets committed on revocation not confirmed by "
                 "brokers %s before %s: %s; whoever owns them next may read those records again\n",
                 ks->cl.what, ks->cl.brokers, ks->replaced ? "the replaced consumer closed" : "exit",
                 weir_kafka_names_end(&names, ""));
}
