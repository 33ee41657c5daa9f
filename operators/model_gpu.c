/* model on the GPU: the loop never waits for the device, but once per model
 * version swap (the upload's wait, and cudaFree of the old weights).
 *
 * Each worker has GPU_SLOTS slots (pinned host staging in and out, device
 * buffers, a stream). Batches are held: their live records are gathered
 * into the filling slot; a slot is launched when it has max_records rows,
 * or at the end of a batch (max_delay_ms 0), on its timer, or on flush. A
 * second timer, the watch, asks the oldest stream every 100 ms while slots
 * are in flight (a faulted stream may never run its host function).
 * Launching queues copy in, the model, copy out and a host function that
 * marks the slot done and writes the worker's eventfd; the loop polls the
 * eventfd, writes the finished slots' outputs back and emits their batches.
 * Slots finish in launch order (the oldest first), and a batch goes on when
 * the slot holding its last row is done, so records keep their order.
 * While every slot is in flight, new batches wait in `pending` (held, the
 * sources asked to pause with weir_op_busy).
 *
 * Versions: a slot keeps the version it was filled with (its device weights
 * and its reference), so a reload uploads the new weights once (on the
 * loop, at the first slot filled after the swap) and frees the old ones when
 * the last slot using them is done.
 *
 * A CUDA error kills the records of the slot it hit (dead-letter sink, the
 * error as the reason; a sticky device fault reaches the slots in flight
 * with it too, as their streams then report it) and every later slot runs
 * on the CPU, from the same
 * staging buffers, in the same order; one line on stderr says so.
 *
 * Tests without a GPU: WEIR_MODEL_GPU_ON_CPU set in the environment runs
 * this path (slots, pending, order, versions, flush) with the CPU computing
 * every slot, as after a CUDA error; only the device calls are left out. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kernels/cuda/cuda.h"
#include "models/gpu.h"
#include "operators/model.h"

#define GPU_SLOTS 3

struct gpu_version {
    struct weir_model_ref *ref;
    struct weir_gpu_model *g; /* NULL once the worker runs on the CPU */
    int uses;                 /* slots filled with it, + 1 while it is current */
};

enum { SLOT_FREE, SLOT_FILLING, SLOT_FLIGHT };

struct gpu_slot {
    int state;
    float *hx, *hy;   /* pinned: (max_records, nin), (max_records, nout) */
    int hx_malloc;    /* hx, hy from malloc (WEIR_MODEL_GPU_ON_CPU) */
    float *dx, *dy, *dscratch;
    size_t scratch_floats;
    weir_cuda_stream *stream;
    struct slot *rows; /* (max_records): where row r came from */
    size_t nrows;
    struct weir_batch **done; /* batches whose last row is here: they go on after it */
    size_t ndone, done_cap;
    struct gpu_version *ver;
    atomic_int finished; /* set by the host function */
    int on_gpu;          /* launched on the device (else computed on the CPU) */
    uint64_t launch_ns;  /* for the inference-time metric */
    const char *error;   /* why this slot's records died, or NULL */
    struct model_gpu *gpu;
};

struct model_gpu {
    struct gpu_slot slot[GPU_SLOTS];
    unsigned head, count; /* the ring of used slots, oldest first */
    struct gpu_version *cur;
    uint64_t generation;
    int efd;
    struct weir_event ev;
    int polling;
    struct weir_batch **pending; /* held, not yet fully gathered (a ring) */
    size_t phead, npending, pcap;
    uint32_t cursor; /* the next record of pending[phead] to gather */
    int force;       /* launch a partly filled slot once pending is gathered */
    int on_cpu;      /* a CUDA error switched this worker to the CPU */
    char reason[GPU_SLOTS + 1][256]; /* dead-letter reasons: they outlive the slots */
    int nreason;
    float *cpu_scratch;
    size_t cpu_scratch_floats;
    struct weir_op *op;
};

static void version_put(const struct model_conf *c, struct gpu_version *v)
{
    if (v && --v->uses == 0) {
        weir_gpu_model_free(v->g);
        weir_model_cell_put(c->cell, v->ref);
        free(v);
    }
}

/* The cell's current version, its weights uploaded (once per version). */
static struct gpu_version *version_current(struct model_gpu *gpu, const struct model_conf *c)
{
    uint64_t gen = weir_model_cell_generation(c->cell);
    if (gpu->cur && gen == gpu->generation)
        return gpu->cur;
    struct gpu_version *v = calloc(1, sizeof *v);
    if (!v)
        return gpu->cur; /* the old version keeps serving */
    v->ref = weir_model_cell_get(c->cell);
    v->uses = 1;
    char err[400];
    if (!gpu->on_cpu && !(v->g = weir_gpu_model_upload(v->ref->m, err, sizeof err))) {
        fprintf(stderr, "weir: %s: model version %s: %s; the old version keeps serving\n",
                c->where, v->ref->version, err);
        weir_model_cell_put(c->cell, v->ref);
        free(v);
        gpu->generation = gen; /* not retried until the next swap */
        return gpu->cur;
    }
    version_put(c, gpu->cur);
    gpu->cur = v;
    gpu->generation = gen;
    return v;
}

static void slot_done(void *arg) /* a CUDA runtime thread: no CUDA calls here */
{
    struct gpu_slot *sl = arg;
    uint64_t one = 1;
    atomic_store_explicit(&sl->finished, 1, memory_order_release);
    if (write(sl->gpu->efd, &one, sizeof one) < 0) {
        /* the counter cannot overflow in practice; the loop polls it anyway */
    }
}

static void on_eventfd(struct weir_event *ev, int res);

static void arm_poll(struct model_gpu *gpu)
{
    if (gpu->polling || !gpu->op->loop)
        return;
    gpu->ev.done = on_eventfd;
    if (weir_loop_poll(gpu->op->loop, gpu->efd, POLLIN, &gpu->ev) == 0)
        gpu->polling = 1;
}

/* Grows the slot's device scratch for its version (only while it is free). */
static int slot_scratch(struct gpu_slot *sl, const struct model_conf *c)
{
    size_t need = weir_gpu_model_scratch(sl->ver->ref->m, (size_t)c->max_records);
    if (need <= sl->scratch_floats)
        return 0;
    weir_cuda_free(sl->dscratch);
    sl->scratch_floats = 0;
    if (!(sl->dscratch = weir_cuda_malloc(need * sizeof(float))))
        return -1;
    sl->scratch_floats = need;
    return 0;
}

static int cpu_scratch(struct model_gpu *gpu, const struct weir_model *m, size_t n)
{
    size_t need = weir_model_scratch(m, n);
    if (need <= gpu->cpu_scratch_floats && gpu->cpu_scratch)
        return 0;
    float *p = realloc(gpu->cpu_scratch, need * 4 + 64);
    if (!p)
        return -1;
    gpu->cpu_scratch = p;
    gpu->cpu_scratch_floats = need;
    return 0;
}

/* The reason a failed slot's records carry; the first failure switches the
 * worker to the CPU, so at most GPU_SLOTS slots fail. */
static const char *fail_reason(struct model_gpu *gpu, const char *why)
{
    if (gpu->nreason > GPU_SLOTS)
        return "model: CUDA error";
    char *r = gpu->reason[gpu->nreason++];
    snprintf(r, sizeof gpu->reason[0], "model: CUDA error: %s", why);
    return r;
}

static void run_on_cpu(struct model_gpu *gpu, struct gpu_slot *sl)
{
    const struct weir_model *m = sl->ver->ref->m;
    sl->on_gpu = 0;
    if (sl->nrows == 0)
        return;
    if (cpu_scratch(gpu, m, sl->nrows) < 0) {
        sl->error = "model: out of memory";
        return;
    }
    weir_model_predict(m, sl->hx, m->nin, sl->nrows, sl->hy, gpu->cpu_scratch, WEIR_PREDICT_FP32);
}

static void switch_to_cpu(struct model_gpu *gpu, const char *why)
{
    if (gpu->on_cpu)
        return;
    gpu->on_cpu = 1;
    const struct model_conf *c = gpu->op->conf;
    fprintf(stderr,
            "weir: %s: model version %s: %s; the records of the batch it hit went to the "
            "dead-letter sink and the model runs on the CPU from now on\n",
            c->where, gpu->cur ? gpu->cur->ref->version : c->version, why);
}

/* Queues the slot's rows on its stream, or runs them on the CPU. */
static void launch(struct model_gpu *gpu, struct gpu_slot *sl)
{
    const struct weir_model *m = sl->ver->ref->m;
    size_t n = sl->nrows;
    sl->state = SLOT_FLIGHT;
    sl->launch_ns = weir_now_ns();
    atomic_store_explicit(&sl->finished, 0, memory_order_relaxed);
    if (gpu->on_cpu || !sl->ver->g) {
        run_on_cpu(gpu, sl);
        atomic_store_explicit(&sl->finished, 1, memory_order_relaxed);
        return;
    }
    sl->on_gpu = 1;
    if ((n == 0 || (weir_cuda_copy_in(sl->dx, sl->hx, n * m->nin * 4, sl->stream) == 0 &&
                    weir_gpu_model_predict(sl->ver->g, sl->dx, n, sl->dy, sl->dscratch,
                                           sl->stream) == 0 &&
                    weir_cuda_copy_out(sl->hy, sl->dy, n * m->nout * 4, sl->stream) == 0)) &&
        weir_cuda_host_fn(sl->stream, slot_done, sl) == 0) {
        arm_poll(gpu);
        return;
    }
    sl->error = fail_reason(gpu, weir_cuda_error());
    weir_cuda_stream_sync(sl->stream); /* what was queued must not land in a reused slot */
    atomic_store_explicit(&sl->finished, 1, memory_order_relaxed);
    /* now, not when the slot drains: the next slots of a backlog would hit
     * the same error (a card the kernels were not built for fails every
     * launch) and dead-letter their records too */
    switch_to_cpu(gpu, sl->error);
}

/* Writes back and hands on the finished slots, oldest first; returns how
 * many were finished. */
static int drain(struct model_gpu *gpu)
{
    const struct model_conf *c = gpu->op->conf;
    int freed = 0;
    while (gpu->count) {
        struct gpu_slot *sl = &gpu->slot[gpu->head];
        if (sl->state != SLOT_FLIGHT || !atomic_load_explicit(&sl->finished, memory_order_acquire))
            break;
        if (!sl->error && sl->on_gpu && weir_cuda_stream_query(sl->stream) < 0)
            sl->error = fail_reason(gpu, weir_cuda_error());
        const struct weir_model *m = sl->ver->ref->m;
        for (size_t r = 0; r < sl->nrows; r++) {
            if (sl->error)
                weir_batch_kill(sl->rows[r].b, sl->rows[r].i, sl->error);
            else
                model_write_row(c, gpu->op->state, m, sl->ver->ref->version, sl->rows[r].b,
                                sl->rows[r].i, sl->hy + r * m->nout);
        }
        if (!sl->error)
            model_metrics_run(c, sl->on_gpu, weir_now_ns() - sl->launch_ns, sl->nrows);
        if (sl->error && sl->on_gpu)
            switch_to_cpu(gpu, sl->error);
        for (size_t k = 0; k < sl->ndone; k++)
            weir_op_emit(gpu->op, sl->done[k]);
        version_put(c, sl->ver);
        sl->ver = NULL;
        sl->nrows = sl->ndone = 0;
        sl->error = NULL;
        sl->state = SLOT_FREE;
        gpu->head = (gpu->head + 1) % GPU_SLOTS;
        gpu->count--;
        freed++;
    }
    if (freed && gpu->op->busy)
        weir_op_busy(gpu->op, 0);
    return freed;
}

/* The slot being filled, or a fresh one; NULL while every slot is in flight. */
static struct gpu_slot *filling(struct model_gpu *gpu)
{
    const struct model_conf *c = gpu->op->conf;
    if (gpu->count) {
        struct gpu_slot *tail = &gpu->slot[(gpu->head + gpu->count - 1) % GPU_SLOTS];
        if (tail->state == SLOT_FILLING)
            return tail;
    }
    if (gpu->count == GPU_SLOTS)
        return NULL;
    struct gpu_slot *sl = &gpu->slot[(gpu->head + gpu->count) % GPU_SLOTS];
    sl->ver = version_current(gpu, c);
    sl->ver->uses++;
    if (!gpu->on_cpu && sl->ver->g && slot_scratch(sl, c) < 0)
        switch_to_cpu(gpu, weir_cuda_error());
    sl->state = SLOT_FILLING;
    gpu->count++;
    return sl;
}

/* Gathers pending batches into slots and launches full ones; returns
 * whether anything moved. */
static int pump(struct model_gpu *gpu)
{
    const struct model_conf *c = gpu->op->conf;
    size_t max = (size_t)c->max_records;
    int moved = 0;
    while (gpu->npending) {
        struct gpu_slot *sl = filling(gpu);
        if (!sl) {
            if (!gpu->op->busy)
                weir_op_busy(gpu->op, 1);
            return moved;
        }
        struct weir_batch *b = gpu->pending[gpu->phead];
        const struct weir_model *m = sl->ver->ref->m;
        while (gpu->cursor < b->n && sl->nrows < max) {
            uint32_t i = gpu->cursor++;
            if (weir_record_live(&b->rec[i]) &&
                model_gather_row(c, m, b, i, sl->hx + sl->nrows * m->nin) == 0)
                sl->rows[sl->nrows++] = (struct slot){b, i};
        }
        if (gpu->cursor == b->n) {
            sl->done[sl->ndone++] = b;
            gpu->phead = (gpu->phead + 1) % gpu->pcap;
            gpu->npending--;
            gpu->cursor = 0;
        }
        if (sl->nrows == max || sl->ndone == sl->done_cap)
            launch(gpu, sl);
        moved = 1;
    }
    if (gpu->force) {
        gpu->force = 0;
        struct gpu_slot *tail = gpu->count ? &gpu->slot[(gpu->head + gpu->count - 1) % GPU_SLOTS]
                                           : NULL;
        if (tail && tail->state == SLOT_FILLING) {
            launch(gpu, tail);
            moved = 1;
        }
    }
    return moved;
}

/* A failed stream may never run its host function: the oldest slot's
 * stream is asked directly, and a failure finishes the slot with it. */
static void check_oldest(struct model_gpu *gpu)
{
    struct gpu_slot *sl = &gpu->slot[gpu->head];
    if (gpu->count && sl->state == SLOT_FLIGHT && sl->on_gpu &&
        !atomic_load_explicit(&sl->finished, memory_order_acquire) &&
        weir_cuda_stream_query(sl->stream) < 0) {
        sl->error = fail_reason(gpu, weir_cuda_error());
        atomic_store_explicit(&sl->finished, 1, memory_order_release);
    }
}

static void progress(struct model_gpu *gpu)
{
    check_oldest(gpu);
    while (pump(gpu) | drain(gpu))
        check_oldest(gpu);
}

/* After a device fault a stream's host function may never come; with
 * every slot in flight the sources are paused and nothing else would run
 * the operator to look. So while any slot is in flight the oldest stream is
 * asked every 100 ms, on a timer of its own: max_delay_ms's deadline and
 * batching are not touched. */
static void arm_watch(struct model_gpu *gpu)
{
    struct weir_op *op = gpu->op;
    struct model_state *s = op->state;
    if (s->watch.armed)
        return;
    for (unsigned k = 0; k < gpu->count; k++)
        if (gpu->slot[(gpu->head + k) % GPU_SLOTS].state == SLOT_FLIGHT) {
            weir_op_timer_processing(op, &s->watch, 100);
            return;
        }
}

static void on_eventfd(struct weir_event *ev, int res)
{
    struct model_gpu *gpu = (struct model_gpu *)((char *)ev - offsetof(struct model_gpu, ev));
    uint64_t v;
    gpu->polling = 0;
    if (read(gpu->efd, &v, sizeof v) < 0) {
        /* EAGAIN: already read; the slots' flags are the truth */
    }
    progress(gpu);
    for (unsigned k = 0; k < gpu->count; k++)
        if (gpu->slot[(gpu->head + k) % GPU_SLOTS].state == SLOT_FLIGHT) {
            arm_poll(gpu);
            break;
        }
    arm_watch(gpu);
}

static int push_pending(struct model_gpu *gpu, struct weir_batch *b)
{
    if (gpu->npending == gpu->pcap) {
        size_t cap = gpu->pcap ? gpu->pcap * 2 : 16;
        struct weir_batch **p = malloc(cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        for (size_t k = 0; k < gpu->npending; k++)
            p[k] = gpu->pending[(gpu->phead + k) % gpu->pcap];
        free(gpu->pending);
        gpu->pending = p;
        gpu->pcap = cap;
        gpu->phead = 0;
    }
    gpu->pending[(gpu->phead + gpu->npending++) % gpu->pcap] = b;
    return 0;
}

int model_gpu_process(struct weir_op *op, struct weir_batch *b)
{
    const struct model_conf *c = op->conf;
    struct model_state *s = op->state;
    struct model_gpu *gpu = s->gpu;
    if (push_pending(gpu, b) < 0)
        return -ENOMEM;
    if (c->max_delay_ms == 0)
        gpu->force = 1;
    progress(gpu);
    /* A partly filled slot waits for max_delay_ms at most. */
    if (c->max_delay_ms > 0 && gpu->count && !s->timer.armed &&
        gpu->slot[(gpu->head + gpu->count - 1) % GPU_SLOTS].state == SLOT_FILLING &&
        weir_op_timer_processing(op, &s->timer, (uint64_t)c->max_delay_ms) < 0) {
        gpu->force = 1;
        progress(gpu);
    }
    arm_watch(gpu);
    return WEIR_OP_HELD;
}

void model_gpu_on_timer(struct weir_op *op)
{
    struct model_state *s = op->state;
    struct model_gpu *gpu = s->gpu;
    gpu->force = 1;
    progress(gpu);
    arm_watch(gpu);
}

void model_gpu_on_watch(struct weir_op *op)
{
    struct model_gpu *gpu = ((struct model_state *)op->state)->gpu;
    progress(gpu); /* no force: a filling slot keeps its max_delay_ms */
    arm_watch(gpu);
}

void model_gpu_flush(struct weir_op *op)
{
    model_gpu_on_timer(op); /* the rest arrives through the eventfd */
}

int model_gpu_simulated(void)
{
    return getenv("WEIR_MODEL_GPU_ON_CPU") != NULL;
}

static int slot_init(struct gpu_slot *sl, const struct model_conf *c, struct model_gpu *gpu)
{
    size_t n = (size_t)c->max_records;
    sl->gpu = gpu;
    sl->done_cap = 64;
    sl->rows = malloc(n * sizeof *sl->rows);
    sl->done = malloc(sl->done_cap * sizeof *sl->done);
    if (gpu->on_cpu) { /* simulated: no device */
        sl->hx_malloc = 1;
        sl->hx = malloc(n * c->nin * 4);
        sl->hy = malloc(n * c->nout * 4);
        return sl->rows && sl->done && sl->hx && sl->hy ? 0 : -1;
    }
    sl->hx = weir_cuda_host_alloc(n * c->nin * 4);
    sl->hy = weir_cuda_host_alloc(n * c->nout * 4);
    sl->dx = weir_cuda_malloc(n * c->nin * 4);
    sl->dy = weir_cuda_malloc(n * c->nout * 4);
    sl->stream = weir_cuda_stream_new();
    return sl->rows && sl->done && sl->hx && sl->hy && sl->dx && sl->dy && sl->stream ? 0 : -1;
}

int model_gpu_init(struct weir_op *op)
{
    const struct model_conf *c = op->conf;
    struct model_state *s = op->state;
    char why[256];
    struct model_gpu *gpu = calloc(1, sizeof *gpu);
    if (!gpu) {
        fprintf(stderr, "weir: %s: model version %s: out of memory for the GPU path; the model "
                "runs on the CPU\n", c->where, c->version);
        return -1;
    }
    s->gpu = gpu;
    gpu->op = op;
    gpu->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    gpu->on_cpu = model_gpu_simulated();
    why[0] = 0;
    int ok = gpu->efd >= 0 && (gpu->on_cpu || weir_cuda_available(why, sizeof why) > 0);
    if (ok)
        why[0] = 0; /* a later failure: the CUDA error says why */
    for (int k = 0; ok && k < GPU_SLOTS; k++)
        ok = slot_init(&gpu->slot[k], c, gpu) == 0;
    if (ok && !(gpu->cur = version_current(gpu, c)))
        ok = 0;
    if (!ok) {
        fprintf(stderr,
                "weir: %s: model version %s: the GPU path could not start (%s); the model "
                "runs on the CPU\n",
                c->where, c->version,
                gpu->efd < 0 ? strerror(errno)
                : why[0]     ? why
                             : weir_cuda_error());
        return -1;
    }
    return 0;
}

void model_gpu_destroy(struct weir_op *op)
{
    const struct model_conf *c = op->conf;
    struct model_state *s = op->state;
    struct model_gpu *gpu = s->gpu;
    if (!gpu)
        return;
    for (int k = 0; k < GPU_SLOTS; k++) {
        struct gpu_slot *sl = &gpu->slot[k];
        if (sl->stream)
            weir_cuda_stream_sync(sl->stream); /* its host function must not fire later */
        weir_cuda_stream_free(sl->stream);
        for (size_t j = 0; j < sl->ndone; j++) /* a run that failed never flushed them */
            weir_batch_put(sl->done[j]);
        if (sl->hx_malloc) {
            free(sl->hx);
            free(sl->hy);
        } else {
            weir_cuda_host_free(sl->hx);
            weir_cuda_host_free(sl->hy);
        }
        weir_cuda_free(sl->dx);
        weir_cuda_free(sl->dy);
        weir_cuda_free(sl->dscratch);
        free(sl->rows);
        free(sl->done);
        if (sl->ver)
            version_put(c, sl->ver);
    }
    version_put(c, gpu->cur);
    if (gpu->efd >= 0)
        close(gpu->efd);
    for (size_t k = 0; k < gpu->npending; k++)
        weir_batch_put(gpu->pending[(gpu->phead + k) % gpu->pcap]);
    free(gpu->pending);
    free(gpu->cpu_scratch);
    free(gpu);
    s->gpu = NULL;
}
