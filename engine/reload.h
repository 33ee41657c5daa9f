/* Reloading a running pipeline (SIGHUP): which operators a new version of the
 * file changes, and whether the running pipeline can take them without a
 * restart. The swap itself happens on each worker between batches
 * (weir_worker_request_reload). */
#ifndef WEIR_RELOAD_H
#define WEIR_RELOAD_H

#include "engine/pipeline.h"

#include <stddef.h>
#include <stdint.h>

/* Compares next with the running pipeline. Returns 1 when only operators'
 * options changed, in a way the workers can swap (bit k of *changed:
 * operators[k]); 0 when nothing changed; -1 when the change needs a restart,
 * with why (the JSON path and what differs). A swap keeps everything else:
 * source, sinks, the other operators and their state. */
int weir_reload_plan(const struct weir_pipeline *running, const struct weir_pipeline *next,
                     uint64_t *changed, char *why, size_t cap);

#endif
