/* Training dense networks (fit/dense.h). All parameters live in one array
 * (weights and biases layer by layer) so that the optimiser, the gradient
 * and the best epoch's snapshot are flat loops and copies. Determinism: one
 * seeded generator (initialisation and shuffling) and single-threaded
 * OpenBLAS; nothing depends on the clock or on thread timing. */
#include "fit/dense.h"

#include <cblas.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/splitmix.h"
#include "kernels/dense.h"

#define EVAL_ROWS 4096

static size_t param_count(const struct fit_net *net)
{
    size_t n = 0;
    for (size_t l = 0; l < net->nl; l++)
        n += net->dim[l + 1] * (net->dim[l] + 1);
    return n;
}

/* Weights and biases point into one block, W[0], b[0], W[1], ... */
static void point_params(struct fit_net *net, float *p)
{
    for (size_t l = 0; l < net->nl; l++) {
        net->W[l] = p;
        p += net->dim[l + 1] * net->dim[l];
        net->b[l] = p;
        p += net->dim[l + 1];
    }
}

int fit_net_init(struct fit_net *net, int task, const size_t *dims, size_t nl, int act,
                 uint64_t seed)
{
    memset(net, 0, sizeof *net);
    net->task = task;
    net->nl = nl;
    for (size_t l = 0; l <= nl; l++)
        net->dim[l] = dims[l];
    for (size_t l = 0; l < nl; l++)
        net->act[l] = l + 1 < nl ? act : FIT_ACT_NONE;
    float *p = calloc(param_count(net), sizeof *p);
    net->mean = calloc(dims[0], sizeof *net->mean);
    net->std = calloc(dims[0], sizeof *net->std);
    if (!p || !net->mean || !net->std) {
        free(p);
        fit_net_free(net);
        return -ENOMEM;
    }
    point_params(net, p);
    uint64_t s = seed;
    for (size_t l = 0; l < nl; l++) {
        /* Glorot uniform; He uniform before a relu (biases start at 0). */
        size_t in = dims[l], out = dims[l + 1];
        double a = net->act[l] == FIT_ACT_RELU ? sqrt(6.0 / (double)in)
                                               : sqrt(6.0 / (double)(in + out));
        for (size_t k = 0; k < in * out; k++)
            net->W[l][k] = (float)((2 * weir_splitmix_unit(&s) - 1) * a);
    }
    for (size_t j = 0; j < dims[0]; j++)
        net->std[j] = 1;
    return 0;
}

void fit_net_free(struct fit_net *net)
{
    free(net->nl ? net->W[0] : NULL);
    free(net->mean);
    free(net->std);
    memset(net, 0, sizeof *net);
}

int fit_net_normalise(struct fit_net *net, const float *X, const size_t *idx, size_t n)
{
    size_t nin = net->dim[0];
    for (size_t j = 0; j < nin; j++) {
        double sum = 0, sq = 0;
        size_t cnt = 0;
        for (size_t r = 0; r < n; r++) {
            double x = X[idx[r] * nin + j];
            cnt += isfinite(x);
            sum += isfinite(x) ? x : 0;
        }
        double mean = cnt ? sum / (double)cnt : 0;
        for (size_t r = 0; r < n; r++) { /* two passes: a constant's spread is 0, not rounding */
            double x = X[idx[r] * nin + j];
            sq += isfinite(x) ? (x - mean) * (x - mean) : 0;
        }
        double sd = cnt ? sqrt(sq / (double)cnt) : 0;
        net->mean[j] = (float)mean;
        /* a spread under a float's step at the mean is a constant: std 1 */
        net->std[j] = sd > fmax(1e-12, FLT_EPSILON * fabs(mean)) && (float)sd > 0 ? (float)sd : 1;
    }
    return 0;
}

/* ---- forward and backward ------------------------------------------------ */

struct work {
    size_t rows;                     /* capacity */
    float *A[FIT_MAX_LAYERS + 1];    /* activations: A[0] the normalised input */
    float *G[2];                     /* gradients w.r.t. activations, ping-pong */
};

static size_t widest(const struct fit_net *net)
{
    size_t w = 0;
    for (size_t l = 0; l <= net->nl; l++)
        w = net->dim[l] > w ? net->dim[l] : w;
    return w;
}

static void work_free(struct work *w)
{
    for (size_t l = 0; l <= FIT_MAX_LAYERS; l++)
        free(w->A[l]);
    free(w->G[0]);
    free(w->G[1]);
}

static int work_init(struct work *w, const struct fit_net *net, size_t rows)
{
    memset(w, 0, sizeof *w);
    w->rows = rows;
    int bad = 0;
    for (size_t l = 0; l <= net->nl; l++)
        bad |= !(w->A[l] = malloc(rows * net->dim[l] * sizeof(float)));
    for (int k = 0; k < 2; k++)
        bad |= !(w->G[k] = malloc(rows * widest(net) * sizeof(float)));
    if (bad)
        work_free(w);
    return bad ? -ENOMEM : 0;
}

/* Rows idx[0..n) of X, normalised; a non-finite input is imputed (z = 0),
 * as the model operator's on_nan "impute" does. */
static void gather(const struct fit_net *net, const float *X, const size_t *idx, size_t n, float *A)
{
    size_t nin = net->dim[0];
    for (size_t r = 0; r < n; r++) {
        const float *x = X + idx[r] * nin;
        for (size_t j = 0; j < nin; j++)
            A[r * nin + j] = isfinite(x[j]) ? (x[j] - net->mean[j]) / net->std[j] : 0.0f;
    }
}

static void forward(const struct fit_net *net, struct work *w, size_t n)
{
    for (size_t l = 0; l < net->nl; l++) {
        size_t in = net->dim[l], out = net->dim[l + 1];
        float *Z = w->A[l + 1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f,
                    w->A[l], (int)in, net->W[l], (int)in, 0.0f, Z, (int)out);
        for (size_t r = 0; r < n; r++) {
            float *z = Z + r * out;
            for (size_t k = 0; k < out; k++) {
                float v = z[k] + net->b[l][k];
                z[k] = net->act[l] == FIT_ACT_RELU ? (v > 0 ? v : 0)
                       : net->act[l] == FIT_ACT_TANH ? tanhf(v) : v;
            }
        }
    }
}

static double row_weight(const struct fit_train_opts *o, float y)
{
    return y * o->pos_weight + (1 - y) * o->neg_weight;
}

/* The loss of each of the n rows (weighted), and d loss / d output into G
 * (scaled by 1/scale) unless G is NULL. */
static double loss_rows(const struct fit_net *net, const struct work *w, const float *y,
                        const size_t *idx, size_t n, const struct fit_train_opts *o, float *G,
                        double scale)
{
    const float *out = w->A[net->nl];
    double total = 0;
    if (net->task == FIT_CLASSIFY) {
        for (size_t r = 0; r < n; r++) {
            double z = out[r], t = y[idx[r]], wt = row_weight(o, (float)t);
            total += wt * (fmax(z, 0) - z * t + log1p(exp(-fabs(z))));
            if (G)
                G[r] = (float)(wt * (1 / (1 + exp(-z)) - t) / scale);
        }
        return total;
    }
    size_t nin = net->dim[0];
    for (size_t r = 0; r < n; r++) {
        double sq = 0;
        for (size_t j = 0; j < nin; j++) {
            double d = (double)out[r * nin + j] - w->A[0][r * nin + j];
            sq += d * d;
            if (G)
                G[r * nin + j] = (float)(2 * d / ((double)nin * scale));
        }
        total += sq / (double)nin;
    }
    return total;
}

/* Gradients of every parameter into grad (laid out as the parameters),
 * from d loss / d output in w->G[0]. */
static void backward(const struct fit_net *net, struct work *w, size_t n, float *grad)
{
    int g = 0;
    float *gW[FIT_MAX_LAYERS], *gb[FIT_MAX_LAYERS];
    for (size_t l = 0; l < net->nl; l++) {
        gW[l] = grad;
        grad += net->dim[l + 1] * net->dim[l];
        gb[l] = grad;
        grad += net->dim[l + 1];
    }
    for (size_t l = net->nl; l-- > 0;) {
        size_t in = net->dim[l], out = net->dim[l + 1];
        float *dZ = w->G[g], *A = w->A[l + 1];
        for (size_t k = 0; k < n * out; k++)
            dZ[k] *= net->act[l] == FIT_ACT_RELU ? (A[k] > 0 ? 1.0f : 0.0f)
                     : net->act[l] == FIT_ACT_TANH ? 1 - A[k] * A[k] : 1.0f;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in, (int)n, 1.0f, dZ,
                    (int)out, w->A[l], (int)in, 0.0f, gW[l], (int)in);
        for (size_t k = 0; k < out; k++) {
            float s = 0;
            for (size_t r = 0; r < n; r++)
                s += dZ[r * out + k];
            gb[l][k] = s;
        }
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)in, (int)out, 1.0f,
                        dZ, (int)out, net->W[l], (int)in, 0.0f, w->G[g ^ 1], (int)in);
        g ^= 1;
    }
}

int fit_net_predict(const struct fit_net *net, const float *X, const float *y, const size_t *idx,
                    size_t n, const struct fit_train_opts *o, float *out, double *loss)
{
    struct work w;
    if (work_init(&w, net, EVAL_ROWS) < 0)
        return -ENOMEM;
    double total = 0;
    size_t nin = net->dim[0];
    for (size_t at = 0; at < n; at += EVAL_ROWS) {
        size_t m = n - at < EVAL_ROWS ? n - at : EVAL_ROWS;
        gather(net, X, idx + at, m, w.A[0]);
        forward(net, &w, m);
        if (loss)
            total += loss_rows(net, &w, y, idx + at, m, o, NULL, 1);
        const float *z = w.A[net->nl];
        for (size_t r = 0; out && r < m; r++) {
            if (net->task == FIT_CLASSIFY) {
                out[at + r] = 1.0f / (1.0f + expf(-z[r]));
                continue;
            }
            float sq = 0;
            for (size_t j = 0; j < nin; j++) {
                float d = w.A[0][r * nin + j] - z[r * nin + j];
                sq += d * d;
            }
            out[at + r] = sq / (float)nin;
        }
    }
    if (loss)
        *loss = n ? total / (double)n : NAN;
    work_free(&w);
    return 0;
}

float *fit_net_params(const struct fit_net *net, size_t *count)
{
    *count = param_count(net);
    return net->W[0];
}

int fit_net_gradient(const struct fit_net *net, const float *X, const float *y, const size_t *idx,
                     size_t n, const struct fit_train_opts *o, float *grad, double *loss)
{
    struct work w;
    if (work_init(&w, net, n) < 0)
        return -ENOMEM;
    gather(net, X, idx, n, w.A[0]);
    forward(net, &w, n);
    *loss = loss_rows(net, &w, y, idx, n, o, w.G[0], 1);
    backward(net, &w, n, grad);
    work_free(&w);
    return 0;
}

/* ---- training -------------------------------------------------------------- */

struct optimiser {
    size_t np;
    float *grad, *m, *v, *best;
    uint64_t step;
};

static void optimiser_step(struct optimiser *op, float *p, const struct fit_train_opts *o)
{
    op->step++;
    if (o->sgd) {
        for (size_t k = 0; k < op->np; k++) {
            op->m[k] = 0.9f * op->m[k] + op->grad[k];
            p[k] -= (float)o->lr * op->m[k];
        }
        return;
    }
    const float b1 = 0.9f, b2 = 0.999f;
    float c1 = 1 - powf(b1, (float)op->step), c2 = 1 - powf(b2, (float)op->step);
    for (size_t k = 0; k < op->np; k++) {
        float g = op->grad[k];
        op->m[k] = b1 * op->m[k] + (1 - b1) * g;
        op->v[k] = b2 * op->v[k] + (1 - b2) * g * g;
        p[k] -= (float)o->lr * (op->m[k] / c1) / (sqrtf(op->v[k] / c2) + 1e-8f);
    }
}

static void progress(const struct fit_train_opts *o, size_t epoch, double done, double train,
                     double valid)
{
    if (o->progress == 1) {
        char bar[31];
        int k = (int)(done * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < k ? '#' : '.';
        bar[30] = 0;
        char v[32] = "-";
        if (!isnan(valid))
            snprintf(v, sizeof v, "%.5f", valid);
        fprintf(stderr, "\rweir fit: epoch %3zu/%zu [%s] train loss %.5f  validation %s  ", epoch,
                o->epochs, bar, train, v);
    } else if (o->progress == 2 && done >= 1) {
        fprintf(stderr, "weir fit: epoch %zu/%zu: train loss %.6f, validation loss %.6f\n", epoch,
                o->epochs, train, valid);
    }
}

static void shuffle(size_t *v, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(weir_splitmix(s) % i);
        size_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* One pass over the training rows in a fresh order. Returns the mean loss. */
static double epoch(struct fit_net *net, struct work *w, struct optimiser *op, const float *X,
                    const float *y, size_t *order, size_t n, const struct fit_train_opts *o,
                    uint64_t *rng, size_t e, double last_valid)
{
    shuffle(order, n, rng);
    double total = 0;
    size_t nb = (n + o->batch - 1) / o->batch, every = nb / 30 ? nb / 30 : 1;
    for (size_t at = 0, bi = 0; at < n; at += o->batch, bi++) {
        size_t m = n - at < o->batch ? n - at : o->batch;
        gather(net, X, order + at, m, w->A[0]);
        forward(net, w, m);
        total += loss_rows(net, w, y, order + at, m, o, w->G[0], (double)m);
        backward(net, w, m, op->grad);
        optimiser_step(op, net->W[0], o);
        if (o->progress == 1 && bi % every == 0)
            progress(o, e, (double)bi / (double)nb, total / (double)(at + m), last_valid);
    }
    return total / (double)n;
}

int fit_net_train(struct fit_net *net, const float *X, const float *y, const size_t *train,
                  size_t ntrain, const size_t *valid, size_t nvalid,
                  const struct fit_train_opts *o, struct fit_train_result *res,
                  struct weir_error *err)
{
    weir_kernels_cpu_init(); /* one thread: the same sums in the same order, every run */
    struct optimiser op = {.np = param_count(net)};
    struct work w;
    size_t *order = malloc(ntrain * sizeof *order);
    op.grad = calloc(op.np, sizeof(float));
    op.m = calloc(op.np, sizeof(float));
    op.v = calloc(op.np, sizeof(float));
    op.best = malloc(op.np * sizeof(float));
    int rc = work_init(&w, net, o->batch);
    if (rc < 0 || !order || !op.grad || !op.m || !op.v || !op.best) {
        if (rc == 0)
            work_free(&w);
        rc = weir_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    memcpy(order, train, ntrain * sizeof *order);
    memcpy(op.best, net->W[0], op.np * sizeof(float));
    uint64_t rng = o->seed ^ 0x5eed5eed5eedull;
    double best = INFINITY, vloss = NAN;
    *res = (struct fit_train_result){.valid_loss = NAN};
    for (size_t e = 1; e <= o->epochs; e++) {
        double tloss = epoch(net, &w, &op, X, y, order, ntrain, o, &rng, e, vloss);
        if (nvalid)
            fit_net_predict(net, X, y, valid, nvalid, o, NULL, &vloss);
        res->epochs_run = e;
        double watch = nvalid ? vloss : tloss;
        if (!isfinite(tloss)) {
            rc = weir_error_set(err, -EDOM, "the training loss is not finite at epoch %zu: try a "
                                "smaller --lr", e);
            break;
        }
        progress(o, e, 1, tloss, vloss);
        if (watch < best) {
            best = watch;
            res->best_epoch = e;
            memcpy(op.best, net->W[0], op.np * sizeof(float));
        } else if (nvalid && e - res->best_epoch >= o->patience) {
            break;
        }
    }
    if (o->progress == 1)
        fputc('\n', stderr);
    if (rc == 0 && nvalid && res->best_epoch == 0) /* no epoch kept: the untrained net */
        rc = weir_error_set(err, -EDOM,
                            "the validation loss was not finite at any of %zu epochs: "
                            "a validation row far outside the training rows' range?",
                            res->epochs_run);
    memcpy(net->W[0], op.best, op.np * sizeof(float));
    work_free(&w);
    if (rc == 0) {
        fit_net_predict(net, X, y, train, ntrain, o, NULL, &res->train_loss);
        if (nvalid)
            fit_net_predict(net, X, y, valid, nvalid, o, NULL, &res->valid_loss);
    }
out:
    free(order);
    free(op.grad);
    free(op.m);
    free(op.v);
    free(op.best);
    return rc;
}
