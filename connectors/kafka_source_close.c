/* The Kafka source's last commit and leaving the group (see kafka_source.h),
 * and, when a reload replaced the source, both off the loop (issue 12).
 *
 * The final commit waits for the brokers (up to connect_timeout, retried:
 * kafka_commit.c), and rd_kafka_consumer_close() blocks while it leaves the
 * group, serving the rebalance callback (the revocation) and the commit
 * callback on the calling thread. On the worker's loop that stalled every
 * other source, operator and sink of the worker once per reload that changed
 * a Kafka source, up to connect_timeout when the brokers were away. So a
 * replaced consumer is closed by a short-lived closer thread of its own, and
 * its source reports itself not quiet (ks_quiet) until that thread is done;
 * close() then frees the rest on the loop as before.
 *
 * Why the closer may touch the source without a lock: it starts only once
 * the loop holds nothing of the replaced source (ks_quiet's conditions: no
 * poll, tick or transaction timer armed, no quiesce in the worker's list, no
 * ticket or checkpoint out), and a stopped, detached source is never called
 * again by the worker (resume and partition_ready go to the current source
 * only). From then until the join, the loop reads only the fields ks_quiet
 * reads and closer_done (atomic), which the closer does not write; the
 * closer alone uses the consumer and its callbacks' state: the partitions'
 * offsets and FIFOs (empty of tickets), the segment free list, ks->cl, the
 * fencer. What belongs to the worker stays with the loop: a revoked
 * partition's slot is released by close() (kpart.release_slot; its
 * successor on this worker may hold the slot by then, which the release
 * leaves alone), the worker's failure is read as it was when the closer
 * started (ks_worker_failed), and an assignment served during the close is
 * passed to librdkafka untracked (ks_on_rebalance): the consumer is leaving.
 * pthread_create and pthread_join order the rest.
 *
 * Exactly-once: the worker's one transactional producer is shared with its
 * sinks and the successor source, which produce on the loop, and the old
 * source's transaction (its outputs and offsets) must be over before the
 * successor's first batch begins the next one. It ends when the reload stops
 * the source (ks_stop: s->replacing), on the producer's transaction thread
 * like a periodic commit, and the source reports finished only once that is
 * over, so the worker's drain and rebuild come after it. detach()'s
 * ks_txn_commit_now then finds nothing open (before, it ended the
 * transaction there, on the loop: 20-56 ms with the broker up,
 * bench/reload_stall.sh ek-up, and as long as the brokers took when they
 * were slow). Leaving the group (consumer_close: a closing consumer's
 * revocation commits nothing, ks_txn_abandon does nothing while closing)
 * moves to the closer.
 *
 * Shutdown (not a reload) keeps closing on the loop (ks_close): the worker
 * is finishing, nothing else waits on its loop. A replaced source still
 * waiting when the worker ends is closed there too, after its closer (if
 * one started) is joined. */
#include <pthread.h>

#include "connectors/kafka_source.h"
#include "engine/log.h"

/* The last commit, and out of the group. Once. An assigned consumer (the
 * embedded cluster) commits only when a reload replaces it: its successor
 * starts from the committed offsets. */
void ks_leave(struct kafka_source *ks, int replaced)
{
    if (ks->left)
        return;
    ks->left = 1;
    if (ks->rk && ks->subscribed && ks->txn) {
        if (!ks->txn_ended) /* aborts instead when the worker failed; the operators hold nothing */
            ks_txn_commit_now(ks);
        rd_kafka_consumer_close(ks->rk);
    } else if (ks->rk && ks->subscribed) {
        ks_commit_final(ks); /* what is stored, explicitly, reported if it cannot be */
        rd_kafka_consumer_close(ks->rk); /* revokes: ks_on_rebalance → revoke_parts() */
        ks_commit_unanswered(ks);        /* what no answer came for is named */
    } else if (ks->rk && replaced) {
        /* assigned: nothing to leave */
        rd_kafka_resp_err_t e = rd_kafka_commit(ks->rk, NULL, 0);
        if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
            weir_log(WEIR_LOG_ERROR, "%s: commit to brokers %s failed: %s\n", ks->cl.what,
                    ks->cl.brokers, rd_kafka_err2str(e));
    }
}

/* The consumer and what uses it, destroyed (the fencer lists the group
 * with it). */
void ks_consumer_destroy(struct kafka_source *ks)
{
    ks_fence_stop(ks);
    if (ks->q)
        rd_kafka_queue_destroy(ks->q);
    ks->q = NULL;
    if (ks->rk) {
        if (ks->subscribed)
            rd_kafka_destroy(ks->rk);
        else
            rd_kafka_destroy_flags(ks->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    ks->rk = NULL;
}

static void *closer_main(void *arg)
{
    struct kafka_source *ks = arg;
    pthread_setname_np(pthread_self(), "weir-kclose");
    ks_revoke_finish(ks); /* one still waiting: its outputs are in by now (quiet) */
    ks_leave(ks, 1);
    ks_consumer_destroy(ks);
    __atomic_store_n(&ks->closer_done, 1, __ATOMIC_RELEASE);
    uint64_t one = 1; /* the loop's next turn reaps the source (weir_worker_sources_reap) */
    if (write(ks->s->worker->wake_fd, &one, sizeof one) < 0) {
        /* saturated: a wake-up is pending anyway */
    }
    return NULL;
}

/* From ks_quiet, once the loop holds nothing of the replaced source: the
 * closer starts. Returns 0, or -1 when no thread could start (close() then
 * leaves on the loop, as before). */
int ks_closer_start(struct kafka_source *ks)
{
    if (ks->batch) { /* never dispatched: its messages go back unstored */
        weir_batch_put(ks->batch);
        ks->batch = NULL;
    }
    ks->failed_then = ks->s->worker->failed;
    ks->closer_state = KS_CLOSER_RUNNING;
    if (pthread_create(&ks->closer, NULL, closer_main, ks) != 0) {
        ks->closer_state = KS_CLOSER_NONE;
        weir_log(WEIR_LOG_WARN, "%s: cannot start a thread to close the replaced consumer; "
                 "closing it on the worker's thread\n", ks->cl.what);
        return -1;
    }
    return 0;
}

/* Whether the closer finished (joined then); waits for it when wait is set
 * (the worker is ending). */
int ks_closer_joined(struct kafka_source *ks, int wait)
{
    if (ks->closer_state != KS_CLOSER_RUNNING)
        return 1;
    if (!wait && !__atomic_load_n(&ks->closer_done, __ATOMIC_ACQUIRE))
        return 0;
    pthread_join(ks->closer, NULL);
    ks->closer_state = KS_CLOSER_JOINED;
    return 1;
}
