/* The file and stdout sink: one JSON line per record, written through the
 * worker's io_uring. Output is double-buffered: records are formatted into
 * the filling buffer while the other one is being written, in parts of at
 * most WRITE_MAX (into a regular file, WRITE_MAX_FILE); a batch's ticket
 * is released when the part that ends its lines is written. Over the buffer
 * limit the sink reports busy and the source pauses instead of buffering
 * without bound. The dead-letter file sink is this type with when = dead.
 *
 * Several workers writing one sink (a file, stdout) would interleave their
 * writes: into a pipe only writes up to PIPE_BUF (4096 bytes) are atomic,
 * and a short write cuts a line in two. So a run with several workers gives
 * each such sink one writer thread (share()): the workers hand it chunks of
 * whole lines through a queue, it writes each chunk whole (the rest of a
 * short write before anything else), and each chunk goes back to its
 * worker's loop through that worker's eventfd, where its tickets are
 * released. The writer waits on the file, never a loop; over the buffer
 * limit a worker's sink reports busy as before.
 *
 * A pipe whose reader went away (`weir run ... | head`) ends the run, not as
 * a failure: the worker stops with -EPIPE, which the run reports as a clean
 * stop. Nothing written from then on is acknowledged, so a Kafka source
 * commits nothing past the first record this sink could not write. SIGPIPE is
 * ignored (engine/main.c): the write returns EPIPE instead of killing us. */
#include "connectors/file_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "engine/buf.h"
#include "engine/loop.h"
#include "engine/output.h"
#include "engine/paths.h"
#include "engine/worker.h"

#define FLUSH_AT (256u * 1024u)    /* start a write once this much is buffered */
/* At most this much per write: a buffer fills up to max_buffered_bytes (8 MiB)
 * while the other is written, and its tickets used to be released only when
 * all of it was. Into a slow pipe that took many seconds: lines the reader had
 * long taken stayed unacknowledged, and a Kafka source whose partitions were
 * revoked meanwhile committed none of them (issue 8, tests/test_kafka_revoke_drain.sh:
 * 28,392 of 31,784 records the reader had taken before the revocation ended
 * were read again by the next owner; 0 now). Each part written releases the
 * tickets whose lines it completed. Into a regular file one write per loop
 * turn of all that is buffered (up to WRITE_MAX_FILE) keeps up with the
 * worker, where 256 KiB parts, one per turn, fell behind it (write_max_for
 * below). */
#define WRITE_MAX FLUSH_AT

/* Writes into a regular file never wait for a reader: the page cache takes
 * them, on a local disk at about the speed of a memory copy. Capped all the
 * same, so that on slow storage (NFS, FUSE, dirty-page throttling) a part's
 * acknowledgements still come every few MiB; a worker's batch is ~1 MB of
 * output at most in the flagship pipelines. */
#define WRITE_MAX_FILE (4u << 20)

static size_t write_max_for(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? WRITE_MAX_FILE : WRITE_MAX;
}

/* Another output writes the same pipe (a text sink and the dead letter both
 * on "-", into `| less`): a write there is whole only up to PIPE_BUF bytes,
 * and past it the other's lines could land in the middle of one of ours.
 * Then each write is whole lines of at most PIPE_BUF bytes (a longer line
 * alone). A terminal or a regular file takes a write whole; a socket
 * promises neither. Asked at each write: a reload may add the other. */
static int is_pipe(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* How much of p[0, len) to write at once so that it is whole lines the
 * kernel writes in one piece (see is_pipe). */
static size_t atomic_part(const char *p, size_t len)
{
    if (len <= PIPE_BUF)
        return len;
    const char *nl = memrchr(p, '\n', PIPE_BUF);
    if (!nl)
        nl = memchr(p + PIPE_BUF, '\n', len - PIPE_BUF);
    return nl ? (size_t)(nl - p) + 1 : len;
}

struct file_sink_conf {
    const char *path;
    int append;
    int format; /* 0 jsonl, 1 text */
    int64_t max_buffered; /* pause the source past this many bytes not yet written */
    char tried[600]; /* where a relative path's directory was looked for, when nowhere */
};

static const struct weir_option file_sink_options[] = {
    {"path", WEIR_OPT_STRING, NULL, "file to write; \"-\" writes standard output",
     offsetof(struct file_sink_conf, path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"format", WEIR_OPT_ENUM, "\"jsonl\"",
     "jsonl: one JSON object per line; text: one line for people (ALERT/ok, fields, record; "
     "as the dead letter: DEAD, where, why, the raw record)",
     offsetof(struct file_sink_conf, format), 0, 0, 0, "jsonl|text"},
    {"append", WEIR_OPT_BOOL, "false", "append instead of truncating when the run starts",
     offsetof(struct file_sink_conf, append), 0, 0, 0, NULL},
    {"max_buffered_bytes", WEIR_OPT_INT, "8388608",
     "output bytes not yet written past which the source pauses until the writes catch up "
     "(backpressure: the sink holds at most about twice this, plus one batch's lines)",
     offsetof(struct file_sink_conf, max_buffered), WEIR_OPT_RANGE, 65536, 1 << 30, NULL},
    {0},
};

struct pending_tickets {
    struct held_ticket {
        struct weir_ticket *t;
        size_t end; /* its lines end there in the buffer */
    } *v;
    size_t n, cap;
    size_t first; /* v[0 .. first) are released (written) */
};

/* Whole lines on their way to the shared writer, and back. */
struct chunk {
    struct weir_buf buf;
    struct pending_tickets held; /* tickets whose lines are in buf: its worker's */
    struct file_sink *owner;     /* NULL once its worker closed the sink: the writer frees it */
    int res;                     /* 0, or -errno: writing it failed */
    struct chunk *next;
};

/* The one writer of a sink several workers write (see the top). lock guards
 * everything here and the owners' done lists. */
struct shared_writer {
    pthread_mutex_t lock;
    pthread_cond_t work;
    pthread_t thread;
    int fd;
    const char *name;
    struct chunk *head, *tail; /* handed over, in order */
    struct chunk *current;     /* being written; out of the queue */
    int lines_atomic;          /* is_pipe and shared: whole lines of PIPE_BUF at most */
    int err;                   /* the first write error: later chunks fail with it, unwritten */
    int stop;
};

struct file_sink {
    struct weir_sink *s;
    int fd;
    const char *name;
    struct weir_buf buf[2];         /* [fill] is being filled, [fill ^ 1] may be in flight */
    struct pending_tickets held[2]; /* tickets whose lines are in buf[k] */
    int fill;
    size_t write_max;               /* bytes per write (write_max_for) */
    int pipe;                       /* is_pipe(fd) */
    int text;                       /* format: text */
    int writing;                    /* buf[fill ^ 1] is being written */
    int awaiting_room;              /* write_ev is a poll for room (a non-blocking pipe) */
    int broken; /* EPIPE (the reader went away) or a failed write: write nothing more */
    size_t written;                 /* of the in-flight buffer, for short writes */
    struct weir_event write_ev;
    /* With a shared writer (sw != NULL) instead of buf[] and the loop's writes: */
    struct shared_writer *sw;
    struct chunk *cur;              /* being filled */
    struct chunk *done, *done_tail; /* written, for our loop (under sw->lock) */
    struct chunk *spare;            /* for reuse */
    size_t queued;                  /* bytes handed over and not yet back */
    unsigned nqueued;               /* chunks likewise */
    int efd;                        /* the writer wakes our loop */
    struct weir_event done_ev;
};

/* t's lines end at end in the buffer h belongs to. */
static int held_push(struct pending_tickets *h, struct weir_ticket *t, size_t end)
{
    if (h->n && h->v[h->n - 1].t == t) {
        h->v[h->n - 1].end = end; /* one hold per ticket per buffer is enough */
        return 0;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct held_ticket *v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    weir_ticket_hold(t);
    h->v[h->n++] = (struct held_ticket){.t = t, .end = end};
    return 0;
}

static void held_release(struct pending_tickets *h, int ok)
{
    for (size_t k = h->first; k < h->n; k++)
        weir_ticket_release(h->v[k].t, ok);
    h->n = h->first = 0;
}

/* The first written bytes of the buffer are out: the tickets whose lines
 * all lie there are acknowledged now (in order; those of a line cut by the
 * end of a part wait for the next). */
static void held_release_written(struct pending_tickets *h, size_t written)
{
    while (h->first < h->n && h->v[h->first].end <= written)
        weir_ticket_release(h->v[h->first++].t, 1);
}

/* Writes the next part of buf[k] from fk->written. */
static int write_part(struct file_sink *fk, int k)
{
    size_t left = fk->buf[k].len - fk->written;
    const char *p = fk->buf[k].data + fk->written;
    size_t n = left < fk->write_max ? left : fk->write_max;
    int whole_lines = fk->pipe && fk->s->destination_shared;
    return weir_loop_write(fk->s->worker->loop, fk->fd, p, whole_lines ? atomic_part(p, n) : n,
                           (off_t)-1, &fk->write_ev);
}

static void start_write(struct file_sink *fk);

/* The reader went away (-EPIPE: a clean stop for the run), or a write
 * failed: what is buffered or in flight will never be written. Its tickets
 * fail and nothing more is written: a later part written after a failed one
 * left a gap or a cut line in the middle of the output, acknowledged. */
static void stop_writing(struct file_sink *fk, int res)
{
    struct weir_error e;
    if (res == -EPIPE)
        weir_error_set(&e, -EPIPE, "%s was closed by its reader", fk->name);
    else
        weir_error_set(&e, res, "writing %s: %s", fk->name, strerror(-res));
    fk->broken = 1;
    fk->writing = 0;
    for (int j = 0; j < 2; j++) {
        held_release(&fk->held[j], 0);
        fk->buf[j].len = 0;
    }
    weir_worker_fail(fk->s->worker, &e);
}

static void on_write(struct weir_event *ev, int res)
{
    struct file_sink *fk = (struct file_sink *)((char *)ev - offsetof(struct file_sink, write_ev));
    int k = fk->fill ^ 1;
    if (fk->awaiting_room) { /* room, or an error the write will meet */
        fk->awaiting_room = 0;
        if (write_part(fk, k) < 0)
            on_write(&fk->write_ev, -EBUSY);
        return;
    }
    /* A non-blocking pipe (standard output shared with a parent that set
     * O_NONBLOCK) that is full: wait for room, not write again at once in
     * a loop that took a core for as long as the reader was slow. */
    if (res == -EAGAIN &&
        weir_loop_poll(fk->s->worker->loop, fk->fd, POLLOUT, &fk->write_ev) == 0) {
        fk->awaiting_room = 1;
        return;
    }
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        stop_writing(fk, res);
        return;
    }
    fk->written += res > 0 ? (size_t)res : 0;
    held_release_written(&fk->held[k], fk->written);
    if (fk->written < fk->buf[k].len) { /* a part, or a short write: send the rest */
        if (write_part(fk, k) < 0)
            on_write(&fk->write_ev, -EBUSY); /* never left waiting for a write not submitted */
        return;
    }
    fk->writing = 0;
    fk->buf[k].len = 0;
    held_release(&fk->held[k], 1);
}

/* Swaps buffers and writes the full one. */
static void start_write(struct file_sink *fk)
{
    int k = fk->fill;
    fk->fill ^= 1;
    fk->writing = 1;
    fk->written = 0;
    if (write_part(fk, k) < 0)
        on_write(&fk->write_ev, -EBUSY);
}

/* ---- several workers: one writer thread ------------------------------------ */

static void chunk_free(struct chunk *c)
{
    if (!c)
        return;
    weir_buf_free(&c->buf);
    free(c->held.v);
    free(c);
}

/* Writes it all, the rest of a short write first: nobody else writes this
 * fd, or (lines_atomic) writes there whole lines too, so no line is cut.
 * Returns 0 or -errno. Only inside write() may the thread be cancelled
 * (unshare(), when a reader stopped reading for good). */
static int write_all(int fd, const char *p, size_t len, int lines_atomic)
{
    while (len > 0) {
        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        ssize_t n = write(fd, p, lines_atomic ? atomic_part(p, len) : len);
        int e = errno;
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
        if (n < 0 && e == EINTR)
            continue;
        if (n < 0 && (e == EAGAIN || e == EWOULDBLOCK)) { /* a non-blocking pipe, full: wait */
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
            (void)poll(&pfd, 1, -1); /* a cancellation point too */
            pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
            continue;
        }
        if (n < 0)
            return -e;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void *writer_main(void *arg)
{
    struct shared_writer *sw = arg;
    pthread_setname_np(pthread_self(), "weir-fwriter");
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_mutex_lock(&sw->lock);
    for (;;) {
        while (!sw->head && !sw->stop)
            pthread_cond_wait(&sw->work, &sw->lock);
        struct chunk *c = sw->head;
        if (!c)
            break; /* stopped, nothing left */
        if (!(sw->head = c->next))
            sw->tail = NULL;
        sw->current = c;
        int err = sw->err, whole_lines = sw->lines_atomic;
        pthread_mutex_unlock(&sw->lock);
        if (!err) /* after an error (EPIPE) nothing more is written */
            err = write_all(sw->fd, c->buf.data, c->buf.len, whole_lines);
        pthread_mutex_lock(&sw->lock);
        sw->current = NULL;
        if (err && !sw->err)
            sw->err = err;
        c->res = err;
        c->next = NULL;
        struct file_sink *fk = c->owner;
        if (!fk) {
            chunk_free(c);
            continue;
        }
        if (fk->done_tail)
            fk->done_tail->next = c;
        else
            fk->done = c;
        fk->done_tail = c;
        uint64_t one = 1; /* 8 bytes for an eventfd */
        if (write(fk->efd, &one, sizeof one) < 0) {
            /* the counter is saturated: the loop is woken anyway */
        }
    }
    pthread_mutex_unlock(&sw->lock);
    return NULL;
}

/* 1 or 2 when path names standard output or error, else -1. */
static int stream_fd(const char *path)
{
    if (strcmp(path, "-") == 0 || strcmp(path, "/dev/stdout") == 0)
        return 1;
    return strcmp(path, "/dev/stderr") == 0 ? 2 : -1;
}

/* The sink's file: "-" and /dev/stdout are a copy of descriptor 1, and
 * /dev/stderr one of 2, so that they share the offset of what weir's own
 * lines write there (opened anew, a file standard error was redirected to
 * gets a second offset, and the summary line overwrote the dead letters
 * written before it); anything else is opened for appending whole lines
 * (truncated by setup() before the run's first line). */
static int open_sink_file(const char *path, const char **name)
{
    int std = stream_fd(path);
    if (std >= 0) {
        *name = std == 1 ? "<stdout>" : "<stderr>";
        return dup(std);
    }
    *name = path;
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static int fk_share(const void *conf, void **shared, struct weir_error *err)
{
    const struct file_sink_conf *c = conf;
    struct shared_writer *sw = calloc(1, sizeof *sw);
    if (!sw)
        return weir_error_set(err, -ENOMEM, "out of memory");
    sw->fd = open_sink_file(c->path, &sw->name);
    if (sw->fd < 0) {
        int rc = weir_error_set(err, -errno, "cannot create sink file %s: %s", c->path,
                                errno == ENOENT && c->tried[0] ? c->tried : strerror(errno));
        free(sw);
        return rc;
    }
    pthread_mutex_init(&sw->lock, NULL);
    pthread_cond_init(&sw->work, NULL);
    int rc = pthread_create(&sw->thread, NULL, writer_main, sw);
    if (rc != 0) {
        close(sw->fd);
        pthread_cond_destroy(&sw->work);
        pthread_mutex_destroy(&sw->lock);
        free(sw);
        return weir_error_set(err, -rc, "cannot start the writer thread of %s: %s", c->path,
                              strerror(rc));
    }
    *shared = sw;
    return 0;
}

/* Every worker has closed its instance: what is still queued or being
 * written belongs to nobody. A writer blocked on a reader that stopped
 * reading is cancelled rather than waited for: those lines were never
 * acknowledged (their input is read again), and the one it was writing may
 * be left cut. This happens only when a run gave up waiting (a failure, the
 * end-of-run drain limit). */
static void fk_unshare(void *shared)
{
    struct shared_writer *sw = shared;
    pthread_mutex_lock(&sw->lock);
    for (struct chunk *c = sw->head, *next; c; c = next) {
        next = c->next;
        chunk_free(c);
    }
    sw->head = sw->tail = NULL;
    sw->stop = 1;
    int writing = sw->current != NULL;
    pthread_cond_signal(&sw->work);
    pthread_mutex_unlock(&sw->lock);
    if (writing)
        pthread_cancel(sw->thread);
    pthread_join(sw->thread, NULL);
    chunk_free(sw->current); /* cancelled inside write_all() */
    close(sw->fd);
    pthread_cond_destroy(&sw->work);
    pthread_mutex_destroy(&sw->lock);
    free(sw);
}

/* The filling chunk goes to the writer; the next write starts a new one. */
static void hand_over(struct file_sink *fk)
{
    struct chunk *c = fk->cur;
    if (!c || c->buf.len == 0)
        return;
    fk->cur = NULL;
    fk->queued += c->buf.len;
    fk->nqueued++;
    c->next = NULL;
    pthread_mutex_lock(&fk->sw->lock);
    fk->sw->lines_atomic = fk->pipe && fk->s->destination_shared;
    if (fk->sw->tail)
        fk->sw->tail->next = c;
    else
        fk->sw->head = c;
    fk->sw->tail = c;
    pthread_cond_signal(&fk->sw->work);
    pthread_mutex_unlock(&fk->sw->lock);
}

static void arm_done(struct file_sink *fk)
{
    if (weir_loop_poll(fk->s->worker->loop, fk->efd, POLLIN, &fk->done_ev) < 0) {
        struct weir_error e;
        weir_error_set(&e, -EIO, "%s: cannot wait for its writer", fk->name);
        weir_worker_fail(fk->s->worker, &e);
    }
}

/* On our loop: chunks the writer is done with, in the order they went. */
static void on_done(struct weir_event *ev, int res)
{
    struct file_sink *fk = (struct file_sink *)((char *)ev - offsetof(struct file_sink, done_ev));
    uint64_t v;
    if (read(fk->efd, &v, sizeof v) < 0) {
        /* nothing to read: a spurious wake-up */
    }
    pthread_mutex_lock(&fk->sw->lock);
    struct chunk *c = fk->done;
    fk->done = fk->done_tail = NULL;
    pthread_mutex_unlock(&fk->sw->lock);
    while (c) {
        struct chunk *next = c->next;
        fk->queued -= c->buf.len;
        fk->nqueued--;
        if (c->res < 0 && !fk->broken) { /* nothing more is written: stop_writing() */
            struct weir_error e;
            if (c->res == -EPIPE)
                weir_error_set(&e, -EPIPE, "%s was closed by its reader", fk->name);
            else
                weir_error_set(&e, c->res, "writing %s: %s", fk->name, strerror(-c->res));
            fk->broken = 1;
            weir_worker_fail(fk->s->worker, &e);
        }
        held_release(&c->held, c->res == 0);
        c->buf.len = 0;
        c->next = fk->spare;
        fk->spare = c;
        c = next;
    }
    if (fk->broken && fk->cur) { /* never to be written: not acknowledged */
        held_release(&fk->cur->held, 0);
        fk->cur->buf.len = 0;
    }
    arm_done(fk);
}

static struct weir_buf *shared_buf(struct file_sink *fk)
{
    if (!fk->cur) {
        if ((fk->cur = fk->spare))
            fk->spare = fk->cur->next;
        else if (!(fk->cur = calloc(1, sizeof *fk->cur)))
            return NULL;
        fk->cur->owner = fk;
        fk->cur->res = 0;
        fk->cur->next = NULL;
    }
    return &fk->cur->buf;
}

static int shared_open(struct file_sink *fk, struct weir_error *err)
{
    fk->sw = fk->s->shared;
    fk->name = fk->sw->name;
    fk->pipe = is_pipe(fk->sw->fd);
    fk->done_ev.done = on_done;
    if ((fk->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return weir_error_set(err, -errno, "eventfd: %s", strerror(errno));
    if (weir_loop_poll(fk->s->worker->loop, fk->efd, POLLIN, &fk->done_ev) < 0)
        return weir_error_set(err, -EIO, "%s: cannot wait for its writer", fk->name);
    return 0;
}

/* Our worker is going away: what the writer has not taken yet is dropped,
 * what it is writing now is left to it, and what it wrote is acknowledged;
 * the rest is not (its input is read again). */
static void shared_close(struct file_sink *fk)
{
    struct shared_writer *sw = fk->sw;
    struct chunk *mine = NULL, *done;
    struct pending_tickets writing = {0};
    pthread_mutex_lock(&sw->lock);
    struct chunk **pp = &sw->head;
    sw->tail = NULL;
    while (*pp) {
        struct chunk *c = *pp;
        if (c->owner == fk) {
            *pp = c->next;
            c->next = mine;
            mine = c;
        } else {
            sw->tail = c;
            pp = &c->next;
        }
    }
    if (sw->current && sw->current->owner == fk) { /* the writer touches only its bytes */
        writing = sw->current->held;
        sw->current->held = (struct pending_tickets){0};
        sw->current->owner = NULL;
    }
    done = fk->done;
    fk->done = fk->done_tail = NULL;
    pthread_mutex_unlock(&sw->lock);
    held_release(&writing, 0);
    free(writing.v);
    for (struct chunk *c = done, *next; c; c = next) {
        next = c->next;
        held_release(&c->held, c->res == 0);
        chunk_free(c);
    }
    for (struct chunk *c = mine, *next; c; c = next) {
        next = c->next;
        held_release(&c->held, 0);
        chunk_free(c);
    }
    if (fk->cur)
        held_release(&fk->cur->held, 0);
    chunk_free(fk->cur);
    for (struct chunk *c = fk->spare, *next; c; c = next) {
        next = c->next;
        chunk_free(c);
    }
    if (fk->efd >= 0)
        close(fk->efd);
}

/* ---- the sink ------------------------------------------------------------------ */

static int fk_write(struct weir_sink *s, struct weir_batch *b, struct weir_ticket *t)
{
    struct file_sink *fk = s->state;
    if (fk->broken) {
        if (t) { /* not written, so not acknowledged: nothing past it is committed */
            weir_ticket_hold(t);
            weir_ticket_release(t, 0);
        }
        return 0;
    }
    struct weir_buf *out = fk->sw ? shared_buf(fk) : &fk->buf[fk->fill];
    if (!out)
        return -ENOMEM;
    struct pending_tickets *held = fk->sw ? &fk->cur->held : &fk->held[fk->fill];
    size_t before = out->len;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_sink_wants(s, b, i))
            continue;
        const char *from = s->worker->source->name;
        int rc = s->when == WEIR_WHEN_DEAD ? (fk->text ? weir_output_dead_text(out, b, i, from)
                                                       : weir_output_dead(out, b, i, from))
                 : fk->text                ? weir_output_text(out, s->output, b, i)
                                           : weir_output_record(out, s->output, b, i);
        if (rc < 0)
            return rc;
    }
    if (t && out->len > before && held_push(held, t, out->len) < 0)
        return -ENOMEM;
    if (fk->sw) {
        if (out->len >= FLUSH_AT)
            hand_over(fk);
    } else if (!fk->writing && out->len >= FLUSH_AT) {
        start_write(fk);
    }
    return 0;
}

static int fk_flush(struct weir_sink *s)
{
    struct file_sink *fk = s->state;
    if (fk->sw) {
        /* While the writer is busy, lines gather into larger chunks. */
        if (fk->cur && (fk->nqueued == 0 || fk->cur->buf.len >= FLUSH_AT))
            hand_over(fk);
        return (int)fk->nqueued;
    }
    if (!fk->writing && fk->buf[fk->fill].len > 0)
        start_write(fk);
    return fk->writing;
}

static int fk_busy(struct weir_sink *s)
{
    struct file_sink *fk = s->state;
    const struct file_sink_conf *c = s->conf;
    size_t busy_at = (size_t)c->max_buffered;
    if (fk->sw)
        return fk->queued + (fk->cur ? fk->cur->buf.len : 0) >= busy_at;
    return fk->writing && fk->buf[fk->fill].len >= busy_at;
}

static int fk_open(struct weir_sink *s, struct weir_error *err)
{
    const struct file_sink_conf *c = s->conf;
    struct file_sink *fk = calloc(1, sizeof *fk);
    if (!fk)
        return weir_error_set(err, -ENOMEM, "out of memory");
    s->state = fk;
    fk->s = s;
    fk->write_ev.done = on_write;
    fk->text = c->format == 1;
    fk->fd = fk->efd = -1;
    fk->write_max = WRITE_MAX;
    if (s->shared)
        return shared_open(fk, err);
    fk->fd = open_sink_file(c->path, &fk->name);
    if (fk->fd < 0)
        return weir_error_set(err, -errno, "cannot create sink file %s: %s", c->path,
                              errno == ENOENT && c->tried[0] ? c->tried : strerror(errno));
    fk->write_max = write_max_for(fk->fd);
    fk->pipe = is_pipe(fk->fd);
    return 0;
}

static int fk_setup(const void *conf, struct weir_error *err)
{
    const struct file_sink_conf *c = conf;
    if (stream_fd(c->path) >= 0 || c->append)
        return 0; /* never truncates a file standard output or error goes to */
    struct stat st;
    if (stat(c->path, &st) == 0 && !S_ISREG(st.st_mode))
        return 0; /* a FIFO: an open to truncate it took its reader, which saw an end and
                     left, and the sink's own open then waited for another for ever */
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return weir_error_set(err, -errno, "cannot create sink file %s: %s", c->path,
                              errno == ENOENT && c->tried[0] ? c->tried : strerror(errno));
    close(fd);
    return 0;
}

/* One file however it is spelled ("./out.jsonl", an absolute path, a link):
 * a reload that set up the new sink there truncated what the run wrote. */
static int fk_same_target(const void *a, const void *b)
{
    const char *pa = ((const struct file_sink_conf *)a)->path;
    const char *pb = ((const struct file_sink_conf *)b)->path;
    struct stat sa, sb;
    int std = stream_fd(pa);
    if (std >= 0 && std == stream_fd(pb)) /* "-" and "/dev/stdout" */
        return 1;
    return strcmp(pa, pb) == 0 || (stat(pa, &sa) == 0 && stat(pb, &sb) == 0 &&
                                   sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

static void fk_close(struct weir_sink *s)
{
    struct file_sink *fk = s->state;
    if (!fk)
        return;
    if (fk->sw)
        shared_close(fk);
    /* A write the kernel did not let go of when the worker cancelled it
     * (weir_loop_cancel_all gave up) still reads its buffer: left allocated
     * rather than freed under it. */
    if (fk->writing && weir_loop_pending(s->worker->loop) > 0)
        fk->buf[fk->fill ^ 1] = (struct weir_buf){0};
    if (fk->fd >= 0)
        close(fk->fd);
    for (int k = 0; k < 2; k++) {
        held_release(&fk->held[k], 0);
        free(fk->held[k].v);
        weir_buf_free(&fk->buf[k]);
    }
    free(fk);
    s->state = NULL;
}

/* A relative path goes beside the pipeline file when its directory is
 * there, else in the working directory; --set paths are the working
 * directory's (engine/paths.h). */
static int fk_prepare(void *conf, const json_t *raw, struct weir_prepare *p)
{
    struct file_sink_conf *c = conf;
    if (weir_prepare_path(p, (json_t *)raw, "path", &c->path, WEIR_PATH_WRITE, c->tried,
                          sizeof c->tried) == -ENOMEM) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    return 0;
}

const char *weir_file_sink_path(const void *conf)
{
    return ((const struct file_sink_conf *)conf)->path;
}

const struct weir_sink_type weir_sink_file = {
    .name = "file",
    .summary = "JSON Lines to a file or standard output, written through io_uring",
    .options = file_sink_options,
    .conf_size = sizeof(struct file_sink_conf),
    .prepare = fk_prepare,
    .setup = fk_setup,
    .same_target = fk_same_target,
    .share = fk_share,
    .unshare = fk_unshare,
    .open = fk_open,
    .write = fk_write,
    .flush = fk_flush,
    .busy = fk_busy,
    .close = fk_close,
};
