/* Diagnostics for pipeline files: all problems in a file are collected, each
 * naming the file, the JSON path and what was expected, then reported together. */
#ifndef WEIR_DIAG_H
#define WEIR_DIAG_H

#include <stddef.h>
#include <stdio.h>

struct weir_diag {
    const char *file; /* shown before each message ("pipelines/x.json") */
    char **msgs;      /* owned */
    size_t n, cap;
    char **muted; /* owned: paths whose later problems are consequences */
    size_t nmuted;
};

/* Adds "FILE: PATH: message". path may be "" for the top level. */
void weir_diag_add(struct weir_diag *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Problems added later at path or under it ("source.path",
 * "source.path[0]") are dropped: its value is known wrong already (a
 * ${VAR} that is not set, a --set that did not apply), and what validation
 * makes of it would only repeat that. The top level ("") is never muted. */
void weir_diag_mute(struct weir_diag *d, const char *path);
void weir_diag_print(const struct weir_diag *d, FILE *out);
void weir_diag_free(struct weir_diag *d);

#endif
