/* threshold: decides which records are alerts.
 *
 * It reads one score feature and sets WEIR_REC_ALERT on a record when the
 * score is at or above a fixed value (`above`), or above the running
 * q-quantile of the scores seen BEFORE this record (`quantile`), so the alert
 * rate stays near 1 - q whatever the scale of the score. No alerts are raised
 * during the first `warmup` scored records, while the estimate settles.
 *
 * The running quantile is the P² algorithm (Jain & Chlamtac, "The P²
 * algorithm for dynamic calculation of quantiles and histograms without
 * storing observations", CACM 1985): five markers whose heights are nudged
 * by a parabolic formula as observations arrive; O(1) memory and time, and
 * no assumption on the range of the score. A fixed histogram over [0,1] was
 * the alternative; it was rejected because erf-based scores crowd into the
 * last buckets exactly where a 0.999 quantile lives, and model scores
 * (reconstruction errors) are not bounded by 1 at all.
 *
 * Ties: in quantile mode a record alerts only when its score is strictly
 * above the estimate. With continuous scores this is the same as ">=", but
 * when most scores are equal (a flat series scores 0 everywhere) ">=" would
 * alert on every record.
 *
 * Warm-ups chain: a record whose score comes from a scorer still warming up
 * on it (one of the score's lineage in warm_cols, engine/schema.h), or a NaN
 * score, is neither an alert nor evidence: it does not count towards
 * `warmup` and the quantile does not learn from it. A scorer the score does
 * not come from (another metric's) mutes nothing here.
 *
 * Incidents ("incidents": true): one alert per incident instead of one per
 * record over the threshold. The record that crosses the threshold opens an
 * incident and is the alert; the incident stays open while the score stays
 * at or above `clear` (hysteresis: default `above`), and closes on the
 * first record below it (an alert too with "close_event"). In quantile mode
 * it closes on the first score not above the running quantile, and below
 * `clear` too when that is given: a quantile that sinks under `clear` would
 * otherwise open and close an incident on alternate records, opening above
 * the quantile and closing below `clear`. For `cooldown` records after a
 * close no incident opens, so a flapping score raises one alert, not one
 * per flap. A reload that turns incidents off ends an open incident and its
 * cool-down, and one that shortens `cooldown` shortens a running one.
 *
 * Explanations ("explain": features): an alert carries a string field
 * (`explain_out`) saying which score fired (the highest of `scorers`, every
 * one of them at that score when several tie, or `score`), and the
 * `explain_k` features of `explain` furthest outside their expected range,
 * with their values and ranges. A feature f's range is read from the
 * features f_lo and f_hi when an earlier operator writes them (deviation or
 * forecast with "range": true, a derive); otherwise f_z (standardize), when
 * an earlier operator writes it, puts it outside beyond |z| = 3, as range_k does. Features rank by
 * how far outside they lie, in range widths; after the first, only those
 * outside are listed. A feature the record lacks (NaN) is left out, as is a
 * scorer at NaN or at most 0 (nothing to say) from "which fired". A text longer than 1023
 * bytes is cut at a whole character and ends in "...". A scorer S may explain
 * its own score in the string field "S_explain" (cad, cad_ose, flatline,
 * model, iforest and hstrees do: what its contexts found new, a model's account); when S is the one
 * that fired (the first of those tied that has a text; or the `score` itself, without `scorers` or
 * when none of them has a score) and the field is set, its text stands in place of the features'
 * ranges, which another scorer wrote and which need not hold what S saw. Strings are built only for
 * alerts.
 *
 * State (the count of scored records, the P² markers, the open incident and
 * the cool-down) is kept per partition, and per key with "by"
 * (engine/opstate.h); the engine restores and saves it. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jsonw.h"
#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/scorer.h"

struct threshold_conf {
    const char *score;  /* feature to read */
    double above;       /* fixed threshold, when given */
    double quantile;    /* q in (0,1), when given */
    int64_t warmup;     /* scored records before the first alert */
    int incidents;      /* one alert per incident */
    double clear;       /* incidents: close below this (default: above) */
    int64_t cooldown;   /* incidents: records after a close before the next may open */
    int close_event;    /* incidents: the closing record is an alert too */
    struct weir_strlist explain; /* features to explain an alert by */
    struct weir_strlist scorers; /* score features that may have fired */
    int64_t explain_k;
    const char *explain_out;
    struct weir_state_opts state;
    /* resolved by prepare() */
    uint64_t layout;
    float above_f;      /* above rounded as scores are, so 0.9 passes a score of 0.9f */
    float clear_f;
    int has_clear;
    int use_quantile;
    int score_col;
    uint64_t score_deps; /* the features the score comes from (engine/schema.h) */
    int explain_col;    /* string column, or -1 */
    int x_col[WEIR_SCHEMA_MAX], lo_col[WEIR_SCHEMA_MAX], hi_col[WEIR_SCHEMA_MAX],
        z_col[WEIR_SCHEMA_MAX];
    int scorer_col[WEIR_SCHEMA_MAX];
    int scorer_why_col[WEIR_SCHEMA_MAX]; /* the string "<scorer>_explain", or -1 */
    int score_why_col;                   /* the string "<score>_explain", or -1 */
};

static const struct weir_option threshold_options[] = {
    {"score", WEIR_OPT_STRING, "\"anomaly_score\"", "feature holding the score",
     offsetof(struct threshold_conf, score), 0, 0, 0, NULL},
    {"above", WEIR_OPT_NUMBER, NULL, "fixed threshold: alert when score >= above",
     offsetof(struct threshold_conf, above), 0, 0, 0, NULL},
    {"quantile", WEIR_OPT_NUMBER, NULL,
     "adaptive threshold: alert when score > the running q-quantile of earlier scores (P²)",
     offsetof(struct threshold_conf, quantile),
     WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN | WEIR_OPT_MAX_OPEN, 0, 1, NULL},
    {"warmup", WEIR_OPT_INT, "100",
     "scored records seen before any alert (records still warming up upstream do not count); "
     "a high quantile needs more to settle (uniform scores, 0.999: 7.6 alerts per 1,000 "
     "records in the first 1,000, 1.3 by 5,000; 0.99: 12.7 per 1,000, then 10)",
     offsetof(struct threshold_conf, warmup), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"incidents", WEIR_OPT_BOOL, "false",
     "one alert per incident: the record that crosses the threshold; the incident stays open "
     "while the score stays at or above clear (quantile: while above the running quantile or at "
     "or above clear)",
     offsetof(struct threshold_conf, incidents), 0, 0, 0, NULL},
    {"clear", WEIR_OPT_NUMBER, NULL,
     "incidents: an open incident closes on the first score below this (default: above; "
     "quantile: and not above the running quantile)",
     offsetof(struct threshold_conf, clear), 0, 0, 0, NULL},
    {"cooldown", WEIR_OPT_INT, "0", "incidents: scored records after a close before another opens",
     offsetof(struct threshold_conf, cooldown), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"close_event", WEIR_OPT_BOOL, "false",
     "incidents: the record that closes one is an alert too, its explanation (written then even "
     "without \"explain\") \"incident closed: ...\"",
     offsetof(struct threshold_conf, close_event), 0, 0, 0, NULL},
    {"explain", WEIR_OPT_STRINGS, NULL,
     "features an alert is explained by: the top explain_k outside their expected range "
     "(f_lo..f_hi when written upstream, else |f_z|)",
     offsetof(struct threshold_conf, explain), 0, 0, 0, NULL},
    {"scorers", WEIR_OPT_STRINGS, NULL,
     "score features named in explanations; the highest is the one that fired (default: score)",
     offsetof(struct threshold_conf, scorers), 0, 0, 0, NULL},
    {"explain_k", WEIR_OPT_INT, "3", "features listed in an explanation",
     offsetof(struct threshold_conf, explain_k), WEIR_OPT_RANGE, 1, 16, NULL},
    {"explain_out", WEIR_OPT_STRING, "\"explain\"",
     "string field holding the explanation (null on records that are not alerts)",
     offsetof(struct threshold_conf, explain_out), 0, 0, 0, NULL},
    WEIR_STATE_OPTION_ROWS(struct threshold_conf, state),
    {0},
};

/* The string field "<name>_explain" an earlier operator writes, or -1.
 * Without one, a score made from a scorer's (calibrate's "<scorer><suffix>")
 * has that scorer's: the longest "<x>_explain" whose x begins name and
 * whose lineage is name's, less name itself (it fell back on the ranges,
 * which a cad alert's do not describe). */
static int why_column(struct weir_prepare *p, const char *name)
{
    static const char tail[] = "_explain";
    const size_t tl = sizeof tail - 1, nl = strlen(name);
    int col = weir_schema_find_feature(p->schema, name), best = -1;
    size_t best_len = 0;
    for (uint32_t k = 0; k < p->schema->nstr; k++) {
        const char *sn = p->schema->str[k].name;
        size_t xl = strlen(sn) - tl;
        if (p->schema->str[k].producer < 0 || strlen(sn) <= tl || strcmp(sn + xl, tail) != 0 ||
            xl > nl || strncmp(sn, name, xl) != 0)
            continue;
        if (xl == nl)
            return (int)k;
        char x[300];
        if (col < 0 || xl <= best_len || xl >= sizeof x)
            continue;
        memcpy(x, sn, xl);
        x[xl] = 0;
        int xc = weir_schema_find_feature(p->schema, x);
        /* made from x alone, as calibrate makes its outputs: not a window
         * or an ensemble of it, nor an output of undeclared reads */
        if (xc >= 0 &&
            p->schema->feat_deps[col] == (weir_col_bit(col) | p->schema->feat_deps[xc])) {
            best = (int)k;
            best_len = xl;
        }
    }
    return best;
}

/* Columns an explanation reads: each feature, its range or z when an
 * upstream operator writes them, and the scorers' scores and their own
 * explanations. */
static int prepare_explain(struct threshold_conf *c, struct weir_prepare *p)
{
    char path[256], ip[256];
    int bad = 0;
    c->explain_col = -1;
    /* a closing record is an alert too: only its explanation says it closes */
    if (c->explain.n == 0 && c->scorers.n == 0 && !(c->incidents && c->close_event))
        return 0;
    c->score_why_col = why_column(p, c->score);
    if (c->explain.n > WEIR_SCHEMA_MAX || c->scorers.n > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, p->path, "expected at most %d features to explain, got more",
                      WEIR_SCHEMA_MAX);
        return 1;
    }
    weir_path_key(path, sizeof path, p->path, "explain");
    for (size_t k = 0; k < c->explain.n; k++) {
        c->x_col[k] = weir_schema_feature_in(
            p, c->explain.v[k], weir_strlist_path(ip, sizeof ip, path, &c->explain, k));
        bad += c->x_col[k] < 0;
        c->lo_col[k] = scorer_written_before(p, c->explain.v[k], "_lo");
        c->hi_col[k] = scorer_written_before(p, c->explain.v[k], "_hi");
        c->z_col[k] = scorer_written_before(p, c->explain.v[k], "_z");
    }
    weir_path_key(path, sizeof path, p->path, "scorers");
    for (size_t k = 0; k < c->scorers.n; k++) {
        c->scorer_col[k] = weir_schema_feature_in(
            p, c->scorers.v[k], weir_strlist_path(ip, sizeof ip, path, &c->scorers, k));
        bad += c->scorer_col[k] < 0;
        c->scorer_why_col[k] = why_column(p, c->scorers.v[k]);
    }
    c->explain_col = weir_schema_string_out(p, c->explain_out,
                                            weir_path_key(path, sizeof path, p->path,
                                                          "explain_out"));
    if (c->explain_col < 0)
        return bad + 1;
    p->schema->str[c->explain_col].emit = 1; /* in output records by default, as scores are */
    return bad;
}

static int threshold_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct threshold_conf *c = vconf;
    char path[256];
    int has_above = json_object_get(raw, "above") != NULL;
    int has_quantile = json_object_get(raw, "quantile") != NULL;
    int bad = 0;

    if (has_above == has_quantile) {
        weir_diag_add(p->diag, p->path, "expected exactly one of \"above\" or \"quantile\", got %s",
                      has_above ? "both" : "neither");
        bad++;
    }
    c->use_quantile = has_quantile;
    c->above_f = (float)c->above;
    c->score_col = weir_schema_feature_in(p, c->score, weir_path_key(path, sizeof path, p->path,
                                                                     "score"));
    bad += c->score_col < 0;
    c->score_deps = weir_schema_feature_deps(p->schema, c->score_col);
    bad += weir_state_opts_prepare(&c->state, raw, p);
    c->has_clear = json_object_get(raw, "clear") != NULL;
    c->clear_f = (float)(c->has_clear ? c->clear : c->above);
    if (c->has_clear && !c->incidents) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "clear"),
                      "expected \"incidents\": true with \"clear\", got no incidents");
        bad++;
    } else if (c->has_clear && has_above && c->clear > c->above) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "clear"),
                      "expected clear <= above (%g), got %g", c->above, c->clear);
        bad++;
    }
    static const char *const incident_opts[] = {"cooldown", "close_event", NULL};
    bad += weir_options_only_with(raw, threshold_options, incident_opts, c->incidents,
                                  "\"incidents\": true", p->diag, p->path);
    static const char *const explain_k_opt[] = {"explain_k", NULL};
    static const char *const explain_out_opt[] = {"explain_out", NULL};
    int explains = c->explain.n > 0 || c->scorers.n > 0;
    bad += weir_options_only_with(raw, threshold_options, explain_k_opt, explains,
                                  "\"explain\" or \"scorers\"", p->diag, p->path);
    /* a closing record's explanation is written without either (prepare_explain) */
    bad += weir_options_only_with(raw, threshold_options, explain_out_opt,
                                  explains || (c->incidents && c->close_event),
                                  "\"explain\", \"scorers\" or \"close_event\"", p->diag, p->path);
    bad += prepare_explain(c, p);
    uint64_t qbits;
    double q = c->use_quantile ? c->quantile : 0.0;
    memcpy(&qbits, &q, sizeof qbits);
    c->layout = weir_hash_u64(weir_hash_u64(weir_hash_str(WEIR_HASH_SEED, "threshold/2"),
                                            (uint64_t)c->use_quantile), qbits);
    return bad;
}

/* ---- P² running quantile ------------------------------------------------ */

struct p2 {
    double q[5];    /* marker heights; the first count values, sorted, while count < 5 */
    double pos[5];  /* actual marker positions (1-based ranks) */
    double want[5]; /* desired positions */
    uint64_t count; /* observations added */
};

/* The estimate after count observations, or NaN with none. Before the
 * markers exist, the nearest-rank quantile of the few values kept. */
static double p2_estimate(const struct p2 *s, double p)
{
    if (s->count == 0)
        return NAN;
    if (s->count < 5) {
        size_t k = (size_t)ceil(p * (double)s->count);
        return s->q[k ? k - 1 : 0];
    }
    return s->q[2];
}

/* The quantile a score is compared with, rounded to a float as scores are
 * (unless beyond a float's range): the middle marker only approaches a
 * score repeated at the top (a saturated 1.0) and stalls a few double ulps
 * below it, where "s > t" would alert on every such record and read
 * "anomaly_score=1 > 1". */
static double quantile_limit(const struct p2 *s, double p)
{
    return scorer_as_float(p2_estimate(s, p));
}

static double p2_parabolic(const struct p2 *s, int i, double d)
{
    const double *q = s->q, *n = s->pos;
    return q[i] + d / (n[i + 1] - n[i - 1]) *
                      ((n[i] - n[i - 1] + d) * (q[i + 1] - q[i]) / (n[i + 1] - n[i]) +
                       (n[i + 1] - n[i] - d) * (q[i] - q[i - 1]) / (n[i] - n[i - 1]));
}

/* The first five observations are kept sorted; the fifth sets the markers. */
static void p2_fill(struct p2 *s, double x, double p)
{
    size_t k = (size_t)s->count;
    while (k > 0 && s->q[k - 1] > x) {
        s->q[k] = s->q[k - 1];
        k--;
    }
    s->q[k] = x;
    if (++s->count < 5)
        return;
    const double want[5] = {1, 1 + 2 * p, 1 + 4 * p, 3 + 2 * p, 5};
    for (int i = 0; i < 5; i++) {
        s->pos[i] = i + 1;
        s->want[i] = want[i];
    }
}

/* Moves the middle markers toward their desired positions by one rank. */
static void p2_adjust(struct p2 *s)
{
    for (int i = 1; i <= 3; i++) {
        double d = s->want[i] - s->pos[i];
        if (!((d >= 1 && s->pos[i + 1] - s->pos[i] > 1) ||
              (d <= -1 && s->pos[i - 1] - s->pos[i] < -1)))
            continue;
        double dir = d > 0 ? 1.0 : -1.0;
        double h = p2_parabolic(s, i, dir);
        if (!(s->q[i - 1] < h && h < s->q[i + 1])) {
            int j = i + (int)dir;
            h = s->q[i] + dir * (s->q[j] - s->q[i]) / (s->pos[j] - s->pos[i]);
        }
        s->q[i] = h;
        s->pos[i] += dir;
    }
}

/* x as the markers learn it. One extreme value of an unbounded score (an
 * error of 1e30) became the top marker, and the parabolic steps dragged
 * the quantile up after it for good (a key alerted 14 times in 190,000
 * records instead of 1,900). Past the end markers a value moves them by at
 * most their span (at least by their magnitude, and by 1), so a score that
 * really grows takes over within a few records, doubling each time; scores
 * in [0,1] are never bounded. It stays in its end cell: the ranks are
 * unchanged. */
static double p2_bounded(const struct p2 *s, double x)
{
    double reach = fmax(fmax(s->q[4] - s->q[0], 1.0), fmax(fabs(s->q[0]), fabs(s->q[4])));
    return fmin(fmax(x, s->q[0] - reach), s->q[4] + reach);
}

static void p2_add(struct p2 *s, double x, double p)
{
    if (s->count < 5) {
        p2_fill(s, x, p);
        return;
    }
    x = p2_bounded(s, x);
    int k;
    if (x < s->q[0]) {
        s->q[0] = x;
        k = 0;
    } else if (x >= s->q[4]) {
        s->q[4] = x;
        k = 3;
    } else {
        k = 0;
        while (k < 3 && x >= s->q[k + 1])
            k++;
    }
    for (int i = k + 1; i < 5; i++)
        s->pos[i] += 1;
    const double inc[5] = {0, p / 2, p, (1 + p) / 2, 1};
    for (int i = 0; i < 5; i++)
        s->want[i] += inc[i];
    s->count++;
    p2_adjust(s);
}

/* ---- per-worker state, process ------------------------------------------ */

struct threshold_state {
    uint64_t scored; /* records with a score seen so far */
    struct p2 p2;
    uint64_t open_since; /* scored count when the open incident opened; 0: none open */
    uint64_t cool;       /* scored records left in the cool-down */
    double peak;         /* highest score of the open incident */
};

static int threshold_init(struct weir_op *op, struct weir_error *err)
{
    const struct threshold_conf *c = op->conf;
    /* A zeroed value is an empty P² (count 0), nothing scored, no incident. */
    if (weir_op_state_declare(op, &c->state, sizeof(struct threshold_state), c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "threshold: out of memory");
    weir_op_state_learns(op, c->score); /* a quantile of another score is no threshold here */
    return 0;
}

/* ---- explanations ---------------------------------------------------------- */

/* A feature ranked by |z| (no range written upstream) is inside its
 * expected range up to this |z|: the range deviation's "range": true writes
 * by default (range_k 3), so both kinds rank on one scale. */
#define Z_EXPECTED 3.0

/* How far feature k of row lies outside its expected range, in range widths:
 * positive outside, 0 or negative (-0.5 at the middle) inside, -1 when no
 * range or z is known; an infinite value (or z) is infinitely far out. lo
 * and hi get the range, NaN when unknown. */
static double deviation(const struct threshold_conf *c, const float *row, size_t k, double *lo,
                        double *hi)
{
    double x = row[c->x_col[k]];
    *lo = *hi = NAN;
    if (c->lo_col[k] >= 0 && c->hi_col[k] >= 0 && isfinite(row[c->lo_col[k]]) &&
        isfinite(row[c->hi_col[k]])) {
        *lo = row[c->lo_col[k]];
        *hi = row[c->hi_col[k]];
    }
    /* before the range: scorers know none for an infinite value (a ratio
     * over 0), which they treat as missing */
    if (isinf(x))
        return INFINITY;
    if (!isnan(*lo)) {
        double width = *hi - *lo > 0 ? *hi - *lo : 1e-12;
        return x < *lo ? (*lo - x) / width : x > *hi ? (x - *hi) / width
                                                     : -fmin(x - *lo, *hi - x) / width;
    }
    if (c->z_col[k] >= 0 && !isnan(row[c->z_col[k]]))
        return (fabs(row[c->z_col[k]]) - Z_EXPECTED) / (2 * Z_EXPECTED);
    return -1.0;
}

/* A text cut at the buffer's end ends in "..." after a whole UTF-8
 * character: a scorer's own account may hold any text. */
static void mark_cut(char *buf, size_t size)
{
    size_t end = size - 4;
    for (int back = 0; back < 3 && end > 0 && ((unsigned char)buf[end] & 0xC0) == 0x80; back++)
        end--;
    memcpy(buf + end, "...", 4);
}

/* Which of the scorers fired: the first of those equal to the score, or
 * the highest when none is (a mean, a calibrated score); one above the
 * score that another equals was passed over on the way (by `recurring`).
 * A mean that happens to equal one of its inputs exactly names that one.
 * NaN (a scorer with nothing to say) or 0 (one that found nothing: the
 * score came from another) never. -1 when none has a score above 0. */
static int scorer_fired(const struct threshold_conf *c, const float *row)
{
    int fired = -1, equal = -1;
    for (size_t k = 0; k < c->scorers.n; k++) {
        float v = row[c->scorer_col[k]];
        if (!(v > 0))
            continue;
        if (fired < 0 || v > row[c->scorer_col[fired]])
            fired = (int)k;
        if (v == row[c->score_col] && equal < 0)
            equal = (int)k;
    }
    return equal >= 0 ? equal : fired;
}

/* "; cpu=93.2 expected 12.1..45.3; ..." for the explain_k features furthest
 * outside their range (one is shown even when all lie inside). */
static size_t explain_features(const struct threshold_conf *c, const float *row, char *buf,
                               size_t size, size_t len)
{
    unsigned char used[WEIR_SCHEMA_MAX] = {0};
    for (int64_t n = 0; n < c->explain_k && n < (int64_t)c->explain.n && len < size; n++) {
        int best = -1;
        double best_d = -INFINITY, lo = NAN, hi = NAN;
        for (size_t k = 0; k < c->explain.n; k++) {
            /* a feature the record lacks (a window's result record, a
             * session's silence) explains nothing */
            if (used[k] || isnan(row[c->x_col[k]]))
                continue;
            double l, h, d = deviation(c, row, k, &l, &h);
            if (best < 0 || d > best_d) {
                best = (int)k, best_d = d, lo = l, hi = h;
            }
        }
        if (best < 0 || (n > 0 && best_d <= 0))
            break;
        used[best] = 1;
        double x = row[c->x_col[best]];
        if (!isnan(lo))
            len += (size_t)snprintf(buf + len, size - len, "; %s=%.6g expected %.6g..%.6g",
                                    c->explain.v[best], x, lo, hi);
        else if (c->z_col[best] >= 0)
            len += (size_t)snprintf(buf + len, size - len, "; %s=%.6g z=%.3g", c->explain.v[best],
                                    x, row[c->z_col[best]]);
        else
            len += (size_t)snprintf(buf + len, size - len, "; %s=%.6g", c->explain.v[best], x);
    }
    return len;
}

/* Whether six significant digits would print a score and the level it is
 * compared with alike although they differ ("anomaly_score=1 > 1" against a
 * quantile of 0.99999994, or a close "0.852 below 0.852"): then both are
 * written as the shortest text of their float (num_text). */
static int alike(double a, double b)
{
    char ta[32], tb[32];
    snprintf(ta, sizeof ta, "%.6g", a);
    snprintf(tb, sizeof tb, "%.6g", b);
    return a != b && strcmp(ta, tb) == 0;
}

static const char *num_text(char buf[WEIR_JSONW_FLOAT_ROOM], double v, int exact)
{
    if (exact && isfinite(v) && fabs(v) <= FLT_MAX)
        *weir_jsonw_float_to(buf, (float)v) = 0;
    else
        snprintf(buf, WEIR_JSONW_FLOAT_ROOM, "%.6g", v);
    return buf;
}

/* "anomaly_score=0.9999 >= 0.99 (fired: window_score=0.9999); cpu=93.2
 * expected 12.1..45.3; ..." into buf; strs: the row's strings. */
static void explain_alert(const struct threshold_conf *c, const float *row,
                          const struct weir_str *strs, double limit, char *buf, size_t size)
{
    int exact = alike(row[c->score_col], limit);
    char ts[WEIR_JSONW_FLOAT_ROOM], tl[WEIR_JSONW_FLOAT_ROOM];
    size_t len =
        (size_t)snprintf(buf, size, "%s=%s %s %s", c->score, num_text(ts, row[c->score_col], exact),
                         c->use_quantile ? ">" : ">=", num_text(tl, limit, exact));
    int fired = scorer_fired(c, row);
    /* every scorer at the top score fired (an ensemble's max is often two
     * at 1.0); the first of them with an account of its own gives it */
    int why = fired < 0 ? c->score_why_col : -1;
    for (size_t k = fired < 0 ? c->scorers.n : (size_t)fired; k < c->scorers.n; k++) {
        if (row[c->scorer_col[k]] != row[c->scorer_col[fired]] || len >= size)
            continue;
        len += (size_t)snprintf(buf + len, size - len, "%s%s=%.6g",
                                (int)k == fired ? " (fired: " : ", ", c->scorers.v[k],
                                row[c->scorer_col[k]]);
        int w = c->scorer_why_col[k];
        if (why < 0 && w >= 0 && strs[w].p && strs[w].len)
            why = w;
    }
    if (fired >= 0 && len < size)
        len += (size_t)snprintf(buf + len, size - len, ")");
    if (why >= 0 && strs[why].p && strs[why].len && len < size) /* the scorer's own account, */
        len += (size_t)snprintf(buf + len, size - len, "; %.*s", (int)strs[why].len,
                                strs[why].p);
    else /* not ranges another scorer expected */
        len = explain_features(c, row, buf, size, len);
    if (len >= size)
        mark_cut(buf, size);
}

static void set_explanation(const struct threshold_conf *c, struct weir_batch *b, uint32_t i,
                            const char *text)
{
    size_t len = strlen(text);
    char *s = weir_arena_strdup(&b->arena, text, len);
    if (s) /* out of memory: the alert stands without its explanation */
        b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){s, (uint32_t)len};
}

/* ---- process ------------------------------------------------------------- */

/* Incidents: opens on a crossing outside the cool-down, closes below clear
 * (quantile: not above the quantile, and below clear when given). Returns 1
 * (open), 2 (close) or 0. */
static int incident_step(const struct threshold_conf *c, struct threshold_state *st, int warm,
                         int over, float s, double t)
{
    if (st->cool > (uint64_t)c->cooldown) /* a reload shortened it */
        st->cool = (uint64_t)c->cooldown;
    if (st->open_since) {
        int below =
            !c->use_quantile ? s < c->clear_f : !(s > t) && (!c->has_clear || s < c->clear_f);
        if (s > st->peak)
            st->peak = s;
        if (!below)
            return 0;
        st->open_since = 0;
        st->cool = (uint64_t)c->cooldown;
        return 2;
    }
    if (st->cool > 0) {
        st->cool--;
        return 0;
    }
    if (!(warm && over))
        return 0;
    st->open_since = st->scored + 1;
    st->peak = s;
    return 1;
}

static void mark(const struct threshold_conf *c, struct weir_batch *b, uint32_t i, int what,
                 const struct threshold_state *st, double limit)
{
    b->rec[i].flags |= WEIR_REC_ALERT;
    if (c->explain_col < 0)
        return;
    char text[1024];
    if (what == 2) {
        char level[96];
        double s = weir_batch_row(b, i)[c->score_col];
        int exact = (!(c->use_quantile && !c->has_clear) && alike(s, c->clear_f)) ||
                    (c->use_quantile && alike(s, limit));
        char ts[WEIR_JSONW_FLOAT_ROOM], tc[WEIR_JSONW_FLOAT_ROOM], tl[WEIR_JSONW_FLOAT_ROOM];
        num_text(tc, c->clear_f, exact);
        num_text(tl, limit, exact);
        if (!c->use_quantile)
            snprintf(level, sizeof level, "below %s", tc);
        else if (!c->has_clear)
            snprintf(level, sizeof level, "not above the running quantile %s", tl);
        else
            snprintf(level, sizeof level, "below %s and not above the running quantile %s", tc, tl);
        size_t n = (size_t)snprintf(text, sizeof text, "incident closed: %s=%s %s; peak %.6g",
                                    c->score, num_text(ts, s, exact), level, st->peak);
        if (n >= sizeof text)
            mark_cut(text, sizeof text);
    } else
        explain_alert(c, weir_batch_row(b, i), &b->S[(size_t)i * b->nstr], limit, text,
                      sizeof text);
    set_explanation(c, b, i, text);
}

static int threshold_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct threshold_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        if (c->explain_col >= 0)
            b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){NULL, 0};
        float s = weir_batch_row(b, i)[c->score_col];
        if (isnan(s) || (b->rec[i].warm_cols & c->score_deps))
            continue; /* unscored, or scored by a detector still warming up: no evidence */
        struct threshold_state *st = weir_op_state(op, b, i, NULL);
        if (!st)
            return -ENOMEM;
        int warm = st->scored >= (uint64_t)c->warmup;
        double t = c->use_quantile ? quantile_limit(&st->p2, c->quantile) : c->above_f;
        int over = c->use_quantile ? s > t : s >= c->above_f;
        /* an infinite score alerts but would wreck the markers */
        if (c->use_quantile && isfinite(s))
            p2_add(&st->p2, s, c->quantile);
        if (!c->incidents && (st->open_since || st->cool)) /* a reload turned them off */
            st->open_since = st->cool = 0;
        if (c->incidents) {
            int what = incident_step(c, st, warm, over, s, t);
            if (what == 1 || (what == 2 && c->close_event))
                mark(c, b, i, what, st, t);
        } else if (warm && over) {
            mark(c, b, i, 1, st, t);
        }
        st->scored++;
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_threshold = {
    .name = "threshold",
    .reads_declared = 1,
    .summary = "Marks alerts: fixed or running-quantile threshold, incidents with hysteresis and "
               "cool-down, explanations",
    .options = threshold_options,
    .conf_size = sizeof(struct threshold_conf),
    .prepare = threshold_prepare,
    .init = threshold_init,
    .process = threshold_process,
};
