/* deviation: scores how far each value lies from a sliding window of the
 * values before it.
 *
 * For each input feature it keeps the last `window` values (a ring, and the
 * same values sorted, in the keyed state) and compares the new value x with
 * them BEFORE adding it (never reading ahead):
 *
 *  - "robust": center = median, scale = 1.4826 * MAD (median absolute
 *    deviation, scaled to match sigma under a normal law). A burst of outliers
 *    moves neither, so a level shift keeps scoring for about window/2 records
 *    and a spike does not mask the next one.
 *  - "gaussian": center = mean, scale = population standard deviation, as
 *    NAB's Windowed Gaussian (which uses a window of 6400 and slides it in
 *    steps of 100; this one slides by one).
 *
 * z = (x - center) / max(scale, min_scale); a zero scale (a flat window) falls
 * back to the window's standard deviation, and when that is zero too, any
 * change is an infinite z. The feature's score is erf(|z|/sqrt 2) in [0,1]
 * (1 for an infinite z), or 0 when z points to the side not watched
 * ("side": "up" scores rises only, "down" drops only). The record's score
 * (`out`) is the max over features.
 * "mapping": "ratio" maps z to z^2/(z^2 + z_half^2) instead, which still
 * ranks deviations that erf rounds to 1. With "hold": H, a score is reported
 * only when it is above every score of the key's H records before it (else
 * 0), so an incident scores once, on its first record: what a ranking
 * metric that counts every flagged row (NAB) rewards, and what a pager wants.
 * With "season": P (and an event time on the records, from extract's
 * timestamp field) each value is also compared with the mean of its phase
 * of the period (season_buckets phases, each an exponentially weighted mean
 * of the values seen at that phase), scaled by the residuals of all phases;
 * the higher of the two scores counts, so a missing daily peak scores though
 * the value itself is ordinary. With season_clip K a phase learns its value
 * clipped at K residual scales from its mean, so a spike does not come back
 * as an alert on the ordinary value at its phase a period later; unless the
 * phase was beyond the clip on the same side the period before (or, with
 * season_week, at the same time and weekday a week before): a repeat (a
 * daily job that starts, a level that moved) is learned whole.
 * With "season_week" (and a "1d" season) a second profile is kept per day of
 * week (the same time of day and day of week, days from Monday by UTC); a
 * phase of it scores once it holds season_warmup values, the daily phase
 * before that, so a series shorter than a few weeks still gets the daily
 * profile and a weekend stops looking like an outage once a weekend was seen.
 * With "range": true the operator also writes f_lo and f_hi, the expected
 * range center -/+ range_k * scale, which threshold's explanations read:
 * the season's (its phase's mean -/+ range_k * its scale) when the season
 * gave the score, so an alert the season raised is not explained by a
 * window range the value lies inside.
 *
 * During the first `warmup` values of a key the score is 0 and the record is
 * flagged WEIR_REC_WARMUP (a threshold downstream neither alerts nor learns
 * from it); with several features (or "of": "both"), only while none of the
 * record's values was scored: one past its warm-up gives a real score. A
 * NaN or infinite input is missing: it scores nothing and is not added.
 *
 * Cost per record and feature: gaussian O(1) (a running mean and M2,
 * recomputed from the ring every `window` additions); robust O(window)
 * (insertion into the sorted copy, the MAD by merging the two sides of the
 * median). State per feature and key: 4 * window bytes (gaussian) or
 * 8 * window (robust), plus the hold ring and the seasonal profile. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/robust.h"
#include "operators/scorer.h"
#include "operators/warm_mean.h"

enum deviation_method { METHOD_ROBUST, METHOD_GAUSSIAN };
enum deviation_of { OF_VALUE, OF_CHANGE, OF_BOTH };

#define ROUND8(n) (((n) + 7) & ~(size_t)7)

struct deviation_conf {
    struct scorer_conf s; /* fields, out, side, mapping, hold, range... (operators/scorer.h) */
    int method;
    int of;
    uint64_t season_ns;
    int64_t season_buckets;
    double season_alpha;
    double season_clip;
    int64_t season_warmup;
    int season_week;
    int64_t window;
    int64_t warmup;
    struct weir_state_opts state;
    /* resolved by prepare() */
    uint64_t layout;
    size_t field_bytes; /* state bytes per feature */
    size_t hold_offset; /* where the ring of recent scores starts in the state */
    size_t prev_offset; /* where each feature's previous value starts (change) */
    size_t channels;    /* windows per feature: 1, or 2 for "of": "both" */
    size_t season_offset; /* where each feature's seasonal profile starts */
    size_t season_bytes;  /* bytes of one feature's seasonal profile */
    size_t season_phases; /* phases in a profile: the day's, and 7 more with season_week */
    int64_t season_ms;
};

/* State beside the windows: each feature's previous value ("of": change),
 * and its seasonal profile: one mean per phase, and one scale for all
 * phases (a phase sees a few values per period: too few for a variance). */
/* A window's running mean and M2 (sum of squared deviations), updated as
 * values enter and leave, and recomputed from the ring every `window`
 * additions so rounding cannot pile up. */
struct win_head {
    uint32_t count, head;  /* values held; next slot of the ring */
    uint32_t since_exact;  /* additions since the last recomputation */
    uint32_t unused;
    double mean, m2;
};

struct prev_value {
    float x;
    uint32_t seen;
};

struct season_head {
    double var; /* exponentially weighted mean of squared residuals, all phases */
    uint64_t n; /* residuals seen */
};

struct phase {
    float mean;
    uint32_t count;
};

static const struct weir_option deviation_options[] = {
    SCORER_OPTION_ROWS(struct deviation_conf, s),
    {"method", WEIR_OPT_ENUM, "\"robust\"",
     "robust: median and MAD of the window; gaussian: mean and standard deviation",
     offsetof(struct deviation_conf, method), 0, 0, 0, "robust|gaussian"},
    {"of", WEIR_OPT_ENUM, "\"value\"",
     "what is compared with its window: value, change (from the key's previous value), or both "
     "(the higher score counts)",
     offsetof(struct deviation_conf, of), 0, 0, 0, "value|change|both"},
    {"season", WEIR_OPT_DURATION, NULL,
     "also compare each value with the profile of its phase in this period (\"1d\": the same "
     "time of day, \"7d\": of week), by the record's event time; the higher score counts",
     offsetof(struct deviation_conf, season_ns), 0, 0, 0, NULL},
    {"season_buckets", WEIR_OPT_INT, "288", "season: phases per period (288: 5 minutes of a day)",
     offsetof(struct deviation_conf, season_buckets), WEIR_OPT_RANGE, 2, 10080, NULL},
    {"season_alpha", WEIR_OPT_NUMBER, "0.3",
     "season: weight of the newest value in its phase's mean (exponentially weighted)",
     offsetof(struct deviation_conf, season_alpha), WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN, 0, 1, NULL},
    {"season_clip", WEIR_OPT_NUMBER, "0",
     "season: a phase learns its value at most this many residual scales from its mean, unless "
     "it was that far on the same side the period before (one spike must not return as an alert "
     "a period later; a repeat is a pattern); 0: every value learned whole",
     offsetof(struct deviation_conf, season_clip), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"season_warmup", WEIR_OPT_INT, "3", "season: values a phase needs before it scores",
     offsetof(struct deviation_conf, season_warmup), WEIR_OPT_RANGE, 1, 1000, NULL},
    {"season_week", WEIR_OPT_BOOL, "false",
     "season \"1d\": also keep a profile per day of week (the same time of day and day of "
     "week), which scores once its phase has season_warmup values; the daily one until then",
     offsetof(struct deviation_conf, season_week), 0, 0, 0, NULL},
    {"window", WEIR_OPT_INT, "256", "values kept per feature and key (the sliding window)",
     offsetof(struct deviation_conf, window), WEIR_OPT_RANGE, 2, 65536, NULL},
    {"warmup", WEIR_OPT_INT, "30",
     "values seen before scoring (score 0 and WEIR_REC_WARMUP until then)",
     offsetof(struct deviation_conf, warmup), WEIR_OPT_RANGE, 2, INFINITY, NULL},
    WEIR_STATE_OPTION_ROWS(struct deviation_conf, state),
    {0},
};

static int deviation_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct deviation_conf *c = vconf;
    char ip[256];
    int bad = 0;
    if (c->warmup > c->window) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "warmup"),
                      "expected warmup <= window (%lld), got %lld", (long long)c->window,
                      (long long)c->warmup);
        bad++;
    }
    bad += scorer_prepare(&c->s, raw, p);
    if (c->s.fields.n > WEIR_SCHEMA_MAX / 3)
        return bad;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    /* every block a multiple of 8 bytes, so the doubles after it stay aligned */
    size_t copies = c->method == METHOD_ROBUST ? 2 : 1;
    c->field_bytes = sizeof(struct win_head) + ROUND8(copies * (size_t)c->window * sizeof(float));
    c->channels = c->of == OF_BOTH ? 2 : 1;
    c->hold_offset = c->field_bytes * c->s.fields.n * c->channels;
    c->prev_offset = c->hold_offset + weir_hold_bytes(c->s.hold);
    c->season_ms = (int64_t)(c->season_ns / 1000000);
    c->season_offset = c->prev_offset + c->s.fields.n * sizeof(struct prev_value);
    /* the day's profile, and one per day of week; with a clip, one mark
     * per phase after the phases (scorer.h) */
    size_t phases = (c->season_week ? 8 : 1) * (size_t)c->season_buckets;
    size_t marks = c->season_clip > 0 ? phases : 0;
    c->season_phases = phases;
    c->season_bytes = c->season_ms > 0 ? sizeof(struct season_head) +
                                             ROUND8(phases * sizeof(struct phase) +
                                                    marks * sizeof(uint32_t))
                                       : 0;
    static const char *const season_opts[] = {"season_buckets", "season_alpha", "season_clip",
                                              "season_warmup", NULL};
    bad += weir_options_only_with(raw, deviation_options, season_opts, c->season_ns != 0,
                                  "\"season\"", p->diag, p->path);
    if (c->season_ns)
        bad += weir_schema_event_time(p, "season", "no phase is known: the season is never "
                                      "learned and never scores");
    if (c->season_week && c->season_ms != 86400000) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "season_week"),
                      "expected \"season\": \"1d\" with season_week, got a period of %lld ms",
                      (long long)c->season_ms);
        bad++;
    }
    if (c->season_ns && c->season_ms < c->season_buckets) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "season"),
                      "expected a period of at least season_buckets (%lld) ms, got %lld ms",
                      (long long)c->season_buckets, (long long)c->season_ms);
        bad++;
    }
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "deviation/4");
    for (size_t k = 0; k < c->s.fields.n; k++)
        h = weir_hash_str(h, c->s.fields.v[k]);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->window), (uint64_t)c->s.hold);
    h = weir_hash_u64(h, (uint64_t)c->method);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->of), (uint64_t)c->season_ms);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->season_week), (uint64_t)marks);
    c->layout = weir_hash_u64(h, (uint64_t)c->season_buckets);
    return bad;
}

static int deviation_init(struct weir_op *op, struct weir_error *err)
{
    const struct deviation_conf *c = op->conf;
    size_t bytes = c->season_offset + c->s.fields.n * c->season_bytes;
    if (bytes > UINT32_MAX)
        return weir_error_set(err, -EINVAL, "deviation: window too large for %zu features",
                              c->s.fields.n);
    if (weir_op_state_declare(op, &c->state, (uint32_t)bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "deviation: out of memory");
    return 0;
}

/* ---- one feature's window ------------------------------------------------ */

struct window {
    struct win_head *h;
    float *ring, *sorted; /* values in arrival order; sorted (robust only, else NULL) */
    uint32_t cap;
};

static struct window window_at(const struct deviation_conf *c, void *state, size_t k)
{
    unsigned char *base = (unsigned char *)state + k * c->field_bytes;
    struct window w;
    w.h = (struct win_head *)base;
    w.ring = (float *)(base + sizeof(struct win_head));
    w.sorted = c->method == METHOD_ROBUST ? w.ring + c->window : NULL;
    w.cap = (uint32_t)c->window;
    return w;
}

static void mean_m2(const float *v, uint32_t n, double *mean, double *m2)
{
    double sum = 0, sq = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += v[i];
    *mean = n ? sum / n : 0.0;
    for (uint32_t i = 0; i < n; i++)
        sq += (v[i] - *mean) * (v[i] - *mean);
    *m2 = sq;
}

static void window_add(struct window *w, float x)
{
    struct win_head *h = w->h;
    uint32_t n = h->count;
    double gone = 0; /* the leaving value's squared distance from the mean */
    if (n == w->cap) { /* the oldest leaves */
        float old = w->ring[h->head];
        if (w->sorted)
            weir_sorted_replace(w->sorted, n, old, x);
        double d = old - h->mean;
        h->mean -= d / (double)(n - 1);
        h->m2 -= d * (old - h->mean);
        gone = d * d;
        n--;
    } else if (w->sorted) {
        weir_sorted_insert(w->sorted, n, x);
    }
    double d = x - h->mean;
    h->mean += d / (double)(n + 1);
    h->m2 += d * (x - h->mean);
    w->ring[h->head] = x;
    h->head = (h->head + 1) % w->cap;
    h->count = n + 1;
    /* A value far out leaving a calm window (a spike, then a flat stretch)
     * cancels nearly all of m2, and the rounding left behind would read as
     * the window's spread: counted again exactly. */
    if (++h->since_exact >= w->cap || gone > h->m2 * 0x1p32) {
        mean_m2(w->ring, h->count, &h->mean, &h->m2);
        h->since_exact = 0;
    }
}

/* Center and scale of the window (before x is added). */
static void window_stats(const struct deviation_conf *c, const struct window *w, double *center,
                         double *scale)
{
    uint32_t n = w->h->count;
    double sd = w->h->m2 > 0 ? sqrt(w->h->m2 / n) : 0.0; /* population standard deviation */
    if (c->method == METHOD_ROBUST) {
        *center = weir_sorted_median(w->sorted, n);
        *scale = 1.4826 * weir_sorted_mad(w->sorted, n, *center);
        if (!(*scale > 0))
            *scale = sd; /* more than half the window is one value */
    } else {
        *center = w->h->mean;
        *scale = sd;
    }
    if (*scale < c->s.min_scale)
        *scale = c->s.min_scale;
}

/* Scores y against window w, then adds it; the expected range, shifted by
 * base, goes to lo/hi when asked. Returns the score. */
static double channel_step(const struct deviation_conf *c, struct scorer_warm *t, struct window *w,
                           double y, double base, float *lo, float *hi)
{
    double s = 0;
    if (w->h->count < (uint64_t)c->warmup) {
        scorer_warm_add(t, 1);
    } else {
        scorer_warm_add(t, 0);
        double center, scale;
        window_stats(c, w, &center, &scale);
        s = scorer_z(&c->s, y - center, scale); /* 1 for any change from a flat window */
        if (lo) {
            *lo = (float)(base + center - c->s.range_k * scale);
            *hi = (float)(base + center + c->s.range_k * scale);
        }
    }
    window_add(w, (float)y);
    return s;
}

/* x as phase q learns it once a spike was clipped: within season_clip
 * scales of q's own mean (the daily and the weekly profile's means
 * differ); a phase that has seen nothing takes what the scoring phase
 * learns (its mean + d), not the spike. */
static double phase_clipped(const struct deviation_conf *c, const struct phase *q, double x,
                            double sd, double scoring_learns)
{
    return q->count ? q->mean + scorer_learned_residual(x - q->mean, c->season_clip, sd)
                    : scoring_learns;
}

static void phase_learn(const struct deviation_conf *c, struct phase *p, double x)
{
    float mean = p->count ? (float)(p->mean + c->season_alpha * (x - p->mean)) : (float)x;
    /* a float mean stops moving up to 0.5/season_alpha units in its last
     * place short of a steady value (or among subnormals, decaying to 0):
     * it would score that gap as a residual on every record */
    p->mean = mean == p->mean && (float)x != p->mean ? (float)x : mean;
    if (p->count < UINT32_MAX)
        p->count++;
}

/* Scores x against its phase's mean, with the residual scale of all phases
 * (an exponentially weighted mean over about `window` residuals), then
 * learns x. A phase scores after season_warmup values, the scale after
 * `warmup` residuals; its range goes to *lo, *hi when it scores and lo is
 * asked for. */
static double season_step(const struct deviation_conf *c, void *state, size_t k, int64_t ts_ms,
                          double x, float *lo, float *hi)
{
    unsigned char *base = (unsigned char *)state + c->season_offset + k * c->season_bytes;
    struct season_head *head = (struct season_head *)base;
    struct phase *ph = (struct phase *)(base + sizeof *head);
    size_t buckets = (size_t)c->season_buckets;
    size_t slot = (size_t)(ts_ms % c->season_ms * c->season_buckets / c->season_ms), wslot = 0;
    struct phase *day = &ph[slot], *week = NULL;
    if (c->season_week) { /* the epoch was a Thursday: profile 1 is Monday's */
        wslot = buckets * (size_t)(1 + (ts_ms / 86400000 + 3) % 7) + slot;
        week = &ph[wslot];
    }
    struct phase *p = week && week->count >= (uint32_t)c->season_warmup ? week : day;
    double s = 0, clip_sd = 0, learns = x; /* clip_sd > 0: a spike, clipped */
    if (p->count >= (uint32_t)c->season_warmup) {
        double r = scorer_residual(x, p->mean);
        if (head->n >= (uint64_t)c->warmup) {
            double sd = sqrt(head->var) > c->s.min_scale ? sqrt(head->var) : c->s.min_scale;
            s = scorer_z(&c->s, r, sd);
            if (lo) {
                *lo = (float)(p->mean - c->s.range_k * sd);
                *hi = (float)(p->mean + c->s.range_k * sd);
            }
            if (c->season_clip > 0) { /* a repeat of yesterday's or of last week's */
                uint32_t *mark = (uint32_t *)(ph + c->season_phases);
                int64_t weeks = week ? ts_ms / (7 * c->season_ms) : 0;
                double d = scorer_phase_residual(r, c->season_clip, sd, ts_ms / c->season_ms,
                                                 &mark[slot], weeks, week ? &mark[wslot] : NULL);
                clip_sd = d != r ? sd : 0;
                learns = p->mean + d;
            }
        }
        double a = 1.0 / warm_mean_span(head->n, c->window);
        head->var = scorer_variance((1 - a) * head->var + a * r * r);
        head->n++;
    }
    phase_learn(c, day, clip_sd > 0 ? phase_clipped(c, day, x, clip_sd, learns) : x);
    if (week)
        phase_learn(c, week, clip_sd > 0 ? phase_clipped(c, week, x, clip_sd, learns) : x);
    return s;
}

static int deviation_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct deviation_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        void *state = weir_op_state(op, b, i, NULL);
        if (!state)
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        struct prev_value *prev = (struct prev_value *)((unsigned char *)state + c->prev_offset);
        double best = 0;
        struct scorer_warm tally = {0, 0};
        for (size_t k = 0; k < c->s.fields.n; k++) {
            double x = row[c->s.in_col[k]], s = 0;
            float *lo, *hi;
            scorer_range_slots(&c->s, row, k, &lo, &hi);
            if (!isfinite(x))
                continue;
            struct window w = window_at(c, state, k * c->channels);
            if (c->of != OF_CHANGE)
                s = channel_step(c, &tally, &w, x, 0.0, lo, hi);
            if (c->of != OF_VALUE) {
                struct window d = window_at(c, state, k * c->channels + c->channels - 1);
                double sc = 0;
                float clo = NAN, chi = NAN;
                double dx = x - prev[k].x;
                if (!prev[k].seen)
                    scorer_warm_add(&tally, 1);
                else if (fabs(dx) <= FLT_MAX)
                    sc = channel_step(c, &tally, &d, dx, prev[k].x, lo ? &clo : NULL, &chi);
                else if (d.h->count >= (uint64_t)c->warmup) /* beyond a float: scored, not learnt */
                    sc = scorer_z(&c->s, dx, 0.0), scorer_warm_add(&tally, 0);
                else
                    scorer_warm_add(&tally, 1);
                /* the range is the one that gave the score (with "both", the value's
                 * unless the change scored higher), as the season's below */
                if (lo && !isnan(clo) && (c->of == OF_CHANGE || sc > s))
                    *lo = clo, *hi = chi;
                s = sc > s ? sc : s;
                prev[k] = (struct prev_value){(float)x, 1};
            }
            if (c->season_ms > 0 && b->rec[i].ts_ms >= 0) {
                float slo = NAN, shi = NAN;
                double ss = season_step(c, state, k, b->rec[i].ts_ms, x, lo ? &slo : NULL, &shi);
                if (ss > s && lo) /* the range is the one that gave the score */
                    *lo = slo, *hi = shi;
                s = ss > s ? ss : s;
            }
            best = s > best ? s : best;
        }
        if (scorer_warm_flagged(&tally))
            weir_record_warming(&b->rec[i], c->s.out_col);
        scorer_finish(&c->s, (unsigned char *)state + c->hold_offset, row, best);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_deviation = {
    .name = "deviation",
    .reads_declared = 1,
    .summary = "Scores each value against a sliding window of earlier ones (median/MAD or "
               "mean/std), per key, one- or two-sided",
    .options = deviation_options,
    .conf_size = sizeof(struct deviation_conf),
    .prepare = deviation_prepare,
    .init = deviation_init,
    .process = deviation_process,
};
