/* The metrics registry: what a run exposes on /metrics, /status.json and in
 * its periodic summary line.
 *
 * Each worker owns one struct weir_metrics and is its only writer; readers
 * (the HTTP thread, the main thread's progress line) sum the workers' copies.
 * Every field is a 64-bit word written with weir_metric_add/set (a relaxed
 * atomic store of the worker's own value plus the increment: a plain load,
 * add and store on x86 and arm64, no locked instruction) and read with
 * weir_metric_get (a relaxed atomic load). A reader may see one counter
 * updated before another: each figure is exact, their sum at one instant is
 * not a snapshot, which is what Prometheus expects of counters anyway. */
#ifndef WEIR_METRICS_H
#define WEIR_METRICS_H

#include "engine/buf.h"

#include <stdint.h>

#define WEIR_METRICS_OPS   64  /* operators with their own figures (as op_ns) */
#define WEIR_METRICS_PARTS 256 /* partition slots with their own figures per worker */
#define WEIR_HIST_BUCKETS  32  /* log2 buckets: [0], [1,2), [2,4), ..., [2^30, +inf) */

static inline void weir_metric_add(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void weir_metric_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

static inline uint64_t weir_metric_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* Bucket k > 0 holds values in [2^(k-1), 2^k); the last one everything above. */
struct weir_hist {
    uint64_t bucket[WEIR_HIST_BUCKETS];
    uint64_t count;
    uint64_t sum;
};

static inline unsigned weir_hist_bucket(uint64_t v)
{
    unsigned k = v ? 64u - (unsigned)__builtin_clzll(v) : 0u;
    return k < WEIR_HIST_BUCKETS ? k : WEIR_HIST_BUCKETS - 1;
}

static inline void weir_hist_add(struct weir_hist *h, uint64_t v)
{
    weir_metric_add(&h->bucket[weir_hist_bucket(v)], 1);
    weir_metric_add(&h->count, 1);
    weir_metric_add(&h->sum, v);
}

struct weir_op_metrics {
    uint64_t in;         /* records handed to process() */
    uint64_t out;        /* live records it handed on */
    uint64_t dead;       /* records it removed: marked dead (dead letters) or dropped (filter) */
    uint64_t evicted;    /* keys its keyed state evicted to stay within its bounds */
    struct weir_hist ns; /* process() time per batch, ns */
};

/* One partition slot of one worker (engine/worker.h's slots; a slot names
 * one topic and partition for the life of the worker). -1: unknown. */
struct weir_part_metrics {
    char topic[256]; /* written before the slot is published (nparts); Kafka allows 249 */
    int32_t partition;
    uint64_t assigned;  /* 1 while the worker owns it */
    uint64_t restoring; /* 1 while its state is read back */
    uint64_t position;  /* (int64) next offset to read */
    uint64_t high;      /* (int64) the broker's high watermark, as last fetched */
    uint64_t committed; /* (int64) the offset last stored for commit */
    uint64_t lag;       /* (int64) high - position */
};

struct weir_metrics {
    uint64_t up;       /* the worker's sources and sinks opened */
    uint64_t finished; /* its run ended */
    uint64_t records_in, records_out, dead, unwritable, alerts, batches;
    uint64_t dropped;                 /* filtered out: done, written nowhere */
    uint64_t inflight;                /* outputs the sinks still wait for (producer queues) */
    uint64_t delivery_errors;         /* outputs a broker reported as not delivered */
    uint64_t source_pauses;           /* times the source was paused (backpressure, a reload) */
    uint64_t state_keys, state_bytes; /* keyed state, every operator and partition */
    /* over every slot, those past WEIR_METRICS_PARTS too (no series of
     * their own): readiness and the lag count them all */
    uint64_t parts_assigned, parts_restoring, lag;
    struct weir_hist batch_size;      /* records per batch from the source */
    struct weir_hist event_age_ms;    /* at the sinks: now - event time, live records */
    struct weir_op_metrics op[WEIR_METRICS_OPS];
    uint64_t nparts; /* published with release after the slot's topic */
    struct weir_part_metrics part[WEIR_METRICS_PARTS];
};

struct weir_pipeline;

/* What a reader needs: the pipeline (names) and every worker's figures. */
struct weir_metrics_registry {
    const struct weir_pipeline *pl;
    struct weir_metrics *workers; /* (n) */
    int n;
    uint64_t started_ns; /* weir_now_ns() when the run began */
    /* Written by the main thread (weir_metric_add); pl is replaced by a
     * reload (an atomic store: read it with __atomic_load_n). */
    uint64_t reloads_ok, reloads_failed;
    uint64_t pipeline_versions; /* in memory: the running one and those still used (run.c) */
};

/* The sums over the workers. */
struct weir_metrics_totals {
    uint64_t records_in, records_out, dead, unwritable, alerts, batches, inflight, dropped;
    uint64_t delivery_errors, source_pauses;
    uint64_t state_keys, state_bytes;
    uint64_t parts_assigned, parts_restoring, lag;
    int workers_up, workers_finished;
};

void weir_metrics_totals(const struct weir_metrics_registry *r, struct weir_metrics_totals *t);
/* Ready: every worker is up, none restores state, and a source with
 * partitions (Kafka) has been assigned at least one. */
int weir_metrics_ready(const struct weir_metrics_registry *r);
/* Appends the Prometheus text format (0.0.4). Returns 0 or -ENOMEM. */
int weir_metrics_prometheus(const struct weir_metrics_registry *r, struct weir_buf *out);
/* Appends {"uptime_s":..,"totals":{..},"operators":[..],"partitions":[..]}.
 * Returns 0 or -ENOMEM. */
int weir_metrics_json(const struct weir_metrics_registry *r, struct weir_buf *out);
/* Held by the two above while they read r->pl; a run frees a replaced
 * pipeline version only while holding it. */
void weir_metrics_pipeline_lock(void);
void weir_metrics_pipeline_unlock(void);

/* Worker side: a partition slot's name, once (slot < WEIR_METRICS_PARTS). */
void weir_metrics_part_name(struct weir_metrics *m, uint32_t slot, const char *topic,
                            int32_t partition);

/* Figures kept outside the workers' blocks (the model operator's version
 * served and inference time per device, Kafka consumers' offset resets):
 * prometheus appends whole metric families (HELP and TYPE lines included),
 * json appends one member of the status object (`"models":[...]`, no
 * comma), summary writes a clause for the run's exit summary when there is
 * something to say (returns 1; 0: nothing). Any may be NULL. A source is
 * called on the reader's thread under a lock that remove takes too. */
struct weir_metrics_source {
    int (*prometheus)(void *ctx, struct weir_buf *out);
    int (*json)(void *ctx, struct weir_buf *out);
    void *ctx;
    int (*summary)(void *ctx, char *out, size_t cap);
};
/* Adds s (copied) once per ctx; 0 or -ENOMEM. */
int weir_metrics_source_add(const struct weir_metrics_source *s);
void weir_metrics_source_remove(void *ctx);
/* The sources' summary clauses, each as ", CLAUSE", into out (cap > 0;
 * "" when none has one). */
void weir_metrics_summary_notes(char *out, size_t cap);
/* For sources: a histogram family's lines (name_bucket/_sum/_count), values
 * scaled by unit (1, 1e-3 or 1e-9); labels "" or `a="b",`. And a label
 * value escaped. */
int weir_metrics_prom_hist(struct weir_buf *b, const char *name, const char *labels,
                           const struct weir_hist *h, double unit);
void weir_metrics_label_value(char *dst, size_t cap, const char *s);

#endif
