/* Exact TreeSHAP (Lundberg, Erion and Lee, "Consistent individualized
 * feature attribution for tree ensembles", 2018, algorithm 2): each
 * feature's Shapley value of one row's margin, the conditional expectations
 * taken over the training data's path through each split as its node covers
 * (XGBoost's sum_hessian) record it. What XGBoost's predict(pred_contribs=
 * True) computes; the test holds weir to it.
 *
 * The path of the features split on so far is kept with, per feature, the
 * fraction of the training data that goes the row's way ("one") and the
 * fraction that goes either way ("zero"), and the permutation weights of
 * every subset size; a leaf hands its value to the path's features in
 * proportion. A feature split on again is unwound from the path first, so
 * it appears once. The paths of every depth live in one scratch array,
 * depth d's above depth d - 1's, as the recursion needs. */
#include <math.h>
#include <string.h>

#include "kernels/trees.h"

struct path_elem {
    int feature; /* -1 for the root's place-holder */
    double zero, one, weight;
};

/* inv[k] = 1 / k: the weights' updates multiply where the paper divides
 * (the divisions were most of the time). */
static void extend(struct path_elem *p, unsigned d, double zero, double one, int feature,
                   const double *inv)
{
    p[d] = (struct path_elem){feature, zero, one, d == 0 ? 1.0 : 0.0};
    double zero_n = zero * inv[d + 1], one_n = one * inv[d + 1];
    for (int i = (int)d - 1; i >= 0; i--) {
        p[i + 1].weight += one_n * p[i].weight * (i + 1);
        p[i].weight = zero_n * p[i].weight * (d - i);
    }
}

static void unwind(struct path_elem *p, unsigned d, unsigned at, const double *inv)
{
    double one = p[at].one, zero = p[at].zero, next = p[d].weight;
    for (int i = (int)d - 1; i >= 0; i--) {
        if (one != 0) {
            double w = p[i].weight;
            p[i].weight = next * (d + 1) * inv[i + 1] / one;
            next = w - p[i].weight * zero * (d - i) * inv[d + 1];
        } else {
            p[i].weight = p[i].weight * (d + 1) * inv[d - i] / zero;
        }
    }
    for (unsigned i = at; i < d; i++) {
        p[i].feature = p[i + 1].feature;
        p[i].zero = p[i + 1].zero;
        p[i].one = p[i + 1].one;
    }
}

/* The total weight the path would have with element `at` unwound. */
static double unwound_sum(const struct path_elem *p, unsigned d, unsigned at, const double *inv)
{
    double one = p[at].one, zero = p[at].zero, next = p[d].weight, total = 0;
    if (one != 0) {
        double scale = (d + 1) / one, shrink = zero * inv[d + 1];
        for (int i = (int)d - 1; i >= 0; i--) {
            double w = next * scale * inv[i + 1];
            total += w;
            next = p[i].weight - w * shrink * (d - i);
        }
    } else {
        double scale = (d + 1) / zero;
        for (int i = (int)d - 1; i >= 0; i--)
            total += p[i].weight * scale * inv[d - i];
    }
    return total;
}

struct walk {
    const struct weir_trees *t;
    const float *x;
    double *phi;
    const double *inv; /* (deepest + 3) */
};

static void recurse(const struct walk *w, uint32_t j, unsigned d, struct path_elem *parent,
                    double zero, double one, int feature)
{
    const struct weir_trees *t = w->t;
    if (zero == 0 && one == 0)
        return; /* no training data, nor the row, comes here: it adds nothing */
    struct path_elem *p = parent + d + 1;
    memcpy(p, parent, (d + 1) * sizeof *p);
    extend(p, d, zero, one, feature, w->inv);
    if (t->is_leaf[j]) {
        for (unsigned i = 1; i <= d; i++)
            w->phi[p[i].feature] +=
                unwound_sum(p, d, i, w->inv) * (p[i].one - p[i].zero) * (double)t->leaf[j];
        return;
    }
    const struct weir_tree_node *nd = &t->node[j];
    uint32_t f = nd->feature & ~WEIR_TREE_DEFAULT_LEFT;
    float v = w->x[f];
    int left = v != v ? (nd->feature & WEIR_TREE_DEFAULT_LEFT) != 0 : v < nd->threshold;
    uint32_t hot = left ? nd->left : nd->left + 1, cold = left ? nd->left + 1 : nd->left;
    double cover = t->cover[j];
    double in_zero = 1, in_one = 1;
    unsigned at = 0;
    while (at <= d && p[at].feature != (int)f)
        at++;
    if (at <= d) { /* split on before: its earlier fractions carry on */
        in_zero = p[at].zero;
        in_one = p[at].one;
        unwind(p, d, at, w->inv);
        d--;
    }
    recurse(w, hot, d + 1, p, t->cover[hot] / cover * in_zero, in_one, (int)f);
    recurse(w, cold, d + 1, p, t->cover[cold] / cover * in_zero, 0, (int)f);
}

/* The mean of the leaves under node j, weighted by their covers. */
static double node_mean(const struct weir_trees *t, uint32_t j)
{
    if (t->is_leaf[j])
        return t->leaf[j];
    uint32_t l = t->node[j].left;
    return (node_mean(t, l) * t->cover[l] + node_mean(t, l + 1) * t->cover[l + 1]) / t->cover[j];
}

void weir_trees_shap_prepare(struct weir_trees *t)
{
    t->deepest = 0;
    for (size_t k = 0; k < t->ntrees; k++)
        t->deepest = t->depth[k] > t->deepest ? t->depth[k] : t->deepest;
    /* node_mean recurses: only as deep as TreeSHAP will go */
    t->expected = t->cover && t->deepest <= WEIR_TREES_SHAP_MAX_DEPTH ? 0 : NAN;
    for (size_t k = 0; k < t->ntrees && !isnan(t->expected); k++)
        t->expected += node_mean(t, t->root[k]);
}

size_t weir_trees_shap_scratch(const struct weir_trees *t)
{
    size_t m = (size_t)t->deepest + 2;
    return m * (m + 1) / 2 * sizeof(struct path_elem) + (m + 1) * sizeof(double);
}

void weir_trees_shap(const struct weir_trees *t, const float *x, double *phi, void *scratch)
{
    if (isnan(t->expected)) /* no covers, or too deep */
        return;
    for (size_t k = 0; k < t->ntrees; k++)
        if (t->depth[k] > t->deepest) /* not prepared: the scratch would be too small */
            return;
    size_t m = (size_t)t->deepest + 2;
    struct path_elem *paths = scratch;
    double *inv = (double *)(paths + m * (m + 1) / 2);
    for (size_t k = 1; k <= m; k++)
        inv[k] = 1.0 / (double)k;
    inv[0] = 0; /* never read */
    struct walk w = {t, x, phi, inv};
    memset(paths, 0, sizeof *paths); /* the root's parent, copied unread */
    phi[t->nfeat] += t->expected;
    for (size_t k = 0; k < t->ntrees; k++)
        recurse(&w, t->root[k], 0, paths, 1, 1, -1);
}
