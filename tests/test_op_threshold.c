/* Tests for the threshold operator: fixed thresholds, the running quantile
 * (P²) keeping the alert rate near 1 - q, warmup, NaN and dead records,
 * snapshot/restore continuity, and prepare errors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/buf.h"
#include "tests/check.h"
#include "tests/op_harness.h"
#include "engine/opstate.h"

extern const struct weir_operator_type weir_op_threshold;

/* xorshift64*: a fixed, portable stream of uniform numbers in [0,1). */
static double uniform(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* A threshold operator over a feature "anomaly_score" at operators[3]. */
static int build(struct h_op *h, struct h_pipe *p, const char *conf)
{
    h_pipe_init(p);
    h_feature(p, "anomaly_score", 2);
    return h_build(h, &weir_op_threshold, conf, p, 3);
}

/* Runs scores through h in batches of 500; alert[i] = 1 when record i alerted. */
static void run_scores(struct h_op *h, struct weir_batch_pool *pool, const float *s, size_t n,
                       unsigned char *alert)
{
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        while (k < n && b->n < b->cap)
            h_push_value(b, 0, s[k++]);
        CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < k; j++)
            alert[j] = (b->rec[j - first].flags & WEIR_REC_ALERT) != 0;
        weir_batch_put(b);
    }
}

static void test_fixed(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p, "{\"type\": \"threshold\", \"above\": 0.9, \"warmup\": 2}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    const float s[] = {NAN, 0.95f, 0.95f, 0.5f, 0.9f, 0.95f, NAN, 0.89f};
    unsigned char a[8];
    run_scores(&h, pool, s, 8, a);
    /* NaN is not a scored record, so the warmup covers the two 0.95s. */
    const unsigned char want[8] = {0, 0, 0, 0, 1, 1, 0, 0};
    CHECK(memcmp(a, want, sizeof want) == 0);

    /* Dead records are skipped and do not count toward the warmup. */
    struct h_op h2;
    CHECK(h_clone(&h2, &h) == 0);
    struct weir_batch *b = weir_batch_get(pool);
    for (int i = 0; i < 4; i++)
        h_push_value(b, 0, 1.0f);
    weir_batch_kill(b, 0, "x");
    weir_batch_kill(b, 1, "x");
    h2.type->process(&h2.op, b);
    CHECK(b->rec[0].flags == WEIR_REC_DEAD && b->rec[1].flags == WEIR_REC_DEAD);
    CHECK(!(b->rec[2].flags & WEIR_REC_ALERT) && !(b->rec[3].flags & WEIR_REC_ALERT));
    weir_batch_put(b);
    h_free_clone(&h2);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static float *uniform_scores(size_t n, uint64_t seed)
{
    float *s = malloc(n * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = (float)uniform(&seed);
    return s;
}

/* On uniform scores the alert rate after warmup is about 1 - q. */
static void test_quantile_rate(double q, double tol)
{
    struct h_pipe p;
    struct h_op h;
    char conf[128];
    snprintf(conf, sizeof conf, "{\"quantile\": %g}", q);
    CHECK(build(&h, &p, conf) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    const size_t n = 100000;
    float *s = uniform_scores(n, 0x9E3779B97F4A7C15ull);
    unsigned char *a = malloc(n);
    run_scores(&h, pool, s, n, a);
    size_t alerts = 0, early = 0;
    for (size_t i = 0; i < n; i++) {
        alerts += a[i];
        early += i < 100 && a[i];
    }
    double rate = (double)alerts / (double)(n - 100);
    printf("quantile %g: alert rate %.4f\n", q, rate);
    CHECK(early == 0); /* default warmup: 100 */
    CHECK_NEAR(rate, 1 - q, tol);
    free(s);
    free(a);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* One extreme score (1e30, or -1e30 on a signed score) among exponential
 * ones: the alert rate afterwards stays about 1 - q (it became 14 alerts in
 * 190,000 records, or 151,000, the markers dragged after it for good). */
static void test_quantile_outlier(double outlier)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p, "{\"quantile\": 0.99}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    const size_t n = 200000;
    float *s = malloc(n * sizeof *s);
    uint64_t seed = 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < n; i++)
        s[i] = (float)-log(1 - uniform(&seed));
    s[10000] = (float)outlier;
    unsigned char *a = malloc(n);
    run_scores(&h, pool, s, n, a);
    size_t alerts = 0;
    for (size_t i = 20000; i < n; i++)
        alerts += a[i];
    double rate = (double)alerts / (double)(n - 20000);
    printf("quantile 0.99 after a score of %g: alert rate %.4f\n", outlier, rate);
    CHECK_NEAR(rate, 0.01, 0.003);
    free(s);
    free(a);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Rising scores beat every earlier quantile: all alert, but only after warmup. */
static void test_quantile_warmup(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p, "{\"quantile\": 0.5, \"warmup\": 40}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    float s[120];
    unsigned char a[120];
    for (size_t i = 0; i < 120; i++)
        s[i] = (float)i;
    run_scores(&h, pool, s, 120, a);
    size_t before = 0, after = 0;
    for (size_t i = 0; i < 120; i++) {
        if (i < 40)
            before += a[i];
        else
            after += a[i];
    }
    CHECK(before == 0 && after == 80);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A flat series (all scores equal) must not alert on every record. */
static void test_quantile_ties(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p, "{\"quantile\": 0.99, \"warmup\": 0}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    float s[1000];
    unsigned char a[1000];
    for (size_t i = 0; i < 1000; i++)
        s[i] = 0.0f;
    run_scores(&h, pool, s, 1000, a);
    size_t alerts = 0;
    for (size_t i = 0; i < 1000; i++)
        alerts += a[i];
    CHECK(alerts == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A score that saturates (1.0 on record after record, as an erf or ratio
 * score does) stops alerting once the quantile has reached it: the P²
 * markers only approach 1.0, a few double ulps below, and the limit is
 * taken as a float, as the score is. */
static void test_quantile_saturated(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p, "{\"quantile\": 0.9, \"warmup\": 50}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    enum { N = 1200 };
    float s[N];
    unsigned char a[N];
    uint64_t r = 7;
    for (size_t i = 0; i < N; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        s[i] = i < 200 ? (float)((r >> 11) * 0x1p-53 * 0.5) : 1.0f;
    }
    run_scores(&h, pool, s, N, a);
    size_t late = 0;
    for (size_t i = N - 500; i < N; i++)
        late += a[i];
    CHECK(a[200] == 1); /* the first saturated record is above the 0.9 quantile */
    CHECK(late == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Split a run at a snapshot: the alerts match an uninterrupted run. */
static void test_snapshot(const char *conf, size_t cut)
{
    struct h_pipe p;
    struct h_op a, b, c;
    CHECK(build(&a, &p, conf) == 0);
    CHECK(h_clone(&b, &a) == 0 && h_clone(&c, &a) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 500);
    const size_t n = 20000;
    float *s = uniform_scores(n, 42);
    unsigned char *whole = malloc(n), *split = malloc(n);
    run_scores(&a, pool, s, n, whole);
    run_scores(&b, pool, s, cut, split);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&b.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
    run_scores(&c, pool, s + cut, n - cut, split + cut);
    CHECK(memcmp(whole, split, n) == 0);

    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len - 1) == -EINVAL);
    buf.data[1] ^= 0x40;
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == -EINVAL);
    buf.data[1] ^= 0x40;
    buf.data[4]++; /* format version */
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == -EINVAL);
    weir_buf_free(&buf);
    free(s);
    free(whole);
    free(split);
    weir_batch_pool_free(pool);
    h_free_clone(&b);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

/* A blob from another configuration does not restore. */
static void test_snapshot_mismatch(void)
{
    struct h_pipe p1, p2, p3;
    struct h_op fixed, q99, q95;
    CHECK(build(&fixed, &p1, "{\"above\": 0.5}") == 0);
    CHECK(build(&q99, &p2, "{\"quantile\": 0.99}") == 0);
    CHECK(build(&q95, &p3, "{\"quantile\": 0.95}") == 0);
    struct weir_buf f = {0}, q = {0};
    CHECK(weir_op_snapshot(&fixed.op, 0, &f) == 0);
    CHECK(weir_op_snapshot(&q99.op, 0, &q) == 0);
    CHECK(weir_op_restore(&q99.op, 0, f.data, f.len) == -EINVAL);
    CHECK(weir_op_restore(&fixed.op, 0, q.data, q.len) == -EINVAL);
    CHECK(weir_op_restore(&q95.op, 0, q.data, q.len) == -EINVAL);
    CHECK(weir_op_restore(&q99.op, 0, q.data, q.len) == 0);
    weir_buf_free(&f);
    weir_buf_free(&q);
    h_free(&fixed);
    h_free(&q99);
    h_free(&q95);
    h_pipe_free(&p1);
    h_pipe_free(&p2);
    h_pipe_free(&p3);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_threshold, (const char *const[]){"anomaly_score", NULL}, 3, json, want);
}

static void test_prepare_errors(void)
{
    expect_error("{\"type\": \"threshold\"}",
                 "test.json: operators[3]: expected exactly one of \"above\" or \"quantile\", "
                 "got neither");
    expect_error("{\"above\": 0.9, \"quantile\": 0.99}",
                 "test.json: operators[3]: expected exactly one of \"above\" or \"quantile\", "
                 "got both");
    expect_error("{\"quantile\": 1}",
                 "test.json: operators[3].quantile: expected a number in (0,1), got 1");
    expect_error("{\"above\": 0.9, \"warmup\": -1}",
                 "test.json: operators[3].warmup: expected a non-negative integer, got -1");
    expect_error("{\"above\": 0.9, \"score\": \"score\"}",
                 "test.json: operators[3].score: unknown feature \"score\"; earlier operators "
                 "write \"anomaly_score\"");
    expect_error("{\"above\": 0.9, \"qantile\": 0.9}",
                 "test.json: operators[3].qantile: unknown option (did you mean \"quantile\"?)");
    expect_error("{\"above\": 0.9, \"cooldown\": 100}",
                 "test.json: operators[3].cooldown: expected only with \"incidents\": true: "
                 "without it this option does nothing");
    expect_error("{\"above\": 0.9, \"incidents\": false, \"close_event\": true}",
                 "test.json: operators[3].close_event: expected only with \"incidents\": true: "
                 "without it this option does nothing");
    /* accepted, and no explanation was ever written */
    expect_error("{\"above\": 0.9, \"explain_out\": \"why\"}",
                 "test.json: operators[3].explain_out: expected only with \"explain\", "
                 "\"scorers\" or \"close_event\": without it this option does nothing");
    expect_error("{\"above\": 0.9, \"incidents\": true, \"explain_out\": \"why\"}",
                 "test.json: operators[3].explain_out: expected only with \"explain\", "
                 "\"scorers\" or \"close_event\": without it this option does nothing");
    expect_error("{\"above\": 0.9, \"explain_k\": 2}",
                 "test.json: operators[3].explain_k: expected only with \"explain\" or "
                 "\"scorers\": without it this option does nothing");
}

/* Runs s through h (batches of 7, so incidents span batches); warm[i] marks
 * the record warming up for every operator (weir_record_warming). alert[i] = 1 on alerts; text (optional) gets explanations. */
static void run_flagged(struct h_op *h, struct weir_batch_pool *pool, const float *s,
                        const unsigned char *warm, size_t n, unsigned char *alert, int explain_col,
                        char text[][256])
{
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        while (k < n && b->n < 7) {
            int i = h_push_value(b, 0, s[k]);
            if (warm && warm[k])
                b->rec[i].flags |= WEIR_REC_WARMUP, b->rec[i].warm_cols = ~0ull; /* upstream */
            k++;
        }
        CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < k; j++) {
            alert[j] = (b->rec[j - first].flags & WEIR_REC_ALERT) != 0;
            if (text) {
                const char *t = h_str(b, (uint32_t)(j - first), explain_col, text[j], 256);
                if (!t)
                    text[j][0] = 0;
            }
        }
        weir_batch_put(b);
    }
}

/* The incident rules written the obvious way, one record at a time. */
static void incidents_reference(const float *s, const unsigned char *warm, size_t n, float above,
                                float clear, int cooldown, int warmup, int close_event,
                                unsigned char *alert)
{
    int open = 0, cool = 0, scored = 0;
    for (size_t i = 0; i < n; i++) {
        alert[i] = 0;
        if (isnan(s[i]) || warm[i])
            continue;
        if (open) {
            if (s[i] < clear) {
                open = 0;
                cool = cooldown;
                alert[i] = (unsigned char)close_event;
            }
        } else if (cool > 0) {
            cool--;
        } else if (scored >= warmup && s[i] >= above) {
            open = 1;
            alert[i] = 1;
        }
        scored++;
    }
}

static void test_incidents(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p,
                "{\"above\": 0.9, \"incidents\": true, \"clear\": 0.5, \"cooldown\": 2, "
                "\"warmup\": 1}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    /* 0: warmup; 1 opens; 2-3 stay open (above clear); 4 closes; 5-6 cool
     * down (6 would open); 7 opens; NaN ignored; 9 closes; 10 flagged warm-up
     * does not count; 11 is the first of the new cool-down */
    const float s[] = {0.95f, 0.95f, 0.6f, 0.97f, 0.4f,  0.95f,
                       0.95f, 0.92f, NAN,  0.1f,  0.99f, 0.99f};
    const unsigned char warm[12] = {[10] = 1};
    unsigned char a[12];
    run_flagged(&h, pool, s, warm, 12, a, 0, NULL);
    const unsigned char want[12] = {0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    CHECK(memcmp(a, want, sizeof want) == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);

    /* random scores, NaN and warm-up flags against the reference */
    uint64_t seed = 99;
    for (int round = 0; round < 20; round++) {
        enum { N = 400 };
        float sc[N];
        unsigned char wf[N], got[N], ref[N];
        for (size_t i = 0; i < N; i++) {
            double u = uniform(&seed);
            sc[i] = u < 0.02 ? NAN : (float)uniform(&seed);
            wf[i] = i < 30 && uniform(&seed) < 0.7;
        }
        int cooldown = round % 4 * 3, close_event = round % 2, warmup = round % 3 * 5;
        char conf[256];
        snprintf(conf, sizeof conf,
                 "{\"above\": 0.8, \"incidents\": true, \"clear\": 0.3, \"cooldown\": %d, "
                 "\"warmup\": %d, \"close_event\": %s}",
                 cooldown, warmup, close_event ? "true" : "false");
        CHECK(build(&h, &p, conf) == 0);
        pool = h_pool(&p, 64);
        run_flagged(&h, pool, sc, wf, N, got, 0, NULL);
        incidents_reference(sc, wf, N, 0.8f, 0.3f, cooldown, warmup, close_event, ref);
        CHECK(memcmp(got, ref, N) == 0);
        weir_batch_pool_free(pool);
        h_free(&h);
        h_pipe_free(&p);
    }
}

/* Quantile mode with incidents: an incident opens when the score passes the
 * running quantile and closes on the first score back at or below it, so a
 * run of high scores is one alert; the closing record is an alert with
 * close_event and says so. */
static void test_quantile_incidents(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p,
                "{\"quantile\": 0.9, \"warmup\": 50, \"incidents\": true, \"close_event\": true, "
                "\"explain\": [\"anomaly_score\"]}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 600);
    enum { N = 600 };
    float s[N];
    unsigned char a[N];
    static char text[N][256];
    uint64_t seed = 5;
    for (int i = 0; i < N; i++)
        s[i] = (float)(0.5 * uniform(&seed));
    for (int i = 300; i < 310; i++) /* one burst: ten records far above */
        s[i] = 0.99f;
    s[299] = s[310] = 0; /* whatever was open before closes; the burst closes at 310 */
    run_flagged(&h, pool, s, NULL, N, a, 0, text);
    CHECK(a[300] && !a[301] && !a[309]);
    if (!a[300] || strncmp(text[300], "anomaly_score=0.99 > ", 21) != 0)
        fprintf(stderr, "record 300: %d \"%s\"; 310: %d \"%s\"\n", a[300], text[300], a[310],
                text[310]);
    CHECK(strncmp(text[300], "anomaly_score=0.99 > ", 21) == 0);
    CHECK(a[310] && strncmp(text[310], "incident closed: anomaly_score=", 31) == 0);
    CHECK(strstr(text[310], "peak 0.99") != NULL);
    CHECK(strstr(text[310], " not above the running quantile ") != NULL);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A score that prints like its level with six digits is written exactly:
 * the close just under clear 0.852 said "anomaly_score=0.852 below 0.852". */
static void test_explain_digits(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p,
                "{\"above\": 0.9, \"clear\": 0.852, \"warmup\": 0, \"incidents\": true, "
                "\"close_event\": true, \"explain\": [\"anomaly_score\"]}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    const float s[] = {0.95f, 0.85199994f, 0.95f};
    unsigned char a[3];
    static char text[3][256];
    run_flagged(&h, pool, s, NULL, 3, a, 0, text);
    CHECK(a[0] && strncmp(text[0], "anomaly_score=0.95 >= 0.9", 25) == 0);
    CHECK(a[1] &&
          strncmp(text[1], "incident closed: anomaly_score=0.85199994 below 0.852;", 54) == 0);
    if (!a[1] ||
        strncmp(text[1], "incident closed: anomaly_score=0.85199994 below 0.852;", 54) != 0)
        fprintf(stderr, "close: \"%s\"\n", text[1]);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* close_event without explain: the closing alert still says it closes (it
 * looked like a new incident's alert in an alerts sink). */
static void test_close_event_says_so(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p,
                "{\"above\": 0.9, \"warmup\": 0, \"incidents\": true, "
                "\"close_event\": true}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    const float s[] = {0.95f, 0.5f};
    unsigned char a[2];
    static char text[2][256];
    run_flagged(&h, pool, s, NULL, 2, a, 0, text);
    CHECK(a[0] && strcmp(text[0], "anomaly_score=0.95 >= 0.9") == 0);
    CHECK(a[1] && strncmp(text[1], "incident closed: anomaly_score=0.5 below 0.9;", 45) == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
    /* explain_out names the column the closing record's text goes to */
    CHECK(build(&h, &p,
                "{\"above\": 0.9, \"warmup\": 0, \"incidents\": true, "
                "\"close_event\": true, \"explain_out\": \"why\"}") == 0);
    CHECK(p.schema.nstr == 1 && strcmp(p.schema.str[0].name, "why") == 0);
    pool = h_pool(&p, 8);
    run_flagged(&h, pool, s, NULL, 2, a, 0, text);
    CHECK(a[1] && strncmp(text[1], "incident closed: anomaly_score=0.5 below 0.9;", 45) == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Quantile mode with clear: a quantile sunk below clear neither opens and
 * closes an incident on alternate records (it opened above the quantile
 * and closed below clear) nor closes one while the score is above it. */
static void test_quantile_clear(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p,
                "{\"quantile\": 0.9, \"warmup\": 50, \"incidents\": true, \"clear\": 0.5, "
                "\"close_event\": true, \"explain\": [\"anomaly_score\"]}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    enum { N = 400 };
    float s[N];
    unsigned char a[N];
    static char text[N][256];
    uint64_t seed = 8;
    for (int i = 0; i < N; i++) /* 0.9-quantile about 0.18, then a plateau at 0.3 */
        s[i] = i < 200 ? (float)(0.2 * uniform(&seed)) : i < 300 ? 0.3f : 0.0f;
    run_flagged(&h, pool, s, NULL, N, a, 0, text);
    int opened = 0, closed = 0;
    for (int i = 200; i < N; i++) {
        opened += a[i] && strncmp(text[i], "anomaly_score=0.3 > ", 20) == 0;
        closed += a[i] && strncmp(text[i], "incident closed: ", 17) == 0;
    }
    if (opened != 1 || closed != 1)
        fprintf(stderr, "quantile with clear: %d opened, %d closed\n", opened, closed);
    CHECK(opened == 1 && closed == 1); /* one incident for the plateau */
    CHECK(a[200] && !a[201]);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* The state a threshold of conf_a left after sa (na scores), restored into
 * one of conf_b, which then scores sb: alert[k] for each of sb. */
static void reload_run(const char *conf_a, const float *sa, size_t na, const char *conf_b,
                       const float *sb, size_t nb, unsigned char *alert)
{
    struct h_pipe pa, pb;
    struct h_op a, b;
    CHECK(build(&a, &pa, conf_a) == 0 && build(&b, &pb, conf_b) == 0);
    struct weir_batch_pool *pool = h_pool(&pa, 64);
    unsigned char ignored[16];
    run_flagged(&a, pool, sa, NULL, na, ignored, 0, NULL);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&a.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&b.op, 0, buf.data, buf.len) == 0);
    run_flagged(&b, pool, sb, NULL, nb, alert, 0, NULL);
    weir_buf_free(&buf);
    weir_batch_pool_free(pool);
    h_free(&a);
    h_free(&b);
    h_pipe_free(&pa);
    h_pipe_free(&pb);
}

/* A reload keeps the state (the layout does not depend on these options):
 * a shorter cooldown shortens the one running; incidents turned off end
 * the open one, so turned on again the next crossing is an alert. */
static void test_incident_reload(void)
{
    const char *long_cool = "{\"above\": 0.9, \"warmup\": 0, \"incidents\": true, "
                            "\"cooldown\": 100000}";
    const char *no_cool = "{\"above\": 0.9, \"warmup\": 0, \"incidents\": true}";
    const char *plain = "{\"above\": 0.9, \"warmup\": 0}";
    unsigned char a[4], b[4];
    reload_run(long_cool, (const float[]){0.95f, 0.1f}, 2, no_cool, (const float[]){0.95f}, 1, a);
    CHECK(a[0]);
    /* open, then off (a plain alert; a low score), then on again */
    reload_run(no_cool, (const float[]){0.95f}, 1, plain, (const float[]){0.95f, 0.1f}, 2, a);
    CHECK(a[0] && !a[1]);
    struct h_pipe pa, pb, pc;
    struct h_op on, off, again;
    CHECK(build(&on, &pa, no_cool) == 0 && build(&off, &pb, plain) == 0 &&
          build(&again, &pc, no_cool) == 0);
    struct weir_batch_pool *pool = h_pool(&pa, 64);
    struct weir_buf buf = {0}, buf2 = {0};
    run_flagged(&on, pool, (const float[]){0.95f}, NULL, 1, a, 0, NULL);
    CHECK(a[0] && weir_op_snapshot(&on.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&off.op, 0, buf.data, buf.len) == 0);
    run_flagged(&off, pool, (const float[]){0.1f}, NULL, 1, a, 0, NULL);
    CHECK(weir_op_snapshot(&off.op, 0, &buf2) == 0);
    CHECK(weir_op_restore(&again.op, 0, buf2.data, buf2.len) == 0);
    run_flagged(&again, pool, (const float[]){0.95f, 0.1f, 0.97f}, NULL, 3, b, 0, NULL);
    CHECK(b[0] && !b[1] && b[2]);
    weir_buf_free(&buf);
    weir_buf_free(&buf2);
    weir_batch_pool_free(pool);
    h_free(&on);
    h_free(&off);
    h_free(&again);
    h_pipe_free(&pa);
    h_pipe_free(&pb);
    h_pipe_free(&pc);
}

/* A threshold never learns from records flagged as warming up: with them
 * skipped, the warmup count starts at the first real score. */
static void test_warmup_chain(void)
{
    struct h_pipe p;
    struct h_op h;
    CHECK(build(&h, &p, "{\"quantile\": 0.5, \"warmup\": 3}") == 0);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    /* ten warm-up zeros would make 0 the median and any score an alert */
    float s[16];
    unsigned char warm[16], a[16];
    for (int i = 0; i < 16; i++) {
        s[i] = i < 10 ? 0.0f : 0.5f + 0.01f * (float)(i % 3);
        warm[i] = i < 10;
    }
    run_flagged(&h, pool, s, warm, 16, a, 0, NULL);
    for (int i = 0; i < 13; i++)
        CHECK(a[i] == 0); /* 10 flagged + 3 of the threshold's own warmup */
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_incidents();
    test_warmup_chain();
    test_quantile_incidents();
    test_explain_digits();
    test_close_event_says_so();
    test_quantile_clear();
    test_incident_reload();
    test_fixed();
    test_quantile_rate(0.99, 0.003);
    test_quantile_rate(0.9, 0.01);
    test_quantile_outlier(1e30);
    test_quantile_outlier(-1e30);
    test_quantile_warmup();
    test_quantile_ties();
    test_quantile_saturated();
    test_snapshot("{\"quantile\": 0.99}", 7777);
    test_snapshot("{\"quantile\": 0.9, \"warmup\": 10}", 3); /* cut before the markers exist */
    test_snapshot("{\"above\": 0.7, \"warmup\": 500}", 250); /* cut inside the warmup */
    test_snapshot_mismatch();
    test_prepare_errors();
    return check_summary();
}
