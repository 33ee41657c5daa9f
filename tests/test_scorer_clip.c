/* Tests for the clip the seasonal scorers share (operators/scorer.h): a
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

int main(void)
{
    test_learned_residual();
    test_beyond_repeats();
    test_phase_residual();
    return check_summary();
}
