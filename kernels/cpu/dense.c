/* Dense layers on the CPU: OpenBLAS sgemm, then one fused pass over the
 * output (bias, layer norm, activation).
 *
 * The rows go through in chunks so that the chunk of Y sgemm just wrote is
 * still in cache when the epilogue reads it back: one trip to memory per
 * output instead of two. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels/dense.h"

/* OpenBLAS's own prototype (cblas.h of the reference BLAS lacks it). */
void openblas_set_num_threads(int num_threads);

void weir_kernels_cpu_init(void)
{
    openblas_set_num_threads(1);
}

static const char *const act_names[] = {"none", "relu", "tanh", "sigmoid", "gelu"};

int weir_act_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof act_names / sizeof *act_names); i++)
        if (strcmp(name, act_names[i]) == 0)
            return i;
    return -1;
}

const char *weir_act_name(int act)
{
    return act >= 0 && act <= WEIR_ACT_GELU ? act_names[act] : "?";
}

static void layer_norm_row(float *y, size_t n, const float *gamma, const float *beta, float eps)
{
    float mean = 0, var = 0;
    for (size_t j = 0; j < n; j++)
        mean += y[j];
    mean /= (float)n;
    for (size_t j = 0; j < n; j++)
        var += (y[j] - mean) * (y[j] - mean);
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (size_t j = 0; j < n; j++)
        y[j] = (y[j] - mean) * inv * gamma[j] + beta[j];
}

/* One loop per activation so that each is a simple loop the compiler can
 * vectorise (relu, none) or at least keep branch-free. */
static void bias_act_row(float *restrict y, const float *restrict b, size_t n, int act, int norm)
{
    if (b)
        for (size_t j = 0; j < n; j++)
            y[j] += b[j];
    if (norm)
        return; /* the caller normalises, then activates */
    switch (act) {
    case WEIR_ACT_RELU:
        for (size_t j = 0; j < n; j++)
            y[j] = y[j] > 0 ? y[j] : 0;
        break;
    case WEIR_ACT_TANH:
        for (size_t j = 0; j < n; j++)
            y[j] = tanhf(y[j]);
        break;
    case WEIR_ACT_SIGMOID:
        for (size_t j = 0; j < n; j++)
            y[j] = 1.0f / (1.0f + expf(-y[j]));
        break;
    case WEIR_ACT_GELU: /* exact (erf) form, PyTorch's default */
        for (size_t j = 0; j < n; j++)
            y[j] = 0.5f * y[j] * (1.0f + erff(y[j] * 0.70710678118654752f));
        break;
    default:
        break;
    }
}

void weir_dense_epilogue(const struct weir_dense_layer *L, float *Y, size_t ldy, size_t n)
{
    int norm = L->ln_gamma != NULL;
    for (size_t i = 0; i < n; i++) {
        float *y = Y + i * ldy;
        bias_act_row(y, L->b, L->out, L->act, norm);
        if (norm) {
            layer_norm_row(y, L->out, L->ln_gamma, L->ln_beta, L->ln_eps);
            bias_act_row(y, NULL, L->out, L->act, 0);
        }
    }
}

void weir_dense_cpu(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy)
{
    size_t chunk = 65536 / (L->out ? L->out : 1);
    if (chunk < 64)
        chunk = 64;
    for (size_t r = 0; r < n; r += chunk) {
        size_t m = n - r < chunk ? n - r : chunk;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)L->out, (int)L->in,
                    1.0f, X + r * ldx, (int)ldx, L->W, (int)L->in, 0.0f, Y + r * ldy, (int)ldy);
        weir_dense_epilogue(L, Y + r * ldy, ldy, m);
    }
}
