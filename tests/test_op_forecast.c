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

/* A phase's last residual beyond the clip: its day, side, and whether it
 * repeated the day before (the reference's own bookkeeping). */
struct beyond {
    long day;
    int up, repeat;
};

/* The value learned at phase p (clip > 0, warm, scale sc > 0): clipped at
 * clip scales unless p was beyond the clip on the same side the day
 * before, or already repeated today; without a season, always clipped. */
static double ref_learned(double v, double f, double sc, double clip, int season,
                          struct beyond *b, long day)
{
    double r = v - f, lim = clip * sc;
    if (fabs(r) <= lim)
        return v;
    int up = r > 0;
    if (!season)
        return f + (up ? lim : -lim);
    int repeat = b->up == up && (b->day == day - 1 || (b->day == day && b->repeat));
    if (!(b->day == day && b->repeat && b->up == up))
        *b = (struct beyond){day, up, repeat};
    return repeat ? v : f + (up ? lim : -lim);
}

/* The reference: HW additive with phase offsets by time of day. */
static void reference(const float *v, size_t n, double alpha, double beta, double gamma,
                      int season, int buckets, int window, int warmup, double clip,
                      double *score, double *flo, double *fhi)
{
    double level = 0, trend = 0, var = 0, off[BUCKETS] = {0};
    int seen_phase[BUCKETS] = {0};
    struct beyond beyond[BUCKETS];
    for (int p = 0; p < BUCKETS; p++)
        beyond[p] = (struct beyond){-10, 0, 0};
    long seen = 0, res = 0;
    for (size_t i = 0; i < n; i++) {
        score[i] = 0;
        flo[i] = fhi[i] = NAN;
        if (!isfinite(v[i]))
            continue;
        int p = (int)((ts[i] % 86400000) * buckets / 86400000);
        double learned = v[i];
        double sp = season && seen_phase[p] ? off[p] : 0;
        if (seen) {
            double f = level + trend + sp, r = v[i] - f, sc = sqrt(var);
            if (seen >= warmup) {
                double z = r / sc;
                score[i] = sc > 0 ? erf(fabs(z) / sqrt(2)) : (r != 0);
                flo[i] = f - 3 * sc;
                fhi[i] = f + 3 * sc;
                if (clip > 0 && sc > 0 && (!season || seen_phase[p]))
                    learned = ref_learned(v[i], f, sc, clip, season, &beyond[p],
                                          (long)(ts[i] / 86400000));
            }
            long span = res < window ? res + 1 : window;
            var += (r * r - var) / (double)span;
            res++;
            double nl = alpha * (learned - sp) + (1 - alpha) * (level + trend);
            trend = beta * (nl - level) + (1 - beta) * trend;
            level = nl;
        } else {
            level = v[i];
        }
        if (season) {
            off[p] = seen_phase[p] ? gamma * (learned - level) + (1 - gamma) * off[p]
                                   : learned - level;
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

/* Records where the operator's score or range differs from the reference,
 * with the default clip (0) or with clip 3, with and without a season (of
 * `buckets` phases: with 96, three values a phase a day, so repeats within
 * a day happen); *clipped counts the values beyond the range. */
static size_t reference_mismatches(double clip, int season, int buckets, size_t *clipped)
{
    static double ref[N], rlo[N], rhi[N];
    char conf[256], with_season[96] = "";
    if (season) /* its options only with it */
        snprintf(with_season, sizeof with_season,
                 "\"season\": \"1d\", \"gamma\": 0.4, \"season_buckets\": %d, ", buckets);
    snprintf(conf, sizeof conf,
             "{\"fields\": \"v\", \"alpha\": 0.2, \"beta\": 0.05, %s"
             "\"window\": 100, \"warmup\": 40, \"range\": true, \"clip\": %g}",
             with_season, clip);
    run(conf, -1, s1, w1, 1);
    reference(x, N, 0.2, 0.05, 0.4, season, buckets, 100, 40, clip, ref, rlo, rhi);
    size_t off = 0;
    *clipped = 0;
    for (size_t i = 0; i < N; i++) {
        off += fabs(s1[i] - ref[i]) > 1e-5;
        off += isnan(rlo[i]) ? !isnan(lo[i]) : fabs(lo[i] - rlo[i]) > 1e-3 * (1 + fabs(rlo[i]));
        off += isnan(rhi[i]) ? !isnan(hi[i]) : fabs(hi[i] - rhi[i]) > 1e-3 * (1 + fabs(rhi[i]));
        *clipped += !isnan(rlo[i]) && (x[i] < rlo[i] || x[i] > rhi[i]);
    }
    return off;
}

static void test_reference(void)
{
    /* for the clip: outliers both ways, and a block at one time of day
     * on days 5..9, so that repeats happen (restored after) */
    static float saved[N];
    memcpy(saved, x, sizeof x);
    for (size_t i = 0; i < N; i++) {
        x[i] += (float)((i % 97 == 50) * (i % 2 ? 15 : -15));
        x[i] += (float)((i / 288 >= 5 && i / 288 < 10 && i % 288 >= 100 && i % 288 < 104) * 25);
    }
    size_t beyond;
    CHECK(reference_mismatches(3, 0, BUCKETS, &beyond) == 0);
    CHECK(reference_mismatches(3, 1, BUCKETS, &beyond) == 0);
    CHECK(beyond > 40); /* the clip was exercised */
    CHECK(reference_mismatches(3, 1, 96, &beyond) == 0);
    memcpy(x, saved, sizeof x);
    CHECK(reference_mismatches(0, 1, BUCKETS, &beyond) == 0); /* last: the checks below read s1 */
    size_t nwarm = 0;
    for (size_t i = 0; i < N; i++)
        nwarm += w1[i];
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

/* A value stuck after noise: the level settles a unit in the last place
 * from it, which is no residual (it scored 0.68 on every record, then 1 on
 * the next change as it should); a long flat stretch under the ratio
 * mapping: the scale decays to 0, and the next change still scores 1 (the
 * subnormal scale made it inf/inf: NaN, written as 0). */
static void test_flat_after_noise(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = i < 50 ? (float)(100 * (i % 2)) : 50.3575f;
        key[i] = 0;
        ts[i] = (int64_t)i * STEP_MS;
    }
    x[N - 1] = 51;
    run("{\"fields\": \"v\", \"alpha\": 0.2, \"window\": 16}", -1, s1, NULL, 0);
    size_t scored = 0;
    for (size_t i = 1000; i < N - 1; i++)
        scored += s1[i] >= 0.5f;
    CHECK(scored == 0 && s1[N - 1] == 1.0f);
    for (size_t i = 0; i < N; i++)
        x[i] = i < 40 ? (float)(i % 2) : 0;
    x[1070] = 1; /* 1030 zeros: the scale is subnormal (an exact 0 came later) */
    run("{\"fields\": \"v\", \"alpha\": 0.5, \"window\": 2, \"warmup\": 2, \"mapping\": "
        "\"ratio\"}",
        -1, s1, NULL, 0);
    CHECK(s1[1070] == 1.0f);
}

static float max_in(const float *v, size_t from, size_t to)
{
    float m = 0;
    for (size_t i = from; i < to; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

enum { DAY = 288, SPIKE = 3 * DAY + 100, JOB_DAY = 4, JOB_K = 198, SHIFT = 8 * DAY };

/* A daily wave (noise 2 wide): a 4-value spike of `spike` on day 3; with
 * `job`, from day 4 on a daily job (the hour from k = 198, four whole
 * phases, 30 higher every day); else every value 30 higher from day 8. */
static void clip_series(double spike, int job)
{
    for (size_t i = 0; i < N; i++) {
        ts[i] = 1600000000000 + (int64_t)i * STEP_MS;
        double phase = 2 * M_PI * (double)(ts[i] % 86400000) / 86400000.0;
        size_t k = i % DAY;
        x[i] = (float)(50 + 20 * sin(phase) + 2 * (uniform() - 0.5) +
                       (i >= SPIKE && i < SPIKE + 4) * spike);
        if (job)
            x[i] += (float)((i >= JOB_DAY * DAY && k >= JOB_K && k < JOB_K + 12) * 30);
        else
            x[i] += (float)((i >= SHIFT) * 30);
        key[i] = 0;
    }
}

static void clip_run(int clip, float *out)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"fields\": \"v\", \"alpha\": 0.2, \"gamma\": 0.1, \"season\": \"1d\", "
             "\"season_buckets\": 96, \"window\": 2048, \"mapping\": \"ratio\", \"clip\": %d}",
             clip);
    run(buf, -1, out, NULL, 0);
}

static float job_top(const float *v, int day)
{
    return max_in(v, (size_t)(day * DAY + JOB_K), (size_t)(day * DAY + JOB_K + 12));
}

/* clip: a spike (or a dip) is scored, but its phase is ordinary again a
 * day later (learned whole, the season offset echoes it); a daily job that
 * starts is a repeat, learned whole from its second day, so it stops
 * scoring as fast as without the clip; a level shift is still learned.
 * Replaces the series. */
static void test_clip(void)
{
    static float dip[N], shift0[N];
    size_t echo = SPIKE + DAY, after = SHIFT + 2 * DAY;
    clip_series(60, 1);
    clip_run(3, s1);
    clip_run(0, s2);
    clip_series(-60, 0);
    clip_run(3, dip);
    clip_run(0, shift0);
    printf("forecast clip 3 (0): spike %.3f (%.3f), a day later %.3f (%.3f), after a dip %.3f; "
           "a new daily job on days 4, 5, 8: %.3f %.3f %.3f (%.3f %.3f %.3f); day 2 after a "
           "shift %.3f (%.3f)\n",
           max_in(s1, SPIKE, SPIKE + 4), max_in(s2, SPIKE, SPIKE + 4), max_in(s1, echo, echo + 8),
           max_in(s2, echo, echo + 8), max_in(dip, echo, echo + 8), job_top(s1, 4),
           job_top(s1, 5), job_top(s1, 8), job_top(s2, 4), job_top(s2, 5), job_top(s2, 8),
           max_in(dip, after, after + DAY), max_in(shift0, after, after + DAY));
    CHECK(max_in(s1, SPIKE, SPIKE + 4) > 0.99);
    CHECK(max_in(dip, SPIKE, SPIKE + 4) > 0.99);
    CHECK(max_in(s2, echo, echo + 8) > 0.4); /* the echo this prevents */
    CHECK(max_in(s1, echo, echo + 8) < 0.2);
    CHECK(max_in(dip, echo, echo + 8) < 0.2);
    CHECK(job_top(s1, 4) > 0.8);
    /* as slowly as without the clip: gamma 0.1 takes a phase's new level in
     * at about a quarter a day, clipped or not */
    CHECK(job_top(s1, 8) <= job_top(s2, 8) + 0.05);
    CHECK(max_in(dip, after, after + DAY) < 0.5);
}

/* Edges: with clip, a value within a rounding of the forecast (its
 * residual read as 0) is still learned as it is (the level stayed at 1e7
 * under a run of 1e7 + 1, and 1e7 + 3 then scored 1 at scale 0); a
 * seasonal offset beyond a float is not learned (it was stored as an
 * infinity: every forecast NaN from the next visit of that phase on); with
 * a season, a record without an event time is missing, as a NaN (it was
 * learned without its phase's offset, moving the level). Replaces the
 * series. */
static void test_float_edges(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = i < 100 ? 1e7f : i < N - 1 ? 1e7f + 1 : 1e7f + 3;
        key[i] = 0;
        ts[i] = (int64_t)i * STEP_MS;
    }
    run("{\"fields\": \"v\", \"clip\": 3, \"warmup\": 5}", -1, s1, NULL, 0);
    CHECK(max_in(s1, 0, N) == 0); /* 0 without the clip too */
    for (size_t i = 0; i < N; i++) {
        x[i] = i == 0 ? -3e38f : i == 1 ? 3e38f : 1;
        ts[i] = (int64_t)i * 3600000; /* an hour a phase: record 1 opens a new one */
    }
    run("{\"fields\": \"v\", \"season\": \"1d\", \"season_buckets\": 24, \"alpha\": 0.1, "
        "\"beta\": 0, \"warmup\": 2, \"range\": true}",
        -1, s1, NULL, 1);
    size_t nan = 0;
    for (size_t i = 2; i < N; i++)
        nan += isnan(lo[i]) || isnan(hi[i]) || !(s1[i] >= 0 && s1[i] <= 1);
    CHECK(nan == 0);
    /* every tenth record without an event time: the others score as if it
     * were not there, and it scores 0 */
    make_series();
    for (size_t i = 0; i < N; i++) {
        key[i] = i % 10 == 5;
        if (key[i])
            ts[i] = -1;
    }
    const char *conf = "{\"fields\": \"v\", \"season\": \"1d\", \"gamma\": 0.3}";
    run(conf, -1, s1, NULL, 0);
    run(conf, 0, s2, NULL, 0);
    size_t differ = 0;
    for (size_t i = 0; i < N; i++)
        differ += key[i] ? s1[i] != 0 : s1[i] != s2[i];
    CHECK(differ == 0);
    for (size_t i = 0; i < N; i++)
        key[i] = 0;
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
    h_expect_prepare_error(&weir_op_forecast, feats, 1, "{\"fields\": [\"v\"], \"gamma\": 0.5}",
                           "test.json: operators[1].gamma: expected only with \"season\": "
                           "without it this option does nothing");
    h_expect_prepare_error(&weir_op_forecast, feats, 1, "{\"fields\": [\"v\"], \"range_k\": 2}",
                           "test.json: operators[1].range_k: expected only with \"range\": true: "
                           "without it this option does nothing");
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
    test_flat_after_noise();
    test_prepare_errors();
    test_clip();
    test_float_edges();
    return check_summary();
}
