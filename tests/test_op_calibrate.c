/* Tests for the calibrate operator: ranks against a brute force over the
 * key's last `window` learned scores (ties, repeats, a window that wraps
 * many times), warm-up, records flagged upstream ranked but not learned,
 * NaN, dead records, "by", snapshot/restore continuity, and prepare errors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/buf.h"
#include "engine/opstate.h"
#include "tests/check.h"
#include "tests/keyed_split.h"
#include "tests/op_harness.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_calibrate;

/* A score stream with ties (quantised), zeros (a scorer's hold), NaN, and
 * records flagged as warming up upstream. */
struct stream {
    float x[5000];
    int flagged[5000];
    size_t n;
};

static void make_stream(struct stream *s, size_t n)
{
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        double u = uniform();
        s->x[i] = u < 0.5 ? 0.0f : u < 0.52 ? NAN : (float)(floor(uniform() * 40) / 40);
        s->flagged[i] = i < 30 || uniform() < 0.05;
    }
}

/* Output t by brute force: the share of the last `window` learned scores
 * (finite, not flagged, before t) below x[t]; 0 while fewer than warmup. */
static double brute(const struct stream *s, size_t t, size_t window, size_t warmup, int *warm)
{
    size_t held = 0, lower = 0;
    for (size_t j = t; j-- > 0 && held < window;) {
        if (s->flagged[j] || !isfinite(s->x[j]))
            continue;
        held++;
        lower += s->x[j] < s->x[t];
    }
    *warm = held < warmup;
    return *warm ? 0.0 : (double)lower / (double)held;
}

/* Runs s through h in batches of `cap` (a dead record with a wild score
 * every 37th slot); out gets each output, warm each record's flag after. */
static void run_stream(struct h_op *h, struct weir_batch_pool *pool, int in, int outc,
                       const struct stream *s, size_t from, size_t to, float *out, int *warm)
{
    size_t k = from;
    while (k < to) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        int slot_of[512];
        while (k < to && b->n < b->cap) {
            if (b->n % 37 == 36) {
                int d = h_push_value(b, in, 1e9f);
                weir_batch_kill(b, (uint32_t)d, "test");
                continue;
            }
            slot_of[k - first] = h_push_value(b, in, s->x[k]);
            if (s->flagged[k])
                b->rec[slot_of[k - first]].flags |= WEIR_REC_WARMUP,
                    b->rec[slot_of[k - first]].warm_cols = ~0ull; /* every score upstream */
            k++;
        }
        CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < k; j++) {
            out[j] = weir_batch_row(b, (uint32_t)slot_of[j - first])[outc];
            warm[j] = !!(b->rec[slot_of[j - first]].flags & WEIR_REC_WARMUP);
        }
        weir_batch_put(b);
    }
}

static void test_against_brute(size_t window, size_t warmup)
{
    static struct stream s;
    make_stream(&s, 5000);
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "score", 0);
    char conf[128];
    snprintf(conf, sizeof conf, "{\"fields\": \"score\", \"window\": %zu, \"warmup\": %zu}", window,
             warmup);
    CHECK(h_build(&h, &weir_op_calibrate, conf, &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, "score_cal"); /* the default suffix */
    CHECK(outc >= 0 && p.schema.feat[outc].emit == 1);
    struct weir_batch_pool *pool = h_pool(&p, 200);
    static float out[5000];
    static int warm[5000];
    run_stream(&h, pool, in, outc, &s, 0, s.n, out, warm);
    size_t bad = 0, ranked = 0;
    for (size_t t = 0; t < s.n; t++) {
        int want_warm;
        double want = brute(&s, t, window, warmup, &want_warm);
        int want_flag = s.flagged[t] || (isfinite(s.x[t]) && want_warm);
        int ok = warm[t] == want_flag && (isfinite(s.x[t]) ? out[t] == (float)want : isnan(out[t]));
        ranked += isfinite(s.x[t]) && !want_warm;
        if (!ok && bad++ < 5)
            fprintf(stderr, "window %zu row %zu: x %g out %.9g warm %d, want %.9g warm %d\n",
                    window, t, s.x[t], out[t], warm[t], want, s.flagged[t] || want_warm);
    }
    CHECK(bad == 0);
    CHECK(ranked > s.n / 3);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A rise above everything seen ranks 1; the lowest, 0; the middle, its share. */
static void test_values(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "s", 0);
    const char *conf = "{\"fields\": [\"s\"], \"suffix\": \"_p\", \"window\": 4, \"warmup\": 4}";
    CHECK(h_build(&h, &weir_op_calibrate, conf, &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, "s_p");
    struct weir_batch_pool *pool = h_pool(&p, 16);
    struct weir_batch *b = weir_batch_get(pool);
    const float v[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.9f, 0.0f, 0.35f, 0.2f, 0.2f};
    for (size_t i = 0; i < 9; i++)
        h_push_value(b, in, v[i]);
    h.type->process(&h.op, b);
    /* held before each: -, -, -, -, {.1 .2 .3 .4}, {.2 .3 .4 .9}, {.3 .4 .9 0},
     * {.4 .9 0 .35}, {.9 0 .35 .2} */
    const float want[] = {0, 0, 0, 0, 1.0f, 0.0f, 0.5f, 0.25f, 0.25f};
    for (uint32_t i = 0; i < 9; i++) {
        CHECK(weir_batch_row(b, i)[outc] == want[i]);
        CHECK(!!(b->rec[i].flags & WEIR_REC_WARMUP) == (i < 4));
    }
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A window under the default warm-up (100) without "warmup": the default
 * comes down to the window (it was refused, naming "warmup", which the
 * user had not written). */
static void test_short_window(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int in = h_feature(&p, "s", 0);
    CHECK(h_build(&h, &weir_op_calibrate, "{\"fields\": [\"s\"], \"window\": 4}", &p, 1) == 0);
    int outc = weir_schema_find_feature(&p.schema, "s_cal");
    struct weir_batch_pool *pool = h_pool(&p, 16);
    struct weir_batch *b = weir_batch_get(pool);
    for (size_t i = 0; i < 6; i++)
        h_push_value(b, in, (float)i);
    h.type->process(&h.op, b);
    for (uint32_t i = 0; i < 6; i++)
        CHECK(!!(b->rec[i].flags & WEIR_REC_WARMUP) == (i < 4));
    CHECK(weir_batch_row(b, 4)[outc] == 1.0f);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* "by": each key's outputs equal a run over that key's records alone. */
static void test_by_key(void)
{
    enum { N = 900 };
    int key[N];
    float x[N];
    for (size_t i = 0; i < N; i++) {
        key[i] = (int)(uniform() * 3);
        x[i] = (float)(key[i] + uniform()); /* the keys' scores do not overlap */
    }
    const char *conf = "{\"fields\": \"v\", \"by\": \"host\", \"window\": 50, \"warmup\": 5}";
    CHECK(keyed_split_differences(&weir_op_calibrate, conf, "v_cal", key, x, N) == 0);
}

/* Part of the stream, snapshot, a fresh instance restores and does the
 * rest: the same outputs, bit for bit, as one uninterrupted run. */
static void test_snapshot(void)
{
    static struct stream s;
    make_stream(&s, 3000);
    struct h_pipe p;
    struct h_op a, b, c, other;
    h_pipe_init(&p);
    int in = h_feature(&p, "score", 0);
    const char *conf = "{\"fields\": \"score\", \"window\": 300, \"warmup\": 20}";
    CHECK(h_build(&a, &weir_op_calibrate, conf, &p, 1) == 0);
    CHECK(h_clone(&b, &a) == 0 && h_clone(&c, &a) == 0);
    int outc = weir_schema_find_feature(&p.schema, "score_cal");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    static float whole[3000], split[3000];
    static int warm[3000];
    size_t half = 1613;
    run_stream(&a, pool, in, outc, &s, 0, s.n, whole, warm);
    run_stream(&b, pool, in, outc, &s, 0, half, split, warm);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&b.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
    run_stream(&c, pool, in, outc, &s, half, s.n, split, warm);
    CHECK(memcmp(whole, split, sizeof whole) == 0);
    /* another window is another layout: refused */
    const char *other_conf =
        "{\"fields\": \"score\", \"suffix\": \"_o\", \"window\": 301, \"warmup\": 20}";
    CHECK(h_build(&other, &weir_op_calibrate, other_conf, &p, 2) == 0);
    CHECK(weir_op_restore(&other.op, 0, buf.data, buf.len) == -EINVAL);
    weir_buf_free(&buf);
    weir_batch_pool_free(pool);
    h_free(&other);
    h_free_clone(&b);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    static const char *const features[] = {"s", "t", "t_cal", NULL};
    h_expect_prepare_error(&weir_op_calibrate, features, 1, json, want);
}

static void test_prepare_errors(void)
{
    expect_error("{\"fields\": \"s\", \"window\": 10, \"warmup\": 11}",
                 "test.json: operators[1].warmup: expected at most \"window\" (10), got 11");
    expect_error("{\"fields\": \"s\", \"window\": 0}",
                 "test.json: operators[1].window: expected a positive integer up to 65536, got 0");
    expect_error("{\"fields\": \"s\", \"window\": 70000}",
                 "test.json: operators[1].window: expected a positive integer up to 65536, got "
                 "70000");
    expect_error("{\"fields\": \"s\", \"suffix\": \"\"}",
                 "test.json: operators[1].suffix: expected a non-empty string, got \"\"");
    char long_suffix[300];
    snprintf(long_suffix, sizeof long_suffix, "{\"fields\": \"s\", \"suffix\": \"%0200d\"}", 0);
    expect_error(long_suffix, "test.json: operators[1].suffix: expected a suffix giving names "
                              "under 160 bytes");
    expect_error("{\"fields\": \"t\"}",
                 "test.json: operators[1].suffix: feature \"t_cal\" is already written by "
                 "operators[0]");
    expect_error("{\"fields\": \"x\"}",
                 "test.json: operators[1].fields: unknown feature \"x\" (did you mean \"s\"?)");
    expect_error("{}", "test.json: operators[1]: missing required option \"fields\"");
}

int main(void)
{
    test_values();
    test_against_brute(1, 1);
    test_against_brute(7, 3);
    test_against_brute(250, 100);
    test_against_brute(6000, 100); /* never full */
    test_by_key();
    test_snapshot();
    test_prepare_errors();
    test_short_window();
    return check_summary();
}
