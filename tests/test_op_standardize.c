/* Tests for the standardize operator: running z-scores against a two-pass
 * reference on a real NAB series (each row against the rows before it, never
 * after), EWM against the direct weighted formula, warmup, NaN handling,
 * dead records, snapshot/restore continuity, and prepare errors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/buf.h"
#include "tests/check.h"
#include "tests/op_harness.h"
#include "engine/opstate.h"

extern const struct weir_operator_type weir_op_standardize;

/* The first of these that exists is used (the tests run from the repo root). */
static const char *const SERIES[] = {
    "../shared/data/nab/data/realKnownCause/machine_temperature_system_failure.csv",
    "../shared/data/nab/data/realAWSCloudwatch/ec2_cpu_utilization_24ae8d.csv",
    "../shared/data/nab/data/realAdExchange/exchange-2_cpc_results.csv", /* CRLF */
    "../shared/data/nab/data/realTraffic/speed_6005.csv",
};

/* Reads the `value` column of a NAB CSV (timestamp,value; LF or CRLF). The
 * values are rounded to float, as they would be in a batch. */
static float *load_series(size_t *n, const char **used)
{
    for (size_t s = 0; s < sizeof SERIES / sizeof SERIES[0]; s++) {
        FILE *f = fopen(SERIES[s], "r");
        if (!f)
            continue;
        size_t cap = 1024;
        float *v = malloc(cap * sizeof *v);
        char line[256];
        *n = 0;
        if (!fgets(line, sizeof line, f)) /* header */
            line[0] = '\0';
        while (v && fgets(line, sizeof line, f)) {
            char *comma = strrchr(line, ',');
            if (!comma)
                continue;
            if (*n == cap)
                v = realloc(v, (cap *= 2) * sizeof *v);
            if (v)
                v[(*n)++] = strtof(comma + 1, NULL); /* stops at "\r\n" */
        }
        fclose(f);
        *used = SERIES[s];
        return v;
    }
    return NULL;
}

/* Runs values through op in batches of `cap`, writing z to out. A dead
 * record with a wild value is slipped in every 37th slot: it must be skipped. */
static void run_series(struct h_op *h, struct weir_batch_pool *pool, int in, int outc,
                       const float *x, size_t n, float *out)
{
    size_t k = 0;
    while (k < n) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        int slot_of[512];
        while (k < n && b->n < b->cap) {
            if (b->n % 37 == 36) {
                int d = h_push_value(b, in, 1e9f);
                weir_batch_kill(b, (uint32_t)d, "test");
                continue;
            }
            slot_of[k - first] = h_push_value(b, in, x[k]);
            k++;
        }
        CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < k; j++)
            out[j] = weir_batch_row(b, (uint32_t)slot_of[j - first])[outc];
        for (uint32_t i = 36; i < b->n; i += 37)
            CHECK(isnan(weir_batch_row(b, i)[outc])); /* dead: untouched */
        weir_batch_put(b);
    }
}

/* z of row t against rows [0, t): two-pass mean and sample variance. */
static double ref_running(const float *x, size_t t, size_t warmup, double min_std)
{
    if (t < warmup)
        return 0.0;
    double mean = 0, ss = 0;
    for (size_t i = 0; i < t; i++)
        mean += x[i];
    mean /= (double)t;
    for (size_t i = 0; i < t; i++)
        ss += (x[i] - mean) * (x[i] - mean);
    double var = t > 1 ? ss / (double)(t - 1) : 0.0;
    double sd = sqrt(var) < min_std ? min_std : sqrt(var);
    return x[t] == mean ? 0.0 : (x[t] - mean) / sd;
}

/* The weight of the k-th record (1-based) when it arrives. */
static double ewm_a(size_t k, double alpha)
{
    return 1.0 / (double)k > alpha ? 1.0 / (double)k : alpha;
}

/* z of row t against rows [0, t) with EWM weights written out directly:
 * row i arrived with weight a_(i+1) = max(alpha, 1/(i+1)) and every later
 * row scaled it by (1 - a_k): w_i = a_(i+1) * prod_(k=i+2..t) (1 - a_k). */
static double ref_ewm(const float *x, size_t t, size_t warmup, double alpha, double min_std)
{
    if (t < warmup || t < 2)
        return 0.0;
    double mean = 0, var = 0, *w = malloc(t * sizeof *w);
    for (size_t i = 0; i < t; i++) {
        w[i] = ewm_a(i + 1, alpha);
        for (size_t k = i + 2; k <= t; k++)
            w[i] *= 1 - ewm_a(k, alpha);
        mean += w[i] * x[i];
    }
    for (size_t i = 0; i < t; i++)
        var += w[i] * (x[i] - mean) * (x[i] - mean);
    free(w);
    double sd = sqrt(var) < min_std ? min_std : sqrt(var);
    return (x[t] - mean) / sd;
}

static int close_rel(double got, double want)
{
    return fabs(got - want) <= 1e-4 * fabs(want) + 1e-6;
}

static void test_running(const float *x, size_t n)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "value", 0);
    CHECK(h_build(&h, &weir_op_standardize, "{\"type\": \"standardize\", \"fields\": \"value\"}",
                  &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, "value_z"); /* the default name */
    CHECK(outc >= 0 && p.schema.feat[outc].emit == 1);
    struct weir_batch_pool *pool = h_pool(&p, 256);
    float *z = malloc(n * sizeof *z);
    run_series(&h, pool, in, outc, x, n, z);
    size_t bad = 0;
    for (size_t t = 0; t < n; t++) {
        double want = ref_running(x, t, 30, 1e-9);
        if (!close_rel(z[t], want) && bad++ < 5)
            fprintf(stderr, "running row %zu: z %.9g, want %.9g\n", t, z[t], want);
    }
    CHECK(bad == 0);
    for (size_t t = 0; t < 30; t++)
        CHECK(z[t] == 0.0f); /* warmup */
    CHECK(z[30] != 0.0f);
    free(z);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_ewm(const float *x, size_t n)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "value", 0);
    CHECK(h_build(&h, &weir_op_standardize,
                  "{\"fields\": [\"value\"], \"out\": [\"vz\"], \"mode\": \"ewm\", "
                  "\"alpha\": 0.05, \"warmup\": 10}",
                  &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, "vz");
    struct weir_batch_pool *pool = h_pool(&p, 100);
    if (n > 600)
        n = 600; /* the reference is cubic */
    float *z = malloc(n * sizeof *z);
    run_series(&h, pool, in, outc, x, n, z);
    size_t bad = 0;
    for (size_t t = 0; t < n; t++) {
        double want = ref_ewm(x, t, 10, 0.05, 1e-9);
        if (!close_rel(z[t], want) && bad++ < 5)
            fprintf(stderr, "ewm row %zu: z %.9g, want %.9g\n", t, z[t], want);
    }
    CHECK(bad == 0);
    free(z);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* ewm's scale is the spread's from its first records: +-1 alternating has
 * a variance of 1, so after a warm-up of 30 at alpha 0.01 the next +-1 is a
 * z of about 1 (a fixed alpha from the start made it 2: a quarter of the
 * variance). One value is no spread: warmup 1 still waits for a second. */
static void test_ewm_start(void)
{
    struct h_pipe p;
    struct h_op h, one;
    h_pipe_init(&p);
    int in = h_feature(&p, "v", 0);
    CHECK(h_build(&h, &weir_op_standardize,
                  "{\"fields\": \"v\", \"mode\": \"ewm\", \"alpha\": 0.01, \"warmup\": 30}", &p,
                  1) == 0);
    CHECK(h_build(&one, &weir_op_standardize,
                  "{\"fields\": \"v\", \"out\": \"v1\", \"warmup\": 1}", &p, 2) == 0);
    int outc = weir_schema_find_feature(&p.schema, "v_z");
    int out1 = weir_schema_find_feature(&p.schema, "v1");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    struct weir_batch *b = weir_batch_get(pool);
    for (int i = 0; i < 40; i++)
        h_push_value(b, in, i % 2 ? -1.0f : 1.0f);
    h.type->process(&h.op, b);
    one.type->process(&one.op, b);
    for (uint32_t i = 30; i < 40; i++)
        CHECK(fabsf(weir_batch_row(b, i)[outc]) < 1.1f);
    CHECK(weir_batch_row(b, 1)[out1] == 0.0f && (b->rec[1].flags & WEIR_REC_WARMUP));
    CHECK_NEAR(weir_batch_row(b, 2)[out1], 1.0 / sqrt(2.0), 1e-6); /* 1 against {1, -1} */
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&one);
    h_free(&h);
    h_pipe_free(&p);
}

/* NaN in: NaN out, and the statistics do not move. */
static void test_nan(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "v", 0);
    CHECK(h_build(&h, &weir_op_standardize, "{\"fields\": \"v\", \"warmup\": 2}", &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, "v_z");
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const float in_v[] = {1, NAN, 3, INFINITY, 5};
    for (size_t i = 0; i < 5; i++)
        h_push_value(b, in, in_v[i]);
    h.type->process(&h.op, b);
    float *z[5];
    for (uint32_t i = 0; i < 5; i++)
        z[i] = &weir_batch_row(b, i)[outc];
    CHECK(*z[0] == 0.0f && isnan(*z[1]) && *z[2] == 0.0f && isnan(*z[3]));
    /* 5 against {1, 3}: mean 2, sample sd sqrt(2) */
    CHECK_NEAR(*z[4], 3.0 / sqrt(2.0), 1e-6);
    /* the warm-up's zeros are flagged as no evidence; missing values are not
     * flagged (their NaN already says so), scored ones neither */
    CHECK(b->rec[0].flags & WEIR_REC_WARMUP);
    CHECK(b->rec[2].flags & WEIR_REC_WARMUP);
    CHECK(!(b->rec[1].flags & WEIR_REC_WARMUP) && !(b->rec[4].flags & WEIR_REC_WARMUP));
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Half the series, snapshot, a fresh instance restores and does the rest:
 * the same outputs, bit for bit, as one uninterrupted run. */
static void test_snapshot(const float *x, size_t n, const char *conf)
{
    struct h_pipe p;
    struct h_op a, b, c;
    h_pipe_init(&p);
    int in = h_feature(&p, "value", 0);
    CHECK(h_build(&a, &weir_op_standardize, conf, &p, 1) == 0);
    CHECK(h_clone(&b, &a) == 0 && h_clone(&c, &a) == 0);
    int outc = weir_schema_find_feature(&p.schema, "value_z");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    float *whole = malloc(n * sizeof *whole), *split = malloc(n * sizeof *split);
    size_t half = n / 2 + 13;
    run_series(&a, pool, in, outc, x, n, whole);
    run_series(&b, pool, in, outc, x, half, split);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&b.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
    run_series(&c, pool, in, outc, x + half, n - half, split + half);
    CHECK(memcmp(whole, split, n * sizeof *whole) == 0);

    /* Bad blobs are refused and leave the state alone. */
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len - 1) == -EINVAL);
    buf.data[0] ^= 1;
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == -EINVAL);
    buf.data[0] ^= 1;
    buf.data[4] = 9; /* format version */
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == -EINVAL);
    weir_buf_free(&buf);
    free(whole);
    free(split);
    weir_batch_pool_free(pool);
    h_free_clone(&b);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

/* A snapshot of other inputs (or another mode) does not fit. */
static void test_snapshot_mismatch(void)
{
    struct h_pipe p;
    struct h_op a, b, e;
    h_pipe_init(&p);
    h_feature(&p, "u", 0);
    h_feature(&p, "v", 0);
    CHECK(h_build(&a, &weir_op_standardize, "{\"fields\": \"u\"}", &p, 1) == 0);
    CHECK(h_build(&b, &weir_op_standardize, "{\"fields\": \"v\"}", &p, 2) == 0);
    CHECK(h_build(&e, &weir_op_standardize, "{\"fields\": \"u\", \"out\": \"ue\", \"mode\": \"ewm\"}",
                  &p, 3) == 0);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&a.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&b.op, 0, buf.data, buf.len) == -EINVAL);
    CHECK(weir_op_restore(&e.op, 0, buf.data, buf.len) == -EINVAL);
    CHECK(weir_op_restore(&a.op, 0, buf.data, buf.len) == 0);
    weir_buf_free(&buf);
    h_free(&a);
    h_free(&b);
    h_free(&e);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_standardize, (const char *const[]){"value", "other", NULL}, 1, json, want);
}

static void test_prepare_errors(void)
{
    expect_error("{\"fields\": [\"value\"], \"out\": [\"a\", \"b\"]}",
                 "test.json: operators[1].out: expected 1 name (one per field), got 2");
    expect_error("{\"fields\": [\"valu\"]}",
                 "test.json: operators[1].fields[0]: unknown feature \"valu\" (did you mean "
                 "\"value\"?)");
    expect_error("{\"fields\": \"value\", \"alpha\": 0.1}",
                 "test.json: operators[1].alpha: expected only with \"mode\": \"ewm\", got "
                 "\"mode\": \"running\"");
    expect_error("{\"fields\": \"value\", \"mode\": \"ewm\", \"alpha\": 0}",
                 "test.json: operators[1].alpha: expected a number in (0,1], got 0");
    expect_error("{\"fields\": \"value\", \"warmup\": 0}",
                 "test.json: operators[1].warmup: expected a positive integer, got 0");
    expect_error("{\"fields\": \"value\", \"mode\": \"welford\"}",
                 "test.json: operators[1].mode: expected \"running\" or \"ewm\", got \"welford\"");
    expect_error("{\"fields\": [\"value\", \"other\"], \"out\": [\"z\", \"z\"]}",
                 "test.json: operators[1].out[1]: expected a name not used twice, got \"z\"");
    expect_error("{\"fields\": \"value\", \"out\": \"value\"}",
                 "test.json: operators[1].out: feature \"value\" is already written by "
                 "operators[0]");
    expect_error("{\"out\": \"x\"}", "test.json: operators[1]: missing required option \"fields\"");
}

int main(void)
{
    test_nan();
    test_ewm_start();
    test_snapshot_mismatch();
    test_prepare_errors();

    size_t n = 0;
    const char *used = NULL;
    float *x = load_series(&n, &used);
    if (!x || n < 1000) {
        fprintf(stderr, "no NAB series under ../shared/data/nab/data: series tests skipped\n");
        free(x);
        return check_failed ? check_summary() : 77;
    }
    printf("series: %s (%zu rows)\n", used, n);
    test_running(x, n);
    test_ewm(x, n);
    test_snapshot(x, n, "{\"fields\": \"value\"}");
    test_snapshot(x, n, "{\"fields\": \"value\", \"mode\": \"ewm\", \"alpha\": 0.02}");
    free(x);
    return check_summary();
}
