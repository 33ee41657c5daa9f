/* A naive isolation forest for the iforest tests: pointer trees grown
 * recursively from a plain array of D = 2 features with the same random
 * draws as operators/iforest_forest.c, scored by the paper's formula. An
 * independent reference: it shares no code with the operator. */
#ifndef WEIR_TEST_IFOREST_REF_H
#define WEIR_TEST_IFOREST_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/test_rand.h"

enum { D = 2 };

struct rnode {
    int feat; /* -1: leaf */
    float split;
    int size;
    struct rnode *left, *right;
};

static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double cnorm(double n)
{
    return n <= 1 ? 0 : n <= 2 ? 1 : 2 * (log(n - 1) + 0.5772156649015329) - 2 * (n - 1) / n;
}

static struct rnode *rbuild(float (*pts)[D], int n, int depth, int limit, uint64_t *s)
{
    struct rnode *nd = calloc(1, sizeof *nd);
    nd->feat = -1;
    nd->size = n;
    if (n <= 1 || depth >= limit)
        return nd;
    float lo[D], hi[D];
    int vary[D], nv = 0;
    for (int q = 0; q < D; q++) {
        lo[q] = hi[q] = pts[0][q];
        for (int i = 1; i < n; i++) {
            lo[q] = fminf(lo[q], pts[i][q]);
            hi[q] = fmaxf(hi[q], pts[i][q]);
        }
        if (hi[q] > lo[q])
            vary[nv++] = q;
    }
    if (nv == 0)
        return nd;
    int q = vary[mix(s) % (uint64_t)nv];
    double u = (double)(mix(s) >> 11) / 9007199254740992.0;
    float split = (float)(lo[q] + u * ((double)hi[q] - lo[q]));
    split = split > hi[q] ? hi[q] : split > lo[q] ? split : nextafterf(lo[q], hi[q]);
    float(*l)[D] = malloc(sizeof *l * (size_t)n), (*r)[D] = malloc(sizeof *r * (size_t)n);
    int nl = 0, nr = 0;
    for (int i = 0; i < n; i++) {
        if (pts[i][q] < split)
            memcpy(l[nl++], pts[i], sizeof *l);
        else
            memcpy(r[nr++], pts[i], sizeof *r);
    }
    nd->feat = q;
    nd->split = split;
    nd->left = rbuild(l, nl, depth + 1, limit, s);
    nd->right = rbuild(r, nr, depth + 1, limit, s);
    free(l);
    free(r);
    return nd;
}

static void rfree(struct rnode *n)
{
    if (n) {
        rfree(n->left);
        rfree(n->right);
        free(n);
    }
}

static double rpath(const struct rnode *n, const float *x, int depth)
{
    if (n->feat < 0)
        return depth + (double)(float)cnorm(n->size); /* kept as a float in the leaf */
    return rpath(x[n->feat] < n->split ? n->left : n->right, x, depth + 1);
}

/* Draws `trees` samples of psi = min(n, sample) points from pop[0..n) (a
 * partial Fisher-Yates over a permutation carried from tree to tree) and
 * grows a tree from each; returns psi. */
static int rgrow(float (*pop)[D], int n, int sample, int trees, uint64_t *s, struct rnode **forest)
{
    int psi = n < sample ? n : sample, limit = 0;
    while ((1 << limit) < psi)
        limit++;
    int *idx = malloc(sizeof *idx * (size_t)n);
    float(*pts)[D] = malloc(sizeof *pts * (size_t)psi);
    for (int j = 0; j < n; j++)
        idx[j] = j;
    for (int t = 0; t < trees; t++) {
        for (int j = 0; j < psi; j++) {
            int r = j + (int)(mix(s) % (uint64_t)(n - j));
            int tmp = idx[j];
            idx[j] = idx[r];
            idx[r] = tmp;
            memcpy(pts[j], pop[idx[j]], sizeof pts[j]);
        }
        rfree(forest[t]);
        forest[t] = rbuild(pts, psi, 0, limit, s);
    }
    free(idx);
    free(pts);
    return psi;
}

static double rscore(struct rnode *const *forest, int trees, int psi, const float *x)
{
    double sum = 0;
    for (int t = 0; t < trees; t++)
        sum += rpath(forest[t], x, 0);
    double c = cnorm(psi);
    return c > 0 ? exp2(-(sum / trees) / c) : 0.5;
}

#endif
