/* Tests for what the residual scorers share (operators/scorer.h): the ratio
 * mapping at a tiny scale (no inf/inf), a residual within float resolution
 * as none, a subnormal variance as 0; the clip the seasonal ones share: a
 * residual clipped at k scales, unclipped at scale or k 0; a phase's mark
 * says repeat only for the same side in the period before or a repeat
 * already in this one; with a second mark (deviation's season_week) a
 * repeat in either is learned whole and both marks remember, so a weekly
 * repeat is known even in a week whose days repeated too. */
#include "operators/scorer.h"
#include "tests/check.h"

static void test_learned_residual(void)
{
    CHECK(scorer_learned_residual(5, 3, 1) == 3);
    CHECK(scorer_learned_residual(-5, 3, 1) == -3);
    CHECK(scorer_learned_residual(2, 3, 1) == 2);
    CHECK(scorer_learned_residual(5, 0, 1) == 5); /* clip off */
    CHECK(scorer_learned_residual(5, 3, 0) == 5); /* a flat series learns a new level */
}

static void test_beyond_repeats(void)
{
    uint32_t mark = 0;
    CHECK(scorer_beyond_repeats(&mark, 10, 1) == 0); /* first time */
    CHECK(mark == SCORER_MARK(10, 1, 0));
    CHECK(scorer_beyond_repeats(&mark, 11, 1) == 1); /* the next period, same side */
    CHECK(scorer_beyond_repeats(&mark, 11, 1) == 1); /* again in that period */
    CHECK(scorer_beyond_repeats(&mark, 12, 0) == 0); /* the other side */
    CHECK(scorer_beyond_repeats(&mark, 14, 0) == 0); /* a period skipped */
    CHECK(scorer_beyond_repeats(&mark, 15, 0) == 1);
    /* a late record's period leaves the mark with the newer one */
    CHECK(scorer_beyond_repeats(&mark, 16, 1) == 0);
    CHECK(scorer_beyond_repeats(&mark, 15, 1) == 0 && mark == SCORER_MARK(16, 1, 0));
    CHECK(scorer_beyond_repeats(&mark, 17, 1) == 1);
    mark = 0;
    CHECK(scorer_beyond_repeats(&mark, 0, 1) == 0); /* period 0 is no "none yet" */
    CHECK(mark != 0 && scorer_beyond_repeats(&mark, 1, 1) == 1);
}

static void test_phase_residual(void)
{
    uint32_t day = 0, week = 0;
    /* within the clip: learned whole, nothing remembered */
    CHECK(scorer_phase_residual(2, 3, 1, 10, &day, 1, &week) == 2);
    CHECK(day == 0 && week == 0);
    /* first time beyond: clipped, and both marks remember */
    CHECK(scorer_phase_residual(5, 3, 1, 10, &day, 1, &week) == 3);
    CHECK(day == SCORER_MARK(10, 1, 0) && week == SCORER_MARK(1, 1, 0));
    /* the next day repeats by the daily mark; the weekly one still learns */
    CHECK(scorer_phase_residual(5, 3, 1, 11, &day, 1, &week) == 5);
    CHECK(week == SCORER_MARK(1, 1, 0));
    CHECK(scorer_phase_residual(-5, 3, 1, 13, &day, 1, &week) == -3);
    CHECK(week == SCORER_MARK(1, 0, 0)); /* the same week, the other side */
    /* a day that repeats yesterday is remembered by the weekly mark too, so
     * a week later, after a quiet day, the weekly mark alone repeats */
    day = SCORER_MARK(19, 1, 0);
    week = 0;
    CHECK(scorer_phase_residual(5, 3, 1, 20, &day, 2, &week) == 5); /* by the day */
    CHECK(week == SCORER_MARK(2, 1, 0));
    CHECK(scorer_phase_residual(5, 3, 1, 27, &day, 3, &week) == 5); /* by the week */
    CHECK(day == SCORER_MARK(27, 1, 0) && week == SCORER_MARK(3, 1, 1));
    /* without a second mark, one memory */
    day = 0;
    CHECK(scorer_phase_residual(5, 3, 1, 30, &day, 0, NULL) == 3);
    CHECK(scorer_phase_residual(5, 3, 1, 31, &day, 0, NULL) == 5);
    CHECK(scorer_phase_residual(5, 0, 1, 40, &day, 0, NULL) == 5); /* clip off */
    CHECK(day == SCORER_MARK(31, 1, 1));
}

static void test_z_and_residual(void)
{
    struct scorer_conf ratio = {.mapping = SCORER_RATIO, .z_half = 3};
    struct scorer_conf erf_up = {.mapping = SCORER_ERF, .side = SCORER_UP};
    CHECK(scorer_z(&ratio, 1e200, 1e-160) == 1.0); /* z overflows: inf/inf was NaN */
    CHECK(scorer_z(&ratio, 3, 1) == 0.5 && scorer_z(&ratio, -3, 1) == 0.5);
    CHECK(scorer_z(&ratio, 1e-300, 1e10) == 0.0);
    CHECK(scorer_z(&ratio, 1, 0) == 1.0 && scorer_z(&erf_up, -1, 0) == 0.0);
    CHECK(scorer_residual(50.3575, (double)nextafterf(50.3575f, 60)) == 0.0);
    CHECK(scorer_residual(50.3575, 50.36) != 0.0);
    CHECK(scorer_residual(1e-6, 0) == 1e-6); /* relative to the values: near 0 too */
    CHECK(scorer_residual(1, INFINITY) == -INFINITY);
    CHECK(scorer_variance(1e-310) == 0.0 && scorer_variance(1e-300) == 1e-300);
}

int main(void)
{
    test_z_and_residual();
    test_learned_residual();
    test_beyond_repeats();
    test_phase_residual();
    return check_summary();
}
