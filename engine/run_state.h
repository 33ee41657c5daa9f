/* What run.c and run_reload.c share: the main thread's view of a run and
 * of each worker's slot. Private to those two files. */
#ifndef WEIR_ENGINE_RUN_STATE_H
#define WEIR_ENGINE_RUN_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "engine/file_watch.h"
#include "engine/metrics.h"
#include "engine/pipeline.h"
#include "engine/reload.h"
#include "engine/run.h"
#include "engine/worker.h"

/* The sinks' setup (a file sink truncates its file), done by the first
 * worker whose init succeeded: a run that fails to start (a damaged state
 * file, a missing source, a port in use) leaves last run's output alone. */
struct sinks_setup {
    pthread_mutex_t lock;
    int done;
    int rc;
    struct weir_error err;
};

struct worker_slot {
    struct weir_worker w;
    struct sinks_setup *setup;
    pthread_t thread;
    int started;
    int id;
    int nworkers;
    const struct weir_pipeline *pl;
    const struct weir_run_opts *opts;
    void *const *shared; /* per sink, or NULL */
    _Atomic int *stop_all;
    struct weir_metrics *metrics; /* this worker's, in the run's registry */
    /* The main thread writes the worker's eventfd only while the worker holds
     * it open: a stop asked for as the worker closes must not land on a
     * reused descriptor. */
    pthread_mutex_t lock;
    int open;                    /* under lock: initialised, not yet destroyed */
    _Atomic int ready;           /* open and running: a replay may start writing */
    _Atomic int ended;           /* its run is over, or never began (a failed init) */
    _Atomic int done;            /* rc and err are final */
    _Atomic uint64_t records_in; /* published by the worker's loop hook */
    struct weir_loop_hook publish;
    int seen; /* main thread: its end was looked at */
    int rc;
    struct weir_error err;
};

/* The main thread's view of the run. */
struct run_state {
    struct worker_slot *slots;
    int n;
    _Atomic int stop_all;
    uint64_t stop_at; /* when the stop was asked for (ns), 0 before */
    struct weir_companion *comp;
    int signals;
    int rc; /* the first failure */
    struct weir_error *err;
    struct weir_run_result *res;
    const struct weir_run_opts *opts;
    struct weir_metrics_registry reg; /* what /metrics and the progress line read */
    struct sinks_setup setup;
    uint64_t progress_at;             /* when the last progress line was printed (ns) */
    uint64_t reload_gen;              /* the last reload sent to the workers */
    int reload_pending;               /* sent, not yet applied by every running worker */
    /* The pipeline the workers run (or are taking), with what its sinks
     * share; the one before it until the reload is applied. The run holds
     * both (weir_pipeline_hold). */
    const struct weir_pipeline *cur_pl, *prev_pl;
    void **cur_shared, **prev_shared;
    int reload_failed_said;          /* the failed reload was said (and counted) */
    struct weir_reload_plan *plan;   /* the last reload sent */
    struct weir_reload_check *check; /* a reload whose new source is being checked */
    /* The versions reloads gave the run, not yet freed: each is freed once
     * nothing holds it (kept operators, sinks and sources made from it, the
     * workers running it), so memory follows what is live, whatever the
     * number of reloads. */
    struct weir_pipeline **versions;
    size_t nversions, versions_cap;
    struct weir_file_watch watch;
    int file_watch; /* "reload": {"watch"} as the last reload read it */
    struct weir_metrics_totals progress_prev;
};

const struct weir_stage_sink *weir_run_stage_sink(const struct weir_pipeline *pl, size_t k);

/* run_reload.c, from the main thread's wait loop */
void weir_run_hangup(struct run_state *st);
void weir_run_reload_request(struct run_state *st, const char *why);
void weir_run_reload_check_look(struct run_state *st);
void weir_run_reload_watch(struct run_state *st);
void weir_run_watch_follow(struct run_state *st, int file_watch);
void weir_run_reload_forget(struct run_state *st, const struct weir_pipeline *old,
                            void **old_shared);

#endif
