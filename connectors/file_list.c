/* A file source's path as a list of files: see file_list.h. Expanded once,
 * when the pipeline loads, so that a pattern that matches nothing is a
 * load-time error with the option's JSON path. */
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "connectors/file_list.h"

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && strncasecmp(s + n - k, suffix, k) == 0;
}

int weir_file_is_gzip(const char *path)
{
    return ends_with(path, strlen(path), ".gz");
}

int weir_file_is_csv(const char *path)
{
    size_t n = strlen(path);
    if (ends_with(path, n, ".gz"))
        n -= 3;
    return ends_with(path, n, ".csv");
}

/* A directory's data files: what a source can read, not READMEs or indexes. */
static int is_data_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return 0;
    if (ends_with(name, n, ".gz"))
        n -= 3;
    return ends_with(name, n, ".csv") || ends_with(name, n, ".jsonl") || ends_with(name, n, ".json") ||
           ends_with(name, n, ".ndjson");
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int push(struct weir_file_list *l, const char *dir, const char *name)
{
    size_t dl = dir ? strlen(dir) : 0, nl = strlen(name);
    char *p = malloc(dl + nl + 2), **grown = realloc(l->paths, (l->n + 1) * sizeof *grown);
    if (grown)
        l->paths = grown;
    if (!p || !grown) {
        free(p);
        return -1;
    }
    if (dir) {
        memcpy(p, dir, dl);
        p[dl++] = '/';
    }
    memcpy(p + dl, name, nl + 1);
    l->paths[l->n++] = p;
    return 0;
}

/* A directory entry named like data ("archive.jsonl/") is not a file to
 * read, as a glob's directories are not. The entry's type when the file
 * system gives it, else what it leads to (a link, DT_UNKNOWN). */
static int is_dir_entry(const char *dir, const struct dirent *e)
{
    if (e->d_type == DT_DIR)
        return 1;
    if (e->d_type != DT_LNK && e->d_type != DT_UNKNOWN)
        return 0;
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int expand_dir(struct weir_file_list *l, const char *path, char *reason, size_t rl)
{
    DIR *d = opendir(path);
    if (!d) {
        snprintf(reason, rl, "cannot open directory %s: %s", path, strerror(errno));
        return -1;
    }
    size_t pl = strlen(path);
    char *dir = strndup(path, pl > 1 && path[pl - 1] == '/' ? pl - 1 : pl);
    struct dirent *e;
    int rc = dir ? 0 : -1;
    while (rc == 0 && (e = readdir(d)))
        if (is_data_file(e->d_name) && !is_dir_entry(dir, e))
            rc = push(l, dir, e->d_name);
    closedir(d);
    free(dir);
    if (rc < 0) {
        snprintf(reason, rl, "out of memory");
        return -1;
    }
    if (l->n == 0) {
        snprintf(reason, rl, "directory %s has no data files (*.csv, *.jsonl, *.json, *.ndjson, each maybe .gz)",
                 path);
        return -1;
    }
    qsort(l->paths, l->n, sizeof *l->paths, cmp_names);
    return 0;
}

/* The directory glob could not read, and why (for the pattern nomatch/x*:
 * "nomatch: No such file or directory", not a bare "read error"). */
static _Thread_local char glob_failed[320];

static int on_glob_error(const char *path, int err)
{
    snprintf(glob_failed, sizeof glob_failed, "%s: %s", path, strerror(err));
    return 1; /* stop: GLOB_ERR's way */
}

static int expand_glob(struct weir_file_list *l, const char *pattern, char *reason, size_t rl)
{
    glob_t g;
    glob_failed[0] = 0;
    int rc = glob(pattern, GLOB_ERR, on_glob_error, &g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        globfree(&g);
        snprintf(reason, rl, "pattern %s matches no file", pattern);
        return -1;
    }
    if (rc != 0) {
        globfree(&g);
        snprintf(reason, rl, "cannot expand pattern %s: %s", pattern,
                 rc == GLOB_NOSPACE ? "out of memory"
                 : glob_failed[0]   ? glob_failed
                                    : "read error");
        return -1;
    }
    for (size_t i = 0; i < g.gl_pathc; i++) { /* glob sorts them */
        struct stat st;
        if (stat(g.gl_pathv[i], &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        if (push(l, NULL, g.gl_pathv[i]) < 0) {
            globfree(&g);
            snprintf(reason, rl, "out of memory");
            return -1;
        }
    }
    globfree(&g);
    if (l->n == 0) {
        snprintf(reason, rl, "pattern %s matches only directories", pattern);
        return -1;
    }
    return 0;
}

int weir_file_list_expand(struct weir_file_list *l, const char *path, char *reason, size_t rl)
{
    l->paths = NULL;
    l->n = 0;
    int rc;
    struct stat st;
    if (strcmp(path, "-") != 0 && strpbrk(path, "*?[") && stat(path, &st) != 0)
        rc = expand_glob(l, path, reason, rl);
    else if (strcmp(path, "-") != 0 && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = expand_dir(l, path, reason, rl);
    else /* one file: whether it opens is the run's business (validate may run elsewhere) */
        rc = push(l, NULL, path) < 0 ? (snprintf(reason, rl, "out of memory"), -1) : 0;
    if (rc < 0)
        weir_file_list_free(l);
    return rc;
}

void weir_file_list_free(struct weir_file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}
