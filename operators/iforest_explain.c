/* An isolation forest's explanations: operators/iforest_explain.h. */
#include "operators/iforest_explain.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int iforest_laid_alloc(struct iforest_laid *f, size_t trees, size_t tree_nodes)
{
    *f = (struct iforest_laid){.trees = trees, .tree_nodes = tree_nodes};
    size_t n = trees * tree_nodes;
    if (tree_nodes && n / tree_nodes != trees)
        return -ENOMEM;
    /* zeroed: the slots a tree leaves free are never reached */
    f->node = calloc(n, sizeof *f->node);
    f->leaf = calloc(n, sizeof *f->leaf);
    f->cover = calloc(n, sizeof *f->cover);
    f->is_leaf = calloc(n, sizeof *f->is_leaf);
    f->root = calloc(trees, sizeof *f->root);
    f->depth = calloc(trees, sizeof *f->depth);
    if (f->node && f->leaf && f->cover && f->is_leaf && f->root && f->depth)
        return 0;
    iforest_laid_free(f);
    return -ENOMEM;
}

void iforest_laid_free(struct iforest_laid *f)
{
    free(f->node);
    free(f->leaf);
    free(f->cover);
    free(f->is_leaf);
    free(f->root);
    free(f->depth);
    *f = (struct iforest_laid){0};
}

/* Grown trees are at most ceil(log2 4096) = 12 deep; a file's could be a
 * chain of thousands: refused past WEIR_TREES_SHAP_MAX_DEPTH, before the
 * layout recurses that deep. */
struct layout {
    struct iforest_laid *f;
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
    struct iforest_laid *f = l->f;
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

int iforest_lay_out(struct iforest_laid *f, const struct iforest_node *nodes, size_t trees,
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
        f->root[t] = base;
        f->depth[t] = l.deepest;
    }
    f->t = (struct weir_trees){.ntrees = trees,
                               .nnodes = trees * f->tree_nodes,
                               .nfeat = d,
                               .root = f->root,
                               .depth = f->depth,
                               .node = f->node,
                               .leaf = f->leaf,
                               .is_leaf = f->is_leaf,
                               .cover = f->cover};
    weir_trees_shap_prepare(&f->t);
    return 0;
}

int iforest_explainer_alloc(struct iforest_explainer *e, size_t tree_nodes)
{
    *e = (struct iforest_explainer){0};
    return iforest_laid_alloc(&e->one, 1, tree_nodes);
}

void iforest_explainer_free(struct iforest_explainer *e)
{
    iforest_laid_free(&e->one);
    free(e->shap);
    *e = (struct iforest_explainer){0};
}

/* Adds the trees' shares of x's path length to phi (their expected path to
 * phi[nfeat]), in e's scratch. */
static int add_shares(struct iforest_explainer *e, const struct weir_trees *t, const float *x,
                      double *phi)
{
    size_t bytes = weir_trees_shap_scratch(t);
    if (bytes > e->shap_bytes) {
        void *grown = realloc(e->shap, bytes);
        if (!grown)
            return -ENOMEM;
        e->shap = grown;
        e->shap_bytes = bytes;
    }
    weir_trees_shap(t, x, phi, e->shap);
    return 0;
}

int iforest_shap(struct iforest_explainer *e, const struct iforest_node *nodes, size_t trees,
                 size_t tree_nodes, size_t d, const float *x, double *phi)
{
    memset(phi, 0, (d + 1) * sizeof *phi);
    for (size_t t = 0; t < trees; t++) {
        int rc = iforest_lay_out(&e->one, nodes + t * tree_nodes, 1, tree_nodes, d);
        if (rc < 0 || (rc = add_shares(e, &e->one.t, x, phi)) < 0)
            return rc;
    }
    for (size_t k = 0; k <= d; k++)
        phi[k] /= (double)trees;
    return 0;
}

int iforest_laid_shap(const struct iforest_laid *f, struct iforest_explainer *e, const float *x,
                      double *phi)
{
    size_t d = f->t.nfeat;
    memset(phi, 0, (d + 1) * sizeof *phi);
    int rc = add_shares(e, &f->t, x, phi);
    for (size_t k = 0; k <= d; k++)
        phi[k] /= (double)f->t.ntrees;
    return rc;
}
