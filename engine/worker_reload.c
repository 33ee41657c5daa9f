/* Reloading a running worker (worker.h: weir_worker_request_reload;
 * engine/reload.h says what a new file changes). The request crosses threads
 * through atomics and the worker's eventfd; the work happens on the worker's
 * own thread, between batches.
 *   OPTIONS: once the operators hold nothing (a quiesce), each changed
 *   operator is destroyed and made again from its new options, taking over
 *   its keyed state when that means the same (its layout).
 *   SHAPE: the source pauses (a changed source stops), the operators hand on
 *   what they hold, and every output in flight is acknowledged, so every
 *   input read so far is committed. Then the pipeline is rebuilt: kept
 *   operators keep their instance (same columns) or at least their keyed
 *   state (made again from the new file, the state moved over when its layout
 *   matches); kept sinks keep their open writer; the batch pool takes the new
 *   columns; a changed source is stopped (and detached) and the new one
 *   opened; removed sinks are closed, or detached and closed once quiet when
 *   their type lets go off the loop (a Kafka producer's destroy). Then the
 *   source resumes. */
#include "engine/opstate.h"
#include "engine/reload.h"
#include "engine/worker_internal.h"
#include "engine/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RELOAD_TICK_NS (20ull * 1000000ull)

void weir_worker_request_reload(struct weir_worker *w, const struct weir_pipeline *next,
                                const struct weir_reload_plan *plan, void *const *shared,
                                uint64_t gen)
{
    __atomic_store_n(&w->reload_req_plan, plan, __ATOMIC_RELAXED);
    __atomic_store_n(&w->reload_req_shared, shared, __ATOMIC_RELAXED);
    __atomic_store_n(&w->reload_req_gen, gen, __ATOMIC_RELAXED);
    __atomic_store_n(&w->reload_req, next, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof one) < 0) {
        /* saturated: a wake-up is pending already, and it reads reload_req */
    }
}

static void op_drop(struct weir_worker *w, struct weir_op *op)
{
    if (op->busy) { /* what engine_busy(op, 0) would do */
        op->busy = 0;
        w->busy_ops--;
    }
    if (op->type && op->type->destroy)
        op->type->destroy(op);
    weir_op_state_free(op);
    weir_worker_let_go_later(w, op->from);
    memset(op, 0, sizeof *op);
}

/* ---- what a worker holds of each pipeline version (worker_internal.h) --------- */

struct weir_source *weir_worker_source_new(const struct weir_pipeline *pl)
{
    struct weir_source_slot *slot = calloc(1, sizeof *slot);
    if (slot)
        weir_worker_source_from(&slot->s, pl);
    return slot ? &slot->s : NULL;
}

void weir_worker_source_from(struct weir_source *s, const struct weir_pipeline *pl)
{
    struct weir_source_slot *slot = (struct weir_source_slot *)s;
    weir_pipeline_hold(pl);
    weir_pipeline_let_go(slot->from);
    slot->from = pl;
}

void weir_worker_source_free(struct weir_source *s)
{
    struct weir_source_slot *slot = (struct weir_source_slot *)s;
    if (!slot)
        return;
    weir_pipeline_let_go(slot->from);
    weir_pipeline_let_go(slot->conf_from);
    free(slot);
}

/* The running source takes next's options (its type's keeps() said it can);
 * the version it was opened from stays held (its name may point there). */
static void source_options_from(struct weir_worker *w, const struct weir_pipeline *next)
{
    struct weir_source_slot *slot = (struct weir_source_slot *)w->source;
    w->source->conf = next->source_conf;
    weir_pipeline_hold(next);
    weir_worker_let_go_later(w, slot->conf_from);
    slot->conf_from = next;
}

static int list_push(const struct weir_pipeline ***v, size_t *n, size_t *cap,
                     const struct weir_pipeline *pl)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        const struct weir_pipeline **nv = realloc(*v, c * sizeof *nv);
        if (!nv)
            return -1;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = pl;
    return 0;
}

void weir_worker_let_go_later(struct weir_worker *w, const struct weir_pipeline *pl)
{
    if (pl && list_push(&w->let_go, &w->nlet_go, &w->let_go_cap, pl) < 0) {
        /* held until the run ends: it frees every version then */
    }
}

/* A grace period, as in RCU: versions dropped during epoch E are let go of
 * once every batch routed up to E is acknowledged. Two epochs are counted
 * at a time: the next one starts once the one before E has drained. */
void weir_worker_let_go_step(struct weir_worker *w)
{
    if (w->nlet_go_wait && w->routes_out[w->wait_epoch & 1] == 0) {
        for (size_t k = 0; k < w->nlet_go_wait; k++)
            weir_pipeline_let_go(w->let_go_wait[k]);
        w->nlet_go_wait = 0;
    }
    if (w->nlet_go_wait || !w->nlet_go || w->routes_out[(w->route_epoch + 1) & 1] != 0)
        return;
    const struct weir_pipeline **v = w->let_go_wait;
    size_t cap = w->let_go_wait_cap;
    w->let_go_wait = w->let_go;
    w->let_go_wait_cap = w->let_go_cap;
    w->nlet_go_wait = w->nlet_go;
    w->let_go = v;
    w->let_go_cap = cap;
    w->nlet_go = 0;
    w->wait_epoch = w->route_epoch++; /* routes from now on count in the other slot */
    if (w->routes_out[w->wait_epoch & 1] == 0)
        weir_worker_let_go_step(w); /* nothing routed in it is out */
}

void weir_worker_let_go_end(struct weir_worker *w)
{
    for (size_t k = 0; k < w->nlet_go; k++)
        weir_pipeline_let_go(w->let_go[k]);
    for (size_t k = 0; k < w->nlet_go_wait; k++)
        weir_pipeline_let_go(w->let_go_wait[k]);
    w->nlet_go = w->nlet_go_wait = 0;
    free(w->let_go);
    free(w->let_go_wait);
    w->let_go = w->let_go_wait = NULL;
}

/* The worker runs next from now on. */
static void run_version(struct weir_worker *w, const struct weir_pipeline *next)
{
    if (w->pl == next)
        return;
    weir_pipeline_hold(next);
    weir_worker_let_go_later(w, w->pl);
    w->pl = next;
}

static void op_partitions(struct weir_worker *w, struct weir_op *op)
{
    for (uint32_t p = 0; p < w->nparts && op->type->partition; p++)
        if (w->parts[p].assigned)
            op->type->partition(op, p, 1);
}

static void applied(struct weir_worker *w)
{
    w->reloading = 0;
    w->reload_phase = PHASE_NONE;
    w->stateful = 0;
    for (size_t k = 0; k < w->nops; k++)
        w->stateful |= w->ops[k].keyed != NULL;
    __atomic_store_n(&w->reload_applied, w->reload_gen, __ATOMIC_RELEASE);
}

/* The keyed state of old moves to op when it means the same (layout), and
 * takes op's bounds (a smaller max_keys evicts now). Out of memory for that:
 * op starts afresh. Returns 1 when the state moved. */
static int keyed_move(struct weir_op *op, struct weir_op *old)
{
    struct weir_op_state *a = op->keyed, *b = old->keyed;
    if (!a || !b || a->layout != b->layout || a->conf.value_size != b->conf.value_size)
        return 0;
    for (uint32_t p = 0; p < b->nparts; p++)
        if (b->parts[p] && weir_state_rebound(b->parts[p], &a->conf) < 0)
            return 0;
    for (uint32_t p = 0; p < a->nparts; p++)
        weir_state_free(a->parts[p]);
    free(a->parts);
    a->parts = b->parts;
    a->nparts = b->nparts;
    a->last = NULL;
    /* the same stores under the same bounds: said already */
    a->full_said = a->conf.max_keys == b->conf.max_keys && a->conf.max_bytes == b->conf.max_bytes &&
                   b->full_said;
    b->parts = NULL;
    b->nparts = 0;
    return 1;
}

/* ---- OPTIONS: operators swapped between batches ----------------------------- */

/* The same columns on both sides: the same index is the same field. */
static int same_by(const struct weir_op *op, const struct weir_op *old)
{
    return op->keyed && old->keyed && op->keyed->by_col == old->keyed->by_col;
}

/* Quiesced: nothing is held, no batch is between operators. Operator k is
 * made again from next's options. Its keyed state goes on when it means the
 * same (layout), as a restart would restore it: a changed threshold does not
 * send every key back to its warm-up. */
static void reload_swap(struct weir_worker *w, void *ctx)
{
    weir_worker_state_evictions(w); /* counted before the changed operators' stores go */
    for (size_t k = 0; k < w->nops && !w->failed; k++) {
        if (!((w->reload_plan->changed >> k) & 1))
            continue;
        struct weir_error e = {0};
        /* Destroyed where it stands (a type's state may point at it); no
         * destroy reads the keyed state, which waits aside for the new one. */
        struct weir_op old = {.keyed = w->ops[k].keyed};
        w->ops[k].keyed = NULL;
        op_drop(w, &w->ops[k]);
        int rc = weir_worker_op_init(w, &w->ops[k], w->reload_pl, k, &e);
        if (rc == 0) {
            weir_worker_keyed_marks(w, &w->ops[k]);
            if (same_by(&w->ops[k], &old)) /* keyed by another field: other keys */
                keyed_move(&w->ops[k], &old);
        }
        weir_op_state_free(&old);
        if (rc < 0) {
            weir_error_prefix(&e, "reload");
            weir_worker_fail(w, &e);
            break;
        }
        op_partitions(w, &w->ops[k]);
    }
    if (w->failed)
        __atomic_store_n(&w->reload_failed, w->reload_gen, __ATOMIC_RELEASE);
    run_version(w, w->reload_pl); /* the same stages: only the changed operators' options differ */
    applied(w);
}

/* ---- SHAPE: drained, then rebuilt --------------------------------------------- */

/* Readers on other threads load these words as they are stored: word by
 * word (metrics.h). from NULL: zero. */
static void op_metrics_store(struct weir_op_metrics *to, const struct weir_op_metrics *from)
{
    uint64_t *d = (uint64_t *)to;
    const uint64_t *s = (const uint64_t *)from;
    for (size_t i = 0; i < sizeof *to / sizeof *d; i++)
        weir_metric_set(&d[i], s ? s[i] : 0);
}

static int rebuild_ops(struct weir_worker *w, const struct weir_pipeline *next,
                       const struct weir_reload_plan *plan, struct weir_error *err)
{
    size_t nold = w->nops, nnew = next->nops;
    if (nnew > w->opcap)
        return weir_error_set(err, -E2BIG, "reload: %zu operators, room for %zu", nnew, w->opcap);
    struct weir_op *old = malloc((nold ? nold : 1) * sizeof *old);
    struct weir_op_metrics *om = malloc(WEIR_METRICS_OPS * sizeof *om);
    if (!old || !om) {
        free(old);
        free(om);
        return weir_error_set(err, -ENOMEM, "out of memory");
    }
    weir_worker_state_evictions(w); /* counted before the old operators go */
    memcpy(old, w->ops, nold * sizeof *old);
    memcpy(om, w->m->op, WEIR_METRICS_OPS * sizeof *om);
    uint64_t kept = 0, matched = 0; /* old instances that live on as they are; taken */
    for (size_t k = 0; k < nnew; k++) {
        int j = plan->op_from[k];
        if (j >= 0 && plan->same_columns && !((plan->relineaged >> k) & 1))
            kept |= 1ull << j;
        if (j >= 0)
            matched |= 1ull << j;
    }
    for (size_t j = 0; j < nold; j++)
        w->ops[j] = (struct weir_op){0};
    int rc = 0;
    for (size_t k = 0; k < nnew; k++) {
        int j = plan->op_from[k];
        struct weir_op *op = &w->ops[k];
        if (j >= 0 && ((kept >> j) & 1)) {
            *op = old[j];
            op->index = (int)k;
        } else if (rc == 0 && (rc = weir_worker_op_init(w, op, next, k, err)) == 0) {
            weir_worker_keyed_marks(w, op);
            if (j >= 0)
                keyed_move(op, &old[j]);
            else if (k < nold && !((matched >> k) & 1) && keyed_move(op, &old[k]))
                j = (int)k; /* an option changed in place: state (same layout) and figures go on */
            op_partitions(w, op);
        }
        if (k < WEIR_METRICS_OPS) /* its figures follow it; a new one starts at zero */
            op_metrics_store(&w->m->op[k], j >= 0 && j < WEIR_METRICS_OPS ? &om[j] : NULL);
    }
    for (size_t k = nnew; k < nold && k < WEIR_METRICS_OPS; k++)
        op_metrics_store(&w->m->op[k], NULL);
    for (size_t j = 0; j < nold; j++)
        if (!((kept >> j) & 1))
            op_drop(w, &old[j]);
    w->nops = nnew;
    free(old);
    free(om);
    return rc;
}

static int rebuild_sinks(struct weir_worker *w, const struct weir_pipeline *next,
                         const struct weir_reload_plan *plan, struct weir_error *err)
{
    size_t nnew = next->nsinks + 1, nold = w->nsinks;
    struct weir_sink **v = calloc(nnew, sizeof *v);
    if (!v)
        return weir_error_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    for (size_t k = 0; k < nnew; k++) {
        int j = plan->sink_from[k];
        if (j < 0)
            continue;
        /* The same configuration: the open writer goes on. What depends on
         * the columns (the projection, the condition) comes from the new file. */
        struct weir_sink *s = v[k] = w->sinks[j];
        w->sinks[j] = NULL;
        const struct weir_stage_sink *st = k < next->nsinks ? &next->sinks[k] : &next->dead;
        /* held while the sink reads it: nothing else may (an options-only
         * reload after this one lets the workers and the run go of it) */
        struct weir_sink_slot *slot = (struct weir_sink_slot *)s;
        weir_pipeline_hold(next);
        weir_worker_let_go_later(w, slot->output_from);
        slot->output_from = next;
        s->output = &st->output;
        s->destination_shared = weir_worker_sink_destination_shared(next, k); /* one added */
        weir_expr_run_free(&s->when_run);
        s->when = k < next->nsinks ? st->when : WEIR_WHEN_DEAD;
        if (s->when == WEIR_WHEN_EXPR)
            weir_expr_run_init(&s->when_run, st->when_expr);
    }
    struct weir_sink **old = w->sinks;
    w->sinks = v;
    w->nsinks = nnew;
    for (size_t k = 0; k < nnew && rc == 0; k++) {
        if (v[k])
            continue;
        void *shared = w->reload_shared ? w->reload_shared[k] : NULL;
        if ((rc = weir_worker_sink_open(w, next, k, shared, plan->sink_checked[k], &v[k],
                                        err)) < 0)
            weir_error_prefix(err, "reload: %s", k < next->nsinks ? "sinks" : "dead_letter");
    }
    /* The removed ones close after the new ones opened (nothing of them is
     * in flight any more): under exactly-once, new Kafka sinks join the
     * worker's transactional producer that the removed ones kept alive, the
     * one the source drives, instead of a new one whose init_transactions
     * waited for the brokers on this loop, while the source still pointed at
     * the freed one when every Kafka sink was replaced. Those whose type
     * lets go off the loop (detach) wait on the worker's list, detached once
     * the source is rebuilt too (sinks_retire): a replaced exactly-once
     * source still ends with the producer they hold. */
    for (size_t j = 0; j < nold; j++) {
        if (old[j] && old[j]->type->detach && rc == 0) {
            old[j]->retired_next = w->retired_sinks;
            w->retired_sinks = old[j];
            old[j]->detached = 0;
        } else {
            weir_worker_sink_close(old[j]);
        }
    }
    free(old);
    if (rc < 0) { /* the worker fails: with no sinks at all, nothing writes half-built ones */
        for (size_t k = 0; k < nnew; k++)
            weir_worker_sink_close(v[k]);
        w->nsinks = 0;
    }
    return rc;
}

/* The new columns need batches of their shape. The old pool lives on until
 * its batches are back (a source may hold one it is filling). */
static int rebuild_pool(struct weir_worker *w, const struct weir_pipeline *next,
                        struct weir_error *err)
{
    size_t n = sizeof w->retired_pools / sizeof w->retired_pools[0], slot = n;
    for (size_t k = 0; k < n; k++) {
        struct weir_batch_pool *p = w->retired_pools[k];
        if (p && weir_batch_pool_outstanding(p) == 0) {
            weir_batch_pool_free(p);
            w->retired_pools[k] = p = NULL;
        }
        if (!p && slot == n)
            slot = k;
    }
    if (slot == n)
        return weir_error_set(err, -EBUSY, "reload: batches of %zu earlier shapes still out", n);
    struct weir_batch_pool *pool;
    int rc = weir_batch_pool_new(&pool, next->max_records, next->schema.nfeat, next->schema.nstr);
    if (rc < 0)
        return weir_error_set(err, rc, "out of memory");
    w->retired_pools[slot] = w->pool;
    w->pool = pool;
    return 0;
}

/* The old source is detached (it lets go of what others see now: a Kafka
 * consumer leaves its group) and waits on the worker's list of replaced ones
 * until nothing of it is left on the loop (weir_worker_sources_reap). The
 * new one opens knowing it (prev), so that it can go on where it stopped. */
static int rebuild_source(struct weir_worker *w, const struct weir_pipeline *next,
                          struct weir_error *err)
{
    struct weir_source *old = w->source, *s = weir_worker_source_new(next);
    if (!s)
        return weir_error_set(err, -ENOMEM, "out of memory");
    if (old->type->detach)
        old->type->detach(old);
    old->retired_next = w->retired;
    w->retired = old;
    *s = (struct weir_source){.type = next->source_type, .conf = next->source_conf, .worker = w};
    w->source = s;
    w->paused = 0;
    if (w->source_finished && !w->stop_requested && !w->failed)
        weir_log(WEIR_LOG_WARN,
                 "reload: worker %d's source had come to its end: the run ends as "
                 "it would have, the new source is not read (restart to read it)",
                 w->id);
    if (w->stop_requested || w->failed || w->source_finished) {
        /* ended: opened now, it was closed partway once the worker drained */
        w->source_finished = 1;
        return 0;
    }
    s->prev = old;
    int rc = s->type->open(s, err);
    s->prev = NULL;
    if (rc < 0)
        weir_error_prefix(err, "reload: source");
    return rc;
}

/* The removed sinks the rebuild put on the list let go now, off the loop. */
static void sinks_retire(struct weir_worker *w)
{
    for (struct weir_sink *s = w->retired_sinks; s; s = s->retired_next)
        if (!s->detached) {
            s->detached = 1;
            s->type->detach(s);
        }
}

void weir_worker_sinks_reap(struct weir_worker *w, int all)
{
    struct weir_sink **at = &w->retired_sinks;
    while (*at) {
        struct weir_sink *s = *at;
        if (!all && (!s->detached || (s->type->quiet && !s->type->quiet(s)))) {
            at = &s->retired_next;
            continue;
        }
        *at = s->retired_next;
        weir_worker_sink_close(s);
    }
}

void weir_worker_sources_reap(struct weir_worker *w, int all)
{
    struct weir_source **at = &w->retired;
    while (*at) {
        struct weir_source *s = *at;
        if (!all && (!s->type->quiet || !s->type->quiet(s))) {
            at = &s->retired_next;
            continue;
        }
        *at = s->retired_next;
        if (s->type->close)
            s->type->close(s);
        weir_worker_source_free(s);
    }
}

static void rebuild(struct weir_worker *w)
{
    const struct weir_pipeline *next = w->reload_pl;
    const struct weir_reload_plan *plan = w->reload_plan;
    struct weir_error e = {0};
    int rc = 0;
    if (!plan->same_columns || next->max_records != w->pl->max_records)
        rc = rebuild_pool(w, next, &e);
    if (rc == 0)
        rc = rebuild_ops(w, next, plan, &e);
    /* Before the sinks open: a new one reads the pipeline it runs in (a
     * Kafka sink takes the source's brokers, as its precheck() did). */
    run_version(w, next);
    if (rc == 0)
        rc = rebuild_sinks(w, next, plan, &e);
    int source_changed = !plan->source_same && !plan->source_kept && w->has_source;
    if (plan->source_kept && w->has_source)
        source_options_from(w, next); /* its type said it takes the new options as it runs */
    if (rc == 0 && source_changed)
        rc = rebuild_source(w, next, &e);
    sinks_retire(w);
    if (rc < 0) {
        weir_worker_fail(w, &e); /* its error first: the run thread reads it (run.c) */
        __atomic_store_n(&w->reload_failed, w->reload_gen, __ATOMIC_RELEASE);
        if (source_changed)
            w->source_finished = 1;
    }
    applied(w);
}

static void on_reload_tick(struct weir_event *ev, int res)
{
    struct weir_worker *w =
        (struct weir_worker *)((char *)ev - offsetof(struct weir_worker, reload_tick));
    w->reload_tick_armed = 0; /* the loop's next turn looks again */
}

static void tick(struct weir_worker *w)
{
    if (w->reload_tick_armed)
        return;
    w->reload_tick.done = on_reload_tick;
    w->reload_tick_armed = weir_loop_timer(w->loop, RELOAD_TICK_NS, &w->reload_tick) == 0;
}

static void shape_quiesced(struct weir_worker *w, void *ctx)
{
    if (w->reload_phase == PHASE_QUIESCE)
        w->reload_phase = PHASE_DRAIN;
}

int weir_worker_reload_source_stopped(struct weir_worker *w)
{
    if (w->reload_phase != PHASE_SOURCE_STOP || w->stop_requested || w->failed)
        return 0;
    w->reload_phase = PHASE_QUIESCE;
    w->reload_q = (struct weir_quiesce){.done = shape_quiesced, .why = WEIR_FLUSH_COMMIT};
    weir_worker_quiesce(w, &w->reload_q);
    return 1;
}

void weir_worker_reload_step(struct weir_worker *w)
{
    if (w->failed) { /* the run ends: nothing to rebuild for */
        __atomic_store_n(&w->reload_failed, w->reload_gen, __ATOMIC_RELEASE);
        applied(w);
        return;
    }
    if (w->reload_phase == PHASE_SOURCE_STOP && (w->stop_requested || w->source_finished))
        weir_worker_reload_source_stopped(w); /* stopped for good, or had ended: rebuild anyway */
    if (w->reload_phase != PHASE_DRAIN) {
        tick(w);
        return;
    }
    if (weir_worker_holding(w)) { /* a batch dispatched after the quiesce: once more */
        w->reload_phase = PHASE_QUIESCE;
        weir_worker_quiesce(w, &w->reload_q);
        tick(w);
        return;
    }
    if (w->inflight > 0) {
        tick(w);
        return;
    }
    rebuild(w);
}

void weir_worker_dispatch_reshaped(struct weir_worker *w, struct weir_batch *b,
                                   struct weir_ticket *t)
{
    uint32_t i = 0;
    while (i < b->n && !w->failed) {
        struct weir_batch *nb = weir_batch_get(w->pool);
        if (!nb)
            goto oom;
        for (; i < b->n && nb->n < nb->cap; i++) {
            struct weir_record *r = &nb->rec[weir_batch_push(nb)];
            *r = b->rec[i];
            /* the bytes may live in b's arena: the copy owns its own */
            struct weir_arena *a = &nb->arena;
            if ((r->value && !(r->value = weir_arena_strdup(a, r->value, r->value_len))) ||
                (r->reason && !(r->reason = weir_arena_strdup(a, r->reason, strlen(r->reason))))) {
                weir_batch_put(nb);
                goto oom;
            }
        }
        nb->source_id = b->source_id;
        weir_worker_dispatch(w, nb, t);
    }
    weir_batch_put(b);
    return;
oom:
    weir_batch_put(b);
    struct weir_error e;
    weir_error_set(&e, -ENOMEM, "out of memory");
    weir_worker_fail(w, &e);
    if (t) { /* the rest was not written: nothing past it may be committed */
        weir_ticket_hold(t);
        weir_ticket_release(t, 0);
    }
}

void weir_worker_reload_begin(struct weir_worker *w)
{
    if (w->reloading)
        return; /* one at a time (worker.h): the next is taken once this one is done */
    const struct weir_pipeline *next = __atomic_exchange_n(&w->reload_req, NULL, __ATOMIC_ACQUIRE);
    if (!next)
        return;
    w->reload_pl = next;
    w->reload_plan = __atomic_load_n(&w->reload_req_plan, __ATOMIC_RELAXED);
    w->reload_shared = __atomic_load_n(&w->reload_req_shared, __ATOMIC_RELAXED);
    w->reload_gen = __atomic_load_n(&w->reload_req_gen, __ATOMIC_RELAXED);
    w->reloading = 1;
    if (w->reload_plan->kind != WEIR_RELOAD_SHAPE) {
        w->reload_q = (struct weir_quiesce){.done = reload_swap, .why = WEIR_FLUSH_COMMIT};
        weir_worker_quiesce(w, &w->reload_q);
        return;
    }
    if (!w->reload_plan->source_same && !w->reload_plan->source_kept && w->has_source &&
        !w->source_finished) {
        w->reload_phase = PHASE_SOURCE_STOP;
        w->source->replacing = 1;
        if (w->source->type->stop)
            w->source->type->stop(w->source);
        return;
    }
    w->reload_phase = PHASE_QUIESCE;
    w->reload_q = (struct weir_quiesce){.done = shape_quiesced, .why = WEIR_FLUSH_COMMIT};
    weir_worker_quiesce(w, &w->reload_q);
}
