/* `weir test`: comparing what a sink wrote with what a test expects.
 *
 * An expectation is a subset: only the fields it names are compared (objects
 * recursively; arrays element by element, same length). Numbers match
 * within a relative tolerance, strings exactly, except in the fields listed
 * as substring fields (a dead letter's "reason"), which need only contain
 * the expected text. A whole expected record that is a string matches a
 * line that contains it (text sinks).
 *
 * A sink's expectation is an array (exactly these records, in order) or an
 * object {"count": N, "records": {"INDEX": RECORD}} (INDEX < 0 counts from
 * the end). With a key field, records are compared in order per key: both
 * sides are stably sorted by that field's value first. */
#ifndef WEIR_PIPELINE_TEST_MATCH_H
#define WEIR_PIPELINE_TEST_MATCH_H

#include "engine/buf.h"

#include <jansson.h>
#include <stddef.h>

/* What a sink wrote: each line as written and, when it holds one, its JSON
 * object (a text sink's line: the record printed at its end). */
struct weir_ptest_line {
    char *text;     /* owned, without the newline */
    json_t *record; /* owned, or NULL */
};

struct weir_ptest_output {
    struct weir_ptest_line *v;
    size_t n, cap;
};

/* Appends one written line (copied). Returns 0 or -ENOMEM. */
int weir_ptest_output_add(struct weir_ptest_output *o, const char *line, size_t len);
void weir_ptest_output_free(struct weir_ptest_output *o);

struct weir_ptest_match_opts {
    double tolerance;              /* relative; 0: exact */
    const char *key;               /* compare in order per this field's value, or NULL */
    const char *const *substrings; /* NULL-terminated field names matched as substrings, or NULL */
};

/* The differences found, one line each ("    WHERE: record 3: field "x":
 * expected 1, got 2\n"); at most limit lines are kept, n counts them all. */
struct weir_ptest_diffs {
    struct weir_buf text;
    size_t n, limit;
};

/* Compares expect (an array or {"count","records"}) with got; where names
 * the output in messages ("sinks[0] \"/tmp/x\""). Returns the number of
 * differences added. */
size_t weir_ptest_match(const json_t *expect, const struct weir_ptest_output *got,
                        const struct weir_ptest_match_opts *o, const char *where,
                        struct weir_ptest_diffs *d);

/* Adds one difference line (printf-like). */
void weir_ptest_diff(struct weir_ptest_diffs *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
