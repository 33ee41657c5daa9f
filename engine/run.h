/* Running a loaded pipeline: W worker threads, signal handling (SIGINT and
 * SIGTERM drain in-flight batches and flush the sinks), and the run's totals. */
#ifndef WEIR_RUN_H
#define WEIR_RUN_H

#include <stdint.h>

#include "engine/error.h"
#include "engine/pipeline.h"
#include "engine/worker.h"

struct weir_run_opts {
    int workers;  /* threads; a file source uses one (a file is one partition) */
    int timing;   /* measure time per operator */
};

struct weir_run_result {
    struct weir_worker_stats total;
    int workers;
    double seconds;
    int stopped_by_signal;
    uint64_t replayed;  /* records the pipeline's "replay" produced */
};

/* Runs pl to completion (end of input, or a signal). Returns 0 or -errno with
 * err filled by the first worker that failed. */
int weir_run(const struct weir_pipeline *pl, const struct weir_run_opts *opts,
             struct weir_run_result *res, struct weir_error *err);

#endif
