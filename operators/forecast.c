/* forecast: scores each value by its residual from a Holt-Winters forecast
 * (additive level, trend and seasonal profile) made from the values before
 * it, per feature and per partition or key.
 *
 * For each value x at phase p of the period (by the record's event time,
 * `season_buckets` phases of `season`; no season without it):
 *
 *     F = L + T + S[p]          the forecast, from earlier values only
 *     r = x - F                 the residual, scored, then learned as
 *     x* = F + clamp(r, -clip s, clip s)    (s the residual's scale)
 *     L' = alpha (x* - S[p]) + (1 - alpha)(L + T)
 *     T' = beta (L' - L) + (1 - beta) T
 *     S[p]' = gamma (x* - L') + (1 - gamma) S[p]   (x* - L' the first time)
 *
 * With `clip` K > 0 (robust Holt-Winters smoothing, Huber's psi) one spike
 * moves the level and its phase's offset by at most K scales,
 * so it does not return as an alert a period later; x* = x while warming
 * up, at scale 0, with clip 0, at a phase seen for the first time, and
 * when the phase was beyond the clip on the same side the period before:
 * a repeat (a daily job that starts, a level that moved) is a pattern.
 *
 * A phase never seen yet counts as 0. The residual's scale is the root of
 * the mean of r^2: the plain mean of the first `window` residuals, then
 * exponentially weighted with weight 1/window, so a first tiny residual
 * does not set the scale for long. z = r / max(scale, min_scale); the
 * score is erf(|z|/sqrt 2) ("mapping": "erf") or z^2/(z^2 + z_half^2)
 * ("ratio"), 0 on the side not watched ("side": "up" or "down"); the
 * record's score (`out`) is the max over features. "hold": H reports a
 * score only above the key's H scores before it (as deviation's hold).
 * "range": true writes the expected range F -/+ range_k * scale as f_lo
 * and f_hi for threshold's explanations.
 *
 * The first `warmup` values of a key score 0 and are flagged
 * WEIR_REC_WARMUP (with several features, a record only while none of its
 * values was scored). A NaN or infinite value is missing: not scored, not
 * learned; so is a record without an event time when there is a season. A
 * seasonal offset beyond a float's range is not learned. Cost O(1) per value; state per feature 40
 * bytes + 8 per phase (12 with a clip: the phase's mark, scorer.h), plus the hold ring. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/scorer.h"
#include "operators/warm_mean.h"

#define ROUND8(n) (((n) + 7) & ~(size_t)7)

struct forecast_conf {
    struct scorer_conf s; /* fields, out, side, mapping, hold, range... (operators/scorer.h) */
    double alpha, beta, gamma, clip;
    uint64_t season_ns;
    int64_t season_buckets;
    int64_t window, warmup;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int64_t season_ms;
    size_t feature_bytes, hold_offset, bytes;
    uint64_t layout;
};

static const struct weir_option forecast_options[] = {
    SCORER_OPTION_ROWS(struct forecast_conf, s),
    {"alpha", WEIR_OPT_NUMBER, "0.1", "weight of the newest value in the level",
     offsetof(struct forecast_conf, alpha), WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN, 0, 1, NULL},
    {"beta", WEIR_OPT_NUMBER, "0", "weight of the newest level change in the trend (0: no trend)",
     offsetof(struct forecast_conf, beta), WEIR_OPT_RANGE, 0, 1, NULL},
    {"clip", WEIR_OPT_NUMBER, "0",
     "learn a value at most this many residual scales from its forecast, unless its phase was "
     "that far on the same side the period before (one spike must not return as an alert a "
     "period later; a repeat is a pattern); 0: every value learned whole",
     offsetof(struct forecast_conf, clip), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"gamma", WEIR_OPT_NUMBER, "0.3", "season: weight of the newest value in its phase's offset",
     offsetof(struct forecast_conf, gamma), WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN, 0, 1, NULL},
    {"season", WEIR_OPT_DURATION, NULL,
     "period of the seasonal profile by event time (\"1d\": time of day, \"7d\": time of day and "
     "day of week); none: level and trend only",
     offsetof(struct forecast_conf, season_ns), 0, 0, 0, NULL},
    {"season_buckets", WEIR_OPT_INT, "288", "season: phases per period (288: 5 minutes of a day)",
     offsetof(struct forecast_conf, season_buckets), WEIR_OPT_RANGE, 2, 10080, NULL},
    {"window", WEIR_OPT_INT, "256", "residuals the scale averages over (then weight 1/window)",
     offsetof(struct forecast_conf, window), WEIR_OPT_RANGE, 1, 1e9, NULL},
    {"warmup", WEIR_OPT_INT, "30",
     "values seen before scoring (score 0 and WEIR_REC_WARMUP until then)",
     offsetof(struct forecast_conf, warmup), WEIR_OPT_RANGE, 2, 1e9, NULL},
    WEIR_STATE_OPTION_ROWS(struct forecast_conf, state),
    {0},
};

/* One feature's model, followed by its phases and, with a clip, one mark
 * per phase (the last residual beyond the clip, scorer.h). */
struct hw_model {
    double level, trend;
    double var;        /* mean of squared residuals (plain, then weighted) */
    uint64_t seen;     /* values learned */
    uint64_t residuals;
};

struct hw_phase {
    float offset;
    uint32_t seen;
};

static int forecast_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct forecast_conf *c = vconf;
    char ip[256];
    int bad = scorer_prepare(&c->s, raw, p);
    if (c->s.fields.n > WEIR_SCHEMA_MAX / 3)
        return bad;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    c->season_ms = (int64_t)(c->season_ns / 1000000);
    if (c->season_ns && c->season_ms < c->season_buckets) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "season"),
                      "expected a period of at least season_buckets (%lld) ms, got %lld ms",
                      (long long)c->season_buckets, (long long)c->season_ms);
        bad++;
    }
    static const char *const season_opts[] = {"season_buckets", "gamma", NULL};
    bad += weir_options_only_with(raw, forecast_options, season_opts, c->season_ns != 0,
                                  "\"season\"", p->diag, p->path);
    if (c->season_ns)
        bad += weir_schema_event_time(p, "season", "no phase is known: the forecast has no season");
    size_t phases = c->season_ms > 0 ? (size_t)c->season_buckets : 0;
    size_t marks = c->clip > 0 ? phases : 0;
    c->feature_bytes = sizeof(struct hw_model) +
                       ROUND8(phases * sizeof(struct hw_phase) + marks * sizeof(uint32_t));
    c->hold_offset = c->feature_bytes * c->s.fields.n;
    c->bytes = c->hold_offset + weir_hold_bytes(c->s.hold);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "forecast/3");
    for (size_t k = 0; k < c->s.fields.n; k++)
        h = weir_hash_str(h, c->s.fields.v[k]);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->season_ms), (uint64_t)phases);
    h = weir_hash_u64(h, (uint64_t)marks);
    c->layout = weir_hash_u64(h, (uint64_t)c->s.hold);
    return bad;
}

static int forecast_init(struct weir_op *op, struct weir_error *err)
{
    const struct forecast_conf *c = op->conf;
    if (weir_op_state_declare(op, &c->state, (uint32_t)c->bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "forecast: out of memory");
    return 0;
}

/* Forecasts x at event time ts, scores its residual, then learns x,
 * clipped (scorer.h). ph: NULL without a season (or an event time); mark:
 * its phase's mark, with a season and a clip. */
static double model_step(const struct forecast_conf *c, struct hw_model *m, struct hw_phase *ph,
                         uint32_t *mark, int64_t ts, double x, int *warm, float *lo, float *hi)
{
    double s_p = ph && ph->seen ? ph->offset : 0.0, score = 0;
    if (m->seen) {
        double f = m->level + m->trend + s_p, r = scorer_residual(x, f);
        double scale = sqrt(m->var);
        scale = scale > c->s.min_scale ? scale : c->s.min_scale;
        if (m->seen >= (uint64_t)c->warmup) {
            score = scorer_z(&c->s, r, scale); /* 1 for any residual after exact forecasts */
            if (lo) {
                *lo = (float)(f - c->s.range_k * scale);
                *hi = (float)(f + c->s.range_k * scale);
            }
            double d = r;
            if (c->clip > 0 && (!ph || ph->seen)) /* a phase seen for the first time: whole */
                d = ph ? scorer_phase_residual(r, c->clip, scale, ts / c->season_ms, mark, 0, NULL)
                       : scorer_learned_residual(r, c->clip, scale);
            if (d != r) /* clipped; r may be a rounding's 0, and then x is learned as it is */
                x = f + d;
        }
        double a = 1.0 / warm_mean_span(m->residuals, c->window);
        m->var = scorer_variance((1 - a) * m->var + a * r * r);
        m->residuals++;
        double level = c->alpha * (x - s_p) + (1 - c->alpha) * (m->level + m->trend);
        m->trend = c->beta * (level - m->level) + (1 - c->beta) * m->trend;
        m->level = level;
    } else {
        m->level = x;
    }
    *warm = m->seen < (uint64_t)c->warmup;
    if (ph) { /* not an offset beyond a float: an infinity would make every forecast NaN */
        double fresh = x - m->level;
        double offset = ph->seen ? c->gamma * fresh + (1 - c->gamma) * ph->offset : fresh;
        if (fabs(offset) <= FLT_MAX) {
            ph->offset = (float)offset;
            ph->seen += ph->seen < UINT32_MAX;
        }
    }
    m->seen++;
    return score;
}

static int forecast_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct forecast_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        unsigned char *state = weir_op_state(op, b, i, NULL);
        if (!state)
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        int64_t ts = b->rec[i].ts_ms;
        double best = 0;
        struct scorer_warm tally = {0, 0};
        for (size_t k = 0; k < c->s.fields.n; k++) {
            double x = row[c->s.in_col[k]];
            float *lo, *hi;
            scorer_range_slots(&c->s, row, k, &lo, &hi);
            if (!isfinite(x))
                continue;
            if (c->season_ms > 0 && ts < 0)
                continue; /* no phase to forecast it at: missing, as a NaN */
            struct hw_model *m = (struct hw_model *)(state + k * c->feature_bytes);
            struct hw_phase *ph = NULL;
            uint32_t *mark = NULL;
            if (c->season_ms > 0) {
                size_t at = (size_t)((ts % c->season_ms) * c->season_buckets / c->season_ms);
                ph = (struct hw_phase *)(m + 1) + at;
                if (c->clip > 0)
                    mark = (uint32_t *)((struct hw_phase *)(m + 1) + c->season_buckets) + at;
            }
            int warm;
            double s = model_step(c, m, ph, mark, ts, x, &warm, lo, hi);
            scorer_warm_add(&tally, warm);
            best = s > best ? s : best;
        }
        if (scorer_warm_flagged(&tally))
            weir_record_warming(&b->rec[i], c->s.out_col);
        scorer_finish(&c->s, state + c->hold_offset, row, best);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_forecast = {
    .name = "forecast",
    .reads_declared = 1,
    .summary = "Scores each value by its residual from a Holt-Winters forecast (level, trend, "
               "season), per key, one- or two-sided",
    .options = forecast_options,
    .conf_size = sizeof(struct forecast_conf),
    .prepare = forecast_prepare,
    .init = forecast_init,
    .process = forecast_process,
};
