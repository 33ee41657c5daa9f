/* Devices, memory, streams and errors: thin wrappers over the CUDA runtime
 * that turn its errors into -1 and a per-thread message. */
#include <cuda_runtime.h>
#include <stdio.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/internal.h"

static __thread char last_error[256];

int weir_cuda_fail(cudaError_t e, const char *what)
{
    snprintf(last_error, sizeof last_error, "%s: %s (%s)", what, cudaGetErrorString(e),
             cudaGetErrorName(e));
    /* Reported here: cleared, so that weir_cuda_launched's cudaGetLastError
     * after a later, healthy launch does not find it (a failed cudaMalloc
     * in a version swap once read as the next slot's launch error). A
     * sticky error (the context is lost) comes back from every call anyway. */
    cudaGetLastError();
    return -1;
}

const char *weir_cuda_error(void)
{
    return last_error[0] ? last_error : "no CUDA error";
}

int weir_cuda_available(char *why, size_t len)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(why, len, "no CUDA device: %s", cudaGetErrorString(e));
        cudaGetLastError(); /* not sticky: clear it */
        return 0;
    }
    if (n <= 0) {
        snprintf(why, len, "no CUDA device");
        return 0;
    }
    if ((e = cudaSetDevice(0)) != cudaSuccess) {
        snprintf(why, len, "CUDA device 0 unusable: %s", cudaGetErrorString(e));
        return 0;
    }
    return n;
}

void *weir_cuda_malloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 4);
    if (e != cudaSuccess) {
        weir_cuda_fail(e, "cudaMalloc");
        return NULL;
    }
    return p;
}

void weir_cuda_free(void *dev)
{
    if (dev)
        cudaFree(dev);
}

void *weir_cuda_host_alloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 4, cudaHostAllocDefault);
    if (e != cudaSuccess) {
        weir_cuda_fail(e, "cudaHostAlloc");
        return NULL;
    }
    return p;
}

void weir_cuda_host_free(void *host)
{
    if (host)
        cudaFreeHost(host);
}

int weir_cuda_upload(void *dev, const void *host, size_t bytes)
{
    cudaError_t e = cudaMemcpy(dev, host, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, "cudaMemcpy (weights)");
}

int weir_cuda_uploads_done(void)
{
    /* A cudaMemcpy from pageable memory may return before the bytes are on
     * the device, and the slots' non-blocking streams are not ordered after
     * the legacy stream it ran on: wait for that stream (not the device,
     * whose other workers' slots may be in flight), once per version. */
    cudaError_t e = cudaStreamSynchronize(cudaStreamLegacy);
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, "cudaStreamSynchronize (weights)");
}

weir_cuda_stream *weir_cuda_stream_new(void)
{
    cudaStream_t s;
    cudaError_t e = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        weir_cuda_fail(e, "cudaStreamCreate");
        return NULL;
    }
    return (weir_cuda_stream *)s;
}

void weir_cuda_stream_free(weir_cuda_stream *s)
{
    if (s)
        cudaStreamDestroy((cudaStream_t)s);
}

int weir_cuda_copy_in(void *dev, const void *host, size_t bytes, weir_cuda_stream *s)
{
    cudaError_t e = cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, (cudaStream_t)s);
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, "cudaMemcpyAsync (in)");
}

int weir_cuda_copy_out(void *host, const void *dev, size_t bytes, weir_cuda_stream *s)
{
    cudaError_t e = cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)s);
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, "cudaMemcpyAsync (out)");
}

int weir_cuda_host_fn(weir_cuda_stream *s, void (*fn)(void *), void *arg)
{
    cudaError_t e = cudaLaunchHostFunc((cudaStream_t)s, fn, arg);
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, "cudaLaunchHostFunc");
}

int weir_cuda_stream_query(weir_cuda_stream *s)
{
    cudaError_t e = cudaStreamQuery((cudaStream_t)s);
    if (e == cudaSuccess)
        return 0;
    if (e == cudaErrorNotReady) {
        cudaGetLastError(); /* not an error: never a later launch's */
        return 1;
    }
    return weir_cuda_fail(e, "stream");
}

int weir_cuda_stream_sync(weir_cuda_stream *s)
{
    cudaError_t e = cudaStreamSynchronize((cudaStream_t)s);
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, "cudaStreamSynchronize");
}

int weir_cuda_launched(const char *what)
{
    cudaError_t e = cudaGetLastError();
    return e == cudaSuccess ? 0 : weir_cuda_fail(e, what);
}
