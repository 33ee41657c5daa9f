/* See gunzip_ahead.h. One helper thread per source, one file at a time:
 * read whole (pread, in pieces, so that a stop is seen between them), then
 * inflated by libdeflate in one call into a buffer of the size the gzip
 * trailer gives.
 *
 * Buffers are used again, file after file: the compressed bytes' one, and
 * the inflated files' ones the source released (spares). Allocated anew for
 * each file, every file's pages were faulted in and zeroed by the kernel
 * again: over the fraud data set's 153 files, 12,600-13,200 minor page
 * faults a run against 4,300-6,200 inflating on the worker; 9,600-11,300
 * with the spares (the rest mostly the first 16 MiB held ahead). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "connectors/gunzip_ahead.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/file_list.h"

#ifdef WEIR_HAVE_LIBDEFLATE
#include <libdeflate.h>

enum ahead_state { AHEAD_WAITING, AHEAD_READY, AHEAD_GIVEN_UP, AHEAD_RELEASED };

struct ahead_file {
    enum ahead_state state;
    char *data;
    size_t len, cap;
};

/* Released buffers kept for the next files: at most this many, and at most
 * WEIR_GUNZIP_AHEAD_BYTES in all (a bigger one is freed). */
#define AHEAD_SPARES 4

struct ahead_buf {
    char *data;
    size_t cap;
};

struct weir_gunzip_ahead {
    char **paths; /* the helper's own copy: it may outlive the source's list */
    size_t n, first;
    struct ahead_file *files; /* [first, n) */
    size_t held;              /* inflated bytes of READY files */
    struct ahead_buf spare[AHEAD_SPARES];
    size_t nspare, spare_bytes;
    unsigned char *in; /* the compressed bytes: the helper's alone */
    size_t in_cap;
    int efd;
    int stop;
    int exited;    /* the helper has left ahead_main's loop */
    int abandoned; /* stopped while the helper was busy: the helper frees everything */
    pthread_mutex_t mu;
    pthread_cond_t room; /* the helper waits here for held to go down, or a stop */
    pthread_t thread;
};

/* A new buffer's size for size bytes: the next files are about as big. */
static size_t with_headroom(size_t size)
{
    return size + size / 8 + 1;
}

/* ga->in, at least len bytes: 0, or -1. */
static int in_room(struct weir_gunzip_ahead *ga, size_t len)
{
    if (len <= ga->in_cap)
        return 0;
    free(ga->in);
    ga->in_cap = 0;
    if (!(ga->in = malloc(with_headroom(len))))
        return -1;
    ga->in_cap = with_headroom(len);
    return 0;
}

/* The whole file at path into ga->in, if it is small enough: 0, or -1. */
static int read_whole(struct weir_gunzip_ahead *ga, const char *path, size_t *len)
{
    /* O_NONBLOCK: a FIFO named *.gz must not hold the helper in open()
     * until a writer comes (a stop would then wait for it); it is not a
     * regular file, so it is given up, and the loop reads it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 18 ||
        (uint64_t)st.st_size > WEIR_GUNZIP_AHEAD_MAX_IN || in_room(ga, (size_t)st.st_size) < 0) {
        close(fd);
        return -1;
    }
    size_t got = 0, want = (size_t)st.st_size;
    while (got < want) {
        pthread_mutex_lock(&ga->mu);
        int stop = ga->stop;
        pthread_mutex_unlock(&ga->mu);
        size_t piece = want - got < (4u << 20) ? want - got : (4u << 20);
        ssize_t r = stop ? -1 : pread(fd, ga->in + got, piece, (off_t)got);
        if (r < 0 && errno == EINTR && !stop)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != want)
        return -1;
    *len = want;
    return 0;
}

/* A buffer handed back (with mu held): kept as a spare, or freed. */
static void recycle(struct weir_gunzip_ahead *ga, char *data, size_t cap)
{
    if (data && ga->nspare < AHEAD_SPARES && ga->spare_bytes + cap <= WEIR_GUNZIP_AHEAD_BYTES) {
        ga->spare[ga->nspare++] = (struct ahead_buf){data, cap};
        ga->spare_bytes += cap;
    } else {
        free(data);
    }
}

/* A buffer of at least size bytes for the helper: the smallest spare that
 * is big enough, else a new one (NULL when out of memory), and then the
 * smallest spare is freed: file sizes that change for good replace the
 * spares one by one instead of keeping ones no file fits. */
static char *buffer_for(struct weir_gunzip_ahead *ga, size_t size, size_t *cap)
{
    pthread_mutex_lock(&ga->mu);
    size_t fit = ga->nspare, least = 0;
    for (size_t k = 0; k < ga->nspare; k++) {
        size_t c = ga->spare[k].cap;
        if (c >= size && (fit == ga->nspare || c < ga->spare[fit].cap))
            fit = k;
        if (c < ga->spare[least].cap)
            least = k;
    }
    size_t k = fit < ga->nspare ? fit : least;
    struct ahead_buf b = ga->nspare ? ga->spare[k] : (struct ahead_buf){NULL, 0};
    if (ga->nspare) {
        ga->spare[k] = ga->spare[--ga->nspare];
        ga->spare_bytes -= b.cap;
    }
    pthread_mutex_unlock(&ga->mu);
    if (b.data && b.cap >= size) {
        *cap = b.cap;
        return b.data;
    }
    free(b.data);
    *cap = with_headroom(size);
    return malloc(*cap);
}

static void give_back(struct weir_gunzip_ahead *ga, char *data, size_t cap)
{
    pthread_mutex_lock(&ga->mu);
    recycle(ga, data, cap);
    pthread_mutex_unlock(&ga->mu);
}

/* File path inflated whole: 0 with *out, *out_len and *out_cap, or -1
 * (given up). */
static int inflate_file(struct weir_gunzip_ahead *ga, struct libdeflate_decompressor *d,
                        const char *path, char **out, size_t *out_len, size_t *out_cap)
{
    size_t in_len, cap = 0;
    if (!weir_file_is_gzip(path) || read_whole(ga, path, &in_len) < 0)
        return -1;
    const unsigned char *in = ga->in;
    /* ISIZE, the trailer's last 4 bytes: the member's size mod 2^32 */
    size_t size = (size_t)in[in_len - 4] | (size_t)in[in_len - 3] << 8 |
                  (size_t)in[in_len - 2] << 16 | (size_t)in[in_len - 1] << 24;
    size_t in_used = 0, used = 0;
    char *buf = size <= WEIR_GUNZIP_AHEAD_MAX_OUT ? buffer_for(ga, size ? size : 1, &cap) : NULL;
    /* Anything but one member that fills buf exactly (several members, a
     * wrong ISIZE, corrupt data) is the loop's to read and report. */
    int ok = buf && libdeflate_gzip_decompress_ex(d, in, in_len, buf, size, &in_used, &used) ==
                        LIBDEFLATE_SUCCESS &&
             in_used == in_len && used == size;
    if (!ok) {
        give_back(ga, buf, cap);
        return -1;
    }
    *out = buf;
    *out_len = size;
    *out_cap = cap;
    return 0;
}

static void signal_source(struct weir_gunzip_ahead *ga)
{
    uint64_t one = 1;
    ssize_t r = write(ga->efd, &one, sizeof one); /* adds to the count: never blocks */
    (void)r;
}

static void ahead_free(struct weir_gunzip_ahead *ga)
{
    for (size_t k = ga->first; k < ga->n; k++)
        free(ga->files[k - ga->first].data);
    for (size_t k = 0; k < ga->nspare; k++)
        free(ga->spare[k].data);
    free(ga->in);
    pthread_mutex_destroy(&ga->mu);
    pthread_cond_destroy(&ga->room);
    close(ga->efd);
    free(ga->files);
    for (size_t k = 0; ga->paths && k < ga->n; k++)
        free(ga->paths[k]);
    free(ga->paths);
    free(ga);
}

static void *ahead_main(void *arg)
{
    struct weir_gunzip_ahead *ga = arg;
    pthread_setname_np(pthread_self(), "weir-gunzip");
    struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
    for (size_t k = ga->first; k < ga->n; k++) {
        pthread_mutex_lock(&ga->mu);
        while (!ga->stop && ga->held >= WEIR_GUNZIP_AHEAD_BYTES)
            pthread_cond_wait(&ga->room, &ga->mu);
        int stop = ga->stop, wanted = ga->files[k - ga->first].state == AHEAD_WAITING;
        pthread_mutex_unlock(&ga->mu);
        if (stop)
            break;
        char *data = NULL;
        size_t len = 0, cap = 0;
        int rc = wanted && d ? inflate_file(ga, d, ga->paths[k], &data, &len, &cap) : -1;
        pthread_mutex_lock(&ga->mu);
        struct ahead_file *f = &ga->files[k - ga->first];
        if (f->state == AHEAD_WAITING && rc == 0) {
            f->state = AHEAD_READY;
            f->data = data;
            f->len = len;
            f->cap = cap;
            ga->held += len;
            data = NULL;
        } else if (f->state == AHEAD_WAITING) {
            f->state = AHEAD_GIVEN_UP;
        }
        recycle(ga, data, cap); /* the source went past it meanwhile */
        stop = ga->stop;
        pthread_mutex_unlock(&ga->mu);
        if (!stop) /* after a stop the source no longer reads the eventfd */
            signal_source(ga);
    }
    if (d)
        libdeflate_free_decompressor(d);
    pthread_mutex_lock(&ga->mu);
    ga->exited = 1;
    int abandoned = ga->abandoned;
    pthread_mutex_unlock(&ga->mu);
    if (abandoned)
        ahead_free(ga);
    return NULL;
}

int weir_gunzip_ahead_start(struct weir_gunzip_ahead **out, const char *const *paths, size_t n,
                            size_t first)
{
    *out = NULL;
    if (first >= n)
        return -EINVAL;
    struct weir_gunzip_ahead *ga = calloc(1, sizeof *ga);
    if (!ga || !(ga->files = calloc(n - first, sizeof *ga->files))) {
        free(ga);
        return -ENOMEM;
    }
    ga->n = n;
    ga->first = first;
    int copied = (ga->paths = calloc(n, sizeof *ga->paths)) != NULL;
    for (size_t k = first; copied && k < n; k++)
        copied = (ga->paths[k] = strdup(paths[k])) != NULL;
    if (!copied) {
        for (size_t k = 0; ga->paths && k < n; k++)
            free(ga->paths[k]);
        free(ga->paths);
        free(ga->files);
        free(ga);
        return -ENOMEM;
    }
    /* blocking: on a non-blocking one, io_uring's read returns EAGAIN instead of waiting */
    ga->efd = eventfd(0, EFD_CLOEXEC);
    int rc = ga->efd < 0 ? -errno : 0;
    if (rc == 0) {
        pthread_mutex_init(&ga->mu, NULL);
        pthread_cond_init(&ga->room, NULL);
        rc = -pthread_create(&ga->thread, NULL, ahead_main, ga);
        if (rc < 0) {
            pthread_mutex_destroy(&ga->mu);
            pthread_cond_destroy(&ga->room);
        }
    }
    if (rc < 0) {
        if (ga->efd >= 0)
            close(ga->efd);
        for (size_t k = 0; k < n; k++)
            free(ga->paths[k]);
        free(ga->paths);
        free(ga->files);
        free(ga);
        return rc;
    }
    *out = ga;
    return 0;
}

/* Gives file i up or hands its memory back (with mu held). */
static void drop_file(struct weir_gunzip_ahead *ga, struct ahead_file *f, enum ahead_state to)
{
    if (f->state == AHEAD_READY) {
        ga->held -= f->len;
        recycle(ga, f->data, f->cap);
        f->data = NULL;
        pthread_cond_signal(&ga->room);
    }
    f->state = to;
}

int weir_gunzip_ahead_take(struct weir_gunzip_ahead *ga, size_t k, const char *path,
                           const char **data, size_t *len)
{
    if (k < ga->first || k >= ga->n || strcmp(ga->paths[k], path) != 0)
        return -1;
    pthread_mutex_lock(&ga->mu);
    for (size_t j = ga->first; j < k; j++) /* skipped: the helper need not keep them */
        if (ga->files[j - ga->first].state != AHEAD_RELEASED)
            drop_file(ga, &ga->files[j - ga->first], AHEAD_RELEASED);
    struct ahead_file *f = &ga->files[k - ga->first];
    int rc = f->state == AHEAD_READY ? 1 : f->state == AHEAD_WAITING ? 0 : -1;
    if (rc == 1) {
        *data = f->data;
        *len = f->len;
    }
    pthread_mutex_unlock(&ga->mu);
    return rc;
}

void weir_gunzip_ahead_release(struct weir_gunzip_ahead *ga, size_t k)
{
    if (k < ga->first || k >= ga->n)
        return;
    pthread_mutex_lock(&ga->mu);
    drop_file(ga, &ga->files[k - ga->first], AHEAD_RELEASED);
    pthread_mutex_unlock(&ga->mu);
}

int weir_gunzip_ahead_fd(const struct weir_gunzip_ahead *ga)
{
    return ga->efd;
}

void weir_gunzip_ahead_stop(struct weir_gunzip_ahead *ga)
{
    if (!ga)
        return;
    /* The loop thread must not wait for a read (a slow disk, NFS) or an
     * inflation of up to 256 MiB: a helper still busy is left to end on
     * its own and free everything. */
    pthread_t helper = ga->thread;
    pthread_mutex_lock(&ga->mu);
    ga->stop = 1;
    pthread_cond_signal(&ga->room);
    int exited = ga->exited;
    ga->abandoned = !exited;
    pthread_mutex_unlock(&ga->mu);
    if (!exited) {
        pthread_detach(helper);
        return;
    }
    pthread_join(helper, NULL);
    ahead_free(ga);
}

#else /* without libdeflate: the source reads every file the loop's way */

int weir_gunzip_ahead_start(struct weir_gunzip_ahead **out, const char *const *paths, size_t n,
                            size_t first)
{
    (void)paths, (void)n, (void)first;
    *out = NULL;
    return -ENOTSUP;
}

int weir_gunzip_ahead_take(struct weir_gunzip_ahead *ga, size_t k, const char *path,
                           const char **data, size_t *len)
{
    (void)ga, (void)k, (void)path, (void)data, (void)len;
    return -1;
}

void weir_gunzip_ahead_release(struct weir_gunzip_ahead *ga, size_t k)
{
    (void)ga, (void)k;
}

int weir_gunzip_ahead_fd(const struct weir_gunzip_ahead *ga)
{
    (void)ga;
    return -1;
}

void weir_gunzip_ahead_stop(struct weir_gunzip_ahead *ga)
{
    (void)ga;
}

#endif
