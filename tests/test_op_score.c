/* Tests for the score operator: the zscore method's values, max and mean
 * combining, NaN inputs, dead records, and prepare errors. */
#include <math.h>

#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_score;

/* Scores rows (a, b) with the given operator config; out[i] gets the score. */
static void score_rows(const char *conf, const float (*ab)[2], size_t n, float *out)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int a = h_feature(&p, "a", 0), b = h_feature(&p, "b", 0);
    CHECK(h_build(&h, &weir_op_score, conf, &p, 1) == 0);
    int oc = weir_schema_find_feature(&p.schema, "anomaly_score");
    CHECK(oc >= 0 && p.schema.feat[oc].emit == 1);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    struct weir_batch *bt = weir_batch_get(pool);
    for (size_t i = 0; i < n; i++) {
        int r = weir_batch_push(bt);
        weir_batch_row(bt, (uint32_t)r)[a] = ab[i][0];
        weir_batch_row(bt, (uint32_t)r)[b] = ab[i][1];
    }
    CHECK(h.type->process(&h.op, bt) == WEIR_OP_CONTINUE);
    for (size_t i = 0; i < n; i++)
        out[i] = weir_batch_row(bt, (uint32_t)i)[oc];
    weir_batch_put(bt);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_values(void)
{
    static const float rows[][2] = {
        {0, NAN}, {1.96f, NAN}, {-1.96f, NAN}, {1, 2}, {NAN, NAN}, {INFINITY, 0}, {-3, 0.5f},
    };
    float s[7];
    score_rows("{\"type\": \"score\", \"fields\": [\"a\", \"b\"]}", rows, 7, s);
    CHECK_NEAR(s[0], 0.0, 1e-7);
    CHECK_NEAR(s[1], 0.95, 1e-3);
    CHECK_NEAR(s[2], 0.95, 1e-3);          /* sign does not matter */
    CHECK_NEAR(s[3], erf(2 / sqrt(2)), 1e-6); /* max: 0.9545 */
    CHECK_NEAR(s[4], 0.0, 0);               /* all NaN */
    CHECK_NEAR(s[5], 1.0, 1e-7);
    CHECK_NEAR(s[6], 0.9973, 1e-4);         /* 3 sigma */
    for (size_t i = 0; i < 7; i++)
        CHECK(s[i] >= 0 && s[i] <= 1);

    score_rows("{\"fields\": [\"a\", \"b\"], \"combine\": \"mean\", \"method\": \"zscore\"}", rows, 7, s);
    CHECK_NEAR(s[1], 0.95, 1e-3);           /* NaN ignored, not counted */
    CHECK_NEAR(s[3], (erf(1 / sqrt(2)) + erf(2 / sqrt(2))) / 2, 1e-6);
    CHECK_NEAR(s[4], 0.0, 0);
    CHECK_NEAR(s[6], (erf(3 / sqrt(2)) + erf(0.5 / sqrt(2))) / 2, 1e-6);
}

/* The ensemble: inputs are scores, clamped to [0,1], NaN ignored. */
static void test_ensemble(void)
{
    static const float rows[][2] = {
        {0.2f, 0.9f}, {0.7f, NAN}, {NAN, NAN}, {1.5f, -0.5f}, {-INFINITY, 0.3f},
    };
    float s[5];
    score_rows("{\"fields\": [\"a\", \"b\"], \"method\": \"scores\"}", rows, 5, s);
    CHECK_NEAR(s[0], 0.9, 1e-7);
    CHECK_NEAR(s[1], 0.7, 1e-7);
    CHECK_NEAR(s[2], 0.0, 0);
    CHECK_NEAR(s[3], 1.0, 0);
    CHECK_NEAR(s[4], 0.3, 1e-7);
    score_rows("{\"fields\": [\"a\", \"b\"], \"method\": \"scores\", \"combine\": \"mean\"}",
               rows, 5, s);
    CHECK_NEAR(s[0], 0.55, 1e-7);
    CHECK_NEAR(s[3], 0.5, 1e-7);
    CHECK_NEAR(s[4], 0.15, 1e-7);
}

/* A record with no usable input scores 0 flagged as no evidence (a
 * threshold then skips it); one with an input does not; a dead record is
 * left alone. */
static void test_no_input_and_dead(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int a = h_feature(&p, "a", 0);
    CHECK(h_build(&h, &weir_op_score, "{\"fields\": \"a\", \"out\": \"s\"}", &p, 1) == 0);
    int oc = weir_schema_find_feature(&p.schema, "s");
    struct weir_batch_pool *pool = h_pool(&p, 4);
    struct weir_batch *b = weir_batch_get(pool);
    h_push_value(b, a, NAN);
    h_push_value(b, a, 2.0f);
    h_push_value(b, a, 2.0f);
    weir_batch_kill(b, 2, "test");
    h.type->process(&h.op, b);
    CHECK(weir_batch_row(b, 0)[oc] == 0 && (b->rec[0].flags & WEIR_REC_WARMUP) &&
          (b->rec[0].warm_cols & weir_schema_feature_deps(&p.schema, oc)));
    CHECK(!(b->rec[1].flags & WEIR_REC_WARMUP) && b->rec[1].warm_cols == 0);
    CHECK_NEAR(weir_batch_row(b, 1)[oc], erf(2 / sqrt(2)), 1e-6);
    CHECK(isnan(weir_batch_row(b, 2)[oc]));
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_score, (const char *const[]){"amount_z", NULL}, 2, json, want);
}

static void test_prepare_errors(void)
{
    expect_error("{\"fields\": [\"amount\"]}",
                 "test.json: operators[2].fields[0]: unknown feature \"amount\" (did you mean "
                 "\"amount_z\"?)");
    expect_error("{\"fields\": \"amount_z\", \"combine\": \"min\"}",
                 "test.json: operators[2].combine: expected \"max\" or \"mean\", got \"min\"");
    expect_error("{\"fields\": \"amount_z\", \"method\": \"reconstruction_error\"}",
                 "test.json: operators[2].method: expected \"zscore\" or \"scores\", got \"reconstruction_error\"");
    expect_error("{\"fields\": \"amount_z\", \"out\": \"amount_z\"}",
                 "test.json: operators[2].out: feature \"amount_z\" is already written by "
                 "operators[0]");
    expect_error("{\"fields\": []}",
                 "test.json: operators[2].fields: expected a string or a non-empty array of "
                 "strings, got []");
    expect_error("{\"method\": \"zscore\"}",
                 "test.json: operators[2]: missing required option \"fields\"");
}

int main(void)
{
    test_ensemble();
    test_values();
    test_no_input_and_dead();
    test_prepare_errors();
    return check_summary();
}
