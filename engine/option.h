/* Declared options: one table per operator, source and sink type.
 *
 * Like Fluent Bit's config maps, the same table validates a pipeline file's
 * object (types, ranges, unknown keys with "did you mean"), fills the type's
 * config struct through offsetof, and generates docs/pipeline.md and
 * `weir schema`, so the docs cannot drift from the code. */
#ifndef WEIR_OPTION_H
#define WEIR_OPTION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/diag.h"

enum weir_opt_kind {
    WEIR_OPT_BOOL,     /* int */
    WEIR_OPT_INT,      /* int64_t */
    WEIR_OPT_NUMBER,   /* double */
    WEIR_OPT_STRING,   /* const char * (owned by the pipeline's JSON) */
    WEIR_OPT_ENUM,     /* int: index into choices */
    WEIR_OPT_STRINGS,  /* struct weir_strlist: a string or an array of strings */
    WEIR_OPT_DURATION, /* uint64_t nanoseconds: "250ms", "5s", "1h", or a number of ms */
    WEIR_OPT_JSON,     /* const json_t * (borrowed): validated by the type's prepare() */
};

/* flags */
#define WEIR_OPT_REQUIRED 0x01u
#define WEIR_OPT_RANGE 0x02u    /* min/max apply */
#define WEIR_OPT_MIN_OPEN 0x04u /* min excluded */
#define WEIR_OPT_MAX_OPEN 0x08u /* max excluded */

struct weir_option {
    const char *name;
    enum weir_opt_kind kind;
    const char *def;     /* default as JSON text; NULL: none (absent stays zero/NULL) */
    const char *doc;     /* one line for the reference */
    size_t offset;       /* of the field it fills in the type's config struct */
    unsigned flags;
    double min, max;     /* with WEIR_OPT_RANGE */
    const char *choices; /* WEIR_OPT_ENUM: "welford|ewm" */
};

struct weir_strlist {
    const char **v; /* strings borrowed from the pipeline's JSON; array owned */
    size_t n;
    int one; /* given as one string, not an array: its path takes no index */
};

/* The JSON path of l's entry k under path (the option's own): path[k], or
 * path itself for an option given as one string. Returns buf. */
const char *weir_strlist_path(char *buf, size_t size, const char *path,
                              const struct weir_strlist *l, size_t k);

/* Validates obj against opts and fills conf. Keys in `ignore` (NULL-terminated,
 * e.g. {"type", NULL}) are allowed without a declaration. Every problem is
 * added to diag under `path`; returns the number of problems. */
int weir_options_apply(const struct weir_option *opts, const json_t *obj, void *conf,
                       const char *const *ignore, struct weir_diag *diag, const char *path);
/* Reports the keys of obj declared in none of the tables (a source's or
 * sink's common options and its type's own), each once, with "did you mean"
 * over all of them; returns the number of problems. Pair it with apply()
 * calls whose ignore list holds every key of obj. */
int weir_options_check_unknown(const struct weir_option *const *tables, size_t ntables,
                               const json_t *obj, struct weir_diag *diag, const char *path);
/* Options that mean something only when cond holds (cooldown without
 * incidents): each of names (NULL-terminated) given in obj while cond is
 * false is a problem at its path, "expected only with <with>", unless it is
 * given its default value in opts (a table of the type's, or NULL).
 * Returns their number. */
int weir_options_only_with(const json_t *obj, const struct weir_option *opts,
                           const char *const *names, int cond, const char *with,
                           struct weir_diag *diag, const char *path);
/* Frees what apply allocated inside conf (string lists). */
void weir_options_release(const struct weir_option *opts, void *conf);

/* "card" → "operators[1].key"; writes into buf and returns it. */
const char *weir_path_key(char *buf, size_t size, const char *path, const char *key);
const char *weir_path_index(char *buf, size_t size, const char *path, size_t index);

/* The longest duration an option takes: 100 years (365-day), well inside
 * uint64_t nanoseconds (~584 years). */
#define WEIR_DURATION_MAX_NS (36500ull * 86400ull * 1000000000ull)
#define WEIR_DURATION_MAX_TEXT "\"36500d\" (100 years)"

/* Parses "250ms", "5s", "2m", "1h", "1d" or a bare number of milliseconds.
 * Returns 0, -EINVAL (not a duration) or -ERANGE (over WEIR_DURATION_MAX_NS). */
int weir_duration_parse(const char *s, uint64_t *ns);
/* ns as whole milliseconds (event times are in ms) in *ms: 0, or -1 when
 * ns is more than a microsecond from a whole number of them (a double's
 * rounding of "99.999d" is a few ns off; "500us" or "1.5ms" are not). */
int weir_duration_whole_ms(uint64_t ns, int64_t *ms);

/* The closest of candidates to word within a small edit distance, or NULL. */
const char *weir_did_you_mean(const char *word, const char *const *candidates, size_t n);

#endif
