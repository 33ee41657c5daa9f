/* operators/hstrees_explain.c against the definition: Half-Space Trees of
 * random splits whose reference masses hold a cluster of learned points
 * (so some paths stop early at the size limit, and with a limit of 0 some
 * nodes hold nothing); each point's shares must equal the Shapley values of
 * the mass the tree gives it, worked out by brute force over every subset
 * of features (each subset's value the mass expected with the other
 * features integrated out by the share of the reference mass each side
 * got), and add up to the mass the scorer's walk gives. A point on a split
 * in double but not in float (hst_explain_point) goes where the scorer
 * sends it. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "operators/hstrees_explain.h"
#include "tests/shapley_ref.h"
#include "tests/test_rand.h"

enum { DEPTH = 4, INTERNAL = (1 << DEPTH) - 1, NODES = (1 << (DEPTH + 1)) - 1, DMAX = 4 };

/* The mass the scorer's walk gives u (hstrees.c's tree_score). */
static double walk(const struct hst_tree *t, const double *u)
{
    size_t node = 0;
    for (int d = 0;; d++) {
        if (t->mass[node] < t->limit || node >= t->internal)
            return ldexp(t->mass[node], d);
        node = 2 * node + (u[t->feature[node]] < t->split[node] ? 1 : 2);
    }
}

/* The mass expected under node i, `depth` deep, given the features in S
 * (bits) at u's values. */
static double given(const struct hst_tree *t, size_t i, int depth, const double *u, unsigned S)
{
    if (i >= t->internal || t->mass[i] < t->limit || t->mass[i] == 0)
        return ldexp(t->mass[i], depth);
    size_t l = 2 * i + 1, r = l + 1;
    if (S & (1u << t->feature[i]))
        return given(t, u[t->feature[i]] < t->split[i] ? l : r, depth + 1, u, S);
    return (given(t, l, depth + 1, u, S) * t->mass[l] + given(t, r, depth + 1, u, S) * t->mass[r]) /
           t->mass[i];
}

struct one_tree {
    const struct hst_tree *t;
    const double *u;
};

static double tree_given(unsigned S, const void *ctx)
{
    const struct one_tree *o = ctx;
    return given(o->t, 0, 0, o->u, S);
}

/* A tree over d features whose masses learned n points of a cluster. */
static void grow(int d, size_t n, double limit, int32_t *feature, float *split, uint32_t *mass,
                 struct hst_tree *t)
{
    for (size_t i = 0; i < NODES; i++) {
        feature[i] = (int32_t)(uniform() * d);
        split[i] = (float)uniform();
        mass[i] = 0;
    }
    *t = (struct hst_tree){feature, split, mass, INTERNAL, limit};
    for (size_t k = 0; k < n; k++) {
        double u[DMAX];
        for (int q = 0; q < d; q++)
            u[q] = 0.3 + 0.1 * gauss();
        for (size_t node = 0;; node = 2 * node + (u[feature[node]] < split[node] ? 1 : 2)) {
            mass[node]++;
            if (node >= INTERNAL)
                break;
        }
    }
}

static void against_brute_force(void)
{
    static int32_t feature[NODES];
    static float split[NODES];
    static uint32_t mass[NODES];
    struct tree_explainer e;
    CHECK(tree_explainer_alloc(&e, NODES) == 0);
    size_t stopped = 0, empty = 0;
    for (int d = 1; d <= DMAX; d++)
        for (int k = 0; k < 30; k++) {
            struct hst_tree t;
            grow(d, 200, k % 3 ? 20 : 0, feature, split, mass, &t);
            double u[DMAX], want[DMAX + 1] = {0}, phi[DMAX + 1] = {0}, sum = 0;
            float x[DMAX];
            for (int q = 0; q < d; q++) { /* in the cluster, or far out */
                u[q] = k % 4 == 0 ? 0.9 + 0.05 * gauss() : 0.3 + 0.1 * gauss();
                x[q] = hst_explain_point(u[q]);
            }
            CHECK(hst_shap_add(&e, &t, (size_t)d, x, phi) == 0);
            shapley_add(d, tree_given, &(struct one_tree){&t, u}, 1, want);
            for (int q = 0; q <= d; q++) {
                CHECK_NEAR(phi[q], want[q], 1e-9 * (1 + fabs(want[q])));
                sum += phi[q];
            }
            CHECK_NEAR(sum, walk(&t, u), 1e-9 * (1 + sum));
            stopped += t.limit > 0 && mass[0] >= t.limit;
            empty += t.limit == 0;
        }
    CHECK(stopped > 0 && empty > 0);
    tree_explainer_free(&e);
}

static void on_a_split(void)
{
    /* 0.1f is above 0.1: a double just below 0.1f goes left, and so must
     * its float */
    double u = nextafter((double)0.1f, 0);
    CHECK(u < 0.1f && (float)u == 0.1f);
    CHECK(hst_explain_point(u) < 0.1f);
    CHECK(hst_explain_point(0.25) == 0.25f);
    CHECK(hst_explain_point(1e300) == FLT_MAX);
    static int32_t feature[NODES];
    static float split[NODES];
    static uint32_t mass[NODES];
    for (size_t i = 0; i < NODES; i++)
        feature[i] = 0, split[i] = 0.1f, mass[i] = 0;
    mass[0] = 3, mass[1] = 1, mass[2] = 2; /* 1 point left of 0.1f, 2 right */
    mass[3] = 1, mass[6] = 2;
    mass[7] = 1, mass[14] = 2;
    mass[15] = 1, mass[30] = 2;
    struct hst_tree t = {feature, split, mass, INTERNAL, 0};
    struct tree_explainer e;
    double phi[2] = {0};
    float x = hst_explain_point(u);
    CHECK(tree_explainer_alloc(&e, NODES) == 0);
    CHECK(hst_shap_add(&e, &t, 1, &x, phi) == 0);
    CHECK_NEAR(phi[0] + phi[1], walk(&t, &u), 1e-12);
    CHECK_NEAR(walk(&t, &u), 16, 1e-12); /* the left leaf: 1 * 2^4 */
    tree_explainer_free(&e);
}

int main(void)
{
    rng = 11;
    against_brute_force();
    on_a_split();
    return check_summary();
}
