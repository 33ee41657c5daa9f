/* Why an isolation forest scored a point: each input's exact share of the
 * point's mean path length (the E[h(x)] of iforest_forest.h's score), its
 * Shapley value by TreeSHAP (kernels/trees_shap.c). An isolation tree is a
 * tree whose leaves hold depth + c(leaf size), and the number of the tree's
 * sample points that reached a node is that node's cover, so the trees are
 * laid out as kernels/trees.h's (operators/laid_trees.h) and handed to the
 * same code that explains XGBoost's. A negative share shortened the path: that input isolated the
 * point. Shared by the `iforest` operator's online and trained forests; not
 * part of the engine. */
#ifndef WEIR_OPERATORS_IFOREST_EXPLAIN_H
#define WEIR_OPERATORS_IFOREST_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "operators/iforest_forest.h"
#include "operators/laid_trees.h"

/* Lays the forest (trees of tree_nodes nodes each, as iforest_grow lays
 * them out; at most f's room) out in f, ready for TreeSHAP on points of d
 * features: a leaf holds its depth + c(size), a node's cover is the points
 * that reached it. Returns 0, or -EINVAL for more trees or nodes than f
 * has room for, and for trees that no grower makes (a file's: over 64
 * deep, more nodes than tree_nodes once shared children are unfolded, a
 * split no point reached). A trained forest is laid out once, at
 * prepare. */
int iforest_lay_out(struct laid_trees *f, const struct iforest_node *nodes, size_t trees,
                    size_t tree_nodes, size_t d);

/* The most steps TreeSHAP may take over the trees laid out in f to explain
 * a point of d features: each tree's nodes × ⌈m / 2⌉, m = min(its depth,
 * d) the distinct inputs on a path (weir_trees_shap_steps). `explain` is
 * held to SCORER_EXPLAIN_MAX_STEPS of them (scorer_explain.h); `weir fit`
 * warns of a forest over it. */
double iforest_explain_steps(const struct laid_trees *f, size_t d);

/* phi (d + 1 doubles, overwritten): each of the d features' share of x's
 * mean path length over the forest (trees of tree_nodes nodes each, laid
 * out one at a time in e: an online forest changes with every rebuild and
 * is per key, so it is not kept laid out), and in phi[d] the forest's expected path length
 * (the mean over its trees of their sample's), so that the d + 1 sum to
 * x's mean path length. Returns 0, -ENOMEM, or -EINVAL as iforest_lay_out,
 * or for trees larger than e's room. */
int iforest_shap(struct tree_explainer *e, const struct iforest_node *nodes, size_t trees,
                 size_t tree_nodes, size_t d, const float *x, double *phi);

/* The same for a forest already laid out (f, read-only), e only lending
 * its scratch. */
int iforest_laid_shap(const struct laid_trees *f, struct tree_explainer *e, const float *x,
                      double *phi);

#endif
