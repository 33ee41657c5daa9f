/* gzip files inflated ahead on a helper thread (connectors/gunzip_ahead.c):
 * files come back in order and whole; what the helper must not take (not
 * gzip, several members, corrupt, truncated) is given up for the loop to
 * read, a FIFO without being waited on; files skipped are dropped; a stop
 * while the helper works, or before anything was asked for, frees
 * everything without waiting for it (ASan, TSan); the helper's list is its
 * own copy; buffers used again for files of changing
 * sizes keep each file's own bytes. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "connectors/gunzip_ahead.h"
#include "tests/check.h"

static char dir[] = "/tmp/weir-test-gunzip-ahead.XXXXXX";

/* n lines of file `seed`'s own text. */
static char *text_of(int seed, size_t n, size_t *len)
{
    char *t = malloc(n * 40 + 1);
    size_t at = 0;
    for (size_t i = 0; i < n; i++)
        at += (size_t)sprintf(t + at, "%d,%zu,%u\n", seed, i, (unsigned)(i * 2654435761u));
    *len = at;
    return t;
}

static char *path_of(const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void write_gz(const char *path, const char *mode, const char *t, size_t len)
{
    gzFile g = gzopen(path, mode);
    CHECK(g != NULL);
    if (len)
        CHECK(gzwrite(g, t, (unsigned)len) == (int)len);
    gzclose(g);
}

/* take(k) until the helper has decided, waiting on its eventfd. */
static int take_wait(struct weir_gunzip_ahead *ga, const char *const *paths, size_t k,
                     const char **data, size_t *len)
{
    for (int i = 0; i < 500; i++) {
        int rc = weir_gunzip_ahead_take(ga, k, paths[k], data, len);
        if (rc != 0)
            return rc;
        struct pollfd p = {.fd = weir_gunzip_ahead_fd(ga), .events = POLLIN};
        if (poll(&p, 1, 20) == 1) {
            uint64_t tick;
            ssize_t r = read(p.fd, &tick, sizeof tick); /* the count back to 0 */
            (void)r;
        }
    }
    return 0;
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    size_t la, lf;
    char *a = text_of(1, 40000, &la), *f = text_of(6, 150000, &lf);
    const char *names[] = {"a.csv.gz", "b.csv", "c.csv.gz", "d.csv.gz", "e.csv.gz", "f.csv.gz",
                           "g.csv.gz"};
    char *paths[7];
    for (int k = 0; k < 7; k++)
        paths[k] = path_of(names[k]);
    write_gz(paths[0], "wb", a, la);
    FILE *plain = fopen(paths[1], "w");
    fputs("x,y\n1,2\n", plain);
    fclose(plain);
    write_gz(paths[2], "wb", a, 100); /* two members: the loop reads them */
    write_gz(paths[2], "ab", a + 100, 100);
    write_gz(paths[3], "wb", a, la); /* corrupt in the middle */
    FILE *cor = fopen(paths[3], "r+");
    fseek(cor, 200, SEEK_SET);
    fputs("garbage garbage garbage", cor);
    fclose(cor);
    write_gz(paths[4], "wb", "", 0); /* empty */
    write_gz(paths[5], "wb", f, lf);
    write_gz(paths[6], "wb", a, la); /* truncated: the trailer cut off */
    FILE *tr = fopen(paths[6], "r+");
    fseek(tr, 0, SEEK_END);
    CHECK(ftruncate(fileno(tr), ftell(tr) - 6) == 0);
    fclose(tr);

    struct weir_gunzip_ahead *ga;
    const char *data;
    size_t len;
    const char *const *P = (const char *const *)paths;
    CHECK(weir_gunzip_ahead_start(&ga, P, 7, 0) == 0);
    CHECK(take_wait(ga, P, 0, &data, &len) == 1 && len == la && memcmp(data, a, la) == 0);
    weir_gunzip_ahead_release(ga, 0);
    CHECK(take_wait(ga, P, 1, &data, &len) == -1); /* not gzip */
    CHECK(take_wait(ga, P, 2, &data, &len) == -1); /* two members */
    CHECK(take_wait(ga, P, 3, &data, &len) == -1); /* corrupt */
    CHECK(take_wait(ga, P, 4, &data, &len) == 1 && len == 0);
    weir_gunzip_ahead_release(ga, 4);
    CHECK(take_wait(ga, P, 5, &data, &len) == 1 && len == lf && memcmp(data, f, lf) == 0);
    weir_gunzip_ahead_release(ga, 5);
    CHECK(take_wait(ga, P, 6, &data, &len) == -1); /* truncated */
    CHECK(weir_gunzip_ahead_take(ga, 7, "x.gz", &data, &len) == -1); /* past the list */
    weir_gunzip_ahead_stop(ga);

    /* From file 5 on; file 5 skipped by asking for 6 (dropped, not kept). */
    CHECK(weir_gunzip_ahead_start(&ga, (const char *const *)paths, 7, 5) == 0);
    CHECK(weir_gunzip_ahead_take(ga, 4, P[4], &data, &len) == -1); /* before first */
    CHECK(take_wait(ga, P, 6, &data, &len) == -1);
    CHECK(weir_gunzip_ahead_take(ga, 5, P[5], &data, &len) == -1); /* dropped when 6 was asked */
    weir_gunzip_ahead_stop(ga);

    /* Stopped at once, and stopped with files ready and not taken. */
    CHECK(weir_gunzip_ahead_start(&ga, (const char *const *)paths, 7, 0) == 0);
    weir_gunzip_ahead_stop(ga);
    CHECK(weir_gunzip_ahead_start(&ga, (const char *const *)paths, 7, 0) == 0);
    CHECK(take_wait(ga, P, 0, &data, &len) == 1);
    weir_gunzip_ahead_stop(ga);
    weir_gunzip_ahead_stop(NULL);

    /* The helper keeps its own copy of the list: the source's (a pipeline
     * version a reload frees) may go while it works. */
    char **copy = malloc(7 * sizeof *copy);
    for (int k = 0; k < 7; k++)
        copy[k] = strdup(paths[k]);
    CHECK(weir_gunzip_ahead_start(&ga, (const char *const *)copy, 7, 0) == 0);
    for (int k = 0; k < 7; k++) {
        memset(copy[k], 'x', strlen(copy[k]));
        free(copy[k]);
    }
    free(copy);
    CHECK(take_wait(ga, P, 0, &data, &len) == 1 && len == la && memcmp(data, a, la) == 0);
    weir_gunzip_ahead_release(ga, 0);
    CHECK(take_wait(ga, P, 5, &data, &len) == 1 && len == lf && memcmp(data, f, lf) == 0);
    weir_gunzip_ahead_stop(ga);

    /* The source's list no longer the helper's (a reload that kept the
     * source expanded its path again): file k named otherwise is given up. */
    CHECK(weir_gunzip_ahead_start(&ga, P, 7, 0) == 0);
    CHECK(take_wait(ga, P, 0, &data, &len) == 1);
    CHECK(weir_gunzip_ahead_take(ga, 0, P[5], &data, &len) == -1);
    CHECK(weir_gunzip_ahead_take(ga, 0, P[0], &data, &len) == 1 && len == la);
    weir_gunzip_ahead_stop(ga);

    /* Buffers used again (released ones kept as spares, the compressed one
     * kept): files of changing sizes, each with its own text, come back whole,
     * one buffer too small for the next file or not. */
    enum { NMIX = 12 };
    char *mix[NMIX], *mix_text[NMIX];
    size_t mix_len[NMIX];
    for (int k = 0; k < NMIX; k++) {
        char name[32];
        snprintf(name, sizeof name, "mix%02d.csv.gz", k);
        mix[k] = path_of(name);
        size_t lines = k % 3 == 0 ? 60000 : k % 3 == 1 ? 300 : 20000 + 1000 * (size_t)k;
        mix_text[k] = text_of(100 + k, lines, &mix_len[k]);
        write_gz(mix[k], "wb", mix_text[k], mix_len[k]);
    }
    const char *const *M = (const char *const *)mix;
    CHECK(weir_gunzip_ahead_start(&ga, M, NMIX, 0) == 0);
    int mix_ok = 1;
    for (size_t k = 0; k < NMIX; k++) {
        mix_ok &= take_wait(ga, M, k, &data, &len) == 1 && len == mix_len[k] &&
                  memcmp(data, mix_text[k], len) == 0;
        weir_gunzip_ahead_release(ga, k);
    }
    CHECK(mix_ok);
    weir_gunzip_ahead_stop(ga);
    /* Stopped while the helper reads and inflates (the loop must not wait
     * for it): it ends on its own and frees everything (ASan, TSan). */
    for (int round = 0; round < 4; round++) {
        CHECK(weir_gunzip_ahead_start(&ga, M, NMIX, 0) == 0);
        if (round & 1)
            CHECK(take_wait(ga, M, 0, &data, &len) == 1);
        weir_gunzip_ahead_stop(ga);
    }
    for (int k = 0; k < NMIX; k++) {
        unlink(mix[k]);
        free(mix[k]);
        free(mix_text[k]);
    }

    /* A FIFO named *.gz, no writer: given up at once, not waited on. */
    char *fifo = path_of("fifo.csv.gz");
    CHECK(mkfifo(fifo, 0600) == 0);
    const char *just_fifo[] = {fifo};
    CHECK(weir_gunzip_ahead_start(&ga, just_fifo, 1, 0) == 0);
    CHECK(take_wait(ga, just_fifo, 0, &data, &len) == -1);
    weir_gunzip_ahead_stop(ga);
    unlink(fifo);
    free(fifo);

    for (int k = 0; k < 7; k++) {
        unlink(paths[k]);
        free(paths[k]);
    }
    rmdir(dir);
    free(a);
    free(f);
    return check_summary();
}
