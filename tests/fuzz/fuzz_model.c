/* The XGBoost JSON loader (models/xgboost.c, models/jspan.c) on arbitrary
 * bytes: it loads or refuses with a reason, never crashing, leaking or
 * reading past the text. What jansson reads as one JSON value (nested at
 * most 200 deep, and without a NUL byte: jansson skips one after a number,
 * tests/test_jscan_jansson.c), jspan_value must find whole, and the model
 * read from it must hold only children inside its node array. */
#include <jansson.h>
#include <string.h>

#include "models/jspan.h"
#include "models/model.h"
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
    free(text);
    return 0;
}
