/* Between worker.c (the chain, the loop) and worker_state.c (partitions,
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
/* Before the loop sleeps: the counters other threads read (worker_metrics.c). */
void weir_worker_metrics_publish(struct weir_worker *w);
/* On the worker's thread (its wake-up): takes a pending reload request and
 * starts the quiesce that ends in the swap (worker_reload.c). */
void weir_worker_reload_begin(struct weir_worker *w);

#endif
