/* An isolation forest's trees (Liu, Ting and Zhou, "Isolation Forest",
 * ICDM 2008): growing them from a population of points with a seeded
 * stream of draws, and scoring a point. Shared by the `iforest` operator
 * (online: its population is a key's ring of recent points) and `weir fit
 * --type iforest` (offline: the training rows; saved by iforest_model.h).
 * Not part of the engine.
 *
 * Growing: each tree draws `sample` points without replacement (partial
 * Fisher-Yates draws over a permutation of the population that starts as
 * the identity and carries over from tree to tree), then splits them until
 * a point is alone or the height limit ceil(log2 psi) is reached: a node
 * picks a random feature among those that vary in it (one draw), and a
 * split uniform between that feature's min and max there (one draw); x <
 * split goes left. Nodes are in preorder, the left child after its parent.
 *
 * Scoring: 2^(-E[h(x)] / c(psi)), h = depth of x's leaf + c(leaf size),
 * c(n) = 2 H(n-1) - 2 (n-1)/n: about 0.5 or below for ordinary points,
 * towards 1 for isolated ones. */
#ifndef WEIR_OPERATORS_IFOREST_FOREST_H
#define WEIR_OPERATORS_IFOREST_FOREST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "common/splitmix.h"

#define IFOREST_LEAF 0xFFFFu

/* A node. A leaf has feat == IFOREST_LEAF, its point count in `right` and
 * c(count) in `split`; an inner node its right child at `right` nodes on. */
struct iforest_node {
    float split;
    uint16_t feat;
    uint16_t right;
};

/* What growing needs besides the trees: sized for a population of n rows,
 * psi points per tree, d features. */
struct iforest_scratch {
    uint32_t *idx;  /* n: a permutation of the population's rows */
    float *pts;     /* psi rows of d floats: one tree's points, contiguous */
    uint32_t *rows; /* psi: indices into pts, partitioned as the tree splits */
};

/* c(n): the mean depth of an unsuccessful search in a binary search tree of
 * n points, which normalises the depths. */
double iforest_c(double n);

int iforest_scratch_alloc(struct iforest_scratch *s, size_t n, size_t psi, size_t d);
void iforest_scratch_free(struct iforest_scratch *s);

/* Grows `trees` trees of min(n, sample) points each from pop (n rows of d
 * floats, all finite), tree t at nodes + t * tree_nodes (tree_nodes >= 2
 * psi - 1), drawing from *rng. center (d floats) gets the mean of the
 * drawn points. Returns psi. */
uint32_t iforest_grow(const float *pop, size_t d, uint32_t n, uint32_t sample, size_t trees,
                      size_t tree_nodes, uint64_t *rng, struct iforest_scratch *s,
                      struct iforest_node *nodes, float *center);

/* The depth of x's leaf plus the leaf's c(size). */
static inline double iforest_path(const struct iforest_node *nodes, const float *x)
{
    size_t at = 0;
    unsigned depth = 0;
    while (nodes[at].feat != IFOREST_LEAF) {
        at = x[nodes[at].feat] < nodes[at].split ? at + 1 : at + nodes[at].right;
        depth++;
    }
    return depth + (double)nodes[at].split;
}

/* 2^(-mean path / c_norm) over the forest; 0.5 when c_norm is 0 (a forest
 * of one point isolates nothing). */
static inline double iforest_score(const struct iforest_node *nodes, size_t trees,
                                   size_t tree_nodes, double c_norm, const float *x)
{
    double sum = 0;
    for (size_t t = 0; t < trees; t++)
        sum += iforest_path(nodes + t * tree_nodes, x);
    if (!(c_norm > 0))
        return 0.5;
    return exp2(-(sum / (double)trees) / c_norm);
}

#endif
