/* Running a loaded pipeline: W worker threads, signal handling (SIGINT and
 * SIGTERM drain in-flight batches and flush the sinks; a second one exits at
 * once), companions that run beside the workers, and the run's totals.
 *
 * Any reason to stop stops every worker: a signal, a companion that is done,
 * a worker that failed, or an output whose reader went away (EPIPE). */
#ifndef WEIR_RUN_H
#define WEIR_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "engine/error.h"
#include "engine/http.h"
#include "engine/pipeline.h"
#include "engine/worker.h"

/* What a companion may look at while the run goes on. */
struct weir_run_progress {
    uint64_t records_in; /* records the workers have dispatched so far */
    int workers_ready;   /* every worker is up (its sources and sinks opened) */
};

/* Something that runs beside the workers for the length of a run, driven from
 * the main thread: the replay producer (connectors/replay.c) is one. None of
 * its functions may block for long: the main thread is also the one that
 * watches for signals. */
struct weir_companion {
    /* Every tick (20 ms). Returns 1 when the run should stop (its work is
     * done and went through), 0 to go on, or -errno with err filled: the run
     * stops and fails. */
    int (*poll)(struct weir_companion *c, const struct weir_run_progress *p,
                struct weir_error *err);
    /* The run is stopping, for whatever reason: end promptly. */
    void (*stop)(struct weir_companion *c);
    /* Nonzero once it has ended (finish() will not wait). */
    int (*ended)(struct weir_companion *c);
    /* Last, after the workers: releases what it holds. Returns 0 or -errno
     * with err filled. */
    int (*finish)(struct weir_companion *c, struct weir_error *err);
    /* Once the run is over (by whoever created it): prints its summary line
     * to summary unless NULL, and frees it. */
    void (*release)(struct weir_companion *c, FILE *summary);
};

struct weir_reload_plan; /* engine/reload.h */

struct weir_run_opts {
    int workers;  /* threads; a file source uses one (a file is one partition) */
    int timing;   /* measure time per operator */
    struct weir_companion *companion; /* or NULL; owned by the caller */
    const struct weir_http_conf *http; /* serve /metrics etc. (engine/http.h), or NULL */
    unsigned progress_s; /* a one-line summary on stderr this often; 0: none */
    /* SIGHUP (or the file watch): called on the main thread with the
     * running pipeline (the run goes on whatever it does). Returns 1 with
     * *next (the run's from then on: freed with weir_pipeline_free once
     * nothing uses it any more, at the latest when the run returns; the
     * first pipeline stays the caller's) and *plan (the run's too, calloc'd)
     * filled (engine/reload.h) to have every worker take next; 0 when there
     * is nothing to do; -1 when the file cannot be taken (said why; counted
     * as a failed reload). NULL: SIGHUP is logged and ignored. */
    int (*reload)(void *ctx, const struct weir_pipeline *running, const struct weir_pipeline **next,
                  struct weir_reload_plan *plan);
    void *reload_ctx;
    /* The pipeline file, watched (inotify on its directory) for reloads when
     * watch is set or the running pipeline says "reload": {"watch": true};
     * NULL: never. */
    const char *watch_file;
    int watch;
};

/* A stop finishes within this long of being asked for (the workers' drain
 * gives up after 30 s, the final commits take the rest); past it, weir exits
 * with status 1 and names the worker it waited for. */
#define WEIR_RUN_STOP_LIMIT_S 60

struct weir_run_result {
    struct weir_worker_stats total;
    int workers;
    double seconds;
    int stopped_by_signal;
    /* Set when an output's reader went away (EPIPE: `weir run ... | head`):
     * the run stopped there and still returned 0; what that output had not
     * written was not acknowledged. Says which output. */
    char output_closed[256];
    /* The HTTP responder's thread (--http): its CPU time and requests. */
    uint64_t http_cpu_ns, http_requests;
};

/* Runs pl to completion (end of input, a signal, a companion's end, an
 * output's reader going away). Returns 0 or -errno with err filled by the
 * first worker or companion that failed. SIGINT and SIGTERM are blocked in
 * the calling thread while it runs; signals that arrive until it returns are
 * taken as stop requests. SIGHUP is blocked too: it calls opts->reload. */
int weir_run(const struct weir_pipeline *pl, const struct weir_run_opts *opts,
             struct weir_run_result *res, struct weir_error *err);

#endif
