/* Tests for forecast (Holt-Winters residual scorer): every score and
 * expected range equals a plain reference recursion; a spike and a missing
 * daily peak score high with a season, and the missing peak does not
 * without one; side; warm-up flags; NaN neither scored nor learned; a
 * trend is followed (the expected range closes in on a ramp); per key
 * equals each key alone; hold; a constant series; prepare errors; clip:
 * no echo of a spike a day later, a level shift still learned. */
#include <math.h>
#include <stdlib.h>

#include "tests/check.h"
#include "tests/op_harness.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_forecast;


enum { N = 4000, STEP_MS = 300000, BUCKETS = 288 };
static float x[N], s1[N], s2[N], lo[N], hi[N];
static int64_t ts[N];
static int key[N];
static unsigned char w1[N];

/* The reference: HW additive with phase offsets by time of day. */
static void reference(const float *v, size_t n, double alpha, double beta, double gamma,
                      int season, int window, int warmup, double *score, double *flo,
                      double *fhi)
{
    double level = 0, trend = 0, var = 0, off[BUCKETS] = {0};
    int seen_phase[BUCKETS] = {0};
    long seen = 0, res = 0;
    for (size_t i = 0; i < n; i++) {
        score[i] = 0;
        flo[i] = fhi[i] = NAN;
        if (!isfinite(v[i]))
            continue;
        int p = (int)((ts[i] % 86400000) / STEP_MS);
        double x_learned = v[i];
        double sp = season && seen_phase[p] ? off[p] : 0;
        if (seen) {
            double f = level + trend + sp, r = v[i] - f, sc = sqrt(var);
            double learned = v[i];
            if (seen >= warmup) {
                double z = r / sc;
                score[i] = sc > 0 ? erf(fabs(z) / sqrt(2)) : (r != 0);
                flo[i] = f - 3 * sc;
                fhi[i] = f + 3 * sc;
                if (sc > 0) /* the default clip: 3 scales */
                    learned = f + (r > 3 * sc ? 3 * sc : r < -3 * sc ? -3 * sc : r);
            }
            long span = res < window ? res + 1 : window;
            var += (r * r - var) / (double)span;
            res++;
            double nl = alpha * (learned - sp) + (1 - alpha) * (level + trend);
            trend = beta * (nl - level) + (1 - beta) * trend;
            level = nl;
            x_learned = learned;
        } else {
            level = v[i];
        }
        if (season) {
            off[p] = seen_phase[p] ? gamma * (x_learned - level) + (1 - gamma) * off[p]
                                   : x_learned - level;
            seen_phase[p]++;
        }
        seen++;
    }
}

/* Runs x through a fresh forecast; keys as in test_op_iforest. */
static void run(const char *conf, int only, float *score, unsigned char *warm, int range)
{
    struct h_pipe p;
    struct h_op h;
    static const char *names[] = {"a", "b"};
    h_pipe_init(&p);
    h_feature(&p, "v", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int host = weir_schema_string_out(&pr, "host", "operators[0]");
    CHECK(h_build(&h, &weir_op_forecast, conf, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score");
    int lc = range ? weir_schema_find_feature(&p.schema, "v_lo") : -1;
    int hc = range ? weir_schema_find_feature(&p.schema, "v_hi") : -1;
    struct weir_batch_pool *pool = h_pool(&p, 64);
    for (size_t k = 0; k < N;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t at[64], m = 0;
        for (; k < N && b->n < b->cap; k++) {
            if (only >= 0 && key[k] != only)
                continue;
            int i = h_push_value(b, 0, x[k]);
            b->rec[i].ts_ms = ts[k];
            b->S[(size_t)i * b->nstr + (size_t)host] =
                (struct weir_str){names[key[k]], (uint32_t)strlen(names[key[k]])};
            at[m++] = k;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = 0; j < m; j++) {
            score[at[j]] = weir_batch_row(b, (uint32_t)j)[out];
            if (warm)
                warm[at[j]] = (b->rec[j].flags & WEIR_REC_WARMUP) != 0;
            if (range) {
                lo[at[j]] = weir_batch_row(b, (uint32_t)j)[lc];
                hi[at[j]] = weir_batch_row(b, (uint32_t)j)[hc];
            }
        }
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A daily wave with noise, 5-minute steps, a slow rise; a spike at 3000
 * and the daily crest flattened in 3600..3900. */
static void make_series(void)
{
    for (size_t i = 0; i < N; i++) {
        ts[i] = 1600000000000 + (int64_t)i * STEP_MS;
        double phase = 2 * M_PI * (double)(ts[i] % 86400000) / 86400000.0;
        x[i] = (float)(50 + 20 * sin(phase) + 0.002 * (double)i + 2 * (uniform() - 0.5));
    }
    x[3000] += 15;
    for (size_t i = 3600; i < 3900; i++) { /* the crest flattened */
        double phase = 2 * M_PI * (double)(ts[i] % 86400000) / 86400000.0;
        if (sin(phase) > 0.5)
            x[i] -= (float)(20 * (sin(phase) - 0.5));
    }
    x[200] = NAN;
}

static void test_reference(void)
{
    static double ref[N], rlo[N], rhi[N];
    run("{\"fields\": \"v\", \"alpha\": 0.2, \"beta\": 0.05, \"gamma\": 0.4, \"season\": \"1d\", "
        "\"window\": 100, \"warmup\": 40, \"range\": true}",
        -1, s1, w1, 1);
    reference(x, N, 0.2, 0.05, 0.4, 1, 100, 40, ref, rlo, rhi);
    size_t off = 0, nwarm = 0;
    for (size_t i = 0; i < N; i++) {
        off += fabs(s1[i] - ref[i]) > 1e-5;
        off += isnan(rlo[i]) ? !isnan(lo[i]) : fabs(lo[i] - rlo[i]) > 1e-3 * (1 + fabs(rlo[i]));
        off += isnan(rhi[i]) ? !isnan(hi[i]) : fabs(hi[i] - rhi[i]) > 1e-3 * (1 + fabs(rhi[i]));
        nwarm += w1[i];
    }
    CHECK(off == 0);
    CHECK(nwarm == 40 && w1[39] && !w1[40] && s1[200] == 0 && !w1[200]);
    CHECK(s1[3000] > 0.9999);
    /* a slow level: the flattened crest scores with a season, not without */
    run("{\"fields\": \"v\", \"alpha\": 0.02, \"season\": \"1d\", \"window\": 500}", -1, s1,
        NULL, 0);
    run("{\"fields\": \"v\", \"alpha\": 0.02, \"window\": 500}", -1, s2, NULL, 0);
    size_t hot = 0, hot_plain = 0, hot_before = 0;
    for (size_t i = 3600; i < 3900; i++) {
        hot += s1[i] > 0.99;
        hot_plain += s2[i] > 0.99;
    }
    for (size_t i = 1000; i < 2900; i++)
        hot_before += s1[i] > 0.99;
    printf("forecast: spike %.4f; crest records over 0.99: %zu with season, %zu without; %zu in "
           "1900 ordinary ones\n",
           s1[3000], hot, hot_plain, hot_before);
    CHECK(hot > 20 && hot_plain == 0 && hot_before < 20);
}

static void test_side(void)
{
    const char *up = "{\"fields\": \"v\", \"season\": \"1d\", \"side\": \"up\"}";
    const char *down = "{\"fields\": \"v\", \"season\": \"1d\", \"side\": \"down\"}";
    run(up, -1, s1, NULL, 0);
    run(down, -1, s2, NULL, 0);
    size_t both = 0;
    for (size_t i = 0; i < N; i++)
        both += s1[i] > 0 && s2[i] > 0;
    CHECK(both == 0 && s1[3000] > 0.999 && s2[3000] == 0);
}

/* beta follows a ramp: the expected range closes in on it. */
static void test_trend(void)
{
    for (size_t i = 0; i < N; i++)
        x[i] = (float)(3 * (double)i);
    run("{\"fields\": \"v\", \"alpha\": 0.5, \"beta\": 0.3, \"range\": true}", -1, s1, NULL, 1);
    CHECK(fabs(0.5 * (lo[N - 1] + hi[N - 1]) - x[N - 1]) < 0.5);
    run("{\"fields\": \"v\", \"alpha\": 0.5, \"range\": true}", -1, s1, NULL, 1);
    CHECK(fabs(0.5 * (lo[N - 1] + hi[N - 1]) - x[N - 1]) > 2); /* lags without a trend */
}

static void test_by_key_and_hold(void)
{
    static float alone[N];
    make_series();
    for (size_t i = 0; i < N; i++) {
        key[i] = uniform() < 0.3;
        x[i] += 100.0f * (float)key[i];
    }
    const char *conf = "{\"fields\": \"v\", \"by\": \"host\", \"season\": \"1d\", \"hold\": 20}";
    run(conf, -1, s1, NULL, 0);
    for (int k = 0; k < 2; k++)
        run(conf, k, alone, NULL, 0);
    size_t diff = 0;
    for (size_t i = 0; i < N; i++)
        diff += s1[i] != alone[i];
    CHECK(diff == 0);
    /* hold: a reported score beats the key's previous 20 raw scores, so two
     * reported ones of a key are never within 20 records of each other when
     * the later is lower */
    run("{\"fields\": \"v\", \"season\": \"1d\", \"hold\": 20}", 0, s2, NULL, 0);
    run("{\"fields\": \"v\", \"season\": \"1d\"}", 0, alone, NULL, 0);
    size_t bad = 0, held = 0, k0[N], n0 = 0;
    for (size_t i = 0; i < N; i++)
        if (key[i] == 0)
            k0[n0++] = i;
    for (size_t j = 0; j < n0; j++) {
        float prev = 0;
        for (size_t q = j >= 20 ? j - 20 : 0; q < j; q++)
            prev = alone[k0[q]] > prev ? alone[k0[q]] : prev;
        float want = alone[k0[j]] > prev ? alone[k0[j]] : 0;
        bad += s2[k0[j]] != want;
        held += want == 0 && alone[k0[j]] > 0;
    }
    CHECK(bad == 0 && held > 100);
}

/* A constant series scores 0 (no residual); its first change scores 1 (a
 * zero scale: any residual after exact forecasts); a single point only
 * warms up. */
static void test_constant(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = 7;
        key[i] = 0;
    }
    x[N - 1] = 7.5f;
    run("{\"fields\": \"v\", \"season\": \"1d\"}", -1, s1, w1, 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < N - 1; i++)
        nonzero += s1[i] != 0;
    CHECK(nonzero == 0 && s1[N - 1] == 1.0f && w1[0] && !w1[N - 1]);
    /* a gap of three days and times going backwards: scores stay in [0,1] */
    make_series();
    for (size_t i = 2000; i < N; i++)
        ts[i] += 3 * 86400000LL;
    ts[2500] -= 86400000LL;
    run("{\"fields\": \"v\", \"season\": \"1d\", \"beta\": 0.1}", -1, s1, NULL, 0);
    size_t outside = 0;
    for (size_t i = 0; i < N; i++)
        outside += !(s1[i] >= 0 && s1[i] <= 1);
    CHECK(outside == 0);
}

static float max_in(const float *v, size_t from, size_t to)
{
    float m = 0;
    for (size_t i = from; i < to; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

/* clip: a spike is scored, but its phase is ordinary again a day later
 * (learned whole, the season offset echoes it); a real level shift is
 * still learned: two days after it the scores are low again. Replaces the
 * series. */
static void test_clip(void)
{
    enum { DAY = 288, SPIKE = 3 * DAY + 100, SHIFT = 8 * DAY };
    for (size_t i = 0; i < N; i++) {
        ts[i] = 1600000000000 + (int64_t)i * STEP_MS;
        double phase = 2 * M_PI * (double)(ts[i] % 86400000) / 86400000.0;
        x[i] = (float)(50 + 20 * sin(phase) + 2 * (uniform() - 0.5) +
                       (i >= SPIKE && i < SPIKE + 4) * 60 + (i >= SHIFT) * 30);
        key[i] = 0;
    }
    const char *conf = "{\"fields\": \"v\", \"alpha\": 0.2, \"gamma\": 0.1, \"season\": "
                       "\"1d\", \"season_buckets\": 96, \"window\": 2048, \"mapping\": "
                       "\"ratio\", \"clip\": %d}";
    char buf[256];
    snprintf(buf, sizeof buf, conf, 3);
    run(buf, -1, s1, NULL, 0);
    snprintf(buf, sizeof buf, conf, 0);
    run(buf, -1, s2, NULL, 0);
    size_t echo = SPIKE + DAY, after = SHIFT + 2 * DAY;
    printf("forecast clip 3 (0): spike %.3f (%.3f), a day later %.3f (%.3f); day 2 after a "
           "shift %.3f (%.3f)\n",
           max_in(s1, SPIKE, SPIKE + 4), max_in(s2, SPIKE, SPIKE + 4), max_in(s1, echo, echo + 8),
           max_in(s2, echo, echo + 8), max_in(s1, after, after + DAY),
           max_in(s2, after, after + DAY));
    CHECK(max_in(s1, SPIKE, SPIKE + 4) > 0.99);
    CHECK(max_in(s2, echo, echo + 8) > 0.4); /* the echo this prevents */
    CHECK(max_in(s1, echo, echo + 8) < 0.2);
    CHECK(max_in(s1, after, after + DAY) < 0.5);
}

static void test_prepare_errors(void)
{
    const char *const feats[] = {"v", NULL};
    h_expect_prepare_error(&weir_op_forecast, feats, 1, "{\"fields\": [\"v\"], \"season\": 100}",
                           "test.json: operators[1].season: expected a period of at least "
                           "season_buckets (288) ms, got 100 ms");
    h_expect_prepare_error(&weir_op_forecast, feats, 1,
                           "{\"fields\": [\"v\"], \"range\": true, \"range_out\": [\"a\"]}",
                           "test.json: operators[1].range_out: expected 2 names (lo and hi per "
                           "input), got 1");
}

int main(void)
{
    rng = 5;
    make_series();
    test_reference();
    test_side();
    test_trend();
    test_by_key_and_hold();
    test_constant();
    test_prepare_errors();
    test_clip();
    return check_summary();
}
