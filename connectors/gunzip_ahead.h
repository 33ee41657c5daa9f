/* A file source's gzip files inflated ahead, on a helper thread: while the
 * worker turns one file's lines into records, the next files are read and
 * inflated beside it (as librdkafka decompresses a Kafka source's messages
 * on its own threads), so that the worker's core does not spend ~6% of its
 * time in the inflater (the fraud data set's daily files).
 *
 * The helper takes the files in the list's order from `first` on, and
 * starts one only while it holds less than WEIR_GUNZIP_AHEAD_BYTES of
 * inflated bytes. A file it does not take (not gzip, bigger than the caps below, more
 * than one gzip member, unreadable or corrupt) is given up: the source reads
 * that one the loop's way (connectors/gunzip.h), which also says what is
 * wrong with it. Only with libdeflate (WEIR_HAVE_LIBDEFLATE): without it,
 * weir_gunzip_ahead_start says no and the source reads as before.
 *
 * Thread use: start, take, release, fd and stop are the source's (the loop
 * thread); the helper only reads the files and its copy of the list. */
#ifndef WEIR_GUNZIP_AHEAD_H
#define WEIR_GUNZIP_AHEAD_H

#include <stddef.h>

/* The helper starts a file only while it holds less than this of inflated
 * bytes (so it may hold this plus one file's, at most the caps below), and
 * keeps at most this much of released buffers to use again. */
#define WEIR_GUNZIP_AHEAD_BYTES (16u << 20)
/* Files the helper takes: compressed and inflated sizes, at most. */
#define WEIR_GUNZIP_AHEAD_MAX_IN (64u << 20)
#define WEIR_GUNZIP_AHEAD_MAX_OUT (256u << 20)

struct weir_gunzip_ahead;

/* Starts the helper over paths[first..n) (copied).
 * Returns 0, -ENOTSUP without libdeflate, or -ENOMEM / -errno. */
int weir_gunzip_ahead_start(struct weir_gunzip_ahead **out, const char *const *paths, size_t n,
                            size_t first);

/* File k's inflated bytes: 1 with *data and *len set (valid until release
 * or stop), 0 when the helper has not finished it yet (wait for the fd to be
 * readable, then ask again), -1 when it gave the file up, or its k-th path
 * is not path (a reload that kept the source expanded its path again, and
 * the list changed: the source reads it the loop's way). Files are asked for
 * in order; asking for k gives up every file before k not released. */
int weir_gunzip_ahead_take(struct weir_gunzip_ahead *ga, size_t k, const char *path,
                           const char **data, size_t *len);

/* The source is done with file k: its memory goes back, the helper goes on. */
void weir_gunzip_ahead_release(struct weir_gunzip_ahead *ga, size_t k);

/* An eventfd that becomes readable (8 bytes) whenever a file is finished or
 * given up. */
int weir_gunzip_ahead_fd(const struct weir_gunzip_ahead *ga);

/* Stops the helper without waiting for it: one that has ended is joined
 * and everything freed; one still reading or inflating a file (at most the
 * caps above) is detached, writes nothing more to the fd and frees
 * everything when it ends. NULL is fine. */
void weir_gunzip_ahead_stop(struct weir_gunzip_ahead *ga);

#endif
