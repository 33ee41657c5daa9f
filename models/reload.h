/* A model that can change while it is served: the cell holds the current
 * version, workers take a reference to it between batches, and a background
 * thread watches a directory of versions and swaps in the one to serve (the
 * version the pin marker names, else the newest that loads: versions.h) when
 * it loads and fits, or watches a single file and loads it again when its
 * identity (device, inode, size, modification time) changed. It looks every
 * period, or only when poked (SIGHUP). A version that does not load or fit
 * is reported once and the current one keeps serving. Versions are freed
 * when the last worker lets go of them; their names stay valid until the
 * cell is freed (records point at them). */
#ifndef WEIR_MODEL_RELOAD_H
#define WEIR_MODEL_RELOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "models/model.h"

/* A model file as it was when it was read: a file renamed over it, or
 * rewritten in place, differs in at least one of these. */
struct weir_model_file_id {
    uint64_t dev, ino;
    int64_t size, mtime_ns;
};

/* Stats path into *id: 0, or -errno. */
int weir_model_file_id_of(const char *path, struct weir_model_file_id *id);
void weir_model_file_id_of_stat(const struct stat *st, struct weir_model_file_id *id);

struct weir_model_ref {
    struct weir_model *m; /* NULL once no one uses a replaced version */
    char version[256];    /* the file name */
    struct weir_model_file_id id; /* the file as it was before it was read (zero: unknown) */
    int refs;             /* workers using it, + 1 while it is the current one */
    struct weir_model_ref *next; /* every version the cell has served */
};

/* Checks a candidate (same inputs and outputs, quantised when needed);
 * returns 0 to accept it or writes why not. */
typedef int (*weir_model_accept_fn)(void *ctx, struct weir_model *m, char *why, size_t len);
typedef void (*weir_model_log_fn)(void *ctx, const char *line);

struct weir_model_cell {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    struct weir_model_ref *current;
    struct weir_model_ref *all;
    atomic_uint_fast64_t generation; /* bumped on each swap */
    /* the watcher */
    const char *dir;  /* a directory of versions, or the single file watched */
    int single;       /* dir is one file: loaded again when its identity changes */
    uint64_t period_ms;
    weir_model_accept_fn accept;
    weir_model_log_fn log;
    void *ctx;
    pthread_t thread;
    int started, stop;
    int poked;            /* WEIR_MODEL_LOOK: look now; | WEIR_MODEL_SAY: (SIGHUP) then say
                             what serves when nothing changed */
    /* files that failed, not retried until they change (a ring) */
    struct weir_model_rejected {
        char name[256];
        struct weir_model_file_id id;
    } rejected[16];
    unsigned nrejected;
    char missing[256]; /* the marker's version (or the single file), said to be missing once */
    atomic_uint_fast64_t swaps, rejects; /* for the metrics */
};

enum { WEIR_MODEL_LOOK = 1, WEIR_MODEL_SAY = 2 };

/* Takes ownership of m, the version first served; id: its file as it was
 * before it was read (NULL: unknown). */
int weir_model_cell_init(struct weir_model_cell *c, struct weir_model *m, const char *version,
                         const struct weir_model_file_id *id);
/* Starts the watcher once (returns 1 then; later calls do nothing and
 * return 0; -errno when the thread cannot start): every period_ms (0: only
 * when poked) it looks at dir for the version to serve. */
int weir_model_cell_watch(struct weir_model_cell *c, const char *dir, uint64_t period_ms,
                          weir_model_accept_fn accept, weir_model_log_fn log, void *ctx);
/* The same for a single file (path outlives the cell): every period_ms (0:
 * only when poked) it stats path and, when the file is not the one served
 * (weir_model_file_id), loads it, checks it with accept and swaps it in. */
int weir_model_cell_watch_file(struct weir_model_cell *c, const char *path, uint64_t period_ms,
                               weir_model_accept_fn accept, weir_model_log_fn log, void *ctx);
/* A version found not to load or fit before the watcher started (at
 * start-up, which said so): the watcher neither tries nor reports it again
 * until the file changes (st: as it was before it was read); counted in
 * rejects. */
struct stat;
void weir_model_cell_reject(struct weir_model_cell *c, const char *name, const struct stat *st);
/* The current version, referenced; give it back with put. */
struct weir_model_ref *weir_model_cell_get(struct weir_model_cell *c);
void weir_model_cell_put(struct weir_model_cell *c, struct weir_model_ref *r);
static inline uint64_t weir_model_cell_generation(struct weir_model_cell *c)
{
    return atomic_load_explicit(&c->generation, memory_order_acquire);
}
/* Asks the watcher to look now (from any thread; nothing without one).
 * poke (SIGHUP) also says what serves when nothing changed; look does not
 * (a pipeline reload that shares the cell). */
void weir_model_cell_poke(struct weir_model_cell *c);
void weir_model_cell_look(struct weir_model_cell *c);
/* The name of the version served now. */
void weir_model_cell_version(struct weir_model_cell *c, char *name, size_t len);
/* Stops the watcher and frees every version (no worker may hold one). */
void weir_model_cell_free(struct weir_model_cell *c);

#endif
