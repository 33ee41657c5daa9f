/* The model operator's explanations ("explain": true). For a record a tree
 * ensemble (or an autoencoder, below) scores at least explain_above, the
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
 * -0.13, ...". Other dense networks have no such exact account: "explain"
 * refuses them, and a version swapped in later must fit too (model.c's
 * shape_fits). Only the
 * records above explain_above pay for it (about depth² × leaves steps per
 * tree), so keep it at the threshold that quotes it. The scratch is the
 * worker's (struct model_state), grown when a version needs more. */
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
    if (m->kind != WEIR_MODEL_TREES || m->nout != 1) {
        snprintf(why, len,
                 "\"explain\" needs a tree ensemble with one output or an autoencoder "
                 "(reconstruction_error), got %s",
                 m->what);
        return -EINVAL;
    }
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
    char path[256], why[300];
    c->explain.col = -1;
    if (model_explain_fits(c, c->model, why, sizeof why) < 0) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "explain"), "%s", why);
        return 1;
    }
    if (c->explain.on && !c->out.n) /* no column: reported with the outputs */
        return 0;
    return scorer_explain_prepare(&c->explain, raw, options, &c->features,
                                  c->out.n ? c->out.v[0] : NULL, p);
}

/* The text for one row: its contributions phi (nin; for trees the base
 * after them) and an autoencoder's reconstruction of each input (or NULL). */
static size_t account(const struct model_conf *c, const struct weir_model *m, const float *row,
                      const double *phi, const float *recon, char *buf, size_t size)
{
    double total = 0;
    for (size_t k = 0; k < m->nin; k++)
        total += phi[k];
    size_t len;
    if (m->kind == WEIR_MODEL_TREES) {
        double base = phi[m->nin] + m->base_margin;
        len = (size_t)snprintf(buf, size, "%s %.6g from %.6g",
                               m->output == WEIR_OUTPUT_PROBABILITY ? "log-odds" : "margin",
                               base + total, base);
    } else {
        len = (size_t)snprintf(buf, size, "reconstruction error %.6g", total);
    }
    struct scorer_account a = {.e = &c->explain,
                               .name = c->features.v,
                               .in_col = c->in_col,
                               .n = m->nin,
                               .row = row,
                               .share = phi,
                               .sign = 1,
                               .note = recon ? "reconstructed" : NULL,
                               .note_value = recon,
                               .verb = "raised"};
    return scorer_explain_account(&a, buf, size, len);
}

/* An autoencoder's contributions: each input's share of the mean squared
 * error, (zhat - z)² / nin, exactly; recon: what it reconstructed, in the
 * input's units. A non-finite input is imputed as scoring imputed it. */
static void reconstruction(const struct model_conf *c, const struct weir_model *m, const float *row,
                           double *phi, float *recon, float *x, float *scratch)
{
    float *z = x + m->nin, *zhat = z + m->nin;
    for (size_t k = 0; k < m->nin; k++) {
        x[k] = row[c->in_col[k]];
        if (!isfinite(x[k]))
            x[k] = m->mean ? m->mean[k] : 0;
    }
    weir_model_reconstruct(m, x, z, zhat, scratch,
                           c->precision == PRECISION_INT8 ? WEIR_PREDICT_INT8 : WEIR_PREDICT_FP32);
    for (size_t k = 0; k < m->nin; k++) {
        double d = (double)zhat[k] - z[k];
        phi[k] = d * d / (double)m->nin;
        recon[k] = m->mean ? zhat[k] * m->std[k] + m->mean[k] : zhat[k];
    }
}

void model_explain_row(const struct model_conf *c, struct model_state *s,
                       const struct weir_model *m, struct weir_batch *b, uint32_t i, float score)
{
    scorer_explain_set(b, i, c->explain.col, NULL, 0);
    int trees = m->kind == WEIR_MODEL_TREES;
    if (!(score >= c->explain.above_f) || (trees && !m->trees.cover))
        return;
    const float *row = weir_batch_row(b, i);
    /* doubles: phi (nin + 1) and the trees' path scratch; floats: the row's
     * inputs, an autoencoder's z, zhat, reconstruction and scratch */
    size_t path_doubles = trees ? (weir_trees_shap_scratch(&m->trees) + 7) / 8 : 0;
    size_t floats = trees ? m->nin : 4 * m->nin + weir_model_scratch(m, 1);
    size_t doubles = m->nin + 1 + path_doubles + (floats + 1) / 2;
    if (doubles > s->explain_doubles) { /* a version that needs more than those before */
        double *grown = realloc(s->explain, doubles * sizeof *grown);
        if (!grown)
            return; /* out of memory: the score stands without its account */
        s->explain = grown;
        s->explain_doubles = doubles;
    }
    double *phi = s->explain; /* the rest is written before it is read */
    memset(phi, 0, (m->nin + 1) * sizeof *phi);
    char text[2048];
    float *x = (float *)(phi + m->nin + 1 + path_doubles), *recon = NULL;
    if (trees) {
        for (size_t k = 0; k < m->nin; k++)
            x[k] = row[c->in_col[k]];
        weir_trees_shap(&m->trees, x, phi, phi + m->nin + 1);
    } else {
        recon = x + 3 * m->nin;
        reconstruction(c, m, row, phi, recon, x, recon + m->nin);
    }
    size_t len = account(c, m, row, phi, recon, text, sizeof text);
    scorer_explain_set(b, i, c->explain.col, text, len);
}
