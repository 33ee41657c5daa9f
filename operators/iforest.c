/* iforest: an online isolation forest (Liu, Ting and Zhou, "Isolation
 * Forest", ICDM 2008) over several features, per partition or per key.
 *
 * Each key keeps its last `window` points (a ring). Once it holds `warmup`
 * of them, and again every `rebuild` points after, the forest is rebuilt
 * from the ring: each of `trees` trees draws `sample` points without
 * replacement (fewer while the ring holds fewer) and splits them at random
 * until a point is alone or the height limit ceil(log2 n) is reached: a
 * node picks a random feature among those that vary in it, and a split
 * uniform between that feature's min and max there; x < split goes left.
 * A record is scored against the forest built from the points BEFORE it
 * (never reading ahead), then learned:
 *
 *     score = 2^(-E[h(x)] / c(n)),  h = depth of x's leaf + c(leaf size),
 *     c(n) = 2 H(n-1) - 2 (n-1)/n   (the mean unsuccessful-search depth)
 *
 * the paper's calibrated score: about 0.5 or below for ordinary points,
 * towards 1 for isolated ones. Splits are by each feature's own range, so
 * no scaling is needed. With "side": "up" a score counts only when some
 * feature lies above its mean over the last build's sample ("down": below;
 * else 0). "hold": H reports a score only above the key's H scores before it
 * (operators/hold.h). Before the first build the score is 0 and the record is flagged
 * WEIR_REC_WARMUP. A record with a NaN or infinite feature is neither
 * scored nor learned.
 *
 * With "model": a forest `weir fit --type iforest` trained
 * (operators/iforest_model.h) scores every record instead, on the same
 * scale, and nothing is learned: no ring, no warm-up, the options that shape
 * the online forest (trees, sample, window, rebuild, warmup, seed) refused;
 * "fields" must be the model's features in order. "side" compares with the
 * mean of the points its trees were grown from.
 *
 * With "explain": a record scoring at least `explain_above` (and above 0)
 * gets the string field out + "_explain": the explain_k inputs that
 * shortened its mean path most, by their exact Shapley values
 * (operators/iforest_explain.h: TreeSHAP over the isolation trees), each
 * with its value, its mean over the trees' sample and f_lo..f_hi when an
 * earlier operator writes them. About trees * nodes * depth / 2 steps per
 * explained record (about 2 ms for 100 trees of 1,024 points); more than
 * SCORER_EXPLAIN_MAX_STEPS is an error at prepare (explain_bounded). An online
 * forest changes with each rebuild and is per key: its trees are laid out
 * for TreeSHAP one at a time, in the worker's room for one tree (21 bytes
 * per node). A trained one is laid out once, at prepare (21 bytes per node
 * of the forest, shared), and a file with trees no grower makes is then
 * refused; not under weir features / fit, which cut the chain before it.
 *
 * Random draws come from a splitmix64 stream per key, started at `seed`, in
 * a fixed order (per tree: the sample's partial Fisher-Yates draws over a
 * permutation of the ring's slots that starts as the identity at each build
 * and carries over from tree to tree, then per split node in preorder one
 * draw for the feature, one for the split), so a key's
 * scores depend only on its own records and the seed (tests/test_op_iforest
 * rebuilds the same forests with a naive recursive reference). Growing and
 * scoring trees is operators/iforest_forest.c, shared with weir fit.
 *
 * State per key (bounded): 40 bytes + 4 * fields rounded to 8 + 4 * window
 * * fields (the ring) + 8 * trees * (2 * sample - 1) (the nodes): 100 trees
 * of 256 points and a window of 2048 of one feature: 417 kB; plus the hold ring. Cost: scoring
 * trees * ceil(log2 sample) steps per record; a rebuild trees * sample *
 * log2(sample) * fields steps, every `rebuild` records. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "engine/paths.h"
#include "operators/hold.h"
#include "operators/iforest_explain.h"
#include "operators/iforest_forest.h"
#include "operators/iforest_model.h"
#include "operators/scorer.h"

enum iforest_side { SIDE_BOTH, SIDE_UP, SIDE_DOWN };

#define ROUND8(n) (((n) + 7) & ~(size_t)7)

struct iforest_conf {
    struct weir_strlist fields;
    const char *out, *model;
    int64_t trees, sample, window, rebuild, warmup, seed, hold;
    int side;
    struct weir_state_opts state;
    struct scorer_explain explain;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int out_col;
    size_t tree_nodes; /* per tree: 2 * sample - 1 */
    size_t center_offset, ring_offset, node_offset, hold_offset, bytes;
    uint64_t layout;
    struct iforest_model trained;     /* loaded from "model" */
    struct laid_trees trained_laid; /* with explain: its trees laid out for TreeSHAP */
    int untrained; /* "model" not there yet, for weir features / fit: never runs */
};

static const struct weir_option iforest_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features", offsetof(struct iforest_conf, fields),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, "\"anomaly_score\"",
     "output score in [0,1]: 2^(-mean path length / c(sample)), about 0.5 for ordinary points",
     offsetof(struct iforest_conf, out), 0, 0, 0, NULL},
    {"trees", WEIR_OPT_INT, "100", "trees in the forest", offsetof(struct iforest_conf, trees),
     WEIR_OPT_RANGE, 1, 1024, NULL},
    {"sample", WEIR_OPT_INT, "256", "points each tree is built from (drawn from the window)",
     offsetof(struct iforest_conf, sample), WEIR_OPT_RANGE, 2, 4096, NULL},
    {"window", WEIR_OPT_INT, "2048", "recent points kept per key, the trees' population",
     offsetof(struct iforest_conf, window), WEIR_OPT_RANGE, 2, 1048576, NULL},
    {"rebuild", WEIR_OPT_INT, "256", "points learned between two rebuilds of the forest",
     offsetof(struct iforest_conf, rebuild), WEIR_OPT_RANGE, 1, 1e9, NULL},
    {"warmup", WEIR_OPT_INT, "256",
     "points learned before the first forest (score 0 and WEIR_REC_WARMUP until then)",
     offsetof(struct iforest_conf, warmup), WEIR_OPT_RANGE, 2, 1048576, NULL},
    {"seed", WEIR_OPT_INT, "1", "start of each key's random stream",
     offsetof(struct iforest_conf, seed), WEIR_OPT_RANGE, 0, 1e18, NULL},
    {"side", WEIR_OPT_ENUM, "\"both\"",
     "which points may score: both, up (some feature above its sample mean), down (below)",
     offsetof(struct iforest_conf, side), 0, 0, 0, "both|up|down"},
    {"model", WEIR_OPT_STRING, NULL,
     "a forest trained by weir fit --type iforest (beside the pipeline file, else the working "
     "directory): it scores every record, nothing is learned online",
     offsetof(struct iforest_conf, model), 0, 0, 0, NULL},
    WEIR_HOLD_OPTION_ROW(struct iforest_conf, hold),
    SCORER_EXPLAIN_OPTION_ROWS(
        struct iforest_conf, explain,
        "shortened its mean path most (their exact Shapley values), with each one's value, its "
        "mean over the trees' sample and f_lo..f_hi when written upstream",
        "0.6", WEIR_OPT_RANGE, 0, 1,
        "this (and above 0) gets the text (at most trees * (2 * sample - 1) * "
        "ceil(min(ceil(log2 sample), fields) / 2) steps each, over 1e7 is an error; ordinary "
        "points score about 0.5)"),
    WEIR_STATE_OPTION_ROWS(struct iforest_conf, state),
    {0},
};

/* The state of a partition or key, followed by the sample means (float per
 * feature), the ring (window rows of `fields` floats) and the nodes. */
struct if_head {
    uint64_t seen;         /* points learned */
    uint64_t rng;          /* the key's splitmix64 state */
    uint32_t count, head;  /* points in the ring; its next slot */
    uint32_t since_build;  /* points learned since the last build */
    uint32_t built;        /* points per tree of the forest (0: none yet) */
    double c_norm;         /* c(built) */
};

/* "a", "b", ... into buf (cut short when it is full). */
static void names_list(char *buf, size_t size, const char *const *v, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t q = 0; q < n && o < size; q++)
        o += (size_t)snprintf(buf + o, size - o, "%s\"%s\"", q ? ", " : "", v[q]);
}

/* "model": loads it into c->trained; fields must be its features, the
 * online forest's options absent. Returns the number of problems. */
static int prepare_model(struct iforest_conf *c, const json_t *raw, struct weir_prepare *p)
{
    char ip[256], why[8300];
    static const char *const online[] = {"trees", "sample", "window", "rebuild", "warmup", "seed"};
    int bad = 0;
    for (size_t k = 0; k < sizeof online / sizeof online[0]; k++)
        if (json_object_get(raw, online[k])) {
            weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, online[k]),
                          "expected no \"%s\" with \"model\" (the model file fixes the forest), "
                          "got one", online[k]);
            bad++;
        }
    if (weir_prepare_path(p, (json_t *)raw, "model", &c->model, WEIR_PATH_READ, why, sizeof why) ==
        -ENOMEM) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return bad + 1;
    }
    weir_path_key(ip, sizeof ip, p->path, "model");
    if (iforest_model_load(c->model, &c->trained, why, sizeof why) < 0) {
        struct stat st;
        if (p->models_optional && stat(c->model, &st) < 0 && errno == ENOENT) {
            /* weir features / fit before the first forest: cut before, never run */
            fprintf(stderr, "weir: %s: no model yet (%s): its \"fields\" are the inputs to "
                    "train\n", p->path, why);
            c->untrained = 1;
            return bad;
        }
        weir_diag_add(p->diag, ip, "%s", why);
        return bad + 1;
    }
    int same = c->fields.n == c->trained.d;
    for (size_t q = 0; same && q < c->fields.n; q++)
        same = strcmp(c->fields.v[q], c->trained.feature[q]) == 0;
    if (!same) {
        char want[1024], got[1024];
        names_list(want, sizeof want, (const char *const *)c->trained.feature, c->trained.d);
        names_list(got, sizeof got, c->fields.v, c->fields.n);
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "fields"),
                      "expected the model's features in its order [%s] (%s), got [%s]", want,
                      c->model, got);
        bad++;
    }
    return bad;
}

/* "explain" whose account could hold the loop for long is refused.
 * TreeSHAP's steps for one record are at most the trees' nodes × ⌈m / 2⌉,
 * m the distinct inputs on a path (weir_trees_shap_steps). Online: a tree
 * of psi points has at most psi leaves (a split parts the points its node
 * holds), 2 psi - 1 nodes, on paths of at most ceil(log2 psi) splits. A
 * trained forest's file may hold other trees: counted once laid out. */
static double online_steps(const struct iforest_conf *c)
{
    size_t limit = 0;
    while (((size_t)1 << limit) < (size_t)c->sample)
        limit++;
    double nodes = 2 * (double)c->sample - 1;
    return (double)c->trees * weir_trees_shap_steps(nodes, limit, c->fields.n);
}

static int explain_bounded(const struct iforest_conf *c, struct weir_prepare *p)
{
    char config[512]; /* a model path up to about 450 bytes, whole */
    if (!c->explain.on)
        return 0;
    if (!c->model) {
        snprintf(config, sizeof config, "%lld trees of %lld points over %zu fields",
                 (long long)c->trees, (long long)c->sample, c->fields.n);
        return scorer_explain_bounded(p, online_steps(c), config,
                                      "trees * (2 * sample - 1) * "
                                      "ceil(min(ceil(log2 sample), fields) / 2)",
                                      "fewer trees, a smaller sample, or no explain");
    }
    snprintf(config, sizeof config, "the %zu trees of %s over %zu fields", c->trained.trees,
             c->model, c->fields.n);
    return scorer_explain_bounded(p, iforest_explain_steps(&c->trained_laid, c->fields.n), config,
                                  "their nodes * ceil(min(depth, fields) / 2)",
                                  "a forest of fewer or smaller trees, or no explain");
}

/* "explain" with "model": the trained trees laid out once, for every
 * worker. */
static int prepare_trained_explain(struct iforest_conf *c, struct weir_prepare *p)
{
    char ip[256];
    const struct iforest_model *m = &c->trained;
    if (!c->explain.on || !c->model || c->untrained || p->models_optional)
        return 0;
    int rc = laid_trees_alloc(&c->trained_laid, m->trees, m->tree_nodes);
    if (rc == 0)
        rc = iforest_lay_out(&c->trained_laid, m->nodes, m->trees, m->tree_nodes, m->d);
    if (rc == -ENOMEM)
        weir_diag_add(p->diag, p->path, "out of memory");
    else if (rc < 0)
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "explain"),
                      "expected trees a grower makes (at most %d deep, no shared nodes, every "
                      "split reached by a point of the sample), got others in %s",
                      WEIR_TREES_SHAP_MAX_DEPTH, c->model);
    return rc < 0;
}

static int iforest_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct iforest_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, WEIR_SCHEMA_MAX, c->in_col);
    if (c->fields.n > WEIR_SCHEMA_MAX)
        return bad;
    if (c->model)
        bad += prepare_model(c, raw, p);
    else if (c->warmup > c->window) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "warmup"),
                      "expected warmup <= window (%lld), got %lld", (long long)c->window,
                      (long long)c->warmup);
        bad++;
    }
    weir_path_key(ip, sizeof ip, p->path, "out");
    c->out_col = weir_schema_feature_out(p, c->out, ip, 1);
    bad += c->out_col < 0;
    bad += scorer_explain_prepare(&c->explain, raw, iforest_options, &c->fields, c->out, p);
    if (!bad && !c->model) /* before the trees are built */
        bad += explain_bounded(c, p);
    /* weir features / fit cut the chain before a trained forest (or before a
     * model operator after it, which is rare): neither laid out nor bounded
     * there, so that a forest over the bound can be refitted from its
     * pipeline */
    if (!bad)
        bad += prepare_trained_explain(c, p);
    if (!bad && c->model && !c->untrained && !p->models_optional) /* once laid out */
        bad += explain_bounded(c, p);
    bad += weir_state_opts_prepare(&c->state, raw, p);
    size_t d = c->fields.n;
    c->tree_nodes = 2 * (size_t)c->sample - 1;
    c->center_offset = sizeof(struct if_head);
    c->ring_offset = c->center_offset + ROUND8(d * sizeof(float));
    c->node_offset = c->ring_offset + ROUND8((size_t)c->window * d * sizeof(float));
    c->hold_offset =
        c->node_offset + (size_t)c->trees * c->tree_nodes * sizeof(struct iforest_node);
    if (c->model) /* only the hold ring is kept per key */
        c->hold_offset = c->center_offset = c->ring_offset = c->node_offset = 0;
    c->bytes = c->hold_offset + weir_hold_bytes(c->hold);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "iforest/1");
    for (size_t k = 0; k < d; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->trees), (uint64_t)c->sample);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->window), (uint64_t)c->rebuild);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->warmup), (uint64_t)c->seed);
    h = weir_hash_u64(h, c->model ? c->trained.hash : 0);
    c->layout = weir_hash_u64(h, (uint64_t)c->hold);
    return bad;
}

static void iforest_release(void *vconf)
{
    struct iforest_conf *c = vconf;
    iforest_model_free(&c->trained);
    laid_trees_free(&c->trained_laid);
}

/* An operator instance's scratch: the online forest's growth, and the
 * explanations' trees. */
struct iforest_work {
    struct iforest_scratch grow;
    struct tree_explainer why;
};

static void iforest_destroy(struct weir_op *op)
{
    struct iforest_work *w = op->state;
    if (w) {
        iforest_scratch_free(&w->grow);
        tree_explainer_free(&w->why);
    }
    free(w);
    op->state = NULL;
}

static int iforest_keeps_state(const void *conf)
{
    return ((const struct iforest_conf *)conf)->bytes != 0;
}

static int iforest_init(struct weir_op *op, struct weir_error *err)
{
    const struct iforest_conf *c = op->conf;
    if (c->bytes > UINT32_MAX)
        return weir_error_set(err, -EINVAL, "iforest: %zu bytes per key is too large", c->bytes);
    if (c->untrained)
        return weir_error_set(err, -ENOENT, "iforest: %s: no model to serve", c->model);
    struct iforest_work *w = calloc(1, sizeof *w);
    op->state = w;
    /* a trained forest is laid out whole, except under weir features / fit
     * (not at prepare): one that runs there is explained a tree at a time */
    size_t tree_nodes = !c->model                  ? c->tree_nodes
                        : c->trained_laid.t.ntrees ? 0
                                                   : c->trained.tree_nodes;
    if (!w ||
        (!c->model &&
         iforest_scratch_alloc(&w->grow, (size_t)c->window, (size_t)c->sample, c->fields.n) < 0) ||
        (c->explain.on && tree_explainer_alloc(&w->why, tree_nodes) < 0)) {
        iforest_destroy(op);
        return weir_error_set(err, -ENOMEM, "iforest: out of memory");
    }
    if (c->bytes && weir_op_state_declare(op, &c->state, (uint32_t)c->bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "iforest: out of memory");
    return 0;
}

/* Rebuilds the key's forest from its ring, and the sample means. */
static void build_forest(const struct iforest_conf *c, struct iforest_scratch *s, unsigned char *st)
{
    struct if_head *h = (struct if_head *)st;
    uint32_t psi = iforest_grow((const float *)(st + c->ring_offset), c->fields.n, h->count,
                                (uint32_t)c->sample, (size_t)c->trees, c->tree_nodes, &h->rng, s,
                                (struct iforest_node *)(st + c->node_offset),
                                (float *)(st + c->center_offset));
    h->built = psi;
    h->c_norm = iforest_c(psi);
    h->since_build = 0;
}

/* "path length 2.9 from 8.4: amount=1200 -3.1 sample mean 52.7 expected
 * 0..210, ...; the other 3 -0.2": x's mean path, the forest's expected one,
 * and the explain_k inputs that shortened it most, with their share. */
static size_t explain_text(const struct iforest_conf *c, const float *row, const float *center,
                           const double *phi, char *buf, size_t size)
{
    size_t d = c->fields.n;
    double total = phi[d];
    for (size_t k = 0; k < d; k++)
        total += phi[k];
    size_t len = (size_t)snprintf(buf, size, "path length %.6g from %.6g", total, phi[d]);
    struct scorer_account a = {.e = &c->explain,
                               .name = c->fields.v,
                               .in_col = c->in_col,
                               .n = d,
                               .row = row,
                               .share = phi,
                               .sign = -1,
                               .note = "sample mean",
                               .note_value = center,
                               .verb = "shortened"};
    return scorer_explain_account(&a, buf, size, len);
}

/* The forest a record is scored by: the key's online one, or the trained
 * one (then also laid out for TreeSHAP, with explain). */
struct forest {
    const struct iforest_node *nodes; /* NULL: none yet */
    size_t trees, tree_nodes;
    double c_norm;
    const float *center;
    const struct laid_trees *laid; /* or NULL: laid out per record */
};

/* Record i's "<out>_explain" (cleared by the caller) when its score reaches
 * explain_above (none for a score of 0 — before the first forest, or gated
 * by side or hold —, when the trees cannot be explained, or out of memory:
 * the score stands). */
static void explain_record(struct weir_op *op, struct weir_batch *b, uint32_t i, double score,
                           const struct forest *f, const float *x)
{
    const struct iforest_conf *c = op->conf;
    struct iforest_work *w = op->state;
    double phi[WEIR_SCHEMA_MAX + 1];
    char text[2048];
    if (!f->nodes || !(score > 0) || !((float)score >= c->explain.above_f))
        return;
    int rc = f->laid
                 ? iforest_laid_shap(f->laid, &w->why, x, phi)
                 : iforest_shap(&w->why, f->nodes, f->trees, f->tree_nodes, c->fields.n, x, phi);
    if (rc < 0)
        return;
    size_t len = explain_text(c, weir_batch_row(b, i), f->center, phi, text, sizeof text);
    scorer_explain_set(b, i, c->explain.col, text, len);
}

/* x: record i's inputs. Its score and explanation start cleared; returns
 * 0 when an input is not finite (the record then stays so, unlearned). */
static int record_inputs(const struct iforest_conf *c, struct weir_batch *b, uint32_t i, float *x)
{
    float *row = weir_batch_row(b, i);
    int finite = 1;
    for (size_t q = 0; q < c->fields.n; q++) {
        x[q] = row[c->in_col[q]];
        finite &= isfinite(x[q]);
    }
    row[c->out_col] = 0;
    if (c->explain.col >= 0)
        scorer_explain_set(b, i, c->explain.col, NULL, 0);
    return finite;
}

/* The record's tail: x scored by f (0 without one), through the side
 * and the hold gate (its ring at hold, or NULL without "hold"), written
 * and explained. */
static void record_score(struct weir_op *op, struct weir_batch *b, uint32_t i,
                         const struct forest *f, unsigned char *hold, const float *x)
{
    const struct iforest_conf *c = op->conf;
    int beyond = c->side == SIDE_BOTH; /* "side": some feature beyond center on it */
    for (size_t q = 0; f->nodes && !beyond && q < c->fields.n; q++)
        beyond = c->side == SIDE_UP ? x[q] > f->center[q] : x[q] < f->center[q];
    double score =
        f->nodes && beyond ? iforest_score(f->nodes, f->trees, f->tree_nodes, f->c_norm, x) : 0;
    if (hold)
        score = weir_hold_gate(hold, c->hold, score);
    if (c->explain.col >= 0) /* first: it quotes the inputs, which "out" may overwrite */
        explain_record(op, b, i, score, f, x);
    weir_batch_row(b, i)[c->out_col] = (float)score;
}

/* With "model": scores only, the key's state holding the hold ring. */
static int process_trained(struct weir_op *op, struct weir_batch *b)
{
    const struct iforest_conf *c = op->conf;
    const struct iforest_model *m = &c->trained;
    const struct laid_trees *laid = c->trained_laid.t.ntrees ? &c->trained_laid : NULL;
    const struct forest f = {m->nodes, m->trees, m->tree_nodes, m->c_norm, m->center, laid};
    for (uint32_t i = 0; i < b->n; i++) {
        float x[WEIR_SCHEMA_MAX];
        if (!weir_record_live(&b->rec[i]) || !record_inputs(c, b, i, x))
            continue;
        unsigned char *st = c->hold ? weir_op_state(op, b, i, NULL) : NULL;
        if (c->hold && !st)
            return -ENOMEM;
        record_score(op, b, i, &f, st ? st + c->hold_offset : NULL, x);
    }
    return WEIR_OP_CONTINUE;
}

/* Learns x into the key's ring; rebuilds its forest when due. */
static void learn(const struct iforest_conf *c, struct iforest_scratch *grow, unsigned char *st,
                  const float *x)
{
    struct if_head *h = (struct if_head *)st;
    size_t d = c->fields.n;
    memcpy((float *)(st + c->ring_offset) + (size_t)h->head * d, x, d * sizeof *x);
    h->head = (h->head + 1) % (uint32_t)c->window;
    h->count += h->count < (uint32_t)c->window;
    h->seen++;
    h->since_build++;
    if (h->count >= (uint32_t)c->warmup && (!h->built || h->since_build >= (uint32_t)c->rebuild))
        build_forest(c, grow, st);
}

static int iforest_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct iforest_conf *c = op->conf;
    if (c->model)
        return process_trained(op, b);
    for (uint32_t i = 0; i < b->n; i++) {
        float x[WEIR_SCHEMA_MAX];
        if (!weir_record_live(&b->rec[i]) || !record_inputs(c, b, i, x))
            continue;
        unsigned char *st = weir_op_state(op, b, i, NULL);
        if (!st)
            return -ENOMEM;
        struct if_head *h = (struct if_head *)st;
        if (h->seen == 0)
            h->rng = (uint64_t)c->seed;
        if (!h->built)
            weir_record_warming(&b->rec[i], c->out_col);
        const struct forest f = {h->built ? (const struct iforest_node *)(st + c->node_offset)
                                          : NULL,
                                 (size_t)c->trees,
                                 c->tree_nodes,
                                 h->c_norm,
                                 (const float *)(st + c->center_offset),
                                 NULL};
        record_score(op, b, i, &f, c->hold ? st + c->hold_offset : NULL, x);
        learn(c, &((struct iforest_work *)op->state)->grow, st, x);
    }
    return WEIR_OP_CONTINUE;
}

/* With "model": the forest weir fit trained, on fields in its order. */
static int iforest_model_inputs(const void *vconf, const int **col)
{
    const struct iforest_conf *c = vconf;
    if (!c->model)
        return -1;
    *col = c->in_col;
    return (int)c->fields.n;
}

const struct weir_operator_type weir_op_iforest = {
    .name = "iforest",
    .reads_declared = 1,
    .summary = "Isolation forest: online (trees rebuilt from a window of recent points, per key) "
               "or trained by weir fit (\"model\")",
    .options = iforest_options,
    .conf_size = sizeof(struct iforest_conf),
    .prepare = iforest_prepare,
    .init = iforest_init,
    .destroy = iforest_destroy,
    .release = iforest_release,
    .process = iforest_process,
    .keeps_state = iforest_keeps_state,
    .model_inputs = iforest_model_inputs,
};
