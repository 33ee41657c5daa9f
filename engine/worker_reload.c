/* Reloading a running worker's operators (worker.h: weir_worker_request_reload;
 * engine/reload.h says which changes qualify). The request crosses threads
 * through atomics and the worker's eventfd; the swap happens on the worker's
 * own thread once its operators hold nothing (a quiesce), between batches. */
#include "engine/opstate.h"
#include "engine/worker_internal.h"

#include <string.h>
#include <unistd.h>

/* ---- reload: operators swapped between batches ------------------------------ */

void weir_worker_request_reload(struct weir_worker *w, const struct weir_pipeline *next,
                                uint64_t mask, uint64_t gen)
{
    __atomic_store_n(&w->reload_req_mask, mask, __ATOMIC_RELAXED);
    __atomic_store_n(&w->reload_req_gen, gen, __ATOMIC_RELAXED);
    __atomic_store_n(&w->reload_req, next, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (w->wake_fd >= 0 && write(w->wake_fd, &one, sizeof one) < 0) {
        /* saturated: a wake-up is pending already, and it reads reload_req */
    }
}

/* Operator k is made again from next's options: its state (keyed or its
 * own) starts afresh, as a changed layout would on a restart. */
static int op_swap(struct weir_worker *w, size_t k, const struct weir_pipeline *next,
                   struct weir_error *err)
{
    struct weir_op *op = &w->ops[k];
    if (op->busy) { /* what engine_busy(op, 0) would do */
        op->busy = 0;
        w->busy_ops--;
    }
    if (op->type->destroy)
        op->type->destroy(op);
    weir_op_state_free(op);
    memset(op, 0, sizeof *op);
    op->type = next->ops[k].type;
    op->conf = next->ops[k].conf;
    op->index = (int)k;
    op->loop = w->loop;
    op->engine = &w->op_engine;
    if (op->type->init && op->type->init(op, err) < 0)
        return weir_error_prefix(err, "reload: operators[%zu] (%s)", k, op->type->name);
    for (uint32_t p = 0; p < w->nparts && op->type->partition; p++)
        if (w->parts[p].assigned)
            op->type->partition(op, p, 1);
    return 0;
}

/* Quiesced: nothing is held, no batch is between operators. */
static void reload_swap(struct weir_worker *w, void *ctx)
{
    w->stateful = 0;
    for (size_t k = 0; k < w->nops && !w->failed; k++) {
        struct weir_error e = {0};
        if (((w->reload_mask >> k) & 1) && op_swap(w, k, w->reload_pl, &e) < 0)
            weir_worker_fail(w, &e);
        w->stateful |= w->ops[k].keyed != NULL;
    }
    w->reloading = 0;
    __atomic_store_n(&w->reload_applied, w->reload_gen, __ATOMIC_RELEASE);
}

void weir_worker_reload_begin(struct weir_worker *w)
{
    if (w->reloading)
        return; /* one at a time (worker.h): the next is taken once this one is done */
    const struct weir_pipeline *next = __atomic_exchange_n(&w->reload_req, NULL, __ATOMIC_ACQUIRE);
    if (!next)
        return;
    w->reload_pl = next;
    w->reload_mask = __atomic_load_n(&w->reload_req_mask, __ATOMIC_RELAXED);
    w->reload_gen = __atomic_load_n(&w->reload_req_gen, __ATOMIC_RELAXED);
    w->reloading = 1;
    w->reload_q = (struct weir_quiesce){.done = reload_swap, .why = WEIR_FLUSH_COMMIT};
    weir_worker_quiesce(w, &w->reload_q);
}
