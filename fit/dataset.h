/* The training data of `weir fit`: a feature CSV as `weir features` writes
 * it (a header, one row per record; docs/models.md), read into a float
 * matrix, and its time-ordered split into training and validation rows. */
#ifndef WEIR_FIT_DATASET_H
#define WEIR_FIT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

struct fit_data {
    size_t n, nf;     /* rows, feature columns */
    char **feature;   /* (nf) column names */
    float *X;         /* (n, nf) row-major; NaN = missing */
    float *y;         /* (n) the label, or NULL without one */
    int64_t *t;       /* (n) event time (ms), or NULL when the file has none */
    size_t dropped;   /* rows without a label: not kept, or kept with y NaN (unlabelled) */
    size_t *line;     /* (n) the file's line each row was read from (1: the header), or
                         NULL when the data was not read from a file */
    size_t *dropped_line; /* (dropped) the lines of the rows left out; NULL when none were
                             (with unlabelled they are kept) */
};

/* Reads path. features: "a,b,c" or NULL for every column but the label and
 * event_time_ms; label: a column name or NULL. Labels must be finite numbers
 * from 0 to 1; a row whose label is empty is counted in dropped, and left out
 * or, with unlabelled set (a label that only measures), kept with y NaN.
 * Returns 0 or -errno with err filled (naming the file, line and column). */
int fit_data_read(const char *path, const char *features, const char *label, int unlabelled,
                  struct fit_data *d, struct weir_error *err);
void fit_data_free(struct fit_data *d);

/* Row indexes in event-time order (file order for ties and without times);
 * the last `valid` fraction of them is validation: idx[0..*ntrain) train,
 * idx[*ntrain..n) validation. The caller frees the array. */
size_t *fit_data_split(const struct fit_data *d, double valid, size_t *ntrain);

#endif
