/* What the residual scorers `deviation` and `forecast` share: the options
 * that say which inputs, where the score goes, which side and mapping turn
 * a deviation into a score, the hold, and the expected range for
 * explanations ("range": true writes "<f>_lo"/"<f>_hi" per input unless
 * "range_out" names them); their resolution at prepare; the z -> score
 * mapping, the clipped residual they learn, and the record's tail (hold,
 * then the score written). What the scorers' explanations share is in
 * operators/scorer_explain.h, included here. Shared by operators, not part
 * of the engine. */
#ifndef WEIR_OPERATORS_SCORER_H
#define WEIR_OPERATORS_SCORER_H

#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/operator.h"
#include "engine/option.h"
#include "engine/schema.h"
#include "operators/hold.h"
#include "operators/scorer_explain.h"

enum scorer_side { SCORER_BOTH, SCORER_UP, SCORER_DOWN };
enum scorer_mapping { SCORER_ERF, SCORER_RATIO };

/* The shared options (filled by the option table) and their columns. */
struct scorer_conf {
    struct weir_strlist fields;
    const char *out;
    int side, mapping;
    double z_half, min_scale;
    int64_t hold;
    int range;
    double range_k;
    const json_t *range_out;
    /* resolved by scorer_prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int lo_col[WEIR_SCHEMA_MAX], hi_col[WEIR_SCHEMA_MAX];
    int out_col;
};

/* The option rows of struct scorer_conf m inside the conf struct `type`. */
#define SCORER_OPTION_ROWS(type, m)                                                                \
    {"fields",                                                                                     \
     WEIR_OPT_STRINGS,                                                                             \
     NULL,                                                                                         \
     "input features",                                                                             \
     offsetof(type, m.fields),                                                                     \
     WEIR_OPT_REQUIRED,                                                                            \
     0,                                                                                            \
     0,                                                                                            \
     NULL},                                                                                        \
        {"out",                                                                                    \
         WEIR_OPT_STRING,                                                                          \
         "\"anomaly_score\"",                                                                      \
         "output score in [0,1]: max over the features",                                           \
         offsetof(type, m.out),                                                                    \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"side",                                                                                   \
         WEIR_OPT_ENUM,                                                                            \
         "\"both\"",                                                                               \
         "which deviations from the expected value score: both, up (rises), down (drops)",         \
         offsetof(type, m.side),                                                                   \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         "both|up|down"},                                                                          \
        {"mapping",                                                                                \
         WEIR_OPT_ENUM,                                                                            \
         "\"erf\"",                                                                                \
         "z to score: erf = erf(|z|/sqrt 2), the normal mass within |z| (reaches 1.0 in float at " \
         "|z| of about 5.5); ratio = z^2/(z^2 + z_half^2), which keeps ranking larger deviations", \
         offsetof(type, m.mapping),                                                                \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         "erf|ratio"},                                                                             \
        {"z_half",                                                                                 \
         WEIR_OPT_NUMBER,                                                                          \
         "3",                                                                                      \
         "ratio: the |z| that scores 0.5",                                                         \
         offsetof(type, m.z_half),                                                                 \
         WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN,                                                       \
         0,                                                                                        \
         INFINITY,                                                                                 \
         NULL},                                                                                    \
        {"min_scale",                                                                              \
         WEIR_OPT_NUMBER,                                                                          \
         "0",                                                                                      \
         "floor under the scale z is measured in",                                                 \
         offsetof(type, m.min_scale),                                                              \
         WEIR_OPT_RANGE,                                                                           \
         0,                                                                                        \
         INFINITY,                                                                                 \
         NULL},                                                                                    \
        WEIR_HOLD_OPTION_ROW(type, m.hold),                                                        \
        {"range",                                                                                  \
         WEIR_OPT_BOOL,                                                                            \
         "false",                                                                                  \
         "also write f_lo and f_hi: the expected value -/+ range_k * scale",                       \
         offsetof(type, m.range),                                                                  \
         0,                                                                                        \
         0,                                                                                        \
         0,                                                                                        \
         NULL},                                                                                    \
        {"range_k",                                                                                \
         WEIR_OPT_NUMBER,                                                                          \
         "3",                                                                                      \
         "width of the expected range, in scales",                                                 \
         offsetof(type, m.range_k),                                                                \
         WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN,                                                       \
         0,                                                                                        \
         INFINITY,                                                                                 \
         NULL},                                                                                    \
    {                                                                                              \
        "range_out", WEIR_OPT_JSON, NULL,                                                          \
            "names of the range features, [lo, hi] per input (default: each input + \"_lo\", "     \
            "\"_hi\")",                                                                            \
            offsetof(type, m.range_out), 0, 0, 0, NULL                                             \
    }

/* Resolves the inputs (at most WEIR_SCHEMA_MAX / 3), the range features and
 * the output; returns the number of problems (reported to p->diag). raw
 * gains the default "range_out" names, which the schema borrows. */
int scorer_prepare(struct scorer_conf *s, const json_t *raw, struct weir_prepare *p);

/* What a record's values found: some still warming up, some scored. The
 * record is flagged as warming only when none was scored: a score from a
 * feature past its warm-up is evidence even while another feature (one
 * that started later, or a sparse one) still warms up. */
struct scorer_warm {
    int warming, scored;
};

static inline void scorer_warm_add(struct scorer_warm *t, int warming)
{
    t->warming |= warming;
    t->scored |= !warming;
}

static inline int scorer_warm_flagged(const struct scorer_warm *t)
{
    return t->warming && !t->scored;
}

/* v as the float that values and scores arrive as: a bound or limit kept
 * as a double would sit a double ulp off an equal float (0.7 given as a
 * minimum lies above the float 0.7; a quantile stalled below a saturated
 * score of 1 stays below it). Beyond a float's range v is kept. */
static inline double scorer_as_float(double v)
{
    return fabs(v) <= FLT_MAX ? (double)(float)v : v;
}

/* A deviation d from the expected value, in units of scale, as a score in
 * [0,1]; 0 on the side not watched; 1 for any deviation at scale 0. */
static inline double scorer_z(const struct scorer_conf *s, double d, double scale)
{
    if ((s->side == SCORER_UP && d <= 0) || (s->side == SCORER_DOWN && d >= 0) || d == 0)
        return 0.0;
    if (!(scale > 0))
        return 1.0;
    double z = d / scale;
    if (s->mapping == SCORER_RATIO) { /* as z^2/(z^2 + h^2), without inf/inf at a tiny scale */
        double q = s->z_half / z;
        return 1.0 / (1.0 + q * q);
    }
    return erf(fabs(z) * M_SQRT1_2);
}

/* x's residual from what was expected of it, none within float resolution:
 * inputs are floats, so a level or mean learnt from a constant input settles
 * a unit in its last place away from it, and the scale learnt from such
 * residuals would then score that unit as z = 1 on every record for as long
 * as the value stays (0.68 with erf). */
static inline double scorer_residual(double x, double expected)
{
    double d = x - expected;
    return isfinite(expected) && fabs(d) <= 2 * FLT_EPSILON * fmax(fabs(x), fabs(expected)) ? 0.0
                                                                                              : d;
}

/* A variance learnt from zero residuals decays towards subnormals (slow to
 * compute with, and a real residual's z overflows there): 0 below the
 * smallest normal double, where any residual scores 1. */
static inline double scorer_variance(double v)
{
    return v < DBL_MIN ? 0.0 : v;
}

/* The residual d as learned with a clip of k scales (Huber's psi, as in
 * robust Holt-Winters smoothing): one spike moves the expected value by
 * at most k scales, so it does not come back as an "echo" a period later.
 * Unclipped when k or the scale is 0: a flat series must still learn a
 * new level. The scale itself learns the whole residual, so after a real
 * shift it widens and lets the new level in. */
static inline double scorer_learned_residual(double d, double k, double scale)
{
    double lim = k * scale;
    if (!(lim > 0))
        return d;
    return d > lim ? lim : d < -lim ? -lim : d;
}

/* A seasonal phase's memory of its last residual beyond the clip: the
 * period it came in (its low 30 bits, counted from 2 so that no period,
 * nor the one before period 0, reads as 0), its side, and whether it
 * repeated the period before. 0: none yet. */
#define SCORER_MARK(period, up, repeat) \
    ((uint32_t)(((uint64_t)(period) + 2) << 2) | (uint32_t)(up) << 1 | (uint32_t)(repeat))

/* Notes at a phase's mark that a residual beyond the clip, on side `up`,
 * came in `period`; returns whether it repeats: the phase was beyond the
 * clip on the same side in the period before, or already repeated in
 * this one. A late record's period, behind the mark's, is not noted (the
 * newer period's spike must still count next period) and is not known to
 * repeat: the mark holds one period. Periods compare modulo 2^30, as the
 * mark keeps them. */
static inline int scorer_beyond_repeats(uint32_t *mark, int64_t period, int up)
{
    uint32_t ahead = ((SCORER_MARK(period, up, 0) >> 2) - (*mark >> 2)) & 0x3FFFFFFFu;
    if (*mark != 0 && ahead >= 0x20000000u)
        return 0;
    int repeat = (*mark | 1) == (SCORER_MARK(period - 1, up, 0) | 1) ||
                 *mark == SCORER_MARK(period, up, 1);
    if (*mark != SCORER_MARK(period, up, 1))
        *mark = SCORER_MARK(period, up, repeat);
    return repeat;
}

/* The residual d at a seasonal phase as learned: clipped as above, unless
 * it repeats (scorer_beyond_repeats). A spike is clipped; a daily job that
 * starts, or a level that moved, repeats the next period and from then on
 * is learned whole. mark: the phase's memory, period the season's number;
 * mark2 (or NULL) a second profile's phase memory (deviation's
 * season_week) in its own period2: a repeat in either is learned whole,
 * and both remember. */
static inline double scorer_phase_residual(double d, double k, double scale, int64_t period,
                                           uint32_t *mark, int64_t period2, uint32_t *mark2)
{
    double lim = k * scale;
    if (!(lim > 0) || fabs(d) <= lim)
        return d;
    int repeat = scorer_beyond_repeats(mark, period, d > 0);
    if (mark2 && scorer_beyond_repeats(mark2, period2, d > 0))
        repeat = 1;
    return repeat ? d : d > 0 ? lim : -lim;
}

/* Feature k's range slots in row (NaN until scored), or NULLs without "range". */
static inline void scorer_range_slots(const struct scorer_conf *s, float *row, size_t k,
                                      float **lo, float **hi)
{
    *lo = *hi = NULL;
    if (s->range) {
        *lo = &row[s->lo_col[k]];
        *hi = &row[s->hi_col[k]];
        **lo = **hi = NAN;
    }
}

/* The record's tail: the hold gate (its ring at hold_ring in the key's
 * state), then the score written. */
static inline void scorer_finish(const struct scorer_conf *s, unsigned char *hold_ring,
                                 float *row, double best)
{
    if (s->hold)
        best = weir_hold_gate(hold_ring, s->hold, best);
    row[s->out_col] = (float)best;
}

#endif
