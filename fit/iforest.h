/* weir fit --type iforest: an isolation forest grown from the training rows
 * (operators/iforest_forest.h), saved for the iforest operator's "model"
 * option (operators/iforest_model.h). No labels: they only measure it. */
#ifndef WEIR_FIT_IFOREST_H
#define WEIR_FIT_IFOREST_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "fit/dataset.h"

struct fit_iforest_opts {
    size_t trees, sample;
    uint64_t seed;
};

/* Grows the forest from the rows train[0..ntrain) of d whose features are
 * all finite (in that order: the draws depend on it), writes it to path and
 * every row's score to pred (0 for a row with a missing feature, as the
 * operator). *used: the rows it learned from; *explain_bound: the steps
 * `explain` may take on a record with this forest (iforest_explain_steps,
 * -1 when it could not be counted). Returns 0 or -errno with err filled. */
int fit_iforest_train(const struct fit_data *d, const size_t *train, size_t ntrain,
                      const struct fit_iforest_opts *o, const char *path, float *pred, size_t *used,
                      double *explain_bound, struct weir_error *err);

#endif
