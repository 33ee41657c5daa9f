/* The CUDA back end's API (kernels/cuda/cuda.h) in a build without nvcc:
 * no device, every call fails with one reason, so callers need no #ifdef.
 * CMakeLists.txt compiles this file only when the CUDA back end is not built. */
#include <stdio.h>

#include "kernels/cuda/cuda.h"

#define NO_CUDA "this weir was built without CUDA (nvcc was not found, or -DWEIR_CUDA=OFF)"

int weir_cuda_available(char *why, size_t len)
{
    snprintf(why, len, "%s", NO_CUDA);
    return 0;
}
const char *weir_cuda_error(void) { return NO_CUDA; }
void *weir_cuda_malloc(size_t bytes) { return NULL; }
void weir_cuda_free(void *dev) {}
void *weir_cuda_host_alloc(size_t bytes) { return NULL; }
void weir_cuda_host_free(void *host) {}
int weir_cuda_upload(void *dev, const void *host, size_t bytes) { return -1; }
int weir_cuda_uploads_done(void)
{
    return -1;
}
weir_cuda_stream *weir_cuda_stream_new(void) { return NULL; }
void weir_cuda_stream_free(weir_cuda_stream *s) {}
int weir_cuda_copy_in(void *dev, const void *host, size_t bytes, weir_cuda_stream *s)
{
    return -1;
}
int weir_cuda_copy_out(void *host, const void *dev, size_t bytes, weir_cuda_stream *s)
{
    return -1;
}
int weir_cuda_host_fn(weir_cuda_stream *s, void (*fn)(void *), void *arg) { return -1; }
int weir_cuda_stream_query(weir_cuda_stream *s) { return -1; }
int weir_cuda_stream_sync(weir_cuda_stream *s) { return -1; }
int weir_dense_cuda(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy, weir_cuda_stream *s) { return -1; }
int weir_trees_cuda(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out,
                    weir_cuda_stream *s) { return -1; }
int weir_cuda_normalize(const float *X, size_t ldx, size_t n, size_t nin, const float *mean,
                        const float *std, float *Y, weir_cuda_stream *s) { return -1; }
int weir_cuda_fill(float *out, size_t n, float value, weir_cuda_stream *s) { return -1; }
int weir_cuda_sigmoid(float *Y, size_t n, weir_cuda_stream *s) { return -1; }
int weir_cuda_mse_rows(const float *A, size_t lda, const float *B, size_t ldb, size_t n,
                       size_t width, float *out, weir_cuda_stream *s) { return -1; }
int weir_cuda_take(const float *X, size_t ldx, size_t n, size_t nout, int sigmoid, float *Y,
                   weir_cuda_stream *s) { return -1; }
