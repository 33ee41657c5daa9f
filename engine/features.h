/* `weir features`: the feature matrix a pipeline computes, as CSV, so that
 * models are trained on exactly the features weir serves (engine/cmd_features.c;
 * docs/models.md "Training with weir fit" has the format).
 *
 * The real pipeline runs (its loader, --set overrides, operators, one worker
 * for a deterministic order) with its operators cut before the first operator
 * that serves a trained model (a `model` operator, an iforest with "model")
 * and its sinks replaced by one that writes the chosen columns. */
#ifndef WEIR_FEATURES_H
#define WEIR_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "engine/pipeline.h"

#define WEIR_FEATURES_TIME_COLUMN "event_time_ms"
#define WEIR_FEATURES_MAX_LABELS 16

struct weir_features_opts {
    const char *pipeline;
    const struct weir_override *sets; /* --set, applied as `weir run` applies them */
    size_t nsets;
    const char *labels[WEIR_FEATURES_MAX_LABELS]; /* label columns: features or string fields */
    size_t nlabels;
    const char *features; /* "a,b,c", or NULL: the model's inputs (or every feature) */
    int all;              /* every numeric feature computed before the model */
    const char *scorer;   /* cut before the first operator of this type ("model",
                             "iforest") that serves a model, if any; else (and for
                             NULL) before the first operator of any type that does */
    int64_t until_ms;     /* write only records whose event time is before this; INT64_MAX: all */
    const char *out;      /* the CSV file; "-" is standard output */
    int quiet;            /* no summary line on stderr */
};

struct weir_features_result {
    uint64_t rows;     /* written */
    uint64_t late;     /* at or after until_ms, not written */
    uint64_t untimed;  /* without an event time under until_ms: not written either */
    uint64_t dead;     /* dead-lettered by the pipeline, not written */
    size_t nfeatures;  /* feature columns written (after the time and label columns) */
};

/* Runs o->pipeline and writes its feature matrix: a header line, then one
 * line per live record in the order the pipeline saw them. Returns 0, or
 * -EINVAL for a problem with the pipeline or the options (said on stderr or
 * in err), or another -errno with err filled. */
int weir_features_write(const struct weir_features_opts *o, struct weir_features_result *res,
                        struct weir_error *err);

/* "2018-08-01", "2018-08-01T12:30:00", "...Z" (UTC) or a number of ms since
 * the epoch → ms. Returns 0 or -EINVAL. */
int weir_features_parse_time(const char *s, int64_t *ms);

#endif
