/* Sink projections (see project.h). */
#include "engine/project.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t skip_ws(const char *t, uint32_t len, uint32_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
        i++;
    return i;
}

/* i at an opening quote; returns the index after the closing one. */
static uint32_t skip_string(const char *t, uint32_t len, uint32_t i, int *escaped)
{
    for (i++; i < len && t[i] != '"'; i++)
        if (t[i] == '\\') {
            *escaped = 1;
            i++;
        }
    return i < len ? i + 1 : len;
}

static uint32_t skip_value(const char *t, uint32_t len, uint32_t i)
{
    int esc = 0;
    if (i >= len)
        return len;
    if (t[i] == '"')
        return skip_string(t, len, i, &esc);
    if (t[i] == '{' || t[i] == '[') {
        int depth = 0;
        while (i < len) {
            char c = t[i];
            if (c == '"') {
                i = skip_string(t, len, i, &esc);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len;
    }
    while (i < len && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\t' &&
           t[i] != '\r' && t[i] != '\n')
        i++;
    return i;
}

int weir_jobject_next(const char *t, uint32_t len, uint32_t *pos, struct weir_jmember *m)
{
    uint32_t i = *pos;
    if (i == 0) {
        i = skip_ws(t, len, 0);
        if (i >= len || t[i] != '{')
            return 0;
        i++;
    }
    i = skip_ws(t, len, i);
    if (i < len && t[i] == ',')
        i = skip_ws(t, len, i + 1);
    if (i >= len || t[i] != '"')
        return 0;
    m->key_escaped = 0;
    m->key_off = i + 1;
    uint32_t end = skip_string(t, len, i, &m->key_escaped);
    m->key_len = end - 1 - m->key_off;
    i = skip_ws(t, len, end);
    if (i < len && t[i] == ':')
        i++;
    i = skip_ws(t, len, i);
    m->val_off = i;
    i = skip_value(t, len, i);
    m->val_len = i - m->val_off;
    *pos = i;
    return 1;
}

int weir_glob_is_pattern(const char *p)
{
    return strchr(p, '*') || strchr(p, '?');
}

/* Iterative matching with one backtrack point: linear for the patterns
 * people write ("V*", "*_id", "TX_?RAUD*"). */
int weir_glob_match(const char *p, const char *s, size_t n)
{
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;
    while (i < n) {
        if (*p == '?' || (*p && *p != '*' && *p == s[i])) {
            p++;
            i++;
        } else if (*p == '*') {
            star = ++p;
            star_i = i;
        } else if (star) {
            p = star;
            i = ++star_i;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

static uint32_t hash(const char *s, uint32_t len)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static struct weir_proj_entry *slot(const struct weir_projection *pj, const char *s, uint32_t len)
{
    uint32_t k = hash(s, len) & pj->mask;
    while (pj->tab[k].name &&
           !(pj->tab[k].len == len && memcmp(pj->tab[k].name, s, len) == 0))
        k = (k + 1) & pj->mask;
    return &pj->tab[k];
}

/* Adds name with action unless it is there already (the first word wins). */
static void add(struct weir_projection *pj, const char *name, int32_t action)
{
    uint32_t len = (uint32_t)strlen(name);
    struct weir_proj_entry *e = slot(pj, name, len);
    if (e->name)
        return;
    e->name = name;
    e->len = len;
    e->action = action;
}

static int globs(const char *const *v, size_t n, const char ***out, size_t *nout)
{
    *nout = 0;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++)
        if (weir_glob_is_pattern(v[k]))
            (*out)[(*nout)++] = v[k];
    return 0;
}

int weir_projection_build(struct weir_projection *pj, const char *const *keep, size_t nkeep,
                          const char *const *drop, size_t ndrop, const char *const *appended,
                          size_t nappended)
{
    memset(pj, 0, sizeof *pj);
    size_t n = nkeep + ndrop + nappended, size = 16;
    while (size < 2 * n)
        size *= 2;
    pj->tab = calloc(size, sizeof *pj->tab);
    pj->mask = (uint32_t)size - 1;
    if (!pj->tab || globs(keep, nkeep, &pj->keep_globs, &pj->nkeep_globs) < 0 ||
        globs(drop, ndrop, &pj->drop_globs, &pj->ndrop_globs) < 0) {
        weir_projection_free(pj);
        return -ENOMEM;
    }
    pj->has_keep = nkeep > 0;
    /* An appended field replaces its namesake first; then exclude beats
     * fields, so "fields": ["V*"], "exclude": ["V1"] drops V1. */
    for (size_t k = 0; k < nappended; k++)
        add(pj, appended[k], (int32_t)k);
    for (size_t k = 0; k < ndrop; k++)
        if (!weir_glob_is_pattern(drop[k]))
            add(pj, drop[k], WEIR_PROJ_DROP);
    for (size_t k = 0; k < nkeep; k++)
        if (!weir_glob_is_pattern(keep[k]))
            add(pj, keep[k], WEIR_PROJ_KEEP);
    return 0;
}

void weir_projection_free(struct weir_projection *pj)
{
    free(pj->tab);
    free(pj->keep_globs);
    free(pj->drop_globs);
    memset(pj, 0, sizeof *pj);
}

static int any_glob(const char *const *g, size_t n, const char *key, uint32_t len)
{
    for (size_t k = 0; k < n; k++)
        if (weir_glob_match(g[k], key, len))
            return 1;
    return 0;
}

int32_t weir_projection_decide(const struct weir_projection *pj, const char *key, uint32_t len)
{
    const struct weir_proj_entry *e = slot(pj, key, len);
    if (e->name && e->action != WEIR_PROJ_KEEP)
        return e->action;
    if (any_glob(pj->drop_globs, pj->ndrop_globs, key, len))
        return WEIR_PROJ_DROP;
    if (e->name || !pj->has_keep || any_glob(pj->keep_globs, pj->nkeep_globs, key, len))
        return WEIR_PROJ_KEEP;
    return WEIR_PROJ_DROP;
}
