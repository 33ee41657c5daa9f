/* Dense layers on the GPU: a tiled SGEMM (Y = X·Wᵀ, W in PyTorch's out × in
 * layout) whose epilogue adds the bias and applies the activation while the
 * tile is still in registers; with a layer norm, the epilogue adds the bias
 * only and one warp per row then normalises and activates.
 *
 * Written by hand because the toolkit these are built with ships without
 * cuBLAS; bench/bench_cuda.c measures it against cuBLAS where that is
 * installed. Tiles: 64 rows × 64 outputs × 16 of the inner dimension,
 * 256 threads each computing 4 × 4 outputs. */
#include <cuda_runtime.h>
#include <math.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/internal.h"

#define BM 64
#define BN 64
#define BK 16

__device__ static inline float activate(float v, int act)
{
    switch (act) {
    case WEIR_ACT_RELU:
        return v > 0 ? v : 0;
    case WEIR_ACT_TANH:
        return tanhf(v);
    case WEIR_ACT_SIGMOID:
        return 1.0f / (1.0f + expf(-v));
    case WEIR_ACT_GELU:
        return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    default:
        return v;
    }
}

__global__ static void gemm_bias_act(const float *__restrict__ X, int ldx, int n, int in,
                                     const float *__restrict__ W, int out,
                                     const float *__restrict__ b, int act, float *__restrict__ Y,
                                     int ldy)
{
    __shared__ float As[BK][BM + 4];
    __shared__ float Bs[BK][BN + 4];
    int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
    int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    float acc[4][4] = {{0}};
    for (int k0 = 0; k0 < in; k0 += BK) {
        /* 64 × 16 of X and of W per tile: 4 elements each per thread. */
        for (int e = tid; e < BM * BK; e += 256) {
            int r = e / BK, k = e % BK;
            int gr = row0 + r, gk = k0 + k, gc = col0 + r;
            As[k][r] = gr < n && gk < in ? X[(size_t)gr * ldx + gk] : 0.0f;
            Bs[k][r] = gc < out && gk < in ? W[(size_t)gc * in + gk] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int k = 0; k < BK; k++) {
            float a[4], w[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                a[i] = As[k][ty + 16 * i];
                w[i] = Bs[k][tx + 16 * i];
            }
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++)
                    acc[i][j] = fmaf(a[i], w[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int r = row0 + ty + 16 * i;
        if (r >= n)
            continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int c = col0 + tx + 16 * j;
            if (c < out)
                Y[(size_t)r * ldy + c] = activate(acc[i][j] + (b ? b[c] : 0.0f), act);
        }
    }
}

/* One warp per row: mean, variance (two passes, as the CPU does), then
 * gamma, beta and the activation. */
__global__ static void layer_norm_act(float *Y, int ldy, int n, int width,
                                      const float *__restrict__ gamma,
                                      const float *__restrict__ beta, float eps, int act)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= n)
        return;
    float *y = Y + (size_t)row * ldy;
    float s = 0;
    for (int j = lane; j < width; j += 32)
        s += y[j];
    for (int o = 16; o > 0; o /= 2)
        s += __shfl_xor_sync(0xffffffffu, s, o);
    float mean = s / (float)width, v = 0;
    for (int j = lane; j < width; j += 32)
        v += (y[j] - mean) * (y[j] - mean);
    for (int o = 16; o > 0; o /= 2)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    float inv = 1.0f / sqrtf(v / (float)width + eps);
    for (int j = lane; j < width; j += 32)
        y[j] = activate((y[j] - mean) * inv * gamma[j] + beta[j], act);
}

extern "C" int weir_dense_cuda(const struct weir_dense_layer *L, const float *X, size_t ldx,
                               size_t n, float *Y, size_t ldy, weir_cuda_stream *s)
{
    if (n == 0)
        return 0;
    cudaStream_t st = (cudaStream_t)s;
    dim3 grid(weir_cuda_blocks(L->out, BN), weir_cuda_blocks(n, BM));
    gemm_bias_act<<<grid, 256, 0, st>>>(X, (int)ldx, (int)n, (int)L->in, L->W, (int)L->out, L->b,
                                        L->ln_gamma ? WEIR_ACT_NONE : L->act, Y, (int)ldy);
    if (weir_cuda_launched("dense kernel") < 0)
        return -1;
    if (!L->ln_gamma)
        return 0;
    layer_norm_act<<<weir_cuda_blocks(n, 8), 256, 0, st>>>(Y, (int)ldy, (int)n, (int)L->out,
                                                           L->ln_gamma, L->ln_beta, L->ln_eps,
                                                           L->act);
    return weir_cuda_launched("layer norm kernel");
}
