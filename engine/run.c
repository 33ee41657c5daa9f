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
#include "engine/file_watch.h"
#include "engine/hangup.h"
#include "engine/log.h"
#include "engine/reload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct worker_slot {
    struct weir_worker w;
    pthread_t thread;
    int started;
    int id;
    int nworkers;
    const struct weir_pipeline *pl;
    const struct weir_run_opts *opts;
    void *const *shared;         /* per sink, or NULL */
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
    int seen;                    /* main thread: its end was looked at */
    int rc;
    struct weir_error err;
};

/* Runs on the worker's thread before its loop sleeps: the main thread reads
 * this copy, never the worker's own counters, while the worker runs. */
static void publish_progress(struct weir_loop_hook *h)
{
    struct worker_slot *slot = (struct worker_slot *)((char *)h - offsetof(struct worker_slot, publish));
    atomic_store_explicit(&slot->records_in, slot->w.stats.records_in, memory_order_relaxed);
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
        slot->rc = weir_worker_run(w);
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

static int setup_sinks(const struct weir_pipeline *pl, struct weir_error *err)
{
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        if (st->type->setup && st->type->setup(st->conf, err) < 0)
            return err->code;
    }
    return 0;
}

static const struct weir_stage_sink *stage_sink(const struct weir_pipeline *pl, size_t k)
{
    return k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
}

static void unshare_sinks(const struct weir_pipeline *pl, void **shared)
{
    for (size_t k = 0; shared && k <= pl->nsinks; k++)
        if (shared[k])
            stage_sink(pl, k)->type->unshare(shared[k]);
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
        const struct weir_stage_sink *st = stage_sink(pl, k);
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

/* The main thread's view of the run. */
struct run_state {
    struct worker_slot *slots;
    int n;
    _Atomic int stop_all;
    uint64_t stop_at;      /* when the stop was asked for (ns), 0 before */
    struct weir_companion *comp;
    int signals;
    int rc;                /* the first failure */
    struct weir_error *err;
    struct weir_run_result *res;
    const struct weir_run_opts *opts;
    struct weir_metrics_registry reg; /* what /metrics and the progress line read */
    uint64_t progress_at;             /* when the last progress line was printed (ns) */
    uint64_t reload_gen;              /* the last reload sent to the workers */
    int reload_pending;               /* sent, not yet applied by every running worker */
    /* The pipeline the workers run (or are taking), with what its sinks
     * share; the one before it until the reload is applied. The run holds
     * both (weir_pipeline_hold). */
    const struct weir_pipeline *cur_pl, *prev_pl;
    void **cur_shared, **prev_shared;
    int reload_failed_said;        /* the failed reload was said (and counted) */
    struct weir_reload_plan *plan; /* the last reload sent */
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

/* ---- reload (SIGHUP, the file watch) ----------------------------------------- */

/* Every worker not yet done took the last reload: one whose run ended but
 * that is still closing (a Kafka consumer) uses its old sinks till done. */
static int reload_applied(struct run_state *st)
{
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        if (!s->started || atomic_load(&s->done))
            continue;
        if (__atomic_load_n(&s->w.reload_applied, __ATOMIC_ACQUIRE) != st->reload_gen)
            return 0;
    }
    return 1;
}

/* The first worker that failed under the last reload, or NULL. Its error
 * was set before its reload_failed was stored (release) and is not written
 * again: the acquire makes it readable here. */
static const struct weir_worker *reload_failed(struct run_state *st)
{
    for (int i = 0; i < st->n; i++)
        if (st->slots[i].started &&
            __atomic_load_n(&st->slots[i].w.reload_failed, __ATOMIC_ACQUIRE) == st->reload_gen)
            return &st->slots[i].w;
    return NULL;
}

/* What old's sinks shared and the new pipeline no longer has. */
static void reload_forget(struct run_state *st, const struct weir_pipeline *old, void **old_shared)
{
    const struct weir_reload_plan *plan = st->plan;
    if (!old_shared || plan->kind != WEIR_RELOAD_SHAPE)
        return;
    for (size_t j = 0; j <= old->nsinks; j++) {
        int kept = 0;
        for (size_t k = 0; k <= st->cur_pl->nsinks; k++)
            kept |= plan->sink_from[k] == (int)j;
        if (!kept && old_shared[j])
            stage_sink(old, j)->type->unshare(old_shared[j]);
    }
}

/* Frees the versions nothing holds any more (the metrics readers hold
 * pl_mu while they read the current one's names). */
static void versions_sweep(struct run_state *st)
{
    for (size_t k = 0; k < st->nversions;) {
        struct weir_pipeline *v = st->versions[k];
        if (v == st->cur_pl || v == st->prev_pl || weir_pipeline_users(v) > 0) {
            k++;
            continue;
        }
        weir_metrics_pipeline_lock();
        weir_pipeline_free(v);
        weir_metrics_pipeline_unlock();
        st->versions[k] = st->versions[--st->nversions];
    }
    weir_metric_set(&st->reg.pipeline_versions, st->nversions + 1);
}

static void watch_follow(struct run_state *st, int file_watch);

static void reload_watch(struct run_state *st)
{
    /* Not while a reload is under way: what removed sinks shared (made from
     * the version they came from) is unshared once it is applied. */
    if (st->nversions && !st->reload_pending)
        versions_sweep(st);
    if (!st->reload_pending || !reload_applied(st))
        return;
    const struct weir_worker *failed = reload_failed(st);
    if (failed) {
        /* A failed worker keeps its old sinks until it ends: what they share
         * goes once the workers are joined (reload_pending stays), not here. */
        if (!st->reload_failed_said) {
            st->reload_failed_said = 1;
            weir_metric_add(&st->reg.reloads_failed, 1);
            weir_log(WEIR_LOG_ERROR,
                     "reload: not applied: a worker failed while it was under "
                     "way (%s); the run stops",
                     failed->err.msg[0] ? failed->err.msg : "no cause given");
        }
        return;
    }
    st->reload_pending = 0;
    const struct weir_reload_plan *plan = st->plan;
    reload_forget(st, st->prev_pl, st->prev_shared);
    if (st->prev_shared != st->cur_shared)
        free(st->prev_shared);
    st->prev_shared = NULL;
    weir_pipeline_let_go(st->prev_pl); /* the workers hold what they still use of it */
    st->prev_pl = NULL;
    versions_sweep(st);
    weir_metric_add(&st->reg.reloads_ok, 1);
    watch_follow(st, plan->watch);
    char list[512] = "";
    size_t o = 0;
    const struct weir_pipeline *pl = st->cur_pl;
    if (plan->kind == WEIR_RELOAD_OPTIONS) {
        for (int k = 0; k < 64 && o + 16 < sizeof list; k++)
            if ((plan->changed >> k) & 1)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                      weir_pipeline_op_path(pl, (size_t)k, (char[48]){0}, 48));
        weir_log(WEIR_LOG_INFO, "reload applied by every worker: %s made again from the new "
                 "file (keyed state kept where its layout is unchanged); the source, the sinks and "
                 "the other operators (with their state) went on; pipeline versions in memory: %zu",
                 list, st->nversions + 1);
        return;
    }
    size_t kept_ops = 0, kept_sinks = 0;
    for (size_t k = 0; k < pl->nops; k++) {
        kept_ops += plan->op_from[k] >= 0;
        if (plan->op_from[k] < 0 && o + 48 < sizeof list)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s (%s)", o ? ", " : "",
                                  weir_pipeline_op_path(pl, k, (char[48]){0}, 48),
                                  pl->ops[k].type->name);
    }
    for (size_t k = 0; k <= pl->nsinks; k++)
        kept_sinks += plan->sink_from[k] >= 0;
    weir_log(WEIR_LOG_INFO, "reload applied by every worker: %zu of %zu operators kept with their "
             "state (%s), new: %s; pipeline versions in memory: %zu; %zu of %zu sinks kept open; "
             "the source %s",
             kept_ops, pl->nops, plan->same_columns ? "same instances" : "made again for the new "
             "columns", o ? list : "none", st->nversions + 1, kept_sinks, pl->nsinks + 1,
             plan->source_same   ? "went on"
             : plan->source_kept ? "went on with its new options"
                                 : "was stopped and the new one opened");
}

/* A sink of the running pipeline writes where ss will. */
static int written_by_running(const struct run_state *st, const struct weir_stage_sink *ss)
{
    for (size_t j = 0; ss->type->same_target && j <= st->cur_pl->nsinks; j++) {
        const struct weir_stage_sink *o = stage_sink(st->cur_pl, j);
        if (o->type == ss->type && o->conf && ss->type->same_target(o->conf, ss->conf))
            return 1;
    }
    return 0;
}

/* New sinks are set up (and shared between workers) by the main thread, as
 * at the start, but for a place a running sink writes (a file sink with a
 * new "when" goes on after what the run wrote: its setup truncated it);
 * kept ones keep what they share. */
static int reload_share(struct run_state *st, const struct weir_pipeline *next,
                        const struct weir_reload_plan *plan, void ***out, struct weir_error *err)
{
    *out = NULL;
    for (size_t k = 0; k <= next->nsinks; k++) {
        const struct weir_stage_sink *ss = stage_sink(next, k);
        if (plan->sink_from[k] < 0 && ss->type->setup && !written_by_running(st, ss) &&
            ss->type->setup(ss->conf, err) < 0)
            return err->code;
    }
    if (st->n < 2)
        return 0;
    void **shared = calloc(next->nsinks + 1, sizeof *shared);
    if (!shared)
        return weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k <= next->nsinks; k++) {
        int j = plan->sink_from[k];
        const struct weir_stage_sink *ss = stage_sink(next, k);
        if (j >= 0) {
            shared[k] = st->cur_shared ? st->cur_shared[j] : NULL;
        } else if (ss->type->share && ss->type->share(ss->conf, &shared[k], err) < 0) {
            for (size_t i = 0; i < k; i++)
                if (plan->sink_from[i] < 0 && shared[i])
                    stage_sink(next, i)->type->unshare(shared[i]);
            free(shared);
            return err->code;
        }
    }
    *out = shared;
    return 0;
}

/* Has every worker take next (the run's version, kept by plan). */
static void reload_send(struct run_state *st, const struct weir_pipeline *next,
                        struct weir_reload_plan *plan, const char *why)
{
    void **shared = NULL;
    struct weir_error e = {0};
    if (plan->kind == WEIR_RELOAD_SHAPE && reload_share(st, next, plan, &shared, &e) < 0) {
        weir_log(WEIR_LOG_ERROR, "%s: the new sinks cannot be set up: %s; the running pipeline "
                 "goes on unchanged", why, e.msg);
        weir_metric_add(&st->reg.reloads_failed, 1);
        free(plan);
        return;
    }
    if (plan->kind != WEIR_RELOAD_SHAPE)
        shared = st->cur_shared;
    free(st->plan); /* the last one: applied by every worker (reload_pending is 0) */
    st->plan = plan;
    weir_pipeline_hold(next);
    st->prev_pl = st->cur_pl;
    st->prev_shared = st->cur_shared;
    st->cur_pl = next;
    st->cur_shared = shared;
    __atomic_store_n(&st->reg.pl, next, __ATOMIC_RELEASE);
    st->reload_gen++;
    st->reload_pending = 1;
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        pthread_mutex_lock(&s->lock);
        if (s->open)
            weir_worker_request_reload(&s->w, next, plan, shared, st->reload_gen);
        pthread_mutex_unlock(&s->lock);
    }
}

/* The new source's check (reload_request), once it is through: the reload
 * goes to the workers (which ran the old pipeline all along), or is dropped
 * with the reason, or because the run is stopping. */
static void reload_check_look(struct run_state *st)
{
    struct weir_reload_checked r;
    struct weir_error e = {0};
    int rc = st->check ? weir_reload_check_done(st->check, 0, &r, &e) : 1;
    if (rc == 1)
        return;
    st->check = NULL;
    if (rc == 0 && !atomic_load(&st->stop_all)) {
        reload_send(st, r.next, r.plan, r.why);
    } else {
        if (rc < 0) {
            weir_metric_add(&st->reg.reloads_failed, 1);
            weir_log(WEIR_LOG_ERROR, "%s: reload: %s; the running pipeline goes on unchanged",
                     r.why, e.msg);
        }
        free(r.plan);
    }
    weir_pipeline_let_go(r.next); /* the run's version: freed once nothing holds it */
}

/* A valid file with nothing for the workers: reload.watch, the run's own,
 * is all that may have changed. */
static void reload_none(struct run_state *st, int file_watch)
{
    const char *file = st->opts->watch_file ? st->opts->watch_file : "the pipeline file";
    if (file_watch == st->file_watch) {
        weir_log(WEIR_LOG_INFO, "reload: %s: nothing the run uses changed; nothing to do", file);
        return;
    }
    weir_log(WEIR_LOG_INFO, "reload: %s: only reload.watch changed%s", file,
             st->opts->watch ? " (--watch keeps the watch on)" : "");
    watch_follow(st, file_watch);
}

/* Reads the file again and sends what it says to the workers (once its new
 * source, if any, passed its check); why: what asked (SIGHUP, the watch),
 * for the log. */
static void reload_request(struct run_state *st, const char *why)
{
    if (atomic_load(&st->stop_all)) { /* the workers take no reload while they stop */
        weir_log(WEIR_LOG_WARN, "%s: the run is stopping; the reload is ignored", why);
        return;
    }
    if (st->reload_pending || st->check) {
        weir_log(WEIR_LOG_WARN, "%s: the last reload is still being %s; this one is "
                 "ignored (send SIGHUP again once it is done)", why,
                 st->check ? "checked" : "applied");
        return;
    }
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        pthread_mutex_lock(&s->lock);
        int starting = s->started && !s->open && !atomic_load(&s->ready) && !atomic_load(&s->ended);
        pthread_mutex_unlock(&s->lock);
        if (starting) { /* it would start with the old pipeline */
            weir_log(WEIR_LOG_WARN, "%s: workers are still starting; this one is ignored "
                     "(send SIGHUP again once the run is up)", why);
            return;
        }
    }
    if (st->nversions == st->versions_cap) {
        size_t cap = st->versions_cap ? 2 * st->versions_cap : 8;
        struct weir_pipeline **v = realloc(st->versions, cap * sizeof *v);
        if (!v) {
            weir_metric_add(&st->reg.reloads_failed, 1);
            weir_log(WEIR_LOG_ERROR, "%s: out of memory; the running pipeline goes on", why);
            return;
        }
        st->versions = v;
        st->versions_cap = cap;
    }
    struct weir_reload_plan *plan = calloc(1, sizeof *plan);
    const struct weir_pipeline *next = NULL;
    int r = plan ? st->opts->reload(st->opts->reload_ctx, st->cur_pl, &next, plan) : -1;
    if (r != 1 || !next) {
        if (r < 0)
            weir_metric_add(&st->reg.reloads_failed, 1);
        else if (r == 0 && plan)
            reload_none(st, plan->watch);
        free(plan);
        return;
    }
    st->versions[st->nversions++] = (struct weir_pipeline *)next; /* the run's now (run.h) */
    weir_metric_set(&st->reg.pipeline_versions, st->nversions + 1);
    struct weir_error e = {0};
    if (weir_reload_check_start(next, plan, why, &st->check, &e) < 0) {
        weir_log(WEIR_LOG_ERROR, "%s: %s; the running pipeline goes on unchanged", why, e.msg);
        weir_metric_add(&st->reg.reloads_failed, 1);
        free(plan);
    } else if (!st->check) {
        reload_send(st, next, plan, why);
    } /* else the check holds them: reload_check_look */
}

static void hangup(struct run_state *st)
{
    weir_hangup_notify(); /* model versions and the like look again (engine/hangup.h) */
    if (!st->opts->reload) {
        weir_log(WEIR_LOG_WARN, "SIGHUP: reload is not supported here; the pipeline goes on "
                 "unchanged");
        return;
    }
    reload_request(st, "SIGHUP");
}

/* The file watch follows the file: on with --watch or "reload": {"watch":
 * true} (file_watch), as the last reload read it. */
static void watch_follow(struct run_state *st, int file_watch)
{
    st->file_watch = file_watch;
    if (!st->opts->watch_file || !st->opts->reload)
        return;
    int want = st->opts->watch || file_watch;
    if (want && st->watch.fd < 0) {
        weir_file_watch_start(&st->watch, st->opts->watch_file);
    } else if (!want && st->watch.fd >= 0) {
        weir_file_watch_stop(&st->watch);
        weir_log(WEIR_LOG_INFO, "watch: stopped (\"reload\": {\"watch\": false}); reload with "
                 "SIGHUP");
    }
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
            hangup(st);
        if (!atomic_load(&st->stop_all) &&
            weir_file_watch_due(&st->watch, st->reload_pending || st->check != NULL))
            reload_request(st, "watch");
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
        reload_check_look(st);
        reload_watch(st);
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
    int rc = setup_sinks(pl, err);
    if (rc < 0)
        return rc;
    struct run_state st = {.comp = opts->companion, .err = err, .res = res, .opts = opts,
                           .cur_pl = pl, .watch = WEIR_FILE_WATCH_OFF};
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
        weir_log(WEIR_LOG_INFO, "http: listening on %s:%d\n", opts->http->addr, weir_http_port(http));
    }
    st.cur_shared = shared;
    weir_pipeline_hold(pl); /* as cur_pl; reloads' versions are freed at 0 users */
    const struct weir_reload_section *rs = weir_pipeline_section(pl, "reload");
    watch_follow(&st, rs && rs->watch);
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
        reload_forget(&st, st.prev_pl, st.prev_shared);
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
