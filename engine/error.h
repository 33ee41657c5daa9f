/* A user-facing error: functions return 0 or a negative errno-style code and,
 * on failure, fill one of these with a message a person can act on. */
#ifndef WEIR_ERROR_H
#define WEIR_ERROR_H

#include <stddef.h>

#define WEIR_ERROR_MAX 1024

struct weir_error {
    int code;                   /* negative errno-style code, 0 when unset */
    char msg[WEIR_ERROR_MAX];   /* one line, no trailing newline */
};

/* Sets err (when not NULL) and returns code, so callers can write
 * `return weir_error_set(err, -EINVAL, "...", ...);`. */
int weir_error_set(struct weir_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (context on the way up). */
int weir_error_prefix(struct weir_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void weir_error_clear(struct weir_error *err);

#endif
