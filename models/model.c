/* Loading a model file and running it: the format is sniffed (XGBoost's JSON
 * starts with '{', safetensors with an 8-byte header length), the loaders
 * fill struct weir_model, and predict drives the kernels. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models/model.h"

#define MODEL_MAX_BYTES (1ull << 31) /* 2 GiB: larger is not a streaming model */

void *weir_model_alloc(struct weir_model *m, size_t bytes)
{
    if (m->nblob == m->blob_cap) {
        size_t cap = m->blob_cap ? m->blob_cap * 2 : 16;
        void **nb = realloc(m->blob, cap * sizeof *nb);
        if (!nb)
            return NULL;
        m->blob = nb;
        m->blob_cap = cap;
    }
    size_t size = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, size ? size : 64);
    if (!p)
        return NULL;
    memset(p, 0, size ? size : 64);
    m->blob[m->nblob++] = p;
    return p;
}

void weir_model_free(struct weir_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nblob; i++)
        free(m->blob[i]);
    free(m->blob);
    free(m);
}

int weir_model_read_file(const char *path, unsigned char **buf, size_t *len, char *err,
                         size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) { /* a FIFO would block the load */
        snprintf(err, errlen, "model file %s: expected a regular file", path);
        return -EINVAL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "cannot open model file %s: %s", path, strerror(e));
        return -e;
    }
    int rc = 0;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "cannot read model file %s: not a regular file", path);
        rc = -EINVAL;
    } else if ((unsigned long long)size > MODEL_MAX_BYTES) {
        snprintf(err, errlen, "model file %s is %ld bytes: expected at most 2 GiB", path, size);
        rc = -EFBIG;
    } else if (!(*buf = malloc((size_t)size + 1))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory reading %s", path);
    } else if (fread(*buf, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "cannot read model file %s", path);
        free(*buf);
        rc = -EIO;
    } else {
        (*buf)[size] = 0;
        *len = (size_t)size;
    }
    fclose(f);
    return rc;
}

static void describe(struct weir_model *m)
{
    static const char *const outs[] = {"raw", "probability", "reconstruction_error"};
    char *p = m->what;
    size_t room = sizeof m->what;
    int w;
    if (m->kind == WEIR_MODEL_TREES) {
        snprintf(p, room, "%zu trees over %zu features, %s", m->trees.ntrees, m->nin,
                 outs[m->output]);
        return;
    }
    w = snprintf(p, room, "dense %zu", m->nin);
    for (size_t i = 0; i < m->nlayers && w > 0 && (size_t)w < room; i++)
        w += snprintf(p + w, room - (size_t)w, "-%zu%s", m->layer[i].out,
                      m->layer[i].ln_gamma ? "(ln)" : "");
    if (w > 0 && (size_t)w < room)
        snprintf(p + w, room - (size_t)w, ", %s", outs[m->output]);
}

/* safetensors first: its 8-byte header length can itself read as white
 * space and '{' (0x7B20 = 31,520 bytes: 20 7B ...), so a JSON look would
 * take one padded header in 8,192 for XGBoost's JSON. */
static int looks_like_safetensors(const unsigned char *buf, size_t len)
{
    if (len < 9 || buf[8] != '{')
        return 0;
    uint64_t n = 0;
    for (int k = 7; k >= 0; k--)
        n = n << 8 | buf[k];
    return n <= len - 8;
}

static size_t byte_order_mark(const unsigned char *buf, size_t len)
{
    return len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

static int looks_like_json(const unsigned char *buf, size_t len)
{
    size_t i = byte_order_mark(buf, len);
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    return i < len && buf[i] == '{';
}

/* XGBoost's UBJSON (its default format since 2.1 for a name not ending in
 * .json): '{' and then a key's length type, where JSON has a quote. */
static int looks_like_ubjson(const unsigned char *buf, size_t len)
{
    return len >= 2 && buf[0] == '{' && buf[1] && strchr("iUIlL$#", buf[1]) != NULL;
}

int weir_model_load(const char *path, struct weir_model **out, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = weir_model_read_file(path, &buf, &len, err, errlen);
    if (rc < 0)
        return rc;
    struct weir_model *m = calloc(1, sizeof *m);
    if (!m) {
        free(buf);
        snprintf(err, errlen, "out of memory loading %s", path);
        return -ENOMEM;
    }
    char why[400];
    why[0] = 0;
    if (!looks_like_safetensors(buf, len) && looks_like_ubjson(buf, len)) {
        snprintf(why, sizeof why,
                 "an XGBoost model in UBJSON: weir reads XGBoost's JSON (save the "
                 "model under a name ending in .json)");
        rc = -EINVAL;
    } else if (looks_like_safetensors(buf, len) || !looks_like_json(buf, len))
        rc = weir_safetensors_load(m, buf, len, why, sizeof why);
    else
        rc = weir_xgboost_load(m, (const char *)buf + byte_order_mark(buf, len),
                               len - byte_order_mark(buf, len), why, sizeof why);
    free(buf);
    if (rc < 0) {
        snprintf(err, errlen, "model file %s: %s", path, why);
        weir_model_free(m);
        return rc;
    }
    describe(m);
    *out = m;
    return 0;
}

int weir_model_quantize(struct weir_model *m)
{
    for (size_t k = 0; m->kind == WEIR_MODEL_DENSE && k < m->nlayers; k++) {
        const struct weir_dense_layer *L = &m->layer[k];
        m->Wq[k] = weir_model_alloc(m, L->in * L->out);
        m->w_scale[k] = weir_model_alloc(m, L->out * sizeof(float));
        if (!m->Wq[k] || !m->w_scale[k])
            return -ENOMEM;
        weir_dense_int8_quantize(L, m->Wq[k], m->w_scale[k]);
    }
    return 0;
}

size_t weir_model_scratch(const struct weir_model *m, size_t n)
{
    if (m->kind == WEIR_MODEL_TREES)
        return 0;
    return n * (m->nin + 2 * m->max_width) + m->max_in / 4 + 1; /* + one int8 row */
}

static float sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static void predict_trees(const struct weir_model *m, const float *X, size_t ldx, size_t n,
                          float *out, int mode)
{
    for (size_t i = 0; i < n; i++)
        out[i] = m->base_margin;
    if (mode == WEIR_PREDICT_REFERENCE)
        weir_trees_ref(&m->trees, X, ldx, n, out);
    else
        weir_trees_cpu(&m->trees, X, ldx, n, out);
    if (m->output == WEIR_OUTPUT_PROBABILITY)
        for (size_t i = 0; i < n; i++)
            out[i] = sigmoidf(out[i]);
}

/* n rows through the layers: *in the rows as the first layer reads them
 * (normalised when the model has a mean), *out the last layer's. */
static void run_layers(const struct weir_model *m, const float *X, size_t ldx, size_t n,
                       float *scratch, int mode, const float **in_out, size_t *ld_out,
                       const float **out, size_t *ldc_out)
{
    float *norm = scratch, *a = scratch + n * m->nin, *b = a + n * m->max_width;
    int8_t *xq = (int8_t *)(b + n * m->max_width);
    const float *in = X;
    size_t ld = ldx;
    if (m->mean) {
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < m->nin; j++)
                norm[i * m->nin + j] = (X[i * ldx + j] - m->mean[j]) / m->std[j];
        in = norm;
        ld = m->nin;
    }
    const float *cur = in;
    size_t ldc = ld;
    for (size_t k = 0; k < m->nlayers; k++) {
        float *dst = (k & 1) ? b : a;
        if (mode == WEIR_PREDICT_REFERENCE)
            weir_dense_ref(&m->layer[k], cur, ldc, n, dst, m->layer[k].out);
        else if (mode == WEIR_PREDICT_INT8 && m->Wq[k])
            weir_dense_int8_cpu(&m->layer[k], m->Wq[k], m->w_scale[k], cur, ldc, n, dst,
                                m->layer[k].out, xq);
        else
            weir_dense_cpu(&m->layer[k], cur, ldc, n, dst, m->layer[k].out);
        cur = dst;
        ldc = m->layer[k].out;
    }
    *in_out = in;
    *ld_out = ld;
    *out = cur;
    *ldc_out = ldc;
}

void weir_model_predict(const struct weir_model *m, const float *X, size_t ldx, size_t n,
                        float *out, float *scratch, int mode)
{
    if (m->kind == WEIR_MODEL_TREES) {
        predict_trees(m, X, ldx, n, out, mode);
        return;
    }
    const float *in, *cur;
    size_t ld, ldc;
    run_layers(m, X, ldx, n, scratch, mode, &in, &ld, &cur, &ldc);
    if (m->output == WEIR_OUTPUT_RECONSTRUCTION) {
        for (size_t i = 0; i < n; i++) {
            float s = 0;
            for (size_t j = 0; j < m->nin; j++) {
                float d = cur[i * ldc + j] - in[i * ld + j];
                s += d * d;
            }
            out[i] = s / (float)m->nin;
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m->nout; j++) {
            float v = cur[i * ldc + j];
            out[i * m->nout + j] = m->output == WEIR_OUTPUT_PROBABILITY ? sigmoidf(v) : v;
        }
}

void weir_model_margin(const struct weir_model *m, const float *X, size_t ldx, size_t n, float *out,
                       float *scratch, int mode)
{
    const float *in, *cur;
    size_t ld, ldc;
    run_layers(m, X, ldx, n, scratch, mode, &in, &ld, &cur, &ldc);
    for (size_t i = 0; i < n; i++)
        out[i] = cur[i * ldc];
}

void weir_model_reconstruct(const struct weir_model *m, const float *x, float *z, float *zhat,
                            float *scratch, int mode)
{
    const float *in, *cur;
    size_t ld, ldc;
    run_layers(m, x, m->nin, 1, scratch, mode, &in, &ld, &cur, &ldc);
    memcpy(z, in, m->nin * sizeof *z);
    memcpy(zhat, cur, m->nin * sizeof *zhat);
}
