/* A worker: one thread with its own io_uring loop, batch pool, operator
 * instances, source and sinks. Workers share nothing but the read-only
 * pipeline. Sources hand batches in with weir_worker_dispatch(); the worker
 * runs the operator chain and routes each record to the sinks that want it. */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include <stdint.h>

#include "connectors/connector.h"
#include "engine/loop.h"
#include "engine/pipeline.h"

struct weir_worker_stats {
    uint64_t records_in;  /* records dispatched */
    uint64_t records_out; /* live records routed to sinks */
    uint64_t dead;        /* records routed to the dead-letter sink */
    uint64_t alerts;
    uint64_t batches;
    uint64_t op_ns[64];   /* time in each operator's process() when timing is on */
};

struct weir_worker {
    int id;
    int nworkers;            /* workers in this process (static partition splits) */
    const struct weir_pipeline *pl;
    struct weir_loop *loop;
    struct weir_batch_pool *pool;
    struct weir_op *ops;
    size_t nops;
    struct weir_source source;
    int has_source;
    struct weir_sink *sinks; /* pl->nsinks, then the dead-letter sink last */
    size_t nsinks;
    int wake_fd;             /* eventfd: the main thread asks this worker to stop */
    struct weir_event wake_ev;
    int source_finished;
    int stop_requested;
    int paused;              /* the source waits for weir_worker_kick */
    struct weir_event drain_ev; /* while draining at the end: look at the sinks again */
    int drain_armed;
    uint64_t drain_since;    /* when the end-of-run drain began (ns), 0 before */
    int timing;              /* measure per-operator time (benchmarks) */
    int failed;
    struct weir_error err;
    struct weir_worker_stats stats;
};

int weir_worker_init(struct weir_worker *w, int id, int nworkers,
                     const struct weir_pipeline *pl, int with_source, struct weir_error *err);
/* Runs until the source is finished and every output is acknowledged, or a
 * fatal error. Returns 0 or -errno with w->err filled. */
int weir_worker_run(struct weir_worker *w);
void weir_worker_destroy(struct weir_worker *w);
/* Thread-safe: asks the worker to drain and stop. */
void weir_worker_request_stop(struct weir_worker *w);

/* For sources: */
struct weir_batch *weir_worker_batch(struct weir_worker *w);
/* Runs the chain on b, routes it, returns b to the pool. t (held by the
 * source's own accounting) gets one hold per output still in flight. */
void weir_worker_dispatch(struct weir_worker *w, struct weir_batch *b, struct weir_ticket *t);
/* Nonzero when the source should stop reading until resume() is called. */
int weir_worker_should_pause(struct weir_worker *w);
void weir_worker_source_finished(struct weir_worker *w);
/* Operators holding records hand them on now (their on_timer), so that every
 * record dispatched so far has reached the sinks: before a transaction commits. */
void weir_worker_flush_held(struct weir_worker *w);
/* A fatal error: the worker stops and reports it. */
void weir_worker_fail(struct weir_worker *w, const struct weir_error *err);

#endif
