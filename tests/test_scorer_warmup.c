/* Tests for the warm-up flag of the scorers that warm up per feature
 * (deviation, forecast, cad, cad_ose) with several features: a record is flagged WEIR_REC_WARMUP
 * only while none of its values was scored, so a spike in a feature past its warm-up is not muted
 * (threshold skips flagged records) while a feature that started later still warms up; with one
 * feature, the first `warmup` values. */
#include <math.h>
#include <stdio.h>

#include "tests/keyed_run.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_deviation, weir_op_forecast, weir_op_cad,
    weir_op_cad_ose;

enum { LATE = 500, WARMUP = 30, SPIKE = LATE + 10, RECORDS = 1000 };
static float w[N];

/* conf: the operator's options less "fields", its warm-up WARMUP records */
static void check_type(const struct weir_operator_type *type, const char *name, const char *conf,
                       float spike_min)
{
    for (size_t i = 0; i < RECORDS; i++) {
        x[i] = (float)(10 + 0.1 * gauss());
        w[i] = i < LATE ? NAN : (float)(5 + 0.1 * gauss()); /* w starts later */
        key[i] = 0;
    }
    x[SPIKE] = 30;
    run_type = type;
    run_w = w;
    char both[200], one[200];
    snprintf(both, sizeof both, "{\"fields\": [\"v\", \"w\"], %s}", conf);
    snprintf(one, sizeof one, "{\"fields\": [\"v\"], %s}", conf);
    run(both, RECORDS, -1, s1, w1);
    run_w = NULL;
    size_t flagged = 0, flagged_late = 0;
    for (size_t i = 0; i < RECORDS; i++) {
        flagged += w1[i];
        flagged_late += i >= WARMUP && w1[i];
    }
    printf("%s: %zu records flagged, %zu after v's warm-up; spike %.3f\n", name, flagged,
           flagged_late, s1[SPIKE]);
    CHECK(flagged == WARMUP && flagged_late == 0);
    CHECK(!w1[SPIKE] && s1[SPIKE] > spike_min); /* w is still warming up here */
    /* one feature: its first `warmup` values, as before, and the same scores */
    run(one, RECORDS, -1, s2, w1);
    flagged = 0;
    for (size_t i = 0; i < RECORDS; i++)
        flagged += w1[i];
    CHECK(flagged == WARMUP && !w1[WARMUP]);
    CHECK(s2[SPIKE] == s1[SPIKE]);
}

int main(void)
{
    rng = 11;
    check_type(&weir_op_deviation, "deviation", "\"warmup\": 30", 0.9f);
    check_type(&weir_op_forecast, "forecast", "\"warmup\": 30", 0.9f);
    check_type(&weir_op_cad, "cad", "\"range_records\": 30", 0.5f);
    check_type(&weir_op_cad_ose, "cad_ose", "\"range_records\": 30", 0.3f);
    return check_summary();
}
