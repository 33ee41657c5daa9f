/* scale: rescales features with fixed parameters, fitted offline.
 *
 *   {"type": "scale", "fields": {"amount": {"mean": 53.6, "std": 41.2},
 *                                "hour": {"min": 0, "max": 23}}}
 *   {"type": "scale", "file": "scaler.json"}   (the same object, in a file)
 *
 * writes NAME + suffix = (x - mean) / std, or (x - min) / (max - min). A
 * relative "file" is resolved against the pipeline file's directory, and an
 * error names the resolved path. Computed in double, rounded to float; NaN
 * stays NaN and ±Inf stays infinite. No state. */
#include "engine/operator.h"
#include "engine/paths.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCALE_NAME_MAX 160

struct scale_conf {
    const json_t *fields; /* {"name": {"mean", "std"} | {"min", "max"}} */
    const char *file;
    const char *suffix;
    /* resolved by prepare(): out = (x - shift) / span */
    size_t n;
    int in_col[WEIR_SCHEMA_MAX], out_col[WEIR_SCHEMA_MAX];
    double shift[WEIR_SCHEMA_MAX], span[WEIR_SCHEMA_MAX];
    char out[WEIR_SCHEMA_MAX][SCALE_NAME_MAX]; /* the schema borrows these */
};

static const struct weir_option scale_options[] = {
    {"fields", WEIR_OPT_JSON, NULL,
     "object of FEATURE: {\"mean\": m, \"std\": s} (standard) or {\"min\": a, \"max\": b} "
     "(min-max); writes FEATURE + suffix",
     offsetof(struct scale_conf, fields), 0, 0, 0, NULL},
    {"file", WEIR_OPT_STRING, NULL,
     "instead of \"fields\": a JSON file holding that object (relative to the pipeline file)",
     offsetof(struct scale_conf, file), 0, 0, 0, NULL},
    {"suffix", WEIR_OPT_STRING, "\"_scaled\"", "appended to each input's name to name its output",
     offsetof(struct scale_conf, suffix), 0, 0, 0, NULL},
    {0},
};

/* A field's parameters → shift and span. where: "operators[2].fields.amount"
 * or "scaler.json: amount" (messages). */
static int params(const json_t *v, double *shift, double *span_out, struct weir_prepare *p,
                  const char *path)
{
    const json_t *mean = json_object_get(v, "mean"), *sd = json_object_get(v, "std");
    const json_t *lo = json_object_get(v, "min"), *hi = json_object_get(v, "max");
    int standard = json_is_number(mean) && json_is_number(sd) && json_object_size(v) == 2;
    int minmax = json_is_number(lo) && json_is_number(hi) && json_object_size(v) == 2;
    if (!standard && !minmax) {
        weir_diag_add(p->diag, path,
                      "expected {\"mean\": number, \"std\": number} or {\"min\": number, \"max\": "
                      "number}, got %s",
                      json_is_object(v) ? "other keys" : "no object");
        return 1;
    }
    double a = json_number_value(standard ? mean : lo), b = json_number_value(standard ? sd : hi);
    double span = standard ? b : b - a;
    if (!(span > 0) || !isfinite(span)) {
        weir_diag_add(p->diag, path,
                      standard ? "expected std > 0, got %g"
                               : "expected max > min, got a "
                                 "range of %g",
                      span);
        return 1;
    }
    if (isinf((float)(1 / span))) { /* every output an infinity, read as missing downstream */
        weir_diag_add(p->diag, path, "expected %s of at least 3e-39 (1 / it a float), got %g",
                      standard ? "a std" : "a range", span);
        return 1;
    }
    if (isinf((float)a)) { /* every finite input's output an infinity, as above */
        weir_diag_add(p->diag, path,
                      "expected %s of magnitude at most 3.4e38 (features are "
                      "32-bit floats), got %g",
                      standard ? "a mean" : "a min", a);
        return 1;
    }
    *shift = a;
    *span_out = span;
    return 0;
}

/* file relative to the directory of the pipeline file (diag->file). */
static void resolve(char *buf, size_t size, const char *file, const char *pipeline)
{
    const char *slash = pipeline ? strrchr(pipeline, '/') : NULL;
    if (file[0] == '/' || !slash)
        snprintf(buf, size, "%s", file);
    else
        snprintf(buf, size, "%.*s/%s", (int)(slash - pipeline), pipeline, file);
}

static json_t *load_file(struct scale_conf *c, struct weir_prepare *p, const char *path,
                         char *resolved, size_t size)
{
    char why[8300];
    /* Beside the pipeline file, then the working directory (engine/paths.h);
     * found in neither, the message names the first. */
    if (weir_path_resolve(p->file ? p->file : p->diag->file, c->file, WEIR_PATH_READ, resolved,
                          size, why, sizeof why) != 0)
        resolve(resolved, size, c->file, p->diag->file);
    FILE *f = fopen(resolved, "r"); /* for errno's word on why not */
    if (!f) {
        weir_diag_add(p->diag, path,
                      "cannot read \"%s\" (resolved against the pipeline file's "
                      "directory): %s",
                      resolved, strerror(errno));
        return NULL;
    }
    fclose(f);
    json_error_t jerr;
    json_t *root = json_load_file(resolved, JSON_REJECT_DUPLICATES, &jerr); /* as a pipeline */
    if (!root && json_error_code(&jerr) == json_error_out_of_memory)
        weir_diag_add(p->diag, path, "out of memory");
    else if (!root)
        weir_diag_add(p->diag, path, "\"%s\": line %d: %s", resolved, jerr.line, jerr.text);
    return root;
}

static int scale_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct scale_conf *c = vconf;
    char path[512], resolved[512];
    if (!c->fields == !c->file) {
        weir_diag_add(p->diag, p->path, "expected exactly one of \"fields\" or \"file\", got %s",
                      c->fields ? "both" : "neither");
        return 1;
    }
    json_t *loaded = NULL;
    const json_t *fields = c->fields;
    weir_path_key(path, sizeof path, p->path, c->file ? "file" : "fields");
    if (c->file && !(fields = loaded = load_file(c, p, path, resolved, sizeof resolved)))
        return 1;
    int bad = 0;
    if (!json_is_object(fields) || json_object_size(fields) == 0 ||
        json_object_size(fields) > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, path, "%s%s%sexpected an object of 1 to %d \"feature\": {...} pairs",
                      c->file ? "\"" : "", c->file ? resolved : "", c->file ? "\": " : "",
                      WEIR_SCHEMA_MAX);
        json_decref(loaded);
        return 1;
    }
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)fields, name, v)
    {
        char fp[1100];
        if (c->file)
            snprintf(fp, sizeof fp, "%s (\"%s\": %s)", path, resolved, name);
        else
            weir_path_key(fp, sizeof fp, path, name);
        size_t k = c->n++;
        bad += params(v, &c->shift[k], &c->span[k], p, fp);
        c->in_col[k] = weir_schema_feature_in(p, name, fp);
        bad += c->in_col[k] < 0;
        if ((size_t)snprintf(c->out[k], SCALE_NAME_MAX, "%s%s", name, c->suffix) >=
            SCALE_NAME_MAX) {
            weir_diag_add(p->diag, fp, "expected a name under %d bytes with its suffix",
                          SCALE_NAME_MAX);
            bad++;
            continue;
        }
        c->out_col[k] = weir_schema_feature_out(p, c->out[k], fp, /*emit*/ 1);
        bad += c->out_col[k] < 0;
    }
    json_decref(loaded); /* names were copied into out[]; the schema keeps no input name */
    return bad;
}

static int scale_process(struct weir_op *op, struct weir_batch *b)
{
    const struct scale_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        for (size_t k = 0; k < c->n; k++)
            row[c->out_col[k]] = (float)(((double)row[c->in_col[k]] - c->shift[k]) / c->span[k]);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_scale = {
    .name = "scale",
    .reads_declared = 1,
    .summary =
        "Rescales features with fixed parameters (mean/std or min/max) from the pipeline or a file",
    .options = scale_options,
    .conf_size = sizeof(struct scale_conf),
    .prepare = scale_prepare,
    .process = scale_process,
};
