/* operators/iforest_explain.c against the definition: a hand-worked tree,
 * then forests grown by iforest_grow whose explanations must equal the
 * Shapley values of the mean path length worked out by brute force over
 * every subset of features, straight from the grown nodes (each subset's
 * value the path expected with the other features integrated out by the
 * share of the sample each side got), and add up to iforest_path's mean.
 * Trees no grower makes (unfolding past their room, a split no point
 * reached, a chain over 64 deep) are refused, not walked. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "operators/iforest_explain.h"
#include "operators/iforest_forest.h"
#include "tests/shapley_ref.h"
#include "tests/test_rand.h"

/* The points of the tree's sample under node `at`: its leaves' counts. */
static double points(const struct iforest_node *n, size_t at)
{
    if (n[at].feat == IFOREST_LEAF)
        return n[at].right;
    return points(n, at + 1) + points(n, at + n[at].right);
}

/* The path length expected under node `at`, `depth` deep, given the
 * features in S (bits) at x's values. */
static double given(const struct iforest_node *n, size_t at, unsigned depth, const float *x,
                    unsigned S)
{
    if (n[at].feat == IFOREST_LEAF)
        return depth + (double)n[at].split;
    size_t l = at + 1, r = at + n[at].right;
    if (S & (1u << n[at].feat))
        return given(n, x[n[at].feat] < n[at].split ? l : r, depth + 1, x, S);
    return (given(n, l, depth + 1, x, S) * points(n, l) +
            given(n, r, depth + 1, x, S) * points(n, r)) /
           points(n, at);
}

struct one_tree {
    const struct iforest_node *n;
    const float *x;
};

static double tree_given(unsigned S, const void *ctx)
{
    const struct one_tree *o = ctx;
    return given(o->n, 0, 0, o->x, S);
}

/* The forest's mean path: each tree's Shapley values over the trees. */
static void brute_force(const struct iforest_node *nodes, size_t trees, size_t tree_nodes, int d,
                        const float *x, double *phi)
{
    for (int i = 0; i <= d; i++)
        phi[i] = 0;
    for (size_t t = 0; t < trees; t++)
        shapley_add(d, tree_given, &(struct one_tree){nodes + t * tree_nodes, x},
                    1.0 / (double)trees, phi);
}

#define LEAF(count)                                                                                \
    {                                                                                              \
        (float)iforest_c(count), IFOREST_LEAF, count                                               \
    }

static void hand_worked(void)
{
    /* x0 < 5 ? leaf of 1 : (x1 < 2 ? leaf of 1 : leaf of 2): paths 1, 2 and
     * 2 + c(2) = 3 for 1, 1 and 2 points, expected 9/4. For x = (1, 9): path
     * 1; v({1}) = 1/4 * 1 + 3/4 * 3 = 2.5, so phi0 = ((1 - 2.25) + (1 - 2.5))
     * / 2 = -1.375 and phi1 = (2.5 - 2.25) / 2 = 0.125. */
    struct iforest_node n[7] = {{5, 0, 2}, LEAF(1), {2, 1, 2}, LEAF(1), LEAF(2)};
    struct tree_explainer e;
    double phi[3];
    float x[2] = {1, 9};
    CHECK(tree_explainer_alloc(&e, 7) == 0);
    CHECK(iforest_shap(&e, n, 1, 7, 2, x, phi) == 0);
    CHECK_NEAR(phi[0], -1.375, 1e-12);
    CHECK_NEAR(phi[1], 0.125, 1e-12);
    CHECK_NEAR(phi[2], 2.25, 1e-12);
    tree_explainer_free(&e);
    /* explain's bound: 5 nodes * ceil(min(depth 2, inputs) / 2); a lone
     * leaf laid out where that tree was counts only itself */
    struct laid_trees one;
    struct iforest_node lone[1] = {LEAF(4)};
    CHECK(laid_trees_alloc(&one, 1, 7) == 0);
    CHECK(iforest_lay_out(&one, n, 1, 7, 2) == 0);
    CHECK(iforest_explain_steps(&one, 2) == 5 && iforest_explain_steps(&one, 1) == 5);
    CHECK(iforest_lay_out(&one, lone, 1, 1, 2) == 0);
    CHECK(iforest_explain_steps(&one, 2) == 1);
    laid_trees_free(&one);
}

static void grown_forests(void)
{
    enum { TREES = 6, SAMPLE = 32, N = 200, DMAX = 5 };
    size_t tree_nodes = 2 * SAMPLE - 1;
    static float pop[N * DMAX];
    static struct iforest_node nodes[TREES * (2 * SAMPLE - 1)];
    struct iforest_scratch s;
    struct tree_explainer e;
    struct laid_trees whole;
    float center[DMAX];
    CHECK(tree_explainer_alloc(&e, tree_nodes) == 0);
    CHECK(laid_trees_alloc(&whole, TREES, tree_nodes) == 0);
    for (int d = 1; d <= DMAX; d++) {
        uint64_t seed = 7 + (uint64_t)d;
        for (size_t i = 0; i < (size_t)N * d; i++) /* a cluster, some of it on a grid */
            pop[i] = i % 3 ? (float)gauss() : (float)(int)(uniform() * 4);
        CHECK(iforest_scratch_alloc(&s, N, SAMPLE, (size_t)d) == 0);
        iforest_grow(pop, (size_t)d, N, SAMPLE, TREES, tree_nodes, &seed, &s, nodes, center);
        iforest_scratch_free(&s);
        /* a trained forest's layout, made once: the same sums, in the same
         * order, as the tree-at-a-time one */
        CHECK(iforest_lay_out(&whole, nodes, TREES, tree_nodes, (size_t)d) == 0);
        for (int k = 0; k < 20; k++) {
            float x[DMAX];
            double phi[DMAX + 1], want[DMAX + 1], once[DMAX + 1], sum = 0, mean = 0;
            for (int q = 0; q < d; q++) /* inside the cluster, or far out */
                x[q] = k % 4 == 0 ? (float)(6 + gauss()) : (float)gauss();
            CHECK(iforest_shap(&e, nodes, TREES, tree_nodes, (size_t)d, x, phi) == 0);
            brute_force(nodes, TREES, tree_nodes, d, x, want);
            CHECK(iforest_laid_shap(&whole, &e, x, once) == 0);
            for (int q = 0; q <= d; q++) {
                CHECK_NEAR(phi[q], want[q], 1e-5);
                CHECK(once[q] == phi[q]);
                sum += phi[q];
            }
            for (size_t t = 0; t < TREES; t++)
                mean += iforest_path(nodes + t * tree_nodes, x) / TREES;
            CHECK_NEAR(sum, mean, 1e-5);
        }
    }
    laid_trees_free(&whole);
    tree_explainer_free(&e);
}

static void refused(void)
{
    struct tree_explainer e;
    double phi[2];
    float x[1] = {0};
    CHECK(tree_explainer_alloc(&e, 200) == 0);
    /* node 2 is node 0's right child and node 1's left: unfolded, the tree
     * needs 9 nodes, and has room for 5 */
    struct iforest_node shared[5] = {{0, 0, 2}, {0, 0, 2}, {0, 0, 2}, LEAF(1), LEAF(1)};
    CHECK(iforest_shap(&e, shared, 1, 5, 1, x, phi) == -EINVAL);
    struct iforest_node empty[200] = {{0, 0, 2}, LEAF(0), LEAF(0)};
    CHECK(iforest_shap(&e, empty, 1, 200, 1, x, phi) == -EINVAL);
    struct iforest_node chain[200];
    for (int k = 0; k < 66; k++) /* 66 splits, each with a leaf on its left */
        chain[2 * k] = (struct iforest_node){1, 0, 2},
                  chain[2 * k + 1] = (struct iforest_node)LEAF(1);
    chain[132] = (struct iforest_node)LEAF(1);
    CHECK(iforest_shap(&e, chain, 1, 200, 1, x, phi) == -EINVAL);
    /* a forest of trees larger than the explainer was sized for */
    struct iforest_node big[201] = {{0, 0, 2}, LEAF(1), LEAF(1)};
    CHECK(iforest_shap(&e, big, 1, 201, 1, x, phi) == -EINVAL);
    CHECK(iforest_shap(&e, big, 1, 200, 1, x, phi) == 0);
    /* room is per tree: a small tree before leaves the next no more */
    struct iforest_node two[10] = {LEAF(1),   [5] = {0, 0, 2}, {0, 0, 2},
                                   {0, 0, 2}, LEAF(1),         LEAF(1)};
    CHECK(iforest_shap(&e, two, 2, 5, 1, x, phi) == -EINVAL);
    /* laid out whole: the same refusals, and no more trees than its room */
    struct laid_trees f;
    CHECK(laid_trees_alloc(&f, 2, 200) == 0);
    CHECK(iforest_lay_out(&f, chain, 1, 200, 1) == -EINVAL);
    CHECK(iforest_lay_out(&f, two, 2, 5, 1) == -EINVAL);
    CHECK(iforest_lay_out(&f, big, 1, 201, 1) == -EINVAL);
    CHECK(iforest_lay_out(&f, big, 3, 1, 1) == -EINVAL);
    CHECK(iforest_lay_out(&f, big, 1, 200, 1) == 0 && iforest_laid_shap(&f, &e, x, phi) == 0);
    CHECK_NEAR(phi[1], 1, 1e-12); /* two leaves of one point: every path is 1 + c(1) = 1 */
    laid_trees_free(&f);
    tree_explainer_free(&e);
}

int main(void)
{
    rng = 0x1f0e57ull;
    hand_worked();
    grown_forests();
    refused();
    return check_summary();
}
