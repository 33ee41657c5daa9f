/* Dense networks trained by `weir fit` (fit/dense.c): logistic regression,
 * an MLP classifier (both: binary cross-entropy on logits, class weights)
 * and an autoencoder (mean squared reconstruction error), with OpenBLAS
 * sgemm for the forward and backward passes and Adam or SGD with momentum.
 * The networks are the ones the `model` operator serves (docs/models.md):
 * inputs normalised by input_mean/input_std, missing inputs imputed (z = 0). */
#ifndef WEIR_FIT_DENSE_H
#define WEIR_FIT_DENSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/error.h"

#define FIT_MAX_LAYERS 16

enum fit_act { FIT_ACT_NONE, FIT_ACT_RELU, FIT_ACT_TANH };
enum fit_task { FIT_CLASSIFY, FIT_RECONSTRUCT };

struct fit_net {
    int task;                      /* enum fit_task */
    size_t nl;                     /* layers */
    size_t dim[FIT_MAX_LAYERS + 1]; /* dim[0] inputs, dim[l+1] outputs of layer l */
    int act[FIT_MAX_LAYERS];       /* the last one is FIT_ACT_NONE */
    float *W[FIT_MAX_LAYERS];      /* (dim[l+1], dim[l]): PyTorch's Linear layout */
    float *b[FIT_MAX_LAYERS];
    float *mean, *std;             /* (dim[0]) */
};

/* How training goes; the defaults come from fit/cmd_fit.c. */
struct fit_train_opts {
    uint64_t seed;
    size_t epochs, patience, batch;
    double lr;
    int sgd;           /* SGD with momentum 0.9 instead of Adam */
    double pos_weight, neg_weight; /* class weights (classification) */
    int progress;      /* 0 none, 1 a bar (terminal), 2 one line per epoch */
};

struct fit_train_result {
    size_t epochs_run, best_epoch;
    double train_loss, valid_loss; /* at the best epoch (valid: NaN without validation rows) */
};

/* Makes the layers for dims (dims[0] inputs ... dims[nl] outputs) with act
 * between them, initialised from seed. Returns 0 or -ENOMEM. */
int fit_net_init(struct fit_net *net, int task, const size_t *dims, size_t nl, int act,
                 uint64_t seed);
void fit_net_free(struct fit_net *net);

/* Sets mean/std from the rows idx[0..n) of X (n, nin) ignoring NaN; a
 * constant or empty column gets std 1. */
int fit_net_normalise(struct fit_net *net, const float *X, const size_t *idx, size_t n);

/* Trains on rows train[0..ntrain) of X (y: labels, classification), with
 * early stopping on rows valid[0..nvalid) (none when nvalid is 0: every
 * epoch runs). The best epoch's weights stay in net. */
int fit_net_train(struct fit_net *net, const float *X, const float *y, const size_t *train,
                  size_t ntrain, const size_t *valid, size_t nvalid,
                  const struct fit_train_opts *o, struct fit_train_result *res,
                  struct weir_error *err);

/* What the model operator will output for rows idx[0..n) of X: the
 * probability, or the reconstruction error. loss (optional) receives the
 * mean training loss over them (weighted as in training). */
int fit_net_predict(const struct fit_net *net, const float *X, const float *y, const size_t *idx,
                    size_t n, const struct fit_train_opts *o, float *out, double *loss);

/* The parameters as one array (every layer's weight then bias, in order) and
 * their number: what fit_net_gradient's grad is laid out as. */
float *fit_net_params(const struct fit_net *net, size_t *count);
/* The summed training loss of rows idx[0..n) (weighted as in training) and
 * its gradient with respect to every parameter, summed over the rows, into
 * grad. For tests: a finite-difference check. Returns 0 or -ENOMEM. */
int fit_net_gradient(const struct fit_net *net, const float *X, const float *y, const size_t *idx,
                     size_t n, const struct fit_train_opts *o, float *grad, double *loss);

/* Writes the safetensors file the model operator loads, with the "weir"
 * architecture naming features. Returns 0 or -errno with err filled. */
int fit_net_save(const struct fit_net *net, char *const *features, const char *path,
                 struct weir_error *err);

#endif
