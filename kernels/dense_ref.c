/* The reference dense layer: naive loops, double accumulation. It is the
 * oracle every back end is tested against, not a fast path. */
#include <math.h>
#include <stdlib.h>

#include "kernels/dense.h"

static double act_ref(int act, double x)
{
    switch (act) {
    case WEIR_ACT_RELU:
        return x > 0 ? x : 0;
    case WEIR_ACT_TANH:
        return tanh(x);
    case WEIR_ACT_SIGMOID:
        return 1.0 / (1.0 + exp(-x));
    case WEIR_ACT_GELU:
        return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    default:
        return x;
    }
}

void weir_dense_ref(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy)
{
    double *acc = malloc(L->out * sizeof *acc);
    if (!acc)
        abort(); /* an oracle, for tests and benchmarks only */
    for (size_t i = 0; i < n; i++) {
        for (size_t o = 0; o < L->out; o++) {
            double s = L->b ? L->b[o] : 0;
            for (size_t k = 0; k < L->in; k++)
                s += (double)X[i * ldx + k] * L->W[o * L->in + k];
            acc[o] = s;
        }
        if (L->ln_gamma) {
            double mean = 0, var = 0;
            for (size_t o = 0; o < L->out; o++)
                mean += acc[o];
            mean /= (double)L->out;
            for (size_t o = 0; o < L->out; o++)
                var += (acc[o] - mean) * (acc[o] - mean);
            var /= (double)L->out;
            for (size_t o = 0; o < L->out; o++)
                acc[o] = (acc[o] - mean) / sqrt(var + L->ln_eps) * L->ln_gamma[o] + L->ln_beta[o];
        }
        for (size_t o = 0; o < L->out; o++)
            Y[i * ldy + o] = (float)act_ref(L->act, acc[o]);
    }
    free(acc);
}
