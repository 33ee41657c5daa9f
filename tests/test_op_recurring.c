/* Tests for recurring (a score passed on unless the record repeats what its
 * key did at about the same time one period before): a daily job whose
 * start jitters by up to 40 minutes scores on its first day and is
 * silenced after; a job more than half again as far from the mean, or at
 * another hour, still scores; a tolerance of no whole number of phases
 * reaches every phase it overlaps; a record far ahead in time does not stop
 * its phase from learning; a drop is not silenced with side "up" and is with "both"; a
 * job that skips a day needs "periods": 2; records without an event time
 * and NaN values pass; two keys as each alone; prepare errors. The
 * scores here are a stand-in feature "w" (what a scorer would say). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/keyed_run.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_recurring;

enum { STEP_MS = 300000 /* 5 minutes */, HOUR = 12 /* steps */, DAY = 24 * HOUR };
static float *const out = s1;
static float w[N];

/* n values near 10 every 5 minutes from midnight, one key; w = 0.1. */
static void calm(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(10 + 0.1 * gauss());
        ts[i] = (int64_t)i * STEP_MS;
        key[i] = 0;
        w[i] = 0.1f;
    }
}

/* A job of three values at `level` from step `at`, which a scorer flags (w 0.9). */
static void job(size_t at, float level)
{
    for (size_t i = at; i < at + 3; i++) {
        x[i] = level;
        w[i] = 0.9f;
    }
}

static void rec_run(const char *json, size_t n, int only)
{
    char conf[256];
    snprintf(conf, sizeof conf,
             "{\"fields\": \"v\", \"scores\": \"w\", \"out\": \"anomaly_score\"%s}", json);
    run_w = w;
    run(conf, n, only, s1, w1);
    run_w = NULL;
}

/* out is w or 0 for every record; returns how many of [from, to) are 0
 * where w was 0.9. */
static int silenced(size_t from, size_t to)
{
    int quiet = 0;
    for (size_t i = from; i < to; i++) {
        CHECK(out[i] == w[i] || out[i] == 0);
        quiet += w[i] > 0.5f && out[i] == 0;
    }
    return quiet;
}

/* Day 0 at 03:00, day 1 at 03:40, day 2 at 02:30, day 3 at 03:20: the
 * first scores, the others are silenced; day 4's job at 03:00, 1.4 times
 * as far from the center as day 3's, is silenced; day 5's, 1.6 times as
 * far as day 4's, scores, and so does day 6's at 15:00. */
static void test_daily_job(void)
{
    size_t n = 7 * DAY + HOUR;
    calm(n);
    static const int start[] = {3 * HOUR, 3 * HOUR + 8, 2 * HOUR + 6, 3 * HOUR + 4};
    for (size_t d = 0; d < 4; d++)
        job(d * DAY + (size_t)start[d], 20);
    job(4 * DAY + 3 * HOUR, 24);
    job(5 * DAY + 3 * HOUR, 32.4f);
    job(6 * DAY + 15 * HOUR, 20);
    rec_run("", n, -1);
    CHECK(silenced(0, DAY) == 0);
    for (size_t d = 1; d < 5; d++)
        CHECK(silenced(d * DAY, (d + 1) * DAY) == 3);
    CHECK(silenced(5 * DAY, n) == 0);
    /* a tolerance of 15 minutes (a phase) does not cover day 1's 40 */
    rec_run(", \"tolerance\": \"15m\"", n, -1);
    CHECK(silenced(DAY, 2 * DAY) == 0);
}

/* A tolerance that is no whole number of phases: 20 minutes before 03:00
 * is 02:40, in the phase 02:30-02:45 (two phases before), where day 0's
 * job ran (02:30-02:40); 10 minutes reach only the phase before. Day 1
 * has one value at 03:00. */
static void test_tolerance_in_phases(void)
{
    size_t n = 2 * DAY, at = DAY + 3 * HOUR;
    calm(n);
    job(2 * HOUR + 6, 20); /* 02:30 */
    x[at] = 20;
    w[at] = 0.9f;
    rec_run(", \"tolerance\": \"20m\"", n, -1);
    CHECK(silenced(DAY, n) == 1);
    rec_run(", \"tolerance\": \"10m\"", n, -1);
    CHECK(silenced(DAY, n) == 0);
}

/* One record 30 days ahead in time at 03:00 holds a slot of its phase,
 * and the phase goes on learning: day 2's job is learned, and day 3's
 * first value repeats it. */
static void test_far_ahead(void)
{
    size_t n = 4 * DAY;
    calm(n);
    for (size_t d = 2; d < 4; d++)
        job(d * DAY + 3 * HOUR, 20);
    ts[DAY + 3 * HOUR] += 30LL * 86400000;
    rec_run("", n, -1);
    CHECK(silenced(2 * DAY, 3 * DAY) == 0);
    CHECK(out[3 * DAY + 3 * HOUR] == 0);
}

/* A nightly outage (0 for three values at 02:00): a drop, which side
 * "up" leaves alone and "both" silences from the second night. */
static void test_drops(void)
{
    size_t n = 3 * DAY;
    calm(n);
    for (size_t d = 0; d < 3; d++)
        job(d * DAY + 2 * HOUR + d, 0);
    rec_run("", n, -1);
    CHECK(silenced(0, n) == 0);
    rec_run(", \"side\": \"both\"", n, -1);
    CHECK(silenced(0, DAY) == 0);
    CHECK(silenced(DAY, n) == 6);
    rec_run(", \"side\": \"down\"", n, -1);
    CHECK(silenced(DAY, n) == 6);
}

/* A job every other day: "periods": 1 never silences it, 2 does from its
 * second run. */
static void test_periods(void)
{
    size_t n = 5 * DAY;
    calm(n);
    for (size_t d = 0; d < 5; d += 2)
        job(d * DAY + 3 * HOUR, 20);
    rec_run("", n, -1);
    CHECK(silenced(0, n) == 0);
    rec_run(", \"periods\": 2", n, -1);
    CHECK(silenced(0, DAY) == 0);
    CHECK(silenced(DAY, n) == 6);
}

/* Without an event time, or with a NaN value, a record passes its score
 * on, where the job of the day before would have silenced it. */
static void test_missing(void)
{
    size_t n = 2 * DAY;
    calm(n);
    job(3 * HOUR, 20);
    job(DAY + 3 * HOUR, 20);
    ts[DAY + 3 * HOUR] = -1; /* no event time */
    x[DAY + 3 * HOUR + 1] = NAN;
    rec_run("", n, -1);
    CHECK(out[DAY + 3 * HOUR] == 0.9f);
    CHECK(out[DAY + 3 * HOUR + 1] == 0.9f);
    CHECK(out[DAY + 3 * HOUR + 2] == 0);
}

/* Two keys interleaved, each with its own job hour, score as each alone. */
static void test_by_key(void)
{
    size_t n = 4 * DAY;
    calm(n);
    for (size_t i = 0; i < n; i++)
        key[i] = (int)(uniform() < 0.5);
    for (size_t d = 0; d < 4; d++)
        for (size_t i = d * DAY + 3 * HOUR; i < d * DAY + 4 * HOUR; i++)
            if (key[i] == (int)(d % 2)) {
                x[i] = 20;
                w[i] = 0.9f;
            }
    const char *by = ", \"by\": \"host\"";
    float *both = s2;
    rec_run(by, n, -1);
    memcpy(both, out, sizeof s2);
    for (int k = 0; k < 2; k++) {
        rec_run(by, n, k);
        for (size_t i = 0; i < n; i++)
            if (key[i] == k)
                CHECK(out[i] == both[i]);
    }
    /* each key's job comes every other day: no repeat; as one key it is one daily */
    CHECK(silenced(0, n) == 0);
    rec_run("", n, -1);
    CHECK(silenced(0, n) > 0);
}

static void test_prepare_errors(void)
{
    static const char *feats[] = {"v", "w", NULL};
    h_expect_prepare_error(&weir_op_recurring, feats, 1, "{\"fields\": [\"v\"]}",
                           "test.json: operators[1]: missing required option \"scores\"");
    h_expect_prepare_error(&weir_op_recurring, feats, 1,
                           "{\"fields\": [\"v\"], \"scores\": [\"z\"]}",
                           "test.json: operators[1].scores[0]: unknown feature \"z\" (did you "
                           "mean \"v\"?)");
    h_expect_prepare_error(&weir_op_recurring, feats, 1,
                           "{\"fields\": \"v\", \"scores\": \"w\", \"tolerance\": \"12h\"}",
                           "test.json: operators[1].tolerance: expected less than half the "
                           "season (86400000 ms), got 43200000 ms");
    h_expect_prepare_error(&weir_op_recurring, feats, 1,
                           "{\"fields\": \"v\", \"scores\": \"w\", \"ratio\": 0.5}",
                           "test.json: operators[1].ratio: expected a number in [1,1000000], got "
                           "0.5");
    h_expect_prepare_error(&weir_op_recurring, feats, 1,
                           "{\"fields\": \"v\", \"scores\": \"w\", \"tolerance\": \"2h\", "
                           "\"periods\": 2}",
                           NULL);
    /* a weekly job's key, idle six days, was swept before its next run */
    h_expect_prepare_error(&weir_op_recurring, feats, 1,
                           "{\"fields\": \"v\", \"scores\": \"w\", \"season\": \"7d\", "
                           "\"evict\": \"ttl\"}",
                           "test.json: operators[1].ttl: expected at least periods x season + "
                           "tolerance (608400000 ms): a key that expires sooner forgets the "
                           "periods it compares with, got 86400000 ms");
    h_expect_prepare_error(&weir_op_recurring, feats, 1,
                           "{\"fields\": \"v\", \"scores\": \"w\", \"evict\": \"ttl\", "
                           "\"ttl\": \"25h\"}",
                           NULL);
}

int main(void)
{
    run_type = &weir_op_recurring;
    run_ts = 1;
    rng = 5;
    test_daily_job();
    test_tolerance_in_phases();
    test_far_ahead();
    test_drops();
    test_periods();
    test_missing();
    test_by_key();
    test_prepare_errors();
    return check_summary();
}
