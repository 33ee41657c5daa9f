/* Tests for cad_ose (CAD OSE's formulation, bounded): the range period
 * scores 0 and is flagged (or not, with flag_warmup false); a repeated
 * pattern scores 0 once learned; a value beyond the range and a known value
 * out of its order score; rest silences what follows a high raw score and
 * the first rest values; NaN is neither scored nor learned; per key equals
 * each key alone; a small table still learns a pattern after a long stretch
 * of noise (bounded state); the scores and explanations of small and
 * default tables are those of the walk over every left side (pinned); a
 * range given in advance needs no range period; explanations only on
 * records that score; relearn rebuilds the range at most relearn times;
 * the log scale's steps; margin_mad widens the range by robust sigmas
 * (checked against a median/MAD computed here by counting); no score
 * depends on a later record; prepare errors. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operators/cad_ose.h"
#include "tests/check.h"
#include "tests/keyed_run.h"
#include "tests/op_harness.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_cad_ose;

static void make_pattern(double noise)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = pattern[i % 12] + (float)(noise * (uniform() - 0.5));
        key[i] = 0;
    }
}

static void test_pattern(void)
{
    const char *conf = "{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0}";
    make_pattern(0);
    x[2000] = 200;                      /* far beyond the range */
    x[2500] = pattern[(2500 + 6) % 12]; /* a known value, out of its order */
    run(conf, N, -1, s1, w1);
    size_t warm = 0, zero_range = 0, hot_learned = 0;
    for (size_t i = 0; i < N; i++)
        warm += w1[i];
    for (size_t i = 0; i < 150; i++)
        zero_range += s1[i] == 0;
    for (size_t i = 600; i < 1990; i++)
        hot_learned += s1[i] != 0;
    printf("cad_ose: beyond the range %.3f, out of order %.3f; %zu of 1390 learned records "
           "nonzero\n", s1[2000], s1[2500], hot_learned);
    CHECK(warm == 150 && w1[149] && !w1[150] && zero_range == 150);
    CHECK(hot_learned == 0);
    CHECK(s1[2000] >= 0.75 && s1[2500] > 0.3);
    /* an explanation exactly where the score is above 0 */
    size_t explained = 0, wrong = 0;
    for (size_t i = 0; i < N; i++) {
        explained += why[i] != NULL;
        wrong += (why[i] != NULL) != (s1[i] > 0);
    }
    printf("cad_ose: %s | %s\n", why[2000] ? why[2000] : "-", why[2500] ? why[2500] : "-");
    CHECK(explained > 0 && wrong == 0);
    CHECK(why[2000] && strstr(why[2000], "v=200 in ") && strstr(why[2000], "above the range") &&
          strstr(why[2000], "selected contexts failed"));
    CHECK(why[2500] && !strstr(why[2500], "the range"));
    for (size_t i = 0; i < N; i++)
        CHECK(s1[i] >= 0 && s1[i] <= 1);
    /* flag_warmup false: the same scores, nothing flagged */
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0, \"flag_warmup\": false}", N, -1,
        s2, w1);
    warm = 0;
    for (size_t i = 0; i < N; i++) {
        warm += w1[i];
        CHECK(s1[i] == s2[i]);
    }
    CHECK(warm == 0);
    /* explain_above between the two scores: the same scores, the text only
     * at or above it (the spike), not for the out-of-order value */
    CHECK(s1[2500] < s1[2000]);
    char conf2[160];
    double above = (s1[2000] + s1[2500]) / 2;
    snprintf(conf2, sizeof conf2,
             "{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0, \"explain_above\": %.9g}",
             above);
    run(conf2, N, -1, s2, NULL);
    explained = wrong = 0;
    for (size_t i = 0; i < N; i++) {
        CHECK(s1[i] == s2[i]);
        explained += why[i] != NULL;
        wrong += (why[i] != NULL) != (s2[i] > 0 && s2[i] >= above);
    }
    CHECK(explained > 0 && wrong == 0 && why[2000] && !why[2500]);
}

/* rest: a raw score >= threshold silences the next rest values; the first
 * rest values after the range period are silenced too (CAD OSE's history
 * starts with a 1). */
static void test_rest(void)
{
    make_pattern(1);
    x[2000] = 200;
    x[2003] = -100; /* within rest of the first: silenced */
    x[2100] = 300;  /* after it: scores */
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 50}", N, -1, s1, NULL);
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0}", N, -1, s2, NULL);
    printf("cad_ose: rest 50: %.3f %.3f %.3f (raw %.3f %.3f %.3f)\n", s1[2000], s1[2003],
           s1[2100], s2[2000], s2[2003], s2[2100]);
    CHECK(s2[2000] >= 0.75 && s2[2003] > 0 && s2[2100] >= 0.75);
    CHECK(s1[2000] == s2[2000] && s1[2003] == 0 && s1[2100] == s2[2100]);
    for (size_t i = 2001; i <= 2050; i++)
        CHECK(s1[i] == 0);

}

/* NaN and infinities are missing: scored 0, not learned, so the other
 * values score as if they were absent. */
static void test_nan(void)
{
    make_pattern(1);
    x[2000] = 200;
    run("{\"fields\": \"v\", \"rest\": 0}", N, -1, s1, NULL);
    static float y[N + 40], sy[N + 40];
    size_t m = 0;
    for (size_t i = 0; i < N; i++) {
        if (i % 97 == 5 && m < N + 40)
            y[m++] = (i % 2) ? NAN : INFINITY;
        y[m++] = x[i];
    }
    memcpy(x, y, N * sizeof *x); /* the first N of y */
    run("{\"fields\": \"v\", \"rest\": 0}", N, -1, sy, NULL);
    size_t j = 0, same = 0, compared = 0, nan_zero = 0;
    for (size_t i = 0; i < N && j < N; i++) {
        if (!isfinite(y[i])) {
            nan_zero += sy[i] == 0;
            continue;
        }
        same += sy[i] == s1[j];
        compared++;
        j++;
    }
    CHECK(compared > 2900 && same == compared && nan_zero > 20);
}

/* Two keys interleaved score as each key alone. */
static void test_by_key(void)
{
    const char *conf = "{\"fields\": \"v\", \"by\": \"host\", \"range_records\": 100, "
                       "\"contexts\": 100}";
    for (size_t i = 0; i < N; i++) {
        key[i] = (int)(uniform() < 0.5);
        x[i] = key[i] ? pattern[i % 12] : (float)(uniform() * 100);
    }
    run(conf, N, -1, s1, NULL);
    size_t diff = 0;
    for (int k = 0; k < 2; k++) {
        run(conf, N, k, s2, NULL);
        for (size_t i = 0; i < N; i++)
            diff += key[i] == k && s1[i] != s2[i];
    }
    CHECK(diff == 0);
}

/* A table of 256 contexts is full after a few values of noise; the pattern
 * after it is still learned (old contexts replaced) and scores 0 again. */
static void test_bounded(void)
{
    make_pattern(0);
    for (size_t i = 200; i < 1200; i++)
        x[i] = (float)(uniform() * 70);
    run("{\"fields\": \"v\", \"range_records\": 100, \"contexts\": 256, \"rest\": 0}", N, -1, s1,
        NULL);
    size_t noisy = 0, late = 0;
    for (size_t i = 300; i < 1200; i++)
        noisy += s1[i] > 0;
    for (size_t i = 2400; i < N; i++)
        late += s1[i] > 0;
    printf("cad_ose: 256 contexts: %zu of 900 noisy values score, %zu of 600 late pattern values\n",
           noisy, late);
    CHECK(noisy > 300 && late == 0);
}

/* The scores of tables small enough to replace contexts all the time, and
 * of the default one, over a pattern, noise and the pattern again, with
 * every explanation: pinned (a fingerprint of their float bits and the
 * explanations' text) as the walk over every left side gave them before a
 * step visited only the left sides it needs (cad_ose_model.c). */
static void test_same_scores(void)
{
    static const struct {
        const char *conf;
        uint64_t fingerprint;
    } cases[] = {
        {"{\"fields\": \"v\", \"range_records\": 100, \"contexts\": 16, \"rest\": 0}",
         0xdc79a18637dd5fecull},
        {"{\"fields\": \"v\", \"range_records\": 100, \"contexts\": 64, \"rest\": 0}",
         0x8a105164f0bb4e32ull},
        {"{\"fields\": \"v\", \"range_records\": 100, \"contexts\": 300, \"rest\": 0, "
         "\"max_left\": 3, \"max_active\": 4}",
         0x53c058e4906c78abull},
        {"{\"fields\": \"v\", \"range_records\": 100, \"rest\": 0}", 0x45748f9a03efea71ull},
    };
    make_pattern(3);
    for (size_t i = 1000; i < 2000; i++) /* a random walk: levels and orders */
        x[i] = x[i - 1] * 0.9f + (float)(uniform() * 9);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        run(cases[k].conf, N, -1, s1, NULL);
        uint64_t h = 1469598103934665603ull;
        for (size_t i = 0; i < N; i++) {
            uint32_t bits;
            memcpy(&bits, &s1[i], sizeof bits);
            h = (h ^ bits) * 1099511628211ull;
            for (const char *c = why[i]; c && *c; c++)
                h = (h ^ (unsigned char)*c) * 1099511628211ull;
        }
        printf("cad_ose: %s: fingerprint %016llx\n", cases[k].conf, (unsigned long long)h);
        CHECK(h == cases[k].fingerprint);
    }
}

/* min and max given: no range period, nothing flagged, the first rest
 * values silenced; a constant range period scores without dividing by 0. */
static void test_fixed_and_constant(void)
{
    make_pattern(1);
    run("{\"fields\": \"v\", \"min\": 0, \"max\": 80, \"rest\": 10}", N, -1, s1, w1);
    size_t warm = 0, hot = 0;
    for (size_t i = 0; i < N; i++)
        warm += w1[i];
    for (size_t i = 0; i < 10; i++)
        hot += s1[i] != 0;
    CHECK(warm == 0 && hot == 0);
    for (size_t i = 0; i < N; i++)
        x[i] = i == 2000 ? 7 : 5;
    run("{\"fields\": \"v\", \"rest\": 0}", N, -1, s1, NULL);
    CHECK(s1[1999] == 0 && s1[2000] > 0.5);
}

/* A given min and max are rounded as values are: a value equal to min (0.7,
 * a float a little below the double 0.7) is in the bottom step, where the
 * pattern expects it, not below the range; one equal to max is not above. */
static void test_fixed_edges(void)
{
    for (size_t i = 0; i < N; i++)
        x[i] = i % 2 ? 1.69f : 0.71f;
    x[2000] = 0.7f;
    x[2001] = 1.7f;
    run("{\"fields\": \"v\", \"min\": 0.7, \"max\": 1.7, \"rest\": 0, \"explain_above\": 0}", N, -1,
        s1, NULL);
    CHECK(s1[2000] == 0);
    CHECK(!why[2000] || !strstr(why[2000], "below the range"));
    CHECK(!why[2001] || !strstr(why[2001], "above the range"));
}

/* relearn: a value beyond the learned range scores as before, then the range
 * is rebuilt from every value seen and the pattern relearned from the last
 * range_records values; at most relearn times. */
static void test_relearn(void)
{
    make_pattern(0);
    x[2000] = 200;
    x[2500] = 250;
    x[2700] = 300;
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0}", N, -1, s2, NULL);
    CHECK(why[2500] && strstr(why[2500], "above the range 10..70"));
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0, \"relearn\": 1}", N, -1,
        s1, NULL);
    printf("cad_ose relearn: %.3f at 200 (%.3f without); %s | %s\n", s1[2000], s2[2000],
           why[2500] ? why[2500] : "-", why[2700] ? why[2700] : "-");
    CHECK(s1[2000] == s2[2000]); /* scored by the model before the rebuild */
    for (size_t i = 0; i < 2000; i++)
        CHECK(s1[i] == s2[i]);
    CHECK(why[2500] && strstr(why[2500], "v=250") && strstr(why[2500], "above the range 10..200"));
    CHECK(why[2700] && strstr(why[2700], "above the range 10..200")); /* once only */
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0, \"relearn\": 2}", N, -1,
        s1, NULL);
    CHECK(why[2700] && strstr(why[2700], "above the range 10..250"));
    /* a value that rebuilds the range is explained against the one it was scored in */
    CHECK(why[2500] && strstr(why[2500], "v=250") && strstr(why[2500], "above the range 10..200"));
}

/* scale log: the steps cut log1p of the value; explanations in its units. */
static void test_log_scale(void)
{
    make_pattern(0);
    x[2000] = 200;
    x[2500] = 11; /* step 0, out of order */
    run("{\"fields\": \"v\", \"range_records\": 150, \"rest\": 0, \"scale\": \"log\"}",
        N, -1, s1, NULL);
    printf("cad_ose log: %s | %s\n", why[2000] ? why[2000] : "-", why[2500] ? why[2500] : "-");
    CHECK(s1[2000] >= 0.75 && why[2000] && strstr(why[2000], "above the range 10..70"));
    CHECK(why[2500] && strstr(why[2500], "v=11 in 10..13.36")); /* linear: 10..18.57 */
}

/* The learned range's own edges are inside it: on the log scale (the live
 * value was log1p in double, the range its float) and where the top,
 * recomputed from the steps, rounds below the max (0..30.5). Neither is
 * "below" or "above the range" (each recurrence of the edge scored, and
 * with relearn rebuilt the same range). */
static void test_range_edges(void)
{
    static const float periodic[] = {1, 5, 20, 100, 20, 5}, picks[] = {0, 5, 10, 20, 30.5f};
    size_t outside = 0;
    for (size_t i = 0; i < N; i++) {
        x[i] = periodic[i % 6];
        key[i] = 0;
    }
    run("{\"fields\": \"v\", \"range_records\": 20, \"rest\": 0, \"scale\": \"log\"}", N, -1,
        s1, NULL);
    for (size_t i = 0; i < N; i++)
        outside += why[i] && strstr(why[i], " the range ");
    for (size_t i = 0; i < N; i++)
        x[i] = i < 20 ? (i % 2 ? 30.5f : 0) : picks[(size_t)(uniform() * 5)];
    run("{\"fields\": \"v\", \"range_records\": 20, \"rest\": 0, \"relearn\": 1000}", N, -1,
        s1, NULL);
    for (size_t i = 0; i < N; i++)
        outside += why[i] && strstr(why[i], " the range ");
    CHECK(outside == 0);
}

/* The median of n values by counting (no sort), the reference for
 * margin_mad: the value with at most n/2 below it and n/2 above, for odd n. */
static double median_by_count(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t below = 0, above = 0;
        for (size_t j = 0; j < n; j++) {
            below += v[j] < v[i];
            above += v[j] > v[i];
        }
        if (below <= n / 2 && above <= n / 2)
            return v[i];
    }
    return NAN;
}

static double mad_sigma_ref(const float *xs, size_t n)
{
    double v[16], d[16];
    for (size_t i = 0; i < n; i++)
        v[i] = xs[i];
    double m = median_by_count(v, n);
    for (size_t i = 0; i < n; i++)
        d[i] = fabs(v[i] - m);
    return 1.4826 * median_by_count(d, n);
}

/* margin_mad: the learned range is widened by k robust sigmas of the range
 * period's values (one outlier among them moves it little), and a relearn
 * by those of the last range_records values. */
static void test_margin_mad(void)
{
    static const float first[9] = {10, 12, 14, 16, 18, 20, 22, 24, 100};
    for (size_t i = 0; i < N; i++) {
        x[i] = i < 9 ? first[i] : (float)(10 + 2 * ((i - 9) % 8));
        key[i] = 0;
    }
    x[20] = 200;
    x[30] = 300;
    char want[128];
    double wide = 2 * mad_sigma_ref(first, 9);
    run("{\"fields\": \"v\", \"range_records\": 9, \"rest\": 0}", N, -1, s1, NULL);
    CHECK(why[20] && strstr(why[20], "above the range 10..100"));
    run("{\"fields\": \"v\", \"range_records\": 9, \"rest\": 0, \"margin_mad\": 2}", N,
        -1, s1, NULL);
    snprintf(want, sizeof want, "above the range %.4g..%.4g", 10 - wide, 100 + wide);
    printf("cad_ose margin_mad: %s (want %s)\n", why[20] ? why[20] : "-", want);
    CHECK(fabs(wide - 2 * 1.4826 * 4) < 1e-9);
    CHECK(why[20] && strstr(why[20], want));
    /* relearn: every value seen, widened by the MAD of the last 9 (x[12..20]) */
    run("{\"fields\": \"v\", \"range_records\": 9, \"rest\": 0, \"margin_mad\": 2, "
        "\"relearn\": 1}", N, -1, s1, NULL);
    wide = 2 * mad_sigma_ref(x + 12, 9);
    snprintf(want, sizeof want, "above the range %.4g..%.4g", 10 - wide, 200 + wide);
    printf("cad_ose margin_mad relearn: %s (want %s)\n", why[30] ? why[30] : "-", want);
    CHECK(why[30] && strstr(why[30], want));
}

/* No read-ahead: a record's score is the same whether or not the records
 * after it were ever given (every option that moves the range). */
static void test_no_read_ahead(void)
{
    static const char *const confs[] = {
        "{\"fields\": \"v\", \"range_records\": 150, \"rest\": 20}",
        "{\"fields\": \"v\", \"range_records\": 150, \"rest\": 20, \"relearn\": 4, "
        "\"range_margin\": 0.25}",
        "{\"fields\": \"v\", \"range_records\": 100, \"rest\": 0, \"relearn\": 100, "
        "\"scale\": \"log\", \"contexts\": 64}",
        "{\"fields\": \"v\", \"range_records\": 150, \"rest\": 20, \"relearn\": 4, "
        "\"margin_mad\": 3}",
    };
    static const size_t cuts[] = {99, 150, 151, 700, 1501, 2222};
    make_pattern(5);
    for (size_t i = 600; i < N; i += 97) /* excursions beyond any range seen so far */
        x[i] = (float)(i / 5) * (i % 2 ? 1 : -1);
    for (size_t k = 0; k < sizeof confs / sizeof *confs; k++) {
        run(confs[k], N, -1, s1, NULL);
        for (size_t j = 0; j < sizeof cuts / sizeof *cuts; j++) {
            memset(s2, 0xff, sizeof s2);
            run(confs[k], cuts[j], -1, s2, NULL);
            size_t differ = 0;
            for (size_t i = 0; i < cuts[j]; i++)
                differ += s1[i] != s2[i];
            CHECK(differ == 0);
        }
    }
}

/* Past 2^32 values of one key the ring keeps turning: seen stays above the
 * range period and its slot follows on from the last; step and group
 * numbers skip 0. */
static void test_seen_wraps(void)
{
    for (uint32_t n = 1; n < 700; n += 37) {
        uint32_t s = cad_ose_seen_next(UINT32_MAX, n);
        CHECK(s >= n && s % n == (uint32_t)((UINT64_C(1) << 32) % n));
        CHECK(cad_ose_seen_next(s, n) % n == (s + 1) % n);
    }
    CHECK(cad_ose_seen_next(5, 150) == 6);
    /* steps and groups never number 0, what a context made since holds */
    CHECK(cad_ose_tick(UINT32_MAX) == 1 && cad_ose_tick(0) == 1 && cad_ose_tick(41) == 42);
}

static void test_prepare_errors(void)
{
    const char *const feats[] = {"v", NULL};
    h_expect_prepare_error(&weir_op_cad_ose, feats, 1, "{\"fields\": [\"v\"], \"bits\": 9}",
                           "test.json: operators[1].bits: expected a positive integer up to 8, "
                           "got 9");
    h_expect_prepare_error(&weir_op_cad_ose, feats, 1, "{\"fields\": [\"v\"], \"min\": 0}",
                           "test.json: operators[1].max: expected min and max together, "
                           "min <= max");
    h_expect_prepare_error(&weir_op_cad_ose, feats, 1,
                           "{\"fields\": [\"v\"], \"min\": 2, \"max\": 1}",
                           "test.json: operators[1].max: expected min and max together, "
                           "min <= max");
}

int main(void)
{
    run_type = &weir_op_cad_ose;
    rng = 13;
    test_pattern();
    test_rest();
    test_nan();
    test_by_key();
    test_bounded();
    test_same_scores();
    test_fixed_and_constant();
    test_fixed_edges();
    test_relearn();
    test_log_scale();
    test_range_edges();
    test_margin_mad();
    test_no_read_ahead();
    test_seen_wraps();
    test_prepare_errors();
    for (size_t i = 0; i < N; i++)
        free(why[i]);
    return check_summary();
}
