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

static struct weir_model_ref *ref_new(struct weir_model_cell *c, struct weir_model *m,
                                      const char *version)
{
    struct weir_model_ref *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->m = m;
    r->refs = 1;
    snprintf(r->version, sizeof r->version, "%s", version);
    r->next = c->all;
    c->all = r;
    return r;
}

int weir_model_cell_init(struct weir_model_cell *c, struct weir_model *m, const char *version)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->wake, NULL);
    atomic_init(&c->generation, 1);
    c->current = ref_new(c, m, version);
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

static int is_version(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    return e->d_name[0] != '.' &&
           ((n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0) ||
            (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0));
}

/* The newest version's name in dir, or "" when there is none. */
static void newest(const char *dir, char *name, size_t len)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_version, versionsort);
    name[0] = 0;
    if (n > 0)
        snprintf(name, len, "%s", names[n - 1]->d_name);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void say(struct weir_model_cell *c, const char *fmt, const char *a, const char *b)
{
    char line[1400];
    snprintf(line, sizeof line, fmt, a, b);
    if (c->log)
        c->log(c->ctx, line);
}

/* One look at the directory: loads the newest version if it is new. */
static void check_once(struct weir_model_cell *c)
{
    char name[256], path[4096], why[1200];
    newest(c->dir, name, sizeof name);
    pthread_mutex_lock(&c->mu);
    int same = strcmp(name, c->current->version) == 0;
    pthread_mutex_unlock(&c->mu); /* only this thread changes current */
    snprintf(path, sizeof path, "%s/%s", c->dir, name);
    struct stat st;
    if (!name[0] || same || stat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;
    /* The file as it was (nanosecond mtime and size): a file seen while it
     * was being copied in is tried again once the copy has changed it. */
    int64_t mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (strcmp(name, c->rejected) == 0 && mtime_ns == c->rejected_mtime &&
        (int64_t)st.st_size == c->rejected_size)
        return; /* said once already */
    struct weir_model *m = NULL;
    int rc = weir_model_load(path, &m, why, sizeof why);
    if (rc == 0 && c->accept)
        rc = c->accept(c->ctx, m, why, sizeof why);
    if (rc < 0) {
        weir_model_free(m);
        snprintf(c->rejected, sizeof c->rejected, "%s", name);
        c->rejected_mtime = mtime_ns;
        c->rejected_size = (int64_t)st.st_size;
        say(c, "model version %s rejected, the current one keeps serving: %s", name, why);
        return;
    }
    pthread_mutex_lock(&c->mu);
    struct weir_model_ref *old = c->current, *r = ref_new(c, m, name);
    if (r) {
        c->current = r;
        unref(old);
        atomic_fetch_add_explicit(&c->generation, 1, memory_order_release);
    } else {
        weir_model_free(m);
    }
    pthread_mutex_unlock(&c->mu);
    if (r)
        say(c, "model version %s now serving (was %s)", name, old->version);
}

static void *watch(void *arg)
{
    struct weir_model_cell *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        uint64_t ns = (uint64_t)until.tv_nsec + c->period_ms % 1000 * 1000000ull;
        until.tv_sec += (time_t)(c->period_ms / 1000 + ns / 1000000000ull);
        until.tv_nsec = (long)(ns % 1000000000ull);
        pthread_cond_timedwait(&c->wake, &c->mu, &until);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->mu);
        check_once(c);
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

int weir_model_cell_watch(struct weir_model_cell *c, const char *dir, uint64_t period_ms,
                          weir_model_accept_fn accept, weir_model_log_fn log, void *ctx)
{
    pthread_mutex_lock(&c->mu);
    int rc = 0;
    if (!c->started) {
        c->dir = dir;
        c->period_ms = period_ms;
        c->accept = accept;
        c->log = log;
        c->ctx = ctx;
        rc = -pthread_create(&c->thread, NULL, watch, c);
        c->started = rc == 0;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
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
