/* A model path may be a directory of versions: every regular file in it
 * whose name ends in .safetensors or .json is a version, ordered by name as
 * `ls -v` orders them (versionsort: v2 < v10; date stamps sort as dates).
 * The newest version that loads is served, or the one pinned by name; each
 * newer file that fails to load is reported with its reason, and the older
 * one keeps serving. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/model.h"

static int is_version(const struct dirent *e)
{
    size_t n = strlen(e->d_name);
    if (e->d_name[0] == '.')
        return 0;
    return (n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0) ||
           (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Loads the pinned version, or the newest valid one, from the directory. */
static int load_from_dir(const char *dir, const char *pin, struct weir_model **out, char *version,
                         size_t vlen, char *err, size_t errlen, weir_model_rejected_fn rejected,
                         void *ctx)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_version, versionsort);
    if (n < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot list model versions in %s: %s", dir, strerror(e));
        return -e;
    }
    int rc = -ENOENT, tried = 0;
    char path[4096], why[700] = "";
    for (int i = n - 1; i >= 0 && rc < 0; i--) {
        const char *name = names[i]->d_name;
        if (pin && strcmp(pin, name) != 0)
            continue;
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        tried++;
        rc = weir_model_load(path, out, why, sizeof why);
        if (rc == 0)
            snprintf(version, vlen, "%s", name);
        else if (rejected)
            rejected(ctx, name, why);
    }
    if (rc < 0 && pin && tried == 0)
        snprintf(err, errlen, "version \"%s\" is not in %s (expected a .safetensors or .json file "
                 "there)", pin, dir);
    else if (rc < 0 && tried == 0)
        snprintf(err, errlen, "no model versions in %s (expected .safetensors or .json files)",
                 dir);
    else if (rc < 0 && pin)
        snprintf(err, errlen, "%s", why);
    else if (rc < 0)
        snprintf(err, errlen, "none of the %d versions in %s loads; the oldest: %s", tried, dir,
                 why);
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int weir_model_load_version(const char *path, const char *pin, struct weir_model **out,
                            char *version, size_t vlen, char *err, size_t errlen,
                            weir_model_rejected_fn rejected, void *ctx)
{
    struct stat st;
    *out = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return load_from_dir(path, pin, out, version, vlen, err, errlen, rejected, ctx);
    if (pin) {
        snprintf(err, errlen, "a pinned version needs a directory of versions, and %s is not one",
                 path);
        return -ENOTDIR;
    }
    int rc = weir_model_load(path, out, err, errlen);
    if (rc == 0)
        snprintf(version, vlen, "%s", base_name(path));
    return rc;
}
