/* Models on the GPU: device copies of a model's arrays and the sequence of
 * kernels weir_model_predict runs on the CPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/gpu.h"

#define MAX_ARRAYS (4 * WEIR_MODEL_MAX_LAYERS + 8)

struct weir_gpu_model {
    const struct weir_model *m; /* the host model: shapes, kind, output */
    struct weir_dense_layer layer[WEIR_MODEL_MAX_LAYERS]; /* device pointers */
    const float *mean, *std;
    struct weir_trees trees; /* device pointers */
    void *dev[MAX_ARRAYS];   /* every device allocation */
    size_t ndev;
    int failed;
};

/* A device copy of host (bytes), or NULL for a NULL host array. */
static void *upload(struct weir_gpu_model *g, const void *host, size_t bytes)
{
    if (!host || g->failed)
        return NULL;
    void *d = g->ndev < MAX_ARRAYS ? weir_cuda_malloc(bytes) : NULL;
    if (!d || weir_cuda_upload(d, host, bytes) < 0) {
        weir_cuda_free(d);
        g->failed = 1;
        return NULL;
    }
    g->dev[g->ndev++] = d;
    return d;
}

struct weir_gpu_model *weir_gpu_model_upload(const struct weir_model *m, char *err, size_t len)
{
    struct weir_gpu_model *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, len, "out of memory");
        return NULL;
    }
    g->m = m;
    if (m->kind == WEIR_MODEL_TREES) {
        const struct weir_trees *t = &m->trees;
        g->trees = *t;
        g->trees.root = upload(g, t->root, t->ntrees * sizeof *t->root);
        g->trees.depth = upload(g, t->depth, t->ntrees * sizeof *t->depth);
        g->trees.node = upload(g, t->node, t->nnodes * sizeof *t->node);
        g->trees.leaf = upload(g, t->leaf, t->nnodes * sizeof *t->leaf);
        g->trees.is_leaf = NULL;
        g->trees.cover = NULL; /* explanations are worked out on the host */
        g->trees.expected = NAN;
    } else {
        g->mean = upload(g, m->mean, m->nin * sizeof(float));
        g->std = upload(g, m->std, m->nin * sizeof(float));
        for (size_t k = 0; k < m->nlayers; k++) {
            const struct weir_dense_layer *L = &m->layer[k];
            g->layer[k] = *L;
            g->layer[k].W = upload(g, L->W, L->in * L->out * sizeof(float));
            g->layer[k].b = upload(g, L->b, L->out * sizeof(float));
            g->layer[k].ln_gamma = upload(g, L->ln_gamma, L->out * sizeof(float));
            g->layer[k].ln_beta = upload(g, L->ln_beta, L->out * sizeof(float));
        }
    }
    if (!g->failed && weir_cuda_uploads_done() < 0)
        g->failed = 1;
    if (g->failed) {
        snprintf(err, len, "uploading %s: %s", m->what, weir_cuda_error());
        weir_gpu_model_free(g);
        return NULL;
    }
    return g;
}

void weir_gpu_model_free(struct weir_gpu_model *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->ndev; i++)
        weir_cuda_free(g->dev[i]);
    free(g);
}

size_t weir_gpu_model_scratch(const struct weir_model *m, size_t n)
{
    if (m->kind == WEIR_MODEL_TREES)
        return 1;
    return n * (m->nin + 2 * m->max_width);
}

static int predict_trees(const struct weir_gpu_model *g, const float *X, size_t n, float *out,
                         weir_cuda_stream *s)
{
    const struct weir_model *m = g->m;
    if (weir_cuda_fill(out, n, m->base_margin, s) < 0 ||
        weir_trees_cuda(&g->trees, X, m->nin, n, out, s) < 0)
        return -1;
    return m->output == WEIR_OUTPUT_PROBABILITY ? weir_cuda_sigmoid(out, n, s) : 0;
}

int weir_gpu_model_predict(const struct weir_gpu_model *g, const float *X, size_t n, float *out,
                           float *scratch, weir_cuda_stream *s)
{
    const struct weir_model *m = g->m;
    if (n == 0)
        return 0;
    if (m->kind == WEIR_MODEL_TREES)
        return predict_trees(g, X, n, out, s);
    float *norm = scratch, *a = scratch + n * m->nin, *b = a + n * m->max_width;
    const float *in = X;
    if (g->mean) {
        if (weir_cuda_normalize(X, m->nin, n, m->nin, g->mean, g->std, norm, s) < 0)
            return -1;
        in = norm;
    }
    const float *cur = in;
    size_t ldc = m->nin;
    for (size_t k = 0; k < m->nlayers; k++) {
        float *dst = (k & 1) ? b : a;
        if (weir_dense_cuda(&g->layer[k], cur, ldc, n, dst, m->layer[k].out, s) < 0)
            return -1;
        cur = dst;
        ldc = m->layer[k].out;
    }
    if (m->output == WEIR_OUTPUT_RECONSTRUCTION)
        return weir_cuda_mse_rows(cur, ldc, in, m->nin, n, m->nin, out, s);
    return weir_cuda_take(cur, ldc, n, m->nout, m->output == WEIR_OUTPUT_PROBABILITY, out, s);
}
