/* A Kafka sink a reload removed or replaced (connector.h: detach, quiet),
 * its producer destroyed off the loop (issue 12).
 *
 * rd_kafka_destroy() waits for the producer's threads to end (and, on the
 * embedded cluster, the last client's release destroys the mock cluster);
 * a transactional producer's runner is joined first. On the worker's loop
 * that held every other source, operator and sink of the worker once per
 * reload that removed a Kafka sink or switched the source's guarantee
 * (which makes every Kafka sink again: their producer's kind changes). So,
 * as a replaced consumer's close (kafka_source_close.c), the producer whose
 * last sink is detached goes to a short-lived thread of its own; the sink
 * reports itself not quiet until that thread is done; close() then frees
 * the rest on the loop.
 *
 * Nothing is lost: the worker detaches a sink only after its drain (every
 * output acknowledged, so nothing is in flight) and after the new sinks and
 * source opened (a replaced exactly-once source's transaction ended when it
 * stopped; its detach reads the producer). What the producer's queue still
 * holds is events, no message: served and purged on the loop first.
 *
 * Why the thread may touch the producer without a lock: before it starts,
 * the loop lets go of everything it reaches the producer by: the sink is off
 * the producer's list, its topic handle destroyed, the main queue's
 * eventfd detached and the queue destroyed, the poll cancelled (on_poll
 * returns at once once retired is set), the worker's shared slot cleared
 * (exactly-once). From then until the join the loop reads only poll_armed,
 * poll_cancelled and disposed (atomic), which the thread does not write;
 * pthread_create and pthread_join order the rest. */
#include "connectors/kafka_sink.h"
#include "engine/log.h"

/* The blocking part: on the disposer's thread, or on the worker's at close
 * when none could start. */
static void dispose(struct kafka_producer *p)
{
    weir_kafka_txn_runner_free(p->runner); /* idle: nothing of a transaction is left */
    p->runner = NULL;
    if (p->rk)
        rd_kafka_destroy(p->rk);
    p->rk = NULL;
    weir_kafka_client_release(&p->cl); /* after its client: the last may end the mock cluster */
}

static void *disposer_main(void *arg)
{
    struct kafka_producer *p = arg;
    pthread_setname_np(pthread_self(), "weir-kretire");
    dispose(p);
    __atomic_store_n(&p->disposed, 1, __ATOMIC_RELEASE);
    uint64_t one = 1; /* the loop's next turn reaps the sink (weir_worker_sinks_reap) */
    if (write(p->w->wake_fd, &one, sizeof one) < 0) {
        /* saturated: a wake-up is pending anyway */
    }
    return NULL;
}

static void cancel_poll(struct kafka_producer *p)
{
    if (p->poll_armed && !p->poll_cancelled)
        p->poll_cancelled = weir_loop_cancel(p->w->loop, &p->poll_ev) == 0;
}

void ksk_detach(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    struct kafka_producer *p = ks ? ks->p : NULL;
    if (!p || !p->rk || (p->refs == 1 && (p->in_txn || p->starting || p->ending)))
        return; /* close() on the loop, as before: a transaction is under way */
    ksk_unlink(ks);
    ks->p = NULL;
    if (--p->refs > 0)
        return; /* the worker's other Kafka sinks go on with it */
    ks->retiring = p;
    if (p->transactional)
        weir_worker_share(p->w, WEIR_KAFKA_TXN_SHARED, NULL);
    ksk_serve(p, 0);
    if (rd_kafka_outq_len(p->rk) > 0) { /* events only (drained); a purge waits for its threads */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        ksk_serve(p, 0);
    }
    if (p->mainq) {
        rd_kafka_queue_io_event_enable(p->mainq, -1, NULL, 0);
        rd_kafka_queue_destroy(p->mainq);
        p->mainq = NULL;
    }
    p->retired = 1;
    cancel_poll(p);
    if (pthread_create(&p->disposer, NULL, disposer_main, p) != 0) {
        weir_log(WEIR_LOG_WARN, "%s: cannot start a thread to destroy the removed sink's "
                 "producer; destroying it on the worker's thread\n", p->cl.what);
        return;
    }
    p->disposing = 1;
}

int ksk_quiet(struct weir_sink *s)
{
    struct kafka_sink *ks = s->state;
    struct kafka_producer *p = ks ? ks->retiring : NULL;
    if (!p)
        return 1;
    cancel_poll(p); /* one that found no room on the ring is tried again */
    if (p->poll_armed)
        return 0;
    return !p->disposing || __atomic_load_n(&p->disposed, __ATOMIC_ACQUIRE);
}

void ksk_disposer_join(struct kafka_producer *p)
{
    if (p->disposing) {
        pthread_join(p->disposer, NULL); /* the worker ends: it waits for the destroy */
        p->disposing = 0;
    } else {
        dispose(p);
    }
}
