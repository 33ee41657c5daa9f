/* The io_uring loop: timers fire in order, eventfd polls wake it, reads and
 * writes complete with their byte counts, cancel reaches a pending poll,
 * and before-sleep hooks run. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
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
    test_hook_and_many(loop);
    weir_loop_free(loop);
    return check_summary();
}
