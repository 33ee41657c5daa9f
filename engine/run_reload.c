/* The run's reloads (SIGHUP, the file watch; see run.h): a new pipeline is
 * loaded, planned against the running one, checked off the workers' loops
 * when it brings a new source or sinks (reload_check.c), then sent to every
 * open worker, which applies it between batches (worker_reload.c). The
 * versions reloads leave are freed once nothing runs from them. The run's
 * main thread calls these from its wait loop (run.c). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/file_watch.h"
#include "engine/hangup.h"
#include "engine/log.h"
#include "engine/reload.h"
#include "engine/run_state.h"

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
void weir_run_reload_forget(struct run_state *st, const struct weir_pipeline *old,
                            void **old_shared)
{
    const struct weir_reload_plan *plan = st->plan;
    if (!old_shared || plan->kind != WEIR_RELOAD_SHAPE)
        return;
    for (size_t j = 0; j <= old->nsinks; j++) {
        int kept = 0;
        for (size_t k = 0; k <= st->cur_pl->nsinks; k++)
            kept |= plan->sink_from[k] == (int)j;
        if (!kept && old_shared[j])
            weir_run_stage_sink(old, j)->type->unshare(old_shared[j]);
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

void weir_run_reload_watch(struct run_state *st)
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
    weir_run_reload_forget(st, st->prev_pl, st->prev_shared);
    if (st->prev_shared != st->cur_shared)
        free(st->prev_shared);
    st->prev_shared = NULL;
    weir_pipeline_let_go(st->prev_pl); /* the workers hold what they still use of it */
    st->prev_pl = NULL;
    versions_sweep(st);
    weir_metric_add(&st->reg.reloads_ok, 1);
    weir_run_watch_follow(st, plan->watch);
    char list[512] = "";
    size_t o = 0;
    const struct weir_pipeline *pl = st->cur_pl;
    if (plan->kind == WEIR_RELOAD_OPTIONS) {
        for (int k = 0; k < 64 && o + 16 < sizeof list; k++)
            if ((plan->changed >> k) & 1)
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", o ? ", " : "",
                                      weir_pipeline_op_path(pl, (size_t)k, (char[48]){0}, 48));
        weir_log(WEIR_LOG_INFO,
                 "reload applied by every worker: %s made again from the new "
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
    weir_log(WEIR_LOG_INFO,
             "reload applied by every worker: %zu of %zu operators kept with their "
             "state (%s), new: %s; pipeline versions in memory: %zu; %zu of %zu sinks kept open; "
             "the source %s",
             kept_ops, pl->nops,
             plan->same_columns ? "same instances"
                                : "made again for the new "
                                  "columns",
             o ? list : "none", st->nversions + 1, kept_sinks, pl->nsinks + 1,
             plan->source_same   ? "went on"
             : plan->source_kept ? "went on with its new options"
                                 : "was stopped and the new one opened");
}

/* A sink of the running pipeline writes where ss will. */
static int written_by_running(const struct run_state *st, const struct weir_stage_sink *ss)
{
    for (size_t j = 0; ss->type->same_target && j <= st->cur_pl->nsinks; j++) {
        const struct weir_stage_sink *o = weir_run_stage_sink(st->cur_pl, j);
        if (o->type == ss->type && o->conf && ss->type->same_target(o->conf, ss->conf))
            return 1;
    }
    return 0;
}

/* New sinks are set up (and shared between workers) by the main thread
 * (at the start the first worker to open sets them up), but for a place a running sink writes (a
 * file sink with a new "when" goes on after what the run wrote: its setup truncated it); kept ones
 * keep what they share. */
static int reload_share(struct run_state *st, const struct weir_pipeline *next,
                        const struct weir_reload_plan *plan, void ***out, struct weir_error *err)
{
    *out = NULL;
    for (size_t k = 0; k <= next->nsinks; k++) {
        const struct weir_stage_sink *ss = weir_run_stage_sink(next, k);
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
        const struct weir_stage_sink *ss = weir_run_stage_sink(next, k);
        if (j >= 0) {
            shared[k] = st->cur_shared ? st->cur_shared[j] : NULL;
        } else if (ss->type->share && ss->type->share(ss->conf, &shared[k], err) < 0) {
            for (size_t i = 0; i < k; i++)
                if (plan->sink_from[i] < 0 && shared[i])
                    weir_run_stage_sink(next, i)->type->unshare(shared[i]);
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
        weir_log(WEIR_LOG_ERROR,
                 "%s: the new sinks cannot be set up: %s; the running pipeline "
                 "goes on unchanged",
                 why, e.msg);
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
void weir_run_reload_check_look(struct run_state *st)
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
    weir_run_watch_follow(st, file_watch);
}

/* Reads the file again and sends what it says to the workers (once its new
 * source, if any, passed its check); why: what asked (SIGHUP, the watch),
 * for the log. */
void weir_run_reload_request(struct run_state *st, const char *why)
{
    if (atomic_load(&st->stop_all)) { /* the workers take no reload while they stop */
        weir_log(WEIR_LOG_WARN, "%s: the run is stopping; the reload is ignored", why);
        return;
    }
    if (st->reload_pending || st->check) {
        weir_log(WEIR_LOG_WARN,
                 "%s: the last reload is still being %s; this one is "
                 "ignored (send SIGHUP again once it is done)",
                 why, st->check ? "checked" : "applied");
        return;
    }
    for (int i = 0; i < st->n; i++) {
        struct worker_slot *s = &st->slots[i];
        pthread_mutex_lock(&s->lock);
        int starting = s->started && !s->open && !atomic_load(&s->ready) && !atomic_load(&s->ended);
        pthread_mutex_unlock(&s->lock);
        if (starting) { /* it would start with the old pipeline */
            weir_log(WEIR_LOG_WARN,
                     "%s: workers are still starting; this one is ignored "
                     "(send SIGHUP again once the run is up)",
                     why);
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

void weir_run_hangup(struct run_state *st)
{
    weir_hangup_notify(); /* model versions and the like look again (engine/hangup.h) */
    if (!st->opts->reload) {
        weir_log(WEIR_LOG_WARN, "SIGHUP: reload is not supported here; the pipeline goes on "
                                "unchanged");
        return;
    }
    weir_run_reload_request(st, "SIGHUP");
}

/* The file watch follows the file: on with --watch or "reload": {"watch":
 * true} (file_watch), as the last reload read it. */
void weir_run_watch_follow(struct run_state *st, int file_watch)
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
