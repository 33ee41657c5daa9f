/* The small element-wise steps a model runs around its layers (input
 * normalisation, the output transform), so a whole prediction stays on the
 * device between the copy in and the copy out. Same arithmetic as
 * models/model.c. */
#include <cuda_runtime.h>
#include <math.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/internal.h"

__global__ static void normalize(const float *X, size_t ldx, size_t n, size_t nin,
                                 const float *mean, const float *std, float *Y)
{
    size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n * nin)
        return;
    size_t i = e / nin, j = e % nin;
    Y[e] = (X[i * ldx + j] - mean[j]) / std[j];
}

__global__ static void fill(float *out, size_t n, float value)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = value;
}

__global__ static void sigmoid(float *Y, size_t n)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        Y[i] = 1.0f / (1.0f + expf(-Y[i]));
}

__global__ static void mse_rows(const float *A, size_t lda, const float *B, size_t ldb, size_t n,
                                size_t width, float *out)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    float s = 0;
    for (size_t j = 0; j < width; j++) {
        float d = A[i * lda + j] - B[i * ldb + j];
        s += d * d;
    }
    out[i] = s / (float)width;
}

__global__ static void take(const float *X, size_t ldx, size_t n, size_t nout, int sig, float *Y)
{
    size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n * nout)
        return;
    float v = X[(e / nout) * ldx + e % nout];
    Y[e] = sig ? 1.0f / (1.0f + expf(-v)) : v;
}

#define LAUNCH(kernel, count, ...)                                                             \
    do {                                                                                       \
        if ((count) == 0)                                                                      \
            return 0;                                                                          \
        kernel<<<weir_cuda_blocks((count), 256), 256, 0, (cudaStream_t)s>>>(__VA_ARGS__);      \
        return weir_cuda_launched(#kernel " kernel");                                          \
    } while (0)

extern "C" int weir_cuda_normalize(const float *X, size_t ldx, size_t n, size_t nin,
                                   const float *mean, const float *std, float *Y,
                                   weir_cuda_stream *s)
{
    LAUNCH(normalize, n * nin, X, ldx, n, nin, mean, std, Y);
}

extern "C" int weir_cuda_fill(float *out, size_t n, float value, weir_cuda_stream *s)
{
    LAUNCH(fill, n, out, n, value);
}

extern "C" int weir_cuda_sigmoid(float *Y, size_t n, weir_cuda_stream *s)
{
    LAUNCH(sigmoid, n, Y, n);
}

extern "C" int weir_cuda_mse_rows(const float *A, size_t lda, const float *B, size_t ldb,
                                  size_t n, size_t width, float *out, weir_cuda_stream *s)
{
    LAUNCH(mse_rows, n, A, lda, B, ldb, n, width, out);
}

extern "C" int weir_cuda_take(const float *X, size_t ldx, size_t n, size_t nout, int sig,
                              float *Y, weir_cuda_stream *s)
{
    LAUNCH(take, n * nout, X, ldx, n, nout, sig, Y);
}
