/* Tree ensembles on the GPU: one thread per row walks every tree over the
 * flat node array, with the CPU kernel's branch-free step (leaves point to
 * themselves, so each tree takes exactly its depth in steps). Rows of a warp
 * walk the same tree together; the nodes of the top levels stay in L1/L2. */
#include <cuda_runtime.h>

#include "kernels/cuda/cuda.h"
#include "kernels/cuda/internal.h"

__global__ static void walk(const uint32_t *__restrict__ root, const uint32_t *__restrict__ depth,
                            int ntrees, const struct weir_tree_node *__restrict__ node,
                            const float *__restrict__ leaf, const float *__restrict__ X,
                            size_t ldx, size_t n, float *out)
{
    size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= n)
        return;
    const float *x = X + r * ldx;
    float sum = out[r]; /* the CPU's order of additions: bit-identical sums */
    for (int k = 0; k < ntrees; k++) {
        uint32_t idx = root[k], d = depth[k];
        for (uint32_t step = 0; step < d; step++) {
            struct weir_tree_node nd = node[idx];
            float v = x[nd.feature & ~WEIR_TREE_DEFAULT_LEFT];
            /* As on the CPU: both comparisons are false for NaN. */
            uint32_t ge = v >= nd.threshold, lt = v < nd.threshold, dl = nd.feature >> 31;
            idx = nd.left + ((dl & ge) | (~dl & ~lt & 1u));
        }
        sum += leaf[idx];
    }
    out[r] = sum;
}

extern "C" int weir_trees_cuda(const struct weir_trees *t, const float *X, size_t ldx, size_t n,
                               float *out, weir_cuda_stream *s)
{
    if (n == 0)
        return 0;
    walk<<<weir_cuda_blocks(n, 128), 128, 0, (cudaStream_t)s>>>(
        t->root, t->depth, (int)t->ntrees, t->node, t->leaf, X, ldx, n, out);
    return weir_cuda_launched("tree kernel");
}
