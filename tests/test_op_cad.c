/* Tests for cad (contextual anomaly detector): the range period scores 0
 * and is flagged; a repeated pattern scores 0 once learned, a value beyond
 * the range and a known value out of its order score high; side; NaN is
 * neither scored nor learned; per key equals each key alone; hold; a small
 * table still learns a pattern after a long stretch of noise evicted it
 * (bounded state); a constant range period; prepare errors. */
#include <math.h>
#include <stdlib.h>

#include "tests/check.h"
#include "tests/op_harness.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_cad;

enum { N = 3000 };
static float x[N], s1[N], s2[N];
static int key[N];
static unsigned char w1[N];

/* Runs the first n of x through a fresh cad; only >= 0: that key's records. */
static void run(const char *conf, size_t n, int only, float *score, unsigned char *warm)
{
    struct h_pipe p;
    struct h_op h;
    static const char *names[] = {"a", "b"};
    h_pipe_init(&p);
    h_feature(&p, "v", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int host = weir_schema_string_out(&pr, "host", "operators[0]");
    CHECK(h_build(&h, &weir_op_cad, conf, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t at[64], m = 0;
        for (; k < n && b->n < b->cap; k++) {
            if (only >= 0 && key[k] != only)
                continue;
            int i = h_push_value(b, 0, x[k]);
            b->S[(size_t)i * b->nstr + (size_t)host] =
                (struct weir_str){names[key[k]], (uint32_t)strlen(names[key[k]])};
            at[m++] = k;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = 0; j < m; j++) {
            score[at[j]] = weir_batch_row(b, (uint32_t)j)[out];
            if (warm)
                warm[at[j]] = (b->rec[j].flags & WEIR_REC_WARMUP) != 0;
        }
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A pattern of period 12 with a little noise inside each bin. */
static const float pattern[12] = {10, 20, 30, 40, 50, 60, 70, 60, 50, 40, 30, 20};

static void make_pattern(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = pattern[i % 12] + (float)(uniform() - 0.5);
        key[i] = 0;
    }
}

static void test_pattern(void)
{
    const char *conf = "{\"fields\": \"v\", \"range_records\": 150}";
    make_pattern();
    x[2000] = 200;                     /* far beyond the range */
    x[2500] = pattern[(2500 + 6) % 12]; /* a known value, out of its order */
    run(conf, N, -1, s1, w1);
    size_t warm = 0, zero_range = 0, hot_learned = 0;
    for (size_t i = 0; i < N; i++)
        warm += w1[i];
    for (size_t i = 0; i < 150; i++)
        zero_range += s1[i] == 0;
    for (size_t i = 300; i < 1990; i++)
        hot_learned += s1[i] != 0;
    printf("cad: beyond the range %.3f, out of order %.3f; %zu of 1690 learned records "
           "nonzero\n",
           s1[2000], s1[2500], hot_learned);
    CHECK(warm == 150 && w1[149] && !w1[150] && zero_range == 150);
    CHECK(hot_learned == 0);
    CHECK(s1[2000] > 0.6 && s1[2500] > 0.3);
    for (size_t i = 0; i < N; i++)
        CHECK(s1[i] >= 0 && s1[i] <= 1);
}

/* side: a rise scores only with "up", a drop only with "down". */
static void test_side(void)
{
    make_pattern();
    x[2000] = 200;
    x[2400] = -100;
    run("{\"fields\": \"v\", \"side\": \"up\"}", N, -1, s1, NULL);
    run("{\"fields\": \"v\", \"side\": \"down\"}", N, -1, s2, NULL);
    CHECK(s1[2000] > 0.6 && s2[2000] == 0);
    CHECK(s2[2400] > 0.6 && s1[2400] == 0);
}

/* A NaN is neither scored nor learned: the scores of the others equal a
 * run without it. */
static void test_nan(void)
{
    static float with[N];
    make_pattern();
    x[2000] = 200;
    run("{\"fields\": \"v\"}", N - 1, -1, s1, NULL);
    memmove(x + 1001, x + 1000, (N - 1001) * sizeof *x);
    x[1000] = NAN;
    run("{\"fields\": \"v\"}", N, -1, with, NULL);
    size_t diff = 0;
    for (size_t i = 0; i < N - 1; i++)
        diff += s1[i] != with[i < 1000 ? i : i + 1];
    CHECK(with[1000] == 0 && diff == 0 && with[2001] > 0.6);
}

static void test_by_key_and_hold(void)
{
    static float alone[N];
    make_pattern();
    for (size_t i = 0; i < N; i++) {
        key[i] = uniform() < 0.4;
        x[i] = key[i] ? (float)(100 + 10 * gauss()) : x[i];
    }
    x[2000] = 500;
    key[2000] = 0;
    const char *conf = "{\"fields\": \"v\", \"by\": \"host\"}";
    run(conf, N, -1, s1, NULL);
    for (int k = 0; k < 2; k++)
        run(conf, N, k, alone, NULL);
    size_t diff = 0;
    for (size_t i = 0; i < N; i++)
        diff += s1[i] != alone[i];
    CHECK(diff == 0 && s1[2000] > 0.6);
    /* hold 30: after the spike, the key's next 30 records report nothing
     * lower than it; without hold they may */
    run("{\"fields\": \"v\", \"hold\": 30}", N, 1, s2, NULL);
    run("{\"fields\": \"v\"}", N, 1, alone, NULL);
    size_t bad = 0, k1[N], n1 = 0, held = 0;
    for (size_t i = 0; i < N; i++)
        if (key[i] == 1)
            k1[n1++] = i;
    for (size_t j = 0; j < n1; j++) {
        float prev = 0;
        for (size_t q = j >= 30 ? j - 30 : 0; q < j; q++)
            prev = alone[k1[q]] > prev ? alone[k1[q]] : prev;
        float want = alone[k1[j]] > prev ? alone[k1[j]] : 0;
        bad += s2[k1[j]] != want;
        held += want == 0 && alone[k1[j]] > 0;
    }
    CHECK(bad == 0 && held > 10);
}

/* A table of 16 left sides: noise fills it with contexts seen once, and a
 * pattern that follows still takes its places and is learned. */
static void test_bounded(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = i < 2000 ? (float)(100 * uniform()) : (float)(10 + 80 * (i % 2));
        key[i] = 0;
    }
    run("{\"fields\": \"v\", \"contexts\": 16, \"levels\": 1, \"order\": 2}", N, -1, s1, NULL);
    size_t hot = 0, outside = 0, noisy = 0;
    for (size_t i = 0; i < N; i++)
        outside += !(s1[i] >= 0 && s1[i] <= 1);
    for (size_t i = 200; i < 2000; i++)
        noisy += s1[i] > 0;
    for (size_t i = 2500; i < N; i++)
        hot += s1[i] != 0;
    CHECK(outside == 0 && noisy > 100 && hot == 0);
}

/* A constant range period (span taken as |value|): the constant scores 0,
 * a change scores. */
static void test_constant(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = 7;
        key[i] = 0;
    }
    x[N - 1] = 30;
    run("{\"fields\": \"v\"}", N, -1, s1, NULL);
    size_t nonzero = 0;
    for (size_t i = 0; i < N - 1; i++)
        nonzero += s1[i] != 0;
    CHECK(nonzero == 0 && s1[N - 1] > 0.6);
}

static void test_prepare_errors(void)
{
    const char *const feats[] = {"v", NULL};
    h_expect_prepare_error(&weir_op_cad, feats, 1, "{\"fields\": [\"v\"], \"bins\": 1}",
                           "test.json: operators[1].bins: expected an integer in [2,1024], got 1");
    h_expect_prepare_error(&weir_op_cad, feats, 1, "{\"fields\": [\"v\"], \"order\": 9}",
                           "test.json: operators[1].order: expected a positive integer up to 8, "
                           "got 9");
}

int main(void)
{
    rng = 11;
    test_pattern();
    test_side();
    test_nan();
    test_by_key_and_hold();
    test_bounded();
    test_constant();
    test_prepare_errors();
    return check_summary();
}
