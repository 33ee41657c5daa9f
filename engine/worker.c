/* The worker (see worker.h): operator chain, routing to sinks, backpressure,
 * drain and stop. */
#include "engine/worker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void chain_run(struct weir_worker *w, struct weir_batch *b, size_t from);

static void chain_emit(struct weir_op *op, struct weir_batch *b)
{
    chain_run(op->emit_ctx, b, (size_t)op->index + 1);
}

static void on_wake(struct weir_event *ev, int res)
{
    struct weir_worker *w = (struct weir_worker *)((char *)ev - offsetof(struct weir_worker, wake_ev));
    uint64_t v;
    if (read(w->wake_fd, &v, sizeof v) < 0) {
        /* nothing to drain: spurious wake-up */
    }
    w->stop_requested = 1;
    if (w->has_source && !w->source_finished && w->source.type->stop)
        w->source.type->stop(&w->source);
}

static int ops_init(struct weir_worker *w, struct weir_error *err)
{
    w->nops = w->pl->nops;
    w->ops = calloc(w->nops ? w->nops : 1, sizeof *w->ops);
    if (!w->ops)
        return weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k < w->nops; k++) {
        struct weir_op *op = &w->ops[k];
        op->type = w->pl->ops[k].type;
        op->conf = w->pl->ops[k].conf;
        op->index = (int)k;
        op->loop = w->loop;
        op->emit = chain_emit;
        op->emit_ctx = w;
        if (op->type->init && op->type->init(op, err) < 0)
            return weir_error_prefix(err, "operators[%zu] (%s)", k, op->type->name);
    }
    return 0;
}

static int sinks_open(struct weir_worker *w, struct weir_error *err)
{
    const struct weir_pipeline *pl = w->pl;
    w->nsinks = pl->nsinks + 1;
    w->sinks = calloc(w->nsinks, sizeof *w->sinks);
    if (!w->sinks)
        return weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; k < w->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        struct weir_sink *s = &w->sinks[k];
        s->type = st->type;
        s->conf = st->conf;
        s->worker = w;
        s->when = k < pl->nsinks ? st->when : WEIR_WHEN_DEAD;
        s->output = &st->output;
        int rc = s->type->open(s, err);
        if (rc < 0)
            return rc; /* destroy() closes it: close() accepts a partly opened sink */
    }
    return 0;
}

int weir_worker_init(struct weir_worker *w, int id, int nworkers,
                     const struct weir_pipeline *pl, int with_source, struct weir_error *err)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->nworkers = nworkers;
    w->pl = pl;
    w->wake_fd = -1;
    int rc = weir_loop_new(&w->loop, 512, err);
    if (rc < 0)
        return rc;
    rc = weir_batch_pool_new(&w->pool, pl->max_records, pl->schema.nfeat, pl->schema.nstr);
    if (rc < 0)
        return weir_error_set(err, rc, "out of memory");
    if ((rc = ops_init(w, err)) < 0 || (rc = sinks_open(w, err)) < 0)
        return rc;
    w->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->wake_fd < 0)
        return weir_error_set(err, -errno, "eventfd: %s", strerror(errno));
    w->wake_ev.done = on_wake;
    weir_loop_poll(w->loop, w->wake_fd, POLLIN, &w->wake_ev);
    if (with_source) {
        w->has_source = 1;
        w->source.type = pl->source_type;
        w->source.conf = pl->source_conf;
        w->source.worker = w;
        rc = w->source.type->open(&w->source, err);
        if (rc < 0)
            return rc; /* destroy() closes the partly opened source */
    } else {
        w->source_finished = 1;
    }
    return 0;
}

static void route(struct weir_worker *w, struct weir_batch *b)
{
    struct weir_ticket *t = b->source_ctx;
    uint64_t dead = 0, alerts = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            dead++;
        else if (b->rec[i].flags & WEIR_REC_ALERT)
            alerts++;
    }
    w->stats.dead += dead;
    w->stats.alerts += alerts;
    w->stats.records_out += b->n - dead;
    for (size_t k = 0; k < w->nsinks && !w->failed; k++) {
        struct weir_sink *s = &w->sinks[k];
        int rc = s->type->write(s, b, t);
        if (rc < 0) {
            struct weir_error e;
            weir_error_set(&e, rc, "sink %s: write failed: %s", s->type->name, strerror(-rc));
            weir_worker_fail(w, &e);
        }
    }
    weir_batch_put(b);
    if (t)
        weir_ticket_release(t, !w->failed);
}

static void chain_run(struct weir_worker *w, struct weir_batch *b, size_t from)
{
    for (size_t k = from; k < w->nops; k++) {
        struct weir_op *op = &w->ops[k];
        uint64_t t0 = w->timing ? weir_now_ns() : 0;
        int rc = op->type->process(op, b);
        if (w->timing && k < 64)
            w->stats.op_ns[k] += weir_now_ns() - t0;
        if (rc == WEIR_OP_HELD)
            return;
        if (rc < 0) {
            struct weir_error e;
            weir_error_set(&e, rc, "operators[%zu] (%s) failed: %s", k, op->type->name,
                           strerror(-rc));
            weir_worker_fail(w, &e);
            break;
        }
    }
    route(w, b);
}

struct weir_batch *weir_worker_batch(struct weir_worker *w)
{
    return weir_batch_get(w->pool);
}

void weir_worker_dispatch(struct weir_worker *w, struct weir_batch *b, struct weir_ticket *t)
{
    b->source_ctx = t;
    if (t)
        weir_ticket_hold(t); /* released by route(), after every sink has its holds */
    w->stats.records_in += b->n;
    w->stats.batches++;
    chain_run(w, b, 0);
}

int weir_worker_should_pause(struct weir_worker *w)
{
    for (size_t k = 0; k < w->nsinks; k++)
        if (w->sinks[k].type->busy && w->sinks[k].type->busy(&w->sinks[k]))
            return w->paused = 1;
    return 0;
}

void weir_worker_source_finished(struct weir_worker *w)
{
    w->source_finished = 1;
}

void weir_worker_fail(struct weir_worker *w, const struct weir_error *err)
{
    if (w->failed)
        return;
    w->failed = 1;
    w->err = *err;
    if (w->has_source && !w->source_finished && w->source.type->stop)
        w->source.type->stop(&w->source);
}

/* Operators holding records (micro-batches, windows) hand them on at the end,
 * and before an exactly-once source commits its transaction. */
void weir_worker_flush_held(struct weir_worker *w)
{
    for (size_t k = 0; k < w->nops; k++)
        if (w->ops[k].type->on_timer)
            w->ops[k].type->on_timer(&w->ops[k]);
}

static int flush_sinks(struct weir_worker *w)
{
    int inflight = 0;
    for (size_t k = 0; k < w->nsinks; k++)
        inflight += w->sinks[k].type->flush(&w->sinks[k]);
    return inflight;
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
                       "worker %d: %d outputs still unacknowledged %llu s after the input ended; "
                       "their inputs were not committed and will be read again", w->id, inflight,
                       (unsigned long long)(DRAIN_LIMIT_NS / 1000000000ull));
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
    int held_flushed = 0;
    for (;;) {
        if (w->source_finished && !held_flushed) {
            weir_worker_flush_held(w);
            held_flushed = 1;
        }
        int inflight = flush_sinks(w);
        if (w->paused && !weir_worker_should_pause(w)) {
            w->paused = 0;
            if (w->source.type->resume)
                w->source.type->resume(&w->source);
        }
        if ((w->source_finished || w->failed) && inflight == 0 && held_flushed)
            break;
        if (w->failed && w->source_finished)
            break;
        if (w->source_finished && drain_guard(w, inflight) < 0)
            break;
        int rc = weir_loop_step(w->loop, 0);
        if (rc < 0) {
            weir_error_set(&w->err, rc, "event loop: %s", strerror(-rc));
            w->failed = 1;
            break;
        }
    }
    return w->failed ? (w->err.code ? w->err.code : -EIO) : 0;
}

void weir_worker_request_stop(struct weir_worker *w)
{
    uint64_t one = 1;
    if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof one) < 0) {
        /* the counter is saturated: a stop is already pending */
    }
}

void weir_worker_destroy(struct weir_worker *w)
{
    if (w->has_source && w->source.type->close)
        w->source.type->close(&w->source);
    for (size_t k = 0; w->sinks && k < w->nsinks; k++) /* NULL: out of memory in init */
        if (w->sinks[k].type)
            w->sinks[k].type->close(&w->sinks[k]);
    free(w->sinks);
    for (size_t k = 0; w->ops && k < w->nops; k++)
        if (w->ops[k].type && w->ops[k].type->destroy)
            w->ops[k].type->destroy(&w->ops[k]);
    free(w->ops);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    weir_batch_pool_free(w->pool);
    weir_loop_free(w->loop);
}
