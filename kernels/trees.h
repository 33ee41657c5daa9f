/* Tree ensembles (gradient-boosted trees): the sum of every tree's leaf for
 * each row, batched.
 *
 * Trees are flattened into one node array. A split sends a row left when
 * x[feature] < threshold (XGBoost's rule), and a missing value (NaN) the
 * node's default direction. A node's right child is its left child + 1
 * (loaders lay trees out so). Leaves point to themselves (left = self, a NaN
 * threshold and the default-left bit: every x goes "left"), so every row can
 * take exactly `depth` steps without asking whether it arrived: the CPU
 * kernel walks a block of rows through one tree level by level, branch-free.
 * The reference (trees_ref.c) walks one row at a time with ordinary
 * branches, the oracle for every back end. */
#ifndef WEIR_KERNELS_TREES_H
#define WEIR_KERNELS_TREES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#define WEIR_TREE_DEFAULT_LEFT 0x80000000u /* in weir_tree_node.feature */

struct weir_tree_node {
    float threshold;  /* split: go left when x < threshold; NaN for leaves */
    uint32_t feature; /* feature index | WEIR_TREE_DEFAULT_LEFT; a leaf's: 0 | DEFAULT_LEFT */
    uint32_t left;    /* absolute index of the left child (right = left + 1); a leaf's own */
};

/* A leaf at index `self`, as the kernels expect it. */
static inline struct weir_tree_node weir_tree_leaf(uint32_t self)
{
    return (struct weir_tree_node){NAN, WEIR_TREE_DEFAULT_LEFT, self};
}

struct weir_trees {
    size_t ntrees;
    size_t nnodes;
    size_t nfeat;                 /* features a row must have */
    const uint32_t *root;         /* (ntrees) first node of each tree */
    const uint32_t *depth;        /* (ntrees) longest root-to-leaf path, in edges */
    const struct weir_tree_node *node; /* (nnodes) */
    const float *leaf;            /* (nnodes) leaf values (0 for splits) */
    const uint8_t *is_leaf;            /* (nnodes) */
    const float *cover; /* (nnodes) the training data's weight reaching each node (XGBoost's
                         * sum_hessian; > 0 at splits), or NULL when the file has none */
    /* set once by weir_trees_shap_prepare, for TreeSHAP */
    uint32_t deepest; /* the largest of depth[] */
    double expected;  /* the sum over the trees of their leaves' mean, weighted by cover */
};

/* Adds each row's sum of leaves to out[i] (out is not cleared: start it at
 * the base margin). X: n rows of stride ldx. */
void weir_trees_cpu(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out);
void weir_trees_ref(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out);

/* TreeSHAP takes trees at most this deep: deeper ones (lossguide without
 * max_depth, a crafted file) would take depth-deep recursion per row. */
#define WEIR_TREES_SHAP_MAX_DEPTH 64

/* TreeSHAP's work for one row through a tree of `nodes` nodes at most
 * `depth` deep over nfeat features, whose paths so split on at most m =
 * min(depth, nfeat) distinct ones: nodes × max(1, ⌈m / 2⌉) steps, a step
 * being a node at one of the quadrature points (trees_shap.c). */
double weir_trees_shap_steps(double nodes, size_t depth, size_t nfeat);

/* One row's exact TreeSHAP values (trees_shap.c; needs cover, and t
 * prepared once, after its trees are in place: deepest for any trees,
 * expected only for trees with covers at most WEIR_TREES_SHAP_MAX_DEPTH
 * deep, else NaN): adds each feature's contribution to the row's margin to
 * phi[f] and the trees' expected value to phi[nfeat], so phi sums to the
 * margin less the base; adds nothing for trees it does not take (no covers,
 * too deep, or zero-initialised and never prepared). scratch:
 * weir_trees_shap_scratch(t) bytes, 8-byte aligned. */
void weir_trees_shap_prepare(struct weir_trees *t);
size_t weir_trees_shap_scratch(const struct weir_trees *t);
void weir_trees_shap(const struct weir_trees *t, const float *x, double *phi, void *scratch);

#endif
