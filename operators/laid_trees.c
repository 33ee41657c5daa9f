/* Trees laid out for TreeSHAP: operators/laid_trees.h. */
#include "operators/laid_trees.h"

#include <errno.h>
#include <stdlib.h>

int laid_trees_alloc(struct laid_trees *f, size_t trees, size_t tree_nodes)
{
    *f = (struct laid_trees){.trees = trees, .tree_nodes = tree_nodes};
    size_t n = trees * tree_nodes;
    if (tree_nodes && n / tree_nodes != trees)
        return -ENOMEM;
    n += !n; /* calloc(0) may be NULL */
    /* zeroed: the slots a tree leaves free are never reached */
    f->node = calloc(n, sizeof *f->node);
    f->leaf = calloc(n, sizeof *f->leaf);
    f->cover = calloc(n, sizeof *f->cover);
    f->is_leaf = calloc(n, sizeof *f->is_leaf);
    f->root = calloc(trees, sizeof *f->root);
    f->depth = calloc(trees, sizeof *f->depth);
    if (f->node && f->leaf && f->cover && f->is_leaf && f->root && f->depth)
        return 0;
    laid_trees_free(f);
    return -ENOMEM;
}

void laid_trees_free(struct laid_trees *f)
{
    free(f->node);
    free(f->leaf);
    free(f->cover);
    free(f->is_leaf);
    free(f->root);
    free(f->depth);
    *f = (struct laid_trees){0};
}

void laid_trees_ready(struct laid_trees *f, size_t n, size_t d)
{
    f->t = (struct weir_trees){.ntrees = n,
                               .nnodes = n * f->tree_nodes,
                               .nfeat = d,
                               .root = f->root,
                               .depth = f->depth,
                               .node = f->node,
                               .leaf = f->leaf,
                               .is_leaf = f->is_leaf,
                               .cover = f->cover};
    weir_trees_shap_prepare(&f->t);
}

int shap_room_add(struct shap_room *r, const struct weir_trees *t, const float *x, double *phi)
{
    size_t bytes = weir_trees_shap_scratch(t);
    if (bytes > r->bytes) {
        void *grown = realloc(r->scratch, bytes);
        if (!grown)
            return -ENOMEM;
        r->scratch = grown;
        r->bytes = bytes;
    }
    weir_trees_shap(t, x, phi, r->scratch);
    return 0;
}

void shap_room_free(struct shap_room *r)
{
    free(r->scratch);
    *r = (struct shap_room){0};
}

int tree_explainer_alloc(struct tree_explainer *e, size_t nodes)
{
    *e = (struct tree_explainer){0};
    return laid_trees_alloc(&e->one, 1, nodes);
}

void tree_explainer_free(struct tree_explainer *e)
{
    laid_trees_free(&e->one);
    shap_room_free(&e->room);
}
