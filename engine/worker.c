/* The worker (see worker.h): the operator chain and what operators may ask of
 * the engine, backpressure, drain and stop. Routing to sinks is in
 * worker_route.c; partitions, watermarks, operators' timers and durable state
 * are in worker_state.c. */
#include "engine/worker.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "engine/opstate.h"
#include "engine/worker_internal.h"
#include "engine/log.h"

/* ---- the chain -------------------------------------------------------------- */

static void chain_run(struct weir_worker *w, struct weir_batch *b, size_t from);


/* Records no later operator or sink sees: dead letters and dropped ones. */
static uint32_t dead_in(const struct weir_batch *b)
{
    uint32_t dead = 0;
    for (uint32_t i = 0; i < b->n; i++)
        dead += !weir_record_live(&b->rec[i]);
    return dead;
}

/* Per-operator figures: records in, live records out and those it killed,
 * time per batch. Two clock reads and one pass over the flags per operator
 * and batch, nothing per record beyond that pass. Returns the batch's dead
 * records after op k. */
static uint32_t op_metrics(struct weir_worker *w, size_t k, const struct weir_batch *b,
                           uint32_t n_before, uint32_t dead_before, uint64_t ns)
{
    if (k < 64 && w->timing)
        w->stats.op_ns[k] += ns;
    if (k >= WEIR_METRICS_OPS)
        return dead_before;
    struct weir_op_metrics *om = &w->m->op[k];
    weir_metric_add(&om->in, n_before - dead_before);
    weir_hist_add(&om->ns, ns);
    if (!b) /* held: counted as it comes out (emit) */
        return dead_before;
    uint32_t dead = dead_in(b);
    weir_metric_add(&om->out, b->n - dead);
    if (dead > dead_before && b->n == n_before) /* the same records: these it removed */
        weir_metric_add(&om->dead, dead - dead_before);
    return dead;
}

static void chain_run(struct weir_worker *w, struct weir_batch *b, size_t from)
{
    uint32_t dead = dead_in(b);
    for (size_t k = from; k < w->nops; k++) {
        struct weir_op *op = &w->ops[k];
        uint32_t n_before = b->n;
        uint64_t t0 = weir_now_ns();
        op->held++; /* counted first: an operator may hand b on inside process() */
        if (op->keyed)
            weir_op_state_prefetch(op, b);
        int rc = op->type->process(op, b);
        uint64_t ns = weir_now_ns() - t0;
        if (k == 0)
            weir_worker_watermarks(w, b); /* event times are known after extract */
        if (rc == WEIR_OP_HELD) {
            op_metrics(w, k, NULL, n_before, dead, ns);
            return;
        }
        dead = op_metrics(w, k, b, n_before, dead, ns);
        op->held--;
        if (rc < 0) {
            struct weir_error e;
            char at[48];
            weir_error_set(&e, rc, "%s (%s) failed: %s", weir_pipeline_op_path(w->pl, k, at, 48),
                           op->type->name, strerror(-rc));
            weir_worker_fail(w, &e);
            break;
        }
    }
    weir_worker_route(w, b);
}

/* A batch an operator held (or made) leaves it: its live records are its output. */
static void emit_metrics(void *ctx, const struct weir_op *op, const struct weir_batch *b)
{
    struct weir_worker *w = ctx;
    if (op->index >= 0 && op->index < WEIR_METRICS_OPS)
        weir_metric_add(&w->m->op[op->index].out, b->n - dead_in(b));
}

void weir_op_emit(struct weir_op *op, struct weir_batch *b)
{
    if (op->held)
        op->held--;
    if (op->engine && op->engine->emit)
        op->engine->emit(op->engine->ctx, op, b);
}

void weir_op_emit_new(struct weir_op *op, struct weir_batch *b)
{
    if (op->engine && op->engine->emit)
        op->engine->emit(op->engine->ctx, op, b);
}

static void engine_emit(void *ctx, struct weir_op *op, struct weir_batch *b)
{
    emit_metrics(ctx, op, b);
    chain_run(ctx, b, (size_t)op->index + 1);
}

struct weir_batch *weir_op_batch_new(struct weir_op *op)
{
    return op->engine && op->engine->batch_new ? op->engine->batch_new(op->engine->ctx) : NULL;
}

static struct weir_batch *engine_batch_new(void *ctx)
{
    struct weir_worker *w = ctx;
    return weir_batch_get(w->pool);
}

int weir_op_batch_tie(struct weir_op *op, struct weir_batch *out, struct weir_batch *in)
{
    return op->engine && op->engine->tie ? op->engine->tie(op->engine->ctx, out, in) : 0;
}

void weir_op_busy(struct weir_op *op, int busy)
{
    if (op->engine && op->engine->busy)
        op->engine->busy(op->engine->ctx, op, busy);
    else
        op->busy = busy;
}

static void engine_busy(void *ctx, struct weir_op *op, int busy)
{
    struct weir_worker *w = ctx;
    busy = busy != 0;
    if (op->busy == busy)
        return;
    op->busy = busy;
    if (busy)
        w->busy_ops++;
    else
        w->busy_ops--;
}

int weir_op_batch_memory(struct weir_op *op, const struct weir_batch_mem *mem)
{
    return op->engine && op->engine->batch_memory
               ? op->engine->batch_memory(op->engine->ctx, mem) : -ENOTSUP;
}

static int engine_batch_memory(void *ctx, const struct weir_batch_mem *mem)
{
    struct weir_worker *w = ctx;
    return weir_batch_pool_set_mem(w->pool, mem);
}

/* ---- set-up ----------------------------------------------------------------- */

static void on_wake(struct weir_event *ev, int res)
{
    struct weir_worker *w = (struct weir_worker *)((char *)ev - offsetof(struct weir_worker, wake_ev));
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof v) < 0) {
        /* nothing to drain: spurious wake-up */
    }
    if (__atomic_load_n(&w->reload_req, __ATOMIC_ACQUIRE))
        weir_worker_reload_begin(w);
    if (!__atomic_load_n(&w->stop_flag, __ATOMIC_ACQUIRE)) {
        /* a reload: keep listening; deaf to the next stop or reload, the
         * run would wait for its watchdog, so it ends now instead */
        if (weir_loop_poll(w->loop, w->wake_fd, POLLIN, &w->wake_ev) < 0) {
            struct weir_error e;
            weir_error_set(&e, -EBUSY,
                           "worker %d: event loop: cannot watch for stop and "
                           "reload requests (submission queue full)",
                           w->id);
            weir_worker_fail(w, &e);
        }
        return;
    }
    w->stop_requested = 1;
    if (w->has_source && !w->source_finished && w->source->type->stop)
        w->source->type->stop(w->source);
}

int weir_worker_op_init(struct weir_worker *w, struct weir_op *op, const struct weir_pipeline *pl,
                        size_t k, struct weir_error *err)
{
    op->type = pl->ops[k].type;
    op->conf = pl->ops[k].conf;
    op->from = pl;
    weir_pipeline_hold(pl);
    op->index = (int)k;
    op->loop = w->loop;
    op->engine = &w->op_engine;
    if (op->type->init && op->type->init(op, err) < 0)
        return weir_error_prefix(err, "%s (%s)", weir_pipeline_op_path(pl, k, (char[48]){0}, 48),
                                 op->type->name);
    return 0;
}

static int ops_init(struct weir_worker *w, struct weir_error *err)
{
    w->op_engine = (struct weir_op_engine){
        .batch_new = engine_batch_new,
        .emit = engine_emit,
        .tie = weir_worker_tie,
        .busy = engine_busy,
        .watermark = weir_worker_watermark,
        .timer_event = weir_worker_timer_event,
        .batch_memory = engine_batch_memory,
        .replayed = weir_worker_replayed,
        .ctx = w,
    };
    w->nops = w->pl->nops;
    /* Room for a reload's longer chain: kept operators never move in memory
     * (their timers and the loop's events name them). */
    w->opcap = w->nops > WEIR_WORKER_OPS ? w->nops : WEIR_WORKER_OPS;
    w->ops = calloc(w->opcap, sizeof *w->ops);
    if (!w->ops)
        return weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k < w->nops; k++) {
        if (weir_worker_op_init(w, &w->ops[k], w->pl, k, err) < 0)
            return err->code;
        w->stateful |= w->ops[k].keyed != NULL;
    }
    return 0;
}

int weir_worker_sink_destination_shared(const struct weir_pipeline *pl, size_t k)
{
    const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
    int shared = 0;
    for (size_t j = 0; st->type->same_target && j <= pl->nsinks; j++) {
        const struct weir_stage_sink *o = j < pl->nsinks ? &pl->sinks[j] : &pl->dead;
        shared |=
            j != k && o->type == st->type && o->conf && st->type->same_target(st->conf, o->conf);
    }
    return shared;
}

int weir_worker_sink_open(struct weir_worker *w, const struct weir_pipeline *pl, size_t k,
                          void *shared, int checked, struct weir_sink **out,
                          struct weir_error *err)
{
    const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
    struct weir_sink_slot *slot = calloc(1, sizeof *slot);
    struct weir_sink *s = *out = slot ? &slot->s : NULL;
    if (!s)
        return weir_error_set(err, -ENOMEM, "out of memory");
    slot->from = pl;
    weir_pipeline_hold(pl);
    s->type = st->type;
    s->conf = st->conf;
    s->worker = w;
    s->when = k < pl->nsinks ? st->when : WEIR_WHEN_DEAD;
    if (s->when == WEIR_WHEN_EXPR)
        weir_expr_run_init(&s->when_run, st->when_expr);
    s->output = &st->output;
    s->shared = shared;
    s->checked = checked;
    s->destination_shared = weir_worker_sink_destination_shared(pl, k);
    int rc = s->type->open(s, err);
    s->checked = 0;
    return rc; /* a failure: close() accepts a partly opened sink */
}

void weir_worker_sink_close(struct weir_sink *s)
{
    if (!s)
        return;
    s->type->close(s);
    weir_expr_run_free(&s->when_run);
    struct weir_sink_slot *slot = (struct weir_sink_slot *)s;
    weir_pipeline_let_go(slot->from);
    weir_pipeline_let_go(slot->output_from);
    free(slot);
}

static int sinks_open(struct weir_worker *w, void *const *shared, struct weir_error *err)
{
    const struct weir_pipeline *pl = w->pl;
    w->nsinks = pl->nsinks + 1;
    w->sinks = calloc(w->nsinks, sizeof *w->sinks);
    if (!w->sinks)
        return weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k < w->nsinks; k++) {
        int rc = weir_worker_sink_open(w, pl, k, shared ? shared[k] : NULL, 0, &w->sinks[k], err);
        if (rc < 0)
            return rc; /* destroy() closes it */
    }
    return 0;
}

static void before_sleep(struct weir_loop_hook *hook);

int weir_worker_init(struct weir_worker *w, int id, int nworkers,
                     const struct weir_pipeline *pl, int with_source, struct weir_error *err)
{
    return weir_worker_init_shared(w, id, nworkers, pl, with_source, NULL, err);
}

int weir_worker_init_shared(struct weir_worker *w, int id, int nworkers,
                            const struct weir_pipeline *pl, int with_source, void *const *shared,
                            struct weir_error *err)
{
    return weir_worker_init_run(w, id, nworkers, pl, with_source, shared, NULL, err);
}

int weir_worker_init_run(struct weir_worker *w, int id, int nworkers,
                         const struct weir_pipeline *pl, int with_source, void *const *shared,
                         struct weir_metrics *m, struct weir_error *err)
{
    memset(w, 0, sizeof *w);
    w->wake_fd = -1;
    if (!m && !(m = w->own_metrics = calloc(1, sizeof *m)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    w->m = m;
    w->pl = pl;
    weir_pipeline_hold(pl); /* let go of in weir_worker_destroy, or when a reload replaces it */
    if (!(w->source = weir_worker_source_new(NULL)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    w->id = id;
    w->nworkers = nworkers;
    int rc = weir_loop_new(&w->loop, 512, err);
    if (rc < 0)
        return rc;
    w->hook.run = before_sleep;
    weir_loop_add_hook(w->loop, &w->hook);
    rc = weir_batch_pool_new(&w->pool, pl->max_records, pl->schema.nfeat, pl->schema.nstr);
    if (rc < 0)
        return weir_error_set(err, rc, "out of memory");
    if ((rc = ops_init(w, err)) < 0 || (rc = sinks_open(w, shared, err)) < 0 ||
        (rc = weir_worker_durable_open(w, err)) < 0)
        return rc;
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0)
        return weir_error_set(err, -errno, "eventfd: %s", strerror(errno));
    w->wake_ev.done = on_wake;
    if (weir_loop_poll(w->loop, w->wake_fd, POLLIN, &w->wake_ev) < 0)
        return weir_error_set(err, -EBUSY, "event loop: cannot watch for stop requests");
    if (with_source) {
        w->has_source = 1;
        w->source->type = pl->source_type;
        w->source->conf = pl->source_conf;
        weir_worker_source_from(w->source, pl);
        w->source->worker = w;
        rc = w->source->type->open(w->source, err);
        if (rc < 0)
            return rc; /* destroy() closes the partly opened source */
    } else {
        w->source_finished = 1;
    }
    return 0;
}

/* ---- for sources ------------------------------------------------------------ */

struct weir_batch *weir_worker_batch(struct weir_worker *w)
{
    return weir_batch_get(w->pool);
}

void weir_worker_dispatch(struct weir_worker *w, struct weir_batch *b, struct weir_ticket *t)
{
    if (b->pool != w->pool) { /* filled before a reload changed the batches' shape */
        weir_worker_dispatch_reshaped(w, b, t);
        return;
    }
    b->source_ctx = t;
    if (t)
        weir_ticket_hold(t); /* released by weir_worker_route(), after every sink has its holds */
    __atomic_fetch_add(&w->stats.records_in, b->n, __ATOMIC_RELAXED);
    weir_hist_add(&w->m->batch_size, b->n);
    if (++w->stats.batches % 64 == 0 && w->stateful)
        weir_worker_state_housekeep(w);
    chain_run(w, b, 0);
}

static int pause_source(struct weir_worker *w)
{
    if (!w->paused)
        weir_metric_add(&w->m->source_pauses, 1);
    return w->paused = 1;
}

int weir_worker_should_pause(struct weir_worker *w)
{
    if (w->busy_ops || w->reload_phase >= PHASE_QUIESCE)
        return pause_source(w); /* a reload drains before it rebuilds */
    for (size_t k = 0; k < w->nsinks; k++)
        if (w->sinks[k]->type->busy && w->sinks[k]->type->busy(w->sinks[k]))
            return pause_source(w);
    return 0;
}

void weir_worker_source_finished(struct weir_worker *w)
{
    if (weir_worker_reload_source_stopped(w))
        return; /* a reload stopped it to open the new one */
    w->source_finished = 1;
}

void weir_worker_fail(struct weir_worker *w, const struct weir_error *err)
{
    if (w->failed)
        return;
    w->failed = 1;
    w->err = *err;
    if (w->has_source && !w->source_finished && w->source->type->stop)
        w->source->type->stop(w->source);
}

int weir_worker_share(struct weir_worker *w, const char *name, void *ptr)
{
    size_t n = sizeof w->shared / sizeof w->shared[0];
    for (size_t i = 0; i < n; i++) {
        if (w->shared[i].name && strcmp(w->shared[i].name, name) == 0) {
            w->shared[i].ptr = ptr;
            if (!ptr)
                w->shared[i].name = NULL;
            return 0;
        }
    }
    for (size_t i = 0; ptr && i < n; i++) {
        if (!w->shared[i].name) {
            w->shared[i].name = name;
            w->shared[i].ptr = ptr;
            return 0;
        }
    }
    return ptr ? -ENOSPC : 0;
}

void *weir_worker_shared(const struct weir_worker *w, const char *name)
{
    for (size_t i = 0; i < sizeof w->shared / sizeof w->shared[0]; i++)
        if (w->shared[i].name && strcmp(w->shared[i].name, name) == 0)
            return w->shared[i].ptr;
    return NULL;
}

int weir_worker_holding(const struct weir_worker *w)
{
    for (size_t k = 0; k < w->nops; k++)
        if (w->ops[k].held)
            return 1;
    return 0;
}

/* ---- quiesce: operators hand on what they hold ------------------------------ */

void weir_worker_quiesce(struct weir_worker *w, struct weir_quiesce *q)
{
    q->next = NULL;
    struct weir_quiesce **p = &w->quiescing;
    while (*p)
        p = &(*p)->next;
    *p = q;
    for (size_t k = 0; k < w->nops; k++)
        w->ops[k].flush_asked = 0;
}

static int flush_sinks(struct weir_worker *w);

/* Asks each holding operator, in chain order, to flush; an operator that
 * holds again after it was asked (its input came from an upstream flush) is
 * asked again. Returns 1 when nothing is held any more (and, when q asks,
 * no output is in flight). */
static int quiesce_step(struct weir_worker *w, const struct weir_quiesce *q)
{
    int why = q->why;
    int holding = 0;
    for (size_t k = 0; k < w->nops && !w->failed; k++) {
        struct weir_op *op = &w->ops[k];
        if (!op->held) {
            op->flush_asked = 0;
            continue;
        }
        holding = 1;
        if (!op->flush_asked && op->type->flush) {
            op->flush_asked = 1;
            op->type->flush(op, why);
        }
    }
    if (holding && !w->failed && weir_worker_holding(w))
        return 0;
    /* A commit's offsets cover every record dispatched: their outputs must
     * be in the transaction, not waiting in a sink for room in the producer
     * (produced during the commit, they failed the worker; after it, a
     * restart would have lost them). */
    for (size_t k = 0; why == WEIR_FLUSH_COMMIT && !w->failed && k < w->nsinks; k++)
        if (w->sinks[k] && w->sinks[k]->type->backlog && w->sinks[k]->type->backlog(w->sinks[k]))
            return 0;
    /* A checkpoint of at-least-once state: an output the state reflects (an
     * aggregate's window, deleted once written) must not be lost to a crash
     * after the state was saved, as the restored state would not make it
     * again. Not at a stop, which a sink that never answers must not hold
     * up: the drain after it waits for the outputs, up to its limit. */
    return !q->acked || w->failed || w->stop_requested || flush_sinks(w) == 0;
}

static void quiesce_serve(struct weir_worker *w)
{
    while (w->quiescing && quiesce_step(w, w->quiescing)) {
        struct weir_quiesce *q = w->quiescing;
        w->quiescing = q->next;
        q->done(w, q->ctx);
    }
}

static void end_flushed(struct weir_worker *w, void *ctx)
{
    w->end_flushed = 1;
}

/* ---- the loop --------------------------------------------------------------- */

static int flush_sinks(struct weir_worker *w)
{
    int inflight = 0;
    for (size_t k = 0; k < w->nsinks; k++)
        inflight += w->sinks[k]->type->flush(w->sinks[k]);
    return inflight;
}

/* Deferred work, once per loop turn before it sleeps (Redis's beforeSleep). */
static void before_sleep(struct weir_loop_hook *hook)
{
    struct weir_worker *w = (struct weir_worker *)((char *)hook - offsetof(struct weir_worker, hook));
    if (w->source_finished && !w->end_flushed && !w->end_quiesce.done) {
        w->end_quiesce = (struct weir_quiesce){.done = end_flushed, .why = WEIR_FLUSH_END};
        weir_worker_quiesce(w, &w->end_quiesce);
    }
    quiesce_serve(w);
    w->inflight = flush_sinks(w);
    if (w->nlet_go || w->nlet_go_wait)
        weir_worker_let_go_step(w);
    if (w->reload_phase)
        weir_worker_reload_step(w);
    if (w->retired)
        weir_worker_sources_reap(w, 0);
    if (w->retired_sinks)
        weir_worker_sinks_reap(w, 0);
    if (w->stateful)
        weir_worker_state_evictions(w); /* whichever path the batches took */
    weir_worker_metrics_publish(w);
    if (w->paused && !weir_worker_should_pause(w)) {
        w->paused = 0;
        if (w->has_source && w->source->type->resume)
            w->source->type->resume(w->source);
    }
}

#define DRAIN_TICK_NS (50ull * 1000000ull)
#define DRAIN_LIMIT_NS (30ull * 1000000000ull)

static void on_drain_tick(struct weir_event *ev, int res)
{
    struct weir_worker *w = (struct weir_worker *)((char *)ev - offsetof(struct weir_worker, drain_ev));
    w->drain_armed = 0; /* the loop's next turn flushes the sinks again */
}

/* At the end of a run the sinks' acknowledgements normally wake the loop;
 * a tick makes sure they are looked at even if a wake-up is missed, and a
 * limit makes sure a stop never hangs: unacknowledged outputs were never
 * committed, so their inputs are read again by the next run. Returns 0, or
 * -ETIMEDOUT when the limit passed. */
static int drain_guard(struct weir_worker *w, int inflight)
{
    uint64_t now = weir_now_ns();
    if (!w->drain_since)
        w->drain_since = now;
    if (now - w->drain_since > DRAIN_LIMIT_NS) {
        weir_error_set(&w->err, -ETIMEDOUT,
                       "worker %d: outputs still unacknowledged %llu s after the input ended (%d "
                       "messages or writes in flight); "
                       "their inputs were not committed and will be read again",
                       w->id, (unsigned long long)(DRAIN_LIMIT_NS / 1000000000ull), inflight);
        w->failed = 1;
        return -ETIMEDOUT;
    }
    if (!w->drain_armed) {
        w->drain_ev.done = on_drain_tick;
        w->drain_armed = weir_loop_timer(w->loop, DRAIN_TICK_NS, &w->drain_ev) == 0;
    }
    return 0;
}

int weir_worker_run(struct weir_worker *w)
{
    for (;;) {
        before_sleep(&w->hook); /* the loop runs it too, before each wait */
        int inflight = w->inflight;
        if (w->failed && w->source_finished)
            break;
        if (w->source_finished && w->end_flushed && !weir_worker_holding(w) && inflight == 0)
            break;
        if (w->source_finished && drain_guard(w, inflight) < 0)
            break;
        int rc = weir_loop_step(w->loop, 0);
        if (rc < 0) {
            if (!w->failed) /* the first cause stays: run.c may be reading it */
                weir_error_set(&w->err, rc, "event loop: %s", strerror(-rc));
            w->failed = 1;
            break;
        }
    }
    if (!w->failed)
        weir_worker_state_final(w);
    struct timespec ts; /* what --timing reports per record: this thread's own CPU */
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        w->stats.cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return w->failed ? (w->err.code ? w->err.code : -EIO) : 0;
}

void weir_worker_request_stop(struct weir_worker *w)
{
    __atomic_store_n(&w->stop_flag, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof one) < 0) {
        /* the counter is saturated: a stop is already pending */
    }
}

void weir_worker_destroy(struct weir_worker *w)
{
    w->closing = 1;
    /* A run that gave up waiting (a failure, the drain limit) ends with
     * requests in flight: none may go on reading or filling what the closes
     * below free (a sink's buffer, a source's). */
    unsigned stuck = w->loop ? weir_loop_cancel_all(w->loop, 2000000000ull) : 0;
    if (stuck) /* the file sink and source leave those buffers allocated (their close) */
        weir_log(WEIR_LOG_WARN,
                 "worker %d: %u reads or writes still under way 2 s after they were cancelled "
                 "(a file or disk that does not answer); their buffers are left to them\n",
                 w->id, stuck);
    weir_worker_sources_reap(w, 1); /* reloads' replaced ones, then the current one */
    weir_worker_sinks_reap(w, 1);   /* before the sinks: a removed one's producer may be shared */
    if (w->source && w->has_source && w->source->type && w->source->type->close)
        w->source->type->close(w->source);
    weir_worker_source_free(w->source);
    w->source = NULL;
    weir_worker_durable_close(w);
    for (size_t k = 0; w->sinks && k < w->nsinks; k++) /* NULL: out of memory in init */
        weir_worker_sink_close(w->sinks[k]);
    free(w->sinks);
    weir_worker_route_tickets_free(w); /* after the sinks: closing them released the last ones */
    for (size_t k = 0; w->ops && k < w->nops; k++) {
        if (w->ops[k].type && w->ops[k].type->destroy)
            w->ops[k].type->destroy(&w->ops[k]);
        weir_op_state_free(&w->ops[k]);
        weir_pipeline_let_go(w->ops[k].from);
    }
    free(w->ops);
    weir_worker_let_go_end(w); /* the sinks are closed: nothing is in flight */
    weir_worker_parts_free(w);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    weir_buf_free(&w->scratch);
    weir_batch_pool_free(w->pool);
    for (size_t k = 0; k < sizeof w->retired_pools / sizeof w->retired_pools[0]; k++)
        weir_batch_pool_free(w->retired_pools[k]);
    weir_loop_free(w->loop);
    free(w->own_metrics);
    weir_pipeline_let_go(w->pl); /* last: the run may free it now */
}
