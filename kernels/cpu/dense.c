/* Dense layers on the CPU: OpenBLAS sgemm, then one fused pass over the
 * output (bias, layer norm, activation).
 *
 * The rows go through in chunks so that the chunk of Y sgemm just wrote is
 * still in cache when the epilogue reads it back: one trip to memory per
 * output instead of two. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kernels/dense.h"

/* OpenBLAS's own prototypes (cblas.h of the reference BLAS lacks them).
 * blas_thread_shutdown_ is what OpenBLAS's fork handler calls; weak, as a
 * build without threads has none. */
void openblas_set_num_threads(int num_threads);
int openblas_get_parallel(void) __attribute__((weak));
int blas_thread_shutdown_(void) __attribute__((weak));

/* OpenBLAS starts a pool of one thread per core when it is loaded, and each
 * spins on sched_yield for ~2^28 cycles (~0.1 s) before it sleeps: CPU time
 * of every weir process, models or not (2% of the fraud features' run on 2
 * cores). With one BLAS thread the pool is never used, so it is stopped.
 * Only once: openblas_set_num_threads() after the shutdown would start a new
 * pool (OpenBLAS's re-initialisation after fork). */
static void blas_one_thread(void)
{
    openblas_set_num_threads(1);
    if (blas_thread_shutdown_)
        blas_thread_shutdown_();
}

/* The pthreads build (openblas_get_parallel() == 1) keeps the thread count
 * process-wide: once is enough, and the pool can be stopped. The OpenMP
 * build keeps it per calling thread (omp_set_num_threads), so every thread
 * that runs kernels pins itself, and its pool is OpenMP's, left alone. */
void weir_kernels_cpu_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    static _Thread_local int pinned;
    if (openblas_get_parallel && openblas_get_parallel() == 1) {
        pthread_once(&once, blas_one_thread);
    } else if (!pinned) {
        openblas_set_num_threads(1);
        pinned = 1;
    }
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

/* y = act(y + b) over n rows, one loop per activation with the switch
 * outside the rows, so the relu and none loops vectorise and narrow layers
 * (16 outputs) do not pay a call and a switch per row. */
#define EPILOGUE(expr)                                                                    \
    for (size_t i = 0; i < n; i++) {                                                      \
        float *restrict y = Y + i * ldy;                                                  \
        if (b)                                                                            \
            for (size_t j = 0; j < out; j++) {                                            \
                float v = y[j] + b[j];                                                    \
                y[j] = (expr);                                                            \
            }                                                                             \
        else                                                                              \
            for (size_t j = 0; j < out; j++) {                                            \
                float v = y[j];                                                           \
                y[j] = (expr);                                                            \
            }                                                                             \
    }

static void bias_act(float *Y, size_t ldy, size_t n, size_t out, const float *restrict b, int act)
{
    switch (act) {
    case WEIR_ACT_RELU:
        EPILOGUE(v > 0 ? v : 0);
        break;
    case WEIR_ACT_TANH:
        EPILOGUE(tanhf(v));
        break;
    case WEIR_ACT_SIGMOID:
        EPILOGUE(1.0f / (1.0f + expf(-v)));
        break;
    case WEIR_ACT_GELU: /* exact (erf) form, PyTorch's default */
        EPILOGUE(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
        break;
    default:
        if (b)
            EPILOGUE(v);
        break;
    }
}

void weir_dense_epilogue(const struct weir_dense_layer *L, float *Y, size_t ldy, size_t n)
{
    if (!L->ln_gamma) {
        bias_act(Y, ldy, n, L->out, L->b, L->act);
        return;
    }
    for (size_t i = 0; i < n; i++) { /* bias, then the norm, then the activation, per row */
        float *y = Y + i * ldy;
        bias_act(y, ldy, 1, L->out, L->b, WEIR_ACT_NONE);
        layer_norm_row(y, L->out, L->ln_gamma, L->ln_beta, L->ln_eps);
        bias_act(y, ldy, 1, L->out, NULL, L->act);
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
