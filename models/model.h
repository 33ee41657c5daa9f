/* Models the `model` operator serves, loaded from files: dense networks from
 * safetensors (safetensors.c) and tree ensembles from XGBoost's JSON
 * (xgboost.c). Both become one of the kernels' descriptions (kernels/), so
 * a model is evaluated by whichever back end runs it. docs/models.md is the
 * format's reference. */
#ifndef WEIR_MODEL_H
#define WEIR_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dense.h"
#include "kernels/trees.h"

enum weir_model_kind { WEIR_MODEL_DENSE, WEIR_MODEL_TREES };
enum weir_model_output {
    WEIR_OUTPUT_RAW,            /* the last layer's values, or the trees' margin */
    WEIR_OUTPUT_PROBABILITY,    /* sigmoid of them */
    WEIR_OUTPUT_RECONSTRUCTION, /* mean squared error between (normalised) input and output */
};

#define WEIR_MODEL_MAX_LAYERS 32

struct weir_model {
    int kind;     /* enum weir_model_kind */
    int output;   /* enum weir_model_output */
    size_t nin;   /* input features */
    size_t nout;  /* values per row the model writes */
    char **feature; /* (nin) names from the file, or NULL when it names none */
    char what[128]; /* "dense 30-64-1 (relu, none) probability", for logs and errors */
    char note[256]; /* what a user should read once at load, or "" */
    /* dense */
    size_t nlayers, max_width;
    struct weir_dense_layer layer[WEIR_MODEL_MAX_LAYERS];
    const float *mean, *std; /* (nin) input normalisation, or NULL */
    size_t max_in;           /* the widest layer input */
    int8_t *Wq[WEIR_MODEL_MAX_LAYERS]; /* int8 weights, after weir_model_quantize */
    float *w_scale[WEIR_MODEL_MAX_LAYERS];
    /* trees */
    struct weir_trees trees;
    float base_margin;
    /* every allocation, freed together */
    void **blob;
    size_t nblob, blob_cap;
};

/* Loads a safetensors (dense) or XGBoost JSON (trees) file; the format is
 * told by the content. On error returns a negative errno and writes a
 * sentence naming the problem (the tensor, both shapes) into err. */
int weir_model_load(const char *path, struct weir_model **out, char *err, size_t errlen);

/* A model file's bytes (a regular file of at most 2 GiB), NUL-terminated in
 * *buf (the caller frees it), or -errno with err filled ("cannot open model
 * file PATH: ..."). */
int weir_model_read_file(const char *path, unsigned char **buf, size_t *len, char *err,
                         size_t errlen);
void weir_model_free(struct weir_model *m);

struct stat;
/* A version that failed to load or fit (name, the reason) while a directory
 * was searched for the newest valid one; st: the file as it was before it
 * was read (NULL when it could not be statted), so that a watcher started
 * later leaves it alone until it changes. */
typedef void (*weir_model_rejected_fn)(void *ctx, const char *name, const struct stat *st,
                                       const char *why);
/* Whether a loaded version fits its user: 0, or nonzero with why written. */
typedef int (*weir_model_fits_fn)(void *ctx, const struct weir_model *m, char *why, size_t len);
/* path is a model file, or a directory of versioned files (versions.c): the
 * pinned version (pin, a file name) or the newest that loads and fits (fits
 * may be NULL) is served; version receives the served file's name, and
 * served (may be NULL) its stat from before it was read (st_nlink 0 when
 * it could not be statted): a file put over it later is then told apart. */
int weir_model_load_version(const char *path, const char *pin, struct weir_model **out,
                            char *version, size_t vlen, char *err, size_t errlen,
                            weir_model_rejected_fn rejected, weir_model_fits_fn fits, void *ctx,
                            struct stat *served);

/* How predict runs a dense model: the fast kernels, the reference (the
 * oracle), or the int8 path (after weir_model_quantize). Trees ignore int8. */
enum weir_predict_mode { WEIR_PREDICT_FP32, WEIR_PREDICT_REFERENCE, WEIR_PREDICT_INT8 };

/* Makes the int8 weights of a dense model (once, before sharing it). */
int weir_model_quantize(struct weir_model *m);
/* Floats of scratch weir_model_predict needs for n rows. */
size_t weir_model_scratch(const struct weir_model *m, size_t n);
/* n rows of X (nin features each, stride ldx) → out (n rows of nout values,
 * stride nout). mode: enum weir_predict_mode. */
void weir_model_predict(const struct weir_model *m, const float *X, size_t ldx, size_t n,
                        float *out, float *scratch, int mode);

/* A dense network's first output before the probability's sigmoid (its
 * log-odds; the output itself for raw), for n rows as predict takes them. */
void weir_model_margin(const struct weir_model *m, const float *X, size_t ldx, size_t n, float *out,
                       float *scratch, int mode);

/* An autoencoder's (reconstruction_error) view of one row x: z the input as
 * its first layer reads it (normalised when it has a mean), zhat its
 * reconstruction of z; its score is the mean of (zhat - z)². scratch:
 * weir_model_scratch(m, 1) floats; mode as for predict. */
void weir_model_reconstruct(const struct weir_model *m, const float *x, float *z, float *zhat,
                            float *scratch, int mode);

/* Internal to models/: the loaders and the allocations they share. */
void *weir_model_alloc(struct weir_model *m, size_t bytes); /* zeroed, 64-byte aligned */
int weir_safetensors_load(struct weir_model *m, const unsigned char *buf, size_t len, char *err,
                          size_t errlen);
int weir_xgboost_load(struct weir_model *m, const char *text, size_t len, char *err,
                      size_t errlen);

#endif
