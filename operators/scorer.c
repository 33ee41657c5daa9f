/* Resolving the residual scorers' shared options: operators/scorer.h. */
#include "operators/scorer.h"

#include <stdio.h>

#include "engine/diag.h"

/* The range names, kept in the pipeline's JSON as "range_out" so the schema
 * may borrow them (as standardize's default "out"). NULL when out of memory. */
static const json_t *range_names(const struct weir_strlist *fields, const json_t *raw)
{
    const json_t *given = json_object_get(raw, "range_out");
    if (given)
        return given;
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < 2 * fields->n; k++) { /* any length: a cut made lo and hi one */
        json_t *name = json_sprintf("%s%s", fields->v[k / 2], k % 2 ? "_hi" : "_lo");
        if (json_array_append_new(arr, name) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr || json_object_set_new((json_t *)raw, "range_out", arr) < 0)
        return NULL;
    return arr;
}

/* Feature k's range columns from names; returns the problems. */
static int resolve_range(struct scorer_conf *s, const json_t *names, struct weir_prepare *p,
                         size_t k)
{
    char ip[256];
    const char *lo = json_string_value(json_array_get(names, 2 * k));
    const char *hi = json_string_value(json_array_get(names, 2 * k + 1));
    weir_path_key(ip, sizeof ip, p->path, "range_out");
    s->lo_col[k] = lo ? weir_schema_feature_out(p, lo, ip, 1) : -1;
    s->hi_col[k] = hi ? weir_schema_feature_out(p, hi, ip, 1) : -1;
    if (!lo || !hi)
        weir_diag_add(p->diag, ip, "expected strings, got another JSON value");
    return s->lo_col[k] < 0 || s->hi_col[k] < 0;
}

/* The shared rows alone, for their defaults. */
struct scorer_rows_conf {
    struct scorer_conf s;
};
static const struct weir_option scorer_rows[] = {SCORER_OPTION_ROWS(struct scorer_rows_conf, s),
                                                 {0}};

int scorer_prepare(struct scorer_conf *s, const json_t *raw, struct weir_prepare *p)
{
    char path[256], ip[256];
    int bad = 0;
    weir_path_key(path, sizeof path, p->path, "fields");
    if (s->fields.n > WEIR_SCHEMA_MAX / 3) {
        weir_diag_add(p->diag, path, "expected at most %d features, got %zu", WEIR_SCHEMA_MAX / 3,
                      s->fields.n);
        return 1;
    }
    const json_t *names = s->range ? range_names(&s->fields, raw) : NULL;
    if (s->range && !names) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    if (s->range && json_array_size(names) != 2 * s->fields.n) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "range_out"),
                      "expected %zu names (lo and hi per input), got %zu", 2 * s->fields.n,
                      json_array_size(names));
        return 1;
    }
    for (size_t k = 0; k < s->fields.n; k++) {
        const char *fp = weir_strlist_path(ip, sizeof ip, path, &s->fields, k);
        s->in_col[k] = weir_schema_feature_in(p, s->fields.v[k], fp);
        bad += s->in_col[k] < 0;
        s->lo_col[k] = s->hi_col[k] = -1;
        if (s->range && s->in_col[k] >= 0)
            bad += resolve_range(s, names, p, k);
    }
    weir_path_key(ip, sizeof ip, p->path, "out");
    s->out_col = weir_schema_feature_out(p, s->out, ip, 1);
    bad += s->out_col < 0;
    static const char *const range_opts[] = {"range_k", "range_out", NULL};
    static const char *const ratio_opts[] = {"z_half", NULL};
    bad += weir_options_only_with(raw, scorer_rows, range_opts, s->range, "\"range\": true",
                                  p->diag, p->path);
    bad += weir_options_only_with(raw, scorer_rows, ratio_opts, s->mapping == SCORER_RATIO,
                                  "\"mapping\": \"ratio\"", p->diag, p->path);
    return bad;
}
