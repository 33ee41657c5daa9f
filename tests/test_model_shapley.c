/* Tests for a network's Shapley values (operators/model_shapley.c), held to
 * their definition (tests/shapley_ref.h) over the game "the margin with the
 * inputs in S at the record's values, the others at the input mean": exact
 * when the coalitions fit in the evaluations; estimated from random orders
 * otherwise, then still adding up to margin - base, the same on every call,
 * and exact for a linear network whatever the orders (20 inputs: several
 * chunks of orders); one input. tests/test_model_explain.sh holds them to
 * PyTorch. */
#include <math.h>
#include <stdlib.h>

#include "operators/model.h"
#include "tests/check.h"
#include "tests/shapley_ref.h"

/* A network of the given layers (in, out, act) with random weights, its
 * input normalised by a mean and spread when norm is set. */
static struct weir_model *network(size_t nin, const size_t *width, const int *act, size_t nlayers,
                                  int norm, unsigned seed)
{
    struct weir_model *m = calloc(1, sizeof *m);
    srand(seed);
    m->kind = WEIR_MODEL_DENSE;
    m->output = WEIR_OUTPUT_PROBABILITY;
    m->nin = m->max_in = nin;
    m->nout = 1;
    m->nlayers = nlayers;
    size_t in = nin;
    for (size_t k = 0; k < nlayers; k++) {
        float *W = calloc(in * width[k], sizeof *W), *b = calloc(width[k], sizeof *b);
        for (size_t j = 0; j < in * width[k]; j++)
            W[j] = (float)rand() / RAND_MAX * 2 - 1;
        for (size_t j = 0; j < width[k]; j++)
            b[j] = (float)rand() / RAND_MAX - 0.5f;
        m->layer[k] =
            (struct weir_dense_layer){.in = in, .out = width[k], .W = W, .b = b, .act = act[k]};
        m->max_width = width[k] > m->max_width ? width[k] : m->max_width;
        m->max_in = in > m->max_in ? in : m->max_in;
        in = width[k];
    }
    if (norm) {
        float *mean = calloc(nin, sizeof *mean), *std = calloc(nin, sizeof *std);
        for (size_t j = 0; j < nin; j++) {
            mean[j] = (float)j - 2;
            std[j] = 0.5f + (float)j;
        }
        m->mean = mean;
        m->std = std;
    }
    return m;
}

static void network_free(struct weir_model *m)
{
    for (size_t k = 0; k < m->nlayers; k++) {
        free((void *)m->layer[k].W);
        free((void *)m->layer[k].b);
    }
    free((void *)m->mean);
    free((void *)m->std);
    free(m);
}

struct game {
    const struct weir_model *m;
    const float *x;
};

static double margin_of(unsigned S, const void *ctx)
{
    const struct game *g = ctx;
    float row[8], out, scratch[256];
    for (size_t j = 0; j < g->m->nin; j++)
        row[j] = (S >> j & 1) ? g->x[j] : (g->m->mean ? g->m->mean[j] : 0);
    weir_model_margin(g->m, row, g->m->nin, 1, &out, scratch, WEIR_PREDICT_REFERENCE);
    return out;
}

static void shapley(const struct weir_model *m, const float *x, int64_t evals, double *phi,
                    struct model_shapley_result *r)
{
    void *scratch = malloc(model_shapley_bytes(m, evals));
    model_shapley(m, x, evals, WEIR_PREDICT_FP32, scratch, phi, r);
    free(scratch);
}

static void nonlinear(void)
{
    static const size_t width[] = {4, 1};
    static const int act[] = {WEIR_ACT_TANH, WEIR_ACT_NONE};
    struct weir_model *m = network(5, width, act, 2, 1, 7);
    const float x[5] = {3, -4, 1.5f, 7, 0.25f};
    double want[6] = {0}, phi[5], again[5];
    struct game g = {m, x};
    shapley_add(5, margin_of, &g, 1, want);
    struct model_shapley_result r;
    shapley(m, x, 32, phi, &r); /* 2^5 coalitions: exact */
    CHECK(r.orders == 0);
    CHECK_NEAR(r.base, want[5], 1e-5);
    CHECK_NEAR(r.margin, margin_of(31, &g), 1e-5);
    for (size_t j = 0; j < 5; j++)
        CHECK_NEAR(phi[j], want[j], 1e-5);
    shapley(m, x, 16, phi, &r); /* estimated: (16 - 2) / 4 = 3, an even 2 */
    CHECK(r.orders == 2);
    double total = 0, off = 0;
    for (size_t j = 0; j < 5; j++) {
        total += phi[j];
        off += fabs(phi[j] - want[j]);
    }
    CHECK_NEAR(total, r.margin - r.base, 1e-9);
    CHECK_NEAR(r.margin, margin_of(31, &g), 1e-5);
    CHECK(off > 1e-4); /* two orders of a nonlinear network: not exact */
    struct model_shapley_result r2;
    shapley(m, x, 16, again, &r2);
    CHECK(memcmp(phi, again, sizeof phi) == 0); /* the orders come from the inputs */
    network_free(m);
}

/* A linear network's values are exact from any orders: w (x - mean) / std.
 * n 20: several chunks of orders; 256: the widest, two orders of 255 rows
 * in a chunk of 512; 16 at 65536: every coalition, the largest table; 17:
 * orders again. */
static void linear(size_t n, int64_t evals, int norm, size_t orders)
{
    static const size_t width[] = {1};
    static const int act[] = {WEIR_ACT_NONE};
    struct weir_model *m = network(n, width, act, 1, norm, 11);
    float *x = malloc(n * sizeof *x);
    double *phi = malloc(n * sizeof *phi);
    for (size_t j = 0; j < n; j++)
        x[j] = (float)j * 0.7f - 5;
    struct model_shapley_result r;
    shapley(m, x, evals, phi, &r);
    CHECK(r.orders == orders);
    double base = m->layer[0].b[0], worst = 0;
    for (size_t j = 0; j < n; j++) {
        double z = norm ? ((double)x[j] - m->mean[j]) / m->std[j] : x[j];
        double want = (double)m->layer[0].W[j] * z, off = fabs(phi[j] - want);
        worst = off > worst ? off : worst;
    }
    CHECK(worst < 1e-4);
    CHECK_NEAR(r.base, base, 1e-5);
    free(x);
    free(phi);
    network_free(m);
}

static void one_input(void)
{
    static const size_t width[] = {3, 1};
    static const int act[] = {WEIR_ACT_GELU, WEIR_ACT_NONE};
    struct weir_model *m = network(1, width, act, 2, 1, 3);
    const float x[1] = {4};
    double phi[1];
    struct model_shapley_result r;
    shapley(m, x, 16, phi, &r);
    struct game g = {m, x};
    CHECK(r.orders == 0);
    CHECK_NEAR(phi[0], margin_of(1, &g) - margin_of(0, &g), 1e-5);
    network_free(m);
}

int main(void)
{
    nonlinear();
    linear(20, 1024, 0, 52); /* (1024 - 2) / 19, even: 5 chunks of 12 orders or fewer */
    linear(256, 16, 1, 2);
    linear(16, 65536, 1, 0);
    linear(17, 65536, 1, 4094);
    one_input();
    return check_summary();
}
