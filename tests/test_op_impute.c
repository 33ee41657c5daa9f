/* Tests for the impute operator: constant, last and mean per key against a
 * brute-force reference (each record against the earlier records of its
 * key), with NaN and ±Inf as missing, many keys, an absent key, dead records
 * skipped, the fallback value, snapshot/restore continuity, and prepare errors. */
#include "engine/buf.h"
#include "tests/check.h"
#include "tests/op_harness.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

extern const struct weir_operator_type weir_op_impute;

#define N     3000
#define NKEYS 37

static const char *key_name(int k, char *buf)
{
    if (k == NKEYS)
        return NULL; /* absent: the empty key */
    sprintf(buf, "card-%d", k);
    return buf;
}

/* What record t's output should be. */
static double reference(int method, double value, int has_value, const float *x, const int *key,
                        const int *dead, int t)
{
    if (isfinite(x[t]))
        return x[t];
    if (method == 0)
        return value;
    double sum = 0, last = NAN;
    int n = 0;
    for (int j = 0; j < t; j++) {
        if (dead[j] || key[j] != key[t] || !isfinite(x[j]))
            continue;
        n++;
        sum += x[j];
        last = x[j];
    }
    if (n == 0)
        return has_value ? value : NAN;
    return method == 1 ? last : sum / n;
}

static float x[N], got[N];
static int key[N], dead[N];
static char names[NKEYS + 1][32];

static void make_input(unsigned seed)
{
    const float specials[] = {NAN, INFINITY, -INFINITY};
    for (int t = 0; t < N; t++) {
        key[t] = rand_r(&seed) % (NKEYS + 1);
        x[t] = rand_r(&seed) % 3 == 0 ? specials[rand_r(&seed) % 3]
                                      : (float)(rand_r(&seed) % 10000) / 7.0f;
        dead[t] = t % 29 == 28;
    }
}

/* Records [from, to) through h in batches of random sizes; outputs to out. */
static void feed(struct h_op *h, struct weir_batch_pool *pool, int in, int card, int outc, int from,
                 int to, float *out)
{
    unsigned seed = (unsigned)from + 1;
    int t = from;
    while (t < to) {
        struct weir_batch *b = weir_batch_get(pool);
        int first = t;
        uint32_t want = 1 + (uint32_t)rand_r(&seed) % b->cap;
        for (; t < to && b->n < want; t++) {
            int i = h_push_value(b, in, x[t]);
            const char *k = key_name(key[t], names[key[t]]);
            b->S[(size_t)i * b->nstr + (size_t)card] =
                (struct weir_str){k, k ? (uint32_t)strlen(k) : 0};
            if (dead[t])
                weir_batch_kill(b, (uint32_t)i, "test");
        }
        CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
        for (int j = first; j < t; j++)
            out[j] = weir_batch_row(b, (uint32_t)(j - first))[outc];
        weir_batch_put(b);
    }
}

static void run(const char *json, int method, double value, int has_value)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "amount", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int card = weir_schema_string_out(&pr, "card", "operators[0]");
    CHECK(h_build(&h, &weir_op_impute, json, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "amount_imputed");
    CHECK(out >= 0);
    struct weir_batch_pool *pool = h_pool(&p, 128);
    feed(&h, pool, in, card, out, 0, N, got);
    size_t wrong = 0;
    for (int t = 0; t < N; t++) {
        if (dead[t]) {
            wrong += !isnan(got[t]);
            continue;
        }
        double want = reference(method, value, has_value, x, key, dead, t);
        int ok = (isnan(want) && isnan(got[t])) || fabs(got[t] - want) <= 1e-5 * fabs(want);
        if (!ok && wrong++ < 3)
            fprintf(stderr, "%s: record %d: got %g, want %g\n", json, t, got[t], want);
    }
    CHECK(wrong == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Half the records, a snapshot, a fresh instance restores it and does the
 * rest: the same outputs, bit for bit, as one run; another method's
 * snapshot does not fit. */
static void test_snapshot(void)
{
    struct h_pipe p;
    struct h_op a, b, c, other;
    h_pipe_init(&p);
    int in = h_feature(&p, "amount", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int card = weir_schema_string_out(&pr, "card", "operators[0]");
    CHECK(h_build(&a, &weir_op_impute,
                  "{\"fields\": \"amount\", \"method\": \"mean\", \"by\": \"card\"}", &p, 1) == 0);
    CHECK(h_clone(&b, &a) == 0 && h_clone(&c, &a) == 0);
    CHECK(
        h_build(
            &other, &weir_op_impute,
            "{\"fields\": \"amount\", \"method\": \"last\", \"by\": \"card\", \"suffix\": \"_l\"}",
            &p, 2) == 0);
    int outc = weir_schema_find_feature(&p.schema, "amount_imputed");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    static float whole[N], split[N];
    int half = N / 2 + 7;
    feed(&a, pool, in, card, outc, 0, N, whole);
    feed(&b, pool, in, card, outc, 0, half, split);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&b.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
    CHECK(weir_op_restore(&other.op, 0, buf.data, buf.len) == -EINVAL);
    feed(&c, pool, in, card, outc, half, N, split);
    CHECK(memcmp(whole, split, sizeof whole) == 0);
    weir_buf_free(&buf);
    weir_batch_pool_free(pool);
    h_free_clone(&b);
    h_free_clone(&c);
    h_free(&other);
    h_free(&a);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_impute, (const char *const[]){"amount", NULL}, 1, json, want);
}

int main(void)
{
    make_input(4242);
    test_snapshot();
    run("{\"fields\": \"amount\", \"value\": -1}", 0, -1, 1);
    run("{\"fields\": [\"amount\"], \"method\": \"last\", \"by\": \"card\"}", 1, 0, 0);
    run("{\"fields\": [\"amount\"], \"method\": \"last\", \"by\": \"card\", \"value\": 5}", 1, 5,
        1);
    run("{\"fields\": [\"amount\"], \"method\": \"mean\", \"by\": \"card\"}", 2, 0, 0);
    expect_error("{\"fields\": \"amount\", \"value\": -1e39}", /* an infinity as a float */
                 "test.json: operators[1].value: expected a number of magnitude at most 3.4e38 "
                 "(features are 32-bit floats), got -1e+39");
    run("{\"fields\": \"amount\", \"value\": 3.4028235e38}", 0, 3.4028235e38, 1); /* FLT_MAX */
    expect_error(
        "{\"fields\": \"amount\"}",
        "test.json: operators[1]: expected \"value\" with \"method\": \"constant\", got none");
    expect_error("{\"fields\": \"amount\", \"value\": 0, \"by\": \"card\"}",
                 "test.json: operators[1].by: expected only with \"method\": \"last\" or \"mean\", "
                 "got \"constant\"");
    expect_error(
        "{\"fields\": \"amount\", \"value\": 0, \"ttl\": \"1h\"}", /* no state */
        "test.json: operators[1].ttl: expected only with \"method\": \"last\" or \"mean\", "
        "got \"constant\"");
    expect_error("{\"fields\": \"amout\", \"method\": \"mean\"}",
                 "test.json: operators[1].fields: unknown feature \"amout\" (did you mean "
                 "\"amount\"?)");
    expect_error("{\"fields\": [\"amount\"], \"method\": \"median\"}",
                 "test.json: operators[1].method: expected \"constant\", \"last\" or \"mean\", got "
                 "\"median\"");
    return check_summary();
}
