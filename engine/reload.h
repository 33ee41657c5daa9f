/* Reloading a running pipeline (SIGHUP, or the file watch): what a new
 * version of the file changes, and how the running pipeline takes it. The
 * swap itself happens on each worker between batches
 * (weir_worker_request_reload). */
#ifndef WEIR_RELOAD_H
#define WEIR_RELOAD_H

#include "engine/option.h"
#include "engine/pipeline.h"

#include <stddef.h>
#include <stdint.h>

#define WEIR_RELOAD_MAX_OPS 64

enum weir_reload_kind {
    WEIR_RELOAD_NONE = 0,    /* nothing the run acts on changed */
    WEIR_RELOAD_OPTIONS = 1, /* the same stages and columns: changed operators made again */
    WEIR_RELOAD_SHAPE = 2,   /* operators, columns, sinks or the source differ: rebuild */
};

/* How the next pipeline's stages come from the running one's. An operator
 * or sink "is the same" when its JSON object is equal (type and every
 * option, its "name" included), wherever it stands: each new stage takes the
 * first unused old one that is equal. */
struct weir_reload_plan {
    int kind;
    uint64_t changed;                  /* OPTIONS: bit k: operators[k] made again */
    uint64_t relineaged;               /* bit k: operators[k]'s JSON is its match's, but what
                                          it reads comes from other features (a threshold's
                                          conf holds that): made again, never kept */
    int op_from[WEIR_RELOAD_MAX_OPS];  /* SHAPE: old index of new operator k, or -1 (new) */
    int same_columns;                  /* the columns are identical: kept operators keep their
                                          instance; otherwise they are made again from the
                                          new file and take their keyed state with them */
    int sink_from[WEIR_RELOAD_MAX_OPS + 1]; /* new sink k (dead-letter last): old index or -1 */
    int source_same;                   /* the source's options are equal: it goes on */
    int source_kept;                   /* they differ, but its type takes them as it runs
                                          (keeps()): it goes on with the new ones. Else a
                                          changed source is stopped, closed and opened again */
    unsigned char sink_checked[WEIR_RELOAD_MAX_OPS + 1]; /* new sink k's precheck() passed
                                          (weir_reload_check): its open() skips the check */
    int watch;                         /* the new file's "reload": {"watch"}: the run's, not
                                          the workers' (taken whatever the kind, -1 aside) */
};

/* Compares next with the running pipeline. Returns the kind (0, 1 or 2)
 * with *plan filled, or -1 when the change needs a restart, with why (the
 * JSON path and what differs). */
int weir_reload_plan(const struct weir_pipeline *running, const struct weir_pipeline *next,
                     struct weir_reload_plan *plan, char *why, size_t cap);

/* A changed source's and each new or changed sink's precheck() (connector.h:
 * a new Kafka source's brokers and topics, a Kafka sink's topic), run on a
 * thread of its own before the workers are asked to take next, so that no
 * worker's loop waits for the network and a failed check leaves the running
 * pipeline as it is (reload_check.c). */
struct weir_reload_check;
/* Starts the check when the plan replaces the source with one of a type
 * that has a precheck(), or adds or changes a sink of such a type (marked in
 * plan->sink_checked once it passed): 0 with *out set, the check holding next
 * (weir_pipeline_hold), plan and why (what asked, for the log) until done
 * hands them back; 0 with *out NULL when there is nothing to check; -errno
 * (no thread) with err filled. */
int weir_reload_check_start(const struct weir_pipeline *next, struct weir_reload_plan *plan,
                            const char *why, struct weir_reload_check **out,
                            struct weir_error *err);
/* What a finished check hands back: the caller lets go of next. */
struct weir_reload_checked {
    const struct weir_pipeline *next;
    struct weir_reload_plan *plan;
    const char *why;
};
/* 1 while the check runs (and wait is 0); else joins and frees the check,
 * fills *out, and returns 0 (passed) or its -errno with err filled. wait:
 * until it is through (up to the stages' own timeouts, e.g. a Kafka
 * source's or sink's connect_timeout, one after the other). */
int weir_reload_check_done(struct weir_reload_check *c, int wait, struct weir_reload_checked *out,
                           struct weir_error *err);

/* The JSON object operator k of pl was loaded from (the implicit extract's
 * own when the file has none). */
const json_t *weir_reload_op_json(const struct weir_pipeline *pl, size_t k);

/* The pipeline's "reload" section (weir_pipeline_section(pl, "reload")). */
struct weir_reload_section {
    int watch; /* reload when the file changes */
};
extern const struct weir_section_type weir_section_reload;

#endif
