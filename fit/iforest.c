/* weir fit --type iforest: fit/iforest.h. */
#include "fit/iforest.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/schema.h"
#include "operators/iforest_explain.h"
#include "operators/iforest_model.h"

static int finite_row(const float *x, size_t nf)
{
    for (size_t q = 0; q < nf; q++)
        if (!isfinite(x[q]))
            return 0;
    return 1;
}

/* The operator's bound on explaining a record with m's trees, laid out one
 * at a time (all at once would take 21 bytes a node); -1 out of memory. */
static double explain_steps(const struct iforest_model *m)
{
    struct laid_trees one;
    if (laid_trees_alloc(&one, 1, m->tree_nodes) < 0)
        return -1;
    double steps = 0;
    for (size_t t = 0; t < m->trees && steps >= 0; t++)
        steps = iforest_lay_out(&one, m->nodes + t * m->tree_nodes, 1, m->tree_nodes, m->d) < 0
                    ? -1
                    : steps + iforest_explain_steps(&one, m->d);
    laid_trees_free(&one);
    return steps;
}

int fit_iforest_train(const struct fit_data *d, const size_t *train, size_t ntrain,
                      const struct fit_iforest_opts *o, const char *path, float *pred, size_t *used,
                      double *explain_bound, struct weir_error *err)
{
    if (d->nf == 0 || d->nf > WEIR_SCHEMA_MAX)
        return weir_error_set(err, -EINVAL, "an isolation forest takes 1 to %d features, got %zu",
                              WEIR_SCHEMA_MAX, d->nf);
    if (ntrain > UINT32_MAX)
        return weir_error_set(err, -EINVAL, "%zu training rows: at most %u", ntrain, UINT32_MAX);
    float *pop = malloc((ntrain ? ntrain : 1) * d->nf * sizeof *pop);
    if (!pop)
        return weir_error_set(err, -ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t r = 0; r < ntrain; r++) {
        const float *x = d->X + train[r] * d->nf;
        if (finite_row(x, d->nf))
            memcpy(pop + n++ * d->nf, x, d->nf * sizeof *x);
    }
    *used = n;
    if (n == 0) {
        free(pop);
        return weir_error_set(err, -EINVAL, "no training row has every feature finite");
    }
    uint32_t psi = n < o->sample ? (uint32_t)n : (uint32_t)o->sample;
    struct iforest_model m;
    struct iforest_scratch s = {0};
    int rc = iforest_model_alloc(&m, d->nf, d->feature, o->trees, psi);
    if (rc == 0 && iforest_scratch_alloc(&s, n, psi, d->nf) < 0) {
        iforest_model_free(&m);
        rc = -ENOMEM;
    }
    if (rc < 0) {
        free(pop);
        return weir_error_set(err, -ENOMEM, "out of memory");
    }
    uint64_t rng = o->seed;
    iforest_grow(pop, d->nf, (uint32_t)n, psi, m.trees, m.tree_nodes, &rng, &s, m.nodes, m.center);
    iforest_scratch_free(&s);
    free(pop);
    for (size_t r = 0; r < d->n; r++) {
        const float *x = d->X + r * d->nf;
        pred[r] = finite_row(x, d->nf)
                      ? (float)iforest_score(m.nodes, m.trees, m.tree_nodes, m.c_norm, x)
                      : 0.0f;
    }
    *explain_bound = explain_steps(&m);
    char why[512];
    rc = iforest_model_save(&m, path, why, sizeof why);
    iforest_model_free(&m);
    return rc < 0 ? weir_error_set(err, -EIO, "%s", why) : 0;
}
