/* Tests for flatline (a run of equal values scored by how long it lasts):
 * a stuck stretch scores exactly 1 - (ref/d)^2 once longer than the
 * reference, with its explanation; a constant series never scores; a
 * nightly flat stretch is learned and a longer one still scores; a stuck
 * episode leaves the memory after 16 runs or after `memory`; late and
 * far-ahead records; tolerance; NaN and records without an event time
 * skipped; min_values, to score and to be remembered; two fields (the
 * higher score, the field named); per key equals each key alone; prepare
 * errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tests/keyed_run.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_flatline;

enum { STEP_MS = 300000 /* 5 minutes */, HOUR = 12 /* steps */ };
static float *const score = s1;

/* Runs x[0..n) through a fresh flatline writing anomaly_score; json: the
 * options after "fields"; only: the key to keep, or -1. */
static void flat_run(const char *json, size_t n, int only)
{
    char conf[256];
    snprintf(conf, sizeof conf, "{\"fields\": \"v\", \"out\": \"anomaly_score\"%s}", json);
    run(conf, n, only, s1, w1);
}

/* n noisy values every 5 minutes from midnight, one key. */
static void noisy(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(50 + 5 * gauss());
        ts[i] = (int64_t)i * STEP_MS;
        key[i] = 0;
    }
}

static double max_score(size_t from, size_t to)
{
    double m = 0;
    for (size_t i = from; i < to; i++)
        m = score[i] > m ? score[i] : m;
    return m;
}

/* Two days of noise, then 12 h stuck at 41.5: silent for its first hour
 * (min_duration), then exactly 1 - (1h / d)^2, explained. */
static void test_stuck(void)
{
    size_t at = 2 * 24 * HOUR, n = at + 12 * HOUR + 24;
    noisy(n);
    for (size_t i = at; i < at + 12 * HOUR; i++)
        x[i] = 41.5f;
    flat_run("", n, -1);
    CHECK(max_score(0, at + HOUR + 1) == 0);
    for (size_t i = at + HOUR + 1; i < at + 12 * HOUR; i++) {
        double d = (double)(i - at) * STEP_MS, q = 3600000.0 / d;
        CHECK_NEAR(score[i], 1 - q * q, 1e-6);
    }
    CHECK_NEAR(score[at + 2 * HOUR], 0.75, 1e-6);
    const char *said = why[at + 2 * HOUR];
    CHECK_STR(said ? said : "", "v stuck at 41.5 for 2.0h (25 values; reference 1.0h)");
    CHECK(why[at + HOUR] == NULL);
    CHECK(max_score(at + 12 * HOUR, n) == 0); /* moving again */
    size_t flagged = 0; /* a 0 here is no guess: nothing flagged as warming up */
    for (size_t i = 0; i < n; i++)
        flagged += w1[i];
    CHECK(flagged == 0);

    /* a late record from before the run, with another value, neither ends
     * it nor scores; one far ahead in time scores alone */
    size_t late = at + 3 * HOUR, ahead = at + 4 * HOUR;
    ts[late] = ts[at] - 3600000;
    x[late] = 50;
    ts[ahead] = ts[at] + 30LL * 86400000;
    flat_run("", n, -1);
    CHECK(score[late] == 0);
    double d = (double)(late + 1 - at) * STEP_MS, q = 3600000.0 / d;
    CHECK_NEAR(score[late + 1], 1 - q * q, 1e-6);
    CHECK(score[ahead] > 0.999 && score[ahead] < 1);
    d = (double)(ahead + 1 - at) * STEP_MS, q = 3600000.0 / d;
    CHECK_NEAR(score[ahead + 1], 1 - q * q, 1e-6);
}

/* Runs the series with record `bad` moved to ts[bad] + shift and value v,
 * and checks every other record scores as without it (in s2). */
static void check_undone(const char *json, size_t n, size_t bad, int64_t shift, float v)
{
    flat_run(json, n, -1);
    memcpy(s2, s1, sizeof s2);
    int64_t t = ts[bad];
    float x0 = x[bad];
    ts[bad] += shift;
    x[bad] = v;
    flat_run(json, n, -1);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++)
        differ += i != bad && score[i] != s2[i];
    CHECK(differ == 0 && score[bad] == 0);
    ts[bad] = t;
    x[bad] = x0;
}

/* A record far ahead with another value (a clock gone wrong) ends the run
 * and starts one of its own, which the next record, back in time and after
 * the run before ended, undoes: the series scores as without it, whether
 * it fell in noise, inside a stuck stretch (which goes on being scored as
 * the same stretch) or first of all. A late record before that run's end
 * is skipped as ever: a late 0 of an earlier night does not stretch
 * tonight's zeros back to it. */
static void test_out_of_time(void)
{
    size_t at = 2 * 24 * HOUR, n = at + 12 * HOUR;
    noisy(n);
    for (size_t i = at; i < n; i++)
        x[i] = 41.5f;
    int64_t month = 30LL * 86400000;
    check_undone("", n, at - HOUR, month, 99);     /* in noise */
    check_undone("", n, at + 4 * HOUR, month, 99); /* inside the stuck stretch */
    check_undone("", n, 0, month, 99);             /* the key's first record */
    CHECK(max_score(at, n) > 0.99);
    /* noise, zeros 00:00-00:25 on day 2, noise, zeros from 06:00 for 40
     * minutes; a zero stamped 00:10 arrives right after 06:00 */
    n = at + 8 * HOUR;
    noisy(n);
    for (size_t i = 0; i < 6; i++)
        x[at + i] = 0;
    for (size_t i = at + 6 * HOUR; i < at + 6 * HOUR + 8; i++)
        x[i] = 0;
    check_undone("", n, at + 6 * HOUR + 1, -(int64_t)(6 * HOUR - 1) * STEP_MS, 0);
    CHECK(max_score(0, n) == 0);
    /* zeros for 50 minutes, a 3, then a zero 3 minutes late (or the last
     * zero again, redelivered), zeros for 30 minutes: a change followed by
     * a record a little out of order; the 3 is not undone, the runs not
     * merged into one of 90 minutes */
    for (size_t i = 0; i < n; i++)
        x[i] = i >= at && i < at + 18 && i != at + 11 ? 0.0f : x[i];
    x[at + 11] = 3;
    check_undone("", n, at + 12, -8 * 60000, 0);
    check_undone("", n, at + 12, -2 * STEP_MS, 0);
    CHECK(max_score(0, n) == 0);
    /* a constant whose first two records come swapped stays a constant */
    for (size_t i = 0; i < n; i++)
        x[i] = 7;
    ts[0] = STEP_MS, ts[1] = 0;
    flat_run("", n, -1);
    CHECK(max_score(0, n) == 0);
    /* and with no warm-up, a constant that a record far ahead interrupted
     * is still a constant: undone, it never moved */
    check_undone(", \"warmup\": 0", n, at, month, 99);
    CHECK(max_score(0, n) == 0);
    /* memory full (a 5 h run, then 15 short ones): the stuck stretch's
     * first 7 h, ended by the record far ahead, took the 5 h run's place;
     * undone, the 5 h run is back as the reference */
    size_t day = 24 * HOUR, k = day + 5 * HOUR;
    n = k + 15 * 6 + HOUR + 12 * HOUR;
    noisy(n);
    for (size_t i = day; i < day + 5 * HOUR; i++)
        x[i] = 30;
    for (size_t r = 0; r < 15; r++)
        x[k + 6 * r] = x[k + 6 * r + 1] = x[k + 6 * r + 2] = 20 + (float)r;
    size_t stuck = k + 15 * 6 + HOUR;
    for (size_t i = stuck; i < n; i++)
        x[i] = 41.5f;
    check_undone("", n, stuck + 7 * HOUR, month, 99);
    double d = (double)(n - 1 - stuck), q = (double)(5 * HOUR - 1) / d; /* in steps */
    CHECK_NEAR(score[n - 1], 1 - q * q, 1e-6);
}

/* A series constant from its first value never scores: nothing says it
 * should move. The same value after a change (after the warm-up) does,
 * against the run before the change. */
static void test_constant(void)
{
    size_t n = 4 * 24 * HOUR;
    for (size_t i = 0; i < n; i++) {
        x[i] = 7;
        ts[i] = (int64_t)i * STEP_MS;
        key[i] = 0;
    }
    flat_run("", n, -1);
    CHECK(max_score(0, n) == 0);
    x[36 * HOUR] = 8;
    flat_run("", n, -1);
    CHECK(max_score(0, 37 * HOUR + 1) == 0);
    double ref = (double)(36 * HOUR - 1), d = (double)(n - 1 - (36 * HOUR + 1));
    CHECK_NEAR(score[n - 1], 1 - (ref / d) * (ref / d), 1e-6);
    /* a change in the warm-up: the run after it started in the warm-up,
     * so it is learned, not scored */
    x[36 * HOUR] = 7;
    x[10] = 8;
    flat_run("", n, -1);
    CHECK(max_score(0, n) == 0);
}

/* A count at 0 every night from 00:00 to 08:00: the first night (in the
 * warm-up) is learned, the next nights stay silent, and a night that
 * lasts 24 h scores 1 - (8h / d)^2. Also when the stream starts at 06:00,
 * inside a night: the second night, started in the warm-up, is learned. */
static void test_nightly(void)
{
    size_t days = 9, n = days * 24 * HOUR;
    for (size_t i = 0; i < 3 * 24 * HOUR; i++) {
        size_t h = (i + 6 * HOUR) % (24 * HOUR) / HOUR;
        x[i] = h < 8 ? 0.0f : (float)(20 + 3 * gauss());
        ts[i] = (int64_t)(i + 6 * HOUR) * STEP_MS;
        key[i] = 0;
    }
    flat_run("", 3 * 24 * HOUR, -1);
    CHECK(max_score(0, 3 * 24 * HOUR) == 0);
    for (size_t i = 0; i < n; i++) {
        size_t h = i % (24 * HOUR) / HOUR;
        x[i] = h < 8 ? 0.0f : (float)(20 + 3 * gauss());
        ts[i] = (int64_t)i * STEP_MS;
        key[i] = 0;
    }
    size_t long_night = 6 * 24 * HOUR;
    for (size_t i = long_night; i < long_night + 24 * HOUR; i++)
        x[i] = 0;
    flat_run("", n, -1);
    CHECK(max_score(0, long_night + 8 * HOUR) == 0);
    double ref = (8 * HOUR - 1) * (double)STEP_MS, d = (double)(20 * HOUR) * STEP_MS;
    CHECK_NEAR(score[long_night + 20 * HOUR], 1 - (ref / d) * (ref / d), 1e-6);
    /* it runs on into the next night (32 h), and is then remembered: the
     * ordinary night after it is silent */
    CHECK(score[long_night + 31 * HOUR] > 0.9);
    CHECK(max_score(long_night + 32 * HOUR, n) == 0);
}

/* A 10 h stuck episode raises the reference; 16 later runs of three
 * values replace it, and a 3 h stretch scores again. */
static void test_memory(void)
{
    size_t at = 2 * 24 * HOUR, n = 0;
    noisy(4 * 24 * HOUR);
    for (size_t i = at; i < at + 10 * HOUR; i++)
        x[i] = 30;
    size_t after = at + 12 * HOUR; /* 16 short runs: 3 equal values each */
    for (int r = 0; r < 16; r++)
        for (int j = 0; j < 3; j++)
            x[after + 4 * (size_t)r + (size_t)j] = (float)(100 + r);
    size_t probe = after + 16 * 4 + HOUR;
    for (size_t i = probe; i < probe + 3 * HOUR; i++)
        x[i] = 33;
    n = probe + 3 * HOUR;
    flat_run("", n, -1);
    CHECK(score[probe + 3 * HOUR - 1] > 0.85); /* 3h against 1h */
    /* with only 15 short runs the episode is still remembered: silent */
    x[after + 4 * 15] = 99;
    x[after + 4 * 15 + 1] = 98;
    x[after + 4 * 15 + 2] = 97;
    flat_run("", n, -1);
    CHECK(max_score(probe, n) == 0);
}

/* A remembered run is forgotten after `memory` (14 days) of event time,
 * though no later run replaced it: a 10 h episode, 15 quiet days of
 * values that never repeat, then 3 h stuck scores; with "memory": "30d"
 * it does not. Steps of 15 minutes. */
static void test_memory_expires(void)
{
    const int64_t step = 900000;
    size_t day = 96, at = 2 * day, probe = at + 17 * day, n = probe + 12;
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)i; /* never repeats */
        ts[i] = (int64_t)i * step;
        key[i] = 0;
    }
    for (size_t i = at; i < at + 40; i++)
        x[i] = -1;
    for (size_t i = probe; i < n; i++)
        x[i] = -2;
    flat_run("", n, -1);
    double q = 1 / 2.75; /* 11 steps: 2.75 h against 1 h */
    CHECK(score[at + 39] > 0.98);
    CHECK_NEAR(score[n - 1], 1 - q * q, 1e-6);
    flat_run(", \"memory\": \"30d\"", n, -1);
    CHECK(score[n - 1] == 0);
}

/* tolerance continues a run within it; NaN and records without an event
 * time neither end nor extend one; min_values keeps two sparse equal
 * values from scoring. */
static void test_tolerance_and_gaps(void)
{
    size_t at = 2 * 24 * HOUR, n = at + 4 * HOUR;
    noisy(n);
    for (size_t i = at; i < n; i++)
        x[i] = (float)(60 + 0.03 * (double)(i - at)); /* a ramp: never 0.05 from its start */
    flat_run(", \"tolerance\": 0.05", n, -1);
    CHECK(max_score(at, n) == 0);
    for (size_t i = at; i < n; i++)
        x[i] = (float)(60 + 0.01 * (double)(i % 3)); /* within 0.05 of 60 */
    flat_run("", n, -1);
    CHECK(max_score(at, n) == 0);
    flat_run(", \"tolerance\": 0.05", n, -1);
    CHECK(score[n - 1] > 0.9);
    for (size_t i = at + HOUR; i < n; i += 7)
        x[i] = NAN;
    ts[at + HOUR + 3] = -1; /* no event time */
    x[at + HOUR + 3] = 1000;
    flat_run(", \"tolerance\": 0.05", n, -1);
    CHECK(score[n - 2] > 0.9);
    CHECK(score[n - 1] == 0 && score[at + HOUR] == 0); /* NaN: not scored */

    /* a value every 6 h: two equal in a row span 6 h but are no run */
    size_t m = 40;
    for (size_t i = 0; i < m; i++) {
        x[i] = i >= 30 && i < 32 ? 5.0f : (float)i;
        ts[i] = (int64_t)i * 6 * 3600000;
        key[i] = 0;
    }
    flat_run("", m, -1);
    CHECK(max_score(0, m) == 0);
    x[32] = 5;
    flat_run("", m, -1);
    CHECK_NEAR(score[32], 1 - (1.0 / 12) * (1.0 / 12), 1e-6);
}

/* A run is remembered once it holds min_values values: 3 equal values
 * over 3 h (sparse) then make a 2.5 h stuck stretch ordinary; 2 do not. */
static void test_min_values_remembered(void)
{
    for (int values = 2; values <= 3; values++) {
        size_t at = 2 * 24 * HOUR, n = at + values + 31;
        noisy(n);
        for (int j = 0; j < values; j++) { /* 1.5 h apart, nothing between */
            x[at + (size_t)j] = 77;
            ts[at + (size_t)j] = ts[at] + (int64_t)j * 3 * 3600000 / (values - 1);
        }
        for (size_t i = at + (size_t)values; i < n; i++)
            ts[i] = ts[at + (size_t)values - 1] + (int64_t)(i - at - (size_t)values + 1) * STEP_MS;
        for (size_t i = n - 30; i < n; i++) /* 2.5 h stuck */
            x[i] = 12;
        flat_run("", n, -1);
        CHECK(values == 3 ? score[n - 1] == 0 : score[n - 1] > 0.8);
    }
}

/* Two fields: the score is the higher one, and the explanation names the
 * field it came from. */
static void test_two_fields(void)
{
    static float w[N];
    size_t at = 2 * 24 * HOUR, n = at + 4 * HOUR;
    noisy(n);
    for (size_t k = 0; k < n; k++) {
        w[k] = k >= at ? 6.0f : x[k] + 1; /* w: 4 h stuck */
        x[k] = k >= at + HOUR ? 5.0f : x[k]; /* v: 3 h */
    }
    run_w = w;
    run("{\"fields\": [\"v\", \"w\"], \"out\": \"anomaly_score\"}", n, -1, s1, w1);
    run_w = NULL;
    double q = 1 / (4.0 - 1.0 / HOUR);
    CHECK_NEAR(score[n - 1], 1 - q * q, 1e-6);
    CHECK_STR(why[n - 1] ? why[n - 1] : "", "w stuck at 6 for 3.9h (48 values; reference 1.0h)");
}

/* Two keys interleaved score as each alone. */
static void test_by_key(void)
{
    size_t n = 5 * 24 * HOUR;
    noisy(n);
    for (size_t i = 0; i < n; i++) {
        key[i] = (int)(uniform() < 0.5);
        if (i > 3 * 24 * HOUR && key[i] == 1)
            x[i] = 12;
    }
    float *both = s2;
    const char *by = ", \"by\": \"host\"";
    flat_run(by, n, -1);
    memcpy(both, score, sizeof s2);
    double top1 = 0;
    for (int k = 0; k < 2; k++) {
        flat_run(by, n, k);
        for (size_t i = 0; i < n; i++)
            if (key[i] == k) {
                CHECK(score[i] == both[i]);
                top1 = k == 1 && score[i] > top1 ? score[i] : top1;
            }
    }
    CHECK(top1 > 0.9);
}

static void test_prepare_errors(void)
{
    static const char *feats[] = {"v", NULL};
    h_expect_prepare_error(&weir_op_flatline, feats, 1, "{\"fields\": [\"w\"]}",
                           "test.json: operators[1].fields[0]: unknown feature \"w\" (did you "
                           "mean \"v\"?)");
    h_expect_prepare_error(&weir_op_flatline, feats, 1,
                           "{\"fields\": [\"v\"], \"min_values\": 1}",
                           "test.json: operators[1].min_values: expected an integer in "
                           "[2,1000000000], got 1");
    h_expect_prepare_error(&weir_op_flatline, feats, 1,
                           "{\"fields\": [\"v\"], \"min_duration\": \"0s\"}",
                           "test.json: operators[1].min_duration: expected a duration of at least "
                           "1ms, got 0ms");
    h_expect_prepare_error(&weir_op_flatline, feats, 1,
                           "{\"fields\": [\"v\"], \"min_duration\": 0.25}",
                           "test.json: operators[1].min_duration: expected a whole number of "
                           "milliseconds (event times are in ms), got 0.25ms");
    /* a key idle for a day (a feed that reports on change) was swept with
     * its remembered runs, and the pipeline loaded without a word */
    h_expect_prepare_error(&weir_op_flatline, feats, 1, "{\"fields\": [\"v\"], \"evict\": \"ttl\"}",
                           "test.json: operators[1].ttl: expected at least memory (and warmup) "
                           "(1209600000 ms): a key that expires sooner forgets its runs and warms "
                           "up again, got 86400000 ms");
    h_expect_prepare_error(&weir_op_flatline, feats, 1,
                           "{\"fields\": [\"v\"], \"evict\": \"ttl\", \"ttl\": \"14d\"}", NULL);
}

int main(void)
{
    run_type = &weir_op_flatline;
    run_ts = 1;
    rng = 11;
    test_stuck();
    test_constant();
    test_nightly();
    test_memory();
    test_memory_expires();
    test_tolerance_and_gaps();
    test_min_values_remembered();
    test_out_of_time();
    test_two_fields();
    test_by_key();
    test_prepare_errors();
    return check_summary();
}
