/* Writing a trained network as the safetensors file the `model` operator
 * loads (docs/models.md): an 8-byte little-endian header length, the JSON
 * header (padded with spaces to 8 bytes), then the F32 tensors. The
 * architecture is the "weir" metadata string. Tensors are named as
 * scripts/export_safetensors.py names an nn.Sequential's: "0.weight",
 * "0.bias", "2.weight", ... with the activations in between. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fit/dense.h"

static const char *const act_name[] = {"none", "relu", "tanh"};

struct tensors {
    json_t *header;
    const float *data[2 * FIT_MAX_LAYERS + 2];
    size_t bytes[2 * FIT_MAX_LAYERS + 2];
    size_t n, offset;
};

static int add_tensor(struct tensors *t, const char *name, const float *data, size_t rows,
                      size_t cols)
{
    json_t *shape = cols ? json_pack("[I, I]", (json_int_t)rows, (json_int_t)cols)
                         : json_pack("[I]", (json_int_t)rows);
    size_t bytes = rows * (cols ? cols : 1) * sizeof(float);
    json_t *desc = json_pack("{s:s, s:o, s:[I, I]}", "dtype", "F32", "shape", shape,
                             "data_offsets", (json_int_t)t->offset,
                             (json_int_t)(t->offset + bytes));
    if (!desc || json_object_set_new(t->header, name, desc) < 0)
        return -ENOMEM;
    t->data[t->n] = data;
    t->bytes[t->n++] = bytes;
    t->offset += bytes;
    return 0;
}

static json_t *architecture(const struct fit_net *net, char *const *features, struct tensors *t)
{
    json_t *layers = json_array(), *names = json_array();
    for (size_t k = 0; k < net->dim[0]; k++)
        json_array_append_new(names, json_string(features[k]));
    int bad = !layers || !names;
    for (size_t l = 0; l < net->nl && !bad; l++) {
        char w[32], b[32];
        snprintf(w, sizeof w, "%zu.weight", 2 * l);
        snprintf(b, sizeof b, "%zu.bias", 2 * l);
        bad |= add_tensor(t, w, net->W[l], net->dim[l + 1], net->dim[l]) < 0 ||
               add_tensor(t, b, net->b[l], net->dim[l + 1], 0) < 0 ||
               json_array_append_new(layers, json_pack("{s:s, s:s, s:s}", "weight", w, "bias", b,
                                                       "activation", act_name[net->act[l]])) < 0;
    }
    bad |= add_tensor(t, "input_mean", net->mean, net->dim[0], 0) < 0 ||
           add_tensor(t, "input_std", net->std, net->dim[0], 0) < 0;
    const char *output = net->task == FIT_CLASSIFY ? "probability" : "reconstruction_error";
    json_t *arch = bad ? NULL
                       : json_pack("{s:o, s:o, s:s, s:s, s:s}", "features", names, "layers", layers,
                                   "input_mean", "input_mean", "input_std", "input_std", "output",
                                   output);
    if (!arch) {
        json_decref(layers);
        json_decref(names);
    }
    return arch;
}

static int write_all(FILE *f, const char *head, size_t hlen, const struct tensors *t)
{
    unsigned char len[8];
    for (int k = 0; k < 8; k++)
        len[k] = (unsigned char)((uint64_t)hlen >> (8 * k));
    if (fwrite(len, 1, 8, f) != 8 || fwrite(head, 1, hlen, f) != hlen)
        return -EIO;
    for (size_t k = 0; k < t->n; k++) /* little-endian floats: x86-64 and arm64 alike */
        if (fwrite(t->data[k], 1, t->bytes[k], f) != t->bytes[k])
            return -EIO;
    return 0;
}

int fit_net_save(const struct fit_net *net, char *const *features, const char *path,
                 struct weir_error *err)
{
    struct tensors t = {.header = json_object()};
    json_t *arch = t.header ? architecture(net, features, &t) : NULL;
    char *arch_text = arch ? json_dumps(arch, JSON_COMPACT) : NULL;
    json_decref(arch);
    json_t *meta = arch_text ? json_pack("{s:s}", "weir", arch_text) : NULL;
    free(arch_text);
    char *head = NULL;
    if (meta && json_object_set_new(t.header, "__metadata__", meta) == 0)
        head = json_dumps(t.header, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(t.header);
    if (!head)
        return weir_error_set(err, -ENOMEM, "out of memory");
    size_t hlen = strlen(head), padded = (hlen + 7) / 8 * 8;
    char *h = realloc(head, padded + 1);
    if (!h) {
        free(head);
        return weir_error_set(err, -ENOMEM, "out of memory");
    }
    memset(h + hlen, ' ', padded - hlen); /* the data starts 8-byte aligned */
    FILE *f = fopen(path, "wb");
    int rc = f ? write_all(f, h, padded, &t) : -errno;
    if (f && fclose(f) != 0 && rc == 0)
        rc = -EIO;
    free(h);
    if (rc < 0)
        return weir_error_set(err, rc, "writing %s: %s", path, strerror(-rc));
    return 0;
}
