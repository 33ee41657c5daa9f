/* Tests for operators/robust.h, the sorted windows deviation and calibrate
 * keep: a window filled by weir_sorted_insert and slid by
 * weir_sorted_replace stays equal to its ring sorted from scratch (with
 * many ties, the oldest leaving from either side of the newest); lower
 * bounds; median and MAD against a brute force. */
#include <math.h>
#include <stdlib.h>

#include "operators/robust.h"
#include "tests/check.h"
#include "tests/test_rand.h"

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Slides a window of `cap` over n values drawn from `levels` distinct ones
 * (0: continuous) and counts the steps where the sorted copy differs from
 * the ring sorted afresh. */
static int window_mismatches(uint32_t cap, size_t n, int levels)
{
    float *ring = calloc(cap, sizeof *ring), *sorted = calloc(cap, sizeof *sorted);
    float *want = calloc(cap, sizeof *want);
    uint32_t held = 0, next = 0;
    int bad = 0;
    for (size_t t = 0; t < n; t++) {
        float x = levels ? (float)floor(uniform() * levels) : (float)gauss();
        if (held < cap) {
            weir_sorted_insert(sorted, held, x);
            ring[held++] = x;
        } else {
            weir_sorted_replace(sorted, held, ring[next], x);
            ring[next] = x;
            next = (next + 1) % cap;
        }
        memcpy(want, ring, held * sizeof *want);
        qsort(want, held, sizeof *want, by_value);
        bad += memcmp(want, sorted, held * sizeof *want) != 0;
    }
    free(ring);
    free(sorted);
    free(want);
    return bad;
}

static void test_sorted_window(void)
{
    CHECK(window_mismatches(1, 200, 3) == 0);
    CHECK(window_mismatches(2, 500, 2) == 0);
    CHECK(window_mismatches(7, 3000, 4) == 0);
    CHECK(window_mismatches(64, 3000, 0) == 0);
    CHECK(window_mismatches(250, 3000, 30) == 0);
    CHECK(window_mismatches(250, 3000, 1) == 0); /* one value throughout */
}

static void test_replace_both_sides(void)
{
    float s[5] = {1, 2, 3, 4, 5};
    weir_sorted_replace(s, 5, 2, 4.5f); /* leaves left of where x goes */
    float want1[5] = {1, 3, 4, 4.5f, 5};
    CHECK(memcmp(s, want1, sizeof s) == 0);
    weir_sorted_replace(s, 5, 4.5f, 0); /* leaves right of it */
    float want2[5] = {0, 1, 3, 4, 5};
    CHECK(memcmp(s, want2, sizeof s) == 0);
    weir_sorted_replace(s, 5, 3, 3); /* the same value */
    CHECK(memcmp(s, want2, sizeof s) == 0);
    weir_sorted_replace(s, 5, 5, 9); /* the last place */
    float want3[5] = {0, 1, 3, 4, 9};
    CHECK(memcmp(s, want3, sizeof s) == 0);
}

static void test_lower_bound(void)
{
    float s[6] = {1, 2, 2, 2, 5, 7};
    CHECK(weir_sorted_lower_bound(s, 6, 0) == 0);
    CHECK(weir_sorted_lower_bound(s, 6, 2) == 1);
    CHECK(weir_sorted_lower_bound(s, 6, 3) == 4);
    CHECK(weir_sorted_lower_bound(s, 6, 7) == 5);
    CHECK(weir_sorted_lower_bound(s, 6, 8) == 6);
    CHECK(weir_sorted_lower_bound(s, 0, 1) == 0);
}

static double brute_median(const float *s, uint32_t n)
{
    float *c = malloc(n * sizeof *c);
    memcpy(c, s, n * sizeof *c);
    qsort(c, n, sizeof *c, by_value);
    double m = n % 2 ? c[n / 2] : 0.5 * ((double)c[n / 2 - 1] + c[n / 2]);
    free(c);
    return m;
}

static void test_median_mad(void)
{
    for (uint32_t n = 1; n <= 40; n++) {
        float s[40], dev[40];
        for (uint32_t i = 0; i < n; i++)
            s[i] = (float)floor(uniform() * 12);
        qsort(s, n, sizeof *s, by_value);
        double m = weir_sorted_median(s, n);
        CHECK_NEAR(m, brute_median(s, n), 1e-12);
        for (uint32_t i = 0; i < n; i++)
            dev[i] = (float)fabs(s[i] - m);
        CHECK_NEAR(weir_sorted_mad(s, n, m), brute_median(dev, n), 1e-6);
    }
}

/* A median between two adjacent floats (16777217, between 16777216 and
 * 16777218) is not a float: the values below it still deviate by +1, not
 * by -1 (the MAD is 1, not 0). */
static void test_mad_between_floats(void)
{
    const float s[8] = {16777216, 16777216, 16777216, 16777216,
                        16777218, 16778240, 16778240, 16778240};
    double m = weir_sorted_median(s, 8);
    CHECK(m == 16777217.0);
    CHECK(weir_sorted_mad(s, 8, m) == 1.0);
}

int main(void)
{
    rng = 42;
    test_mad_between_floats();
    test_sorted_window();
    test_replace_both_sides();
    test_lower_bound();
    test_median_mad();
    return check_summary();
}
