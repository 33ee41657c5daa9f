/* model: scores records with a dense network (safetensors) or a tree ensemble
 * (XGBoost JSON), micro-batched.
 *
 * The file is loaded once, in prepare, and shared read-only by the workers.
 * Each worker gathers the live records' features into one contiguous matrix
 * (max_records rows), runs the model over it (one GEMM per layer, or one
 * batched tree walk) and writes the outputs back.
 *
 * Micro-batching: with max_delay_ms > 0 a batch is held (WEIR_OP_HELD) until
 * the held batches have max_records records between them or max_delay_ms has
 * passed since the first of them arrived; then they all run and go on in
 * arrival order, so the records of a partition keep their order. With 0, or
 * outside a worker loop, each batch runs as it arrives (the engine's batches
 * are micro-batches already).
 *
 * Versions: `path` may be a directory of versioned files (models/versions.c);
 * the pinned `version`, else the version the directory's pin marker names
 * (`weir model pin|rollback`, models/versions.h), else the newest that
 * loads is chosen when the pipeline loads, and `version_out` tags each
 * scored record with it. A watcher thread (models/reload.c) looks at the
 * directory every `reload_ms` and on SIGHUP (engine/hangup.h), loads off the
 * loops and swaps the version to serve into a cell the workers share; each
 * worker picks the new one up between batches (refresh), so one record is
 * scored by one version. A single file (or a pinned version) is watched the
 * same way: loaded again when the file changed on disk. Metrics:
 * model_metrics.c.
 *
 * Non-finite inputs: trees treat NaN as missing (XGBoost's default
 * direction) and ±Inf as values. Dense networks cannot: by default
 * ("on_nan": "dead") the record goes to the dead-letter sink with a reason
 * naming the feature; "impute" replaces it with the model's input mean (0
 * when the file has none), i.e. a z-score of 0. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/hangup.h"
#include "engine/loop.h"
#include "engine/operator.h"
#include "engine/paths.h"
#include "kernels/cuda/cuda.h"
#include "models/model.h"
#include "models/reload.h"
#include "models/versions.h"
#include "operators/model.h"

static const struct weir_option model_options[] = {
    {"path", WEIR_OPT_STRING, NULL,
     "model file: safetensors (dense network) or XGBoost JSON (trees), see docs/models.md",
     offsetof(struct model_conf, path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"features", WEIR_OPT_STRINGS, NULL,
     "input features in the model's order (default: the names the file holds)",
     offsetof(struct model_conf, features), 0, 0, 0, NULL},
    {"out", WEIR_OPT_STRINGS, NULL, "output features, one per model output",
     offsetof(struct model_conf, out), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"max_records", WEIR_OPT_INT, "1024", "rows per model run (micro-batch size)",
     offsetof(struct model_conf, max_records), WEIR_OPT_RANGE, 1, 65536, NULL},
    {"max_delay_ms", WEIR_OPT_INT, "0",
     "hold batches up to this long to fill max_records (0: run each batch as it arrives)",
     offsetof(struct model_conf, max_delay_ms), WEIR_OPT_RANGE, 0, 60000, NULL},
    {"on_nan", WEIR_OPT_ENUM, "\"dead\"",
     "dense networks, non-finite input: dead (dead-letter the record) or impute (the input "
     "mean); trees treat NaN as missing",
     offsetof(struct model_conf, on_nan), 0, 0, 0, "dead|impute"},
    {"precision", WEIR_OPT_ENUM, "\"fp32\"",
     "dense networks: fp32, or int8 (weights and inputs quantised per row; accuracy in "
     "docs/models.md)",
     offsetof(struct model_conf, precision), 0, 0, 0, "fp32|int8"},
    {"version", WEIR_OPT_STRING, NULL,
     "when path is a directory of versions: serve this file of it, whatever the directory's pin "
     "marker says (default: the version the marker names, else the newest that loads and fits)",
     offsetof(struct model_conf, pin), 0, 0, 0, NULL},
    {"version_out", WEIR_OPT_STRING, NULL,
     "string field that receives the served version (its file name) on every scored record",
     offsetof(struct model_conf, version_out), 0, 0, 0, NULL},
    {"reload_ms", WEIR_OPT_INT, "0",
     "look for a newer version (or a pin marker) in a directory of versions, or whether a single "
     "model file changed on disk, this often and swap it in between batches (0: only on SIGHUP)",
     offsetof(struct model_conf, reload_ms), WEIR_OPT_RANGE, 0, 86400000, NULL},
    {"device", WEIR_OPT_ENUM, "\"cpu\"",
     "where the model runs: cpu, auto (CUDA when a device is present, else the CPU, said in one "
     "log line) or cuda (an error at start without a device); docs/models.md",
     offsetof(struct model_conf, device), 0, 0, 0, "cpu|auto|cuda"},
    SCORER_EXPLAIN_OPTION_ROWS(
        struct model_conf, explain,
        "raised its score most (a tree ensemble's margin by exact TreeSHAP values, as XGBoost's "
        "pred_contribs; an autoencoder's error by each input's share, with what it was "
        "reconstructed as; another network's margin by Shapley values against its input mean, "
        "explain_evals), their values and f_lo..f_hi when written upstream (threshold quotes "
        "it when the score fires)",
        "0.5", 0, 0, 0,
        "this gets the text (the work is about nodes × depth / 2 per tree, or explain_evals "
        "network rows; keep it at the threshold that quotes it)"),
    {"explain_evals", WEIR_OPT_INT, "1024",
     "with explain, a network that is not an autoencoder: evaluations per explained record; "
     "exact Shapley values when the 2^inputs coalitions fit, else estimated from about "
     "explain_evals / (inputs - 1) random orders (at least 2)",
     offsetof(struct model_conf, explain_evals), WEIR_OPT_RANGE, 16, 65536, NULL},
    {0},
};

/* ---- prepare ------------------------------------------------------------- */

static const char *elem_path(char *buf, size_t size, const struct weir_prepare *p,
                             const json_t *raw, const char *key, size_t i)
{
    char kp[256];
    weir_path_key(kp, sizeof kp, p->path, key);
    if (!json_is_array(json_object_get(raw, key)))
        return weir_path_key(buf, size, p->path, key);
    return weir_path_index(buf, size, kp, i);
}

/* The conf's features against the file's: same number, and the same names
 * when the file names them. Without "features" the file's names are used. */
static int match_features(struct model_conf *c, const json_t *raw, struct weir_prepare *p)
{
    struct weir_model *m = c->model;
    char path[256];
    if (c->features.n == 0) {
        if (!m->feature) {
            weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "features"),
                          "expected the %zu input features (the model file names none), got "
                          "none", m->nin);
            return 1;
        }
        c->features.v = calloc(m->nin, sizeof *c->features.v);
        if (!c->features.v)
            return 1;
        for (size_t i = 0; i < m->nin; i++)
            c->features.v[i] = m->feature[i]; /* copies once checked: per_input() */
        c->features.n = m->nin;
        return 0;
    }
    if (c->features.n != m->nin) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "features"),
                      "expected %zu features (the inputs of %s), got %zu", m->nin, m->what,
                      c->features.n);
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; m->feature && i < m->nin; i++)
        if (strcmp(m->feature[i], c->features.v[i]) != 0) {
            weir_diag_add(p->diag, elem_path(path, sizeof path, p, raw, "features", i),
                          "expected \"%s\" (the model's input %zu), got \"%s\"", m->feature[i],
                          i, c->features.v[i]);
            bad++;
        }
    return bad;
}

/* Reasons and imputed values per input, made once so no record allocates. */
static int per_input(struct model_conf *c)
{
    size_t n = c->model->nin;
    c->nin = n;
    c->nout = c->model->nout;
    c->reason = calloc(n, sizeof *c->reason);
    c->input_name = calloc(n, sizeof *c->input_name);
    if (!c->reason || !c->input_name)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(c->features.v[i]) + 48;
        if (!(c->reason[i] = malloc(len)) || !(c->input_name[i] = strdup(c->features.v[i])))
            return -ENOMEM;
        snprintf(c->reason[i], len, "model: feature %s is not finite", c->features.v[i]);
        /* Names taken from the model file (no "features") were the first
         * version's: a reload frees it while explanations still print them. */
        c->features.v[i] = c->input_name[i];
    }
    return 0;
}

/* The cell the workers share takes the model over. */
static int make_cell(struct model_conf *c)
{
    c->cell = calloc(1, sizeof *c->cell);
    if (!c->cell)
        return -ENOMEM;
    if (weir_model_cell_init(c->cell, c->model, c->version, &c->file_id) < 0) {
        free(c->cell);
        c->cell = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* Whether m reads the n inputs named in (n 0: any) and writes nout outputs
 * (0: any) at the precision asked: what a version needs at start-up
 * (version_fits) and the watcher's next one (accept_version). */
static int shape_fits(const struct model_conf *c, const struct weir_model *m,
                      const char *const *in, size_t n, size_t nout, char *why, size_t len)
{
    if ((n && m->nin != n) || (nout && m->nout != nout)) {
        snprintf(why, len, "it has %zu inputs and %zu outputs, the pipeline %zu and %zu", m->nin,
                 m->nout, n ? n : m->nin, nout ? nout : m->nout);
        return -EINVAL;
    }
    for (size_t i = 0; m->feature && i < n; i++)
        if (strcmp(m->feature[i], in[i]) != 0) {
            snprintf(why, len, "its input %zu is \"%s\", the pipeline's \"%s\"", i,
                     m->feature[i], in[i]);
            return -EINVAL;
        }
    if (c->precision == PRECISION_INT8 && m->kind != WEIR_MODEL_DENSE) {
        snprintf(why, len, "\"precision\": \"int8\" needs a dense network, got %s", m->what);
        return -EINVAL;
    }
    return model_explain_fits(c, m, why, len);
}

/* A new version must read the same inputs and write as many outputs. */
static int accept_version(void *ctx, struct weir_model *m, char *why, size_t len)
{
    const struct model_conf *c = ctx;
    int rc = shape_fits(c, m, (const char *const *)c->input_name, c->nin, c->nout, why, len);
    if (rc == 0 && c->precision == PRECISION_INT8 && weir_model_quantize(m) < 0) {
        snprintf(why, len, "out of memory");
        return -ENOMEM;
    }
    return rc;
}

static void log_version(void *ctx, const char *line)
{
    fprintf(stderr, "weir: %s: %s\n", ((const struct model_conf *)ctx)->where, line);
}

/* Versions a directory's search at start-up passed over, told to the
 * watcher (not tried, nor said, again until they change). */
struct startup {
    const struct model_conf *c;
    const struct weir_prepare *p;
    struct {
        char name[256];
        struct stat st;
    } rejected[16];
    unsigned nrejected;
};

/* A newer version that does not load, or does not fit, is not an error
 * while an older one does: it is said on stderr, and the older one serves. */
static void version_rejected(void *ctx, const char *name, const struct stat *st, const char *why)
{
    struct startup *s = ctx;
    fprintf(stderr, "weir: %s: model version %s rejected: %s\n", s->p->path, name, why);
    if (st && s->nrejected < 16) {
        snprintf(s->rejected[s->nrejected].name, sizeof s->rejected[0].name, "%s", name);
        s->rejected[s->nrejected++].st = *st;
    }
}

/* At start, a version from a directory fits when the pipeline can feed it:
 * the features it names (or its own inputs) exist, as many outputs as
 * "out" names. What the running watcher asks (accept_version) with the
 * pipeline's choices not yet made. */
static int version_fits(void *ctx, const struct weir_model *m, char *why, size_t len)
{
    const struct startup *s = ctx;
    const struct model_conf *c = s->c;
    if (s->p->upstream_bad)
        return 0; /* what it reads is unknown: the first that loads, as before */
    if (!c->features.n && !m->feature) {
        snprintf(why, len, "it names no inputs, and the pipeline gives no \"features\"");
        return -EINVAL;
    }
    int rc = shape_fits(c, m, c->features.v, c->features.n, c->out.n, why, len);
    for (size_t i = 0; rc == 0 && !c->features.n && i < m->nin; i++) {
        int col = weir_schema_find_feature(s->p->schema, m->feature[i]);
        if (col < 0 || s->p->schema->feat[col].producer < 0) {
            snprintf(why, len, "its input \"%s\" is no feature an earlier operator writes",
                     m->feature[i]);
            return -EINVAL;
        }
    }
    return rc;
}

/* auto: CUDA when a device is present, else the CPU with one line on
 * stderr; cuda: a device or an error. int8 is a CPU path. */
static int resolve_device(struct model_conf *c, struct weir_prepare *p)
{
    char path[256], why[256];
    c->use_gpu = 0;
    if (c->device == DEVICE_CPU)
        return 0;
    weir_path_key(path, sizeof path, p->path, "device");
    if (c->precision == PRECISION_INT8) {
        if (c->device == DEVICE_CUDA) {
            weir_diag_add(p->diag, path, "expected \"cpu\" or \"auto\" with \"precision\": "
                          "\"int8\" (int8 runs on the CPU), got \"cuda\"");
            return -1;
        }
        fprintf(stderr, "weir: %s: model version %s: device auto: int8 runs on the CPU\n",
                p->path, c->version);
        return 0;
    }
    if (model_gpu_simulated() || weir_cuda_available(why, sizeof why) > 0) {
        c->use_gpu = 1;
        return 0;
    }
    if (c->device == DEVICE_CUDA) {
        weir_diag_add(p->diag, path, "expected a CUDA device, got none (%s); use \"auto\" to "
                      "fall back to the CPU", why);
        return -1;
    }
    fprintf(stderr, "weir: %s: model version %s: device auto: %s; the model runs on the CPU\n",
            p->path, c->version, why);
    return 0;
}

/* A pin marker in the directory: which one serves, and who said so. */
static void say_marker(const struct model_conf *c)
{
    char name[256], why[600];
    int rc = weir_model_marker_read(c->path, name, sizeof name, why, sizeof why);
    if (rc == 1 && c->pin && strcmp(name, c->pin) != 0)
        fprintf(stderr, "weir: %s: model version %s serves: the pipeline's \"version\" wins over "
                "%s/%s, which names %s\n", c->where, c->version, c->path, WEIR_MODEL_MARKER, name);
    else if (rc == 1 && !c->pin)
        fprintf(stderr, "weir: %s: model version %s serves: pinned by %s/%s\n", c->where,
                c->version, c->path, WEIR_MODEL_MARKER);
}

static int model_prepare_rest(struct model_conf *c, const json_t *raw, struct weir_prepare *p);

/* The model file, or its directory, or any version in that directory, is
 * not there yet (the first training): not a file that fails to load, nor
 * a pin naming a version the directory lacks. */
static int model_absent(const struct model_conf *c)
{
    struct stat st;
    if (stat(c->path, &st) < 0)
        return errno == ENOENT;
    if (!S_ISDIR(st.st_mode) || c->pin)
        return 0;
    char **names = NULL, err[256];
    size_t n = 0;
    if (weir_model_versions(c->path, &names, &n, err, sizeof err) < 0)
        return 0;
    weir_model_versions_free(names, n);
    return n == 0;
}

/* `weir features` and `weir fit` before the model is trained (its file, or
 * any version in its directory, not there yet): the chain is cut before
 * this operator, which only has to say what it reads (its "features", in
 * the model's order) and writes. It is never run (init refuses). */
static int model_prepare_absent(struct model_conf *c, const json_t *raw, struct weir_prepare *p,
                                const char *why)
{
    char path[256];
    snprintf(c->where, sizeof c->where, "%s", p->path);
    c->version_col = c->explain.col = -1;
    fprintf(stderr, "weir: %s: no model yet (%s): its \"features\" are the inputs to train\n",
            p->path, why);
    c->nin = c->features.n;
    c->nout = c->out.n;
    c->in_col = calloc(c->nin, sizeof *c->in_col);
    c->out_col = calloc(c->nout, sizeof *c->out_col);
    if (!c->in_col || !c->out_col) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < c->nin; i++)
        bad += (c->in_col[i] = weir_schema_feature_in(
                    p, c->features.v[i], elem_path(path, sizeof path, p, raw, "features", i))) < 0;
    for (size_t i = 0; i < c->nout; i++)
        bad += (c->out_col[i] = weir_schema_feature_out(
                    p, c->out.v[i], elem_path(path, sizeof path, p, raw, "out", i), 1)) < 0;
    if (c->version_out) /* what it would write, for the operators and sinks that name it */
        bad += weir_schema_string_out(
                   p, c->version_out, weir_path_key(path, sizeof path, p->path, "version_out")) < 0;
    if (c->explain.on && c->out.n)
        bad += scorer_explain_column(&c->explain, c->out.v[0], p) < 0;
    return bad;
}

static int model_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct model_conf *c = vconf;
    char path[256], err[1200], why[8300];
    /* Beside the pipeline file, then the working directory (engine/paths.h);
     * found in neither, the load below says the file is missing. */
    if (weir_prepare_path(p, (json_t *)raw, "path", &c->path, WEIR_PATH_READ, why, sizeof why) ==
        -ENOMEM) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    weir_path_key(path, sizeof path, p->path, c->pin ? "version" : "path");
    struct stat st;
    c->is_dir = stat(c->path, &st) == 0 && S_ISDIR(st.st_mode);
    char *key = model_share_key(c, raw);
    int shared = model_share_take(c, key); /* an equal operator's, loaded already (a reload) */
    if (!shared && (!c->is_dir || c->pin)) { /* before it is read: a change after is seen */
        char file[4096];
        snprintf(file, sizeof file, "%s%s%s", c->path, c->pin ? "/" : "", c->pin ? c->pin : "");
        weir_model_file_id_of(file, &c->file_id); /* not there: the load says so */
    }
    struct startup start = {.c = c, .p = p};
    struct stat served = {0};
    int rc = shared ? 0
                    : weir_model_load_version(c->path, c->pin, &c->model, c->version,
                                              sizeof c->version, err, sizeof err, version_rejected,
                                              version_fits, &start, &served);
    if (rc < 0) {
        free(key);
        int absent = p->models_optional && model_absent(c);
        if (absent && c->features.n)
            return model_prepare_absent(c, raw, p, err);
        weir_diag_add(p->diag, path, "%s%s", err,
                      absent
                          ? " (to train the first model from this pipeline, name its inputs in "
                            "\"features\")"
                          : "");
        return 1;
    }
    if (!shared && c->is_dir && !c->pin && served.st_nlink) /* a file put over it is seen */
        weir_model_file_id_of_stat(&served, &c->file_id);
    if (!shared && c->model->note[0])
        fprintf(stderr, "weir: %s: model %s%s: %s\n", p->path, c->is_dir ? "version " : "",
                c->is_dir ? c->version : c->path, c->model->note);
    int bad = model_prepare_rest(c, raw, p);
    for (unsigned i = 0; !bad && !shared && i < start.nrejected; i++)
        weir_model_cell_reject(c->cell, start.rejected[i].name, &start.rejected[i].st);
    if (!bad && !shared && model_share_add(c, key) < 0) {
        weir_diag_add(p->diag, p->path, "out of memory");
        bad = 1;
    }
    free(key);
    return bad;
}

/* Prepare once the model is there: loaded, or shared (then already
 * quantised and in its cell). */
static int model_prepare_rest(struct model_conf *c, const json_t *raw, struct weir_prepare *p)
{
    char path[256];
    int shared = c->shared != NULL;
    snprintf(c->where, sizeof c->where, "%s", p->path);
    c->version_col = -1;
    c->explain.col = -1;
    c->live = calloc(1, sizeof *c->live);
    if (!c->live) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    if (sscanf(p->path, "operators[%d]", &c->live->index) != 1)
        c->live->index = -1;
    if (c->is_dir && c->pin)
        say_marker(c); /* without a pin: when the workers start (not on validate, not on a
                          SIGHUP's second reading of the file) */
    if (c->version_out) {
        c->version_col = weir_schema_string_out(
            p, c->version_out, weir_path_key(path, sizeof path, p->path, "version_out"));
        if (c->version_col < 0)
            return 1;
    }
    if (c->precision == PRECISION_INT8 && c->model->kind != WEIR_MODEL_DENSE) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "precision"),
                      "expected \"int8\" only for dense networks, got %s", c->model->what);
        return 1;
    }
    if (c->precision == PRECISION_INT8 && !shared && weir_model_quantize(c->model) < 0) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    if (resolve_device(c, p) < 0)
        return 1;
    int bad = match_features(c, raw, p);
    bad += model_explain_prepare(c, raw, model_options, p);
    if (!bad && c->out.n != c->model->nout) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "out"),
                      "expected %zu name%s (the outputs of %s), got %zu", c->model->nout,
                      c->model->nout == 1 ? "" : "s", c->model->what, c->out.n);
        bad++;
    }
    if (bad)
        return bad;
    c->in_col = calloc(c->features.n, sizeof *c->in_col);
    c->out_col = calloc(c->out.n, sizeof *c->out_col);
    if (!c->in_col || !c->out_col || per_input(c) < 0 || (!shared && make_cell(c) < 0)) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < c->features.n; i++) {
        c->in_col[i] = weir_schema_feature_in(
            p, c->features.v[i], elem_path(path, sizeof path, p, raw, "features", i));
        bad += c->in_col[i] < 0;
    }
    for (size_t i = 0; i < c->out.n; i++) {
        c->out_col[i] = weir_schema_feature_out(p, c->out.v[i],
                                                elem_path(path, sizeof path, p, raw, "out", i), 1);
        bad += c->out_col[i] < 0;
    }
    return bad;
}

static void poke(void *cell)
{
    weir_model_cell_poke(cell);
}

static void model_release(void *vconf)
{
    struct model_conf *c = vconf;
    for (size_t i = 0; i < c->nin; i++) { /* features.v goes with the options */
        free(c->reason ? c->reason[i] : NULL);
        free(c->input_name ? c->input_name[i] : NULL);
    }
    free(c->input_name);
    model_metrics_remove(c);
    free(c->live);
    struct model_shared *entry = c->shared;
    int last = model_share_release(c); /* another conf may serve the cell on */
    if (c->cell) {
        weir_hangup_unlisten(poke, c->cell); /* before the cell goes */
        weir_model_cell_free(c->cell); /* frees the model too */
        free(c->cell);
        c->model = NULL;
    }
    free(c->reason);
    free(c->in_col);
    free(c->out_col);
    weir_model_free(c->model);
    model_share_free(last ? entry : NULL); /* after the cell: its watcher used the spec */
}

/* ---- per worker ---------------------------------------------------------- */

static int model_init(struct weir_op *op, struct weir_error *err)
{
    const struct model_conf *c = op->conf;
    size_t n = (size_t)c->max_records;
    if (!c->cell) /* prepared for weir features or fit without its file (model_prepare_absent) */
        return weir_error_set(err, -ENOENT, "model: %s: no model to serve", c->path);
    struct model_state *s = calloc(1, sizeof *s);
    if (!s)
        return weir_error_set(err, -ENOMEM, "model: out of memory");
    op->state = s;
    s->generation = weir_model_cell_generation(c->cell);
    s->ref = weir_model_cell_get(c->cell);
    s->scratch_floats = weir_model_scratch(s->ref->m, n);
    s->X = aligned_alloc(64, (n * c->nin * 4 + 63) / 64 * 64);
    s->Y = malloc(n * c->nout * 4);
    s->scratch = malloc(s->scratch_floats * 4 + 64);
    s->slot = malloc(n * sizeof *s->slot);
    if (!s->X || !s->Y || !s->scratch || !s->slot)
        return weir_error_set(err, -ENOMEM, "model: out of memory for %zu rows", n);
    weir_kernels_cpu_init();
    if (c->use_gpu && op->loop && model_gpu_init(op) < 0)
        model_gpu_destroy(op); /* said why; this worker serves on the CPU */
    model_metrics_add(c);
    /* A directory is watched every reload_ms, and on SIGHUP even with 0,
     * for the version to serve; a single file (or the version pinned in the
     * pipeline) for a change on disk. One watcher per cell, however many
     * workers and confs serve it. */
    const struct model_conf *spec = model_share_spec(c);
    int dir = c->is_dir && !c->pin;
    int rc = (dir ? weir_model_cell_watch : weir_model_cell_watch_file)(
        c->cell, spec->path, (uint64_t)c->reload_ms, accept_version, log_version, (void *)spec);
    if (rc < 0)
        return weir_error_set(err, rc, "model: cannot start the version watcher");
    if (rc == 1 && dir)
        say_marker(c);
    if (rc == 1 && weir_hangup_listen(poke, c->cell) < 0)
        return weir_error_set(err, -ENOMEM, "model: out of memory");
    return 0;
}

static void model_destroy(struct weir_op *op)
{
    struct model_state *s = op->state;
    if (!s)
        return;
    model_gpu_destroy(op);
    for (size_t k = 0; k < s->nheld; k++) /* a run that failed never flushed them */
        weir_batch_put(s->held[k]);
    free(s->X);
    free(s->Y);
    free(s->scratch);
    free(s->slot);
    free(s->held);
    free(s->explain);
    weir_model_cell_put(((const struct model_conf *)op->conf)->cell, s->ref);
    free(s);
    op->state = NULL;
}

/* Runs the model over the gathered rows and writes the outputs back. */
static void run_rows(const struct model_conf *c, struct model_state *s)
{
    if (s->rows == 0)
        return;
    const struct weir_model *m = s->ref->m;
    uint64_t t0 = weir_now_ns();
    weir_model_predict(m, s->X, m->nin, s->rows, s->Y, s->scratch,
                       c->precision == PRECISION_INT8 ? WEIR_PREDICT_INT8 : WEIR_PREDICT_FP32);
    model_metrics_run(c, 0, weir_now_ns() - t0, s->rows);
    for (size_t r = 0; r < s->rows; r++)
        model_write_row(c, s, m, s->ref->version, s->slot[r].b, s->slot[r].i,
                        s->Y + r * m->nout);
    s->rows = 0;
}

void model_write_row(const struct model_conf *c, struct model_state *s, const struct weir_model *m,
                     const char *version, struct weir_batch *b, uint32_t i, const float *y)
{
    float *row = weir_batch_row(b, i);
    if (c->explain.col >= 0) /* first: it quotes the inputs, which an output may overwrite */
        model_explain_row(c, s, m, b, i, y[0]);
    for (size_t k = 0; k < m->nout; k++)
        row[c->out_col[k]] = y[k];
    if (c->version_col >= 0) /* the conf and the cell outlive every batch */
        b->S[(size_t)i * b->nstr + (size_t)c->version_col] =
            (struct weir_str){version, (uint32_t)strlen(version)};
}

/* Copies record i's inputs into the next row; a dense model's non-finite
 * input kills the record or is imputed. */
int model_gather_row(const struct model_conf *c, const struct weir_model *m, struct weir_batch *b,
                     uint32_t i, float *x)
{
    const float *src = weir_batch_row(b, i);
    for (size_t j = 0; j < m->nin; j++) {
        float v = src[c->in_col[j]];
        if (m->kind == WEIR_MODEL_DENSE && !isfinite(v)) {
            if (c->on_nan == ON_NAN_DEAD) {
                weir_batch_kill(b, i, c->reason[j]);
                return -1;
            }
            v = m->mean ? m->mean[j] : 0;
        }
        x[j] = v;
    }
    return 0;
}

static void gather(const struct model_conf *c, struct model_state *s, struct weir_batch *b,
                   uint32_t i)
{
    const struct weir_model *m = s->ref->m;
    if (model_gather_row(c, m, b, i, s->X + s->rows * m->nin) < 0)
        return;
    s->slot[s->rows++] = (struct slot){b, i};
    if (s->rows == (size_t)c->max_records)
        run_rows(c, s);
}

static void score_batch(const struct model_conf *c, struct model_state *s, struct weir_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (weir_record_live(&b->rec[i]))
            gather(c, s, b, i);
}

/* The worker serves r (taken from the cell at generation gen) from now on
 * and lets go of the version it served. */
static void serve_ref(const struct model_conf *c, struct model_state *s, struct weir_model_ref *r,
                      uint64_t gen)
{
    weir_model_cell_put(c->cell, s->ref);
    s->ref = r;
    s->generation = gen;
}

/* Between batches: serve the cell's newest version if it changed. The
 * scratch grows when the new version needs more (an allocation per swap,
 * not per record); without memory the old version keeps serving. */
static void refresh(const struct model_conf *c, struct model_state *s)
{
    uint64_t gen = weir_model_cell_generation(c->cell);
    if (gen == s->generation)
        return;
    struct weir_model_ref *r = weir_model_cell_get(c->cell);
    size_t need = weir_model_scratch(r->m, (size_t)c->max_records);
    if (need > s->scratch_floats) {
        float *p = realloc(s->scratch, need * 4 + 64);
        if (!p) { /* tried again each batch; records' version_out tell which served */
            if (s->short_of != gen)
                fprintf(stderr, "weir: %s: model version %s: out of memory for its scratch (%zu "
                        "bytes) on one worker, which keeps serving %s until it has it\n",
                        c->where, r->version, need * 4 + 64, s->ref->version);
            s->short_of = gen;
            weir_model_cell_put(c->cell, r);
            return;
        }
        s->scratch = p;
        s->scratch_floats = need;
    }
    serve_ref(c, s, r, gen);
}

/* Scores everything held and hands it on, in arrival order. */
static void run_held(struct weir_op *op)
{
    const struct model_conf *c = op->conf;
    struct model_state *s = op->state;
    refresh(c, s);
    for (size_t k = 0; k < s->nheld; k++)
        score_batch(c, s, s->held[k]);
    run_rows(c, s);
    size_t n = s->nheld;
    s->nheld = 0;
    s->held_records = 0;
    for (size_t k = 0; k < n; k++)
        weir_op_emit(op, s->held[k]);
}

static int hold(struct model_state *s, struct weir_batch *b)
{
    if (s->nheld == s->held_cap) {
        size_t cap = s->held_cap ? s->held_cap * 2 : 16;
        struct weir_batch **h = realloc(s->held, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        s->held = h;
        s->held_cap = cap;
    }
    s->held[s->nheld++] = b;
    s->held_records += b->n;
    return 0;
}

static int model_process(struct weir_op *op, struct weir_batch *b)
{
    const struct model_conf *c = op->conf;
    struct model_state *s = op->state;
    if (s->gpu) {
        /* the GPU slots hold their own versions: the worker's reference
         * must not keep a replaced one in memory (no CPU scratch needed) */
        uint64_t gen = weir_model_cell_generation(c->cell);
        if (gen != s->generation)
            serve_ref(c, s, weir_model_cell_get(c->cell), gen);
        return model_gpu_process(op, b);
    }
    if (c->max_delay_ms == 0 || !op->loop) {
        refresh(c, s);
        score_batch(c, s, b);
        run_rows(c, s);
        return WEIR_OP_CONTINUE;
    }
    if (hold(s, b) < 0)
        return -ENOMEM;
    /* Nothing stays held without a deadline: when the timer cannot be armed
     * the batches run now. */
    if (s->held_records >= (uint64_t)c->max_records ||
        (!s->timer.armed && weir_op_timer_processing(op, &s->timer, (uint64_t)c->max_delay_ms) < 0))
        run_held(op);
    return WEIR_OP_HELD;
}

/* The deadline of the oldest held batch (or an earlier one, if the batches
 * it was armed for already went on full: running early is allowed). */
static int model_on_timer(struct weir_op *op, struct weir_op_timer *t, int64_t now_ms)
{
    struct model_state *s = op->state;
    if (s->gpu) /* the watch: the GPU path's look at its streams */
        (t == &s->watch ? model_gpu_on_watch : model_gpu_on_timer)(op);
    else
        run_held(op);
    return 0;
}

static void model_flush(struct weir_op *op, int why)
{
    run_held(op); /* batches the CPU held before a switch from the GPU, if any */
    if (((struct model_state *)op->state)->gpu)
        model_gpu_flush(op);
}

static int model_inputs(const void *vconf, const int **col)
{
    const struct model_conf *c = vconf;
    *col = c->in_col;
    return (int)c->nin;
}

const struct weir_operator_type weir_op_model = {
    .name = "model",
    .summary = "scores records with a dense network (safetensors) or XGBoost trees, "
               "micro-batched (docs/models.md)",
    .options = model_options,
    .conf_size = sizeof(struct model_conf),
    .prepare = model_prepare,
    .init = model_init,
    .process = model_process,
    .on_timer = model_on_timer,
    .flush = model_flush,
    .destroy = model_destroy,
    .release = model_release,
    .model_inputs = model_inputs,
    .reads_declared = 1, /* its inputs, through weir_schema_feature_in */
};
