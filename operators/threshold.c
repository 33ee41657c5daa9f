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
 * State (the count of scored records and the P² markers) is kept per
 * partition, and per key with "by" (engine/opstate.h); the engine restores
 * and saves it. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"

struct threshold_conf {
    const char *score;  /* feature to read */
    double above;       /* fixed threshold, when given */
    double quantile;    /* q in (0,1), when given */
    int64_t warmup;     /* scored records before the first alert */
    struct weir_state_opts state;
    /* resolved by prepare() */
    uint64_t layout;
    float above_f;      /* above rounded as scores are, so 0.9 passes a score of 0.9f */
    int use_quantile;
    int score_col;
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
    {"warmup", WEIR_OPT_INT, "100", "scored records seen before any alert",
     offsetof(struct threshold_conf, warmup), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    WEIR_STATE_OPTION_ROWS(struct threshold_conf, state),
    {0},
};

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
    bad += weir_state_opts_prepare(&c->state, raw, p);
    uint64_t qbits;
    double q = c->use_quantile ? c->quantile : 0.0;
    memcpy(&qbits, &q, sizeof qbits);
    c->layout = weir_hash_u64(weir_hash_u64(weir_hash_str(WEIR_HASH_SEED, "threshold"),
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

static void p2_add(struct p2 *s, double x, double p)
{
    if (s->count < 5) {
        p2_fill(s, x, p);
        return;
    }
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
};

static int threshold_init(struct weir_op *op, struct weir_error *err)
{
    const struct threshold_conf *c = op->conf;
    /* A zeroed value is an empty P² (count 0) and nothing scored. */
    if (weir_op_state_declare(op, &c->state, sizeof(struct threshold_state), c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "threshold: out of memory");
    return 0;
}

static int threshold_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct threshold_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float s = weir_batch_row(b, i)[c->score_col];
        if (isnan(s))
            continue; /* unscored: neither an alert nor evidence */
        struct threshold_state *st = weir_op_state(op, b, i, NULL);
        if (!st)
            return -ENOMEM;
        int warm = st->scored >= (uint64_t)c->warmup;
        if (c->use_quantile) {
            double t = p2_estimate(&st->p2, c->quantile);
            if (warm && s > t)
                b->rec[i].flags |= WEIR_REC_ALERT;
            if (isfinite(s)) /* an infinite score alerts but would wreck the markers */
                p2_add(&st->p2, s, c->quantile);
        } else if (warm && s >= c->above_f) {
            b->rec[i].flags |= WEIR_REC_ALERT;
        }
        st->scored++;
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_threshold = {
    .name = "threshold",
    .summary = "Marks records whose score passes a fixed or running-quantile threshold",
    .options = threshold_options,
    .conf_size = sizeof(struct threshold_conf),
    .prepare = threshold_prepare,
    .init = threshold_init,
    .process = threshold_process,
};
