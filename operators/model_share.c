/* The model operator's loaded models, shared between pipeline versions.
 *
 * A reload loads the pipeline file again: without this, every model
 * operator would load its file again, even an unchanged one whose running
 * instance goes on (a kept operator), and that copy would stay as long as
 * its pipeline version. Here prepare() first looks for a cell (the versions
 * served, models/reload.h) loaded by an equal operator (the same JSON) from
 * the same path. Found: the new conf serves that cell, loads nothing, and
 * the cell's watcher is asked to look again: for a directory of versions
 * without a pin, whether another version is to serve; for a single file (or
 * a pinned version), whether the file changed on disk (device, inode, size,
 * modification time), and then it loads it and swaps it in. So the model
 * that serves after a reload is the same whether the operator's instance
 * is kept (it serves the cell it had: the shared one) or made again: one
 * cell per operator and file, watched by one thread. Other options or a
 * new version pinned: a fresh load, as before.
 *
 * A cell is freed with the last conf that serves it. Its watcher thread
 * calls back with the entry's own copy of what it checks (spec), never a
 * conf, which may go first. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/model.h"

struct model_shared {
    struct weir_model_cell *cell;
    char *key;             /* NULL: not to be shared (no identity) */
    int confs;             /* confs serving the cell */
    struct model_conf spec; /* nin, nout, input_name (owned), precision, explain, where */
    struct model_shared *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct model_shared *all;
static uint64_t loads; /* cells made (files loaded by prepare), under mu */
static uint64_t cells; /* in memory now, under mu */

void model_share_counts(uint64_t *loaded, uint64_t *in_memory)
{
    pthread_mutex_lock(&mu);
    *loaded = loads;
    *in_memory = cells;
    pthread_mutex_unlock(&mu);
}

/* Not the file's identity: a changed file is the watcher's to load (a fresh
 * cell would leave a kept instance serving the old one). A directory and a
 * file at the same path (one replaced by the other) are not shared. */
char *model_share_key(const struct model_conf *c, const json_t *raw)
{
    const char *id = c->is_dir ? "dir" : "file";
    if (!c->path)
        return NULL;
    char *js = json_dumps(raw, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = (js ? strlen(js) : 0) + strlen(c->path) + strlen(id) + 3;
    char *key = js ? malloc(len) : NULL;
    if (key)
        snprintf(key, len, "%s\n%s\n%s", js, c->path, id);
    free(js);
    return key;
}

int model_share_take(struct model_conf *c, const char *key)
{
    if (!key)
        return 0;
    pthread_mutex_lock(&mu);
    struct model_shared *e = all;
    while (e && !(e->key && strcmp(e->key, key) == 0))
        e = e->next;
    if (e) {
        e->confs++;
        c->shared = e;
        c->cell = e->cell;
    }
    pthread_mutex_unlock(&mu);
    if (!e)
        return 0;
    c->held = weir_model_cell_get(c->cell); /* the version served now lives as long as c */
    c->model = c->held->m;
    snprintf(c->version, sizeof c->version, "%s", c->held->version);
    weir_model_cell_look(c->cell); /* a reload looks for a newer version or file, as a load
                                      would (a SIGHUP's "keeps serving" line is said once) */
    return 1;
}

int model_share_add(struct model_conf *c, const char *key)
{
    struct model_shared *e = calloc(1, sizeof *e);
    char **names = calloc(c->nin ? c->nin : 1, sizeof *names);
    if (!e || !names || (key && !(e->key = strdup(key))))
        goto oom;
    size_t len = strlen(c->path) + (c->is_dir && c->pin ? strlen(c->pin) + 2 : 1);
    char *watched = malloc(len); /* the watcher's: confs may go first */
    if (!watched)
        goto oom;
    snprintf(watched, len, "%s%s%s", c->path, c->is_dir && c->pin ? "/" : "",
             c->is_dir && c->pin ? c->pin : "");
    e->spec.path = watched;
    for (size_t i = 0; i < c->nin; i++)
        if (!(names[i] = strdup(c->input_name[i])))
            goto oom;
    e->cell = c->cell;
    e->confs = 1;
    e->spec.nin = c->nin;
    e->spec.nout = c->nout;
    e->spec.precision = c->precision;
    e->spec.explain.on = c->explain.on; /* a version that cannot explain is refused */
    e->spec.input_name = names;
    snprintf(e->spec.where, sizeof e->spec.where, "%s", c->where);
    c->shared = e;
    pthread_mutex_lock(&mu);
    e->next = all;
    all = e;
    loads++;
    cells++;
    pthread_mutex_unlock(&mu);
    return 0;
oom:
    for (size_t i = 0; names && i < c->nin; i++)
        free(names[i]);
    free(names);
    if (e) {
        free(e->key);
        free((char *)e->spec.path);
    }
    free(e);
    return -1;
}

const struct model_conf *model_share_spec(const struct model_conf *c)
{
    return &c->shared->spec;
}

int model_share_release(struct model_conf *c)
{
    struct model_shared *e = c->shared;
    if (!e)
        return 1;
    if (c->held)
        weir_model_cell_put(c->cell, c->held);
    c->held = NULL;
    pthread_mutex_lock(&mu);
    int last = --e->confs == 0;
    if (last) {
        struct model_shared **at = &all;
        while (*at != e)
            at = &(*at)->next;
        *at = e->next;
        cells--;
    }
    pthread_mutex_unlock(&mu);
    c->shared = NULL;
    if (!last) {
        c->cell = NULL; /* another conf serves it */
        c->model = NULL;
        return 0;
    }
    return 1;
}

void model_share_free(struct model_shared *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->spec.nin; i++)
        free(e->spec.input_name[i]);
    free(e->spec.input_name);
    free((char *)e->spec.path);
    free(e->key);
    free(e);
}
