/* The model cell and its watcher thread (models/reload.h). Loading happens
 * on the watcher, never on a worker's loop; a swap is a pointer change under
 * the cell's mutex, which workers take only when the generation tells them
 * a new version is there, between batches. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "models/reload.h"
#include "models/versions.h"

static void id_of_stat(const struct stat *st, struct weir_model_file_id *id)
{
    int64_t mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    *id = (struct weir_model_file_id){(uint64_t)st->st_dev, (uint64_t)st->st_ino,
                                      (int64_t)st->st_size, mtime_ns};
}

static int same_id(const struct weir_model_file_id *a, const struct weir_model_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns;
}

void weir_model_file_id_of_stat(const struct stat *st, struct weir_model_file_id *id)
{
    id_of_stat(st, id);
}

int weir_model_file_id_of(const char *path, struct weir_model_file_id *id)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -errno;
    id_of_stat(&st, id);
    return 0;
}

static struct weir_model_ref *ref_new(struct weir_model_cell *c, struct weir_model *m,
                                      const char *version, const struct weir_model_file_id *id)
{
    struct weir_model_ref *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->m = m;
    r->refs = 1;
    snprintf(r->version, sizeof r->version, "%s", version);
    if (id)
        r->id = *id;
    r->next = c->all;
    c->all = r;
    return r;
}

int weir_model_cell_init(struct weir_model_cell *c, struct weir_model *m, const char *version,
                         const struct weir_model_file_id *id)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->wake, NULL);
    atomic_init(&c->generation, 1);
    c->current = ref_new(c, m, version, id);
    return c->current ? 0 : -ENOMEM;
}

struct weir_model_ref *weir_model_cell_get(struct weir_model_cell *c)
{
    pthread_mutex_lock(&c->mu);
    struct weir_model_ref *r = c->current;
    r->refs++;
    pthread_mutex_unlock(&c->mu);
    return r;
}

/* With the mutex held. */
static void unref(struct weir_model_ref *r)
{
    if (--r->refs == 0) {
        weir_model_free(r->m);
        r->m = NULL;
    }
}

void weir_model_cell_put(struct weir_model_cell *c, struct weir_model_ref *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&c->mu);
    unref(r);
    pthread_mutex_unlock(&c->mu);
}

static void say(struct weir_model_cell *c, const char *fmt, const char *a, const char *b)
{
    char line[1400];
    snprintf(line, sizeof line, fmt, a, b);
    if (c->log)
        c->log(c->ctx, line);
}

/* The file as it was when it failed (device, inode, size, nanosecond
 * mtime): a file seen while it was being copied in is tried again once the
 * copy changed it, and so is another file renamed over it. */
static int rejected_before(const struct weir_model_cell *c, const char *name,
                           const struct stat *st)
{
    struct weir_model_file_id id;
    id_of_stat(st, &id);
    unsigned n = c->nrejected < 16 ? c->nrejected : 16;
    for (unsigned i = 0; i < n; i++)
        if (strcmp(c->rejected[i].name, name) == 0 && same_id(&c->rejected[i].id, &id))
            return 1;
    return 0;
}

static void remember_rejected(struct weir_model_cell *c, const char *name, const struct stat *st)
{
    struct weir_model_rejected *r = &c->rejected[c->nrejected++ % 16];
    snprintf(r->name, sizeof r->name, "%s", name);
    id_of_stat(st, &r->id);
}

void weir_model_cell_reject(struct weir_model_cell *c, const char *name, const struct stat *st)
{
    remember_rejected(c, name, st);
    atomic_fetch_add(&c->rejects, 1);
}

/* m becomes the current version (1), or is freed without memory (0);
 * note (sizeof m->note bytes) receives what its loader asks to be read
 * once: m is the cell's after. */
static int swap_in(struct weir_model_cell *c, struct weir_model *m, const char *name,
                   const struct weir_model_file_id *id, char *note)
{
    snprintf(note, sizeof m->note, "%s", m->note);
    pthread_mutex_lock(&c->mu);
    struct weir_model_ref *old = c->current, *r = ref_new(c, m, name, id);
    if (r) {
        c->current = r;
        unref(old);
        atomic_fetch_add_explicit(&c->generation, 1, memory_order_release);
        atomic_fetch_add(&c->swaps, 1);
    } else {
        weir_model_free(m);
    }
    pthread_mutex_unlock(&c->mu);
    return r != NULL;
}

/* Loads path and checks that it fits; NULL when it does not, why says why,
 * and the rejection is counted and remembered under name (not tried again
 * until st changes). */
static struct weir_model *load_checked(struct weir_model_cell *c, const char *path,
                                       const char *name, const struct stat *st, char *why,
                                       size_t len)
{
    struct weir_model *m = NULL;
    int rc = weir_model_load(path, &m, why, len);
    if (rc == 0 && c->accept)
        rc = c->accept(c->ctx, m, why, len);
    if (rc == 0)
        return m;
    weir_model_free(m);
    weir_model_cell_reject(c, name, st);
    return NULL;
}

/* The served file's identity, and its version's name when version is set:
 * read under the lock, as a swap may replace the current model. */
static struct weir_model_file_id served_id(struct weir_model_cell *c, char *version, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    struct weir_model_file_id id = c->current->id;
    if (version)
        snprintf(version, cap, "%s", c->current->version);
    pthread_mutex_unlock(&c->mu);
    return id;
}

/* Whether the file at path is another than the one served (put over it
 * under the same name, or rewritten in place); 0 when it cannot be read. */
static int served_replaced(struct weir_model_cell *c, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    struct weir_model_file_id served = served_id(c, NULL, 0), there;
    if (weir_model_file_id_of(path, &there) < 0)
        return 0;
    return !same_id(&there, &served);
}

/* Loads name and swaps it in; 1 swapped, 0 rejected or seen rejected. */
static int try_version(struct weir_model_cell *c, const char *name, const char *current)
{
    char path[4096], why[1200];
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || rejected_before(c, name, &st))
        return 0;
    struct weir_model *m = load_checked(c, path, name, &st, why, sizeof why);
    if (!m) {
        say(c, "model version %s rejected, the current one keeps serving: %s", name, why);
        return 0;
    }
    struct weir_model_file_id id;
    id_of_stat(&st, &id);
    char note[sizeof m->note];
    int r = swap_in(c, m, name, &id, note);
    if (r && strcmp(name, current) == 0)
        say(c, "model version %s was replaced: the new file now serving%s", name, "");
    else if (r)
        say(c, "model version %s now serving (was %s)", name, current);
    if (r && note[0])
        say(c, "model version %s: %s", name, note);
    return r;
}

/* One look at the directory: the marker's version, else the newest that
 * loads, swapped in when it is not the one served, or is but its file was
 * replaced. Versions older than the one served are tried only when it left
 * the directory. */
static void check_once(struct weir_model_cell *c, int poked)
{
    char current[256], marker[256], why[700];
    weir_model_cell_version(c, current, sizeof current); /* only this thread changes it */
    int has_marker = weir_model_marker_read(c->dir, marker, sizeof marker, why, sizeof why);
    if (has_marker < 0) {
        struct stat st = {0};
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", c->dir, WEIR_MODEL_MARKER);
        if (stat(path, &st) == 0 && !rejected_before(c, WEIR_MODEL_MARKER, &st)) {
            remember_rejected(c, WEIR_MODEL_MARKER, &st);
            say(c, "%s; model version %s keeps serving", why, current);
        }
        return;
    }
    int swapped = 0;
    if (has_marker == 1) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", c->dir, marker);
        int there = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        if (!there && (poked || strcmp(c->missing, marker) != 0))
            say(c, "the pin marker " WEIR_MODEL_MARKER " names %s, which is not in the "
                "directory; model version %s keeps serving", marker, current);
        snprintf(c->missing, sizeof c->missing, "%s", there ? "" : marker);
        if (there && (strcmp(marker, current) != 0 || served_replaced(c, marker)))
            swapped = try_version(c, marker, current);
        else if (!there)
            return;
    } else {
        char **names = NULL;
        size_t n = 0;
        if (weir_model_versions(c->dir, &names, &n, why, sizeof why) < 0)
            n = 0;
        for (size_t i = n; i-- > 0 && !swapped;) {
            if (strcmp(names[i], current) == 0) { /* the one served: unless replaced */
                if (served_replaced(c, names[i]))
                    swapped = try_version(c, names[i], current);
                break;
            }
            swapped = try_version(c, names[i], current);
        }
        weir_model_versions_free(names, n);
    }
    if (poked && !swapped)
        say(c, "SIGHUP: model versions checked: %s keeps serving%s", current,
            has_marker == 1 ? " (" WEIR_MODEL_MARKER " names it)" : "");
}

/* "1234 bytes, modified 2026-12-01T03:10:05.123Z" */
static void describe(const struct weir_model_file_id *id, char *out, size_t len)
{
    time_t t = (time_t)(id->mtime_ns / 1000000000);
    struct tm tm;
    char when[32] = "?";
    if (gmtime_r(&t, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, len, "%jd bytes, modified %s.%03dZ", (intmax_t)id->size, when,
             (int)(id->mtime_ns % 1000000000 / 1000000));
}

/* One look at a single file: loaded again when it is not the file served
 * (another one renamed over it, or rewritten in place). */
static void check_file(struct weir_model_cell *c, int say_unchanged)
{
    char name[256], why[1200], now[96], there_now[96];
    struct weir_model_file_id served = served_id(c, name, sizeof name);
    describe(&served, now, sizeof now);
    struct stat st;
    int there = stat(c->dir, &st);
    if (there < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, sizeof why, "%s", there < 0 ? strerror(errno) : "not a regular file");
        if (say_unchanged || !c->missing[0])
            say(c, "model file %s cannot be read (%s); the one loaded before keeps serving",
                c->dir, why);
        snprintf(c->missing, sizeof c->missing, "%s", name);
        return;
    }
    c->missing[0] = 0;
    struct weir_model_file_id id;
    id_of_stat(&st, &id);
    describe(&id, there_now, sizeof there_now);
    if (same_id(&id, &served) || rejected_before(c, name, &st)) {
        if (say_unchanged && same_id(&id, &served))
            say(c, "SIGHUP: model file %s checked: unchanged (%s), keeps serving", c->dir, now);
        else if (say_unchanged)
            say(c, "SIGHUP: model file %s checked: the file there (%s) was rejected and is "
                "unchanged since; the one loaded before keeps serving", c->dir, there_now);
        return;
    }
    struct weir_model *m = load_checked(c, c->dir, name, &st, why, sizeof why);
    if (!m) {
        say(c, "model file %s changed but is rejected, the one loaded before keeps serving: %s",
            c->dir, why);
        return;
    }
    char note[sizeof m->note];
    if (swap_in(c, m, name, &id, note)) {
        char line[300];
        snprintf(line, sizeof line, "%s; was %s", there_now, now);
        say(c, "model file %s changed: the new one now serving (%s)", c->dir, line);
        if (note[0])
            say(c, "model file %s: %s", c->dir, note);
    }
}

static void *watch(void *arg)
{
    struct weir_model_cell *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        if (!c->poked && c->period_ms == 0) {
            pthread_cond_wait(&c->wake, &c->mu);
        } else if (!c->poked) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + c->period_ms % 1000 * 1000000ull;
            until.tv_sec += (time_t)(c->period_ms / 1000 + ns / 1000000000ull);
            until.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&c->wake, &c->mu, &until);
        }
        if (c->stop)
            break;
        if (!c->poked && c->period_ms == 0)
            continue; /* woken for nothing */
        int poked = c->poked;
        c->poked = 0;
        pthread_mutex_unlock(&c->mu);
        if (c->single)
            check_file(c, poked & WEIR_MODEL_SAY);
        else
            check_once(c, poked & WEIR_MODEL_SAY);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static void poke(struct weir_model_cell *c, int how)
{
    pthread_mutex_lock(&c->mu);
    if (c->started) {
        c->poked |= how;
        pthread_cond_signal(&c->wake);
    }
    pthread_mutex_unlock(&c->mu);
}

void weir_model_cell_poke(struct weir_model_cell *c)
{
    poke(c, WEIR_MODEL_LOOK | WEIR_MODEL_SAY);
}

void weir_model_cell_look(struct weir_model_cell *c)
{
    poke(c, WEIR_MODEL_LOOK);
}

void weir_model_cell_version(struct weir_model_cell *c, char *name, size_t len)
{
    pthread_mutex_lock(&c->mu);
    snprintf(name, len, "%s", c->current->version);
    pthread_mutex_unlock(&c->mu);
}

static int start(struct weir_model_cell *c, const char *dir, int single, uint64_t period_ms,
                 weir_model_accept_fn accept, weir_model_log_fn log, void *ctx)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (!c->started) {
        c->dir = dir;
        c->single = single;
        c->period_ms = period_ms;
        c->accept = accept;
        c->log = log;
        c->ctx = ctx;
        rc = -pthread_create(&c->thread, NULL, watch, c);
        c->started = rc == 0;
        rc = rc ?: 1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int weir_model_cell_watch(struct weir_model_cell *c, const char *dir, uint64_t period_ms,
                          weir_model_accept_fn accept, weir_model_log_fn log, void *ctx)
{
    return start(c, dir, 0, period_ms, accept, log, ctx);
}

int weir_model_cell_watch_file(struct weir_model_cell *c, const char *path, uint64_t period_ms,
                               weir_model_accept_fn accept, weir_model_log_fn log, void *ctx)
{
    return start(c, path, 1, period_ms, accept, log, ctx);
}

void weir_model_cell_free(struct weir_model_cell *c)
{
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->wake);
    int started = c->started;
    pthread_mutex_unlock(&c->mu);
    if (started)
        pthread_join(c->thread, NULL);
    while (c->all) {
        struct weir_model_ref *r = c->all;
        c->all = r->next;
        weir_model_free(r->m);
        free(r);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->wake);
}
