/* Half-Space Trees' explanations: operators/hstrees_explain.h. */
#include "operators/hstrees_explain.h"

#include <math.h>

float hst_explain_point(double u)
{
    float x = (float)u;
    return (double)x > u ? nextafterf(x, -INFINITY) : x;
}

/* Lays node i, `depth` deep, out at its own slot (heap order already puts
 * a node's children side by side, as kernels/trees.h wants). A node of no
 * mass ends the path too: with a size limit of 0 the scorer walks on, but
 * every node under it gives 0 as well, and TreeSHAP divides by covers. */
static void lay_out(struct laid_trees *f, const struct hst_tree *t, size_t i, int depth)
{
    double mass = t->mass[i];
    f->cover[i] = (float)mass;
    if (i >= t->internal || mass < t->limit || mass == 0) {
        f->node[i] = weir_tree_leaf((uint32_t)i);
        f->leaf[i] = (float)ldexp(mass, depth);
        f->is_leaf[i] = 1;
        f->depth[0] = (uint32_t)depth > f->depth[0] ? (uint32_t)depth : f->depth[0];
        return;
    }
    f->node[i] =
        (struct weir_tree_node){t->split[i], (uint32_t)t->feature[i], (uint32_t)(2 * i + 1)};
    f->leaf[i] = 0;
    f->is_leaf[i] = 0;
    lay_out(f, t, 2 * i + 1, depth + 1);
    lay_out(f, t, 2 * i + 2, depth + 1);
}

int hst_shap_add(struct tree_explainer *e, const struct hst_tree *t, size_t d, const float *x,
                 double *phi)
{
    e->one.root[0] = 0;
    e->one.depth[0] = 0;
    lay_out(&e->one, t, 0, 0);
    laid_trees_ready(&e->one, 1, d);
    return shap_room_add(&e->room, &e->one.t, x, phi);
}
