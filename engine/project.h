/* Sink projections: which top-level fields of an input object an output
 * keeps ("fields" and "exclude", with '*' and '?' wildcards), and where a
 * computed field replaces an input field of the same name (a masked card
 * number takes the raw one's place).
 *
 * Decisions are made once per top-level key of a record, by one hash look-up
 * of the key's bytes in a table built when the pipeline loads, then the
 * (usually few) wildcard patterns, and remembered per thread for the next
 * record with the same keys: no allocation, no walk over the schema. */
#ifndef WEIR_PROJECT_H
#define WEIR_PROJECT_H

#include <stddef.h>
#include <stdint.h>

/* One member of a JSON object: where its key (between the quotes, still
 * escaped) and its value (whole text) lie in the record. */
struct weir_jmember {
    uint32_t key_off, key_len;
    uint32_t val_off, val_len;
    int key_escaped;
};

/* The next member of the object text[0..len) after *pos (0 to start).
 * Expects text a JSON validator accepted (extract ran first). Returns 1
 * with m filled, 0 after the last member. */
int weir_jobject_next(const char *text, uint32_t len, uint32_t *pos, struct weir_jmember *m);

/* Whether s[0..n) matches the pattern: '*' any run of characters, '?' one
 * character (a whole UTF-8 sequence), anything else itself. */
int weir_glob_match(const char *pattern, const char *s, size_t n);
/* Whether a pattern has a wildcard. */
int weir_glob_is_pattern(const char *pattern);

#define WEIR_PROJ_KEEP (-1)
#define WEIR_PROJ_DROP (-2)

struct weir_proj_entry {
    const char *name; /* borrowed from the pipeline's JSON */
    uint32_t len;
    int32_t action;   /* WEIR_PROJ_KEEP, WEIR_PROJ_DROP, or the appended field that replaces it */
};

struct weir_projection {
    struct weir_proj_entry *tab; /* open addressing, size mask + 1 */
    uint32_t mask;
    const char **keep_globs; /* "fields" patterns with wildcards */
    size_t nkeep_globs;
    const char **drop_globs; /* "exclude" patterns with wildcards */
    size_t ndrop_globs;
    int has_keep; /* "fields" given: what it does not name is dropped */
    uint64_t id;  /* unique per build: the decision caches' key */
};

/* Builds a projection: keep (may be empty: keep every input field), drop,
 * and the names of the appended fields (an input field of the same name is
 * replaced in place by appended field k). Returns 0 or -ENOMEM. */
int weir_projection_build(struct weir_projection *pj, const char *const *keep, size_t nkeep,
                          const char *const *drop, size_t ndrop, const char *const *appended,
                          size_t nappended);
void weir_projection_free(struct weir_projection *pj);

/* What to do with the input field named key[0..len) (unescaped bytes):
 * WEIR_PROJ_KEEP, WEIR_PROJ_DROP or the index of the appended field that
 * takes its place. */
int32_t weir_projection_decide(const struct weir_projection *pj, const char *key, uint32_t len);
/* The same for the nth top-level key of a record, through a per-thread
 * cache of the last record's keys (one memcmp when the record has the same
 * key at that position, as records of one stream do). */
int32_t weir_projection_decide_nth(const struct weir_projection *pj, uint32_t nth,
                                   const char *key, uint32_t len);

struct weir_members;
/* The decision for each member of a record that lists its members (value:
 * the record's bytes), per thread worked out once per shape of members: no
 * key is read while the shape stays. NULL when the members have no shape
 * or too many to remember: then decide by key. */
const int32_t *weir_projection_decide_members(const struct weir_projection *pj,
                                              const char *value, const struct weir_members *ms);

#endif
