/* The model operator's pieces shared by its CPU path (model.c) and its GPU
 * path (model_gpu.c): the conf, the per-worker state, and the per-record
 * steps both use (gather a record's inputs, write its outputs). */
#ifndef WEIR_OPERATORS_MODEL_H
#define WEIR_OPERATORS_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "engine/metrics.h"
#include "engine/operator.h"
#include "models/model.h"
#include "models/reload.h"
#include "operators/scorer_explain.h"

enum { ON_NAN_DEAD, ON_NAN_IMPUTE };
enum { PRECISION_FP32, PRECISION_INT8 };
enum model_device { DEVICE_CPU, DEVICE_AUTO, DEVICE_CUDA }; /* the option's order */

/* What the workers add up while the conf serves (model_metrics.c): per
 * device, [0] cpu and [1] cuda. */
struct model_live {
    struct weir_hist infer_ns[2]; /* ns per model run */
    struct weir_hist rows[2];     /* rows per model run */
    int index;                    /* k of operators[k] */
};

struct model_conf {
    const char *path;
    struct weir_strlist features; /* pipeline features, in the model's input order */
    struct weir_strlist out;      /* one name per model output */
    int64_t max_records;
    int64_t max_delay_ms;
    int on_nan;
    int device;   /* enum model_device */
    int use_gpu;  /* resolved by prepare: the device is CUDA and one is present */
    int precision;
    const char *pin;         /* "version" */
    const char *version_out; /* string field for the served version, or NULL */
    int64_t reload_ms;       /* watch the directory of versions this often; 0: never */
    /* resolved by prepare() */
    struct weir_model *model; /* the version loaded by prepare; then owned by cell */
    struct weir_model_cell *cell; /* the version served, shared by the workers */
    size_t nin, nout;
    char **input_name;           /* (nin) copies: a new version must have the same inputs */
    char where[64];              /* "operators[2]", for log lines */
    int *in_col, *out_col;
    char **reason;   /* (nin) "model: feature x is not finite" */
    char version[256]; /* the file prepare loaded */
    int is_dir;        /* path is a directory of versions: watched (reload_ms, SIGHUP) */
    struct weir_model_file_id file_id; /* a single file (or the pinned version): as it was
                                          before prepare read it; the watcher compares */
    struct model_live *live;
    int version_col;   /* -1: not written */
    struct model_shared *shared;  /* the cell's entry among the loaded ones (model_share.c) */
    struct weir_model_ref *held;  /* a conf serving a cell another loaded: the version it took */
    struct scorer_explain explain; /* model_explain.c; its column out[0] + "_explain" */
    int64_t explain_evals;         /* a network's evaluations per account (model_shapley.c) */
};

struct slot {
    struct weir_batch *b;
    uint32_t i;
};

struct model_state {
    struct weir_model_ref *ref; /* the version this worker serves */
    uint64_t generation;        /* the cell's, when ref was taken */
    uint64_t short_of;          /* a generation this worker had no memory for (said once) */
    size_t scratch_floats;
    float *X, *Y, *scratch; /* (max_records, nin), (max_records, nout), the model's */
    struct slot *slot;      /* (max_records): where row r came from */
    size_t rows;
    struct weir_batch **held; /* batches held, in arrival order */
    size_t nheld, held_cap;
    uint64_t held_records;
    struct weir_op_timer timer;
    struct weir_op_timer watch; /* the GPU path's look at its streams (model_gpu.c) */
    struct model_gpu *gpu; /* the GPU path, or NULL: the CPU serves */
    double *explain;       /* model_explain_row's scratch, grown to the version's need */
    size_t explain_doubles;
};

/* Loaded models shared between pipeline versions (model_share.c). key: the
 * operator's JSON, the resolved path and whether it is a directory (NULL:
 * not to be shared). take: 1 when an equal operator's cell was found (c serves it:
 * nothing to load), 0 otherwise. add: registers c's new cell (-1: out of
 * memory). spec: what the cell's watcher checks new versions against, and
 * its path what it watches (the directory, or the single file: path/version
 * when pinned), alive as long as the cell. release: 1 when c was the cell's last conf (the
 * caller frees the cell, then model_share_free(the entry)). */
struct model_shared;
char *model_share_key(const struct model_conf *c, const json_t *raw);
int model_share_take(struct model_conf *c, const char *key);
int model_share_add(struct model_conf *c, const char *key);
const struct model_conf *model_share_spec(const struct model_conf *c);
int model_share_release(struct model_conf *c);
void model_share_free(struct model_shared *e);
/* Cells made since the process started (model files loaded by prepare) and
 * cells in memory now, for /metrics. */
void model_share_counts(uint64_t *loaded, uint64_t *in_memory);

/* Copies record i's inputs into x; a dense model's non-finite input kills
 * the record (returns -1) or is imputed. */
int model_gather_row(const struct model_conf *c, const struct weir_model *m, struct weir_batch *b,
                     uint32_t i, float *x);
/* Writes one row's outputs (and the version's name, and the account) into
 * record i. */
void model_write_row(const struct model_conf *c, struct model_state *s, const struct weir_model *m,
                     const char *version, struct weir_batch *b, uint32_t i, const float *y);

/* Explanations (model_explain.c). fits: whether m can explain its scores
 * (0 when "explain" is off). prepare: the columns, after the inputs. row:
 * record i's account when score is at least explain_above, else none. */
int model_explain_fits(const struct model_conf *c, const struct weir_model *m, char *why,
                       size_t len);
int model_explain_prepare(struct model_conf *c, const json_t *raw,
                          const struct weir_option *options, struct weir_prepare *p);
void model_explain_row(const struct model_conf *c, struct model_state *s,
                       const struct weir_model *m, struct weir_batch *b, uint32_t i, float score);

/* A dense network's Shapley values (model_shapley.c) for the inputs x (nin,
 * finite) with evals (at least 16) rows: phi (nin), the margin of x and of
 * the reference they add up from, and the random orders they were estimated
 * from (0: exact, every coalition evaluated). scratch:
 * model_shapley_bytes(m, evals), 8-byte aligned; mode as for
 * weir_model_predict. */
struct model_shapley_result {
    double margin, base;
    size_t orders;
};
size_t model_shapley_bytes(const struct weir_model *m, int64_t evals);
void model_shapley(const struct weir_model *m, const float *x, int64_t evals, int mode,
                   void *scratch, double *phi, struct model_shapley_result *res);

/* The metrics (model_metrics.c): a conf's figures are on /metrics from its
 * first worker's init (add, idempotent) until release (remove). run: one
 * model run of rows rows took ns, on the GPU or not. */
void model_metrics_add(const struct model_conf *c);
void model_metrics_remove(const struct model_conf *c);
void model_metrics_run(const struct model_conf *c, int on_gpu, uint64_t ns, size_t rows);

/* The GPU path (model_gpu.c). init: 0, or -1 when the worker must serve on
 * the CPU (said on stderr once). process always holds the batch. */
int model_gpu_init(struct weir_op *op);
void model_gpu_destroy(struct weir_op *op);
int model_gpu_process(struct weir_op *op, struct weir_batch *b);
void model_gpu_flush(struct weir_op *op);
void model_gpu_on_timer(struct weir_op *op);
void model_gpu_on_watch(struct weir_op *op);
/* WEIR_MODEL_GPU_ON_CPU is set: the GPU path runs with the CPU computing
 * each slot (tests without a GPU). */
int model_gpu_simulated(void);

#endif
