/* ${VAR} and @file in pipeline strings (see expand.h). */
#include "engine/expand.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/buf.h"
#include "engine/jscan.h"
#include "engine/option.h"
#include "engine/paths.h"

#define SECRET_MAX (1 << 20)

static int name_char(char c, int first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

/* s with ${VAR} replaced, into out; 0, or 1 with the problem reported. */
static int expand_vars(const char *s, struct weir_buf *out, struct weir_diag *d, const char *path)
{
    int oom = 0;
    out->len = 0;
    for (const char *p = s; *p;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') { /* $${ : a literal ${ */
            oom |= weir_buf_append(out, "${", 2) < 0;
            p += 3;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            oom |= weir_buf_append(out, p++, 1) < 0;
            continue;
        }
        const char *name = p + 2, *e = name;
        while (name_char(*e, e == name))
            e++;
        if (*e != '}' || e == name) {
            weir_diag_add(d, path, "expected ${NAME} (letters, digits, '_'; \"$${\" for a "
                          "literal \"${\"), got \"%.40s\"", p);
            return 1;
        }
        char var[256];
        snprintf(var, sizeof var, "%.*s", (int)(e - name), name);
        const char *v = getenv(var);
        if (!v) {
            weir_diag_add(d, path, "expected the environment variable %s to be set, got it "
                          "unset", var);
            return 1;
        }
        oom |= weir_buf_append(out, v, strlen(v)) < 0;
        p = e + 1;
    }
    if (oom || !weir_buf_cstr(out)) {
        weir_diag_add(d, path, "out of memory");
        return 1;
    }
    return 0;
}

/* The content of the file named in out (already expanded), into out. */
static int read_secret(const char *file, struct weir_buf *out, const char *pipeline_file,
                       struct weir_diag *d, const char *path)
{
    char where[4096], why[8300];
    int rc = weir_path_resolve(pipeline_file, file, WEIR_PATH_READ, where, sizeof where, why,
                               sizeof why);
    /* opened without waiting: a FIFO's open blocks until a writer comes,
     * and the check below comes after it */
    int fd = rc == 0 ? open(where, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (!f) {
        weir_diag_add(d, path, "expected a readable file after '@', got %s: %s", file,
                      rc == -ENOENT ? why : strerror(rc ? -rc : errno));
        return 1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) { /* a FIFO would hold the load */
        fclose(f);
        weir_diag_add(d, path, "expected a regular file after '@', got %s", where);
        return 1;
    }
    out->len = 0;
    char chunk[4096];
    size_t n;
    int oom = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && out->len <= SECRET_MAX && !oom)
        oom = weir_buf_append(out, chunk, n) < 0;
    fclose(f);
    if (oom || !weir_buf_cstr(out)) {
        weir_diag_add(d, path, "out of memory");
        return 1;
    }
    while (out->len > 0 && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
        out->len--;
    const char *bad = out->len > SECRET_MAX                        ? "a file over 1 MiB"
                      : out->len && memchr(out->data, 0, out->len) ? "a NUL byte in it"
                      : !weir_utf8_valid(out->data, out->len)      ? "bytes that are not UTF-8"
                                                                   : NULL;
    if (bad) {
        weir_diag_add(d, path, "expected UTF-8 text in %s (after '@'), got %s", where, bad);
        return 1;
    }
    out->data[out->len] = '\0'; /* room: cstr above, and len only shrank */
    return 0;
}

static int expand_one(json_t *v, const char *pipeline_file, struct weir_diag *d,
                      const char *path, struct weir_buf *a, struct weir_buf *b)
{
    const char *s = json_string_value(v);
    if (!strchr(s, '$') && s[0] != '@')
        return 0;
    int secret = s[0] == '@' && s[1] != '@';
    if (expand_vars(s + (s[0] == '@'), a, d, path)) /* "@@x" is "@x" */
        return 1;
    if (secret) {
        if (read_secret(a->data, b, pipeline_file, d, path))
            return 1;
        a = b;
    }
    if (json_string_setn(v, a->data, a->len) < 0) { /* jansson takes UTF-8 only */
        weir_diag_add(d, path,
                      weir_utf8_valid(a->data, a->len)
                          ? "out of memory"
                          : "expected UTF-8 text, got bytes that are not UTF-8 from an "
                            "environment variable (${...})");
        return 1;
    }
    return 0;
}

struct walk {
    const char *pipeline_file;
    const struct weir_override *sets;
    size_t nsets;
    struct weir_diag *d;
    struct weir_buf a, b;
};

static int walk(json_t *v, struct walk *w, const char *path)
{
    char sub[512];
    int bad = 0;
    if (json_is_string(v)) {
        /* a secret named on the command line: the working directory's */
        const char *base = weir_path_overridden(w->sets, w->nsets, path) ? NULL : w->pipeline_file;
        if (!expand_one(v, base, w->d, path, &w->a, &w->b))
            return 0;
        weir_diag_mute(w->d, path); /* left as written: validating it would say it again */
        return 1;
    }
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach(v, key, x) {
            bad += walk(x, w, weir_path_key(sub, sizeof sub, path, key));
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            bad += walk(json_array_get(v, i), w, weir_path_index(sub, sizeof sub, path, i));
    }
    return bad;
}

int weir_expand_strings(json_t *root, const char *pipeline_file, const struct weir_override *sets,
                        size_t nsets, struct weir_diag *d)
{
    struct walk w = {.pipeline_file = pipeline_file, .sets = sets, .nsets = nsets, .d = d};
    int bad = walk(root, &w, "");
    weir_buf_free(&w.a);
    weir_buf_free(&w.b);
    return bad;
}
