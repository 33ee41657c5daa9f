/* The file and stdout sink: one JSON line per record, written through the
 * worker's io_uring. Output is double-buffered: records are formatted into
 * the filling buffer while the other one is being written; a batch's ticket
 * is released when the write holding its lines completes. Over the buffer
 * limit the sink reports busy and the source pauses instead of buffering
 * without bound. The dead-letter file sink is this type with when = dead.
 *
 * A pipe whose reader went away (`weir run ... | head`) ends the run, not as
 * a failure: the worker stops with -EPIPE, which the run reports as a clean
 * stop. Nothing written from then on is acknowledged, so a Kafka source
 * commits nothing past the first record this sink could not write. SIGPIPE is
 * ignored (engine/main.c): the write returns EPIPE instead of killing us. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "engine/buf.h"
#include "engine/loop.h"
#include "engine/output.h"
#include "engine/worker.h"

#define FLUSH_AT (256u * 1024u)    /* start a write once this much is buffered */
#define BUSY_AT (8u * 1024u * 1024u) /* pause the source past this */

struct file_sink_conf {
    const char *path;
    int append;
    int format; /* 0 jsonl, 1 text */
};

static const struct weir_option file_sink_options[] = {
    {"path", WEIR_OPT_STRING, NULL, "file to write; \"-\" writes standard output",
     offsetof(struct file_sink_conf, path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"format", WEIR_OPT_ENUM, "\"jsonl\"",
     "jsonl: one JSON object per line; text: one line for people (ALERT/ok, fields, record)",
     offsetof(struct file_sink_conf, format), 0, 0, 0, "jsonl|text"},
    {"append", WEIR_OPT_BOOL, "false", "append instead of truncating when the run starts",
     offsetof(struct file_sink_conf, append), 0, 0, 0, NULL},
    {0},
};

struct pending_tickets {
    struct weir_ticket **v;
    size_t n, cap;
};

struct file_sink {
    struct weir_sink *s;
    int fd;
    const char *name;
    struct weir_buf buf[2];         /* [fill] is being filled, [fill ^ 1] may be in flight */
    struct pending_tickets held[2]; /* tickets whose lines are in buf[k] */
    int fill;
    int text;                       /* format: text */
    int writing;                    /* buf[fill ^ 1] is being written */
    int broken;                     /* EPIPE: the reader went away; write nothing more */
    size_t written;                 /* of the in-flight buffer, for short writes */
    struct weir_event write_ev;
};

static int held_push(struct pending_tickets *h, struct weir_ticket *t)
{
    if (h->n && h->v[h->n - 1] == t)
        return 0; /* one hold per ticket per buffer is enough */
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct weir_ticket **v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    weir_ticket_hold(t);
    h->v[h->n++] = t;
    return 0;
}

static void held_release(struct pending_tickets *h, int ok)
{
    for (size_t k = 0; k < h->n; k++)
        weir_ticket_release(h->v[k], ok);
    h->n = 0;
}

static void start_write(struct file_sink *fk);

/* The reader went away: what is buffered or in flight will never be read.
 * Fail its tickets and stop the worker with -EPIPE (a clean stop for the run). */
static void broken_pipe(struct file_sink *fk)
{
    struct weir_error e;
    weir_error_set(&e, -EPIPE, "%s was closed by its reader", fk->name);
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
    if (res == -EPIPE) {
        broken_pipe(fk);
        return;
    }
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        struct weir_error e;
        weir_error_set(&e, res, "writing %s: %s", fk->name, strerror(-res));
        fk->writing = 0;
        held_release(&fk->held[k], 0);
        weir_worker_fail(fk->s->worker, &e);
        return;
    }
    fk->written += res > 0 ? (size_t)res : 0;
    if (fk->written < fk->buf[k].len) { /* short write: send the rest */
        if (weir_loop_write(fk->s->worker->loop, fk->fd, fk->buf[k].data + fk->written,
                            fk->buf[k].len - fk->written, (off_t)-1, &fk->write_ev) < 0)
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
    if (weir_loop_write(fk->s->worker->loop, fk->fd, fk->buf[k].data, fk->buf[k].len, (off_t)-1,
                        &fk->write_ev) < 0)
        on_write(&fk->write_ev, -EBUSY);
}

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
    struct weir_buf *out = &fk->buf[fk->fill];
    size_t before = out->len;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_sink_wants(s, &b->rec[i]))
            continue;
        int rc = s->when == WEIR_WHEN_DEAD ? weir_output_dead(out, b, i, s->worker->source.name)
                 : fk->text                ? weir_output_text(out, s->output, b, i)
                                           : weir_output_record(out, s->output, b, i);
        if (rc < 0)
            return rc;
    }
    if (t && out->len > before && held_push(&fk->held[fk->fill], t) < 0)
        return -ENOMEM;
    if (!fk->writing && out->len >= FLUSH_AT)
        start_write(fk);
    return 0;
}

static int fk_flush(struct weir_sink *s)
{
    struct file_sink *fk = s->state;
    if (!fk->writing && fk->buf[fk->fill].len > 0)
        start_write(fk);
    return fk->writing;
}

static int fk_busy(struct weir_sink *s)
{
    struct file_sink *fk = s->state;
    return fk->writing && fk->buf[fk->fill].len >= BUSY_AT;
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
    if (strcmp(c->path, "-") == 0) {
        fk->name = "<stdout>";
        fk->fd = dup(1);
    } else {
        fk->name = c->path;
        /* Truncation happened once in setup(); every worker appends whole lines. */
        fk->fd = open(c->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    if (fk->fd < 0)
        return weir_error_set(err, -errno, "cannot open sink file %s: %s", c->path, strerror(errno));
    return 0;
}

static int fk_setup(const void *conf, struct weir_error *err)
{
    const struct file_sink_conf *c = conf;
    if (strcmp(c->path, "-") == 0 || c->append)
        return 0;
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return weir_error_set(err, -errno, "cannot create sink file %s: %s", c->path, strerror(errno));
    close(fd);
    return 0;
}

static void fk_close(struct weir_sink *s)
{
    struct file_sink *fk = s->state;
    if (!fk)
        return;
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

const struct weir_sink_type weir_sink_file = {
    .name = "file",
    .summary = "JSON Lines to a file or standard output, written through io_uring",
    .options = file_sink_options,
    .conf_size = sizeof(struct file_sink_conf),
    .setup = fk_setup,
    .open = fk_open,
    .write = fk_write,
    .flush = fk_flush,
    .busy = fk_busy,
    .close = fk_close,
};
