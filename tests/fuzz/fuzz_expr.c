/* The expression compiler and evaluator (engine/expr.h) on arbitrary text.
 *
 * Invariants: the text either compiles with no diagnostic, or fails with
 * exactly one, "expr.json: operators[1].expr: column C: ..." with C within
 * the text (1 to its length in characters + 1); a compiled expression
 * evaluates over a batch of NaN, ±Inf, absent strings and missing event
 * times without a sanitizer report, and a condition gives only 0 or 1. */
#include "engine/batch.h"
#include "engine/diag.h"
#include "engine/expr.h"
#include "engine/schema.h"
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static struct weir_schema schema;
static struct weir_batch_pool *pool;

static void setup(void)
{
    static const char *const feats[] = {"a", "b", "amount"};
    for (int k = 0; k < 3; k++)
        schema.feat[schema.nfeat++] = (struct weir_column){.name = feats[k], .producer = 0};
    schema.str[schema.nstr++] = (struct weir_column){.name = "s", .producer = 0};
    FUZZ_ASSERT(weir_batch_pool_new(&pool, 8, schema.nfeat, schema.nstr) == 0);
}

static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pool)
        setup();
    char *text = malloc(size + 1);
    FUZZ_ASSERT(text);
    memcpy(text, data, size);
    text[size] = '\0'; /* a NUL inside ends the text, as in a JSON string it cannot occur */
    struct weir_diag d = {.file = "expr.json"};
    struct weir_prepare p = {.schema = &schema, .diag = &d, .path = "operators[1]", .op_index = 1};
    struct weir_expr *e = weir_expr_compile(text, &p, "operators[1].expr");
    if (!e) {
        FUZZ_ASSERT(d.n == 1);
        const char *prefix = "expr.json: operators[1].expr: column ";
        FUZZ_ASSERT(strncmp(d.msgs[0], prefix, strlen(prefix)) == 0);
        unsigned long col = strtoul(d.msgs[0] + strlen(prefix), NULL, 10);
        FUZZ_ASSERT(col >= 1 && col <= chars(text) + 1);
    } else {
        FUZZ_ASSERT(d.n == 0);
        struct weir_batch *b = weir_batch_get(pool);
        const float vals[] = {NAN, INFINITY, -INFINITY, 0.0f, -1.5f, 3.0f, 1e30f, -0.0f};
        static const char *const strs[] = {NULL, "FR", "", "x"};
        for (uint32_t i = 0; i < b->cap; i++) {
            weir_batch_push(b);
            for (uint32_t c = 0; c < b->nfeat; c++)
                weir_batch_row(b, i)[c] = vals[(i + c * 3) % 8];
            const char *s = strs[i % 4];
            b->S[(size_t)i * b->nstr] = (struct weir_str){s, s ? (uint32_t)strlen(s) : 0};
            b->rec[i].ts_ms = i % 3 ? (int64_t)i * 86400000 * 37 : -1;
        }
        struct weir_expr_run run;
        weir_expr_run_init(&run, e);
        const double *v = weir_expr_eval(&run, b);
        FUZZ_ASSERT(v);
        if (weir_expr_result_type(e) == WEIR_EXPR_BOOL)
            for (uint32_t i = 0; i < b->n; i++)
                FUZZ_ASSERT(v[i] == 0 || v[i] == 1);
        weir_expr_run_free(&run);
        weir_batch_put(b);
        weir_expr_free(e);
    }
    weir_diag_free(&d);
    free(text);
    return 0;
}
