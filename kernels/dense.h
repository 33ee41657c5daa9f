/* Dense layers: Y = act(norm(X · Wᵀ + b)), the building block of the
 * networks the `model` operator serves.
 *
 * The interface is back-end neutral: a layer is plain host arrays and every
 * back end (cpu/ today, cuda/ later) takes the same description. The
 * reference (dense_ref.c) is naive loops in double precision and is the oracle
 * the tests hold every back end to. */
#ifndef WEIR_KERNELS_DENSE_H
#define WEIR_KERNELS_DENSE_H

#include <stddef.h>
#include <stdint.h>

enum weir_act { WEIR_ACT_NONE, WEIR_ACT_RELU, WEIR_ACT_TANH, WEIR_ACT_SIGMOID, WEIR_ACT_GELU };

/* Names as the model file spells them ("none", "relu", ...); -1 if unknown. */
int weir_act_parse(const char *name);
const char *weir_act_name(int act);

struct weir_dense_layer {
    size_t in, out;
    const float *W;        /* (out, in) row-major: PyTorch's Linear.weight */
    const float *b;        /* (out) or NULL */
    const float *ln_gamma; /* layer norm over the out values (after the bias, before the
                              activation), or NULL for none; (out) */
    const float *ln_beta;  /* (out), with ln_gamma */
    float ln_eps;
    int act;               /* enum weir_act */
};

/* Pins the BLAS to one thread (a worker is one core; the engine scales out
 * with workers, not BLAS threads) and stops OpenBLAS's idle thread pool.
 * Called by main() and by each thread before its first BLAS call (an OpenMP
 * OpenBLAS counts threads per thread; the pthreads one once per process). */
void weir_kernels_cpu_init(void);

/* n rows of X (row stride ldx floats) through one layer into Y (row stride
 * ldy floats). X and Y must not overlap. */
void weir_dense_cpu(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy);
void weir_dense_ref(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy);

/* The int8 path: weights quantised per output row (symmetric, scale =
 * max|w| / 127), each input row quantised on the fly the same way, int32
 * dot products, then the fp32 epilogue. Accuracy against fp32 is measured by
 * bench_model and test_kernels; it is an option, not the default. */
void weir_dense_int8_quantize(const struct weir_dense_layer *L, int8_t *Wq, float *w_scale);
/* xq: scratch of L->in bytes. */
void weir_dense_int8_cpu(const struct weir_dense_layer *L, const int8_t *Wq, const float *w_scale,
                         const float *X, size_t ldx, size_t n, float *Y, size_t ldy, int8_t *xq);

/* The fused epilogue alone, in place over n rows of Y: bias, layer norm,
 * activation. The CPU kernel runs it after sgemm; exposed for the benchmark. */
void weir_dense_epilogue(const struct weir_dense_layer *L, float *Y, size_t ldy, size_t n);

#endif
