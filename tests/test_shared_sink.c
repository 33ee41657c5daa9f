/* One file sink written by two workers through its shared writer
 * (connectors/file_sink.c). Both workers' loops are driven from this thread,
 * as their threads would: records of ~3 KB go into a FIFO nobody reads yet.
 * Writing never blocks a loop; each worker's sink reports busy (its source
 * would pause) once its own lines wait past the bound; nothing is
 * acknowledged that was not written. Then the FIFO is read while the loops
 * run: every record has exactly one line, each line whole, and each batch's
 * acknowledgement arrives on its own worker's loop. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/pipeline.h"
#include "engine/worker.h"
#include "tests/check.h"

enum { PER_BATCH = 32, PAD = 3000, MAX_BATCHES = 1024 };

struct test_ticket {
    struct weir_ticket t;
    int worker;
};

static int stepping = -1; /* the worker whose loop is running */
static int acked, failed_acks, wrong_loop;

static void ticket_done(struct weir_ticket *t)
{
    struct test_ticket *tt = (struct test_ticket *)t;
    acked++;
    failed_acks += t->failed != 0;
    wrong_loop += tt->worker != stepping;
}

static char pad[PAD + 1];

static int record(char *out, size_t size, int seq)
{
    return snprintf(out, size, "{\"seq\":%d,\"pad\":\"%s\"}", seq, pad);
}

static void dispatch(struct weir_worker *w, struct test_ticket *tt, int first)
{
    struct weir_batch *b = weir_worker_batch(w);
    char rec[PAD + 64];
    for (int i = 0; i < PER_BATCH; i++) {
        int n = record(rec, sizeof rec, first + i), k = weir_batch_push(b);
        b->rec[k].value = weir_arena_strdup(&b->arena, rec, (size_t)n);
        b->rec[k].value_len = (uint32_t)n;
        b->rec[k].offset = first + i;
    }
    tt->t = (struct weir_ticket){.done = ticket_done};
    weir_ticket_hold(&tt->t); /* ours, as a source's */
    weir_worker_dispatch(w, b, &tt->t);
    weir_ticket_release(&tt->t, 1);
}

static void step(struct weir_worker *w, int k)
{
    stepping = k;
    weir_loop_step(w->loop, 1);
    stepping = -1;
}

/* Every line is one whole record, each seq once. */
static void check_lines(const char *data, size_t len, int nrec)
{
    char *seen = calloc((size_t)nrec, 1), rec[PAD + 64];
    int lines = 0, bad = 0, twice = 0;
    for (const char *p = data, *end = data + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            bad++;
            break;
        }
        int seq = -1, n;
        sscanf(p, "{\"seq\":%d,", &seq);
        if (seq < 0 || seq >= nrec) {
            bad++;
        } else {
            n = record(rec, sizeof rec, seq) - 1; /* without its '}': fields are appended */
            bad += (size_t)(nl - p) < (size_t)n || memcmp(p, rec, (size_t)n) != 0 || nl[-1] != '}';
            twice += seen[seq]++ > 0;
        }
        lines++;
        p = nl + 1;
    }
    CHECK(lines == nrec);
    CHECK(bad == 0);
    CHECK(twice == 0);
    if (lines != nrec || bad || twice)
        fprintf(stderr, "%d lines for %d records: %d not whole, %d twice\n", lines, nrec, bad, twice);
    free(seen);
}

int main(void)
{
    memset(pad, 'x', PAD);
    char dir[] = "/tmp/weir-test-shared-sink-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char fifo[128], in[128], dead[128], plpath[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    snprintf(dead, sizeof dead, "%s/dead.jsonl", dir);
    snprintf(plpath, sizeof plpath, "%s/p.json", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK); /* first: the writer's open must not wait */
    CHECK(rd >= 0);
    FILE *f = fopen(in, "w");
    fclose(f);
    f = fopen(plpath, "w");
    fprintf(f, "{\"source\":{\"type\":\"file\",\"path\":\"%s\"},\"operators\":[],"
               "\"sinks\":[{\"type\":\"file\",\"path\":\"%s\",\"append\":true}],"
               "\"dead_letter\":{\"type\":\"file\",\"path\":\"%s\"}}", in, fifo, dead);
    fclose(f);

    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    CHECK(weir_pipeline_load(plpath, NULL, 0, &pl, &diag) == 0);
    weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    if (!pl || rd < 0)
        return check_summary();
    struct weir_error err = {0};
    void *shared[2] = {0};
    const struct weir_sink_type *ft = pl->sinks[0].type;
    CHECK(ft->share && ft->share(pl->sinks[0].conf, &shared[0], &err) == 0);
    struct weir_worker w[2];
    int ok = 1;
    for (int k = 0; k < 2; k++) {
        int rc = weir_worker_init_shared(&w[k], k, 2, pl, 0, shared, &err);
        CHECK(rc == 0);
        ok &= rc == 0;
    }
    static struct test_ticket tickets[MAX_BATCHES];
    int nb = 0;
    if (ok) {
        /* Nobody reads: each worker's sink must say busy, without blocking. */
        int busy[2] = {0, 0};
        while (nb < MAX_BATCHES && !(busy[0] && busy[1])) {
            for (int k = 0; k < 2 && nb < MAX_BATCHES; k++) {
                if (busy[k])
                    continue;
                tickets[nb].worker = k;
                dispatch(&w[k], &tickets[nb], nb * PER_BATCH);
                nb++;
                step(&w[k], k);
                busy[k] = weir_worker_should_pause(&w[k]);
            }
        }
        CHECK(busy[0] && busy[1]);
        CHECK(nb < MAX_BATCHES);
        CHECK(acked < nb); /* what waits was not acknowledged */
        fprintf(stderr, "busy after %d batches of %d records (%.1f MB), %d acknowledged\n", nb,
                PER_BATCH, nb * PER_BATCH * (PAD + 20) / 1e6, acked);

        /* Read while the loops run: everything is written and acknowledged. */
        struct weir_buf got = {0};
        char chunk[65536];
        time_t deadline = time(NULL) + 30;
        while (acked < nb && time(NULL) < deadline) {
            ssize_t n = read(rd, chunk, sizeof chunk);
            if (n > 0)
                weir_buf_append(&got, chunk, (size_t)n);
            for (int k = 0; k < 2; k++)
                step(&w[k], k);
            if (n <= 0)
                usleep(1000);
        }
        for (ssize_t n; (n = read(rd, chunk, sizeof chunk)) > 0;)
            weir_buf_append(&got, chunk, (size_t)n);
        CHECK(acked == nb);
        CHECK(failed_acks == 0);
        CHECK(wrong_loop == 0);
        for (int k = 0; k < 2; k++)
            CHECK(!weir_worker_should_pause(&w[k]));
        check_lines(got.data, got.len, nb * PER_BATCH);
        CHECK(w[0].stats.records_out + w[1].stats.records_out == (uint64_t)nb * PER_BATCH);
        weir_buf_free(&got);
    }
    for (int k = 0; k < 2; k++)
        weir_worker_destroy(&w[k]);
    if (shared[0])
        ft->unshare(shared[0]);
    close(rd);
    weir_pipeline_free(pl);
    unlink(fifo);
    unlink(in);
    unlink(dead);
    unlink(plpath);
    rmdir(dir);
    return check_summary();
}
