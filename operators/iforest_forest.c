/* Growing an isolation forest: operators/iforest_forest.h. */
#include "operators/iforest_forest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/schema.h"

double iforest_c(double n)
{
    if (n <= 1)
        return 0.0;
    if (n <= 2)
        return 1.0;
    return 2.0 * (log(n - 1.0) + 0.5772156649015329) - 2.0 * (n - 1.0) / n;
}

int iforest_scratch_alloc(struct iforest_scratch *s, size_t n, size_t psi, size_t d)
{
    s->idx = malloc((n ? n : 1) * sizeof *s->idx);
    s->pts = malloc((psi ? psi : 1) * (d ? d : 1) * sizeof *s->pts);
    s->rows = malloc((psi ? psi : 1) * sizeof *s->rows);
    if (s->idx && s->pts && s->rows)
        return 0;
    iforest_scratch_free(s);
    return -1;
}

void iforest_scratch_free(struct iforest_scratch *s)
{
    free(s->idx);
    free(s->pts);
    free(s->rows);
    *s = (struct iforest_scratch){0};
}

struct builder {
    const float *pts; /* rows of d floats */
    size_t d;
    uint64_t *rng;
    struct iforest_node *nodes;
    size_t used;
};

/* Splits the points pts[idx[0..n)] at depth `depth` into nodes from b->used on
 * (preorder); returns the node's index. */
static size_t build_node(struct builder *b, uint32_t *idx, uint32_t n, unsigned depth,
                         unsigned limit)
{
    size_t at = b->used++;
    struct iforest_node *node = &b->nodes[at];
    float lo[WEIR_SCHEMA_MAX], hi[WEIR_SCHEMA_MAX];
    uint16_t varying[WEIR_SCHEMA_MAX];
    size_t nv = 0;
    if (n > 1 && depth < limit) {
        for (size_t q = 0; q < b->d; q++)
            lo[q] = hi[q] = b->pts[(size_t)idx[0] * b->d + q];
        for (uint32_t i = 1; i < n; i++)
            for (size_t q = 0; q < b->d; q++) {
                float x = b->pts[(size_t)idx[i] * b->d + q];
                lo[q] = x < lo[q] ? x : lo[q];
                hi[q] = x > hi[q] ? x : hi[q];
            }
        for (size_t q = 0; q < b->d; q++)
            if (hi[q] > lo[q])
                varying[nv++] = (uint16_t)q;
    }
    if (nv == 0) { /* a leaf keeps c(n), which its depth is topped up with */
        *node = (struct iforest_node){(float)iforest_c(n), IFOREST_LEAF, (uint16_t)n};
        return at;
    }
    uint16_t q = varying[weir_splitmix(b->rng) % nv];
    double u = weir_splitmix_unit(b->rng);
    float split = (float)(lo[q] + u * ((double)hi[q] - lo[q]));
    /* rounding to float must leave both sides non-empty (x < split goes
     * left): an empty side is a leaf more, and a tree of more leaves than
     * points outgrows its 2 sample - 1 nodes into the next tree's */
    if (split > hi[q])
        split = hi[q];
    else if (!(split > lo[q]))
        split = nextafterf(lo[q], hi[q]);
    uint32_t left = 0;
    for (uint32_t i = 0; i < n; i++)
        if (b->pts[(size_t)idx[i] * b->d + q] < split) {
            uint32_t t = idx[i];
            idx[i] = idx[left];
            idx[left++] = t;
        }
    node->split = split;
    node->feat = q;
    build_node(b, idx, left, depth + 1, limit);
    size_t right = build_node(b, idx + left, n - left, depth + 1, limit);
    b->nodes[at].right = (uint16_t)(right - at);
    return at;
}

uint32_t iforest_grow(const float *pop, size_t d, uint32_t n, uint32_t sample, size_t trees,
                      size_t tree_nodes, uint64_t *rng, struct iforest_scratch *s,
                      struct iforest_node *nodes, float *center)
{
    uint32_t psi = n < sample ? n : sample;
    unsigned limit = 0;
    while (((uint32_t)1 << limit) < psi)
        limit++;
    double sum[WEIR_SCHEMA_MAX] = {0};
    struct builder b = {.pts = s->pts, .d = d, .rng = rng};
    for (uint32_t i = 0; i < n; i++)
        s->idx[i] = i;
    for (size_t t = 0; t < trees; t++) {
        /* a partial Fisher-Yates, continued from the previous tree's
         * permutation (any permutation gives a uniform sample) */
        for (uint32_t j = 0; j < psi; j++) {
            uint32_t r = j + (uint32_t)(weir_splitmix(rng) % (n - j));
            uint32_t tmp = s->idx[j];
            s->idx[j] = s->idx[r];
            s->idx[r] = tmp;
            const float *row = pop + (size_t)s->idx[j] * d;
            memcpy(s->pts + (size_t)j * d, row, d * sizeof *row);
            for (size_t q = 0; q < d; q++)
                sum[q] += row[q];
            s->rows[j] = j;
        }
        b.nodes = nodes + t * tree_nodes;
        b.used = 0;
        build_node(&b, s->rows, psi, 0, limit);
    }
    for (size_t q = 0; q < d; q++)
        center[q] = (float)(sum[q] / ((double)psi * (double)trees));
    return psi;
}
