/* Trees of a scorer laid out as kernels/trees.h's, in arrays they own, so
 * that TreeSHAP (kernels/trees_shap.c) explains them as it explains
 * XGBoost's: the isolation forest's trees (iforest_explain.h) and the
 * Half-Space Trees (hstrees_explain.h), whose leaves hold what a tree gives
 * a point and whose covers are the points that reached each node. Shared by
 * operators, not part of the engine. */
#ifndef WEIR_OPERATORS_LAID_TREES_H
#define WEIR_OPERATORS_LAID_TREES_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/trees.h"

/* Room for `trees` trees of at most tree_nodes nodes each (21 bytes a
 * node; 0: none, only the scratch is used), tree k's slots starting at
 * k * tree_nodes. */
struct laid_trees {
    struct weir_trees t; /* over the arrays below, once laid_trees_ready */
    size_t trees, tree_nodes;
    struct weir_tree_node *node;
    float *leaf, *cover;
    uint8_t *is_leaf;
    uint32_t *root, *depth;
};

int laid_trees_alloc(struct laid_trees *f, size_t trees, size_t tree_nodes);
void laid_trees_free(struct laid_trees *f);

/* Once the first n trees' nodes, root[] and depth[] are in place: the
 * kernels' view of them for points of d features, prepared for TreeSHAP. */
void laid_trees_ready(struct laid_trees *f, size_t n, size_t d);

/* TreeSHAP's scratch, grown as the trees need. */
struct shap_room {
    void *scratch;
    size_t bytes;
};

/* Adds t's TreeSHAP values of x to phi (d + 1: the trees' expected value
 * to phi[d]). Returns 0 or -ENOMEM. */
int shap_room_add(struct shap_room *r, const struct weir_trees *t, const float *x, double *phi);
void shap_room_free(struct shap_room *r);

/* A worker's room to explain trees one at a time: one tree of at most
 * `nodes` nodes laid out (0: none, the scratch alone), and TreeSHAP's
 * scratch. */
struct tree_explainer {
    struct laid_trees one;
    struct shap_room room;
};

int tree_explainer_alloc(struct tree_explainer *e, size_t nodes);
void tree_explainer_free(struct tree_explainer *e);

#endif
