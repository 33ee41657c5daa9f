/* Why Half-Space Trees scored a point: each input's exact share of the
 * mass the trees give it (the mean over the trees of mass * 2^depth at the
 * node where its path stops, hstrees.c), its Shapley value by TreeSHAP
 * (kernels/trees_shap.c). A Half-Space Tree is a tree whose leaves are the
 * nodes where a path stops (reference mass below the size limit, or the
 * full depth), holding mass * 2^depth, and whose reference masses are its
 * nodes' covers (every point learned adds 1 to each node on its full path,
 * so a node's mass is its children's sum), so the trees are laid out as
 * kernels/trees.h's (operators/laid_trees.h), one at a time. A negative
 * share lowered the mass: that input put the point where few earlier points
 * were. Shared by the `hstrees` operator; not part of the engine. */
#ifndef WEIR_OPERATORS_HSTREES_EXPLAIN_H
#define WEIR_OPERATORS_HSTREES_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>

#include "operators/laid_trees.h"

/* One tree as the operator holds it, in heap order (node i's children are
 * 2i + 1, below split, and 2i + 2): the first `internal` nodes split. */
struct hst_tree {
    const int32_t *feature; /* the feature a node splits */
    const float *split;     /* where, in the unit cube's scale */
    const uint32_t *mass;   /* the reference masses */
    size_t internal;
    double limit; /* a path stops at a node of mass below it */
};

/* The scaled point u as TreeSHAP reads it: the largest float at most u,
 * so that it falls on the same side of every float split as u does. */
float hst_explain_point(double u);

/* Adds tree t's shares of the mass it gives x (d features, as
 * hst_explain_point made them) to phi, and its expected mass (over the
 * points its masses hold) to phi[d], in e (its room for one tree of the
 * operator's nodes). Returns 0 or -ENOMEM. */
int hst_shap_add(struct tree_explainer *e, const struct hst_tree *t, size_t d, const float *x,
                 double *phi);

#endif
