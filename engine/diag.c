/* Collected pipeline-file diagnostics (see diag.h). */
#include "engine/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void weir_diag_add(struct weir_diag *d, const char *path, const char *fmt, ...)
{
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
    d->msgs = NULL;
    d->n = d->cap = 0;
}
