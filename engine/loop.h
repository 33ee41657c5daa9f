/* The event loop: one io_uring per worker thread, completion-based.
 *
 * Everything the loop wakes on embeds a struct weir_event and the loop calls
 * its done() with the completion's result (bytes, poll mask, or a negative
 * errno). Timers, the Kafka queue eventfd, GPU completions, file reads and
 * writes and later sockets all go through the same path, so the loop itself
 * stays small and knows nothing about what it drives. */
#ifndef WEIR_LOOP_H
#define WEIR_LOOP_H

#include <linux/time_types.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine/error.h"

struct weir_loop;

struct weir_event {
    void (*done)(struct weir_event *ev, int res); /* res: bytes/poll mask, or -errno */
    struct __kernel_timespec ts;                   /* timers keep their timeout here */
};

/* A deferred-work hook, run before the loop sleeps (flush partial batches,
 * poll producers for delivery reports, store offsets). */
struct weir_loop_hook {
    void (*run)(struct weir_loop_hook *hook);
    struct weir_loop_hook *next;
};

/* entries: submission queue size. Probes io_uring and says which kernel
 * feature is missing when it cannot start. */
int weir_loop_new(struct weir_loop **out, unsigned entries, struct weir_error *err);
void weir_loop_free(struct weir_loop *loop);

/* Each submission arms one completion for ev. ev must stay alive (and not be
 * re-armed) until its done() has been called. */
int weir_loop_poll(struct weir_loop *loop, int fd, unsigned poll_mask, struct weir_event *ev);
int weir_loop_timer(struct weir_loop *loop, uint64_t delay_ns, struct weir_event *ev);
int weir_loop_read(struct weir_loop *loop, int fd, void *buf, size_t len, off_t off,
                   struct weir_event *ev);
int weir_loop_write(struct weir_loop *loop, int fd, const void *buf, size_t len, off_t off,
                    struct weir_event *ev);
/* ev's done() runs (with 0) on the loop's next turn, which dispatches the
 * completions ready by then too: a long producer gives way to them and
 * goes on from done() (see connectors/file_source.c). */
int weir_loop_yield(struct weir_loop *loop, struct weir_event *ev);
/* Cancels the pending submission of ev; its done() still runs (with -ECANCELED
 * or its natural result). */
int weir_loop_cancel(struct weir_loop *loop, struct weir_event *ev);

void weir_loop_add_hook(struct weir_loop *loop, struct weir_loop_hook *hook);

/* Runs until weir_loop_stop() or until nothing is pending. Returns 0 or a
 * negative errno from io_uring itself. */
int weir_loop_run(struct weir_loop *loop);
/* Submits, waits for at least one completion (or none when nowait), and
 * dispatches all that are ready. Returns the number dispatched or -errno. */
int weir_loop_step(struct weir_loop *loop, int nowait);
void weir_loop_stop(struct weir_loop *loop);
unsigned weir_loop_pending(const struct weir_loop *loop);
/* Before the owners of pending events free them and their buffers: cancels
 * everything in flight and waits, at most limit_ns, until the kernel is done
 * with all of it, dispatching nothing (no done() runs). A write still in
 * flight when its sink freed its buffer copied freed memory into the file; a
 * read wrote into freed memory. Returns how many are still pending (0: none
 * can touch memory any more). The loop is for freeing after this. */
unsigned weir_loop_cancel_all(struct weir_loop *loop, uint64_t limit_ns);

/* Monotonic clock in nanoseconds. */
uint64_t weir_now_ns(void);
/* Wall clock in milliseconds since the epoch (processing time). */
int64_t weir_wall_ms(void);

#endif
