/* Paths relative to the pipeline file (see paths.h). */
#include "engine/paths.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/option.h"
#include "engine/pipeline.h"

/* Whether p names what want asks for: the file itself, or the directory a
 * new file would go in. */
static int present(const char *p, enum weir_path_want want)
{
    struct stat st;
    if (want == WEIR_PATH_READ && stat(p, &st) == 0)
        return 1;
    const char *wild = strpbrk(p, "*?[");
    if (want == WEIR_PATH_READ && !wild)
        return 0;
    if (wild) { /* a glob: the directory its first pattern is in */
        const char *slash = wild;
        while (slash > p && *slash != '/')
            slash--;
        if (*slash != '/')
            return 1; /* the working directory */
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
        return slash == p || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    }
    const char *slash = strrchr(p, '/');
    if (!slash)
        return 1; /* the working directory */
    char dir[4096];
    if ((size_t)(slash - p) >= sizeof dir)
        return 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
    return slash == p || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
}

/* A glob to read matches a file there: the pipeline's own directory always
 * exists, so the directory rule alone never let a glob that matches nothing
 * beside the pipeline file fall back to the working directory. */
static int glob_finds(const char *pattern)
{
    glob_t g;
    int found = glob(pattern, GLOB_NOSORT, NULL, &g) == 0 && g.gl_pathc > 0;
    globfree(&g);
    return found;
}

int weir_path_resolve(const char *pipeline_file, const char *path, enum weir_path_want want,
                      char *out, size_t size, char *why, size_t why_size)
{
    if (why_size)
        why[0] = '\0';
    const char *slash = pipeline_file ? strrchr(pipeline_file, '/') : NULL;
    if (path[0] == '/' || strcmp(path, "-") == 0 || !slash) {
        if ((size_t)snprintf(out, size, "%s", path) >= size)
            return -ENAMETOOLONG;
        return 0;
    }
    /* Beside the pipeline file, then the working directory. */
    if ((size_t)snprintf(out, size, "%.*s/%s", (int)(slash - pipeline_file), pipeline_file,
                         path) >= size)
        return -ENAMETOOLONG;
    if (want == WEIR_PATH_READ && strpbrk(path, "*?[") && !glob_finds(out) && glob_finds(path)) {
        snprintf(out, size, "%s", path);
        return 0;
    }
    if (present(out, want))
        return 0;
    if (present(path, want)) {
        snprintf(out, size, "%s", path);
        return 0;
    }
    snprintf(why, why_size, "neither %s (beside the pipeline file) nor %s (the working "
             "directory) %s", out, path, want == WEIR_PATH_READ ? "exists" : "is in a directory "
             "that exists");
    snprintf(out, size, "%s", path);
    return -ENOENT;
}

int weir_path_overridden(const struct weir_override *sets, size_t nsets, const char *opt_path)
{
    for (size_t k = 0; k < nsets; k++) {
        size_t n = strlen(sets[k].path);
        if (strncmp(sets[k].path, opt_path, n) == 0 &&
            (opt_path[n] == '\0' || opt_path[n] == '.' || opt_path[n] == '['))
            return 1;
    }
    return 0;
}

int weir_prepare_path(struct weir_prepare *p, json_t *obj, const char *key, const char **value,
                      enum weir_path_want want, char *why, size_t why_size)
{
    char opt[256], out[4096];
    weir_path_key(opt, sizeof opt, p->path, key);
    int rc = weir_path_resolve(weir_path_overridden(p->sets, p->nsets, opt) ? NULL : p->file,
                               *value, want, out, sizeof out, why, why_size);
    if (rc < 0 || strcmp(out, *value) == 0)
        return rc;
    if (json_object_set_new(obj, key, json_string(out)) < 0)
        return -ENOMEM;
    *value = json_string_value(json_object_get(obj, key));
    return 0;
}
