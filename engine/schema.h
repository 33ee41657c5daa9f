/* The pipeline's columns: named float features (the columns of a batch's X)
 * and named string fields (the columns of S). Names are resolved to indexes
 * once, when the pipeline loads, so the record path never looks up a string. */
#ifndef WEIR_SCHEMA_H
#define WEIR_SCHEMA_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/diag.h"

#define WEIR_SCHEMA_MAX 256
#define WEIR_FAILED_MAX 8 /* failed operators struct weir_prepare keeps */

/* Column names are borrowed, not copied: they must live as long as the
 * pipeline. Names from the file do; an operator that makes up a name (a
 * default like "amount_z") stores it in the pipeline's JSON first. */
struct weir_column {
    const char *name;  /* borrowed from the pipeline's JSON */
    int producer;      /* index of the operator that writes it, -1 while unwritten */
    int emit;          /* appended to output records by default */
};

struct weir_schema {
    struct weir_column feat[WEIR_SCHEMA_MAX];
    uint32_t nfeat;
    struct weir_column str[WEIR_SCHEMA_MAX];
    uint32_t nstr;
    int declared;      /* the file listed "features": outputs must be among them */
    /* The input records' top-level fields when the source knows them at
     * load (a CSV file's header), in order; wildcards in extract expand
     * against them. Owned by the pipeline. */
    char **input;
    uint32_t ninput;
    int input_known;
    int input_sampled; /* input holds what the first records had (JSON Lines):
                          other names may still come, so none is refused */
    /* The JSON pointers extract reads ("/amount"; borrowed): input fields
     * the records have, whatever the source knows. */
    const char *read[2 * WEIR_SCHEMA_MAX + 1];
    uint32_t nread;
    int event_time;    /* records carry an event time: the source's own (Kafka
                          message timestamps) or an extract field of type timestamp */
    int message_keys;  /* records carry the source's message key (Kafka) */
    /* Which features each feature's value comes from (weir_col_bit of each):
     * itself and, through what its producer read, theirs; every bit for an
     * operator whose type does not declare its reads. A threshold takes a
     * record as no evidence only while a score among these warms up on it
     * (weir_record.warm_cols), not while an unrelated one does. */
    uint64_t feat_deps[WEIR_SCHEMA_MAX];
    uint64_t reads;    /* while an operator prepares: the deps of the features it read */
    uint8_t deps_own[WEIR_SCHEMA_MAX]; /* while it prepares: set by weir_schema_feature_from */
};

/* Feature col's bit in a lineage (col % 64: two features may share one,
 * which only ever mutes more). */
static inline uint64_t weir_col_bit(int col)
{
    return col < 0 ? 0 : 1ull << ((unsigned)col & 63u);
}

struct weir_override;
struct weir_option;

/* Context handed to a type's prepare(): where errors go and who is asking. */
struct weir_prepare {
    struct weir_schema *schema;
    struct weir_diag *diag;
    const char *path;  /* JSON path of the object being prepared, e.g. "operators[2]" */
    const char *file;  /* the pipeline file (engine/paths.h resolves paths beside it); may be NULL */
    const struct weir_override *sets; /* --set overrides: their paths are the working directory's */
    size_t nsets;
    int op_index;      /* position in the chain; -1 for sources and sinks */
    int upstream_bad;  /* an earlier operator failed, or there are none ("operators"
                          absent): what is written upstream is not all known */
    /* The earlier operators that failed (nfailed counts them all, failed[]
     * holds the first WEIR_FAILED_MAX): what they would have written is
     * unknown, so a name one of them names or writes by default is not
     * reported unknown (it would be a consequence, maybe a false one); another
     * is, with a hint naming them (weir_schema_upstream). */
    struct weir_failed_op {
        int index;                      /* operators[index] */
        const json_t *raw;              /* its JSON */
        const struct weir_option *opts; /* its type's options; NULL: type unknown */
    } failed[WEIR_FAILED_MAX];
    int nfailed;
    int allow_unsafe_kafka; /* --allow-unsafe-kafka-properties (connectors/kafka_unsafe.h) */
    int64_t lateness_ms; /* the pipeline's allowed_lateness (what the watermark trails by) */
    int wants_input_names; /* an operator's "fields" has a wildcard key ("V*"): a source
                              whose names cost more than a header (JSON Lines) reads them */
    int models_optional; /* weir features / fit: a model operator whose file is not there
                            yet prepares from its "features" (the chain is cut before it) */
};

/* Which features (their lineage bits, see feat_deps) feature col's value comes from. */
uint64_t weir_schema_feature_deps(const struct weir_schema *s, int col);
/* The lineage of what operator op_index (of a type that declares its reads
 * or not) wrote, once its prepare() is done: each output comes from all it
 * read, unless weir_schema_feature_from said which. */
void weir_schema_op_prepared(struct weir_schema *s, int op_index, int reads_declared);
/* Output out comes from input in alone (an operator of several outputs,
 * each from its own input: calibrate, standardize). */
void weir_schema_feature_from(struct weir_prepare *p, int out, int in);

/* An operator writes the feature `name`; returns its column or -1 (error added
 * at path). emit: appear in output records by default. */
int weir_schema_feature_out(struct weir_prepare *p, const char *name, const char *path, int emit);
/* An operator reads feature `name`, which an earlier operator must write;
 * returns its column or -1 with "unknown feature ... did you mean". */
int weir_schema_feature_in(struct weir_prepare *p, const char *name, const char *path);
/* An operator reads the features its option `key` names (a string or a list
 * of at most max): cols[k] is each one's column, or -1 (reported at its path:
 * the option's, or its index in the list). Returns the problems reported. */
struct weir_strlist;
int weir_schema_features_in(struct weir_prepare *p, const char *key,
                            const struct weir_strlist *names, size_t max, int *cols);
int weir_schema_string_out(struct weir_prepare *p, const char *name, const char *path);
int weir_schema_string_in(struct weir_prepare *p, const char *name, const char *path);
/* An operator (or its option key, NULL: the operator) that needs event time
 * where the records have none: a problem at its path, saying what happens
 * without (`without`, "it never scores"). Returns 1 then, else 0. */
int weir_schema_event_time(struct weir_prepare *p, const char *key, const char *without);
/* Before an unknown name is reported: 1 when it is to go unreported, because
 * an earlier operator that failed may have written it (its JSON names it: a
 * string or a key, or a pattern there matches it; or its type writes it by
 * default) or nothing upstream is known. Else 0, and hint is what the
 * message ends with: "" when no operator failed, else "; operators[1]
 * failed to load: if it writes \"x\", fix it first". */
int weir_schema_upstream(const struct weir_prepare *p, const char *name, char *hint, size_t size);
/* Column of a feature by name, or -1 (no error). */
int weir_schema_find_feature(const struct weir_schema *s, const char *name);

#endif
