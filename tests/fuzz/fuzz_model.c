/* The XGBoost JSON loader (models/xgboost.c, models/jspan.c) and the
 * trained isolation forest's (operators/iforest_model.c) on arbitrary
 * bytes: each loads or refuses with a reason, never crashing, leaking or
 * reading past the text; every walk down a loaded forest's tree ends inside
 * it. What jansson reads as one JSON value (nested at
 * most 200 deep, and without a NUL byte: jansson skips one after a number,
 * tests/test_jscan_jansson.c), jspan_value must find whole, and the model
 * read from it must hold only children inside its node array. */
#include <jansson.h>
#include <string.h>

#include "models/jspan.h"
#include "models/model.h"
#include "operators/iforest_model.h"
#include "tests/fuzz/fuzz.h"

static size_t brackets(const uint8_t *d, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += d[i] == '[' || d[i] == '{';
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1); /* its own allocation: ASan sees an over-read */
    if (!text)
        return 0;
    memcpy(text, data, size);
    json_error_t e;
    json_t *j = json_loadb(text, size, JSON_DECODE_ANY, &e);
    if (j && brackets(data, size) <= 200 && !memchr(data, 0, size))
        FUZZ_ASSERT(jspan_value(text, size).p != NULL);
    json_decref(j);
    struct weir_model *m = calloc(1, sizeof *m);
    char why[400] = "";
    if (m && weir_xgboost_load(m, text, size, why, sizeof why) == 0) {
        const struct weir_trees *t = &m->trees;
        for (size_t k = 0; k < t->nnodes; k++)
            FUZZ_ASSERT(t->is_leaf[k] || t->node[k].left + 1 < t->nnodes);
    } else {
        FUZZ_ASSERT(why[0] != 0);
    }
    weir_model_free(m);
    struct iforest_model f;
    why[0] = 0;
    if (iforest_model_parse(text, size, &f, why, sizeof why) == 0) {
        unsigned char *reached = calloc(f.tree_nodes, 1);
        for (size_t t = 0; reached && t < f.trees; t++) {
            const struct iforest_node *nd = f.nodes + t * f.tree_nodes;
            memset(reached, 0, f.tree_nodes);
            reached[0] = 1; /* children follow their parent: one pass marks every walk */
            for (size_t k = 0; k < f.tree_nodes; k++) {
                if (!reached[k] || nd[k].feat == IFOREST_LEAF)
                    continue;
                FUZZ_ASSERT(nd[k].feat < f.d && nd[k].right >= 2 && k + nd[k].right < f.tree_nodes);
                reached[k + 1] = reached[k + nd[k].right] = 1;
            }
        }
        free(reached);
        iforest_model_free(&f);
    } else {
        FUZZ_ASSERT(why[0] != 0);
    }
    free(text);
    return 0;
}
