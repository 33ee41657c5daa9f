/* The file and stdin source: JSON Lines or CSV (with a header), plain or
 * gzip, read through the worker's io_uring. The path may name several files
 * (a glob or a directory: connectors/file_list.h), read one after another in
 * name order as one partition: one worker reads them, in order. Every line
 * becomes exactly one record — live, or dead with a reason (empty, too long,
 * a bad CSV row) — so input lines = output lines + dead letters, always. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "connectors/connector.h"
#include "connectors/csv.h"
#include "connectors/jsonl_members.h"
#include "connectors/file_list.h"
#include "connectors/file_source.h"
#include "connectors/gunzip.h"
#include "connectors/gunzip_ahead.h"
#include "connectors/linesplit.h"
#include "engine/buf.h"
#include "engine/log.h"
#include "engine/loop.h"
#include "engine/paths.h"
#include "engine/worker.h"

static const struct weir_option file_source_options[] = {
    {"path", WEIR_OPT_STRING, NULL,
     "file to read (*.gz is decompressed); a glob (\"daily/*.csv.gz\") or a directory reads its "
     "data files one after another in name order; \"-\" reads standard input",
     offsetof(struct file_source_conf, path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"format", WEIR_OPT_ENUM, "\"auto\"",
     "jsonl, csv (header line first, in every file), or auto: csv for *.csv and *.csv.gz",
     offsetof(struct file_source_conf, format), 0, 0, 0, "auto|jsonl|csv"},
    {"max_record_bytes", WEIR_OPT_INT, "1048576",
     "longer lines go to the dead-letter sink", offsetof(struct file_source_conf, max_record_bytes),
     WEIR_OPT_RANGE, 1, 1 << 30, NULL},
    {"read_size", WEIR_OPT_INT, "1048576", "bytes per read",
     offsetof(struct file_source_conf, read_size), WEIR_OPT_RANGE, 4096, 1 << 28, NULL},
    {"delimiter", WEIR_OPT_STRING, "\",\"", "CSV field delimiter (one character)",
     offsetof(struct file_source_conf, delimiter), 0, 0, 0, NULL},
    {"inflate_ahead", WEIR_OPT_BOOL, "true",
     "inflate gzip files on a helper thread, ahead of the worker (false: on the worker, between "
     "reads)",
     offsetof(struct file_source_conf, inflate_ahead), 0, 0, 0, NULL},
    {0},
};

/* A JSON Lines file's first records (WEIR_JSONL_SAMPLE_*), read when the
 * pipeline loads: their top-level members, in order of first appearance,
 * are the input's fields for extract's wildcards. Members first seen later
 * are not known, so the fields are only "sampled": sinks do not refuse
 * other names. */
static int jsonl_members_at_load(const char *path, struct weir_schema *schema)
{
    int rc = weir_jsonl_members_read(path, WEIR_JSONL_SAMPLE_RECORDS, WEIR_JSONL_SAMPLE_BYTES,
                                     &schema->input, &schema->ninput);
    schema->input_known = rc == 0 && schema->ninput > 0;
    schema->input_sampled = schema->input_known;
    return rc == -ENOMEM ? rc : 0;
}

/* A CSV file's header, read when the pipeline loads, tells the operators and
 * sinks the records' top-level fields (extract's wildcards expand against
 * it, sinks check "fields" names with it). With several files, the first
 * one's (each file's own header is still read by the run); gzip files are
 * inflated for it, and a byte-order mark is skipped as the run skips it. A
 * file that cannot be read now is reported when the run opens it; its fields
 * stay unknown. */
static int header_at_load(const struct file_source_conf *c, struct weir_schema *schema,
                          int wants_names)
{
    char buf[65536];
    struct stat st;
    const char *first = c->files.n ? c->files.paths[0] : "-";
    int csv = c->format == FMT_CSV || (c->format == FMT_AUTO && weir_file_is_csv(first));
    if (strcmp(first, "-") == 0 || stat(first, &st) < 0 || !S_ISREG(st.st_mode))
        return 0; /* a pipe's header is the run's to read */
    if (!csv)
        return wants_names ? jsonl_members_at_load(first, schema) : 0;
    gzFile gz = gzopen(first, "rb"); /* plain files are read as they are */
    if (!gz)
        return 0;
    int n = gzread(gz, buf, sizeof buf);
    gzclose(gz);
    size_t bom = n > 0 ? weir_linesplit_bom_len(buf, (size_t)n) : 0;
    const char *line = buf + bom, *nl = n > 0 ? memchr(line, '\n', (size_t)n - bom) : NULL;
    if (!nl)
        return 0;
    size_t len = (size_t)(nl - line);
    if (len > 0 && line[len - 1] == '\r')
        len--;
    struct weir_csv_header *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    const char *reason = NULL;
    int rc = weir_csv_header_parse(h, line, len, c->delimiter[0], &reason);
    if (rc == 0 && !(schema->input = calloc(h->n ? h->n : 1, sizeof *schema->input)))
        rc = -ENOMEM;
    for (size_t k = 0; rc == 0 && k < h->n; k++) {
        if (!(schema->input[k] = strdup(h->names[k])))
            rc = -ENOMEM;
        else
            schema->ninput++;
    }
    schema->input_known = rc == 0;
    weir_csv_header_free(h);
    free(h);
    return rc == -ENOMEM ? rc : 0; /* a bad header is the run's to report, on line 1 */
}

static int prepare(void *conf, const json_t *raw, struct weir_prepare *p)
{
    struct file_source_conf *c = conf;
    char kp[256], reason[512];
    /* Beside the pipeline file, else the working directory; found nowhere:
     * the run's open error says where it looked. */
    if (weir_prepare_path(p, (json_t *)raw, "path", &c->path, WEIR_PATH_READ, c->tried,
                          sizeof c->tried) == -ENOMEM) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    if (!c->delimiter || strlen(c->delimiter) != 1) {
        weir_diag_add(p->diag, weir_path_key(kp, sizeof kp, p->path, "delimiter"),
                      "expected one character, got \"%s\"", c->delimiter ? c->delimiter : "");
        return 1;
    }
    if (weir_file_list_expand(&c->files, c->path, reason, sizeof reason) < 0) {
        weir_diag_add(p->diag, weir_path_key(kp, sizeof kp, p->path, "path"), "expected %s, got: %s",
                      "a file, a glob that matches files or a directory with data files", reason);
        return 1;
    }
    if (header_at_load(c, p->schema, p->wants_input_names) < 0) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    return 0;
}

static void release(void *conf)
{
    weir_file_list_free(&((struct file_source_conf *)conf)->files);
}

static void free_state(struct file_source *fs)
{
    free(fs->held_name);
    free(fs);
}

/* After a failed run the sinks let go of their tickets as they close, which
 * is after the source closed (a stdout whose reader went away, with a second
 * file sink still holding lines): the source's state lives until the last one. */
static void ticket_done(struct weir_ticket *t)
{
    struct file_ticket *ft = (struct file_ticket *)t;
    struct file_source *fs = ft->src;
    fs->tickets_out--;
    if (fs->closed) {
        free(ft);
        if (fs->tickets_out == 0)
            free_state(fs);
        return;
    }
    ft->next = fs->free_tickets;
    fs->free_tickets = ft;
}

static struct weir_ticket *ticket_get(struct file_source *fs)
{
    struct file_ticket *ft = fs->free_tickets;
    if (ft)
        fs->free_tickets = ft->next;
    else if (!(ft = calloc(1, sizeof *ft)))
        return NULL;
    fs->tickets_out++;
    ft->src = fs;
    ft->t.pending = 0;
    ft->t.failed = 0;
    ft->t.done = ticket_done;
    return &ft->t;
}

static void flush_batch(struct file_source *fs)
{
    struct weir_batch *b = fs->batch;
    if (!b)
        return;
    fs->batch = NULL;
    if (b->n == 0) {
        weir_batch_put(b);
        return;
    }
    fs->batches++;
    struct weir_ticket *t = ticket_get(fs);
    if (t)
        weir_ticket_hold(t); /* ours, released after dispatch */
    weir_worker_dispatch(fs->s->worker, b, t);
    if (t)
        weir_ticket_release(t, 1);
}

static const char *arena_printf(struct weir_batch *b, const char *fmt, size_t a, size_t c)
{
    char tmp[160];
    int n = snprintf(tmp, sizeof tmp, fmt, a, c);
    return weir_arena_strdup(&b->arena, tmp, (size_t)n);
}

/* A CSV row becomes a JSON object, with its members listed for the
 * operators (extract reads them instead of scanning the object); a row that
 * does not parse keeps its raw bytes for the dead-letter sink. A line after
 * one that ended inside a quoted field is that field's rest, not a row: it
 * is a dead letter too (read as a row, its pieces made a record of wrong
 * values). */
static int add_csv_row(struct file_source *fs, struct weir_batch *b, int i,
                       const struct weir_line *ln)
{
    struct weir_record *r = &b->rec[i];
    struct weir_csv_header *h = &fs->header;
    char reason[160];
    const char *why = NULL;
    struct weir_members *m = NULL;
    if (h->shape &&
        !(m = weir_arena_alloc(&b->arena, sizeof *m + h->n * sizeof m->m[0])))
        return -ENOMEM;
    fs->scratch.len = 0;
    int rc = -EINVAL;
    if (fs->in_quote) {
        fs->in_quote = weir_csv_ends_in_quote(ln->p, ln->len, h->delim, 1);
        why = "CSV line continues a quoted field from the line before (fields may not span lines)";
    } else if ((rc = weir_csv_row_members(h, ln->p, ln->len, &fs->scratch, m, reason,
                                          sizeof reason)) == -EINVAL) {
        fs->in_quote = weir_csv_ends_in_quote(ln->p, ln->len, h->delim, 0);
        why = weir_arena_strdup(&b->arena, reason, strlen(reason));
    }
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        if (!(r->value = weir_arena_strdup(&b->arena, ln->p, ln->len)))
            return -ENOMEM;
        weir_batch_kill(b, (uint32_t)i, why);
    } else {
        if (!(r->value = weir_arena_strdup(&b->arena, fs->scratch.data, fs->scratch.len)))
            return -ENOMEM;
        r->value_len = (uint32_t)fs->scratch.len;
        r->members = m && m->n ? m : NULL;
    }
    if (b->n == b->cap)
        flush_batch(fs);
    return 0;
}

/* One line becomes one record of the current batch. */
static int add_line(struct file_source *fs, const struct weir_line *ln)
{
    const struct file_source_conf *c = fs->s->conf;
    if (!fs->batch && !(fs->batch = weir_worker_batch(fs->s->worker)))
        return -ENOMEM;
    struct weir_batch *b = fs->batch;
    int i = weir_batch_push(b);
    struct weir_record *r = &b->rec[i];
    r->offset = (int64_t)ln->no;
    r->topic = fs->name;
    r->part = fs->part;
    r->value_len = (uint32_t)ln->len;
    /* Out of memory, the half-made record is taken back: the worker fails. */
    if (fs->format == FMT_CSV && !ln->too_long && ln->len > 0) {
        int rc = add_csv_row(fs, b, i, ln);
        if (rc < 0)
            weir_batch_unpush(b);
        return rc;
    }
    if (ln->too_long) /* only its start is here: whether it closed a quote is not known */
        fs->in_quote = 0;
    r->value = weir_arena_strdup(&b->arena, ln->p, ln->len);
    if (!r->value) {
        weir_batch_unpush(b);
        return -ENOMEM;
    }
    if (ln->too_long) {
        weir_batch_kill(b, (uint32_t)i, arena_printf(b, "record too long: %zu bytes (max_record_bytes is %zu)",
                                                     ln->too_long, (size_t)c->max_record_bytes));
    } else if (ln->len == 0) {
        weir_batch_kill(b, (uint32_t)i, "empty line");
    }
    if (b->n == b->cap)
        flush_batch(fs);
    return 0;
}

static void finish(struct file_source *fs)
{
    if (fs->finished)
        return;
    flush_batch(fs);
    fs->finished = 1;
    weir_worker_source_finished(fs->s->worker);
}

/* The worker fails once the sinks have written what the source handed on
 * before the failure, or FAIL_DRAIN_NS after it: a failed worker stops at
 * once, its sinks closed with what they hold unwritten. */
#define FAIL_TICK_NS (2ull * 1000000ull)
#define FAIL_DRAIN_NS (30ull * 1000000000ull)

static void fail_now(struct file_source *fs)
{
    fs->failing = 0;
    weir_worker_fail(fs->s->worker, &fs->failure);
    finish(fs);
}

/* A loop turn or more after the records went out (before_sleep counts the
 * sinks' outputs in flight only then): written yet? */
static void fail_when_written(struct file_source *fs)
{
    struct weir_worker *w = fs->s->worker;
    if (w->failed || (w->inflight == 0 && fs->fail_turns > 0) ||
        weir_now_ns() - fs->failing_since > FAIL_DRAIN_NS) {
        fail_now(fs);
        return;
    }
    fs->fail_turns++;
    fs->yielding = weir_loop_timer(w->loop, FAIL_TICK_NS, &fs->yield_ev) == 0;
    if (!fs->yielding)
        fail_now(fs); /* no room to wait: as before */
}

/* Reading stops here. The records read before the failure are handed on
 * first and written before the worker is marked failed: the batch being
 * filled carries across files, so it may hold the end of a file that read
 * fine, cut off by the next one's failure (the end of a file before a
 * truncated gzip file never reached the sink). */
static void fail_with(struct file_source *fs, const struct weir_error *e)
{
    flush_batch(fs);
    fs->failure = *e;
    fs->failing = 1;
    fs->fail_turns = 0;
    fs->failing_since = weir_now_ns();
    fail_when_written(fs);
}

void weir_file_source_fail(struct file_source *fs, int code, const char *what)
{
    struct weir_error e;
    weir_error_set(&e, code, "reading %s: %s", fs->name, what);
    fail_with(fs, &e);
}

static int take_header(struct file_source *fs, const struct weir_line *ln)
{
    const struct file_source_conf *c = fs->s->conf;
    const char *reason = NULL;
    struct weir_error e;
    int rc = ln->too_long
                 ? -EINVAL
                 : weir_csv_header_parse(&fs->header, ln->p, ln->len, c->delimiter[0], &reason);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        weir_error_set(&e, -EINVAL, "%s: line %llu: %s", fs->name, (unsigned long long)ln->no,
                       reason ? reason : "CSV header line is too long");
        fail_with(fs, &e);
        return -EINVAL;
    }
    rc = weir_file_source_header_check(fs, ln->no, &e);
    if (rc == -EINVAL)
        fail_with(fs, &e);
    if (rc < 0)
        return rc;
    fs->have_header = 1;
    free(fs->header_line);
    if ((fs->header_line = malloc(ln->len + 1))) { /* once per file: for a reload to parse again */
        memcpy(fs->header_line, ln->p, ln->len);
        fs->header_len = ln->len;
    }
    return 0;
}

/* Opens file k of the list (or standard input), or the held file a reload
 * found gone from its name (file_source_resume.c), and starts it at line 1
 * with its own CSV header. Opening a local file is the one call here that does not
 * go through io_uring; it happens once per file, not per read. */
int weir_file_source_open_as(struct file_source *fs, size_t k, const char *held, int same_as,
                             struct weir_error *err)
{
    const struct file_source_conf *c = fs->s->conf;
    const char *path = held ? held : fs->opened_with->files.paths[k];
    int again = fs->name != NULL; /* a file was open before: its stream state goes */
    int stdin_ = strcmp(path, "-") == 0;
    if (fs->ahead && !fs->held) { /* the helper's file is done with (all its lines taken): it goes back */
        (void)weir_linesplit_unlend(&fs->ls); /* nothing left to copy: cannot fail */
        weir_gunzip_ahead_release(fs->ahead, fs->file);
    }
    if (fs->fd >= 0)
        close(fs->fd);
    fs->file = k;
    fs->held = held != NULL;
    fs->name = stdin_ ? "<stdin>" : path;
    fs->fd = same_as >= 0 ? fcntl(same_as, F_DUPFD_CLOEXEC, 0)
             : stdin_     ? dup(0)
                          : open(path, O_RDONLY | O_CLOEXEC);
    if (fs->fd < 0)
        return weir_error_set(err, -errno, "cannot open source file %s: %s", path,
                              errno == ENOENT && c->tried[0] && c->files.n == 1 ? c->tried
                                                                               : strerror(errno));
    struct stat st;
    int regular = fstat(fs->fd, &st) == 0 && S_ISREG(st.st_mode);
    /* standard input from a file a parent read some of: on from there */
    off_t at = regular && stdin_ ? lseek(fs->fd, 0, SEEK_CUR) : 0;
    fs->offset = regular ? (at > 0 ? at : 0) : -1;
    fs->size_at_open = regular ? st.st_size : 0;
    fs->format = c->format != FMT_AUTO ? c->format : weir_file_is_csv(path) ? FMT_CSV : FMT_JSONL;
    fs->gzip = !stdin_ && weir_file_is_gzip(path);
    if (fs->gzip && !fs->gz.ready && weir_gunzip_init(&fs->gz, (size_t)c->read_size) < 0)
        return weir_error_set(err, -ENOMEM, "out of memory");
    if (fs->gzip)
        weir_gunzip_reset(&fs->gz);
    fs->ahead_on = fs->ahead && fs->gzip && !fs->held;
    fs->ahead_pos = 0;
    if (again) { /* a new stream: line numbers, BOM and header start again */
        weir_linesplit_free(&fs->ls);
        weir_csv_header_free(&fs->header);
        memset(&fs->header, 0, sizeof fs->header);
        fs->have_header = 0;
    }
    fs->in_quote = 0;
    free(fs->header_line);
    fs->header_line = NULL;
    fs->at_eof = 0;
    fs->stream_in = 0;
    fs->skip_lines = 0;
    if (weir_linesplit_init(&fs->ls, (size_t)c->read_size, (size_t)c->max_record_bytes) < 0)
        return weir_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

static int open_file(struct file_source *fs, size_t k, struct weir_error *err)
{
    return weir_file_source_open_as(fs, k, NULL, -1, err);
}

/* The current file is done: go on with the next one, or finish. Returns 1
 * when there is more to read. */
static int next_file(struct file_source *fs)
{
    const struct file_source_conf *c = fs->s->conf;
    size_t next = fs->held ? fs->file : fs->file + 1;
    if (fs->stopping || next >= c->files.n) {
        finish(fs);
        return 0;
    }
    struct weir_error e;
    if (open_file(fs, next, &e) < 0) {
        fail_with(fs, &e);
        return 0;
    }
    return 1;
}

/* Inflates compressed bytes already read into the line buffer. Returns 1
 * when it produced something (or reached the end), 0 when a read is needed. */
static int inflate_some(struct file_source *fs)
{
    const char *why = NULL;
    size_t room;
    char *dst = weir_linesplit_space(&fs->ls, &room);
    long n = weir_gunzip_run(&fs->gz, dst, room, &why);
    if (n < 0) {
        weir_file_source_fail(fs, -EIO, why);
        return -1;
    }
    weir_linesplit_commit(&fs->ls, (size_t)n);
    fs->stream_in += (uint64_t)n;
    return n > 0;
}

static void on_yield(struct weir_event *ev, int res)
{
    (void)res;
    struct file_source *fs =
        (struct file_source *)((char *)ev - offsetof(struct file_source, yield_ev));
    fs->yielding = 0;
    if (fs->failing) {
        fail_when_written(fs);
        return;
    }
    /* A sink or an operator busy since, or a reload's quiesce: resume() goes on. */
    if (!fs->reading && !fs->finished && !weir_worker_should_pause(fs->s->worker))
        weir_file_source_drain(fs);
}

/* After each batch the loop takes a turn before the next: a file read from
 * the page cache would otherwise keep the worker in here for a whole read's
 * lines (a megabyte of them, ~10,000 records), and the sinks' writes that
 * completed meanwhile would not be seen, nor new ones started, until then.
 * Writes went out one at a time between long stretches of records, and the
 * worker then slept on each one's completion while a backlog drained (3,600
 * sleeps in bench/fraud_features.sh). Returns 1 when it gave way. */
static int give_way(struct file_source *fs)
{
    if (weir_loop_yield(fs->s->worker->loop, &fs->yield_ev) < 0)
        return 0; /* no room to ask: go on */
    fs->yielding = 1;
    return 1;
}

/* Turns buffered lines into records until the buffer needs more input or the
 * worker asks us to pause; then reads on, inflates on, or opens the next file. */
void weir_file_source_drain(struct file_source *fs)
{
    struct weir_line ln;
    struct weir_worker *w = fs->s->worker;
    uint64_t batches = fs->batches;
    for (;;) {
        while (!w->failed && !fs->failing && weir_linesplit_next(&fs->ls, fs->at_eof, &ln)) {
            int rc = fs->format == FMT_CSV && !fs->have_header ? take_header(fs, &ln)
                     : ln.no <= fs->skip_lines                 ? 0
                                                               : add_line(fs, &ln);
            if (rc < 0) {
                if (rc == -ENOMEM) {
                    struct weir_error e;
                    weir_error_set(&e, rc, "out of memory reading %s", fs->name);
                    weir_worker_fail(w, &e);
                }
                break;
            }
            /* Sinks fill up only when a batch is dispatched: ask after one. */
            if (!fs->batch && weir_worker_should_pause(w))
                return; /* resume() picks up here */
            if (fs->batches != batches && give_way(fs))
                return; /* on_yield() picks up here */
        }
        if (fs->failing)
            return; /* fail_when_written() finishes */
        if (w->failed || fs->finished) {
            finish(fs);
            return;
        }
        if (fs->at_eof) {
            if (!next_file(fs))
                return;
            continue;
        }
        if (fs->stopping) {
            finish(fs);
            return;
        }
        if (fs->gzip && weir_gunzip_pending(&fs->gz)) {
            int rc = inflate_some(fs);
            if (rc < 0)
                return;
            if (rc > 0)
                continue;
            if (weir_gunzip_pending(&fs->gz)) { /* never: the line buffer always has a read's room */
                weir_file_source_fail(fs, -EIO, "no room in the line buffer to inflate into");
                return;
            }
        }
        break;
    }
    /* Caught up with a slow producer (a pipe): hand on what we have now. */
    if (fs->offset < 0)
        flush_batch(fs);
    weir_file_source_read(fs);
}

static void on_read(struct weir_event *ev, int res)
{
    struct file_source *fs = (struct file_source *)((char *)ev - offsetof(struct file_source, read_ev));
    fs->reading = 0;
    if (fs->ahead_on) {
        weir_file_source_on_ahead(fs, res);
        return;
    }
    if ((res == -EINTR || res == -EAGAIN) && !fs->stopping) {
        weir_file_source_read(fs);
        return;
    }
    /* A stop cancelled the read: not the end of the input. The lines read
     * whole are handed on; a partial one stays unread (a reload's new
     * source goes on from it). */
    if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
        weir_file_source_drain(fs);
        return;
    }
    if (res < 0) {
        weir_file_source_fail(fs, res, strerror(-res));
        return;
    }
    if (fs->offset >= 0)
        fs->offset += res;
    if (!fs->gzip) {
        fs->at_eof = res == 0;
        weir_linesplit_commit(&fs->ls, (size_t)res);
        fs->stream_in += (uint64_t)res;
    } else if (res == 0) {
        const char *why;
        if (weir_gunzip_finish(&fs->gz, &why) < 0) {
            weir_file_source_fail(fs, -EIO, why);
            return;
        }
        fs->at_eof = 1;
    } else {
        weir_gunzip_fed(&fs->gz, (size_t)res);
        if (inflate_some(fs) < 0)
            return;
    }
    weir_file_source_drain(fs);
}

void weir_file_source_read(struct file_source *fs)
{
    if (fs->ahead_on) {
        weir_file_source_ahead_read(fs);
        return;
    }
    size_t room;
    char *dst = fs->gzip ? weir_gunzip_space(&fs->gz, &room) : weir_linesplit_space(&fs->ls, &room);
    fs->reading = 1;
    if (weir_loop_read(fs->s->worker->loop, fs->fd, dst, room, fs->offset >= 0 ? fs->offset : (off_t)-1,
                       &fs->read_ev) < 0) {
        fs->reading = 0;
        weir_file_source_fail(fs, -EBUSY, "io_uring submission queue full");
    }
}

/* A replaced source with no read or yield in flight has nothing left on the loop. */
static int fs_quiet(struct weir_source *s)
{
    const struct file_source *fs = s->state;
    return !fs || (!fs->reading && !fs->yielding);
}

static int fs_open(struct weir_source *s, struct weir_error *err)
{
    const struct file_source_conf *c = s->conf;
    struct file_source *fs = calloc(1, sizeof *fs);
    if (!fs)
        return weir_error_set(err, -ENOMEM, "out of memory");
    fs->fd = -1;
    fs->opened_with = c;
    s->state = fs;
    s->name = strcmp(c->path, "-") == 0 ? "<stdin>" : c->path;
    fs->s = s;
    fs->read_ev.done = on_read;
    fs->yield_ev.done = on_yield;
    if (c->files.n == 0)
        return weir_error_set(err, -ENOENT, "no source file for %s", c->path);
    int rc = weir_file_source_open_start(fs, s->prev, err);
    if (rc < 0)
        return rc;
    /* The files are one partition; its state (with --state-dir) is read back
     * here, before the loop runs. Its name is not the path: the next run, over
     * the next file, carries the same state on. */
    int slot = weir_worker_partition_assign(s->worker, "file", -1);
    if (slot < 0)
        return weir_error_set(err, slot, "out of memory");
    if (s->worker->failed) {
        *err = s->worker->err;
        return err->code ? err->code : -EIO;
    }
    fs->part = (uint32_t)slot;
    weir_file_source_start_ahead(fs);
    weir_file_source_read(fs);
    return 0;
}

static void fs_resume(struct weir_source *s)
{
    struct file_source *fs = s->state;
    if (fs && !fs->reading && !fs->yielding && !fs->finished)
        weir_file_source_drain(fs);
}

static void fs_stop(struct weir_source *s)
{
    struct file_source *fs = s->state;
    if (!fs)
        return; /* its open failed before it had a state */
    fs->stopping = 1;
    if (fs->reading)
        weir_loop_cancel(s->worker->loop, &fs->read_ev); /* a pipe may never answer */
    else if (!s->worker->paused && !fs->yielding)
        finish(fs);
}

static void fs_close(struct weir_source *s)
{
    struct file_source *fs = s->state;
    if (!fs)
        return;
    if (fs->batch)
        weir_batch_put(fs->batch);
    weir_gunzip_ahead_stop(fs->ahead); /* never waits for the helper */
    fs->ahead = NULL;
    if (fs->reading && weir_loop_pending(s->worker->loop) > 0) {
        /* A read the kernel did not let go of when the worker cancelled it
         * (weir_loop_cancel_all gave up) still fills our buffers: all of
         * the state is left allocated (the worker is ending). */
        s->state = NULL;
        return;
    }
    if (fs->fd >= 0)
        close(fs->fd);
    weir_linesplit_free(&fs->ls);
    weir_gunzip_free(&fs->gz);
    weir_csv_header_free(&fs->header);
    free(fs->header_line);
    weir_buf_free(&fs->scratch);
    weir_buf_free(&fs->first_cols);
    for (struct file_ticket *t = fs->free_tickets, *next; t; t = next) {
        next = t->next;
        free(t);
    }
    s->state = NULL;
    if (fs->tickets_out) /* freed by the last ticket_done() */
        fs->closed = 1;
    else
        free_state(fs);
}

const struct weir_source_type weir_source_file = {
    .name = "file",
    .summary = "JSON Lines or CSV from a file or standard input, read through io_uring",
    .options = file_source_options,
    .conf_size = sizeof(struct file_source_conf),
    .per_worker = 0,
    .prepare = prepare,
    .check = weir_file_source_check,
    .open = fs_open,
    .resume = fs_resume,
    .keeps = weir_file_source_keeps,
    .stop = fs_stop,
    .quiet = fs_quiet,
    .close = fs_close,
    .release = release,
};
