/* Exact TreeSHAP values (Lundberg, Erion and Lee, "Consistent individualized
 * feature attribution for tree ensembles", 2018): each feature's Shapley
 * value of one row's margin, the conditional expectations taken over the
 * training data's path through each split as its node covers (XGBoost's
 * sum_hessian) record it. What XGBoost's predict(pred_contribs=True)
 * computes; the test holds weir to it and to the definition.
 *
 * Computed in time linear in a tree's nodes, after Yu, Bao, Zhang and Yang
 * ("Linear TreeShap", NeurIPS 2022), not by the paper's algorithm 2, whose
 * leaves cost the square of their path's length (3.4 ms for one record of
 * a 100-tree isolation forest). Along a leaf's path each feature f has z_f,
 * the fraction of the training data that goes the path's way at f's
 * splits, and o_f, 1 when the row does too, else 0. The leaf's value v is
 * then v × prod over the path's features of (o_f if f is known, else z_f),
 * and the Shapley weights of that product are Beta integrals, so f's share
 * of the leaf is
 *     v (o_f − z_f) ∫₀¹ prod_{g ≠ f} (z_g + (o_g − z_g) t) dt,
 * a polynomial of degree below the path's distinct features, integrated
 * exactly at k Gauss–Legendre points. So a subtree's leaves are summed as
 * their products at those k points (v × P(t)), bottom up, and f's share
 * over all of them is taken at the edge into the subtree, dividing f's
 * factor out. A feature split on again below has its factor replaced
 * there: the deeper edge takes back what the shallower one gave its
 * leaves, at the same points, so the quadrature's error on those cancels. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kernels/trees.h"

struct walk {
    const struct weir_trees *t;
    const float *x;
    double *phi;
    unsigned k;           /* quadrature points */
    const double *at;     /* (k) the points on (0, 1) */
    const double *weight; /* (k) their weights */
    const double *cold;   /* (k) weight / (1 − at): for a factor z (1 − t) */
    double *zero, *one;   /* (nfeat) z_f and o_f so far: 1 and 1 where f is not split on */
};

/* Gauss–Legendre points and weights on [0, 1], exact for polynomials of
 * degree below 2k: Newton's method from Tricomi's estimate of each root of
 * the Legendre polynomial P_k, as in Numerical Recipes' gauleg. */
static void legendre_points(unsigned k, double *at, double *weight)
{
    const double pi = acos(-1.0);
    for (unsigned i = 0; i < (k + 1) / 2; i++) {
        double x = cos(pi * (i + 0.75) / (k + 0.5)), slope = 1;
        for (int round = 0; round < 100; round++) {
            double p = 1, below = 0;
            for (unsigned n = 1; n <= k; n++) {
                double before = below;
                below = p;
                p = ((2.0 * n - 1) * x * below - (n - 1.0) * before) / n;
            }
            slope = k * (x * p - below) / (x * x - 1);
            double step = p / slope;
            x -= step;
            if (fabs(step) < 1e-15)
                break;
        }
        at[i] = 0.5 * (1 - x);
        at[k - 1 - i] = 0.5 * (1 + x);
        weight[i] = weight[k - 1 - i] = 1 / ((1 - x * x) * slope * slope);
    }
}

/* Points enough for a tree `depth` deep over nfeat features: its paths
 * split on m = min(depth, nfeat) distinct ones, and the integrands' degree
 * is below m. */
static unsigned points_for(size_t depth, size_t nfeat)
{
    size_t m = depth < nfeat ? depth : nfeat;
    return m < 2 ? 1 : (unsigned)((m + 1) / 2);
}

/* Every set of points a tree TreeSHAP takes may need, worked out once (k
 * at row (k - 1) k / 2): tens of Newton steps a point, which trees
 * explained one at a time would otherwise pay for each tree. */
enum {
    MAX_POINTS = (WEIR_TREES_SHAP_MAX_DEPTH + 1) / 2,
    ALL_POINTS = MAX_POINTS * (MAX_POINTS + 1) / 2
};
static double point_at[ALL_POINTS], point_weight[ALL_POINTS], point_cold[ALL_POINTS];
static pthread_once_t points_once = PTHREAD_ONCE_INIT;

static void points_work_out(void)
{
    for (unsigned k = 1; k <= MAX_POINTS; k++) {
        size_t row = (size_t)(k - 1) * k / 2;
        legendre_points(k, point_at + row, point_weight + row);
        for (unsigned i = 0; i < k; i++)
            point_cold[row + i] = point_weight[row + i] / (1 - point_at[row + i]);
    }
}

static unsigned quadrature_points(const struct weir_trees *t)
{
    return points_for(t->deepest, t->nfeat);
}

double weir_trees_shap_steps(double nodes, size_t depth, size_t nfeat)
{
    return nodes * points_for(depth, nfeat);
}

/* f's share, at the edge into a subtree whose leaves sum to s (k points),
 * of those leaves, with f's factor z + (o − z) t divided out. */
static double share(const struct walk *w, const double *s, double z, double o)
{
    double sum = 0;
    if (o == 0) { /* z (1 − t): (o − z) / z is −1 */
        for (unsigned i = 0; i < w->k; i++)
            sum -= w->cold[i] * s[i];
        return sum;
    }
    for (unsigned i = 0; i < w->k; i++)
        sum += w->weight[i] * s[i] / (z + (o - z) * w->at[i]);
    return (o - z) * sum;
}

/* s (k points) = the sum over the leaves under split j of their value ×
 * their path's product, a being the product down to j; adds to phi the
 * shares taken at the edges below j. A leaf child is summed here, not
 * walked (half the nodes are leaves), and its share is its value × the
 * integral of a, f's factor never multiplied in to be divided out.
 * scratch: 3k doubles a level. */
static void walk(const struct walk *w, uint32_t j, const double *a, double *s, double *scratch)
{
    const struct weir_trees *t = w->t;
    unsigned k = w->k;
    const struct weir_tree_node *nd = &t->node[j];
    uint32_t f = nd->feature & ~WEIR_TREE_DEFAULT_LEFT;
    float v = w->x[f];
    int left = v != v ? (nd->feature & WEIR_TREE_DEFAULT_LEFT) != 0 : v < nd->threshold;
    uint32_t hot = left ? nd->left : nd->left + 1;
    double z0 = w->zero[f], o0 = w->one[f];
    int again = z0 != 1 || o0 != 1; /* f split on above: its factor there is replaced */
    double *down = scratch, *sum = scratch + k, *rest = scratch + 2 * k;
    if (again) { /* the product without f's factor */
        for (unsigned i = 0; i < k; i++)
            rest[i] = a[i] / (z0 + (o0 - z0) * w->at[i]);
        a = rest;
    }
    int filled = 0;
    double integral = 0; /* of a */
    for (unsigned i = 0; i < k && (t->is_leaf[nd->left] || t->is_leaf[nd->left + 1]); i++)
        integral += w->weight[i] * a[i];
    for (uint32_t c = nd->left; c <= nd->left + 1; c++) {
        double z = z0 * t->cover[c] / t->cover[j], o = c == hot ? o0 : 0;
        if (z == 0 && o == 0)
            continue; /* no training data, nor the row, comes here: it adds nothing */
        int leaf = t->is_leaf[c];
        double *into = filled ? sum : s, *dst = leaf ? into : down, scale = leaf ? t->leaf[c] : 1;
        for (unsigned i = 0; i < k; i++)
            dst[i] = scale * a[i] * (z + (o - z) * w->at[i]);
        if (!leaf) {
            w->zero[f] = z;
            w->one[f] = o;
            walk(w, c, down, into, scratch + 3 * k);
        }
        double mine = leaf ? (o - z) * scale * integral : share(w, into, z, o);
        w->phi[f] += mine - (again ? share(w, into, z0, o0) : 0);
        for (unsigned i = 0; filled && i < k; i++)
            s[i] += sum[i];
        filled = 1;
    }
    if (!filled)
        memset(s, 0, k * sizeof *s);
    w->zero[f] = z0;
    w->one[f] = o0;
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
    size_t k = quadrature_points(t);
    return (2 * k + 2 * t->nfeat + 3 * k * ((size_t)t->deepest + 1)) * sizeof(double);
}

void weir_trees_shap(const struct weir_trees *t, const float *x, double *phi, void *scratch)
{
    if (isnan(t->expected)) /* no covers, or too deep */
        return;
    for (size_t k = 0; k < t->ntrees; k++)
        if (t->depth[k] > t->deepest) /* not prepared: the scratch would be too small */
            return;
    unsigned most = quadrature_points(t); /* at most MAX_POINTS: deepest <= 64 */
    double *a = scratch, *s = a + most, *zero = s + most, *one = zero + t->nfeat;
    pthread_once(&points_once, points_work_out);
    for (unsigned i = 0; i < most; i++)
        a[i] = 1;
    for (size_t f = 0; f < t->nfeat; f++)
        zero[f] = one[f] = 1;
    struct walk w = {.t = t, .x = x, .phi = phi, .zero = zero, .one = one};
    phi[t->nfeat] += t->expected;
    for (size_t n = 0; n < t->ntrees; n++) {
        if (t->is_leaf[t->root[n]]) /* a lone leaf is its expected value */
            continue;
        /* each tree at its own points: a shallow tree beside a deep one
         * costs what weir_trees_shap_steps counts for it */
        w.k = points_for(t->depth[n], t->nfeat);
        size_t row = (size_t)(w.k - 1) * w.k / 2;
        w.at = point_at + row;
        w.weight = point_weight + row;
        w.cold = point_cold + row;
        walk(&w, t->root[n], a, s, one + t->nfeat);
    }
}
