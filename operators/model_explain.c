/* The model operator's explanations ("explain": true). For a record a tree
 * ensemble (or a network, below) scores at least explain_above, the
 * string field out + "_explain"
 * (threshold quotes it when the score fires) says which inputs raised the
 * score most: their exact TreeSHAP values (kernels/trees_shap.c, what
 * XGBoost's pred_contribs gives), with each one's value and, when an
 * upstream operator writes f_lo and f_hi, the range it was expected in;
 * then what the trees give every record (the base) and the other inputs
 * together, so the parts add up to the margin:
 *
 *   log-odds 2.95 from -5.71: TERMINAL_ID_RISK_30DAY_WINDOW=0.43 +4.61,
 *   AMOUNT_TO_BASE=4.1 +2.23 expected 0..2.5, TX_AMOUNT=212.3 +0.96;
 *   the other 47 +0.86
 *
 * Contributions are in the model's margin: log-odds for the logistic
 * objectives, the output itself for squared error. An autoencoder's score,
 * the mean squared error of its reconstruction, splits exactly into each
 * input's (zhat - z)² / n, and what it reconstructed an input as is the
 * value it expected: "reconstruction error 0.47: f0=-1.2 +0.21 reconstructed
 * -0.13, ...". Any other network with one output gets the Shapley values of
 * its margin against its input mean (model_shapley.c): exact when its
 * coalitions fit in explain_evals, else estimated, and said so ("by N
 * orders"); each input's mean is its note. A model with several outputs
 * cannot explain, and a version swapped in later must fit too (model.c's
 * shape_fits). Only the records above explain_above pay for it (about
 * nodes × depth / 2 steps per tree, explain_evals rows through a network), so
 * keep it at the threshold that quotes it. The scratch is the worker's
 * (struct model_state), grown when a version needs more. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "operators/model.h"
#include "operators/scorer.h"

int model_explain_fits(const struct model_conf *c, const struct weir_model *m, char *why,
                       size_t len)
{
    if (!c->explain.on)
        return 0;
    if (m->kind == WEIR_MODEL_DENSE && m->output == WEIR_OUTPUT_RECONSTRUCTION)
        return 0;
    if (m->nout != 1) {
        snprintf(why, len,
                 "\"explain\" needs a model with one output or an autoencoder "
                 "(reconstruction_error), got %s",
                 m->what);
        return -EINVAL;
    }
    if (m->kind == WEIR_MODEL_DENSE)
        return 0;
    if (m->trees.deepest > WEIR_TREES_SHAP_MAX_DEPTH) {
        snprintf(why, len, "\"explain\" takes trees at most %d deep, and %s has one %u deep",
                 WEIR_TREES_SHAP_MAX_DEPTH, m->what, (unsigned)m->trees.deepest);
        return -EINVAL;
    }
    if (!m->trees.cover) {
        snprintf(why, len,
                 "\"explain\" needs each node's cover (XGBoost's sum_hessian), and "
                 "%s has none",
                 m->what);
        return -EINVAL;
    }
    return 0;
}

int model_explain_prepare(struct model_conf *c, const json_t *raw,
                          const struct weir_option *options, struct weir_prepare *p)
{
    static const char *const network_opts[] = {"explain_evals", NULL};
    char path[256], why[300];
    c->explain.col = -1;
    int bad = weir_options_only_with(raw, options, network_opts, c->explain.on, "\"explain\": true",
                                     p->diag, p->path);
    if (model_explain_fits(c, c->model, why, sizeof why) < 0) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "explain"), "%s", why);
        return bad + 1;
    }
    if (c->explain.on && !c->out.n) /* no column: reported with the outputs */
        return bad;
    return bad + scorer_explain_prepare(&c->explain, raw, options, &c->features,
                                        c->out.n ? c->out.v[0] : NULL, p);
}

/* The text for one row after its header (len bytes of buf): its
 * contributions phi (nin) and a note on each input (an autoencoder's
 * reconstruction, a network's reference), or none. */
static size_t account(const struct model_conf *c, const struct weir_model *m, const float *row,
                      const double *phi, const char *note, const float *note_value, char *buf,
                      size_t size, size_t len)
{
    struct scorer_account a = {.e = &c->explain,
                               .name = c->features.v,
                               .in_col = c->in_col,
                               .n = m->nin,
                               .row = row,
                               .share = phi,
                               .sign = 1,
                               .note = note,
                               .note_value = note_value,
                               .verb = "raised",
                               .imputed = m->kind == WEIR_MODEL_DENSE};
    return scorer_explain_account(&a, buf, size, len);
}

static const char *margin_name(const struct weir_model *m)
{
    return m->output == WEIR_OUTPUT_PROBABILITY ? "log-odds" : "margin";
}

/* The record's inputs as the model scored them: a dense network's
 * non-finite one imputed as scoring imputed it. */
static void inputs(const struct model_conf *c, const struct weir_model *m, const float *row,
                   float *x)
{
    for (size_t k = 0; k < m->nin; k++) {
        x[k] = row[c->in_col[k]];
        if (m->kind == WEIR_MODEL_DENSE && !isfinite(x[k]))
            x[k] = m->mean ? m->mean[k] : 0;
    }
}

/* An autoencoder's contributions: each input's share of the mean squared
 * error, (zhat - z)² / nin, exactly; recon: what it reconstructed, in the
 * input's units. */
static void reconstruction(const struct weir_model *m, const float *x, double *phi, float *recon,
                           float *scratch, int mode)
{
    float *z = recon + m->nin, *zhat = z + m->nin;
    weir_model_reconstruct(m, x, z, zhat, scratch, mode);
    for (size_t k = 0; k < m->nin; k++) {
        double d = (double)zhat[k] - z[k];
        phi[k] = d * d / (double)m->nin;
        recon[k] = m->mean ? zhat[k] * m->std[k] + m->mean[k] : zhat[k];
    }
}

/* Doubles of scratch an account by m takes: phi (nin + 1), then the
 * method's own, then the row's inputs (nin floats). */
static size_t scratch_doubles(const struct model_conf *c, const struct weir_model *m)
{
    size_t own; /* bytes */
    if (m->kind == WEIR_MODEL_TREES)
        own = weir_trees_shap_scratch(&m->trees);
    else if (m->output == WEIR_OUTPUT_RECONSTRUCTION)
        own = (3 * m->nin + weir_model_scratch(m, 1)) * sizeof(float);
    else
        own = model_shapley_bytes(m, c->explain_evals);
    return m->nin + 1 + (own + 7) / 8 + (m->nin + 1) / 2;
}

/* The header and the contributions of the record x by m into text. */
static size_t explain(const struct model_conf *c, const struct weir_model *m, const float *row,
                      const float *x, double *phi, void *own, char *text, size_t size)
{
    int mode = c->precision == PRECISION_INT8 ? WEIR_PREDICT_INT8 : WEIR_PREDICT_FP32;
    size_t len;
    if (m->kind == WEIR_MODEL_TREES) {
        weir_trees_shap(&m->trees, x, phi, own);
        double base = phi[m->nin] + m->base_margin, total = 0;
        for (size_t k = 0; k < m->nin; k++)
            total += phi[k];
        len = (size_t)snprintf(text, size, "%s %.6g from %.6g", margin_name(m), base + total, base);
        return account(c, m, row, phi, NULL, NULL, text, size, len);
    }
    if (m->output == WEIR_OUTPUT_RECONSTRUCTION) {
        float *recon = own;
        reconstruction(m, x, phi, recon, recon + 3 * m->nin, mode);
        double total = 0;
        for (size_t k = 0; k < m->nin; k++)
            total += phi[k];
        len = (size_t)snprintf(text, size, "reconstruction error %.6g", total);
        return account(c, m, row, phi, "reconstructed", recon, text, size, len);
    }
    struct model_shapley_result r;
    model_shapley(m, x, c->explain_evals, mode, own, phi, &r);
    len = (size_t)snprintf(text, size, "%s %.6g from %.6g", margin_name(m), r.margin, r.base);
    if (r.orders && len < size)
        len += (size_t)snprintf(text + len, size - len, " by %zu orders", r.orders);
    return account(c, m, row, phi, m->mean ? "mean" : NULL, m->mean, text, size, len);
}

void model_explain_row(const struct model_conf *c, struct model_state *s,
                       const struct weir_model *m, struct weir_batch *b, uint32_t i, float score)
{
    scorer_explain_set(b, i, c->explain.col, NULL, 0);
    if (!(score >= c->explain.above_f) || (m->kind == WEIR_MODEL_TREES && !m->trees.cover))
        return;
    size_t doubles = scratch_doubles(c, m);
    if (doubles > s->explain_doubles) { /* a version that needs more than those before */
        double *grown = realloc(s->explain, doubles * sizeof *grown);
        if (!grown)
            return; /* out of memory: the score stands without its account */
        s->explain = grown;
        s->explain_doubles = doubles;
    }
    const float *row = weir_batch_row(b, i);
    double *phi = s->explain; /* the rest is written before it is read */
    memset(phi, 0, (m->nin + 1) * sizeof *phi);
    float *x = (float *)(s->explain + doubles - (m->nin + 1) / 2);
    inputs(c, m, row, x);
    char text[2048];
    size_t len = explain(c, m, row, x, phi, phi + m->nin + 1, text, sizeof text);
    scorer_explain_set(b, i, c->explain.col, text, len);
}
