/* What the tests of per-key operators share to check "by": the values x
 * with keys key (0..2: "web-1", "web-2", "db-1") through a fresh operator
 * of type, keyed by the string field "host"; out gets feature out_name of
 * each record (only >= 0: that key's records alone). A run over all keys
 * must then equal one run per key: keyed_split_differences (test_op_deviation.c,
 * test_op_calibrate.c). */
#ifndef WEIR_TESTS_KEYED_SPLIT_H
#define WEIR_TESTS_KEYED_SPLIT_H

#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "tests/op_harness.h"

static void run_keyed_split(const struct weir_operator_type *type, const char *conf,
                            const char *out_name, const int *key, const float *x, size_t n,
                            int only, float *out)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "v", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int host = weir_schema_string_out(&pr, "host", "operators[0]");
    CHECK(h_build(&h, type, conf, &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, out_name);
    CHECK(outc >= 0);
    struct weir_batch_pool *pool = h_pool(&p, 50);
    static const char *names[] = {"web-1", "web-2", "db-1"};
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first[64], m = 0;
        while (k < n && b->n < b->cap) {
            if (only < 0 || key[k] == only) {
                int i = h_push_value(b, 0, x[k]);
                b->S[(size_t)i * b->nstr + (size_t)host] =
                    (struct weir_str){names[key[k]], (uint32_t)strlen(names[key[k]])};
                first[m++] = k;
            }
            k++;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = 0; j < m; j++)
            out[first[j]] = weir_batch_row(b, (uint32_t)j)[outc];
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* How many of the n records score otherwise with all keys in one run than
 * with each key alone (0 when keys do not leak into each other). */
static size_t keyed_split_differences(const struct weir_operator_type *type, const char *conf,
                                      const char *out_name, const int *key, const float *x,
                                      size_t n)
{
    float *keyed = malloc(n * sizeof *keyed), *alone = malloc(n * sizeof *alone);
    size_t diff = 0;
    if (!keyed || !alone) {
        free(keyed);
        free(alone);
        return n;
    }
    run_keyed_split(type, conf, out_name, key, x, n, -1, keyed);
    for (int k = 0; k < 3; k++)
        run_keyed_split(type, conf, out_name, key, x, n, k, alone);
    for (size_t i = 0; i < n; i++)
        diff += memcmp(&keyed[i], &alone[i], sizeof *keyed) != 0;
    free(keyed);
    free(alone);
    return diff;
}

#endif
