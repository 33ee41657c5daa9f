/* Collected pipeline-file diagnostics (see diag.h). */
#include "engine/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int is_muted(const struct weir_diag *d, const char *path)
{
    for (size_t i = 0; path && i < d->nmuted; i++) {
        size_t n = strlen(d->muted[i]);
        if (strncmp(path, d->muted[i], n) == 0 && strchr(".[", path[n]))
            return 1; /* path[n] == '\0' too: strchr finds the terminator */
    }
    return 0;
}

void weir_diag_mute(struct weir_diag *d, const char *path)
{
    if (!path || !*path || is_muted(d, path))
        return;
    char **muted = realloc(d->muted, (d->nmuted + 1) * sizeof *muted);
    if (!muted)
        return; /* a consequence may be said too: no worse than before */
    d->muted = muted;
    if ((d->muted[d->nmuted] = strdup(path)))
        d->nmuted++;
}

void weir_diag_add(struct weir_diag *d, const char *path, const char *fmt, ...)
{
    if (is_muted(d, path))
        return;
    char body[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);

    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        char **msgs = realloc(d->msgs, cap * sizeof *msgs);
        if (!msgs)
            return; /* out of memory: the earlier messages still stand */
        d->msgs = msgs;
        d->cap = cap;
    }
    const char *file = d->file ? d->file : "<pipeline>";
    size_t len = strlen(file) + strlen(path) + strlen(body) + 8;
    char *msg = malloc(len);
    if (!msg)
        return;
    if (path && *path)
        snprintf(msg, len, "%s: %s: %s", file, path, body);
    else
        snprintf(msg, len, "%s: %s", file, body);
    d->msgs[d->n++] = msg;
}

void weir_diag_print(const struct weir_diag *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++)
        fprintf(out, "%s\n", d->msgs[i]);
}

void weir_diag_free(struct weir_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    for (size_t i = 0; i < d->nmuted; i++)
        free(d->muted[i]);
    free(d->muted);
    d->msgs = d->muted = NULL;
    d->n = d->cap = d->nmuted = 0;
}
