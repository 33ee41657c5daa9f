/* The CUDA back end's C API: the same layer and ensemble descriptions as
 * kernels/dense.h and kernels/trees.h, with every array in device memory,
 * run asynchronously on a stream.
 *
 * Built only when WEIR_HAVE_CUDA (CMake found nvcc); the runtime is linked
 * statically, so a binary built with it starts, and runs on the CPU, where
 * no driver or GPU is present: weir_cuda_available() says so. Every call
 * returns 0 or -1; weir_cuda_error() names the last failure of this thread. */
#ifndef WEIR_KERNELS_CUDA_H
#define WEIR_KERNELS_CUDA_H

#include <stddef.h>

#include "kernels/dense.h"
#include "kernels/trees.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weir_cuda_stream weir_cuda_stream; /* a cudaStream_t */

/* The number of usable devices (> 0), or 0 with why filled ("no CUDA
 * driver", "no device"), never an abort. Selects device 0 for this thread. */
int weir_cuda_available(char *why, size_t len);
const char *weir_cuda_error(void);

void *weir_cuda_malloc(size_t bytes); /* device; NULL on failure */
void weir_cuda_free(void *dev);
void *weir_cuda_host_alloc(size_t bytes); /* pinned host memory; NULL on failure */
void weir_cuda_host_free(void *host);
/* Synchronous host → device copy (weights, once per model version). */
int weir_cuda_upload(void *dev, const void *host, size_t bytes);
/* Waits for the device: after a version's uploads, before any stream reads
 * them (a copy from pageable memory may return before the bytes landed). */
int weir_cuda_uploads_done(void);

weir_cuda_stream *weir_cuda_stream_new(void);
void weir_cuda_stream_free(weir_cuda_stream *s);
int weir_cuda_copy_in(void *dev, const void *host, size_t bytes, weir_cuda_stream *s);
int weir_cuda_copy_out(void *host, const void *dev, size_t bytes, weir_cuda_stream *s);
/* fn(arg) runs on a runtime thread once the work queued before it is done
 * (cudaLaunchHostFunc): it must not call CUDA. */
int weir_cuda_host_fn(weir_cuda_stream *s, void (*fn)(void *), void *arg);
/* 0: done, 1: still running, -1: the stream's work failed. */
int weir_cuda_stream_query(weir_cuda_stream *s);
int weir_cuda_stream_sync(weir_cuda_stream *s);

/* Y = act(norm(X·Wᵀ + b)), L's arrays in device memory. */
int weir_dense_cuda(const struct weir_dense_layer *L, const float *X, size_t ldx, size_t n,
                    float *Y, size_t ldy, weir_cuda_stream *s);
/* out[i] += sum of leaves; t's arrays in device memory (is_leaf unused). */
int weir_trees_cuda(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out,
                    weir_cuda_stream *s);

/* The model's own steps around the kernels (models/gpu.c). */
/* Y (n × nin, dense) = (X (stride ldx) - mean) / std. */
int weir_cuda_normalize(const float *X, size_t ldx, size_t n, size_t nin, const float *mean,
                        const float *std, float *Y, weir_cuda_stream *s);
int weir_cuda_fill(float *out, size_t n, float value, weir_cuda_stream *s);
int weir_cuda_sigmoid(float *Y, size_t n, weir_cuda_stream *s); /* in place */
/* out[i] = mean over j of (A[i,j] - B[i,j])² (strides lda, ldb). */
int weir_cuda_mse_rows(const float *A, size_t lda, const float *B, size_t ldb, size_t n,
                       size_t width, float *out, weir_cuda_stream *s);
/* Y (n × nout, dense) = X's first nout columns (stride ldx), through a
 * sigmoid when sigmoid is set. */
int weir_cuda_take(const float *X, size_t ldx, size_t n, size_t nout, int sigmoid, float *Y,
                   weir_cuda_stream *s);

#ifdef __cplusplus
}
#endif

#endif
