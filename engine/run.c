/* Worker threads, companions and signals (see run.h). Signals are blocked in
 * every thread and taken by the main thread with sigtimedwait, which then asks
 * each worker to stop through its eventfd: no work happens in a signal handler.
 *
 * Every reason to stop stops everything. This matters: a worker that failed
 * alone (its stdout closed by `| head`) once left the others and the replay's
 * "every replayed record went through" condition waiting for records only the
 * failed worker would have read, so the run never ended (the worker waiting
 * in io_uring, the main thread in sigtimedwait: nothing was lost, nothing
 * would ever come). */
#include "engine/run.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/file_watch.h"
#include "engine/hangup.h"
#include "engine/log.h"
#include "engine/reload.h"
#include "engine/run_state.h"

/* Runs on the worker's thread before its loop sleeps: the main thread reads
 * this copy, never the worker's own counters, while the worker runs. */
static void publish_progress(struct weir_loop_hook *h)
{
    struct worker_slot *slot = (struct worker_slot *)((char *)h - offsetof(struct worker_slot, publish));
    atomic_store_explicit(&slot->records_in, slot->w.stats.records_in, memory_order_relaxed);
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

/* 1: the run is stopping (a worker failed to start, or a signal) before
 * any setup: nothing is truncated, and this worker does not run, or its
 * output would go after the last run's. */
static int setup_sinks_once(struct sinks_setup *ss, const struct worker_slot *slot,
                            struct weir_error *err)
{
    pthread_mutex_lock(&ss->lock);
    if (!ss->done && atomic_load(slot->stop_all)) {
        pthread_mutex_unlock(&ss->lock);
        return 1;
    }
    if (!ss->done) {
        ss->done = 1;
        ss->rc = setup_sinks(slot->pl, &ss->err);
    }
    int rc = ss->rc;
    if (rc < 0)
        *err = ss->err;
    pthread_mutex_unlock(&ss->lock);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker_slot *slot = arg;
    struct weir_worker *w = &slot->w;
    char name[16]; /* "weir-w3" in top -H, perf and /proc/PID/task/TID/comm */
    snprintf(name, sizeof name, "weir-w%d", slot->id);
    pthread_setname_np(pthread_self(), name);
    slot->rc = weir_worker_init_run(w, slot->id, slot->nworkers, slot->pl, 1, slot->shared,
                                    slot->metrics, &slot->err);
    int skip = slot->rc == 0 ? setup_sinks_once(slot->setup, slot, &slot->err) : 0;
    if (skip < 0)
        slot->rc = skip;
    w->timing = slot->opts->timing;
    if (slot->rc == 0) {
        slot->publish.run = publish_progress;
        weir_loop_add_hook(w->loop, &slot->publish);
        pthread_mutex_lock(&slot->lock);
        slot->open = 1;
        int stop = atomic_load(slot->stop_all); /* asked before we were open */
        pthread_mutex_unlock(&slot->lock);
        atomic_store(&slot->ready, 1);
        weir_metric_set(&slot->metrics->up, 1);
        if (stop)
            weir_worker_request_stop(w);
        slot->rc = skip ? 0 : weir_worker_run(w);
        if (slot->rc < 0)
            slot->err = w->err;
        publish_progress(&slot->publish);
    }
    /* not ready when its init failed: a replay waits for every worker, and
     * the run fails once this one is done, before a record is produced */
    atomic_store(&slot->ended, 1);
    weir_metric_set(&slot->metrics->finished, 1);
    pthread_mutex_lock(&slot->lock);
    slot->open = 0;
    pthread_mutex_unlock(&slot->lock);
    weir_worker_destroy(w);
    atomic_store(&slot->done, 1);
    return NULL;
}

const struct weir_stage_sink *weir_run_stage_sink(const struct weir_pipeline *pl, size_t k)
{
    return k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
}

static void unshare_sinks(const struct weir_pipeline *pl, void **shared)
{
    for (size_t k = 0; shared && k <= pl->nsinks; k++)
        if (shared[k])
            weir_run_stage_sink(pl, k)->type->unshare(shared[k]);
    free(shared);
}

/* What several workers' instances of one sink share (one writer for a
 * file): made once, before they open. *out stays NULL with one worker. */
static int share_sinks(const struct weir_pipeline *pl, int nworkers, void ***out,
                       struct weir_error *err)
{
    *out = NULL;
    if (nworkers < 2)
        return 0;
    void **shared = calloc(pl->nsinks + 1, sizeof *shared);
    if (!shared)
        return weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = weir_run_stage_sink(pl, k);
        if (st->type->share && st->type->share(st->conf, &shared[k], err) < 0) {
            unshare_sinks(pl, shared);
            return err->code;
        }
    }
    *out = shared;
    return 0;
}

static void add_stats(struct weir_worker_stats *t, const struct weir_worker_stats *s)
{
    t->records_in += s->records_in;
    t->records_out += s->records_out;
    t->dead += s->dead;
    t->unwritable += s->unwritable;
    t->dropped += s->dropped;
    t->alerts += s->alerts;
    t->batches += s->batches;
    for (int k = 0; k < 64; k++)
        t->op_ns[k] += s->op_ns[k];
    t->cpu_ns += s->cpu_ns;
}

static void fail_once(struct run_state *st, int rc, const struct weir_error *err)
{
    if (st->rc == 0) {
        st->rc = rc;
        *st->err = *err;
    }
}

/* Asks the companion and every open worker to stop; once. */
static void stop_all(struct run_state *st)
{
    if (atomic_exchange(&st->stop_all, 1))
        return;
    st->stop_at = weir_now_ns();
    if (st->comp)
        st->comp->stop(st->comp);
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        pthread_mutex_lock(&s->lock);
        if (s->open)
            weir_worker_request_stop(&s->w);
        pthread_mutex_unlock(&s->lock);
    }
}

/* A worker that ended: a failure stops the others, and so does an output
 * whose reader went away (EPIPE), which is not a failure of the run: the
 * records it did not write were not acknowledged, so nothing past them is
 * committed. Returns 1 when every started worker has ended. */
static int look_at_workers(struct run_state *st)
{
    int all = 1;
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        if (!s->started || s->seen)
            continue;
        if (!atomic_load(&s->done)) {
            all = 0;
            continue;
        }
        s->seen = 1;
        if (s->rc == -EPIPE) {
            if (!st->res->output_closed[0])
                snprintf(st->res->output_closed, sizeof st->res->output_closed, "%s", s->err.msg);
            stop_all(st);
        } else if (s->rc < 0) {
            fail_once(st, s->rc, &s->err);
            stop_all(st);
        }
    }
    return all;
}

static void look_at_companion(struct run_state *st)
{
    if (!st->comp || atomic_load(&st->stop_all))
        return;
    struct weir_run_progress p = {.workers_ready = 1};
    for (int i = 0; i < st->n; i++) {
        p.records_in += atomic_load_explicit(&st->slots[i].records_in, memory_order_relaxed);
        p.workers_ready &= atomic_load(&st->slots[i].ready);
    }
    struct weir_error e = {0};
    int r = st->comp->poll(st->comp, &p, &e);
    if (r < 0)
        fail_once(st, r, &e);
    if (r != 0)
        stop_all(st);
}

/* A stop that takes longer than WEIR_RUN_STOP_LIMIT_S is a bug somewhere
 * below: say where, and exit rather than hang. */
static void watchdog(struct run_state *st)
{
    if (!st->stop_at || weir_now_ns() - st->stop_at < WEIR_RUN_STOP_LIMIT_S * 1000000000ull)
        return;
    for (int i = 0; i < st->n; i++)
        if (st->slots[i].started && !atomic_load(&st->slots[i].done))
            weir_log(WEIR_LOG_ERROR, "worker %d did not stop within %d s; exiting without it (what it "
                    "had not committed will be read again)\n", i, WEIR_RUN_STOP_LIMIT_S);
    if (st->comp && !st->comp->ended(st->comp))
        weir_log(WEIR_LOG_ERROR, "the replay did not stop within %d s; exiting without it\n",
                WEIR_RUN_STOP_LIMIT_S);
    if (st->check) /* the run itself drained: only the check of a reload is left */
        weir_log(WEIR_LOG_ERROR,
                 "a reload's check of its new source and sinks (their brokers "
                 "and topics) did not end within %d s of the stop; exiting without it (the run "
                 "itself had stopped)\n",
                 WEIR_RUN_STOP_LIMIT_S);
    _exit(1);
}

/* The periodic one-line summary (--progress, or a terminal): rates since the
 * last line, never one line per record. */
static void progress(struct run_state *st)
{
    uint64_t every = (uint64_t)st->opts->progress_s * 1000000000ull;
    uint64_t now = weir_now_ns();
    if (!every || now - st->progress_at < every)
        return;
    struct weir_metrics_totals t;
    weir_metrics_totals(&st->reg, &t);
    double dt = (double)(now - st->progress_at) / 1e9;
    const struct weir_metrics_totals *p = &st->progress_prev;
    weir_log(WEIR_LOG_INFO, "%.0f s: %.0f records/s in, %.0f out; %llu in, %llu out, %llu dead, "
            "%llu alerts (+%llu); lag %llu; %llu in flight\n",
            (double)(now - st->reg.started_ns) / 1e9, (double)(t.records_in - p->records_in) / dt,
            (double)(t.records_out - p->records_out) / dt, (unsigned long long)t.records_in,
            (unsigned long long)t.records_out, (unsigned long long)t.dead,
            (unsigned long long)t.alerts, (unsigned long long)(t.alerts - p->alerts),
            (unsigned long long)t.lag, (unsigned long long)t.inflight);
    st->progress_prev = t;
    st->progress_at = now;
}

/* Copies of one signal sent to a whole process group (Ctrl-C in a terminal,
 * `timeout`, which signals its child and then its group) arrive within
 * microseconds of each other: they are one request, not two. */
#define SIGNAL_REPEAT_NS (200ull * 1000000ull)

/* Waits for the workers and the companion; the first SIGINT/SIGTERM stops
 * them, a second one exits at once. */
static void wait_all(struct run_state *st, const sigset_t *set)
{
    struct timespec tick = {0, 20 * 1000 * 1000};
    uint64_t first = 0;
    for (;;) {
        int sig = sigtimedwait(set, NULL, &tick);
        if (sig == SIGHUP)
            weir_run_hangup(st);
        if (!atomic_load(&st->stop_all) &&
            weir_file_watch_due(&st->watch, st->reload_pending || st->check != NULL))
            weir_run_reload_request(st, "watch");
        if ((sig == SIGINT || sig == SIGTERM) &&
            (!first || weir_now_ns() - first >= SIGNAL_REPEAT_NS)) {
            if (!first)
                first = weir_now_ns();
            if (++st->signals > 1) {
                static const char msg[] = "weir: second signal: exiting without draining\n";
                if (write(2, msg, sizeof msg - 1) < 0) {
                    /* nothing more to say */
                }
                _exit(128 + sig);
            }
            stop_all(st);
        }
        int workers_done = look_at_workers(st);
        look_at_companion(st);
        if (workers_done && !atomic_load(&st->stop_all))
            stop_all(st); /* the input ended: the companion has nothing left to feed */
        progress(st);
        weir_run_reload_check_look(st);
        weir_run_reload_watch(st);
        /* a reload's check still running: waited for here, where a second
         * signal still exits at once */
        if (workers_done && (!st->comp || st->comp->ended(st->comp)) && !st->check)
            return;
        watchdog(st);
    }
}

/* Signals that came after the last look still count as stop requests: they
 * must not kill the process once the mask is restored. */
static void take_pending(struct run_state *st, const sigset_t *set)
{
    struct timespec zero = {0, 0};
    int sig;
    while ((sig = sigtimedwait(set, NULL, &zero)) > 0)
        st->signals += sig != SIGHUP;
}

static int start_workers(struct run_state *st, const struct weir_pipeline *pl,
                         const struct weir_run_opts *opts, void *const *shared)
{
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        s->id = i;
        s->nworkers = st->n;
        s->pl = pl;
        s->opts = opts;
        s->shared = shared;
        s->stop_all = &st->stop_all;
        s->metrics = &st->reg.workers[i];
        s->setup = &st->setup;
        pthread_mutex_init(&s->lock, NULL);
        s->started = pthread_create(&s->thread, NULL, worker_main, s) == 0;
        if (!s->started) {
            struct weir_error e;
            weir_error_set(&e, -EAGAIN, "cannot start worker thread %d", i);
            fail_once(st, -EAGAIN, &e);
            stop_all(st);
            return -EAGAIN;
        }
    }
    return 0;
}

int weir_run(const struct weir_pipeline *pl, const struct weir_run_opts *opts,
             struct weir_run_result *res, struct weir_error *err)
{
    memset(res, 0, sizeof *res);
    int rc;
    struct run_state st = {.comp = opts->companion,
                           .err = err,
                           .res = res,
                           .opts = opts,
                           .cur_pl = pl,
                           .watch = WEIR_FILE_WATCH_OFF,
                           .setup = {.lock = PTHREAD_MUTEX_INITIALIZER}};
    st.n = pl->source_type->per_worker ? (opts->workers > 0 ? opts->workers : 1) : 1;
    st.slots = calloc((size_t)st.n, sizeof *st.slots);
    st.reg = (struct weir_metrics_registry){.pl = pl, .n = st.n, .started_ns = weir_now_ns(),
                                            .workers = calloc((size_t)st.n, sizeof *st.reg.workers)};
    st.progress_at = st.reg.started_ns;
    st.reg.pipeline_versions = 1; /* before any reader: the HTTP thread starts below */
    if (!st.slots || !st.reg.workers) {
        free(st.slots);
        free(st.reg.workers);
        return weir_error_set(err, -ENOMEM, "out of memory");
    }
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, &old); /* inherited by the workers and sinks' threads */
    void **shared = NULL;
    if ((rc = share_sinks(pl, st.n, &shared, err)) < 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        free(st.slots);
        free(st.reg.workers);
        return rc;
    }
    struct weir_http *http = NULL;
    if (opts->http) {
        if ((rc = weir_http_start(&http, opts->http, &st.reg, err)) < 0) {
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            unshare_sinks(pl, shared);
            free(st.slots);
            free(st.reg.workers);
            return rc;
        }
        int v6 = strchr(opts->http->addr, ':') != NULL; /* [::1]:9090, as curl takes it */
        weir_log(WEIR_LOG_INFO, "http: listening on %s%s%s:%d", v6 ? "[" : "", opts->http->addr,
                 v6 ? "]" : "", weir_http_port(http));
    }
    st.cur_shared = shared;
    weir_pipeline_hold(pl); /* as cur_pl; reloads' versions are freed at 0 users */
    const struct weir_reload_section *rs = weir_pipeline_section(pl, "reload");
    weir_run_watch_follow(&st, rs && rs->watch);
    uint64_t t0 = weir_now_ns();
    start_workers(&st, pl, opts, shared);
    wait_all(&st, &set);
    for (int i = 0; i < st.n; i++) {
        if (!st.slots[i].started)
            continue;
        pthread_join(st.slots[i].thread, NULL);
        pthread_mutex_destroy(&st.slots[i].lock);
        add_stats(&res->total, &st.slots[i].w.stats);
    }
    if (st.reload_pending) /* never applied: the workers ended first */
        weir_run_reload_forget(&st, st.prev_pl, st.prev_shared);
    if (st.prev_shared != st.cur_shared)
        free(st.prev_shared);
    unshare_sinks(st.cur_pl, st.cur_shared); /* every worker closed its sinks */
    free(st.plan);
    weir_pipeline_let_go(st.cur_pl);
    weir_pipeline_let_go(st.prev_pl);
    weir_file_watch_stop(&st.watch);
    if (st.comp) {
        struct weir_error e = {0};
        int crc = st.comp->finish(st.comp, &e);
        if (crc < 0)
            fail_once(&st, crc, &e);
    }
    take_pending(&st, &set);
    res->stopped_by_signal = st.signals > 0;
    res->seconds = (double)(weir_now_ns() - t0) / 1e9;
    res->workers = st.n;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    struct weir_http_usage hu;
    weir_http_stop_usage(http, &hu); /* after the workers: the last scrape sees their final figures */
    res->http_cpu_ns = hu.cpu_ns;
    res->http_requests = hu.requests;
    /* Nothing runs them, nor reads their names for /metrics, any more: the
     * HTTP thread reads the current version's until it is stopped. */
    for (size_t k = 0; k < st.nversions; k++)
        weir_pipeline_free(st.versions[k]);
    free(st.versions);
    free(st.slots);
    free(st.reg.workers);
    return st.rc;
}
