/* Why an isolation forest scored a point: each input's exact share of the
 * point's mean path length (the E[h(x)] of iforest_forest.h's score), its
 * Shapley value by TreeSHAP (kernels/trees_shap.c). An isolation tree is a
 * tree whose leaves hold depth + c(leaf size), and the number of the tree's
 * sample points that reached a node is that node's cover, so the trees are
 * laid out as kernels/trees.h's and handed to the same code that explains
 * XGBoost's. A negative share shortened the path: that input isolated the
 * point. Shared by the `iforest` operator's online and trained forests; not
 * part of the engine. */
#ifndef WEIR_OPERATORS_IFOREST_EXPLAIN_H
#define WEIR_OPERATORS_IFOREST_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/trees.h"
#include "operators/iforest_forest.h"

/* One tree laid out for TreeSHAP, and its scratch: room for trees of at
 * most tree_nodes nodes. The trees are laid out and explained one at a
 * time, so a worker holds 21 bytes per node of one tree, not the forest. */
struct iforest_explainer {
    size_t tree_nodes;
    struct weir_tree_node *node;
    float *leaf, *cover;
    uint8_t *is_leaf;
    void *shap; /* weir_trees_shap_scratch bytes, grown as the trees need */
    size_t shap_bytes;
};

int iforest_explainer_alloc(struct iforest_explainer *e, size_t tree_nodes);
void iforest_explainer_free(struct iforest_explainer *e);

/* phi (d + 1 doubles, overwritten): each of the d features' share of x's
 * mean path length over the forest (trees of tree_nodes nodes each, as
 * iforest_grow lays them out), and in phi[d] the forest's expected path
 * length (the mean over its trees of their sample's), so that the d + 1 sum
 * to x's mean path length. Returns 0, -ENOMEM, or -EINVAL for trees larger
 * than the explainer's room, or that no grower makes (a file's: over 64
 * deep, more nodes than tree_nodes once shared children are unfolded, a
 * split no point reached). */
int iforest_shap(struct iforest_explainer *e, const struct iforest_node *nodes, size_t trees,
                 size_t tree_nodes, size_t d, const float *x, double *phi);

#endif
