/* A file source's gzip files inflated on a helper thread (gunzip_ahead.h),
 * handed on to the line buffer a piece at a time, as reads would be. Split
 * from file_source.c. */
#include <errno.h>
#include <string.h>

#include "connectors/file_source.h"
#include "engine/worker.h"

/* The next piece of the helper's file from ahead_pos: up to read_size bytes
 * that end with a line (a line longer than that whole), or the file's rest. */
static size_t ahead_piece(const struct file_source *fs)
{
    const char *p = fs->ahead_data + fs->ahead_pos;
    size_t left = fs->ahead_len - fs->ahead_pos, want = fs->ls.read_size;
    if (left <= want)
        return left;
    const char *nl = memrchr(p, '\n', want);
    if (!nl && !(nl = memchr(p + want, '\n', left - want)))
        return left;
    return (size_t)(nl - p) + 1;
}

/* The current gzip file from the helper (gunzip_ahead.h), a piece at a time
 * handed on through a loop turn, as a read's bytes would be: lent to the line
 * buffer (pieces end with a line, so each is taken whole before the next),
 * or copied in should bytes be pending there (by that, none are: the copy
 * keeps them where a lend would drop them); or, before the helper has the
 * file, a read of its eventfd. A file the helper gave up is read and inflated on the
 * loop. The file goes back to the helper when the next one opens. Copied in
 * always, its bytes took 2% of the worker's time (perf, the fraud features). */
void weir_file_source_ahead_read(struct file_source *fs)
{
    struct weir_loop *loop = fs->s->worker->loop;
    int got =
        weir_gunzip_ahead_take(fs->ahead, fs->file, fs->name, &fs->ahead_data, &fs->ahead_len);
    if (got < 0) {
        fs->ahead_on = 0;
        weir_file_source_read(fs);
        return;
    }
    fs->reading = 1;
    fs->ahead_wait = got == 0;
    int rc;
    if (got == 0) {
        rc = weir_loop_read(loop, weir_gunzip_ahead_fd(fs->ahead), &fs->ahead_tick,
                            sizeof fs->ahead_tick, (off_t)-1, &fs->read_ev);
    } else if (weir_linesplit_unlend(&fs->ls) < 0) {
        rc = -ENOMEM;
    } else {
        fs->ahead_lend = weir_linesplit_pending(&fs->ls) == 0;
        fs->ahead_n = ahead_piece(fs);
        if (!fs->ahead_lend) {
            size_t room;
            char *dst = weir_linesplit_space(&fs->ls, &room);
            fs->ahead_n = fs->ahead_n < room ? fs->ahead_n : room;
            memcpy(dst, fs->ahead_data + fs->ahead_pos, fs->ahead_n);
        }
        rc = weir_loop_yield(loop, &fs->read_ev);
    }
    if (rc < 0) {
        fs->reading = 0;
        weir_file_source_fail(fs, rc == -ENOMEM ? rc : -EBUSY,
                              rc == -ENOMEM ? "out of memory" : "io_uring submission queue full");
    }
}

void weir_file_source_on_ahead(struct file_source *fs, int res)
{
    if (fs->ahead_wait) { /* the helper finished a file, maybe this one */
        fs->ahead_wait = 0;
        if (res == -ECANCELED || (res < 0 && fs->stopping)) {
            weir_file_source_drain(fs); /* a stop: it finishes there */
            return;
        }
        if (res < 0 && res != -EINTR && res != -EAGAIN) {
            weir_file_source_fail(fs, res, "waiting for the inflating thread");
            return;
        }
        if (fs->stopping)
            weir_file_source_drain(fs);
        else
            weir_file_source_ahead_read(fs);
        return;
    }
    if (res == -ECANCELED) { /* a stop: the piece is not taken */
        weir_file_source_drain(fs);
        return;
    }
    if (fs->ahead_lend) /* cannot fail: nothing was pending */
        (void)weir_linesplit_lend(&fs->ls, fs->ahead_data + fs->ahead_pos, fs->ahead_n);
    else
        weir_linesplit_commit(&fs->ls, fs->ahead_n);
    fs->stream_in += fs->ahead_n;
    fs->ahead_pos += fs->ahead_n;
    fs->at_eof = fs->ahead_pos >= fs->ahead_len;
    weir_file_source_drain(fs);
}

/* gzip files from the current one on are inflated on a helper thread
 * (gunzip_ahead.h) when there are any, it is not turned off, and it starts;
 * else on the loop, as before. */
void weir_file_source_start_ahead(struct file_source *fs)
{
    const struct file_source_conf *c = fs->s->conf;
    int any = 0;
    for (size_t k = fs->file; c->inflate_ahead && k < c->files.n && !any; k++)
        any = strcmp(c->files.paths[k], "-") != 0 && weir_file_is_gzip(c->files.paths[k]);
    if (any && weir_gunzip_ahead_start(&fs->ahead, (const char *const *)c->files.paths, c->files.n,
                                       fs->file) == 0)
        fs->ahead_on = fs->gzip && !fs->held;
}
