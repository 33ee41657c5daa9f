/* clip: bounds features to fixed ranges given in the pipeline.
 *
 *   {"type": "clip", "fields": {"amount": [0, 1000], "age": [18, null]}}
 *
 * writes amount_clipped = min(max(amount, 0), 1000) and age_clipped =
 * max(age, 18) (null: no bound on that side; the suffix is an option).
 * NaN stays NaN (missing stays missing); ±Inf is clipped like any number.
 * Bounds are compared in double and the result rounded to float, as every
 * feature is. No state. */
#include "engine/operator.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIP_NAME_MAX 160

struct clip_conf {
    const json_t *fields; /* {"name": [lo, hi], ...} */
    const char *suffix;
    /* resolved by prepare() */
    size_t n;
    int in_col[WEIR_SCHEMA_MAX], out_col[WEIR_SCHEMA_MAX];
    double lo[WEIR_SCHEMA_MAX], hi[WEIR_SCHEMA_MAX]; /* -Inf/+Inf when open */
    char out[WEIR_SCHEMA_MAX][CLIP_NAME_MAX];        /* the schema borrows these */
};

static const struct weir_option clip_options[] = {
    {"fields", WEIR_OPT_JSON, NULL,
     "object of FEATURE: [min, max] (null: no bound on that side); writes FEATURE + suffix",
     offsetof(struct clip_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"suffix", WEIR_OPT_STRING, "\"_clipped\"", "appended to each input's name to name its output",
     offsetof(struct clip_conf, suffix), 0, 0, 0, NULL},
    {0},
};

/* [lo, hi] with numbers or nulls, lo <= hi; returns 0 or adds a message. */
static int bounds(const json_t *v, double *lo, double *hi, struct weir_prepare *p, const char *path)
{
    const json_t *a = json_array_get(v, 0), *b = json_array_get(v, 1);
    if (!json_is_array(v) || json_array_size(v) != 2 || !(json_is_number(a) || json_is_null(a)) ||
        !(json_is_number(b) || json_is_null(b)) || (json_is_null(a) && json_is_null(b))) {
        weir_diag_add(p->diag, path, "expected [min, max] with numbers (or one null), got %s",
                      json_is_array(v) ? "another array" : "no array");
        return 1;
    }
    *lo = json_is_null(a) ? -INFINITY : json_number_value(a);
    *hi = json_is_null(b) ? INFINITY : json_number_value(b);
    if (*lo > *hi) {
        weir_diag_add(p->diag, path, "expected min <= max, got [%g, %g]", *lo, *hi);
        return 1;
    }
    if ((!json_is_null(a) && isinf((float)*lo)) || (!json_is_null(b) && isinf((float)*hi))) {
        /* a bound that is an infinity as a float would write one for an infinite input */
        weir_diag_add(p->diag, path,
                      "expected bounds of magnitude at most 3.4e38 (features are 32-bit "
                      "floats; null: no bound), got [%g, %g]",
                      *lo, *hi);
        return 1;
    }
    return 0;
}

static int clip_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct clip_conf *c = vconf;
    char path[512];
    weir_path_key(path, sizeof path, p->path, "fields");
    if (!json_is_object(c->fields) || json_object_size(c->fields) == 0 ||
        json_object_size(c->fields) > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, path, "expected an object of 1 to %d \"feature\": [min, max] pairs",
                      WEIR_SCHEMA_MAX);
        return 1;
    }
    int bad = 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)c->fields, name, v)
    {
        char fp[512];
        weir_path_key(fp, sizeof fp, path, name);
        size_t k = c->n++;
        bad += bounds(v, &c->lo[k], &c->hi[k], p, fp);
        c->in_col[k] = weir_schema_feature_in(p, name, fp);
        bad += c->in_col[k] < 0;
        if ((size_t)snprintf(c->out[k], CLIP_NAME_MAX, "%s%s", name, c->suffix) >= CLIP_NAME_MAX) {
            weir_diag_add(p->diag, fp, "expected a name under %d bytes with its suffix",
                          CLIP_NAME_MAX);
            bad++;
            continue;
        }
        c->out_col[k] = weir_schema_feature_out(p, c->out[k], fp, /*emit*/ 1);
        bad += c->out_col[k] < 0;
    }
    return bad;
}

static int clip_process(struct weir_op *op, struct weir_batch *b)
{
    const struct clip_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        for (size_t k = 0; k < c->n; k++) {
            double x = row[c->in_col[k]];
            row[c->out_col[k]] = isnan(x)       ? NAN
                                 : x < c->lo[k] ? (float)c->lo[k]
                                 : x > c->hi[k] ? (float)c->hi[k]
                                                : (float)x;
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_clip = {
    .name = "clip",
    .reads_declared = 1,
    .summary = "Bounds features to fixed [min, max] ranges",
    .options = clip_options,
    .conf_size = sizeof(struct clip_conf),
    .prepare = clip_prepare,
    .process = clip_process,
};
