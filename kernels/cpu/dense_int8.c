/* The int8 dense path: symmetric per-row quantisation of the weights (at
 * load) and of each input row (on the fly), int32 dot products, the result
 * scaled back to fp32 and finished by the same epilogue as the fp32 path.
 * Plain loops the compiler vectorises (int8 products widened to int32); no
 * BLAS has an int8 GEMM to call. */
#include <math.h>

#include "kernels/dense.h"

/* A row with an infinity or a NaN (an input that overflowed in the
 * normalisation) has no scale: NaN, which the products carry to the outputs
 * as the fp32 path would, rather than rest on what lrintf makes of NaN
 * (unspecified: x86 gives LONG_MIN, which happened to end as NaN too). */
static float quantize_row(const float *x, size_t n, int8_t *q)
{
    float m = 0;
    int finite = 1;
    for (size_t i = 0; i < n; i++) {
        finite &= isfinite(x[i]) != 0;
        m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    }
    if (!finite) {
        for (size_t i = 0; i < n; i++)
            q[i] = 0;
        return NAN;
    }
    float scale = m > 0 ? m / 127.0f : 1.0f, inv = 1.0f / scale;
    if (!isfinite(inv)) /* a row under ~3.7e-37: as all zeros (1/scale overflows) */
        scale = 1.0f, inv = 0.0f;
    for (size_t i = 0; i < n; i++)
        q[i] = (int8_t)lrintf(x[i] * inv);
    return scale;
}

void weir_dense_int8_quantize(const struct weir_dense_layer *L, int8_t *Wq, float *w_scale)
{
    for (size_t o = 0; o < L->out; o++)
        w_scale[o] = quantize_row(L->W + o * L->in, L->in, Wq + o * L->in);
}

/* int32 sums over chunks (vectorised), added up in int64: a product is at
 * most 127 * 127, so an int32 holds 131,072 of them but not a wide hidden
 * layer's row (133,145 inputs would overflow it). */
#define DOT_I8_CHUNK 131072

static int64_t dot_i8(const int8_t *restrict a, const int8_t *restrict b, size_t n)
{
    int64_t total = 0;
    for (size_t at = 0; at < n; at += DOT_I8_CHUNK) {
        size_t end = n - at < DOT_I8_CHUNK ? n : at + DOT_I8_CHUNK;
        int32_t s = 0;
        for (size_t k = at; k < end; k++)
            s += (int32_t)a[k] * (int32_t)b[k];
        total += s;
    }
    return total;
}

void weir_dense_int8_cpu(const struct weir_dense_layer *L, const int8_t *Wq, const float *w_scale,
                         const float *X, size_t ldx, size_t n, float *Y, size_t ldy, int8_t *xq)
{
    for (size_t i = 0; i < n; i++) {
        float sx = quantize_row(X + i * ldx, L->in, xq);
        float *y = Y + i * ldy;
        for (size_t o = 0; o < L->out; o++)
            y[o] = (float)dot_i8(xq, Wq + o * L->in, L->in) * sx * w_scale[o];
    }
    weir_dense_epilogue(L, Y, ldy, n);
}
