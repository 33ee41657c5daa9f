/* A trained isolation forest as a file: what `weir fit --type iforest`
 * writes and the `iforest` operator's "model" option loads. JSON:
 *
 *   {"format": "weir-iforest", "version": 1,
 *    "features": ["a", "b"],   the inputs, in order
 *    "sample": 256,            psi: points per tree (c(psi) normalises)
 *    "center": [0.1, 2.0],     the mean of the drawn points ("side")
 *    "trees": [{"feature": [0, -1, ...], "split": [...], "right": [...]}]}
 *
 * Each tree's nodes in preorder (the left child follows its parent): an
 * inner node has its feature's index, its split (x < split goes left) and
 * its right child's offset from it (>= 2); a leaf has feature -1, split 0
 * and its point count in "right" (0 when a split left none). Splits are floats written exactly.
 * A key given twice in one object is refused, in a tree as elsewhere. */
#ifndef WEIR_OPERATORS_IFOREST_MODEL_H
#define WEIR_OPERATORS_IFOREST_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "operators/iforest_forest.h"

struct iforest_model {
    size_t d, trees, tree_nodes; /* tree t at nodes + t * tree_nodes */
    uint32_t psi;
    double c_norm; /* c(psi) */
    char **feature;
    float *center;
    struct iforest_node *nodes;
    uint64_t hash; /* of the whole forest: part of the operator's state layout */
};

/* Allocates an empty model of `trees` trees of psi points over d features
 * (names copied). Returns 0 or -ENOMEM. */
int iforest_model_alloc(struct iforest_model *m, size_t d, char *const *feature, size_t trees,
                        uint32_t psi);
/* Returns 0, or -1 with why filled ("PATH: ..."; the file, its format, the
 * node at fault). */
int iforest_model_load(const char *path, struct iforest_model *m, char *why, size_t len);
/* The same from the file's text (n bytes), why without the path (fuzzed:
 * tests/fuzz/fuzz_model.c). */
int iforest_model_parse(const char *text, size_t n, struct iforest_model *m, char *why, size_t len);
int iforest_model_save(const struct iforest_model *m, const char *path, char *why, size_t len);
void iforest_model_free(struct iforest_model *m);

#endif
