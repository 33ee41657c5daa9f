/* Between worker.c (the chain, the loop), worker_route.c (to the sinks) and worker_state.c (partitions,
 * watermarks, event-time timers, tied batches, durable state). Not for
 * operators or connectors. */
#ifndef WEIR_WORKER_INTERNAL_H
#define WEIR_WORKER_INTERNAL_H

#include "engine/worker.h"

void weir_worker_watermarks(struct weir_worker *w, const struct weir_batch *b);
int64_t weir_worker_watermark(void *ctx, uint32_t part);
int weir_worker_timer_event(void *ctx, struct weir_op_timer *t);
int weir_worker_tie(void *ctx, struct weir_batch *out, struct weir_batch *in);
int weir_worker_durable_open(struct weir_worker *w, struct weir_error *err);
void weir_worker_durable_close(struct weir_worker *w);
/* End of a run that went well: a state directory gets the whole state. */
void weir_worker_state_final(struct weir_worker *w);
void weir_worker_parts_free(struct weir_worker *w);
void weir_worker_state_housekeep(struct weir_worker *w);
/* Each loop turn, and before stores go: keys the bounds evicted, counted and
 * said once per operator. */
void weir_worker_state_evictions(struct weir_worker *w);
/* A reload's new operator: its maps mark changes only when a store saves them. */
void weir_worker_keyed_marks(struct weir_worker *w, struct weir_op *op);
/* Before the loop sleeps: the counters other threads read (worker_metrics.c). */
void weir_worker_metrics_publish(struct weir_worker *w);
/* On the worker's thread (its wake-up): takes a pending reload request and
 * starts the quiesce that ends in the swap (worker_reload.c). */
void weir_worker_reload_begin(struct weir_worker *w);
/* w->reload_phase: where a SHAPE reload is. */
enum weir_reload_phase {
    PHASE_NONE = 0,
    PHASE_SOURCE_STOP, /* the old source finishes what it has in flight (it may read on) */
    PHASE_QUIESCE,     /* paused: the operators hand on what they hold */
    PHASE_DRAIN,       /* paused: every output acknowledged */
};
/* Before the loop sleeps while a SHAPE reload is under way: the next step. */
void weir_worker_reload_step(struct weir_worker *w);
/* The source reports it finished: 1 when a reload stopped it (the run goes
 * on with the new source), 0 otherwise. */
int weir_worker_reload_source_stopped(struct weir_worker *w);
/* Closes and frees the replaced sources whose type says they are quiet (all
 * of them with all: the worker ends). */
void weir_worker_sources_reap(struct weir_worker *w, int all);
/* The same for the removed sinks (connector.h: detach, quiet). */
void weir_worker_sinks_reap(struct weir_worker *w, int all);
/* A batch a source filled from the pool of the shape before a reload: its
 * records are dispatched in batches of the current shape (b goes back to its
 * pool). */
void weir_worker_dispatch_reshaped(struct weir_worker *w, struct weir_batch *b,
                                   struct weir_ticket *t);

/* Operators allocated at least (a reload may add some without moving the others). */
#define WEIR_WORKER_OPS 64
int weir_worker_op_init(struct weir_worker *w, struct weir_op *op, const struct weir_pipeline *pl,
                        size_t k, struct weir_error *err);
/* Whether another of pl's sinks (or the dead letter) writes where sink k
 * does (weir_sink.destination_shared). */
int weir_worker_sink_destination_shared(const struct weir_pipeline *pl, size_t k);
/* Sink k of pl (pl->nsinks: the dead-letter sink), allocated and opened;
 * on failure *out is still to be closed. */
/* checked: a reload's new sink whose type's precheck() passed (weir_sink.checked). */
int weir_worker_sink_open(struct weir_worker *w, const struct weir_pipeline *pl, size_t k,
                          void *shared, int checked, struct weir_sink **out,
                          struct weir_error *err);
void weir_worker_sink_close(struct weir_sink *s);

/* A sink or source and the pipeline version its conf belongs to, held while
 * it lives (weir_pipeline_hold): a reload-taking run frees a version once
 * nothing uses it. The source's options may change as it runs (keeps()):
 * conf_from is the version of the options it has now. */
struct weir_sink_slot {
    struct weir_sink s;
    /* from: opened with (its conf); output_from: the version s->output and
     * the condition point into since a reload kept the sink, held as long */
    const struct weir_pipeline *from, *output_from;
};
struct weir_source_slot {
    struct weir_source s;
    const struct weir_pipeline *from, *conf_from;
};
/* A source slot (from pl, held; pl NULL: set later with weir_worker_source_from). */
struct weir_source *weir_worker_source_new(const struct weir_pipeline *pl);
void weir_worker_source_from(struct weir_source *s, const struct weir_pipeline *pl);
/* Frees the slot (after the type's close) and lets go of its versions. */
void weir_worker_source_free(struct weir_source *s);
/* pl is let go of once every batch routed so far is acknowledged (w->let_go). */
void weir_worker_let_go_later(struct weir_worker *w, const struct weir_pipeline *pl);
/* Before the loop sleeps: lets go of what waited long enough, starts the next wait. */
void weir_worker_let_go_step(struct weir_worker *w);
/* The worker ends (nothing in flight refers to them): lets go of them all. */
void weir_worker_let_go_end(struct weir_worker *w);

/* worker_route.c: b, out of the chain, to every sink (then put back). */
void weir_worker_route(struct weir_worker *w, struct weir_batch *b);
/* The worker ends, its sinks closed: frees the route tickets kept for reuse. */
void weir_worker_route_tickets_free(struct weir_worker *w);

#endif
