/* Operators: the types that transform a batch in place, registered by name.
 *
 * A type is a static table of functions plus a table of declared options; an
 * instance (struct weir_op) belongs to one worker and holds all its state, so
 * workers share nothing but the read-only config. prepare() runs once when
 * the pipeline loads (validation, column resolution, shared read-only data);
 * init() runs once per worker. */
#ifndef WEIR_OPERATOR_H
#define WEIR_OPERATOR_H

#include <jansson.h>
#include <stddef.h>

#include "engine/batch.h"
#include "engine/buf.h"
#include "engine/error.h"
#include "engine/option.h"
#include "engine/schema.h"

struct weir_op;
struct weir_loop;

/* process() results */
#define WEIR_OP_CONTINUE 0 /* the batch goes on to the next operator */
#define WEIR_OP_HELD 1     /* the operator keeps the batch (micro-batching, windows) and
                              hands it on later with weir_op_emit(); it must arm a timer
                              on op->loop so it never holds records forever */

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
    int (*on_timer)(struct weir_op *op);                             /* optional */
    int (*snapshot)(struct weir_op *op, struct weir_buf *out);       /* optional */
    int (*restore)(struct weir_op *op, const void *data, size_t len); /* optional */
    void (*destroy)(struct weir_op *op);                             /* optional; frees op->state */
    void (*release)(void *conf); /* optional; frees what prepare() put in conf */
};

struct weir_op {
    const struct weir_operator_type *type;
    const void *conf;      /* filled by the option table and prepare(); shared, read-only */
    void *state;           /* per-worker state, owned by the type */
    int index;             /* position in the chain */
    struct weir_loop *loop; /* the worker's loop, for timers */
    /* set by the engine: continue the chain after this operator */
    void (*emit)(struct weir_op *op, struct weir_batch *b);
    void *emit_ctx;
};

/* Hands a held batch on to the next operator (for WEIR_OP_HELD operators). */
static inline void weir_op_emit(struct weir_op *op, struct weir_batch *b)
{
    op->emit(op, b);
}

const struct weir_operator_type *weir_operator_find(const char *name);
/* All registered types, NULL-terminated, in catalogue order. */
const struct weir_operator_type *const *weir_operator_types(void);

#endif
