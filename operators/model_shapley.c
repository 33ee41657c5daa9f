/* Shapley values of a dense network's margin (its log-odds, or its raw
 * output), for the model operator's "explain" on a network that is neither a
 * tree ensemble (TreeSHAP) nor an autoencoder (its error's shares).
 *
 * A network has no structure to walk, so the values are those of the game
 * "the margin with the inputs in S set to the record's values and the others
 * at the reference": the input mean the file normalises by (0 when it has
 * none). They add up exactly to margin(record) - margin(reference), whatever
 * the network. With n inputs the game has 2^n coalitions: when they fit in
 * the operator's explain_evals, every one is evaluated and the values are
 * exact; otherwise they are estimated from permutations (each input's mean
 * marginal gain along a random order of the inputs; every order is followed
 * by its reverse, which makes a pair exact when the inputs interact at most
 * in pairs: each pair is met in both orders), which still add up exactly.
 * At least two orders are taken, so a very wide network may take more than
 * explain_evals rows. The orders are drawn from a hash of the record's
 * inputs, so a record gets the same account on every run and worker of one
 * build and machine.
 *
 * The evaluations run in chunks of rows through weir_model_margin, the
 * scoring path's own kernels and precision. */
#include <stdint.h>
#include <string.h>

#include "common/splitmix.h"
#include "operators/model.h"

#define CHUNK_ROWS 256

static size_t chunk_rows(size_t n)
{
    return 2 * n > CHUNK_ROWS ? 2 * n : CHUNK_ROWS; /* at least two orders of n - 1 rows */
}

static int every_coalition_fits(size_t n, int64_t evals)
{
    return n <= 16 && ((int64_t)1 << n) <= evals;
}

static size_t align8(size_t bytes)
{
    return (bytes + 7) & ~(size_t)7;
}

size_t model_shapley_bytes(const struct weir_model *m, int64_t evals)
{
    size_t n = m->nin, chunk = chunk_rows(n);
    size_t floats = chunk * n + chunk + weir_model_scratch(m, chunk);
    size_t bytes = align8(floats * sizeof(float)) + align8(2 * chunk * sizeof(uint32_t));
    if (every_coalition_fits(n, evals))
        bytes += align8(((size_t)1 << n) * sizeof(float));
    return bytes;
}

struct evaluation {
    const struct weir_model *m;
    const float *x;
    size_t n, chunk;
    int mode;
    float *X, *y, *scratch, *coalition_margin;
    uint32_t *order;
};

static float reference(const struct weir_model *m, size_t j)
{
    return m->mean ? m->mean[j] : 0.0f;
}

/* The margin of every coalition (bit j of s set: input j at the record's
 * value) into w->coalition_margin[s], then each input's Shapley value: the gains of adding
 * it to the coalitions without it, weighted |S|! (n - |S| - 1)! / n!. */
static void every_coalition(struct evaluation *w, double *phi, struct model_shapley_result *res)
{
    size_t n = w->n, total = (size_t)1 << n;
    for (size_t c0 = 0; c0 < total; c0 += w->chunk) {
        size_t rows = total - c0 < w->chunk ? total - c0 : w->chunk;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0; j < n; j++)
                w->X[r * n + j] = ((c0 + r) >> j & 1) ? w->x[j] : reference(w->m, j);
        weir_model_margin(w->m, w->X, n, rows, w->coalition_margin + c0, w->scratch, w->mode);
    }
    double weight[17];
    weight[0] = 1.0 / (double)n;
    for (size_t k = 0; k + 1 < n; k++)
        weight[k + 1] = weight[k] * (double)(k + 1) / (double)(n - k - 1);
    for (size_t s = 0; s < total; s++)
        for (size_t i = 0; i < n; i++)
            if (!(s >> i & 1))
                phi[i] += weight[__builtin_popcountll(s)] *
                          ((double)w->coalition_margin[s | (size_t)1 << i] -
                           (double)w->coalition_margin[s]);
    res->base = w->coalition_margin[0];
    res->margin = w->coalition_margin[total - 1];
    res->orders = 0;
}

static uint64_t hash_inputs(const float *x, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the floats' bytes */
    const unsigned char *p = (const unsigned char *)x;
    for (size_t k = 0; k < n * sizeof *x; k++)
        h = (h ^ p[k]) * 0x100000001b3ull;
    return h;
}

/* Orders [0, k) of this chunk: a random one, then its reverse. */
static void draw_orders(struct evaluation *w, size_t k, uint64_t *state)
{
    size_t n = w->n;
    for (size_t p = 0; p < k; p += 2) {
        uint32_t *o = w->order + p * n, *rev = o + n;
        for (size_t j = 0; j < n; j++)
            o[j] = (uint32_t)j;
        for (size_t j = n - 1; j > 0; j--) {
            size_t t = (size_t)(weir_splitmix(state) % (j + 1));
            uint32_t v = o[j];
            o[j] = o[t];
            o[t] = v;
        }
        for (size_t j = 0; j < n; j++)
            rev[j] = o[n - 1 - j];
    }
}

/* Each input's mean gain along `orders` random orders (n > 1): an order's
 * row t holds its first t + 1 inputs at the record's values; its first
 * input gains from the reference's margin, its last up to the record's. */
static void sampled(struct evaluation *w, int64_t evals, double *phi,
                    struct model_shapley_result *res)
{
    size_t n = w->n, rows_per_order = n - 1;
    for (size_t j = 0; j < n; j++) {
        w->X[j] = reference(w->m, j);
        w->X[n + j] = w->x[j];
    }
    weir_model_margin(w->m, w->X, n, 2, w->y, w->scratch, w->mode);
    double base = w->y[0], margin = w->y[1];
    size_t orders = (size_t)(evals - 2) / rows_per_order & ~(size_t)1;
    if (orders < 2)
        orders = 2;
    uint64_t state = hash_inputs(w->x, n);
    for (size_t done = 0; done < orders;) {
        size_t k = (w->chunk / rows_per_order) & ~(size_t)1;
        if (k > orders - done)
            k = orders - done;
        draw_orders(w, k, &state);
        for (size_t p = 0; p < k; p++) {
            const uint32_t *o = w->order + p * n;
            float *row = w->X + p * rows_per_order * n;
            for (size_t j = 0; j < n; j++)
                row[j] = reference(w->m, j);
            row[o[0]] = w->x[o[0]];
            for (size_t t = 1; t < rows_per_order; t++) {
                memcpy(row + n, row, n * sizeof *row);
                row += n;
                row[o[t]] = w->x[o[t]];
            }
        }
        weir_model_margin(w->m, w->X, n, k * rows_per_order, w->y, w->scratch, w->mode);
        for (size_t p = 0; p < k; p++) {
            const uint32_t *o = w->order + p * n;
            double prev = base;
            for (size_t t = 0; t < rows_per_order; t++) {
                phi[o[t]] += (double)w->y[p * rows_per_order + t] - prev;
                prev = w->y[p * rows_per_order + t];
            }
            phi[o[rows_per_order]] += margin - prev;
        }
        done += k;
    }
    for (size_t j = 0; j < n; j++)
        phi[j] /= (double)orders;
    res->base = base;
    res->margin = margin;
    res->orders = orders;
}

void model_shapley(const struct weir_model *m, const float *x, int64_t evals, int mode,
                   void *scratch, double *phi, struct model_shapley_result *res)
{
    size_t n = m->nin, chunk = chunk_rows(n);
    unsigned char *at = scratch;
    struct evaluation w = {.m = m, .x = x, .n = n, .chunk = chunk, .mode = mode, .X = (float *)at};
    w.y = w.X + chunk * n;
    w.scratch = w.y + chunk;
    at += align8((chunk * n + chunk + weir_model_scratch(m, chunk)) * sizeof(float));
    w.order = (uint32_t *)at;
    at += align8(2 * chunk * sizeof(uint32_t));
    w.coalition_margin = (float *)at;
    memset(phi, 0, n * sizeof *phi);
    if (every_coalition_fits(n, evals))
        every_coalition(&w, phi, res);
    else
        sampled(&w, evals, phi, res);
}
