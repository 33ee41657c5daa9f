/* score: turns per-feature evidence into one anomaly score per record.
 *
 * Method "scores" is the ensemble: each input is already a score in [0,1]
 * (from deviation or another scorer), clamped to [0,1] and combined the same
 * way; a threshold's "scorers" option then names the one that fired.
 *
 * Method "zscore": each input feature holds a z-score (from
 * standardize, say) and becomes erf(|z|/sqrt(2)), the probability mass of a
 * normal distribution within |z| of its mean, so a score lies in [0,1] (1
 * in float from |z| of about 5.5) and reads as "how unusual": 0.95 at
 * |z| = 1.96, 0.997 at |z| = 3. Several inputs
 * are combined by their max (one extreme feature is enough) or their mean.
 * `method` is an enum so that later methods (reconstruction error from a
 * model, for one) plug in beside it without changing the pipeline format.
 *
 * The operator is stateless: no init, no snapshot. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/operator.h"

enum score_method { SCORE_ZSCORE, SCORE_SCORES };
enum score_combine { COMBINE_MAX, COMBINE_MEAN };

struct score_conf {
    int method;               /* enum score_method */
    struct weir_strlist fields; /* input features (z-scores) */
    int combine;              /* enum score_combine */
    const char *out;          /* output feature */
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int out_col;
};

static const struct weir_option score_options[] = {
    {"method", WEIR_OPT_ENUM, "\"zscore\"",
     "how inputs become a score: zscore = erf(abs(z)/sqrt(2)); scores = inputs already in "
     "[0,1] (an ensemble of scorers)",
     offsetof(struct score_conf, method), 0, 0, 0, "zscore|scores"},
    {"fields", WEIR_OPT_STRINGS, NULL, "input features holding z-scores (or scores)",
     offsetof(struct score_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"combine", WEIR_OPT_ENUM, "\"max\"", "how several inputs combine into one score",
     offsetof(struct score_conf, combine), 0, 0, 0, "max|mean"},
    {"out", WEIR_OPT_STRING, "\"anomaly_score\"", "output feature, in [0,1]",
     offsetof(struct score_conf, out), 0, 0, 0, NULL},
    {0},
};

static int score_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct score_conf *c = vconf;
    char path[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, WEIR_SCHEMA_MAX, c->in_col);
    if (c->fields.n > WEIR_SCHEMA_MAX)
        return bad;
    weir_path_key(path, sizeof path, p->path, "out");
    c->out_col = weir_schema_feature_out(p, c->out, path, /*emit*/ 1);
    bad += c->out_col < 0;
    return bad;
}

/* erf(|z|/sqrt 2): the two-sided normal mass within |z|. */
static inline double zscore_mass(double z)
{
    return erf(fabs(z) * M_SQRT1_2);
}

/* One record's score; inputs that are NaN (a missing feature, a z from
 * standardize still warming up) are ignored, and a record with none scores
 * 0, *used 0. The scorers write 0, not NaN, on a record without their
 * input: a mean counts it (the guide says so). */
static float score_row(const struct score_conf *c, const float *row, size_t *nused)
{
    double acc = 0.0;
    size_t used = 0;
    for (size_t k = 0; k < c->fields.n; k++) {
        float z = row[c->in_col[k]];
        if (isnan(z))
            continue;
        double s = c->method == SCORE_SCORES ? (z > 1 ? 1.0 : z < 0 ? 0.0 : z) : zscore_mass(z);
        if (c->combine == COMBINE_MAX)
            acc = s > acc ? s : acc;
        else
            acc += s;
        used++;
    }
    *nused = used;
    if (used == 0)
        return 0.0f;
    return (float)(c->combine == COMBINE_MEAN ? acc / (double)used : acc);
}

static int score_process(struct weir_op *op, struct weir_batch *b)
{
    const struct score_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        size_t used;
        row[c->out_col] = score_row(c, row, &used);
        /* nothing to score (every input missing): a 0 that is no evidence,
         * flagged as a warming scorer's is, so that a threshold neither
         * alerts on it nor learns it (a quantile sank to 0 when most
         * records lacked the field, and then any score alerted) */
        if (used == 0)
            weir_record_warming(&b->rec[i], c->out_col);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_score = {
    .name = "score",
    .reads_declared = 1,
    .summary = "Combines z-scores, or several scorers' scores (an ensemble), into one score in "
               "[0,1]",
    .options = score_options,
    .conf_size = sizeof(struct score_conf),
    .prepare = score_prepare,
    .process = score_process,
};
