/* A worker: one thread with its own io_uring loop, batch pool, operator
 * instances, source and sinks. Workers share nothing but the read-only
 * pipeline. Sources announce partitions and hand batches in with
 * weir_worker_dispatch(); the worker runs the operator chain, keeps each
 * partition's watermark and keyed state (restored from and saved to the
 * durable back end), and routes each record to the sinks that want it. */
#ifndef WEIR_WORKER_H
#define WEIR_WORKER_H

#include <stdint.h>

#include "connectors/connector.h"
#include "engine/durable.h"
#include "engine/loop.h"
#include "engine/metrics.h"
#include "engine/pipeline.h"

struct weir_reload_plan; /* engine/reload.h */


struct weir_worker_stats {
    uint64_t records_in;  /* records dispatched */
    /* Counted when every output of a batch is acknowledged (a failed batch
     * counts in neither): what the sinks took, not what they were handed. */
    uint64_t records_out; /* live records written to the sinks */
    uint64_t dead;        /* records written to the dead-letter sink, those a sink
                             could not take (weir_worker_dead_letter) included */
    uint64_t unwritable;  /* not even a dead letter could be written: logged and
                             acknowledged (weir_worker_unwritable) */
    uint64_t dropped;     /* records a filter dropped: done, written nowhere */
    uint64_t alerts;
    uint64_t batches;
    uint64_t state_writes; /* entries written to the durable state */
    uint64_t op_ns[64];   /* time in each operator's process() when timing is on */
    uint64_t cpu_ns;      /* the worker thread's CPU time at the end of its run
                             (CLOCK_THREAD_CPUTIME_ID: its whole life, opening included) */
};

/* A partition this worker has seen (a slot; records carry its index). */
struct weir_partition {
    char *topic;
    int32_t partition;
    int assigned;
    int restoring;      /* the durable state is being read back */
    const struct weir_source *owner; /* the source that assigned it last (a reload's
                                        successor takes over its predecessor's) */
    int64_t max_ts;     /* largest event time seen (ms), INT64_MIN before any */
    int64_t watermark;  /* max_ts - allowed lateness */
    int fed;            /* a record came since it was assigned: its clock is known */
    uint64_t lag;       /* the broker's high watermark - the next offset, as last reported */
    uint64_t skipped;   /* saved records its restore skipped (another layout) ... */
    int skipped_op;     /* ... the first of them for this operator */
    /* At-least-once: the next checkpoint's offset, what it covers (-1:
     * none to save), and the last one saved; and what the restored state
     * covered: records below it are replays that state counted already
     * (weir_op_replayed). */
    int64_t covered, covered_saved, replay_below;
};

/* Waiting for the operators to hand on what they hold. */
struct weir_route_ticket; /* worker.c */

struct weir_quiesce {
    void (*done)(struct weir_worker *w, void *ctx);
    void *ctx;
    int why;   /* enum weir_flush_why */
    int acked; /* and every output acknowledged (the caller stops taking input meanwhile) */
    struct weir_quiesce *next;
};

struct weir_worker {
    int id;
    int nworkers;            /* workers in this process (static partition splits) */
    const struct weir_pipeline *pl;
    struct weir_loop *loop;
    struct weir_batch_pool *pool;
    struct weir_op *ops;
    size_t nops;
    struct weir_op_engine op_engine;
    int stateful;            /* some operator keeps keyed state */
    struct weir_source *source; /* the current one (allocated) */
    int has_source;
    /* A reload that changes the source opens a new one; the old ones wait
     * here (stopped, detached) until their type says nothing of theirs is
     * left on the loop (quiet()), then are closed and freed; without quiet(),
     * when the worker ends. */
    struct weir_source *retired;
    /* A reload's removed sinks whose type closes them off the loop
     * (detach()): they wait here until quiet(), or until the worker ends. */
    struct weir_sink *retired_sinks;
    struct weir_sink **sinks; /* pl->nsinks, then the dead-letter sink last; each allocated
                                 on its own, so that a reload keeps a sink's address */
    size_t nsinks;
    struct weir_durable durable;
    int has_durable;
    struct weir_partition *parts;
    uint32_t nparts, partcap;
    int in_assign;           /* a restore completing inside partition_assign */
    struct weir_op_timer *event_timers;
    struct weir_quiesce *quiescing; /* waiting callers, in order */
    struct weir_quiesce end_quiesce;
    int wake_fd;             /* eventfd: the main thread asks this worker to stop or reload */
    int stop_flag;           /* (atomic) the wake-up is a stop */
    /* A reload asked for by another thread (atomic: the pipeline last, with
     * release), and the one under way on this thread. */
    const struct weir_pipeline *reload_req;
    const struct weir_reload_plan *reload_req_plan;
    void *const *reload_req_shared;
    uint64_t reload_req_gen;
    const struct weir_pipeline *reload_pl;
    const struct weir_reload_plan *reload_plan;
    void *const *reload_shared; /* per new sink: what the workers share, or NULL */
    uint64_t reload_gen;
    struct weir_quiesce reload_q;
    int reloading;
    int reload_phase;        /* SHAPE: enum in worker_reload.c */
    struct weir_event reload_tick;
    int reload_tick_armed;
    struct weir_batch_pool *retired_pools[4]; /* shapes before a reload, until their batches return */
    /* Pipeline versions this worker no longer uses (a dropped operator's, the
     * one it ran before a reload): records routed before may still point
     * into them (a dead letter's reason), so they are let go of once every
     * batch routed until then is acknowledged (worker_reload.c): routes are
     * counted per epoch (two at a time), let_go waits for the next epoch
     * change, let_go_wait for epoch wait_epoch's routes to be done. */
    const struct weir_pipeline **let_go, **let_go_wait;
    size_t nlet_go, let_go_cap, nlet_go_wait, let_go_wait_cap;
    uint64_t route_epoch, wait_epoch;
    uint64_t routes_out[2]; /* routed batches not yet acknowledged, by epoch & 1 */
    uint64_t reload_applied; /* (atomic) the generation last swapped in */
    uint64_t reload_failed;  /* (atomic) the generation that failed to apply, 0; stored after err */
    size_t opcap;            /* ops allocated: a reload keeps kept operators' addresses */
    struct weir_event wake_ev;
    struct weir_loop_hook hook; /* before sleep: sinks, backpressure, quiesce */
    int source_finished;
    int end_flushed;         /* operators emptied after the end of input */
    int stop_requested;
    int paused;              /* the source waits for its resume() */
    unsigned busy_ops;       /* operators asking the sources to pause */
    int inflight;            /* outputs the sinks still wait for (before_sleep counts them) */
    struct weir_event drain_ev; /* while draining at the end: look at the sinks again */
    int drain_armed;
    uint64_t drain_since;    /* when the end-of-run drain began (ns), 0 before */
    int timing;              /* measure per-operator time (benchmarks) */
    int failed;
    int closing;             /* weir_worker_destroy began: the source is closed */
    struct weir_error err;
    struct weir_worker_stats stats;
    struct weir_metrics *m;  /* what readers on other threads see (metrics.h) */
    struct weir_metrics *own_metrics; /* m when the run gave none */
    struct weir_buf scratch; /* encoding state entries */
    struct weir_route_ticket *free_routes; /* route()'s tickets, for reuse */
    struct {
        const char *name;
        void *ptr;
    } shared[8];             /* objects a worker's connectors share (a transactional producer) */
};

int weir_worker_init(struct weir_worker *w, int id, int nworkers,
                     const struct weir_pipeline *pl, int with_source, struct weir_error *err);
/* The same, in a run whose workers share state per sink: shared[k] for sink
 * k (pl->sinks in order, then the dead-letter sink), or shared NULL. */
int weir_worker_init_shared(struct weir_worker *w, int id, int nworkers,
                            const struct weir_pipeline *pl, int with_source, void *const *shared,
                            struct weir_error *err);
/* Runs until the source is finished and every output is acknowledged, or a
 * fatal error. Returns 0 or -errno with w->err filled. */
/* The same, writing its figures to m (NULL: a block of its own). */
int weir_worker_init_run(struct weir_worker *w, int id, int nworkers,
                         const struct weir_pipeline *pl, int with_source, void *const *shared,
                         struct weir_metrics *m, struct weir_error *err);
int weir_worker_run(struct weir_worker *w);
void weir_worker_destroy(struct weir_worker *w);
/* Thread-safe: asks the worker to drain and stop. */
void weir_worker_request_stop(struct weir_worker *w);
/* Thread-safe: asks the worker to take next as plan says (engine/reload.h).
 * OPTIONS: operators[k] for each bit k of plan->changed is made again from
 * next's options between batches (after its operators hand on what they
 * hold), keeping its keyed state when the layout is the same; the others
 * keep running with their state. SHAPE: the source pauses
 * (or stops, when it changes), the operators hand on what they hold, every
 * output is acknowledged, then the operators, sinks, batch pool and source
 * are rebuilt from next, keeping what plan says is the same. shared[k]: what
 * the workers share for next's new sink k (NULL: nothing). next, plan and
 * shared outlive the worker. Once done the worker's reload_applied is gen
 * (read it with __atomic_load_n); reload_failed is gen when the rebuild
 * failed (the worker then fails). One at a time: ask again only after the
 * last one was applied. */
void weir_worker_request_reload(struct weir_worker *w, const struct weir_pipeline *next,
                                const struct weir_reload_plan *plan, void *const *shared,
                                uint64_t gen);

/* ---- for sinks ---- */
/* Record r could not be written by a sink for a permanent reason (larger
 * than the sink's limit, rejected by its topic): it goes to the dead-letter
 * sink instead, with reason, the write holding t as the sink's own would
 * have. Once acknowledged it counts as a dead letter, not an output (once,
 * however many sinks could not take it). r's bytes need only live through
 * the call. Returns 0 or -errno (the dead-letter sink failed: fatal). */
int weir_worker_dead_letter(struct weir_worker *w, const struct weir_record *r, const char *reason,
                            struct weir_ticket *t);
/* The last resort, for the dead-letter sink: r's dead letter cannot be
 * written either. Prints one line naming r's coordinates and both reasons,
 * counts it in stats.unwritable, and the caller acknowledges it (holds
 * nothing, or releases its hold as ok): the partition moves on, and the
 * line is where the record can be found again. */
void weir_worker_unwritable(struct weir_worker *w, const struct weir_record *r, const char *why,
                            struct weir_ticket *t);

/* ---- for sources ---- */
struct weir_batch *weir_worker_batch(struct weir_worker *w);
/* Runs the chain on b, routes it, returns b to the pool. t (held by the
 * source's own accounting) gets one hold per output still in flight. */
void weir_worker_dispatch(struct weir_worker *w, struct weir_batch *b, struct weir_ticket *t);
/* Nonzero when the source should stop reading until its resume() is called:
 * a sink or an operator is over its bound. */
int weir_worker_should_pause(struct weir_worker *w);
void weir_worker_source_finished(struct weir_worker *w);
/* A fatal error: the worker stops and reports it. */
void weir_worker_fail(struct weir_worker *w, const struct weir_error *err);

/* A partition is now this worker's, held by its current source (w->source;
 * a replaced one is never asked for records again): returns its slot
 * (records of it carry it in rec->part), or -ENOMEM. When the pipeline
 * keeps durable state the partition's state is read back first: its records
 * must wait until weir_worker_partition_ready() (the source's
 * partition_ready() is called when a restore completes later). */
int weir_worker_partition_assign(struct weir_worker *w, const char *topic, int32_t partition);
int weir_worker_partition_ready(const struct weir_worker *w, uint32_t slot);
/* What the source knows of a partition's progress, for the metrics: the
 * next offset to read, the broker's high watermark and the offset last
 * stored for commit (-1 where unknown). Cheap: a few stores. */
void weir_worker_partition_progress(struct weir_worker *w, uint32_t slot, int64_t position,
                                    int64_t high, int64_t committed);
/* The partition is gone (after the source flushed and committed it): its
 * state is dropped and the operators are told. */
void weir_worker_partition_revoke(struct weir_worker *w, uint32_t slot);
/* The same, from source by, which may have been replaced by a reload: a slot
 * its successor has assigned since is the successor's now, and left alone
 * (a replaced Kafka consumer closed after its successor took the same
 * partitions must not drop their state). */
void weir_worker_partition_release(struct weir_worker *w, const struct weir_source *by,
                                   uint32_t slot);
/* Reads every assigned partition's state back again (after an aborted
 * transaction rewound the input). */
int weir_worker_state_reload(struct weir_worker *w);
/* Asks the operators to hand on everything they hold; calls done from the
 * loop once they hold nothing (never from inside this call). q must live
 * until then. */
void weir_worker_quiesce(struct weir_worker *w, struct weir_quiesce *q);
/* Writes the state that changed (all of it when full) of every assigned
 * partition to the durable back end, holding t until it is durable. Returns
 * the number of entries written, or -errno. */
int weir_worker_checkpoint(struct weir_worker *w, struct weir_ticket *t, int full);
/* At-least-once: the next checkpoint covers slot's records below offset
 * next (every record dispatched so far); saved with the state, read back as
 * its replay_below. */
void weir_worker_partition_covered(struct weir_worker *w, uint32_t slot, int64_t next);
/* Once the checkpoint's entries are acknowledged: writes what it covers,
 * holding t until that is durable. Returns the entries written, or -errno. */
int weir_worker_checkpoint_covered(struct weir_worker *w, struct weir_ticket *t);
int weir_worker_replayed(void *ctx, uint32_t part, int64_t offset);
/* Objects a worker's connectors share through the engine instead of walking
 * each other: share(name, NULL) forgets. Returns 0 or -ENOSPC. */
int weir_worker_share(struct weir_worker *w, const char *name, void *ptr);
void *weir_worker_shared(const struct weir_worker *w, const char *name);
/* Operators hold batches (end-of-run and commit checks). */
int weir_worker_holding(const struct weir_worker *w);

#endif
