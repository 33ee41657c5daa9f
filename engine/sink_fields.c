/* A sink's "fields" and "exclude" resolved against the pipeline's columns
 * when it loads (split from pipeline.c): which computed fields it appends,
 * in order, and the projection of the input's fields. */
#include "engine/sink_fields.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/option.h"
#include "engine/project.h"

/* Appended columns, as bitmaps over features and strings while resolving. */
struct picked {
    uint8_t feat[WEIR_SCHEMA_MAX], str[WEIR_SCHEMA_MAX], alert;
};

static int name_matches(const char *pattern, const char *name)
{
    return weir_glob_match(pattern, name, strlen(name));
}

/* An extract's copy of the input field it is named after ("V1": "/V1"):
 * the sink keeps the input's own bytes, not the parsed copy (a float's
 * shortest form, a string for a number, a default for a null). */
static int copy_of_input(const struct weir_schema *s, const struct weir_column *col)
{
    return !col->emit && weir_output_input_has(s, col->name);
}

/* Marks the computed fields pattern names; returns how many it matched. */
static int pick(struct picked *pk, const struct weir_schema *s, const char *pattern, uint8_t v)
{
    int n = 0;
    for (uint32_t c = 0; c < s->nfeat; c++)
        if ((s->feat[c].producer >= 0 || !weir_glob_is_pattern(pattern)) &&
            !copy_of_input(s, &s->feat[c]) && name_matches(pattern, s->feat[c].name)) {
            pk->feat[c] = v;
            n++;
        }
    for (uint32_t c = 0; c < s->nstr; c++)
        if ((s->str[c].producer >= 0 || !weir_glob_is_pattern(pattern)) &&
            !copy_of_input(s, &s->str[c]) && name_matches(pattern, s->str[c].name)) {
            pk->str[c] = v;
            n++;
        }
    if (name_matches(pattern, "alert")) {
        pk->alert = v;
        n++;
    }
    return n;
}

/* A name in "fields" that is no computed field is an input field: checked
 * against the input's fields when the source knows them at load (a CSV
 * header), otherwise refused only when it looks like a typo of a computed
 * one. */
static int input_has(const struct weir_schema *s, const char *name)
{
    for (uint32_t k = 0; k < s->ninput; k++)
        if (strcmp(s->input[k], name) == 0)
            return 1;
    return 0;
}

/* The schema's name nearest to name: its computed fields only, or every
 * field and the input's known ones; "alert" counts as computed. */
static const char *nearest(const struct weir_schema *s, const char *name, int computed_only)
{
    const char *names[WEIR_SCHEMA_MAX * 3 + 1];
    size_t n = 0;
    for (uint32_t c = 0; c < s->nfeat; c++)
        if (!computed_only || s->feat[c].producer >= 0)
            names[n++] = s->feat[c].name;
    for (uint32_t c = 0; c < s->nstr; c++)
        if (!computed_only || s->str[c].producer >= 0)
            names[n++] = s->str[c].name;
    if (computed_only)
        names[n++] = "alert";
    else
        for (uint32_t c = 0; c < s->ninput && c < WEIR_SCHEMA_MAX && !s->input_sampled; c++)
            names[n++] = s->input[c];
    return weir_did_you_mean(name, names, n);
}

static int check_input_field(const char *name, const struct weir_schema *s, struct weir_diag *d,
                             const char *path, const char *hint)
{
    if (input_has(s, name))
        return 0;
    const char *close = nearest(s, name, 0);
    /* Input fields unknown: "Amount" beside a computed "amount" is taken
     * for the input's own field, not a typo. */
    if ((!s->input_known || s->input_sampled) && (!close || strcasecmp(close, name) == 0))
        return 0;
    weir_diag_add(d, path,
                  close ? "unknown field \"%s\" (did you mean \"%s\"?)%s"
                        : "unknown field \"%s\"%s%s",
                  name, close ? close : "", hint);
    return 1;
}

/* A name in "exclude" that matches nothing may be an input field (unknown
 * at load: nothing to check it against), but not a near miss of a computed
 * one: "anomaly_scor" excluded nothing and the score went out. */
static int check_excluded_typo(const char *name, const struct weir_schema *s, struct weir_diag *d,
                               const char *path)
{
    if (input_has(s, name))
        return 0;
    const char *close = nearest(s, name, 1);
    if (!close || strcasecmp(close, name) == 0)
        return 0;
    weir_diag_add(d, path,
                  "\"%s\" excludes nothing: no computed field has that name (did you "
                  "mean \"%s\"?)",
                  name, close);
    return 1;
}

/* The appended fields' names, in order, for the projection's table. */
static int build_projection(struct weir_output *o, const struct weir_strlist *fields,
                            const struct weir_strlist *exclude)
{
    const char *names[2 * WEIR_SCHEMA_MAX + 1];
    size_t n = 0;
    for (uint32_t k = 0; k < o->ncols; k++)
        names[n++] = o->schema->feat[o->cols[k]].name;
    for (uint32_t k = 0; k < o->nstrs; k++)
        names[n++] = o->schema->str[o->strs[k]].name;
    if (o->alert)
        names[n++] = "alert";
    o->proj = calloc(1, sizeof *o->proj);
    if (!o->proj)
        return -ENOMEM;
    return weir_projection_build(o->proj, fields->v, fields->n, exclude->v, exclude->n, names, n);
}

int weir_sink_fields_resolve(struct weir_stage_sink *st, const struct weir_strlist *fields,
                             const struct weir_strlist *exclude, const struct weir_schema *s,
                             struct weir_diag *d, const char *sink_path,
                             const struct weir_prepare *p)
{
    char path[256], xpath[256];
    weir_path_key(path, sizeof path, sink_path, "fields");
    weir_path_key(xpath, sizeof xpath, sink_path, "exclude");
    struct weir_output *o = &st->output;
    struct picked pk = {0};
    uint32_t order[WEIR_SCHEMA_MAX * 2];
    uint32_t norder = 0;
    int bad = 0;
    char ip[256], hint[256];
    o->schema = s;
    if (fields->n > WEIR_SCHEMA_MAX) {
        weir_diag_add(d, path, "expected at most %d fields, got %zu", WEIR_SCHEMA_MAX, fields->n);
        return 1;
    }
    if (!fields->n) { /* default: what operators computed */
        for (uint32_t k = 0; k < s->nfeat; k++)
            if (s->feat[k].emit && s->feat[k].producer >= 0)
                pk.feat[k] = 1, order[norder++] = k;
        for (uint32_t k = 0; k < s->nstr; k++)
            if (s->str[k].emit && s->str[k].producer >= 0)
                pk.str[k] = 1, order[norder++] = WEIR_SCHEMA_MAX + k;
        pk.alert = 1;
    }
    for (size_t k = 0; k < fields->n; k++) {
        struct picked before = pk;
        /* (not one a failed operator might have written) */
        if (!pick(&pk, s, fields->v[k], 1) && !weir_glob_is_pattern(fields->v[k]) &&
            !weir_schema_upstream(p, fields->v[k], hint, sizeof hint))
            bad += check_input_field(fields->v[k], s, d,
                                     weir_strlist_path(ip, sizeof ip, path, fields, k), hint);
        for (uint32_t j = 0; j < s->nfeat; j++) /* in the order "fields" names them */
            if (pk.feat[j] && !before.feat[j])
                order[norder++] = j;
        for (uint32_t j = 0; j < s->nstr; j++)
            if (pk.str[j] && !before.str[j])
                order[norder++] = WEIR_SCHEMA_MAX + j;
    }
    for (size_t k = 0; k < exclude->n; k++)
        if (!pick(&pk, s, exclude->v[k], 0) && !weir_glob_is_pattern(exclude->v[k]) &&
            !weir_schema_upstream(p, exclude->v[k], hint, sizeof hint))
            bad += check_excluded_typo(exclude->v[k], s, d,
                                       weir_strlist_path(ip, sizeof ip, xpath, exclude, k));
    o->ncols = o->nstrs = 0;
    for (uint32_t k = 0; k < norder; k++) {
        if (order[k] < WEIR_SCHEMA_MAX && pk.feat[order[k]])
            o->cols[o->ncols++] = order[k];
        else if (order[k] >= WEIR_SCHEMA_MAX && pk.str[order[k] - WEIR_SCHEMA_MAX])
            o->strs[o->nstrs++] = order[k] - WEIR_SCHEMA_MAX;
    }
    o->alert = pk.alert;
    o->proj_shadow = !fields->n && !exclude->n && weir_output_shadows_input(o);
    if (!bad && (fields->n || exclude->n || o->proj_shadow) &&
        build_projection(o, fields, exclude) < 0) {
        weir_diag_add(d, path, "out of memory");
        bad++;
    }
    return bad;
}
