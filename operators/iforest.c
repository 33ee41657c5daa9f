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
 * Random draws come from a splitmix64 stream per key, started at `seed`, in
 * a fixed order (per tree: the sample's partial Fisher-Yates draws over a
 * permutation of the ring's slots that starts as the identity at each build
 * and carries over from tree to tree, then per split node in preorder one
 * draw for the feature, one for the split), so a key's
 * scores depend only on its own records and the seed (tests/test_op_iforest
 * rebuilds the same forests with a naive recursive reference).
 *
 * State per key (bounded): 40 bytes + 4 * fields rounded to 8 + 4 * window
 * * fields (the ring) + 8 * trees * (2 * sample - 1) (the nodes): 100 trees
 * of 256 points and a window of 2048 of one feature: 417 kB; plus the hold ring. Cost: scoring
 * trees * ceil(log2 sample) steps per record; a rebuild trees * sample *
 * log2(sample) * fields steps, every `rebuild` records. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/hold.h"

enum iforest_side { SIDE_BOTH, SIDE_UP, SIDE_DOWN };

#define ROUND8(n) (((n) + 7) & ~(size_t)7)
#define NODE_LEAF 0xFFFFu

struct iforest_conf {
    struct weir_strlist fields;
    const char *out;
    int64_t trees, sample, window, rebuild, warmup, seed, hold;
    int side;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int out_col;
    size_t tree_nodes; /* per tree: 2 * sample - 1 */
    size_t center_offset, ring_offset, node_offset, hold_offset, bytes;
    uint64_t layout;
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
    WEIR_HOLD_OPTION_ROW(struct iforest_conf, hold),
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

/* A node, trees laid out in preorder: the left child follows its parent;
 * a leaf has feat == NODE_LEAF, its point count in `right` and c(count) in
 * `split`. */
struct if_node {
    float split;
    uint16_t feat;
    uint16_t right;
};

/* Per worker: the scratch a build needs. */
struct if_scratch {
    uint32_t *idx;  /* window: a permutation of the ring's slots */
    float *pts;     /* sample rows of d floats: one tree's points, contiguous */
    uint32_t *rows; /* sample: indices into pts, partitioned as the tree splits */
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* c(n): the average path length of an unsuccessful search in a binary
 * search tree of n points, which normalises the depths. */
static double iforest_c(double n)
{
    if (n <= 1)
        return 0.0;
    if (n <= 2)
        return 1.0;
    return 2.0 * (log(n - 1.0) + 0.5772156649015329) - 2.0 * (n - 1.0) / n;
}

static int iforest_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct iforest_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, raw, "fields", &c->fields, WEIR_SCHEMA_MAX, c->in_col);
    if (c->fields.n > WEIR_SCHEMA_MAX)
        return bad;
    if (c->warmup > c->window) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "warmup"),
                      "expected warmup <= window (%lld), got %lld", (long long)c->window,
                      (long long)c->warmup);
        bad++;
    }
    weir_path_key(ip, sizeof ip, p->path, "out");
    c->out_col = weir_schema_feature_out(p, c->out, ip, 1);
    bad += c->out_col < 0;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    size_t d = c->fields.n;
    c->tree_nodes = 2 * (size_t)c->sample - 1;
    c->center_offset = sizeof(struct if_head);
    c->ring_offset = c->center_offset + ROUND8(d * sizeof(float));
    c->node_offset = c->ring_offset + ROUND8((size_t)c->window * d * sizeof(float));
    c->hold_offset = c->node_offset + (size_t)c->trees * c->tree_nodes * sizeof(struct if_node);
    c->bytes = c->hold_offset + weir_hold_bytes(c->hold);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "iforest/1");
    for (size_t k = 0; k < d; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->trees), (uint64_t)c->sample);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->window), (uint64_t)c->rebuild);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->warmup), (uint64_t)c->seed);
    c->layout = weir_hash_u64(h, (uint64_t)c->hold);
    return bad;
}

static void iforest_destroy(struct weir_op *op)
{
    struct if_scratch *s = op->state;
    if (s) {
        free(s->idx);
        free(s->pts);
        free(s->rows);
    }
    free(s);
    op->state = NULL;
}

static int iforest_init(struct weir_op *op, struct weir_error *err)
{
    const struct iforest_conf *c = op->conf;
    if (c->bytes > UINT32_MAX)
        return weir_error_set(err, -EINVAL, "iforest: %zu bytes per key is too large", c->bytes);
    struct if_scratch *s = calloc(1, sizeof *s);
    op->state = s;
    if (s) {
        s->idx = malloc((size_t)c->window * sizeof *s->idx);
        s->pts = malloc((size_t)c->sample * (c->fields.n ? c->fields.n : 1) * sizeof *s->pts);
        s->rows = malloc((size_t)c->sample * sizeof *s->rows);
    }
    if (!s || !s->idx || !s->pts || !s->rows) {
        iforest_destroy(op);
        return weir_error_set(err, -ENOMEM, "iforest: out of memory");
    }
    if (weir_op_state_declare(op, &c->state, (uint32_t)c->bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "iforest: out of memory");
    return 0;
}

/* ---- building ---------------------------------------------------------- */

struct builder {
    const float *pts; /* rows of d floats */
    size_t d;
    uint64_t *rng;
    struct if_node *nodes;
    size_t used;
};

/* Splits the points pts[idx[0..n)] at depth `depth` into nodes from b->used on
 * (preorder); returns the node's index. */
static size_t build_node(struct builder *b, uint32_t *idx, uint32_t n, unsigned depth,
                         unsigned limit)
{
    size_t at = b->used++;
    struct if_node *node = &b->nodes[at];
    float lo[WEIR_SCHEMA_MAX], hi[WEIR_SCHEMA_MAX];
    uint16_t varying[WEIR_SCHEMA_MAX];
    size_t nv = 0;
    if (n > 1 && depth < limit) {
        for (size_t q = 0; q < b->d; q++)
            lo[q] = hi[q] = b->pts[(size_t)idx[0] * b->d + q];
        for (uint32_t i = 1; i < n; i++)
            for (size_t q = 0; q < b->d; q++) {
                float x = b->pts[(size_t)idx[i] * b->d + q];
                lo[q] = x < lo[q] ? x : lo[q];
                hi[q] = x > hi[q] ? x : hi[q];
            }
        for (size_t q = 0; q < b->d; q++)
            if (hi[q] > lo[q])
                varying[nv++] = (uint16_t)q;
    }
    if (nv == 0) { /* a leaf keeps c(n), which its depth is topped up with */
        *node = (struct if_node){(float)iforest_c(n), NODE_LEAF, (uint16_t)n};
        return at;
    }
    uint16_t q = varying[splitmix(b->rng) % nv];
    double u = (double)(splitmix(b->rng) >> 11) / 9007199254740992.0;
    float split = (float)(lo[q] + u * ((double)hi[q] - lo[q]));
    if (split > hi[q]) /* rounding to float: keep the right side non-empty */
        split = hi[q];
    uint32_t left = 0;
    for (uint32_t i = 0; i < n; i++)
        if (b->pts[(size_t)idx[i] * b->d + q] < split) {
            uint32_t t = idx[i];
            idx[i] = idx[left];
            idx[left++] = t;
        }
    node->split = split;
    node->feat = q;
    build_node(b, idx, left, depth + 1, limit);
    size_t right = build_node(b, idx + left, n - left, depth + 1, limit);
    b->nodes[at].right = (uint16_t)(right - at);
    return at;
}

/* Rebuilds the key's forest from its ring, and the sample means. */
static void build_forest(const struct iforest_conf *c, struct if_scratch *s, unsigned char *st)
{
    struct if_head *h = (struct if_head *)st;
    float *center = (float *)(st + c->center_offset);
    uint32_t n = h->count, psi = n < (uint32_t)c->sample ? n : (uint32_t)c->sample;
    unsigned limit = 0;
    while (((uint32_t)1 << limit) < psi)
        limit++;
    double sum[WEIR_SCHEMA_MAX] = {0};
    const float *ring = (const float *)(st + c->ring_offset);
    struct builder b = {.pts = s->pts, .d = c->fields.n, .rng = &h->rng};
    for (uint32_t i = 0; i < n; i++)
        s->idx[i] = i;
    for (size_t t = 0; t < (size_t)c->trees; t++) {
        /* a partial Fisher-Yates, continued from the previous tree's
         * permutation (any permutation gives a uniform sample) */
        for (uint32_t j = 0; j < psi; j++) {
            uint32_t r = j + (uint32_t)(splitmix(&h->rng) % (n - j));
            uint32_t tmp = s->idx[j];
            s->idx[j] = s->idx[r];
            s->idx[r] = tmp;
            memcpy(s->pts + (size_t)j * b.d, ring + (size_t)s->idx[j] * b.d, b.d * sizeof *ring);
            for (size_t q = 0; q < b.d; q++)
                sum[q] += ring[(size_t)s->idx[j] * b.d + q];
            s->rows[j] = j;
        }
        b.nodes = (struct if_node *)(st + c->node_offset) + t * c->tree_nodes;
        b.used = 0;
        build_node(&b, s->rows, psi, 0, limit);
    }
    for (size_t q = 0; q < b.d; q++)
        center[q] = (float)(sum[q] / ((double)psi * (double)c->trees));
    h->built = psi;
    h->c_norm = iforest_c(psi);
    h->since_build = 0;
}

/* ---- scoring ----------------------------------------------------------- */

static double path_length(const struct if_node *nodes, const float *x)
{
    size_t at = 0;
    unsigned depth = 0;
    while (nodes[at].feat != NODE_LEAF) {
        at = x[nodes[at].feat] < nodes[at].split ? at + 1 : at + nodes[at].right;
        depth++;
    }
    return depth + (double)nodes[at].split; /* a leaf's c(size) */
}

static double score_point(const struct iforest_conf *c, const unsigned char *st, const float *x)
{
    const struct if_head *h = (const struct if_head *)st;
    const float *center = (const float *)(st + c->center_offset);
    if (c->side != SIDE_BOTH) {
        int beyond = 0;
        for (size_t q = 0; q < c->fields.n; q++)
            beyond |= c->side == SIDE_UP ? x[q] > center[q] : x[q] < center[q];
        if (!beyond)
            return 0.0;
    }
    const struct if_node *nodes = (const struct if_node *)(st + c->node_offset);
    double sum = 0;
    for (size_t t = 0; t < (size_t)c->trees; t++)
        sum += path_length(nodes + t * c->tree_nodes, x);
    if (!(h->c_norm > 0))
        return 0.5; /* a forest of one point isolates nothing */
    return exp2(-(sum / (double)c->trees) / h->c_norm);
}

static int iforest_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct iforest_conf *c = op->conf;
    size_t d = c->fields.n;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i), x[WEIR_SCHEMA_MAX];
        int finite = 1;
        for (size_t q = 0; q < d; q++) {
            x[q] = row[c->in_col[q]];
            finite &= isfinite(x[q]);
        }
        row[c->out_col] = 0;
        if (!finite)
            continue;
        unsigned char *st = weir_op_state(op, b, i, NULL);
        if (!st)
            return -ENOMEM;
        struct if_head *h = (struct if_head *)st;
        if (h->seen == 0)
            h->rng = (uint64_t)c->seed;
        double score = 0;
        if (h->built)
            score = score_point(c, st, x);
        else
            b->rec[i].flags |= WEIR_REC_WARMUP;
        if (c->hold)
            score = weir_hold_gate(st + c->hold_offset, c->hold, score);
        row[c->out_col] = (float)score;
        memcpy((float *)(st + c->ring_offset) + (size_t)h->head * d, x, d * sizeof *x);
        h->head = (h->head + 1) % (uint32_t)c->window;
        h->count += h->count < (uint32_t)c->window;
        h->seen++;
        h->since_build++;
        if (h->count >= (uint32_t)c->warmup &&
            (!h->built || h->since_build >= (uint32_t)c->rebuild))
            build_forest(c, op->state, st);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_iforest = {
    .name = "iforest",
    .summary = "Isolation forest, online: trees rebuilt from a window of recent points, per key",
    .options = iforest_options,
    .conf_size = sizeof(struct iforest_conf),
    .prepare = iforest_prepare,
    .init = iforest_init,
    .destroy = iforest_destroy,
    .process = iforest_process,
};
