/* XGBoost training through its C API (fit/xgb.h). Compiled only with
 * WEIR_HAVE_XGBOOST (CMake finds libxgboost-dev); without it `weir fit
 * --type xgboost` says so (fit/cmd_fit.c). */
#ifdef WEIR_HAVE_XGBOOST
#include "fit/xgb.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#define XGB(call)                                                                            \
    do {                                                                                     \
        if ((call) != 0) {                                                                   \
            rc = weir_error_set(err, -EIO, "xgboost: %s", XGBGetLastError());                \
            goto out;                                                                        \
        }                                                                                    \
    } while (0)

/* Rows idx[0..n) of d as their own matrix and labels. */
static int subset(const struct fit_data *d, const size_t *idx, size_t n, float **X, float **y)
{
    *X = malloc((n ? n : 1) * d->nf * sizeof **X);
    *y = malloc((n ? n : 1) * sizeof **y);
    if (!*X || !*y)
        return -ENOMEM;
    for (size_t r = 0; r < n; r++) {
        memcpy(*X + r * d->nf, d->X + idx[r] * d->nf, d->nf * sizeof **X);
        (*y)[r] = d->y[idx[r]];
    }
    return 0;
}

/* "[3]\ttrain-logloss:0.1\tvalid-logloss:0.2" → the value after name. */
static double eval_value(const char *s, const char *name)
{
    const char *p = strstr(s, name);
    return p ? strtod(p + strlen(name), NULL) : NAN;
}

static int set_params(BoosterHandle b, const struct fit_xgb_opts *o, struct weir_error *err)
{
    char depth[32], eta[32], seed[32], threads[32], spw[32];
    snprintf(depth, sizeof depth, "%zu", o->depth);
    snprintf(eta, sizeof eta, "%.17g", o->eta);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed); /* at most 2^31-1: cmd_fit */
    snprintf(threads, sizeof threads, "%zu", o->threads);
    snprintf(spw, sizeof spw, "%.17g", o->scale_pos_weight);
    const char *kv[][2] = {{"objective", "binary:logistic"}, {"eval_metric", "logloss"},
                           {"tree_method", "hist"},          {"max_depth", depth},
                           {"eta", eta},                     {"seed", seed},
                           {"nthread", threads},             {"scale_pos_weight", spw},
                           {"verbosity", "1"}};
    for (size_t k = 0; k < sizeof kv / sizeof kv[0]; k++)
        if (XGBoosterSetParam(b, kv[k][0], kv[k][1]) != 0)
            return weir_error_set(err, -EINVAL, "xgboost: %s=%s: %s", kv[k][0], kv[k][1],
                                  XGBGetLastError());
    return 0;
}

static void progress(const struct fit_xgb_opts *o, size_t round, double t, double v)
{
    if (o->progress == 1 && (round % 10 == 0 || round == o->rounds))
        fprintf(stderr, "\rweir fit: round %4zu/%zu  train logloss %.5f  validation %.5f ", round,
                o->rounds, t, v);
    else if (o->progress == 2 && (round % 50 == 0 || round == o->rounds))
        fprintf(stderr, "weir fit: round %zu/%zu: train logloss %.6f, validation %.6f\n", round,
                o->rounds, t, v);
}

int fit_xgb_train(const struct fit_data *d, const size_t *train, size_t ntrain,
                  const size_t *valid, size_t nvalid, const struct fit_xgb_opts *o,
                  const char *path, float *pred, struct fit_xgb_result *res,
                  struct weir_error *err)
{
    int rc = 0;
    float *Xt = NULL, *yt = NULL, *Xv = NULL, *yv = NULL;
    DMatrixHandle dm[2] = {NULL, NULL}, all = NULL;
    BoosterHandle b = NULL, kept = NULL;
    *res = (struct fit_xgb_result){.valid_loss = NAN};
    if (subset(d, train, ntrain, &Xt, &yt) < 0 || subset(d, valid, nvalid, &Xv, &yv) < 0) {
        rc = weir_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    XGB(XGDMatrixCreateFromMat(Xt, ntrain, d->nf, NAN, &dm[0]));
    XGB(XGDMatrixSetFloatInfo(dm[0], "label", yt, ntrain));
    XGB(XGDMatrixSetStrFeatureInfo(dm[0], "feature_name", (const char **)d->feature, d->nf));
    if (nvalid) {
        XGB(XGDMatrixCreateFromMat(Xv, nvalid, d->nf, NAN, &dm[1]));
        XGB(XGDMatrixSetFloatInfo(dm[1], "label", yv, nvalid));
        XGB(XGDMatrixSetStrFeatureInfo(dm[1], "feature_name", (const char **)d->feature, d->nf));
    }
    XGB(XGBoosterCreate(dm, nvalid ? 2 : 1, &b));
    if ((rc = set_params(b, o, err)) < 0)
        goto out;
    const char *names[2] = {"train", "valid"};
    double best = INFINITY;
    for (size_t it = 0; it < o->rounds; it++) {
        XGB(XGBoosterUpdateOneIter(b, (int)it, dm[0]));
        const char *ev;
        XGB(XGBoosterEvalOneIter(b, (int)it, dm, names, nvalid ? 2 : 1, &ev));
        double t = eval_value(ev, "train-logloss:"), v = eval_value(ev, "valid-logloss:");
        double watch = nvalid ? v : t;
        res->rounds_run = it + 1;
        progress(o, it + 1, t, v);
        if (watch < best) {
            best = watch;
            res->best_round = it + 1;
            res->train_loss = t;
            res->valid_loss = v;
        } else if (nvalid && it + 1 - res->best_round >= o->patience) {
            break;
        }
    }
    if (o->progress == 1)
        fputc('\n', stderr);
    if (res->best_round == 0) { /* a slice to 0 would keep every round */
        rc = weir_error_set(err, -EDOM, "the %s loss was not finite at any of %zu rounds",
                            nvalid ? "validation" : "training", res->rounds_run);
        goto out;
    }
    XGB(XGBoosterSlice(b, 0, (int)res->best_round, 1, &kept));
    /* The file names its inputs: the model operator's default features. */
    XGB(XGBoosterSetStrFeatureInfo(kept, "feature_name", (const char **)d->feature, d->nf));
    XGB(XGBoosterSaveModel(kept, path));
    XGB(XGDMatrixCreateFromMat(d->X, d->n, d->nf, NAN, &all));
    bst_ulong len;
    const float *p;
    XGB(XGBoosterPredict(kept, all, 0, 0, 0, &len, &p));
    if (len != d->n) {
        rc = weir_error_set(err, -EIO, "xgboost: %llu predictions for %zu rows",
                            (unsigned long long)len, d->n);
        goto out;
    }
    memcpy(pred, p, d->n * sizeof *pred);
out:
    if (kept)
        XGBoosterFree(kept);
    if (b)
        XGBoosterFree(b);
    for (int k = 0; k < 2; k++)
        if (dm[k])
            XGDMatrixFree(dm[k]);
    if (all)
        XGDMatrixFree(all);
    free(Xt);
    free(yt);
    free(Xv);
    free(yv);
    return rc;
}
#endif
