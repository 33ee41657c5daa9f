/* Worker threads and signals (see run.h). Signals are blocked in every thread
 * and taken by the main thread with sigtimedwait, which then asks each worker
 * to stop through its eventfd: no work happens in a signal handler. */
#include "engine/run.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct worker_slot {
    struct weir_worker w;
    pthread_t thread;
    int started;
    _Atomic int ready;   /* the worker may be asked to stop */
    _Atomic int done;
    int rc;
    int with_source;
    int id;
    int nworkers;
    struct weir_error err;
    const struct weir_pipeline *pl;
    const struct weir_run_opts *opts;
    _Atomic int *stop_all;
};

static void *worker_main(void *arg)
{
    struct worker_slot *slot = arg;
    struct weir_worker *w = &slot->w;
    slot->rc = weir_worker_init(w, slot->id, slot->nworkers, slot->pl,
                                slot->with_source, &slot->err);
    w->timing = slot->opts->timing;
    if (slot->rc == 0) {
        atomic_store(&slot->ready, 1);
        if (atomic_load(slot->stop_all))
            weir_worker_request_stop(w);
        slot->rc = weir_worker_run(w);
        if (slot->rc < 0)
            slot->err = w->err;
    }
    atomic_store(&slot->ready, 0);
    weir_worker_destroy(w);
    atomic_store(&slot->done, 1);
    return NULL;
}

static int setup_sinks(const struct weir_pipeline *pl, struct weir_error *err)
{
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        if (st->type->setup && st->type->setup(st->conf, err) < 0)
            return err->code;
    }
    return 0;
}

static int all_done(struct worker_slot *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (slots[i].started && !atomic_load(&slots[i].done))
            return 0;
    return 1;
}

static void stop_workers(struct worker_slot *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (atomic_load(&slots[i].ready))
            weir_worker_request_stop(&slots[i].w);
}

static void add_stats(struct weir_worker_stats *t, const struct weir_worker_stats *s)
{
    t->records_in += s->records_in;
    t->records_out += s->records_out;
    t->dead += s->dead;
    t->alerts += s->alerts;
    t->batches += s->batches;
    for (int k = 0; k < 64; k++)
        t->op_ns[k] += s->op_ns[k];
}

/* The replay producer runs in a thread of its own while the workers consume. */
struct replay_job {
    const struct weir_pipeline *pl;
    pthread_t thread;
    int started;
    _Atomic int done;
    int rc;
    uint64_t produced;
    struct weir_error err;
};

static void *replay_main(void *arg)
{
    struct replay_job *job = arg;
    const struct weir_replay_conf *rc = job->pl->replay;
    char brokers[512];
    struct weir_replay_opts o = {.path = rc->path, .rate = rc->rate, .key_field = rc->key,
                                 .partition = (int32_t)rc->partition, .brokers = brokers};
    size_t n = strlen(rc->path);
    o.csv = n > 4 && strcasecmp(rc->path + n - 4, ".csv") == 0;
    job->rc = weir_replay_target(job->pl, brokers, sizeof brokers, &o.topic, &job->err);
    if (job->rc == 0)
        job->rc = weir_replay_run(&o, &job->produced, &job->err);
    atomic_store(&job->done, 1);
    return NULL;
}

static int all_ready(struct worker_slot *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (!atomic_load(&slots[i].ready) && !atomic_load(&slots[i].done))
            return 0;
    return 1;
}

static uint64_t records_in(struct worker_slot *slots, int n)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += __atomic_load_n(&slots[i].w.stats.records_in, __ATOMIC_RELAXED);
    return total;
}

/* Starts the replay once the workers are up (the embedded cluster exists
 * then); when it is done and every replayed record went through, stops the
 * run if the pipeline asked for that. Returns 1 when the run should stop. */
static int replay_step(struct replay_job *job, struct worker_slot *slots, int n)
{
    if (!job->pl->replay)
        return 0;
    if (!job->started) {
        if (all_ready(slots, n))
            job->started = pthread_create(&job->thread, NULL, replay_main, job) == 0 ? 1 : -1;
        return job->started < 0;
    }
    if (!atomic_load(&job->done))
        return 0;
    if (job->rc < 0)
        return 1;
    return job->pl->replay->stop && records_in(slots, n) >= job->produced;
}

/* Waits for the workers; the first SIGINT/SIGTERM drains them, a second one exits. */
static int wait_workers(struct worker_slot *slots, int n, _Atomic int *stop_all,
                        struct replay_job *job)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int signals = 0;
    struct timespec tick = {0, 20 * 1000 * 1000};
    while (!all_done(slots, n)) {
        int sig = sigtimedwait(&set, NULL, &tick);
        if (!atomic_load(stop_all) && replay_step(job, slots, n)) {
            atomic_store(stop_all, 1);
            stop_workers(slots, n);
        }
        if (sig != SIGINT && sig != SIGTERM)
            continue;
        if (++signals > 1)
            _exit(128 + sig); /* asked twice: the user wants out now */
        atomic_store(stop_all, 1);
        stop_workers(slots, n);
    }
    return signals;
}

int weir_run(const struct weir_pipeline *pl, const struct weir_run_opts *opts,
             struct weir_run_result *res, struct weir_error *err)
{
    memset(res, 0, sizeof *res);
    int rc = setup_sinks(pl, err);
    if (rc < 0)
        return rc;
    int n = pl->source_type->per_worker ? (opts->workers > 0 ? opts->workers : 1) : 1;
    struct worker_slot *slots = calloc((size_t)n, sizeof *slots);
    if (!slots)
        return weir_error_set(err, -ENOMEM, "out of memory");
    _Atomic int stop_all = 0;
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, &old); /* inherited by the workers */
    uint64_t t0 = weir_now_ns();
    for (int i = 0; i < n; i++) {
        slots[i].id = i;
        slots[i].nworkers = n;
        slots[i].pl = pl;
        slots[i].opts = opts;
        slots[i].stop_all = &stop_all;
        slots[i].with_source = 1;
        slots[i].started = pthread_create(&slots[i].thread, NULL, worker_main, &slots[i]) == 0;
        if (!slots[i].started) {
            rc = weir_error_set(err, -EAGAIN, "cannot start worker thread %d", i);
            break;
        }
    }
    struct replay_job job = {.pl = pl};
    res->stopped_by_signal = wait_workers(slots, n, &stop_all, &job) > 0;
    if (job.started > 0) {
        pthread_join(job.thread, NULL);
        res->replayed = job.produced;
        if (job.rc < 0 && rc == 0) {
            *err = job.err;
            rc = job.rc;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!slots[i].started)
            continue;
        pthread_join(slots[i].thread, NULL);
        add_stats(&res->total, &slots[i].w.stats);
        if (slots[i].rc < 0 && rc == 0) {
            *err = slots[i].err;
            rc = slots[i].rc;
        }
    }
    res->seconds = (double)(weir_now_ns() - t0) / 1e9;
    res->workers = n;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    free(slots);
    return rc;
}
