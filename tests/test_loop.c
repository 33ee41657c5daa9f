/* The io_uring loop: timers fire in order, eventfd polls wake it, reads and
 * writes complete with their byte counts, cancel reaches a pending poll, a
 * yield completes on the next turn, before-sleep hooks run, no wake-up
 * is lost when other threads signal an eventfd the way librdkafka's queues
 * do, and cancel_all leaves nothing in flight for teardown. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "engine/loop.h"
#include "tests/check.h"

struct probe {
    struct weir_event ev;
    int res;
    int calls;
    int order;
};

static int next_order;

static void on_done(struct weir_event *ev, int res)
{
    struct probe *p = (struct probe *)ev;
    p->res = res;
    p->calls++;
    p->order = ++next_order;
}

static void test_timers(struct weir_loop *loop)
{
    struct probe slow = {.ev.done = on_done}, fast = {.ev.done = on_done};
    uint64_t t0 = weir_now_ns();
    CHECK(weir_loop_timer(loop, 20 * 1000000ull, &slow.ev) == 0);
    CHECK(weir_loop_timer(loop, 2 * 1000000ull, &fast.ev) == 0);
    CHECK(weir_loop_pending(loop) == 2);
    CHECK(weir_loop_run(loop) == 0);
    CHECK(slow.calls == 1 && fast.calls == 1);
    CHECK(fast.order < slow.order);
    CHECK(slow.res == -ETIME);
    CHECK(weir_now_ns() - t0 >= 20 * 1000000ull); /* never early */
    CHECK(weir_loop_pending(loop) == 0);
}

static void test_eventfd(struct weir_loop *loop)
{
    int fd = eventfd(0, EFD_NONBLOCK);
    struct probe p = {.ev.done = on_done};
    CHECK(weir_loop_poll(loop, fd, POLLIN, &p.ev) == 0);
    CHECK(weir_loop_step(loop, 1) == 0); /* nothing ready yet */
    CHECK(p.calls == 0);
    uint64_t one = 1;
    CHECK(write(fd, &one, sizeof one) == 8);
    CHECK(weir_loop_run(loop) == 0);
    CHECK(p.calls == 1 && (p.res & POLLIN));
    close(fd);
}

static void test_file_io(struct weir_loop *loop)
{
    char path[] = "/tmp/weir-loop-XXXXXX";
    int fd = mkstemp(path);
    struct probe w = {.ev.done = on_done}, r = {.ev.done = on_done};
    const char text[] = "hello, ring\n";
    CHECK(weir_loop_write(loop, fd, text, sizeof text - 1, 0, &w.ev) == 0);
    CHECK(weir_loop_run(loop) == 0);
    CHECK(w.res == (int)sizeof text - 1);
    char buf[64] = {0};
    CHECK(weir_loop_read(loop, fd, buf, sizeof buf, 0, &r.ev) == 0);
    CHECK(weir_loop_run(loop) == 0);
    CHECK(r.res == (int)sizeof text - 1);
    CHECK_STR(buf, text);
    /* A bad descriptor is a negative errno in the completion, not a crash. */
    CHECK(weir_loop_read(loop, 9999, buf, sizeof buf, 0, &r.ev) == 0);
    CHECK(weir_loop_run(loop) == 0);
    CHECK(r.res == -EBADF);
    close(fd);
    unlink(path);
}

static void test_cancel(struct weir_loop *loop)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    struct probe p = {.ev.done = on_done};
    CHECK(weir_loop_poll(loop, fds[0], POLLIN, &p.ev) == 0);
    CHECK(weir_loop_step(loop, 1) == 0);
    CHECK(weir_loop_cancel(loop, &p.ev) == 0);
    CHECK(weir_loop_run(loop) == 0);
    CHECK(p.calls == 1 && p.res == -ECANCELED);
    close(fds[0]);
    close(fds[1]);
}

/* A yield completes, with 0, on the next turn, and only then. */
static void test_yield(struct weir_loop *loop)
{
    struct probe y = {.ev.done = on_done};
    CHECK(weir_loop_yield(loop, &y.ev) == 0);
    CHECK(weir_loop_pending(loop) == 1 && y.calls == 0);
    CHECK(weir_loop_step(loop, 0) == 1);
    CHECK(y.calls == 1 && y.res == 0);
    CHECK(weir_loop_pending(loop) == 0);
}

static int hook_runs;
static void count_hook(struct weir_loop_hook *h)
{
    (void)h;
    hook_runs++;
}

static void test_hook_and_many(struct weir_loop *loop)
{
    struct weir_loop_hook hook = {.run = count_hook};
    weir_loop_add_hook(loop, &hook);
    /* More submissions than the ring has entries: the loop submits and retries. */
    enum { N = 600 };
    struct probe *ps = calloc(N, sizeof *ps);
    for (int i = 0; i < N; i++) {
        ps[i].ev.done = on_done;
        CHECK(weir_loop_timer(loop, 1000, &ps[i].ev) == 0);
    }
    CHECK(weir_loop_run(loop) == 0);
    int all = 1;
    for (int i = 0; i < N; i++)
        all &= ps[i].calls == 1;
    CHECK(all);
    CHECK(hook_runs > 0);
    free(ps);
}

/* librdkafka's queue wake-up, modelled: a producer thread enqueues and writes
 * the eventfd only when the queue goes from empty to non-empty and no wake-up
 * was sent since the reader last served it; the reader (the loop's thread)
 * serves both from the poll's completion (read the eventfd, take everything,
 * re-arm) and, like the Kafka sink's flush(), before each loop step. A lost
 * wake-up leaves the loop waiting with items queued: the guard timer then
 * ends the test. */
struct wq {
    pthread_mutex_t lock;
    uint64_t len;       /* queued, not yet served */
    int sent;           /* a wake-up was written since the last serve */
    int efd;
    uint64_t total;     /* items the producer will enqueue */
    uint64_t served;    /* the loop thread's */
    unsigned wakeups;   /* poll completions */
    struct weir_event poll_ev, guard_ev;
    struct weir_loop *loop;
    int timed_out;
};

static void *wq_producer(void *arg)
{
    struct wq *q = arg;
    unsigned seed = 7;
    for (uint64_t i = 0; i < q->total; i++) {
        pthread_mutex_lock(&q->lock);
        if (++q->len == 1 && !q->sent) {
            uint64_t one = 1;
            q->sent = 1;
            if (write(q->efd, &one, sizeof one) != sizeof one)
                abort();
        }
        pthread_mutex_unlock(&q->lock);
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 8 == 0)
            usleep((seed >> 8) % 200); /* bursts and gaps, so the loop sleeps often */
    }
    return NULL;
}

static void wq_serve(struct wq *q)
{
    pthread_mutex_lock(&q->lock);
    q->served += q->len;
    q->len = 0;
    q->sent = 0;
    pthread_mutex_unlock(&q->lock);
}

static void wq_on_poll(struct weir_event *ev, int res)
{
    struct wq *q = (struct wq *)((char *)ev - offsetof(struct wq, poll_ev));
    uint64_t v;
    if (read(q->efd, &v, sizeof v) < 0) {
        /* nothing to read: another serve took it */
    }
    q->wakeups++;
    wq_serve(q);
    if (q->served < q->total)
        weir_loop_poll(q->loop, q->efd, POLLIN, &q->poll_ev);
}

static void wq_on_guard(struct weir_event *ev, int res)
{
    struct wq *q = (struct wq *)((char *)ev - offsetof(struct wq, guard_ev));
    q->timed_out = res == -ETIME;
}

static void test_no_lost_wakeups(void)
{
    struct weir_loop *loop;
    struct weir_error err = {0};
    CHECK(weir_loop_new(&loop, 64, &err) == 0);
    struct wq q = {.total = 50000, .loop = loop};
    pthread_mutex_init(&q.lock, NULL);
    q.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q.poll_ev.done = wq_on_poll;
    q.guard_ev.done = wq_on_guard;
    CHECK(weir_loop_poll(loop, q.efd, POLLIN, &q.poll_ev) == 0);
    CHECK(weir_loop_timer(loop, 10ull * 1000000000ull, &q.guard_ev) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, wq_producer, &q) == 0);
    unsigned turns = 0;
    while (q.served < q.total && !q.timed_out) {
        if (++turns % 2)
            wq_serve(&q); /* served outside the completion, as flush() does */
        if (q.served < q.total && weir_loop_step(loop, 0) < 0)
            break;
    }
    pthread_join(t, NULL);
    CHECK(!q.timed_out);
    CHECK(q.served == q.total);
    CHECK(q.wakeups > 100); /* the loop did sleep and wake, many times */
    if (q.timed_out)
        fprintf(stderr, "lost wake-up: %llu of %llu served, %llu queued\n",
                (unsigned long long)q.served, (unsigned long long)q.total, (unsigned long long)q.len);
    weir_loop_cancel(loop, &q.guard_ev);
    if (q.served < q.total)
        weir_loop_cancel(loop, &q.poll_ev);
    CHECK(weir_loop_run(loop) == 0); /* the cancelled guard (and poll) complete */
    close(q.efd);
    pthread_mutex_destroy(&q.lock);
    weir_loop_free(loop);
}

/* Teardown: a read waiting on an empty pipe, a write waiting on a full one
 * and a long timer are all cancelled and done with before it returns,
 * none dispatched; the read took nothing and the write wrote nothing; a
 * write queued after the last turn never runs. */
static void test_cancel_all(void)
{
    struct weir_loop *loop;
    struct weir_error err = {0};
    CHECK(weir_loop_new(&loop, 16, &err) == 0);
    int rd[2], wr[2];
    CHECK(pipe(rd) == 0 && pipe(wr) == 0);
    int fl = fcntl(wr[1], F_GETFL);
    CHECK(fcntl(wr[1], F_SETFL, fl | O_NONBLOCK) == 0);
    static char fill[4096];
    memset(fill, 'f', sizeof fill);
    while (write(wr[1], fill, sizeof fill) > 0) {
    }
    CHECK(fcntl(wr[1], F_SETFL, fl) == 0);
    static char in[16], out[64];
    char c = 0;
    memset(out, 'Q', sizeof out);
    struct probe r = {.ev.done = on_done}, w = {.ev.done = on_done}, t = {.ev.done = on_done};
    CHECK(weir_loop_read(loop, rd[0], in, sizeof in, (off_t)-1, &r.ev) == 0);
    CHECK(weir_loop_write(loop, wr[1], out, sizeof out, (off_t)-1, &w.ev) == 0);
    CHECK(weir_loop_timer(loop, 60ull * 1000000000ull, &t.ev) == 0);
    CHECK(weir_loop_step(loop, 1) == 0);
    int late[2]; /* a write queued after the last turn: never submitted */
    CHECK(pipe(late) == 0);
    struct probe q = {.ev.done = on_done};
    CHECK(weir_loop_write(loop, late[1], "Z", 1, (off_t)-1, &q.ev) == 0);
    CHECK(weir_loop_pending(loop) == 4);
    CHECK(weir_loop_cancel_all(loop, 5ull * 1000000000ull) == 0);
    CHECK(r.calls == 0 && w.calls == 0 && t.calls == 0 && q.calls == 0);
    CHECK(fcntl(late[0], F_SETFL, O_NONBLOCK) == 0);
    CHECK(read(late[0], &c, 1) < 0 && errno == EAGAIN);
    close(late[0]);
    close(late[1]);
    CHECK(write(rd[1], "x", 1) == 1);
    CHECK(read(rd[0], &c, 1) == 1 && c == 'x');
    CHECK(fcntl(wr[0], F_SETFL, fcntl(wr[0], F_GETFL) | O_NONBLOCK) == 0);
    int saw_q = 0;
    ssize_t n;
    while ((n = read(wr[0], fill, sizeof fill)) > 0)
        saw_q |= memchr(fill, 'Q', (size_t)n) != NULL;
    CHECK(!saw_q);
    for (int k = 0; k < 2; k++) {
        close(rd[k]);
        close(wr[k]);
    }
    weir_loop_free(loop);
}

int main(void)
{
    struct weir_loop *loop;
    struct weir_error err = {0};
    if (weir_loop_new(&loop, 64, &err) < 0) {
        fprintf(stderr, "skipped: %s\n", err.msg);
        return 77;
    }
    test_timers(loop);
    test_eventfd(loop);
    test_file_io(loop);
    test_cancel(loop);
    test_yield(loop);
    test_hook_and_many(loop);
    test_no_lost_wakeups();
    test_cancel_all();
    weir_loop_free(loop);
    return check_summary();
}
