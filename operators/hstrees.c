/* hstrees: Half-Space Trees (Tan, Ting and Liu, "Fast anomaly detection for
 * streaming data", IJCAI 2011), a streaming isolation ensemble for several
 * features at once.
 *
 * Each of `trees` trees splits the unit cube `depth` times: a node halves
 * its work range along a random feature. Every record adds 1 to the
 * "latest" mass of each node on its path; every `window` records the latest
 * masses become the "reference" masses and start again from zero. A record
 * is scored against the reference masses of the window before: following
 * its path until a node holds fewer than `size_limit` of them, each tree
 * adds mass * 2^depth, and few points around a record means an anomaly.
 * The score is 1 - sum / (trees * window), clamped to [0,1].
 *
 * Features are scaled to [0,1] by a min and max of earlier records (never
 * reading ahead; the paper assumes known ranges), frozen per window: the
 * latest masses learn with the range of everything seen before their
 * window began, and a record is scored with the scaling its reference
 * masses learnt with, so a value far beyond the range scores high without
 * moving the ordinary records that follow into a corner the masses never
 * saw (a scaling that followed the range record by record did: a window of
 * false alerts after one spike). The first window learns with the range
 * growing as it goes. A value beyond a range of one value lies outside the
 * unit cube. In a region evenly filled the sum exceeds trees * window (a
 * tree's work range is wider than the unit cube), so most ordinary records
 * score exactly 0: the score ranks isolated points only. The trees (random
 * features and work ranges) come from `seed`, so every worker and every run
 * builds the same ones. The first window only learns: score 0 and
 * WEIR_REC_WARMUP. A record with a NaN or infinite feature is neither
 * scored nor learned.
 *
 * With "explain": a record scoring at least `explain_above` (and above 0)
 * gets the string field out + "_explain": the mean over the trees of the
 * mass they give it, against the mean they give the points their masses
 * hold, and the explain_k inputs that lowered it most, by their exact
 * Shapley values (operators/hstrees_explain.h: TreeSHAP over the trees as
 * the reference masses stop them), each with its value, the range the
 * reference masses were scaled by ("seen": before their window began; the
 * first window's, to its end) and f_lo..f_hi when an earlier operator
 * writes them:
 *
 *     mass 53.76 from 14507.7: x=3 -7525.89 seen 2..13.46, y=-14 -6928
 *     seen -15..0.958012
 *
 * (score = 1 - mass / window). A worker holds one tree laid out (21 bytes
 * per node). "explain" on trees whose account could hold the loop for long
 * (explain_steps over 1e7) is an error at prepare.
 *
 * State: per partition, or per key with "by": trees * 2^(depth+1) * 8 bytes
 * of masses (25 trees of depth 10: 410 kB), plus three min/max pairs per
 * feature (seen, the latest masses', the reference masses'). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/splitmix.h"
#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/hstrees_explain.h"
#include "operators/scorer_explain.h"

struct hst_conf {
    struct weir_strlist fields;
    const char *out;
    int64_t trees, depth, window, seed;
    double size_limit;
    struct weir_state_opts state;
    struct scorer_explain explain;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int out_col;
    size_t nodes;     /* per tree: 2^(depth+1) - 1 */
    int32_t *split_q; /* (trees, nodes): the feature a node splits */
    float *split_at;  /* (trees, nodes): where */
    size_t mass_offset;
    uint64_t layout;
};

static const struct weir_option hst_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features", offsetof(struct hst_conf, fields),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, "\"anomaly_score\"", "output score in [0,1]",
     offsetof(struct hst_conf, out), 0, 0, 0, NULL},
    {"trees", WEIR_OPT_INT, "25", "trees in the ensemble", offsetof(struct hst_conf, trees),
     WEIR_OPT_RANGE, 1, 256, NULL},
    {"depth", WEIR_OPT_INT, "10", "splits from root to leaf", offsetof(struct hst_conf, depth),
     WEIR_OPT_RANGE, 1, 16, NULL},
    {"window", WEIR_OPT_INT, "250", "records per mass window", offsetof(struct hst_conf, window),
     WEIR_OPT_RANGE, 2, 1e9, NULL},
    {"size_limit", WEIR_OPT_NUMBER, "0.1",
     "a path stops at a node whose reference mass is below size_limit * window",
     offsetof(struct hst_conf, size_limit), WEIR_OPT_RANGE, 0, 1, NULL},
    {"seed", WEIR_OPT_INT, "1", "seed of the random trees", offsetof(struct hst_conf, seed),
     WEIR_OPT_RANGE, 0, 1e18, NULL},
    SCORER_EXPLAIN_OPTION_ROWS(
        struct hst_conf, explain,
        "lowered the mass the trees give it most (their exact Shapley values), with each one's "
        "value, the range the reference masses were scaled by (seen before their window; the "
        "first window's: to its end) and f_lo..f_hi when written upstream",
        "0.5", WEIR_OPT_RANGE, 0, 1,
        "this (and above 0) gets the text (at most trees * nodes * ceil(min(depth, fields) / 2) "
        "steps each, docs/models.md; over 1e7 is an error; most ordinary records score 0)"),
    WEIR_STATE_OPTION_ROWS(struct hst_conf, state),
    {0},
};

/* The state of a partition or key. */
struct hst_head {
    uint64_t seen;   /* records learned */
    uint32_t in_win; /* records in the latest window */
    uint32_t ready;  /* reference masses exist */
};

struct range {
    double min, max;
};

/* One tree: a random work range per feature, then node i splits its range
 * along a random feature at the middle (nodes in heap order). */
static void build_tree(struct hst_conf *c, size_t t, uint64_t *rng)
{
    size_t d = c->fields.n;
    double lo[WEIR_SCHEMA_MAX], hi[WEIR_SCHEMA_MAX];
    for (size_t q = 0; q < d; q++) {
        double s = weir_splitmix_unit(rng), w = 2 * (s > 1 - s ? s : 1 - s);
        lo[q] = s - w;
        hi[q] = s + w;
    }
    /* ranges per node, rebuilt from the root along each node's path */
    size_t internal = ((size_t)1 << c->depth) - 1;
    int32_t *qs = c->split_q + t * c->nodes;
    float *at = c->split_at + t * c->nodes;
    for (size_t i = 0; i < internal; i++)
        qs[i] = (int32_t)(weir_splitmix(rng) % d);
    for (size_t i = 0; i < internal; i++) {
        double l[WEIR_SCHEMA_MAX], h[WEIR_SCHEMA_MAX];
        memcpy(l, lo, d * sizeof *l);
        memcpy(h, hi, d * sizeof *h);
        size_t path[17], n = 0;
        for (size_t j = i; j > 0; j = (j - 1) / 2)
            path[n++] = j;
        for (size_t k = n; k-- > 0;) { /* from the root down to i */
            size_t child = path[k], parent = (child - 1) / 2;
            double mid = 0.5 * (l[qs[parent]] + h[qs[parent]]);
            if (child == 2 * parent + 1)
                h[qs[parent]] = mid;
            else
                l[qs[parent]] = mid;
        }
        at[i] = (float)(0.5 * (l[qs[i]] + h[qs[i]]));
    }
}

/* TreeSHAP's steps for one record at most: nodes × ⌈m / 2⌉ per tree, m
 * the longest path's distinct features (the depth, or the fields when
 * fewer; weir_trees_shap_steps).
 * A path goes on only through a node with reference mass at least
 * size_limit × window (and above 0): level k has at most 2^k nodes,
 * `window` holding any mass and 1 / size_limit holding that much; a tree
 * has one more leaf than such inner nodes. */
static double explain_steps(const struct hst_conf *c)
{
    double per_level = (double)c->window, inner = 0;
    if (c->size_limit > 0 && 1 / c->size_limit < per_level)
        per_level = 1 / c->size_limit;
    for (int k = 0; k < (int)c->depth; k++)
        inner += fmin(ldexp(1, k), per_level);
    return (double)c->trees * weir_trees_shap_steps(2 * inner + 1, (size_t)c->depth, c->fields.n);
}

static int explain_bounded(const struct hst_conf *c, struct weir_prepare *p)
{
    char config[160];
    if (!c->explain.on)
        return 0;
    snprintf(config, sizeof config,
             "%lld trees of depth %lld over %zu fields with window %lld "
             "and size_limit %g",
             (long long)c->trees, (long long)c->depth, c->fields.n, (long long)c->window,
             c->size_limit);
    return scorer_explain_bounded(p, explain_steps(c), config,
                                  "trees * nodes * ceil(min(depth, fields) / 2)",
                                  "fewer trees, less depth, a smaller window or a larger "
                                  "size_limit, or no explain");
}

static int hst_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct hst_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, WEIR_SCHEMA_MAX, c->in_col);
    if (c->fields.n > WEIR_SCHEMA_MAX)
        return bad;
    weir_path_key(ip, sizeof ip, p->path, "out");
    c->out_col = weir_schema_feature_out(p, c->out, ip, 1);
    bad += c->out_col < 0;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    bad += scorer_explain_prepare(&c->explain, raw, hst_options, &c->fields, c->out, p);
    if (explain_bounded(c, p)) /* not worth building the trees for */
        return bad + 1;
    c->nodes = ((size_t)1 << (c->depth + 1)) - 1;
    c->split_q = malloc((size_t)c->trees * c->nodes * sizeof *c->split_q);
    c->split_at = malloc((size_t)c->trees * c->nodes * sizeof *c->split_at);
    if (!c->split_q || !c->split_at) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return bad + 1;
    }
    if (c->fields.n) {
        uint64_t rng = (uint64_t)c->seed;
        for (size_t t = 0; t < (size_t)c->trees; t++)
            build_tree(c, t, &rng);
    }
    c->mass_offset = sizeof(struct hst_head) + 3 * c->fields.n * sizeof(struct range);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "hstrees/2"); /* 2: scalings frozen per window */
    for (size_t k = 0; k < c->fields.n; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->trees), (uint64_t)c->depth);
    c->layout = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->seed), (uint64_t)c->window);
    return bad;
}

static void hst_release(void *vconf)
{
    struct hst_conf *c = vconf;
    free(c->split_q);
    free(c->split_at);
}

static void hst_destroy(struct weir_op *op)
{
    struct tree_explainer *e = op->state;
    if (e)
        tree_explainer_free(e);
    free(e);
    op->state = NULL;
}

static int hst_init(struct weir_op *op, struct weir_error *err)
{
    const struct hst_conf *c = op->conf;
    size_t bytes = c->mass_offset + (size_t)c->trees * c->nodes * 2 * sizeof(uint32_t);
    if (bytes > UINT32_MAX)
        return weir_error_set(err, -EINVAL, "hstrees: too many trees for their depth");
    if (c->explain.on) { /* one tree laid out for TreeSHAP per worker */
        struct tree_explainer *e = calloc(1, sizeof *e);
        op->state = e;
        if (!e || tree_explainer_alloc(e, c->nodes) < 0) {
            hst_destroy(op);
            return weir_error_set(err, -ENOMEM, "hstrees: out of memory");
        }
    }
    if (weir_op_state_declare(op, &c->state, (uint32_t)bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "hstrees: out of memory");
    return 0;
}

/* The mass a tree gives the scaled point u against the reference masses. */
static double tree_score(const struct hst_conf *c, size_t t, const double *u, const uint32_t *ref)
{
    const int32_t *qs = c->split_q + t * c->nodes;
    const float *at = c->split_at + t * c->nodes;
    size_t internal = ((size_t)1 << c->depth) - 1, node = 0;
    double limit = c->size_limit * (double)c->window;
    for (int d = 0;; d++) {
        if (ref[node] < limit || node >= internal)
            return ldexp((double)ref[node], d);
        node = 2 * node + (u[qs[node]] < at[node] ? 1 : 2);
    }
}

/* Adds the scaled point u to a tree's latest masses. */
static void tree_learn(const struct hst_conf *c, size_t t, const double *u, uint32_t *latest)
{
    const int32_t *qs = c->split_q + t * c->nodes;
    const float *at = c->split_at + t * c->nodes;
    size_t internal = ((size_t)1 << c->depth) - 1, node = 0;
    for (;;) {
        latest[node]++;
        if (node >= internal)
            return;
        node = 2 * node + (u[qs[node]] < at[node] ? 1 : 2);
    }
}

/* tree_score and tree_learn in one walk, for a point both scale alike. */
static double tree_score_learn(const struct hst_conf *c, size_t t, const double *u,
                               const uint32_t *ref, uint32_t *latest)
{
    const int32_t *qs = c->split_q + t * c->nodes;
    const float *at = c->split_at + t * c->nodes;
    size_t internal = ((size_t)1 << c->depth) - 1, node = 0;
    double limit = c->size_limit * (double)c->window, mass = -1;
    for (int d = 0;; d++) {
        latest[node]++;
        if (mass < 0 && (ref[node] < limit || node >= internal))
            mass = ldexp((double)ref[node], d);
        if (node >= internal)
            return mass;
        node = 2 * node + (u[qs[node]] < at[node] ? 1 : 2);
    }
}

/* x scaled by range r; beyond a range of one value, outside the unit cube
 * (at its centre it would fall among every earlier point). */
static double scaled(const struct range *r, double x)
{
    double w = r->max - r->min;
    return w > 0 ? (x - r->min) / w : x == r->min ? 0.5 : x > r->min ? 1.5 : -0.5;
}

/* Record i's "<out>_explain" (cleared by the caller) when its score is
 * above 0 and reaches explain_above: the mass the trees give v (the point
 * scaled by refr, as its reference masses learnt), the scorer's own, and
 * the inputs that lowered it most. None when out of memory: the score
 * stands. */
static void explain_record(struct weir_op *op, struct weir_batch *b, uint32_t i, float score,
                           double mass, const double *v, const uint32_t *ref,
                           const struct range *refr)
{
    const struct hst_conf *c = op->conf;
    size_t d = c->fields.n;
    double phi[WEIR_SCHEMA_MAX + 1] = {0};
    float x[WEIR_SCHEMA_MAX], lo[WEIR_SCHEMA_MAX], hi[WEIR_SCHEMA_MAX];
    char text[2048];
    if (!(score > 0) || !(score >= c->explain.above_f))
        return;
    for (size_t k = 0; k < d; k++) {
        x[k] = hst_explain_point(v[k]);
        lo[k] = (float)refr[k].min;
        hi[k] = (float)refr[k].max;
    }
    for (size_t t = 0; t < (size_t)c->trees; t++) {
        const struct hst_tree tree = {c->split_q + t * c->nodes, c->split_at + t * c->nodes,
                                      ref + t * c->nodes, ((size_t)1 << c->depth) - 1,
                                      c->size_limit * (double)c->window};
        if (hst_shap_add(op->state, &tree, d, x, phi) < 0)
            return;
    }
    for (size_t k = 0; k <= d; k++) /* they sum to mass, but for rounding */
        phi[k] /= (double)c->trees;
    size_t len = (size_t)snprintf(text, sizeof text, "mass %.6g from %.6g", mass, phi[d]);
    struct scorer_account a = {.e = &c->explain,
                               .name = c->fields.v,
                               .in_col = c->in_col,
                               .n = d,
                               .row = weir_batch_row(b, i),
                               .share = phi,
                               .sign = -1,
                               .note = "seen",
                               .note_value = lo,
                               .note_hi = hi,
                               .verb = "lowered"};
    len = scorer_explain_account(&a, text, sizeof text, len);
    scorer_explain_set(b, i, c->explain.col, text, len);
}

static int hst_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct hst_conf *c = op->conf;
    size_t d = c->fields.n, masses = (size_t)c->trees * c->nodes;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        double u[WEIR_SCHEMA_MAX], v[WEIR_SCHEMA_MAX];
        int finite = 1, same = 1;
        for (size_t k = 0; k < d; k++)
            finite &= isfinite(row[c->in_col[k]]);
        row[c->out_col] = 0;
        if (c->explain.col >= 0)
            scorer_explain_set(b, i, c->explain.col, NULL, 0);
        if (!finite)
            continue;
        unsigned char *st = weir_op_state(op, b, i, NULL);
        if (!st)
            return -ENOMEM;
        struct hst_head *head = (struct hst_head *)st;
        struct range *seen = (struct range *)(head + 1), *learn = seen + d, *refr = learn + d;
        for (size_t k = 0; k < d; k++) {
            double x = row[c->in_col[k]];
            if (head->seen == 0)
                seen[k] = (struct range){x, x};
            u[k] = scaled(head->ready ? &learn[k] : &seen[k], x); /* the first window: so far */
            v[k] = scaled(&refr[k], x);
            same &= u[k] == v[k];
            seen[k].min = x < seen[k].min ? x : seen[k].min;
            seen[k].max = x > seen[k].max ? x : seen[k].max;
        }
        uint32_t *ref = (uint32_t *)(st + c->mass_offset), *latest = ref + masses;
        double sum = 0;
        for (size_t t = 0; t < (size_t)c->trees; t++) {
            uint32_t *lt = latest + t * c->nodes;
            if (head->ready && same) {
                sum += tree_score_learn(c, t, u, ref + t * c->nodes, lt);
                continue;
            }
            if (head->ready)
                sum += tree_score(c, t, v, ref + t * c->nodes);
            tree_learn(c, t, u, lt);
        }
        if (head->ready) {
            double s = 1.0 - sum / ((double)c->trees * (double)c->window);
            float score = (float)(s < 0 ? 0 : s > 1 ? 1 : s);
            if (c->explain.col >= 0) /* before the window's end moves the masses */
                explain_record(op, b, i, score, sum / (double)c->trees, v, ref, refr);
            row[c->out_col] = score;
        } else {
            weir_record_warming(&b->rec[i], c->out_col);
        }
        head->seen++;
        if (++head->in_win == (uint32_t)c->window) {
            memcpy(ref, latest, masses * sizeof *ref);
            memset(latest, 0, masses * sizeof *latest);
            /* the first window learnt with the range as it grew: its end */
            memcpy(refr, head->ready ? learn : seen, d * sizeof *refr);
            memcpy(learn, seen, d * sizeof *learn);
            head->in_win = 0;
            head->ready = 1;
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_hstrees = {
    .name = "hstrees",
    .reads_declared = 1,
    .summary = "Half-Space Trees: a streaming isolation score over several features",
    .options = hst_options,
    .conf_size = sizeof(struct hst_conf),
    .prepare = hst_prepare,
    .init = hst_init,
    .destroy = hst_destroy,
    .process = hst_process,
    .release = hst_release,
};
