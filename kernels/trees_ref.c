/* The reference tree walk: one row, one tree at a time, stopping at the
 * leaf. The oracle for every back end. */
#include <math.h>

#include "kernels/trees.h"

void weir_trees_ref(const struct weir_trees *t, const float *X, size_t ldx, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * ldx;
        for (size_t k = 0; k < t->ntrees; k++) {
            uint32_t j = t->root[k];
            while (!t->is_leaf[j]) {
                const struct weir_tree_node *nd = &t->node[j];
                float v = x[nd->feature & ~WEIR_TREE_DEFAULT_LEFT];
                if (isnan(v))
                    j = (nd->feature & WEIR_TREE_DEFAULT_LEFT) ? nd->left : nd->left + 1;
                else
                    j = v < nd->threshold ? nd->left : nd->left + 1;
            }
            out[i] += t->leaf[j];
        }
    }
}
