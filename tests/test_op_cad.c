/* Tests for cad (contextual anomaly detector): the range period scores 0
 * and is flagged; a repeated pattern scores 0 once learned, a value beyond
 * the range and a known value out of its order score high; side; NaN is
 * neither scored nor learned; per key equals each key alone; hold; a small
 * table still learns a pattern after a long stretch of noise evicted it
 * (bounded state); a constant range period; explanations (what was new,
 * only on records that score, the quoted bin holds the value); prepare
 * errors; every score equals a plain reference (linear search, nothing
 * evicted). */
#include <math.h>
#include <stdlib.h>

#include "tests/check.h"
#include "tests/op_harness.h"
#include "tests/keyed_run.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_cad;

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

/* The reference: the same definition with plain arrays searched linearly
 * (no hashing, no table, nothing evicted), for a check score by score. */
enum { REF_MAX = 4096, LEVELS = 3, ORDER = 3, BINS = 8, RANGE = 150 };
struct ref_ctx {
    int level, order, facts[ORDER], seen, n, fact[6], count[6];
};
static struct ref_ctx ctx[REF_MAX];
static int nctx;

static int floor_div(int b, int r)
{
    return (int)floor((double)b / (double)(1 << r));
}

static struct ref_ctx *ref_find(int r, int k, const int *hist, int make)
{
    for (int i = 0; i < nctx; i++) {
        int same = ctx[i].level == r && ctx[i].order == k;
        for (int q = 0; same && q < k; q++)
            same = ctx[i].facts[q] == floor_div(hist[q], r);
        if (same)
            return &ctx[i];
    }
    if (!make || nctx == REF_MAX)
        return NULL;
    struct ref_ctx *c = &ctx[nctx++];
    memset(c, 0, sizeof *c);
    c->level = r;
    c->order = k;
    for (int q = 0; q < k; q++)
        c->facts[q] = floor_div(hist[q], r);
    return c;
}

static void reference(const float *v, size_t n, double *score)
{
    int hist[ORDER] = {0}, hist_n = 0;
    float lo_v = v[0], hi_v = v[0];
    double lo = 0, width = 0;
    nctx = 0;
    for (size_t i = 0; i < n; i++) {
        score[i] = 0;
        if (i < RANGE) {
            lo_v = fminf(lo_v, v[i]);
            hi_v = fmaxf(hi_v, v[i]);
            if (i + 1 < RANGE)
                continue;
            double span = (double)hi_v - (double)lo_v;
            lo = (double)lo_v - 0.1 * span;
            width = span * 1.2 / BINS;
        }
        for (size_t t = i + 1 == RANGE ? 0 : i; t <= i; t++) {
            double q = floor((v[t] - lo) / width);
            q = q < -4 * BINS ? -4 * BINS : q > 5 * BINS - 1 ? 5 * BINS - 1 : q;
            int b = (int)q, orders = hist_n < ORDER ? hist_n : ORDER;
            int selected = 0, active = 0, predicted = 0, keys = orders * LEVELS;
            double heaviest = 0;
            for (int r = 0; r < LEVELS; r++)
                for (int k = 1; k <= orders; k++) {
                    struct ref_ctx *c = ref_find(r, k, hist, 0);
                    if (!c)
                        continue;
                    selected++;
                    for (int j = 0; j < c->n; j++) {
                        double w = (double)c->count[j] / c->seen;
                        int here = c->fact[j] == floor_div(b, r);
                        active += here;
                        if (w > heaviest + 1e-12)
                            predicted = 0;
                        if (w >= heaviest - 1e-12) {
                            heaviest = fmax(w, heaviest);
                            predicted |= r == 0 && here;
                        }
                    }
                }
            if (t >= RANGE && keys && !predicted)
                score[i] = 0.5 * (1 - (selected ? (double)active / selected : 0) +
                                  (double)(keys - active) / keys);
            for (int r = 0; r < LEVELS; r++)
                for (int k = 1; k <= orders; k++) {
                    struct ref_ctx *c = ref_find(r, k, hist, 1);
                    int f = floor_div(b, r), j = 0, rare = 0;
                    c->seen++;
                    for (; j < c->n && c->fact[j] != f; j++)
                        rare = c->count[j] < c->count[rare] ? j : rare;
                    if (j < c->n) {
                        c->count[j]++;
                        continue;
                    }
                    j = c->n < 6 ? c->n++ : rare;
                    c->fact[j] = f;
                    c->count[j] = 1;
                }
            memmove(hist + 1, hist, (ORDER - 1) * sizeof *hist);
            hist[0] = b;
            hist_n += hist_n < ORDER;
        }
    }
}

/* A noisy pattern whose values cross bins, with jumps: every score equals
 * the reference's (the table is large enough to evict nothing). */
static void test_reference(void)
{
    static double ref[N];
    for (size_t i = 0; i < N; i++) {
        x[i] = pattern[i % 12] + (float)(12 * (uniform() - 0.5));
        x[i] += uniform() < 0.01 ? (float)(80 * (uniform() - 0.3)) : 0;
        key[i] = 0;
    }
    run("{\"fields\": \"v\", \"contexts\": 65536}", N, -1, s1, NULL);
    reference(x, N, ref);
    size_t off = 0, gated = 0, partial = 0;
    for (size_t i = 0; i < N; i++) {
        off += fabs(s1[i] - ref[i]) > 1e-6;
        partial += ref[i] > 0 && ref[i] < 0.5;
    }
    /* most values are learned (0), some partly expected (below 0.5): the
     * gate and both halves of the score are exercised */
    for (size_t i = RANGE; i < N; i++)
        gated += ref[i] == 0;
    printf("cad: reference: %zu of %d differ; %zu zero, %zu in (0, 0.5); %d contexts\n", off, N,
           gated, partial, nctx);
    CHECK(off == 0 && nctx < REF_MAX && gated > 100 && partial > 100);
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
    /* a range of infinite span (floats near their largest): scores stay in [0,1] */
    x[0] = 3e38f;
    x[1] = -3e38f;
    run("{\"fields\": \"v\"}", N, -1, s1, NULL);
    size_t outside = 0;
    for (size_t i = 0; i < N; i++)
        outside += !(s1[i] >= 0 && s1[i] <= 1);
    CHECK(outside == 0);
}

/* Explanations say what was new, with the value: a value in a bin that never
 * followed its history (and the bins that did), one beyond the learned range,
 * one after a history nothing had followed. Records that score 0 have none. */
static void test_explain(void)
{
    static const float cycle[4] = {10, 30, 50, 70}; /* bins 0, 2, 5, 7 of 4..76 */
    for (size_t i = 0; i < 400; i++) {
        x[i] = cycle[i % 4];
        key[i] = 0;
    }
    x[201] = 50; /* where 30 always came */
    x[300] = 200;
    run("{\"fields\": \"v\", \"range_records\": 10}", 400, -1, s1, NULL);
    printf("cad: %s\ncad: %s\ncad: %s\n", why[201], why[300], why[301]);
    /* 50's band of 4 bins (level 2) did follow 10 (after 30, its band): 8 of 9 */
    CHECK(s1[201] > 0.85 && s1[201] < 1 && s1[300] == 1 && s1[301] == 1);
    CHECK_STR(why[201], "v=50 in 49..58: never after 49..58, 67..76, 4..13 (followed 49 times: "
                        "49 by 22..31); new to 8 of 9 contexts");
    CHECK_STR(why[300], "v=200 in 193..202, above the learned range 4..76: never after 22..31, "
                        "49..58, 67..76 (followed 73 times: 73 by 4..13); new to 9 of 9 contexts");
    CHECK_STR(why[301], "v=30 in 22..31: nothing had followed the value before it (in 193..202); "
                        "new to 9 of 9 contexts");
    size_t unexplained = 0, stray = 0;
    for (size_t i = 0; i < 400; i++) {
        unexplained += s1[i] > 0 && !why[i];
        stray += s1[i] == 0 && why[i];
    }
    CHECK(unexplained == 0 && stray == 0);
    /* range_margin 0: the range period's max is in the last bin, not above
     * the range (it was: "v=70 in 70..78, above the learned range 10..70") */
    x[201] = 70; /* where 30 always came */
    run("{\"fields\": \"v\", \"range_records\": 10, \"range_margin\": 0}", 400, -1, s2, NULL);
    CHECK(s2[201] > 0 && why[201] && strstr(why[201], "above") == NULL);
    CHECK(why[201] && strncmp(why[201], "v=70 in 62.5..70:", 17) == 0);
    if (why[201])
        printf("cad, range_margin 0: %s\n", why[201]);
    x[201] = 50;
    /* "explain": false writes no string field */
    run("{\"fields\": \"v\", \"range_records\": 10, \"explain\": false}", 400, -1, s2, NULL);
    CHECK(!why[201] && s2[201] == s1[201]);
}

/* On noisy data every explained value lies in the bin its text quotes, and
 * both a bin never seen after the history and one seen there before
 * appear. */
static void test_explain_noisy(void)
{
    for (size_t i = 0; i < N; i++) {
        x[i] = pattern[i % 12] + (float)(12 * (uniform() - 0.5));
        x[i] += uniform() < 0.01 ? (float)(80 * (uniform() - 0.3)) : 0;
        key[i] = 0;
    }
    run("{\"fields\": \"v\"}", N, -1, s1, NULL);
    size_t scored = 0, outside = 0, never = 0, sometimes = 0;
    for (size_t i = 0; i < N; i++) {
        if (!(s1[i] > 0))
            continue;
        scored++;
        double v, lo, hi;
        if (!why[i] || sscanf(why[i], "v=%lf in %lf..%lf", &v, &lo, &hi) != 3) {
            outside++;
            continue;
        }
        /* the bounds are printed to 4 digits */
        outside += !(v >= lo - 1e-3 * fabs(lo) && v <= hi + 1e-3 * fabs(hi));
        never += strstr(why[i], ": never after ") != NULL;
        sometimes += strstr(why[i], " times after ") != NULL;
    }
    printf("cad: %zu scored: %zu never after their history, %zu seen after it\n", scored, never,
           sometimes);
    CHECK(scored > 100 && outside == 0 && never > 0 && sometimes > 0);
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
    run_type = &weir_op_cad;
    rng = 11;
    test_pattern();
    test_reference();
    test_side();
    test_nan();
    test_by_key_and_hold();
    test_bounded();
    test_constant();
    test_explain();
    test_explain_noisy();
    test_prepare_errors();
    for (size_t i = 0; i < N; i++)
        free(why[i]);
    return check_summary();
}
