/* Tree ensembles on the CPU: blocks of rows walk one tree together, level
 * by level. Leaves point to themselves, so each row takes exactly the tree's
 * depth in steps with no "arrived?" branch, and the rows of a block are
 * independent loads the CPU can overlap (a single row's walk is a chain of
 * dependent loads). The tree stays in cache across the block, and a step is
 * arithmetic, not branches: the child is left + (0 or 1). */
#include <math.h>

#include "kernels/trees.h"

#define BLOCK 64

static void walk_block(const struct weir_trees *t, const float *X, size_t ldx, size_t m,
                       float *out)
{
    uint32_t idx[BLOCK];
    for (size_t k = 0; k < t->ntrees; k++) {
        uint32_t root = t->root[k], depth = t->depth[k];
        for (size_t r = 0; r < m; r++)
            idx[r] = root;
        for (uint32_t d = 0; d < depth; d++)
            for (size_t r = 0; r < m; r++) {
                const struct weir_tree_node *nd = &t->node[idx[r]];
                float x = X[r * ldx + (nd->feature & ~WEIR_TREE_DEFAULT_LEFT)];
                /* Both comparisons are false for NaN: default-left nodes go
                 * right only when x >= threshold, the others unless x < it. */
                uint32_t ge = x >= nd->threshold, lt = x < nd->threshold;
                uint32_t dl = nd->feature >> 31;
                idx[r] = nd->left + ((dl & ge) | (~dl & ~lt & 1));
            }
        for (size_t r = 0; r < m; r++)
            out[r] += t->leaf[idx[r]];
    }
}

void weir_trees_cpu(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out)
{
    for (size_t r = 0; r < n; r += BLOCK)
        walk_block(t, X + r * ldx, ldx, n - r < BLOCK ? n - r : BLOCK, out + r);
}
