/* The worker's shared transactional producer (see kafka_sink.h): begin,
 * and ending transactions through the producer's thread (kafka_txn.c), or on
 * the calling thread once the loop stopped. */
#include "connectors/kafka_sink.h"

/* ---- transactions (exactly-once), driven by the Kafka source ------------------ */

struct weir_kafka_txn *weir_kafka_txn_of(struct weir_worker *w)
{
    return weir_worker_shared(w, WEIR_KAFKA_TXN_SHARED);
}

rd_kafka_t *weir_kafka_txn_rk(struct weir_kafka_txn *t)
{
    return ((struct kafka_producer *)t)->rk;
}

/* Serves the transactional producer's delivery reports now (a writer that
 * must make room in its queue). */
void weir_kafka_txn_serve(struct weir_kafka_txn *t, int timeout_ms)
{
    ksk_serve((struct kafka_producer *)t, timeout_ms);
}

int weir_kafka_txn_is_open(const struct weir_kafka_txn *t)
{
    return ((const struct kafka_producer *)t)->in_txn;
}

int weir_kafka_txn_begin(struct weir_kafka_txn *t, struct weir_error *err)
{
    struct kafka_producer *p = (struct kafka_producer *)t;
    if (p->in_txn)
        return 0;
    rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
    if (e) {
        int rc = weir_error_set(err, -EIO, "%s: begin_transaction on Kafka brokers %s failed: %s",
                                p->cl.what, p->cl.brokers, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        return rc;
    }
    p->in_txn = 1;
    return 1;
}

/* The transaction is over (committed, or aborted): the producer's side. */
static void txn_settle(struct kafka_producer *p, struct weir_kafka_txn_end *e)
{
    if (e->replacement) { /* fenced, and re-created (kafka_txn.c) */
        ksk_producer_replace(p, e->replacement);
        e->replacement = NULL;
        e->replaced = 1;
    }
    if (e->rc == 0 || e->rc == -EAGAIN)
        p->in_txn = p->must_abort = 0;
    p->ending = NULL;
    e->done = p->ending_done;
    e->ctx = p->ending_ctx;
}

/* On the loop: the transaction is over. */
static void txn_ended(struct weir_kafka_txn_end *e, void *ctx)
{
    txn_settle(ctx, e);
    e->done(e, e->ctx);
}

int weir_kafka_txn_end(struct weir_kafka_txn *t, struct weir_kafka_txn_end *e)
{
    struct kafka_producer *p = (struct kafka_producer *)t;
    if (p->ending)
        return -EBUSY;
    e->replaced = 0;
    e->replacement = NULL;
    if (!p->in_txn && !weir_kafka_fenced(p->rk)) {
        e->rc = 0;
        e->rewound = NULL;
        e->done(e, e->ctx);
        return 0;
    }
    e->recover = 1; /* fenced: the runner re-creates the producer */
    p->ending = e;
    p->ending_done = e->done;
    p->ending_ctx = e->ctx;
    e->done = txn_ended;
    e->ctx = p;
    int rc = weir_kafka_txn_runner_submit(p->runner, e);
    if (rc < 0) {
        e->done = p->ending_done;
        e->ctx = p->ending_ctx;
        p->ending = NULL;
    }
    return rc;
}

static void serve_cb(void *ctx, int timeout_ms)
{
    ksk_serve(ctx, timeout_ms);
}

void weir_kafka_txn_end_now(struct weir_kafka_txn *t, struct weir_kafka_txn_end *e)
{
    struct kafka_producer *p = (struct kafka_producer *)t;
    e->rewound = NULL;
    e->replacement = NULL;
    e->replaced = 0;
    e->recover = 0; /* the loop has stopped: nothing would swap a new producer in */
    e->rc = 0;
    if (!p->in_txn)
        return;
    weir_kafka_txn_runner_run_here(p->runner, e, serve_cb, p);
    if (e->rc == 0 || e->rc == -EAGAIN)
        p->in_txn = p->must_abort = 0;
}

struct weir_kafka_txn_end *weir_kafka_txn_end_wait(struct weir_kafka_txn *t)
{
    struct kafka_producer *p = (struct kafka_producer *)t;
    struct weir_kafka_txn_end *e = p->ending;
    if (!e)
        return NULL;
    weir_kafka_txn_runner_wait(p->runner, serve_cb, p);
    txn_settle(p, e);
    return e;
}

int weir_kafka_txn_fenced(struct weir_kafka_txn *t)
{
    return weir_kafka_fenced(((struct kafka_producer *)t)->rk);
}

int weir_kafka_txn_must_abort(const struct weir_kafka_txn *t)
{
    return ((const struct kafka_producer *)t)->must_abort;
}

/* ---- a reload's new transactional producer (exactly-once switched on) ------- */

/* On the loop: init_transactions is through. */
static void started(struct weir_kafka_txn_end *e, void *ctx)
{
    struct kafka_producer *p = ctx;
    p->starting = 0;
    if (e->rc == 0 || p->w->failed)
        return;
    struct weir_error err; /* as when the open failed with it: the run stops */
    weir_error_set(&err, -EIO, "reload: %s", e->msg);
    weir_worker_fail(p->w, &err);
}

int ksk_start_async(struct kafka_producer *p, int timeout_ms, struct weir_error *err)
{
    p->start_job = (struct weir_kafka_txn_end){.init = 1, .timeout_ms = timeout_ms,
                                               .done = started, .ctx = p};
    p->starting = 1;
    int rc = weir_kafka_txn_runner_submit(p->runner, &p->start_job);
    if (rc < 0) {
        p->starting = 0;
        return weir_error_set(err, rc, "%s: cannot start initializing transactions", p->cl.what);
    }
    return 0;
}

int weir_kafka_txn_starting(const struct weir_kafka_txn *t)
{
    return ((const struct kafka_producer *)t)->starting;
}
