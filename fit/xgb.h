/* Gradient-boosted trees for `weir fit --type xgboost`, trained through
 * XGBoost's C API (fit/xgb.c; built when libxgboost-dev is found, see
 * WEIR_HAVE_XGBOOST). The model is saved in XGBoost's JSON format, which the
 * `model` operator evaluates with weir's own tree kernel. */
#ifndef WEIR_FIT_XGB_H
#define WEIR_FIT_XGB_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"
#include "fit/dataset.h"

struct fit_xgb_opts {
    uint64_t seed;
    size_t rounds, patience, depth, threads;
    double eta;
    double scale_pos_weight; /* 1: none */
    int progress;            /* as fit_train_opts */
};

struct fit_xgb_result {
    size_t rounds_run, best_round; /* best_round: 1-based, the trees kept */
    double train_loss, valid_loss; /* log loss at the best round */
};

/* Trains binary:logistic on rows train[0..ntrain) of d (early stopping on
 * the validation rows' log loss when nvalid > 0), saves the kept trees to
 * path (.json), and writes the model's probability for every row of d into
 * pred (n). Returns 0 or -errno with err filled (XGBoost's message). */
int fit_xgb_train(const struct fit_data *d, const size_t *train, size_t ntrain,
                  const size_t *valid, size_t nvalid, const struct fit_xgb_opts *o,
                  const char *path, float *pred, struct fit_xgb_result *res,
                  struct weir_error *err);

#endif
