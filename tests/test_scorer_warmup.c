/* Tests for the warm-up flag of the residual scorers (deviation, forecast)
 * with several features: a record is flagged WEIR_REC_WARMUP only while none
 * of its values was scored, so a spike in a feature past its warm-up is not
 * muted (threshold skips flagged records) while a feature that started
 * later still warms up; with one feature, the first `warmup` values. */
#include <math.h>

#include "tests/keyed_run.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_deviation, weir_op_forecast;

enum { LATE = 500, WARMUP = 30, SPIKE = LATE + 10, RECORDS = 1000 };
static float w[N];

static void check_type(const struct weir_operator_type *type, const char *name)
{
    for (size_t i = 0; i < RECORDS; i++) {
        x[i] = (float)(10 + 0.1 * gauss());
        w[i] = i < LATE ? NAN : (float)(5 + 0.1 * gauss()); /* w starts later */
        key[i] = 0;
    }
    x[SPIKE] = 30;
    run_type = type;
    run_w = w;
    run("{\"fields\": [\"v\", \"w\"], \"warmup\": 30}", RECORDS, -1, s1, w1);
    run_w = NULL;
    size_t flagged = 0, flagged_late = 0;
    for (size_t i = 0; i < RECORDS; i++) {
        flagged += w1[i];
        flagged_late += i >= WARMUP && w1[i];
    }
    printf("%s: %zu records flagged, %zu after v's warm-up; spike %.3f\n", name, flagged,
           flagged_late, s1[SPIKE]);
    CHECK(flagged == WARMUP && flagged_late == 0);
    CHECK(!w1[SPIKE] && s1[SPIKE] > 0.9f); /* w is still warming up here */
    /* one feature: its first `warmup` values, as before, and the same scores */
    run("{\"fields\": [\"v\"], \"warmup\": 30}", RECORDS, -1, s2, w1);
    flagged = 0;
    for (size_t i = 0; i < RECORDS; i++)
        flagged += w1[i];
    CHECK(flagged == WARMUP && !w1[WARMUP]);
    CHECK(s2[SPIKE] == s1[SPIKE]);
}

int main(void)
{
    rng = 11;
    check_type(&weir_op_deviation, "deviation");
    check_type(&weir_op_forecast, "forecast");
    return check_summary();
}
