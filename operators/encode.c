/* encode: a categorical string field as numeric features.
 *
 *     {"type": "encode", "field": "category", "values": ["food", "travel", "online"]}
 *     {"type": "encode", "field": "merchant", "buckets": 32, "prefix": "m_"}
 *
 * One-hot over a declared vocabulary (`values`): one feature per value,
 * named prefix + value (default prefix: the field's name and '_'), 1 for the
 * record's value and 0 for the others; a value outside the vocabulary, and a
 * record without the field, set them all to 0, or set prefix + "other" to 1
 * with `"other": true`. The vocabulary is declared, never learnt from the
 * data: a model's inputs must not change shape as records arrive.
 *
 * Feature hashing (`buckets`: n): features prefix + "0" .. prefix + "n-1";
 * the value's 32-bit FNV-1a hash modulo n picks the one set to 1 (with
 * `"signed": true`, to +1 or -1 by the hash's top bit, which makes
 * collisions cancel on average, as Weinberger et al. 2009 do). FNV-1a is
 * stable across runs, machines and languages, so a model trained elsewhere
 * can hash the same way (the reference is in the tests).
 *
 * The string field comes from an earlier operator (extract's string fields,
 * mask's masked ones). The vocabulary look-up is a hash table built at load
 * (engine/project.h); nothing is allocated per record. Stateless. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/project.h"

struct encode_conf {
    const char *field;
    struct weir_strlist values;
    int64_t buckets;
    const char *prefix;
    int other;
    int is_signed;
    /* built by prepare(), freed by release() */
    int in_col;
    int *out_col;  /* one per value or bucket, then "other" */
    size_t nout;
    char *names;   /* the generated feature names, back to back */
    struct weir_projection vocab; /* value -> its index */
};

static const struct weir_option encode_options[] = {
    {"field", WEIR_OPT_STRING, NULL, "the string field to encode",
     offsetof(struct encode_conf, field), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"values", WEIR_OPT_STRINGS, NULL, "one-hot: the vocabulary, one feature per value",
     offsetof(struct encode_conf, values), 0, 0, 0, NULL},
    {"buckets", WEIR_OPT_INT, NULL, "feature hashing: this many features (FNV-1a modulo n)",
     offsetof(struct encode_conf, buckets), WEIR_OPT_RANGE, 2, 256, NULL},
    {"prefix", WEIR_OPT_STRING, NULL, "feature names' prefix (default: the field's name + \"_\")",
     offsetof(struct encode_conf, prefix), 0, 0, 0, NULL},
    {"other", WEIR_OPT_BOOL, "false",
     "one-hot: add prefix + \"other\", 1 when the value is outside the vocabulary or absent",
     offsetof(struct encode_conf, other), 0, 0, 0, NULL},
    {"signed", WEIR_OPT_BOOL, "false", "feature hashing: +1 or -1 by the hash's top bit",
     offsetof(struct encode_conf, is_signed), 0, 0, 0, NULL},
    {0},
};

/* 32-bit FNV-1a: the hash feature hashing documents. */
static uint32_t fnv1a(const char *s, uint32_t len)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

/* The k-th output's name: prefix + value, bucket number or "other". */
static int name_of(const struct encode_conf *c, size_t k, const char *prefix, char *buf,
                   size_t size)
{
    if (c->values.n && k < c->values.n)
        return snprintf(buf, size, "%s%s", prefix, c->values.v[k]);
    if (c->values.n)
        return snprintf(buf, size, "%sother", prefix);
    return snprintf(buf, size, "%s%zu", prefix, k);
}

static int encode_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct encode_conf *c = vconf;
    char fp[256], def[256];
    (void)raw;
    if (!c->values.n == !c->buckets) {
        weir_diag_add(p->diag, p->path, "expected exactly one of \"values\" (one-hot) or "
                      "\"buckets\" (feature hashing), got %s", c->buckets ? "both" : "neither");
        return 1;
    }
    if (c->buckets && c->other) { /* options of the other mode: said, not ignored */
        weir_diag_add(p->diag, weir_path_key(fp, sizeof fp, p->path, "other"),
                      "expected \"other\" only with \"values\" (every value falls in a bucket)");
        return 1;
    }
    if (c->values.n && c->is_signed) {
        weir_diag_add(p->diag, weir_path_key(fp, sizeof fp, p->path, "signed"),
                      "expected \"signed\" only with \"buckets\"");
        return 1;
    }
    c->in_col = weir_schema_string_in(p, c->field, weir_path_key(fp, sizeof fp, p->path, "field"));
    if (c->in_col < 0)
        return 1;
    for (size_t k = 0; k < c->values.n; k++)
        for (size_t j = 0; j < k; j++)
            if (strcmp(c->values.v[j], c->values.v[k]) == 0) {
                char ip[256];
                weir_diag_add(p->diag,
                              weir_path_index(ip, sizeof ip,
                                              weir_path_key(fp, sizeof fp, p->path, "values"), k),
                              "expected distinct values, got \"%s\" again", c->values.v[k]);
                return 1;
            }
    snprintf(def, sizeof def, "%s_", c->field);
    const char *prefix = c->prefix ? c->prefix : def;
    c->nout = c->values.n ? c->values.n + (size_t)c->other : (size_t)c->buckets;
    if (c->nout > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, weir_path_key(fp, sizeof fp, p->path, "values"),
                      "expected at most %d outputs (values, and \"other\"), got %zu",
                      WEIR_SCHEMA_MAX, c->nout);
        return 1;
    }
    size_t bytes = 0;
    for (size_t k = 0; k < c->nout; k++)
        bytes += (size_t)name_of(c, k, prefix, NULL, 0) + 1;
    c->names = malloc(bytes);
    c->out_col = calloc(c->nout, sizeof *c->out_col);
    if (!c->names || !c->out_col ||
        weir_projection_build(&c->vocab, NULL, 0, NULL, 0, c->values.v, c->values.n) < 0) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    int bad = 0;
    char *at = c->names;
    for (size_t k = 0; k < c->nout; k++) {
        int n = name_of(c, k, prefix, at, bytes - (size_t)(at - c->names));
        char ip[256];
        const char *path = c->values.n && k < c->values.n
                               ? weir_path_index(ip, sizeof ip,
                                                 weir_path_key(fp, sizeof fp, p->path, "values"), k)
                               : p->path;
        c->out_col[k] = weir_schema_feature_out(p, at, path, /*emit*/ 1);
        bad += c->out_col[k] < 0;
        if (k == c->values.n && k && c->out_col[k] >= 0) /* the value "other" and "other": true */
            for (size_t j = 0; j < k; j++)
                if (c->out_col[j] == c->out_col[k]) {
                    weir_diag_add(p->diag, weir_path_key(fp, sizeof fp, p->path, "other"),
                                  "expected no value named \"other\" beside \"other\": true "
                                  "(both would write \"%s\"), got values[%zu] \"other\"",
                                  at, j);
                    bad++;
                }
        at += n + 1;
    }
    return bad;
}

static void encode_release(void *vconf)
{
    struct encode_conf *c = vconf;
    weir_projection_free(&c->vocab);
    free(c->names);
    free(c->out_col);
    c->names = NULL;
    c->out_col = NULL;
}

static int encode_process(struct weir_op *op, struct weir_batch *b)
{
    const struct encode_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        for (size_t k = 0; k < c->nout; k++)
            row[c->out_col[k]] = 0.0f;
        const struct weir_str *s = &b->S[(size_t)i * b->nstr + c->in_col];
        if (c->buckets) {
            if (!s->p)
                continue;
            uint32_t h = fnv1a(s->p, s->len);
            row[c->out_col[h % (uint32_t)c->buckets]] = c->is_signed && (h >> 31) ? -1.0f : 1.0f;
            continue;
        }
        int32_t k = s->p ? weir_projection_decide(&c->vocab, s->p, s->len) : -1;
        if (k >= 0)
            row[c->out_col[k]] = 1.0f;
        else if (c->other)
            row[c->out_col[c->values.n]] = 1.0f;
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_encode = {
    .name = "encode",
    .reads_declared = 1,
    .summary = "a string field as features: one-hot over a declared vocabulary, or hashed into "
               "buckets (FNV-1a)",
    .options = encode_options,
    .conf_size = sizeof(struct encode_conf),
    .prepare = encode_prepare,
    .process = encode_process,
    .release = encode_release,
};
