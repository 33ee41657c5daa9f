/* Dense networks from safetensors files (the format of PyTorch and Hugging
 * Face): an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the bytes. The network's
 * architecture is a JSON string in the header's __metadata__ under "weir"
 * (docs/models.md). Every length, offset and shape is checked against the
 * file before a byte is read: a truncated or corrupt file is an error that
 * names the tensor, never a crash. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "models/model.h"

struct st_file {
    json_t *header;
    const unsigned char *data; /* the byte buffer after the header */
    size_t data_len;
    char *err;
    size_t errlen;
};

static int fail(struct st_file *f, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct st_file *f, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->err, f->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static void shape_text(char *buf, size_t size, const int64_t *dim, size_t ndim)
{
    size_t w = (size_t)snprintf(buf, size, "[");
    for (size_t i = 0; i < ndim && w < size; i++)
        w += (size_t)snprintf(buf + w, size - w, "%s%lld", i ? ", " : "", (long long)dim[i]);
    if (w < size)
        snprintf(buf + w, size - w, "]");
}

/* Reads tensor `name` as F32 of exactly `ndim` dimensions into a fresh
 * aligned array; dim[] holds the expected sizes (-1: any) and receives the
 * actual ones. what: how the architecture refers to it ("layers[0].weight"). */
static int tensor(struct st_file *f, struct weir_model *m, const char *what, const char *name,
                  size_t ndim, int64_t *dim, const float **out)
{
    json_t *t = json_object_get(f->header, name);
    if (!t || !json_is_object(t) || strcmp(name, "__metadata__") == 0)
        return fail(f, -ENOENT, "%s names tensor \"%s\", which the file does not hold", what,
                    name);
    const char *dtype = json_string_value(json_object_get(t, "dtype"));
    if (!dtype || strcmp(dtype, "F32") != 0)
        return fail(f, -EINVAL, "tensor \"%s\" (%s) has dtype %s: expected F32 (export with "
                    "model.float())", name, what, dtype ? dtype : "(none)");
    json_t *shape = json_object_get(t, "shape"), *offs = json_object_get(t, "data_offsets");
    if (!json_is_array(shape) || !json_is_array(offs) || json_array_size(offs) != 2)
        return fail(f, -EINVAL, "tensor \"%s\": expected \"shape\" and two \"data_offsets\"",
                    name);
    int64_t got[4] = {0};
    size_t gn = json_array_size(shape);
    if (gn > 4)
        return fail(f, -EINVAL, "tensor \"%s\" (%s) has %zu dimensions: expected %zu", name,
                    what, gn, ndim);
    uint64_t count = 1;
    for (size_t i = 0; i < gn && i < 4; i++) {
        json_t *d = json_array_get(shape, i);
        got[i] = json_is_integer(d) ? json_integer_value(d) : -1;
        if (got[i] < 0 || got[i] > (1ll << 28))
            return fail(f, -EINVAL, "tensor \"%s\": bad shape", name);
        count *= (uint64_t)got[i];
    }
    char want_s[96], got_s[96];
    shape_text(got_s, sizeof got_s, got, gn < 4 ? gn : 4);
    int ok = gn == ndim;
    for (size_t i = 0; ok && i < ndim; i++)
        ok = dim[i] < 0 || dim[i] == got[i];
    if (!ok) {
        shape_text(want_s, sizeof want_s, dim, ndim);
        for (size_t i = 0; want_s[i]; i++) /* -1 reads better as '*' */
            if (want_s[i] == '-' && want_s[i + 1] == '1') {
                want_s[i] = '*';
                memmove(want_s + i + 1, want_s + i + 2, strlen(want_s + i + 2) + 1);
            }
        return fail(f, -EINVAL, "tensor \"%s\" (%s) has shape %s: expected %s", name, what,
                    got_s, want_s);
    }
    json_t *a = json_array_get(offs, 0), *b = json_array_get(offs, 1);
    if (!json_is_integer(a) || !json_is_integer(b))
        return fail(f, -EINVAL, "tensor \"%s\": data_offsets are not integers", name);
    json_int_t lo = json_integer_value(a), hi = json_integer_value(b);
    if (lo < 0 || hi < lo || (uint64_t)hi > f->data_len)
        return fail(f, -EINVAL, "tensor \"%s\": data_offsets [%lld, %lld] outside the %zu data "
                    "bytes (truncated file?)", name, (long long)lo, (long long)hi, f->data_len);
    if ((uint64_t)(hi - lo) != count * 4)
        return fail(f, -EINVAL, "tensor \"%s\": shape %s needs %llu bytes, data_offsets give "
                    "%lld", name, got_s, (unsigned long long)(count * 4), (long long)(hi - lo));
    float *p = weir_model_alloc(m, count * 4);
    if (!p)
        return fail(f, -ENOMEM, "out of memory");
    memcpy(p, f->data + lo, count * 4); /* little-endian, as the host */
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(p[i]))
            return fail(f, -EINVAL, "tensor \"%s\" holds %s at element %llu: expected finite "
                        "values", name, isnan(p[i]) ? "NaN" : "Inf", (unsigned long long)i);
    for (size_t i = 0; i < ndim; i++)
        dim[i] = got[i];
    *out = p;
    return 0;
}

static int features(struct st_file *f, struct weir_model *m, json_t *arch)
{
    json_t *feat = json_object_get(arch, "features");
    if (!feat)
        return 0;
    if (!json_is_array(feat) || json_array_size(feat) == 0)
        return fail(f, -EINVAL, "\"features\" in the architecture: expected an array of names");
    m->nin = json_array_size(feat);
    m->feature = weir_model_alloc(m, m->nin * sizeof *m->feature);
    if (!m->feature)
        return fail(f, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nin; i++) {
        const char *s = json_string_value(json_array_get(feat, i));
        if (!s)
            return fail(f, -EINVAL, "features[%zu] in the architecture: expected a string", i);
        if (!(m->feature[i] = weir_model_alloc(m, strlen(s) + 1)))
            return fail(f, -ENOMEM, "out of memory");
        strcpy(m->feature[i], s);
    }
    return 0;
}

static int layer(struct st_file *f, struct weir_model *m, json_t *spec, size_t k, size_t in)
{
    struct weir_dense_layer *L = &m->layer[k];
    char what[64];
    const char *w = json_string_value(json_object_get(spec, "weight"));
    if (!w)
        return fail(f, -EINVAL, "layers[%zu]: expected \"weight\": a tensor name", k);
    snprintf(what, sizeof what, "layers[%zu].weight", k);
    int64_t dim[2] = {-1, (int64_t)in};
    int rc = tensor(f, m, what, w, 2, dim, &L->W);
    if (rc < 0)
        return rc;
    L->in = in;
    L->out = (size_t)dim[0];
    if (L->out == 0)
        return fail(f, -EINVAL, "tensor \"%s\" (%s) has no outputs", w, what);
    const char *bn = json_string_value(json_object_get(spec, "bias"));
    int64_t bd[1] = {(int64_t)L->out};
    snprintf(what, sizeof what, "layers[%zu].bias", k);
    if (bn && (rc = tensor(f, m, what, bn, 1, bd, &L->b)) < 0)
        return rc;
    const json_t *aj = json_object_get(spec, "activation");
    const char *act = json_string_value(aj);
    if (aj && !act) /* 1 or ["relu"] is a mistake, not "none" */
        return fail(f, -EINVAL,
                    "layers[%zu].activation: expected a string (none, relu, tanh, "
                    "sigmoid or gelu), got %s",
                    k, json_is_null(aj) ? "null" : "another type");
    L->act = act ? weir_act_parse(act) : WEIR_ACT_NONE;
    if (L->act < 0)
        return fail(f, -EINVAL, "layers[%zu].activation: expected none, relu, tanh, sigmoid or "
                    "gelu, got \"%s\"", k, act);
    json_t *norm = json_object_get(spec, "norm");
    if (norm) {
        const char *g = json_string_value(json_object_get(norm, "weight"));
        const char *b = json_string_value(json_object_get(norm, "bias"));
        if (!g || !b)
            return fail(f, -EINVAL, "layers[%zu].norm: expected \"weight\" and \"bias\" tensors",
                        k);
        snprintf(what, sizeof what, "layers[%zu].norm.weight", k);
        if ((rc = tensor(f, m, what, g, 1, bd, &L->ln_gamma)) < 0)
            return rc;
        snprintf(what, sizeof what, "layers[%zu].norm.bias", k);
        if ((rc = tensor(f, m, what, b, 1, bd, &L->ln_beta)) < 0)
            return rc;
        json_t *eps = json_object_get(norm, "eps");
        L->ln_eps = eps ? (float)json_number_value(eps) : 1e-5f;
        if (!(L->ln_eps > 0 && isfinite(L->ln_eps))) /* kept as a float: 1e-50 is 0, 1e39 inf */
            return fail(f, -EINVAL,
                        "layers[%zu].norm.eps: expected a positive number "
                        "within a float's range",
                        k);
    }
    return 0;
}

static int normalisation(struct st_file *f, struct weir_model *m, json_t *arch)
{
    const char *mean = json_string_value(json_object_get(arch, "input_mean"));
    const char *std = json_string_value(json_object_get(arch, "input_std"));
    if (!mean && !std)
        return 0;
    if (!mean || !std)
        return fail(f, -EINVAL, "expected both \"input_mean\" and \"input_std\", or neither");
    int64_t d[1] = {(int64_t)m->nin};
    int rc = tensor(f, m, "input_mean", mean, 1, d, &m->mean);
    if (rc == 0)
        rc = tensor(f, m, "input_std", std, 1, d, &m->std);
    for (size_t i = 0; rc == 0 && i < m->nin; i++)
        if (!(m->std[i] > 0))
            rc = fail(f, -EINVAL, "tensor \"%s\" (input_std) is %g at element %zu: expected > 0",
                      std, m->std[i], i);
    return rc;
}

static int output(struct st_file *f, struct weir_model *m, json_t *arch)
{
    const char *o = json_string_value(json_object_get(arch, "output"));
    size_t last = m->layer[m->nlayers - 1].out;
    m->nout = last;
    if (!o || strcmp(o, "raw") == 0)
        m->output = WEIR_OUTPUT_RAW;
    else if (strcmp(o, "probability") == 0)
        m->output = WEIR_OUTPUT_PROBABILITY;
    else if (strcmp(o, "reconstruction_error") == 0) {
        m->output = WEIR_OUTPUT_RECONSTRUCTION;
        m->nout = 1;
        if (last != m->nin)
            return fail(f, -EINVAL, "\"output\": \"reconstruction_error\" expects the last layer "
                        "to give back the %zu inputs, got %zu outputs", m->nin, last);
    } else
        return fail(f, -EINVAL, "\"output\": expected \"raw\", \"probability\" or "
                    "\"reconstruction_error\", got \"%s\"", o);
    if (m->output == WEIR_OUTPUT_PROBABILITY && m->layer[m->nlayers - 1].act != WEIR_ACT_NONE)
        return fail(f, -EINVAL, "\"output\": \"probability\" applies the sigmoid itself: the last "
                    "layer's activation must be \"none\", got \"%s\"",
                    weir_act_name(m->layer[m->nlayers - 1].act));
    return 0;
}

static int architecture(struct st_file *f, struct weir_model *m)
{
    json_t *meta = json_object_get(f->header, "__metadata__");
    const char *text = json_string_value(json_object_get(meta, "weir"));
    if (!text)
        return fail(f, -EINVAL, "no architecture: expected __metadata__ to hold \"weir\" "
                    "(a JSON string, docs/models.md)");
    json_error_t jerr;
    json_t *arch = json_loads(text, 0, &jerr);
    if (!json_is_object(arch)) {
        json_decref(arch);
        return fail(f, -EINVAL, "__metadata__.weir is not a JSON object: %s", jerr.text);
    }
    json_t *layers = json_object_get(arch, "layers");
    int rc = features(f, m, arch);
    if (rc == 0 && (!json_is_array(layers) || json_array_size(layers) == 0 ||
                    json_array_size(layers) > WEIR_MODEL_MAX_LAYERS))
        rc = fail(f, -EINVAL, "\"layers\": expected an array of 1 to %d layers",
                  WEIR_MODEL_MAX_LAYERS);
    if (rc == 0 && m->nin == 0) { /* no names: the first layer says how many inputs */
        const char *w0 = json_string_value(json_object_get(json_array_get(layers, 0), "weight"));
        json_t *t = w0 ? json_object_get(f->header, w0) : NULL;
        json_t *d = json_array_get(json_object_get(t, "shape"), 1);
        json_int_t cols = json_is_integer(d) ? json_integer_value(d) : 0;
        m->nin = cols > 0 ? (size_t)cols : 0;
        if (m->nin == 0)
            rc = fail(f, -EINVAL, "layers[0].weight: cannot tell the number of inputs");
    }
    m->nlayers = rc == 0 ? json_array_size(layers) : 0;
    size_t in = m->nin;
    for (size_t k = 0; rc == 0 && k < m->nlayers; k++) {
        if (in > m->max_in)
            m->max_in = in;
        rc = layer(f, m, json_array_get(layers, k), k, in);
        in = m->layer[k].out;
        if (in > m->max_width)
            m->max_width = in;
    }
    if (rc == 0)
        rc = normalisation(f, m, arch);
    if (rc == 0)
        rc = output(f, m, arch);
    json_decref(arch);
    return rc;
}

int weir_safetensors_load(struct weir_model *m, const unsigned char *buf, size_t len, char *err,
                          size_t errlen)
{
    struct st_file f = {.err = err, .errlen = errlen};
    m->kind = WEIR_MODEL_DENSE;
    if (len < 8)
        return fail(&f, -EINVAL, "not a safetensors file: %zu bytes, expected at least 8", len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    if (hlen > len - 8)
        return fail(&f, -EINVAL, "truncated or not safetensors: the header says %llu bytes, the "
                    "file has %zu after the length", (unsigned long long)hlen, len - 8);
    json_error_t jerr;
    f.header = json_loadb((const char *)buf + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(f.header)) {
        json_decref(f.header);
        return fail(&f, -EINVAL, "safetensors header is not a JSON object: %s", jerr.text);
    }
    f.data = buf + 8 + hlen;
    f.data_len = len - 8 - (size_t)hlen;
    int rc = architecture(&f, m);
    json_decref(f.header);
    return rc;
}
