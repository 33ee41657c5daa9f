/* Column resolution for features and string fields (see schema.h). */
#include "engine/schema.h"

#include <stdio.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/option.h"
#include "engine/project.h"

static int find(const struct weir_column *cols, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return (int)i;
    return -1;
}

int weir_schema_find_feature(const struct weir_schema *s, const char *name)
{
    return find(s->feat, s->nfeat, name);
}

static int column_out(struct weir_prepare *p, struct weir_column *cols, uint32_t *n,
                      const char *name, const char *path, int emit, const char *what)
{
    /* a feature and a string field of one name, one of them written into
     * the output, would be one member of it, the later one silently taking
     * the earlier one's place (columns that only read the record's own
     * field, as extract's and mask's, do not collide) */
    int feat = cols == p->schema->feat;
    const struct weir_column *other = feat ? p->schema->str : p->schema->feat;
    int o = find(other, feat ? p->schema->nstr : p->schema->nfeat, name);
    if (o >= 0 && other[o].producer >= 0 && other[o].producer != p->op_index &&
        (emit || other[o].emit)) {
        weir_diag_add(p->diag, path, "expected a name that is not taken: \"%s\" is a %s "
                      "written by operators[%d]", name, feat ? "string field" : "feature",
                      other[o].producer);
        return -1;
    }
    int idx = find(cols, *n, name);
    if (idx >= 0 && cols[idx].producer >= 0 && cols[idx].producer != p->op_index) {
        weir_diag_add(p->diag, path, "%s \"%s\" is already written by operators[%d]", what, name,
                      cols[idx].producer);
        return -1;
    }
    if (idx < 0) {
        if (p->schema->declared && cols == p->schema->feat) {
            weir_diag_add(p->diag, path,
                          "feature \"%s\" is not in the pipeline's \"features\" list", name);
            return -1;
        }
        if (*n >= WEIR_SCHEMA_MAX) {
            weir_diag_add(p->diag, path, "too many %ss (at most %d)", what, WEIR_SCHEMA_MAX);
            return -1;
        }
        idx = (int)(*n)++;
        cols[idx].name = name;
    }
    cols[idx].producer = p->op_index;
    cols[idx].emit = emit;
    if (feat) /* everything, until weir_schema_op_prepared knows better */
        p->schema->feat_deps[idx] = ~0ull;
    return idx;
}

/* Whether a string from an operator's JSON may be the name: itself, or a
 * pattern ("V*"; a window's "{size}" stands for anything) that matches it. */
static int may_name(const char *s, const char *name)
{
    if (strcmp(s, name) == 0)
        return 1;
    if (!strchr(s, '{') && !weir_glob_is_pattern(s))
        return 0;
    char pat[256];
    size_t o = 0;
    for (const char *c = s; *c && o + 1 < sizeof pat; c++) {
        const char *end = *c == '{' ? strchr(c, '}') : NULL;
        pat[o++] = end ? '*' : *c;
        c = end ? end : c;
    }
    pat[o] = '\0';
    return weir_glob_match(pat, name, strlen(name));
}

/* Whether a string or key anywhere in v may be the name. */
static int json_names(const json_t *v, const char *name)
{
    const char *key;
    const json_t *x;
    size_t i;
    if (json_is_string(v))
        return may_name(json_string_value(v), name);
    json_object_foreach((json_t *)v, key, x)
    {
        if (may_name(key, name) || json_names(x, name))
            return 1;
    }
    json_array_foreach(v, i, x)
    {
        if (json_names(x, name))
            return 1;
    }
    return 0;
}

/* Whether a string option's default is the name ("out": "anomaly_score"). */
static int default_names(const struct weir_option *o, const char *name)
{
    size_t n = strlen(name);
    for (; o->name; o++)
        if (o->def && o->def[0] == '"' && strncmp(o->def + 1, name, n) == 0 &&
            strcmp(o->def + 1 + n, "\"") == 0)
            return 1;
    return 0;
}

int weir_schema_upstream(const struct weir_prepare *p, const char *name, char *hint, size_t size)
{
    hint[0] = '\0';
    if (!p->upstream_bad)
        return 0;
    if (p->nfailed == 0 || p->nfailed > WEIR_FAILED_MAX)
        return 1; /* no operators, or too many failed to tell */
    for (int k = 0; k < p->nfailed; k++) {
        const struct weir_failed_op *f = &p->failed[k];
        if (json_names(f->raw, name) || (f->opts && default_names(f->opts, name)))
            return 1;
        for (const struct weir_operator_type *const *t = weir_operator_types(); !f->opts && *t; t++)
            if ((*t)->options && default_names((*t)->options, name))
                return 1; /* its type is unknown: any type's default */
    }
    /* Its writer may still be one of them, by a name made up of others (a
     * "<field>_z"): a hint, since an unknown name here is most often a typo. */
    size_t o = (size_t)snprintf(hint, size, "; ");
    for (int k = 0; k < p->nfailed && o < size; k++) {
        const char *sep = k + 1 < p->nfailed ? ", " : " and ";
        o += (size_t)snprintf(hint + o, size - o, "%soperators[%d]", k ? sep : "",
                              p->failed[k].index);
    }
    if (o < size)
        snprintf(hint + o, size - o, " failed to load: if %s writes \"%s\", fix it first",
                 p->nfailed > 1 ? "one" : "it", name);
    return 0;
}

static int column_in(struct weir_prepare *p, const struct weir_column *cols, uint32_t n,
                     const char *name, const char *path, const char *what)
{
    int idx = find(cols, n, name);
    if (idx >= 0 && cols[idx].producer >= 0) {
        if (cols == p->schema->feat)
            p->schema->reads |= p->schema->feat_deps[idx];
        return idx;
    }
    char hint[256];
    if (weir_schema_upstream(p, name, hint, sizeof hint))
        return -1; /* the operator that would write it failed and was reported */
    const char *names[WEIR_SCHEMA_MAX] = {0};
    size_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (cols[i].producer >= 0)
            names[k++] = cols[i].name;
    const char *close = weir_did_you_mean(name, names, k);
    if (idx >= 0)
        weir_diag_add(p->diag, path, "%s \"%s\" is not written by any earlier operator%s", what,
                      name, hint);
    else if (close)
        weir_diag_add(p->diag, path, "unknown %s \"%s\" (did you mean \"%s\"?)%s", what, name,
                      close, hint);
    else if (k == 0)
        weir_diag_add(p->diag, path, "unknown %s \"%s\"; no earlier operator writes any%s", what,
                      name, hint);
    else {
        char list[512];
        size_t o = 0;
        for (size_t i = 0; i < k && o + 4 < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", i ? ", " : "", names[i]);
        weir_diag_add(p->diag, path, "unknown %s \"%s\"; earlier operators write %s%s", what, name,
                      list, hint);
    }
    return -1;
}

uint64_t weir_schema_feature_deps(const struct weir_schema *s, int col)
{
    return col >= 0 && (uint32_t)col < s->nfeat ? s->feat_deps[col] : ~0ull;
}

void weir_schema_op_prepared(struct weir_schema *s, int op_index, int reads_declared)
{
    uint64_t deps = reads_declared ? s->reads : ~0ull;
    for (uint32_t c = 0; c < s->nfeat; c++) {
        if (s->feat[c].producer == op_index && !s->deps_own[c])
            s->feat_deps[c] = weir_col_bit((int)c) | deps;
        s->deps_own[c] = 0;
    }
    s->reads = 0;
}

void weir_schema_feature_from(struct weir_prepare *p, int out, int in)
{
    struct weir_schema *s = p->schema;
    if (out < 0 || in < 0 || (uint32_t)out >= s->nfeat || (uint32_t)in >= s->nfeat)
        return;
    s->feat_deps[out] = weir_col_bit(out) | s->feat_deps[in];
    s->deps_own[out] = 1;
}

int weir_schema_feature_out(struct weir_prepare *p, const char *name, const char *path, int emit)
{
    return column_out(p, p->schema->feat, &p->schema->nfeat, name, path, emit, "feature");
}

int weir_schema_feature_in(struct weir_prepare *p, const char *name, const char *path)
{
    return column_in(p, p->schema->feat, p->schema->nfeat, name, path, "feature");
}

int weir_schema_features_in(struct weir_prepare *p, const char *key,
                            const struct weir_strlist *names, size_t max, int *cols)
{
    char path[256], ip[256];
    weir_path_key(path, sizeof path, p->path, key);
    if (names->n > max) {
        weir_diag_add(p->diag, path, "expected at most %zu features, got %zu", max, names->n);
        return 1;
    }
    int bad = 0;
    for (size_t k = 0; k < names->n; k++) {
        cols[k] = weir_schema_feature_in(p, names->v[k],
                                         weir_strlist_path(ip, sizeof ip, path, names, k));
        bad += cols[k] < 0;
    }
    return bad;
}

int weir_schema_string_out(struct weir_prepare *p, const char *name, const char *path)
{
    return column_out(p, p->schema->str, &p->schema->nstr, name, path, 0, "string field");
}

int weir_schema_string_in(struct weir_prepare *p, const char *name, const char *path)
{
    return column_in(p, p->schema->str, p->schema->nstr, name, path, "string field");
}

int weir_schema_event_time(struct weir_prepare *p, const char *key, const char *without)
{
    char at[256];
    if (p->schema->event_time)
        return 0;
    weir_diag_add(p->diag, key ? weir_path_key(at, sizeof at, p->path, key) : p->path,
                  "expected records with an event time (an extract field of \"type\": "
                  "\"timestamp\"; a file source has no other), got none: without it %s", without);
    return 1;
}
