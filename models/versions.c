/* A model path may be a directory of versions: every regular file in it
 * whose name ends in .safetensors or .json is a version, ordered by name as
 * `ls -v` orders them (versionsort: v2 < v10; date stamps sort as dates).
 * The pinned version is served (the pipeline's "version", else the pin
 * marker: versions.h), or else the newest version that loads; each newer
 * file that fails to load is reported with its reason, and the older one
 * keeps serving. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/model.h"
#include "models/versions.h"

int weir_model_is_version_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.' || strchr(name, '/'))
        return 0;
    return (n > 12 && strcmp(name + n - 12, ".safetensors") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int is_version(const struct dirent *e)
{
    return weir_model_is_version_name(e->d_name);
}

void weir_model_versions_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int weir_model_versions(const char *dir, char ***names, size_t *n, char *err, size_t errlen)
{
    struct dirent **ents = NULL;
    *names = NULL;
    *n = 0;
    int k = scandir(dir, &ents, is_version, versionsort);
    if (k < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot list model versions in %s: %s", dir, strerror(e));
        return -e;
    }
    char **v = calloc((size_t)k + 1, sizeof *v);
    int rc = v ? 0 : -ENOMEM;
    for (int i = 0; i < k; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        if (rc == 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            !(v[(*n)++] = strdup(ents[i]->d_name)))
            rc = -ENOMEM;
        free(ents[i]);
    }
    free(ents);
    if (rc < 0) {
        weir_model_versions_free(v, *n);
        *n = 0;
        snprintf(err, errlen, "out of memory listing %s", dir);
        return rc;
    }
    *names = v;
    return 0;
}

/* ---- the pin marker ---------------------------------------------------------- */

int weir_model_marker_read(const char *dir, char *name, size_t len, char *why, size_t wlen)
{
    char path[4096], line[512];
    snprintf(path, sizeof path, "%s/%s", dir, WEIR_MODEL_MARKER);
    name[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        if (e == ENOENT)
            return 0;
        snprintf(why, wlen, "cannot read the pin marker %s: %s", path, strerror(e));
        return -e;
    }
    int got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[got ? strcspn(line, "\r\n") : 0] = 0;
    if (!weir_model_is_version_name(line) || strlen(line) >= len) {
        snprintf(why, wlen, "the pin marker %s names \"%.200s\": expected a version's file name "
                 "(*.safetensors or *.json) on its first line", path, line);
        return -EINVAL;
    }
    snprintf(name, len, "%s", line);
    return 1;
}

int weir_model_marker_write(const char *dir, const char *name, const char *note, char *why,
                            size_t wlen)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s", dir, WEIR_MODEL_MARKER);
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        snprintf(why, wlen, "cannot write %s: %s", tmp, strerror(e));
        return -e;
    }
    int bad = fprintf(f, "%s\n", name) < 0 || (note && fprintf(f, "%s\n", note) < 0);
    bad |= fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) {
        e = bad ? e : errno;
        unlink(tmp);
        snprintf(why, wlen, "cannot write the pin marker %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

int weir_model_marker_remove(const char *dir, char *why, size_t wlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, WEIR_MODEL_MARKER);
    if (unlink(path) == 0)
        return 1;
    int e = errno;
    if (e == ENOENT)
        return 0;
    snprintf(why, wlen, "cannot remove the pin marker %s: %s", path, strerror(e));
    return -e;
}

/* ---- loading ---------------------------------------------------------------- */

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The pinned version, or the newest valid one that fits, from the
 * directory: a restart serves what the running process would have kept
 * serving (it rejects a newer version that does not fit), instead of
 * stopping on it. The pipeline's pin is served or refused as it is; the
 * marker's is refused, with why, when it does not fit. */
static int load_from_dir(const char *dir, const char *pin, struct weir_model **out, char *version,
                         size_t vlen, char *err, size_t errlen, weir_model_rejected_fn rejected,
                         weir_model_fits_fn fits, void *ctx, struct stat *served)
{
    char marker[256], path[4096], why[700] = "";
    int rc = 0;
    if (!pin && (rc = weir_model_marker_read(dir, marker, sizeof marker, err, errlen)) < 0)
        return rc;
    const char *want = pin ? pin : rc == 1 ? marker : NULL;
    char **names = NULL;
    size_t n = 0;
    if ((rc = weir_model_versions(dir, &names, &n, err, errlen)) < 0)
        return rc;
    rc = -ENOENT;
    int tried = 0;
    for (size_t i = n; i-- > 0 && rc < 0;) {
        if (want && strcmp(want, names[i]) != 0)
            continue;
        tried++;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        int statted = stat(path, &st) == 0;
        rc = weir_model_load(path, out, why, sizeof why);
        if (rc == 0 && !pin && fits && fits(ctx, *out, why, sizeof why) != 0) {
            weir_model_free(*out);
            *out = NULL;
            rc = -EINVAL;
        }
        if (rc == 0) {
            snprintf(version, vlen, "%s", names[i]);
            if (served && statted)
                *served = st;
        } else if (rejected)
            rejected(ctx, names[i], statted ? &st : NULL, why);
    }
    const char *by = pin ? "" : " (pinned by " WEIR_MODEL_MARKER ")";
    if (rc < 0 && want && tried == 0)
        snprintf(err, errlen, "version \"%s\"%s is not in %s (expected a .safetensors or .json "
                 "file there)", want, by, dir);
    else if (rc < 0 && tried == 0)
        snprintf(err, errlen, "no model versions in %s (expected .safetensors or .json files)",
                 dir);
    else if (rc < 0 && want)
        snprintf(err, errlen, "%s%s", why, by);
    else if (rc < 0)
        snprintf(err, errlen, "none of the %d versions in %s %s; the oldest: %s", tried, dir,
                 fits ? "loads and fits" : "loads", why);
    weir_model_versions_free(names, n);
    return rc;
}

int weir_model_load_version(const char *path, const char *pin, struct weir_model **out,
                            char *version, size_t vlen, char *err, size_t errlen,
                            weir_model_rejected_fn rejected, weir_model_fits_fn fits, void *ctx,
                            struct stat *served)
{
    struct stat st;
    *out = NULL;
    if (served)
        memset(served, 0, sizeof *served);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return load_from_dir(path, pin, out, version, vlen, err, errlen, rejected, fits, ctx,
                             served);
    if (pin) {
        snprintf(err, errlen, "a pinned version needs a directory of versions, and %s is not one",
                 path);
        return -ENOTDIR;
    }
    int statted = stat(path, &st) == 0; /* before the read */
    int rc = weir_model_load(path, out, err, errlen);
    if (rc == 0)
        snprintf(version, vlen, "%s", base_name(path));
    if (rc == 0 && served && statted)
        *served = st;
    return rc;
}
