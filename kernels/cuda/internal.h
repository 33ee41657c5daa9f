/* Shared by the .cu files of kernels/cuda/ only. */
#ifndef WEIR_KERNELS_CUDA_INTERNAL_H
#define WEIR_KERNELS_CUDA_INTERNAL_H

#include <cuda_runtime.h>

/* Records e for weir_cuda_error(); returns -1. */
int weir_cuda_fail(cudaError_t e, const char *what);
/* After a kernel launch: 0, or -1 with the launch error recorded. */
int weir_cuda_launched(const char *what);

static inline unsigned weir_cuda_blocks(size_t n, unsigned threads)
{
    return (unsigned)((n + threads - 1) / threads);
}

#endif
