/* The io_uring event loop (see loop.h). Kept small on purpose, like Redis's
 * ae.c: submit, wait, dispatch each completion to its event's done(), run the
 * before-sleep hooks. */
#include "engine/loop.h"

#include <errno.h>
#include <liburing.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define WEIR_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef WEIR_UNDER_VALGRIND
#define WEIR_UNDER_VALGRIND() 0
#endif

struct weir_loop {
    struct io_uring ring;
    unsigned pending;  /* submissions whose completion has not been dispatched */
    int stopping;
    int take_turns; /* under valgrind: see wait_one */
    struct weir_loop_hook *hooks;
};

uint64_t weir_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t weir_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ring_init(struct io_uring *ring, unsigned entries, struct weir_error *err)
{
    /* One ring per thread: SINGLE_ISSUER|DEFER_TASKRUN (kernel >= 6.1) avoids
     * cross-thread task work; fall back to a plain ring on older kernels. */
    int rc = io_uring_queue_init(entries, ring,
                                 IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (rc == -EINVAL)
        rc = io_uring_queue_init(entries, ring, 0);
    if (rc == -ENOSYS || rc == -EPERM)
        return weir_error_set(err, rc,
                              "io_uring is not available (%s): weir needs Linux >= 5.19 with "
                              "io_uring enabled (sysctl kernel.io_uring_disabled=0; containers "
                              "may block it with seccomp)",
                              strerror(-rc));
    if (rc < 0)
        return weir_error_set(err, rc, "io_uring_queue_init: %s", strerror(-rc));
    return 0;
}

static int probe_ops(struct io_uring *ring, struct weir_error *err)
{
    static const struct { int op; const char *name; } needed[] = {
        {IORING_OP_POLL_ADD, "IORING_OP_POLL_ADD"}, {IORING_OP_TIMEOUT, "IORING_OP_TIMEOUT"},
        {IORING_OP_READ, "IORING_OP_READ"},         {IORING_OP_WRITE, "IORING_OP_WRITE"},
        {IORING_OP_ASYNC_CANCEL, "IORING_OP_ASYNC_CANCEL"},
    };
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (!probe)
        return 0; /* very old kernels lack the probe; the ops will fail loudly */
    int rc = 0;
    for (size_t i = 0; i < sizeof needed / sizeof needed[0] && rc == 0; i++)
        if (!io_uring_opcode_supported(probe, needed[i].op))
            rc = weir_error_set(err, -ENOTSUP,
                                "this kernel's io_uring lacks %s (needs Linux >= 5.6)",
                                needed[i].name);
    io_uring_free_probe(probe);
    return rc;
}

int weir_loop_new(struct weir_loop **out, unsigned entries, struct weir_error *err)
{
    struct weir_loop *loop = calloc(1, sizeof *loop);
    if (!loop)
        return weir_error_set(err, -ENOMEM, "out of memory");
    int rc = ring_init(&loop->ring, entries ? entries : 256, err);
    if (rc < 0)
        goto fail;
    rc = probe_ops(&loop->ring, err);
    if (rc < 0) {
        io_uring_queue_exit(&loop->ring);
        goto fail;
    }
    loop->take_turns = WEIR_UNDER_VALGRIND();
    *out = loop;
    return 0;
fail:
    free(loop);
    return rc;
}

void weir_loop_free(struct weir_loop *loop)
{
    if (!loop)
        return;
    io_uring_queue_exit(&loop->ring);
    free(loop);
}

/* Submission queue full: submit what is queued and try again (liburing's advice). */
static struct io_uring_sqe *get_sqe(struct weir_loop *loop)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);
    if (!sqe) {
        io_uring_submit(&loop->ring);
        sqe = io_uring_get_sqe(&loop->ring);
    }
    if (sqe)
        loop->pending++;
    return sqe;
}

int weir_loop_poll(struct weir_loop *loop, int fd, unsigned poll_mask, struct weir_event *ev)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_poll_add(sqe, fd, poll_mask);
    io_uring_sqe_set_data(sqe, ev);
    return 0;
}

int weir_loop_timer(struct weir_loop *loop, uint64_t delay_ns, struct weir_event *ev)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    ev->ts.tv_sec = (long long)(delay_ns / 1000000000ull);
    ev->ts.tv_nsec = (long long)(delay_ns % 1000000000ull);
    io_uring_prep_timeout(sqe, &ev->ts, 0, 0);
    io_uring_sqe_set_data(sqe, ev);
    return 0;
}

int weir_loop_read(struct weir_loop *loop, int fd, void *buf, size_t len, off_t off,
                   struct weir_event *ev)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_read(sqe, fd, buf, (unsigned)len, (__u64)off);
    io_uring_sqe_set_data(sqe, ev);
    return 0;
}

int weir_loop_write(struct weir_loop *loop, int fd, const void *buf, size_t len, off_t off,
                    struct weir_event *ev)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_write(sqe, fd, buf, (unsigned)len, (__u64)off);
    io_uring_sqe_set_data(sqe, ev);
    return 0;
}

int weir_loop_yield(struct weir_loop *loop, struct weir_event *ev)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, ev);
    return 0;
}

/* The cancel request's own completion carries no event: its user_data is 0. */
int weir_loop_cancel(struct weir_loop *loop, struct weir_event *ev)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_cancel(sqe, ev, 0);
    io_uring_sqe_set_data(sqe, NULL);
    return 0;
}

void weir_loop_add_hook(struct weir_loop *loop, struct weir_loop_hook *hook)
{
    hook->next = loop->hooks;
    loop->hooks = hook;
}

static void run_hooks(struct weir_loop *loop)
{
    for (struct weir_loop_hook *h = loop->hooks; h; h = h->next)
        h->run(h);
}

static int dispatch_ready(struct weir_loop *loop)
{
    struct io_uring_cqe *cqes[64];
    int total = 0;
    unsigned n;
    while ((n = io_uring_peek_batch_cqe(&loop->ring, cqes, 64)) > 0) {
        for (unsigned i = 0; i < n; i++) {
            struct weir_event *ev = io_uring_cqe_get_data(cqes[i]);
            int res = cqes[i]->res;
            io_uring_cqe_seen(&loop->ring, cqes[i]);
            loop->pending--;
            if (ev)
                ev->done(ev, res);
            total++;
        }
    }
    return total;
}

/* Submits and waits for a completion. Valgrind runs one thread at a time
 * and (3.19 at least) does not count io_uring_enter as a call that may
 * block, so a loop thread waiting in it would keep every other thread (the
 * gzip helper, librdkafka's) from running, and so from ever completing what
 * it waits for: a run hung with no CPU used. Under valgrind the loop waits
 * 1 ms at a time and yields between (sched_yield lets the others run). */
static int wait_one(struct weir_loop *loop)
{
    if (!loop->take_turns)
        return io_uring_submit_and_wait(&loop->ring, 1);
    struct io_uring_cqe *cqe;
    struct __kernel_timespec turn = {.tv_sec = 0, .tv_nsec = 1000000};
    int rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &turn, NULL);
    if (rc == -ETIME) {
        sched_yield();
        rc = 0;
    }
    return rc;
}

int weir_loop_step(struct weir_loop *loop, int nowait)
{
    run_hooks(loop);
    int rc = nowait || loop->pending == 0 ? io_uring_submit(&loop->ring) : wait_one(loop);
    if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        return rc;
    if (nowait || loop->pending == 0) {
        /* DEFER_TASKRUN runs completions only when we enter the kernel. */
        io_uring_get_events(&loop->ring);
    }
    return dispatch_ready(loop);
}

int weir_loop_run(struct weir_loop *loop)
{
    loop->stopping = 0;
    while (!loop->stopping && loop->pending > 0) {
        int rc = weir_loop_step(loop, 0);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void weir_loop_stop(struct weir_loop *loop)
{
    loop->stopping = 1;
}

unsigned weir_loop_pending(const struct weir_loop *loop)
{
    return loop->pending;
}

/* Takes every completion ready now off the ring, dispatching none. */
static void discard_ready(struct weir_loop *loop)
{
    struct io_uring_cqe *cqe;
    while (io_uring_peek_cqe(&loop->ring, &cqe) == 0) {
        io_uring_cqe_seen(&loop->ring, cqe);
        loop->pending--;
    }
}

/* Queued and never taken by the kernel (a done() of the last turn queued
 * them, or a submit that failed left them): they were never to run, so
 * they complete as no-ops instead of starting now; a write into a file
 * completes before a cancel can reach it. Without SQPOLL the kernel reads
 * the queue only inside io_uring_enter, on this thread. */
static void nop_unsubmitted(struct weir_loop *loop)
{
    struct io_uring_sq *sq = &loop->ring.sq;
    for (unsigned i = io_uring_smp_load_acquire(sq->khead); i != sq->sqe_tail; i++) {
        struct io_uring_sqe *queued = &sq->sqes[i & sq->ring_mask];
        __u64 data = queued->user_data;
        io_uring_prep_nop(queued);
        queued->user_data = data;
    }
}

static int queue_cancel_all(struct weir_loop *loop)
{
    struct io_uring_sqe *sqe = get_sqe(loop);
    if (!sqe)
        return 0;
    io_uring_prep_cancel(sqe, NULL, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data(sqe, NULL);
    return 1;
}

unsigned weir_loop_cancel_all(struct weir_loop *loop, uint64_t limit_ns)
{
    if (loop->pending == 0)
        return 0;
    nop_unsubmitted(loop);
    int cancel_queued = 0;
    uint64_t end = weir_now_ns() + limit_ns;
    while (loop->pending > 0) {
        uint64_t now = weir_now_ns();
        if (now >= end)
            break;
        if (!cancel_queued) /* no room at first: the enter below makes some */
            cancel_queued = queue_cancel_all(loop);
        struct __kernel_timespec left = {.tv_sec = (long long)((end - now) / 1000000000u),
                                         .tv_nsec = (long long)((end - now) % 1000000000u)};
        struct io_uring_cqe *cqe;
        int rc = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &left, NULL);
        if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            break;
        discard_ready(loop);
    }
    return loop->pending;
}
