/* kernels/trees_shap.c against the definition: a hand-worked stump, then
 * random trees (features split on twice along a path, NaN inputs taking the
 * default direction, leaves no training data reached) whose TreeSHAP values must equal the Shapley
 * values worked out by brute force over every subset of features, each subset's value the tree's
 * expectation with the other features integrated out by the nodes' covers. Both must add up to the
 * row's margin. Trees TreeSHAP does not take (deeper than WEIR_TREES_SHAP_MAX_DEPTH, or never
 * prepared) add nothing. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "kernels/trees.h"
#include "tests/shapley_ref.h"
#include "tests/test_rand.h"

#define urand uniform /* the same trees every run: rng is set in main */

struct forest {
    struct weir_tree_node node[4096];
    float leaf[4096], cover[4096];
    uint8_t is_leaf[4096];
    uint32_t root[4], depth[4], next;
};

/* Grows a tree at `at` (children appended at f->next); returns its cover. */
static float grow(struct forest *f, uint32_t at, uint32_t d, uint32_t max, size_t nfeat,
                  uint32_t *depth)
{
    *depth = d > *depth ? d : *depth;
    if (d == max || (d > 0 && urand() < 0.25)) {
        f->is_leaf[at] = 1;
        f->leaf[at] = (float)(urand() * 4 - 2);
        f->node[at] = weir_tree_leaf(at);
        /* whole numbers: sums are exact; some leaves no training data reached */
        return f->cover[at] = urand() < 0.1 ? 0 : (float)(1 + (int)(urand() * 20));
    }
    uint32_t l = f->next;
    f->next += 2;
    uint32_t feat = (uint32_t)(urand() * (double)nfeat);
    f->node[at] = (struct weir_tree_node){(float)(urand() * 2 - 1),
                                          feat | (urand() < 0.5 ? WEIR_TREE_DEFAULT_LEFT : 0), l};
    f->is_leaf[at] = 0;
    float c = grow(f, l, d + 1, max, nfeat, depth) + grow(f, l + 1, d + 1, max, nfeat, depth);
    if (c == 0) { /* a split needs data (the loader refuses one without): a leaf instead */
        f->is_leaf[at] = 1;
        f->leaf[at] = 1;
        f->node[at] = weir_tree_leaf(at);
        return f->cover[at] = 1;
    }
    return f->cover[at] = c;
}

/* The tree's expectation given the features in set S (bits) at x's values. */
static double given(const struct weir_trees *t, uint32_t j, const float *x, unsigned S)
{
    if (t->is_leaf[j])
        return t->leaf[j];
    const struct weir_tree_node *nd = &t->node[j];
    uint32_t f = nd->feature & ~WEIR_TREE_DEFAULT_LEFT;
    if (S & (1u << f)) {
        int left = isnan(x[f]) ? (nd->feature & WEIR_TREE_DEFAULT_LEFT) != 0 : x[f] < nd->threshold;
        return given(t, left ? nd->left : nd->left + 1, x, S);
    }
    uint32_t l = nd->left;
    return (given(t, l, x, S) * t->cover[l] + given(t, l + 1, x, S) * t->cover[l + 1]) /
           t->cover[j];
}

struct one_tree {
    const struct weir_trees *t;
    uint32_t root;
    const float *x;
};

static double tree_given(unsigned S, const void *ctx)
{
    const struct one_tree *o = ctx;
    return given(o->t, o->root, o->x, S);
}

static void brute_force(const struct weir_trees *t, const float *x, int nfeat, double *phi)
{
    for (size_t k = 0; k < t->ntrees; k++)
        shapley_add(nfeat, tree_given, &(struct one_tree){t, t->root[k], x}, 1, phi);
}

static void stump(void)
{
    /* x0 < 0 ? -1 (cover 1) : 1 (cover 3): expected 0.5 */
    struct weir_tree_node node[3] = {{0, 0, 1}, weir_tree_leaf(1), weir_tree_leaf(2)};
    float leaf[3] = {0, -1, 1}, cover[3] = {4, 1, 3};
    uint8_t is_leaf[3] = {0, 1, 1};
    uint32_t root = 0, depth = 1;
    struct weir_trees t = {1, 3, 2, &root, &depth, node, leaf, is_leaf, cover, 0, 0};
    weir_trees_shap_prepare(&t);
    CHECK(t.deepest == 1 && t.expected == 0.5);
    double scratch[64], phi[3] = {0};
    CHECK(weir_trees_shap_scratch(&t) <= sizeof scratch);
    float x[2] = {-1, 7};
    weir_trees_shap(&t, x, phi, scratch);
    CHECK(fabs(phi[0] - -1.5) < 1e-12);
    CHECK(phi[1] == 0);
    CHECK(fabs(phi[2] - 0.5) < 1e-12);
}

static void random_case(int ntrees, uint32_t max_depth, int nfeat)
{
    struct forest *f = calloc(1, sizeof *f);
    for (int k = 0; k < ntrees; k++) {
        f->root[k] = f->next++;
        grow(f, f->root[k], 0, max_depth, (size_t)nfeat, &f->depth[k]);
    }
    struct weir_trees t = {(size_t)ntrees, f->next,    (size_t)nfeat, f->root, f->depth, f->node,
                           f->leaf,        f->is_leaf, f->cover,      0,       0};
    weir_trees_shap_prepare(&t);
    void *scratch = malloc(weir_trees_shap_scratch(&t));
    for (int row = 0; row < 20; row++) {
        float x[12];
        for (int i = 0; i < nfeat; i++)
            x[i] = urand() < 0.15 ? NAN : (float)(urand() * 2.4 - 1.2);
        double phi[13] = {0}, want[13] = {0}, sum = 0;
        float margin = 0;
        weir_trees_shap(&t, x, phi, scratch);
        brute_force(&t, x, nfeat, want);
        weir_trees_ref(&t, x, (size_t)nfeat, 1, &margin);
        int same = 1;
        for (int i = 0; i <= nfeat; i++) {
            same &= fabs(phi[i] - want[i]) < 1e-9 * (1 + fabs(want[i]));
            sum += phi[i];
        }
        CHECK(same);
        CHECK(fabs(sum - margin) < 1e-5 * (1 + fabs(margin)));
    }
    free(scratch);
    free(f);
}

/* Trees TreeSHAP does not take add nothing: a chain one split deeper than
 * WEIR_TREES_SHAP_MAX_DEPTH (its expected value is not even worked out: the
 * walk recurses), and trees nobody prepared (the scratch would be sized for
 * depth 0). */
static void refused(void)
{
    enum { SPLITS = WEIR_TREES_SHAP_MAX_DEPTH + 1, NODES = 2 * SPLITS + 1 };
    struct weir_tree_node node[NODES];
    float leaf[NODES] = {0}, cover[NODES];
    uint8_t is_leaf[NODES] = {0};
    for (uint32_t k = 0; k < SPLITS; k++) { /* split k: a leaf left, split k + 1 right */
        node[2 * k] = (struct weir_tree_node){0, 0, 2 * k + 1};
        node[2 * k + 1] = weir_tree_leaf(2 * k + 1);
        is_leaf[2 * k + 1] = 1;
        leaf[2 * k + 1] = 1;
        cover[2 * k] = (float)(SPLITS - k + 1);
        cover[2 * k + 1] = 1;
    }
    node[NODES - 1] = weir_tree_leaf(NODES - 1);
    is_leaf[NODES - 1] = 1;
    cover[NODES - 1] = 1;
    uint32_t root = 0, depth = SPLITS;
    struct weir_trees t = {1, NODES, 1, &root, &depth, node, leaf, is_leaf, cover, 0, 0};
    double phi[2] = {0}, scratch[64];
    float x[1] = {1};
    weir_trees_shap(&t, x, phi, scratch); /* not prepared */
    CHECK(phi[0] == 0 && phi[1] == 0);
    weir_trees_shap_prepare(&t);
    CHECK(t.deepest == SPLITS && isnan(t.expected));
    weir_trees_shap(&t, x, phi, scratch);
    CHECK(phi[0] == 0 && phi[1] == 0);
}

/* Chains `splits` deep, each split on its own feature, a leaf on one side
 * and the next split on the other: a row's shares must add up to the leaf
 * it reaches less the expected value, the integral of the paths'
 * polynomials (degree up to splits - 1) over the quadrature's points: the
 * large sets of points (10, 17, 32), which the random trees never use, must
 * be right. Brute force over 2^64 subsets is out of reach. */
static void deep_chains(void)
{
    enum { MAX = WEIR_TREES_SHAP_MAX_DEPTH, NODES = 2 * MAX + 1 };
    static const uint32_t depths[] = {20, 33, MAX};
    for (size_t c = 0; c < sizeof depths / sizeof *depths; c++) {
        uint32_t splits = depths[c], nodes = 2 * splits + 1, root = 0;
        struct weir_tree_node node[NODES];
        float leaf[NODES] = {0}, cover[NODES], x[MAX];
        uint8_t is_leaf[NODES] = {0};
        for (uint32_t k = 0; k < nodes; k++) { /* split k: a leaf left, split k + 1 right */
            int last = k == nodes - 1, split = k % 2 == 0 && !last;
            node[k] = split ? (struct weir_tree_node){0, k / 2, k + 1} : weir_tree_leaf(k);
            is_leaf[k] = (uint8_t)!split;
            leaf[k] = split ? 0 : (float)(urand() * 4 - 2);
            cover[k] = split ? 0 : (float)(1 + (int)(urand() * 20));
        }
        for (uint32_t k = nodes - 1; k-- > 0;)
            if (!is_leaf[k])
                cover[k] = cover[k + 1] + cover[k + 2];
        for (uint32_t f = 0; f < splits; f++) /* right along most of the chain */
            x[f] = urand() < 0.9 ? 1 : -1;
        struct weir_trees t = {1, nodes, splits, &root, &splits, node, leaf, is_leaf, cover, 0, 0};
        weir_trees_shap_prepare(&t);
        double *scratch = malloc(weir_trees_shap_scratch(&t)), phi[MAX + 1] = {0}, sum = 0;
        uint32_t at = 0;
        while (!is_leaf[at])
            at = x[node[at].feature] < 0 ? at + 1 : at + 2;
        weir_trees_shap(&t, x, phi, scratch);
        for (uint32_t f = 0; f <= splits; f++)
            sum += phi[f];
        CHECK_NEAR(sum, leaf[at], 1e-9);
        free(scratch);
    }
}

/* The bound's steps: nodes × the quadrature points, ⌈m / 2⌉ and at
 * least 1. */
static void steps(void)
{
    CHECK(weir_trees_shap_steps(7, 0, 64) == 7 && weir_trees_shap_steps(7, 1, 64) == 7);
    CHECK(weir_trees_shap_steps(7, 2, 64) == 7 && weir_trees_shap_steps(7, 3, 64) == 14);
    CHECK(weir_trees_shap_steps(7, 10, 64) == 35 && weir_trees_shap_steps(7, 64, 64) == 224);
    /* m is the fewer of depth and features */
    CHECK(weir_trees_shap_steps(7, 64, 10) == 35 && weir_trees_shap_steps(7, 10, 1) == 7);
}

int main(void)
{
    rng = 0x5eedf00dcafe1234ull;
    stump();
    refused();
    for (int k = 0; k < 40; k++)
        random_case(1 + (int)(urand() * 4), 1 + (uint32_t)(urand() * 6), 1 + (int)(urand() * 6));
    /* paths of up to 9 and 10 distinct features: 5 quadrature points */
    for (int k = 0; k < 3; k++) {
        random_case(2, 9, 9);
        random_case(1, 10, 10);
    }
    deep_chains();
    steps();
    return check_summary();
}
