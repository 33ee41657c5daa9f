/* An isolation forest's explanations: operators/iforest_explain.h. */
#include "operators/iforest_explain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int iforest_explainer_alloc(struct iforest_explainer *e, size_t tree_nodes)
{
    *e = (struct iforest_explainer){.tree_nodes = tree_nodes};
    e->node = malloc(tree_nodes * sizeof *e->node);
    e->leaf = malloc(tree_nodes * sizeof *e->leaf);
    e->cover = malloc(tree_nodes * sizeof *e->cover);
    e->is_leaf = malloc(tree_nodes * sizeof *e->is_leaf);
    if (e->node && e->leaf && e->cover && e->is_leaf)
        return 0;
    iforest_explainer_free(e);
    return -ENOMEM;
}

void iforest_explainer_free(struct iforest_explainer *e)
{
    free(e->node);
    free(e->leaf);
    free(e->cover);
    free(e->is_leaf);
    free(e->shap);
    *e = (struct iforest_explainer){0};
}

/* Grown trees are at most ceil(log2 4096) = 12 deep; a file's could be a
 * chain of thousands: refused past WEIR_TREES_SHAP_MAX_DEPTH, before the
 * layout recurses that deep. */
struct layout {
    struct iforest_explainer *e;
    const struct iforest_node *src; /* one tree, preorder */
    uint32_t next, end;             /* the next free slot; the tree's room */
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
    struct iforest_explainer *e = l->e;
    if (depth > WEIR_TREES_SHAP_MAX_DEPTH)
        return -EINVAL;
    if (n->feat == IFOREST_LEAF) {
        e->node[o] = weir_tree_leaf(o);
        e->leaf[o] = (float)(depth + (double)n->split);
        e->cover[o] = (float)n->right;
        e->is_leaf[o] = 1;
        l->deepest = depth > l->deepest ? depth : l->deepest;
        return 0;
    }
    uint32_t left = l->next;
    if (l->end - left < 2)
        return -EINVAL;
    l->next += 2;
    e->node[o] = (struct weir_tree_node){n->split, n->feat, left};
    e->leaf[o] = 0;
    e->is_leaf[o] = 0;
    if (lay_out(l, at + 1, left, depth + 1) < 0 ||
        lay_out(l, at + n->right, left + 1, depth + 1) < 0)
        return -EINVAL;
    e->cover[o] = e->cover[left] + e->cover[left + 1];
    return e->cover[o] > 0 ? 0 : -EINVAL;
}

/* Adds tree t's shares of x's path length to phi (its expected path to
 * phi[d]). */
static int explain_tree(struct iforest_explainer *e, const struct iforest_node *tree,
                        size_t tree_nodes, size_t d, const float *x, double *phi)
{
    struct layout l = {.e = e, .src = tree, .next = 1, .end = (uint32_t)tree_nodes};
    if (lay_out(&l, 0, 0, 0) < 0)
        return -EINVAL;
    uint32_t root = 0;
    struct weir_trees one = {.ntrees = 1,
                             .nnodes = l.next,
                             .nfeat = d,
                             .root = &root,
                             .depth = &l.deepest,
                             .node = e->node,
                             .leaf = e->leaf,
                             .is_leaf = e->is_leaf,
                             .cover = e->cover};
    weir_trees_shap_prepare(&one);
    size_t bytes = weir_trees_shap_scratch(&one);
    if (bytes > e->shap_bytes) {
        void *grown = realloc(e->shap, bytes);
        if (!grown)
            return -ENOMEM;
        e->shap = grown;
        e->shap_bytes = bytes;
    }
    weir_trees_shap(&one, x, phi, e->shap);
    return 0;
}

int iforest_shap(struct iforest_explainer *e, const struct iforest_node *nodes, size_t trees,
                 size_t tree_nodes, size_t d, const float *x, double *phi)
{
    if (tree_nodes > e->tree_nodes || e->tree_nodes > UINT32_MAX)
        return -EINVAL;
    memset(phi, 0, (d + 1) * sizeof *phi);
    for (size_t t = 0; t < trees; t++) {
        int rc = explain_tree(e, nodes + t * tree_nodes, tree_nodes, d, x, phi);
        if (rc < 0)
            return rc;
    }
    for (size_t k = 0; k <= d; k++)
        phi[k] /= (double)trees;
    return 0;
}
