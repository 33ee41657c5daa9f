/* Operators: the types that transform a batch in place, registered by name.
 *
 * A type is a static table of functions plus a table of declared options; an
 * instance (struct weir_op) belongs to one worker and holds all its state, so
 * workers share nothing but the read-only config. prepare() runs once when
 * the pipeline loads (validation, column resolution, shared read-only data);
 * init() runs once per worker.
 *
 * The contract with the engine (Engine v2):
 *  - State. A stateful operator declares its value in init() with
 *    weir_op_state_declare() and reads it per record with weir_op_state():
 *    the engine keeps one bounded keyed store per (operator, partition)
 *    (engine/opstate.h), restores it when a partition is assigned, writes it
 *    to the changelog or the state directory, and drops it on revoke.
 *  - Time. A record's event time is rec->ts_ms (extract's timestamp field, or
 *    the Kafka timestamp). Each partition has a watermark: the largest event
 *    time seen minus the pipeline's allowed lateness (weir_op_watermark).
 *    Timers are event-time (fire when the partition's watermark passes) or
 *    processing-time (the loop's clock); on_timer is told which one fired.
 *  - Holding. process() may return WEIR_OP_HELD and keep the batch; the engine
 *    counts what each operator holds. It hands the batch on later with
 *    weir_op_emit() from any loop completion (a timer, an eventfd written by
 *    another thread or a CUDA callback). It may kill records of a held batch
 *    (weir_batch_kill: they go to the dead-letter sink with the reason). At
 *    the end of a run, before an exactly-once commit and on a revoke, the
 *    engine calls flush() and waits on the loop until the operator holds
 *    nothing; flush() may emit at once or later.
 *  - New records. weir_op_batch_new() takes an empty batch from the worker's
 *    pool; weir_op_batch_tie() makes its acknowledgement wait for the inputs
 *    that caused it; weir_op_emit_new() sends it down the chain.
 *  - Backpressure. weir_op_busy(op, 1) asks the engine to pause the sources
 *    while the operator's queue is over its bound; weir_op_busy(op, 0) clears.
 *  - Batch memory. An operator may supply the memory of the worker's batches
 *    (pinned host memory for GPU copies) with weir_op_batch_memory() in init. */
#ifndef WEIR_OPERATOR_H
#define WEIR_OPERATOR_H

#include <jansson.h>
#include <stddef.h>

#include "engine/batch.h"
#include "engine/buf.h"
#include "engine/error.h"
#include "engine/loop.h"
#include "engine/option.h"
#include "engine/schema.h"

struct weir_op;
struct weir_loop;
struct weir_op_state; /* engine/opstate.h */

/* process() results */
#define WEIR_OP_CONTINUE 0 /* the batch goes on to the next operator */
#define WEIR_OP_HELD 1     /* the operator keeps the batch and hands it on later with
                              weir_op_emit(); it must also hand it on when flush() is called */

/* Why the engine asks an operator to flush. */
enum weir_flush_why { WEIR_FLUSH_END, WEIR_FLUSH_COMMIT, WEIR_FLUSH_REVOKE };

enum weir_timer_kind { WEIR_TIMER_PROCESSING, WEIR_TIMER_EVENT };

/* A timer an operator owns (embed it in the operator's state). */
struct weir_op_timer {
    struct weir_event ev;       /* processing-time timers ride on the loop */
    struct weir_op *op;
    int kind;                   /* enum weir_timer_kind */
    int armed;
    uint32_t part;              /* event-time: the partition whose watermark drives it */
    int64_t at_ms;              /* event-time: fires when the watermark >= at_ms */
    void *ctx;                  /* the operator's own use */
    struct weir_op_timer *next; /* the worker's event-timer list */
};

struct weir_operator_type {
    const char *name;       /* "standardize" */
    const char *summary;    /* one line for the reference */
    const struct weir_option *options; /* zero-terminated */
    size_t conf_size;       /* the struct the options fill */
    /* Validates what the option table cannot (cross-field rules, feature
     * names), resolves columns into conf. raw is the operator's JSON object.
     * Errors go to p->diag; returns the number of problems found. */
    int (*prepare)(void *conf, const json_t *raw, struct weir_prepare *p);
    int (*init)(struct weir_op *op, struct weir_error *err);         /* per worker; optional */
    int (*process)(struct weir_op *op, struct weir_batch *b);        /* WEIR_OP_* or -errno */
    /* A timer fired: now_ms is the watermark (event time) or the wall clock in
     * ms (processing time). Optional. */
    int (*on_timer)(struct weir_op *op, struct weir_op_timer *t, int64_t now_ms);
    /* Hand on everything held, now or later (see above). Optional for
     * operators that never hold. */
    void (*flush)(struct weir_op *op, int why);
    /* A partition was assigned (before any of its records) or revoked (after
     * its records were flushed). Optional: keyed state needs no code here. */
    void (*partition)(struct weir_op *op, uint32_t part, int assigned);
    void (*destroy)(struct weir_op *op);                             /* optional; frees op->state */
    void (*release)(void *conf); /* optional; frees what prepare() put in conf */
    /* For a type with the state options (engine/opstate.h) whose init() may
     * declare no keyed state: 0 when this prepared conf keeps none. Absent:
     * it always keeps some. (A reload's plan asks, engine/reload.c.) */
    int (*keeps_state)(const void *conf);
    /* Every feature its prepare() reads goes through weir_schema_feature_in
     * (or _features_in): what it writes depends on those alone. Else what it
     * writes counts as depending on every operator before it (a threshold on
     * it is muted by any scorer's warm-up; engine/schema.h, feat_deps). */
    int reads_declared;
    /* For a type that can serve a model file `weir fit` trains: when this
     * prepared conf serves one, points *col at its input columns (schema
     * feature indexes, in the model's order) and returns their number; -1
     * when it serves none. Optional (absent: never). `weir features` and
     * `weir fit PIPELINE` end the chain before such an operator and write its
     * inputs (engine/cmd_features.c). */
    int (*model_inputs)(const void *conf, const int **col);
};

/* What the engine provides to an instance; NULL members when an operator runs
 * outside a worker (unit tests). */
struct weir_op_engine {
    struct weir_batch *(*batch_new)(void *ctx);
    void (*emit)(void *ctx, struct weir_op *op, struct weir_batch *b); /* continue the chain */
    int (*tie)(void *ctx, struct weir_batch *out, struct weir_batch *in);
    void (*busy)(void *ctx, struct weir_op *op, int busy);
    int64_t (*watermark)(void *ctx, uint32_t part);
    int (*timer_event)(void *ctx, struct weir_op_timer *t);
    int (*batch_memory)(void *ctx, const struct weir_batch_mem *mem);
    int (*replayed)(void *ctx, uint32_t part, int64_t offset);
    void *ctx;
};

struct weir_pipeline;

struct weir_op {
    const struct weir_operator_type *type;
    const void *conf;      /* filled by the option table and prepare(); shared, read-only */
    void *state;           /* per-worker state, owned by the type */
    int index;             /* position in the chain */
    struct weir_loop *loop; /* the worker's loop, for timers and completions */
    struct weir_op_state *keyed; /* per-partition keyed state, when declared */
    uint32_t held;         /* batches held (counted by the engine) */
    int busy;              /* asked the sources to pause */
    int flush_asked;       /* the engine is waiting for this operator to empty */
    const struct weir_op_engine *engine;
    const struct weir_pipeline *from; /* the engine's: the version conf belongs to (held) */
};

/* Hands a held batch on to the next operator. */
void weir_op_emit(struct weir_op *op, struct weir_batch *b);
/* A fresh empty batch from the worker's pool (NULL when out of memory or
 * outside a worker), and sending it down the chain after this operator. */
struct weir_batch *weir_op_batch_new(struct weir_op *op);
void weir_op_emit_new(struct weir_op *op, struct weir_batch *b);
/* out's outputs are acknowledged only when in's are: in's input stays
 * uncommitted until out went through every sink. Call while in is held. */
int weir_op_batch_tie(struct weir_op *op, struct weir_batch *out, struct weir_batch *in);
void weir_op_busy(struct weir_op *op, int busy);
/* The partition's watermark in ms, or INT64_MIN before any event time. */
int64_t weir_op_watermark(struct weir_op *op, uint32_t part);
/* 1 when record r is read again after a restart under at-least-once and the
 * restored state already counted it (its offset is below what the state's
 * last checkpoint covered): judged against that state it would look late or
 * a duplicate of itself. Inline: window asks for every record. */
static inline int weir_op_replayed(struct weir_op *op, const struct weir_record *r)
{
    /* a Kafka message; a record an operator made (an aggregate's window,
     * partition -1) is none */
    return r->partition >= 0 && r->offset >= 0 && op->engine && op->engine->replayed &&
           op->engine->replayed(op->engine->ctx, r->part, r->offset);
}
/* Processing-time: fires after delay_ms. Event-time: fires when part's
 * watermark reaches at_ms. A timer is armed once at a time. */
int weir_op_timer_processing(struct weir_op *op, struct weir_op_timer *t, uint64_t delay_ms);
int weir_op_timer_event(struct weir_op *op, struct weir_op_timer *t, uint32_t part, int64_t at_ms);
/* Supplies the memory of the worker's batches (from init only). */
int weir_op_batch_memory(struct weir_op *op, const struct weir_batch_mem *mem);

const struct weir_operator_type *weir_operator_find(const char *name);
/* All registered types, NULL-terminated, in catalogue order. */
const struct weir_operator_type *const *weir_operator_types(void);

#endif
