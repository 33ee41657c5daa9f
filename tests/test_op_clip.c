/* Tests for the clip operator: per-field bounds (one side open) against a
 * brute-force reference on random values with NaN and ±Inf, dead records
 * left alone, and prepare errors. */
#include "tests/check.h"
#include "tests/op_harness.h"

#include <math.h>
#include <stdlib.h>

extern const struct weir_operator_type weir_op_clip;

static float ref(float x, double lo, double hi)
{
    if (isnan(x))
        return NAN;
    return x < lo ? (float)lo : x > hi ? (float)hi : x;
}

static void test_values(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int a = h_feature(&p, "a", 0), b_in = h_feature(&p, "b", 0);
    CHECK(h_build(&h, &weir_op_clip,
                  "{\"type\": \"clip\", \"fields\": {\"a\": [-1.5, 2], \"b\": [null, 10]}}", &p,
                  1) == 0);
    int ao = weir_schema_find_feature(&p.schema, "a_clipped");
    int bo = weir_schema_find_feature(&p.schema, "b_clipped");
    CHECK(ao >= 0 && bo >= 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    struct weir_batch *b = weir_batch_get(pool);
    const float specials[] = {NAN, INFINITY, -INFINITY, -1.5f, 2.0f, 10.0f, -0.0f};
    unsigned seed = 3;
    for (uint32_t i = 0; i < b->cap; i++) {
        int k = h_push_value(b, a,
                             i % 4 == 0 ? specials[i / 4 % 7]
                                        : (float)(rand_r(&seed) % 4000) / 100.0f - 20.0f);
        weir_batch_row(b, (uint32_t)k)[b_in] =
            i % 5 == 0 ? specials[i / 5 % 7] : (float)(rand_r(&seed) % 4000) / 10.0f - 200.0f;
        if (i % 31 == 30)
            weir_batch_kill(b, i, "test");
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    size_t wrong = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const float *row = weir_batch_row(b, i);
        if (i % 31 == 30) {
            wrong += !isnan(row[ao]) || !isnan(row[bo]);
            continue;
        }
        float wa = ref(row[a], -1.5, 2), wb = ref(row[b_in], -INFINITY, 10);
        int ok = ((isnan(wa) && isnan(row[ao])) || wa == row[ao]) &&
                 ((isnan(wb) && isnan(row[bo])) || wb == row[bo]);
        if (!ok && wrong++ < 3)
            fprintf(stderr, "a %g b %g: got %g %g, want %g %g\n", row[a], row[b_in], row[ao],
                    row[bo], wa, wb);
    }
    CHECK(wrong == 0);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_clip, (const char *const[]){"a", NULL}, 1, json, want);
}

int main(void)
{
    test_values();
    expect_error("{\"fields\": {\"a\": [3, 1]}}",
                 "test.json: operators[1].fields.a: expected min <= max, got [3, 1]");
    /* 1e39 is an infinity as a float: an infinite input would stay one */
    expect_error("{\"fields\": {\"a\": [0, 1e39]}}",
                 "test.json: operators[1].fields.a: expected bounds of magnitude at most 3.4e38 "
                 "(features are 32-bit floats; null: no bound), got [0, 1e+39]");
    expect_error(
        "{\"fields\": {\"a\": [null, null]}}",
        "test.json: operators[1].fields.a: expected [min, max] with numbers (or one null), "
        "got another array");
    expect_error(
        "{\"fields\": {\"a\": 3}}",
        "test.json: operators[1].fields.a: expected [min, max] with numbers (or one null), "
        "got no array");
    expect_error("{\"fields\": {\"zzz\": [0, 1]}}",
                 "test.json: operators[1].fields.zzz: unknown feature \"zzz\"; earlier operators "
                 "write \"a\"");
    expect_error(
        "{\"fields\": []}",
        "test.json: operators[1].fields: expected an object of 1 to 256 \"feature\": [min, "
        "max] pairs");
    return check_summary();
}
