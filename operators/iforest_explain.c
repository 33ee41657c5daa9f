/* An isolation forest's explanations: operators/iforest_explain.h. */
#include "operators/iforest_explain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Grown trees are at most ceil(log2 4096) = 12 deep; a file's could be a
 * chain of thousands: refused past WEIR_TREES_SHAP_MAX_DEPTH, before the
 * layout recurses that deep. */
struct layout {
    struct laid_trees *f;
    const struct iforest_node *src; /* one tree, preorder */
    uint32_t next, end;             /* the next free slot; the end of the tree's room */
    uint32_t deepest;
};

/* Lays the subtree at src[at], `depth` deep, out at slot o, its children in
 * adjacent slots (kernels/trees.h: right = left + 1); a leaf's value is its
 * path length, a node's cover the points that reached it. -EINVAL for what
 * no grown tree is (the loader checks each node, not the whole): too deep,
 * more nodes than the tree has room for (children shared), a split no point
 * reached. */
static int lay_out(struct layout *l, size_t at, uint32_t o, uint32_t depth)
{
    const struct iforest_node *n = &l->src[at];
    struct laid_trees *f = l->f;
    if (depth > WEIR_TREES_SHAP_MAX_DEPTH)
        return -EINVAL;
    if (n->feat == IFOREST_LEAF) {
        f->node[o] = weir_tree_leaf(o);
        f->leaf[o] = (float)(depth + (double)n->split);
        f->cover[o] = (float)n->right;
        f->is_leaf[o] = 1;
        l->deepest = depth > l->deepest ? depth : l->deepest;
        return 0;
    }
    uint32_t left = l->next;
    if (l->end - left < 2)
        return -EINVAL;
    l->next += 2;
    f->node[o] = (struct weir_tree_node){n->split, n->feat, left};
    f->leaf[o] = 0;
    f->is_leaf[o] = 0;
    if (lay_out(l, at + 1, left, depth + 1) < 0 ||
        lay_out(l, at + n->right, left + 1, depth + 1) < 0)
        return -EINVAL;
    f->cover[o] = f->cover[left] + f->cover[left + 1];
    return f->cover[o] > 0 ? 0 : -EINVAL;
}

double iforest_explain_steps(const struct laid_trees *f, size_t d)
{
    double steps = 0;
    for (size_t t = 0; t < f->t.ntrees; t++) {
        size_t leaves = 0;
        for (size_t k = 0; k < f->tree_nodes; k++)
            leaves += f->is_leaf[t * f->tree_nodes + k];
        /* a grown tree's splits have two children: one node fewer than leaves */
        steps += weir_trees_shap_steps(2.0 * (double)leaves - 1, f->depth[t], d);
    }
    return steps;
}

int iforest_lay_out(struct laid_trees *f, const struct iforest_node *nodes, size_t trees,
                    size_t tree_nodes, size_t d)
{
    if (trees > f->trees || tree_nodes > f->tree_nodes || trees * f->tree_nodes > UINT32_MAX)
        return -EINVAL;
    for (size_t t = 0; t < trees; t++) {
        uint32_t base = (uint32_t)(t * f->tree_nodes);
        struct layout l = {.f = f,
                           .src = nodes + t * tree_nodes,
                           .next = base + 1,
                           .end = base + (uint32_t)tree_nodes};
        if (lay_out(&l, 0, base, 0) < 0)
            return -EINVAL;
        /* a smaller tree laid out where a larger one was: only its own
         * leaves count (iforest_explain_steps) */
        memset(f->is_leaf + l.next, 0, base + f->tree_nodes - l.next);
        f->root[t] = base;
        f->depth[t] = l.deepest;
    }
    laid_trees_ready(f, trees, d);
    return 0;
}

int iforest_shap(struct tree_explainer *e, const struct iforest_node *nodes, size_t trees,
                 size_t tree_nodes, size_t d, const float *x, double *phi)
{
    memset(phi, 0, (d + 1) * sizeof *phi);
    for (size_t t = 0; t < trees; t++) {
        int rc = iforest_lay_out(&e->one, nodes + t * tree_nodes, 1, tree_nodes, d);
        if (rc < 0 || (rc = shap_room_add(&e->room, &e->one.t, x, phi)) < 0)
            return rc;
    }
    for (size_t k = 0; k <= d; k++)
        phi[k] /= (double)trees;
    return 0;
}

int iforest_laid_shap(const struct laid_trees *f, struct tree_explainer *e, const float *x,
                      double *phi)
{
    size_t d = f->t.nfeat;
    memset(phi, 0, (d + 1) * sizeof *phi);
    int rc = shap_room_add(&e->room, &f->t, x, phi);
    for (size_t k = 0; k <= d; k++)
        phi[k] /= (double)f->t.ntrees;
    return rc;
}
