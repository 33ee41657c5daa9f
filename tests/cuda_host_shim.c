/* kernels/cuda/cuda.h on the host, for tests without a GPU: "device"
 * memory is malloc'ed, copies are memcpy, a stream runs its work at once
 * and a host function is called where it is queued (it then writes the
 * operator's eventfd as the CUDA runtime's thread would). Linked before
 * weircore into `weir_hostcuda`, so the model operator's GPU path (slots,
 * eventfd completions, versions, errors) runs for real with the CPU
 * kernels standing in for the device's.
 *
 * WEIR_HOSTCUDA_FAIL_AFTER=N: the (N+1)-th model run on the "device" fails,
 * as a CUDA error would, and every later one too (a sticky error). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda.h"

static int runs, failed;

static int fail_now(void)
{
    const char *after = getenv("WEIR_HOSTCUDA_FAIL_AFTER");
    if (failed || (after && runs++ >= atoi(after)))
        failed = 1;
    return failed;
}

int weir_cuda_available(char *why, size_t len)
{
    return 1;
}
const char *weir_cuda_error(void)
{
    return "an illegal memory access was encountered (simulated)";
}
void *weir_cuda_malloc(size_t bytes)
{
    return calloc(1, bytes ? bytes : 4);
}
void weir_cuda_free(void *dev)
{
    free(dev);
}
void *weir_cuda_host_alloc(size_t bytes)
{
    return malloc(bytes ? bytes : 4);
}
void weir_cuda_host_free(void *host)
{
    free(host);
}
int weir_cuda_upload(void *dev, const void *host, size_t bytes)
{
    memcpy(dev, host, bytes);
    return 0;
}
int weir_cuda_uploads_done(void)
{
    return 0;
}

weir_cuda_stream *weir_cuda_stream_new(void)
{
    return malloc(1);
}
void weir_cuda_stream_free(weir_cuda_stream *s)
{
    free(s);
}
int weir_cuda_copy_in(void *dev, const void *host, size_t bytes, weir_cuda_stream *s)
{
    memcpy(dev, host, bytes);
    return 0;
}
int weir_cuda_copy_out(void *host, const void *dev, size_t bytes, weir_cuda_stream *s)
{
    memcpy(host, dev, bytes);
    return 0;
}
int weir_cuda_host_fn(weir_cuda_stream *s, void (*fn)(void *), void *arg)
{
    fn(arg);
    return 0;
}
int weir_cuda_stream_query(weir_cuda_stream *s)
{
    return failed ? -1 : 0;
}
int weir_cuda_stream_sync(weir_cuda_stream *s)
{
    return failed ? -1 : 0;
}
int weir_dense_cuda(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy, weir_cuda_stream *s)
{
    weir_dense_cpu(L, X, ldx, n, Y, ldy);
    return 0;
}
int weir_trees_cuda(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out,
                    weir_cuda_stream *s)
{
    weir_trees_cpu(t, X, ldx, n, out);
    return 0;
}
int weir_cuda_normalize(const float *X, size_t ldx, size_t n, size_t nin, const float *mean,
                        const float *std, float *Y, weir_cuda_stream *s)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < nin; j++)
            Y[i * nin + j] = (X[i * ldx + j] - mean[j]) / std[j];
    return 0;
}
/* Every model run starts with fill (trees) or ends with take/mse (dense):
 * the failure is injected there, as a launch error. */
int weir_cuda_fill(float *out, size_t n, float value, weir_cuda_stream *s)
{
    if (fail_now())
        return -1;
    for (size_t i = 0; i < n; i++)
        out[i] = value;
    return 0;
}
int weir_cuda_sigmoid(float *Y, size_t n, weir_cuda_stream *s)
{
    for (size_t i = 0; i < n; i++)
        Y[i] = 1.0f / (1.0f + expf(-Y[i]));
    return 0;
}
int weir_cuda_mse_rows(const float *A, size_t lda, const float *B, size_t ldb, size_t n,
                       size_t width, float *out, weir_cuda_stream *s)
{
    if (fail_now())
        return -1;
    for (size_t i = 0; i < n; i++) {
        float acc = 0;
        for (size_t j = 0; j < width; j++) {
            float d = A[i * lda + j] - B[i * ldb + j];
            acc += d * d;
        }
        out[i] = acc / (float)width;
    }
    return 0;
}
int weir_cuda_take(const float *X, size_t ldx, size_t n, size_t nout, int sigmoid, float *Y,
                   weir_cuda_stream *s)
{
    if (fail_now())
        return -1;
    for (size_t e = 0; e < n * nout; e++) {
        float v = X[(e / nout) * ldx + e % nout];
        Y[e] = sigmoid ? 1.0f / (1.0f + expf(-v)) : v;
    }
    return 0;
}
