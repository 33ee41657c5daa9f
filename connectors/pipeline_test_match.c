/* `weir test`: subset matching of expected records against written ones
 * (see pipeline_test_match.h). Not on the record path: plain jansson. */
#include "connectors/pipeline_test_match.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int weir_ptest_output_add(struct weir_ptest_output *o, const char *line, size_t len)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 16;
        struct weir_ptest_line *v = realloc(o->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    char *text = strndup(line, len);
    if (!text)
        return -ENOMEM;
    json_t *rec = json_loadb(line, len, 0, NULL);
    if (!json_is_object(rec)) {
        /* A text sink's line ("ALERT  line 3  k=v ...  {record}"): its record. */
        json_decref(rec);
        rec = NULL;
        const char *brace = NULL;
        for (const char *p = text; (p = strstr(p, "  {")); p++)
            brace = p + 2;
        if (brace)
            rec = json_loads(brace, 0, NULL);
        if (rec && !json_is_object(rec)) {
            json_decref(rec);
            rec = NULL;
        }
    }
    o->v[o->n++] = (struct weir_ptest_line){text, rec};
    return 0;
}

void weir_ptest_output_free(struct weir_ptest_output *o)
{
    for (size_t i = 0; i < o->n; i++) {
        free(o->v[i].text);
        json_decref(o->v[i].record);
    }
    free(o->v);
    *o = (struct weir_ptest_output){0};
}

void weir_ptest_diff(struct weir_ptest_diffs *d, const char *fmt, ...)
{
    if (d->n++ >= (d->limit ? d->limit : 20))
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    weir_buf_append(&d->text, "    ", 4);
    weir_buf_append(&d->text, line, len);
    weir_buf_append(&d->text, "\n", 1);
}

/* A value as short JSON text for a message. */
static void show_at(const json_t *v, char *out, size_t size, int precision)
{
    if (!v) {
        snprintf(out, size, "no such field");
        return;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(precision));
    snprintf(out, size, "%s", s ? s : "?");
    if (s && strlen(s) >= size && size > 4)
        memcpy(out + size - 4, "...", 4);
    free(s);
}

static int near(double want, double got, double tol)
{
    if (want == got)
        return 1;
    if (isnan(want) || isnan(got) || isinf(want) || isinf(got))
        return 0;
    double scale = fmax(fabs(want), fabs(got));
    return fabs(want - got) <= tol * scale;
}

static int is_substring_field(const struct weir_ptest_match_opts *o, const char *field)
{
    for (const char *const *s = o->substrings; s && *s && field; s++)
        if (strcmp(*s, field) == 0)
            return 1;
    return 0;
}

static void show(const json_t *v, char *out, size_t size)
{
    show_at(v, out, size, 15);
}

/* Both values, with every digit when 15 do not tell them apart. */
static void show_both(const json_t *want, const json_t *got, char *w, char *g, size_t size)
{
    show(want, w, size);
    show(got, g, size);
    if (strcmp(w, g) == 0) {
        show_at(want, w, size, 17);
        show_at(got, g, size, 17);
    }
}

/* Compares want with got at path (".a.b[2]"); field: the last key, for the
 * substring rule. Adds one difference per mismatching leaf. */
static void compare(const json_t *want, const json_t *got, const char *path, const char *field,
                    const struct weir_ptest_match_opts *o, const char *where,
                    struct weir_ptest_diffs *d)
{
    char w[200], g[200], sub[512];
    if (json_is_object(want)) {
        if (!json_is_object(got))
            goto differ;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)want, k, v) {
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", k);
            compare(v, json_object_get(got, k), sub, k, o, where, d);
        }
        return;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want))
            goto differ;
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            compare(json_array_get(want, i), json_array_get(got, i), sub, field, o, where, d);
        }
        return;
    }
    if (json_is_number(want)) {
        if (json_is_number(got) &&
            near(json_number_value(want), json_number_value(got), o->tolerance))
            return;
        goto differ;
    }
    if (json_is_string(want)) {
        if (json_is_string(got)) {
            if (is_substring_field(o, field)
                    ? strstr(json_string_value(got), json_string_value(want)) != NULL
                    : strcmp(json_string_value(got), json_string_value(want)) == 0)
                return;
            if (is_substring_field(o, field)) {
                show(want, w, sizeof w);
                show(got, g, sizeof g);
                weir_ptest_diff(d, "%s: field \"%s\": expected to contain %s, got %s", where, path,
                                w, g);
                return;
            }
        }
        goto differ;
    }
    if (got && json_typeof(got) == json_typeof(want)) /* true, false, null */
        return;
differ:
    show_both(want, got, w, g, sizeof w);
    weir_ptest_diff(d, "%s: field \"%s\": expected %s, got %s", where, path, w, g);
}

/* One expected record against one written line. */
static void compare_record(const json_t *want, const struct weir_ptest_line *got,
                           const struct weir_ptest_match_opts *o, const char *where,
                           struct weir_ptest_diffs *d)
{
    if (json_is_string(want)) {
        if (!strstr(got->text, json_string_value(want))) {
            char w[200];
            show(want, w, sizeof w);
            weir_ptest_diff(d, "%s: expected a line containing %s, got %.300s", where, w,
                            got->text);
        }
        return;
    }
    if (!got->record) {
        weir_ptest_diff(d, "%s: expected a JSON object, got %.300s", where, got->text);
        return;
    }
    compare(want, got->record, "", NULL, o, where, d);
}

/* Sorting by key: the key's value as JSON text, then the original index. */
struct keyed {
    char *key;
    size_t index;
};

static int keyed_cmp(const void *a, const void *b)
{
    const struct keyed *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static char *key_of(const json_t *rec, const char *key)
{
    const json_t *v = json_is_object(rec) ? json_object_get(rec, key) : NULL;
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    return s ? s : strdup("");
}

/* The order to compare in: identity, or stably sorted by key. NULL when out
 * of memory. */
static struct keyed *order(size_t n, const char *key, const json_t *(*rec)(const void *, size_t),
                           const void *ctx)
{
    struct keyed *k = calloc(n ? n : 1, sizeof *k);
    if (!k)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        k[i].index = i;
        k[i].key = key ? key_of(rec(ctx, i), key) : NULL;
    }
    if (key)
        qsort(k, n, sizeof *k, keyed_cmp);
    return k;
}

static void order_free(struct keyed *k, size_t n)
{
    for (size_t i = 0; k && i < n; i++)
        free(k[i].key);
    free(k);
}

static const json_t *got_rec(const void *ctx, size_t i)
{
    return ((const struct weir_ptest_output *)ctx)->v[i].record;
}

static const json_t *want_rec(const void *ctx, size_t i)
{
    return json_array_get((const json_t *)ctx, i);
}

static size_t match_array(const json_t *want, const struct weir_ptest_output *got,
                          const struct keyed *g, const struct weir_ptest_match_opts *o,
                          const char *where, struct weir_ptest_diffs *d)
{
    size_t before = d->n, n = json_array_size(want);
    if (n != got->n)
        weir_ptest_diff(d, "%s: expected %zu records, got %zu", where, n, got->n);
    struct keyed *w = order(n, o->key, want_rec, want);
    if (!w) {
        weir_ptest_diff(d, "%s: out of memory", where);
        return d->n - before;
    }
    char at[512];
    for (size_t i = 0; i < n && i < got->n; i++) {
        if (o->key)
            snprintf(at, sizeof at, "%s: record %zu (key %s=%s, expected[%zu])", where, g[i].index,
                     o->key, g[i].key, w[i].index);
        else
            snprintf(at, sizeof at, "%s: record %zu", where, i);
        compare_record(json_array_get(want, w[i].index), &got->v[g[i].index], o, at, d);
    }
    order_free(w, n);
    return d->n - before;
}

static size_t match_object(const json_t *want, const struct weir_ptest_output *got,
                           const struct keyed *g, const struct weir_ptest_match_opts *o,
                           const char *where, struct weir_ptest_diffs *d)
{
    size_t before = d->n;
    const json_t *count = json_object_get(want, "count");
    if (json_is_integer(count) && (size_t)json_integer_value(count) != got->n)
        weir_ptest_diff(d, "%s: expected %lld records, got %zu", where,
                        (long long)json_integer_value(count), got->n);
    const char *k;
    const json_t *rec;
    char at[512];
    json_object_foreach((json_t *)json_object_get(want, "records"), k, rec) {
        long long i = strtoll(k, NULL, 10);
        long long at_i = i < 0 ? (long long)got->n + i : i;
        if (at_i < 0 || at_i >= (long long)got->n) {
            weir_ptest_diff(d, "%s: record %s: expected one, got %zu records", where, k, got->n);
            continue;
        }
        size_t gi = g[at_i].index;
        snprintf(at, sizeof at, "%s: record %zu", where, gi);
        compare_record(rec, &got->v[gi], o, at, d);
    }
    return d->n - before;
}

size_t weir_ptest_match(const json_t *expect, const struct weir_ptest_output *got,
                        const struct weir_ptest_match_opts *o, const char *where,
                        struct weir_ptest_diffs *d)
{
    struct keyed *g = order(got->n, o->key, got_rec, got);
    if (!g) {
        weir_ptest_diff(d, "%s: out of memory", where);
        return 1;
    }
    size_t n = json_is_array(expect) ? match_array(expect, got, g, o, where, d)
                                     : match_object(expect, got, g, o, where, d);
    order_free(g, got->n);
    return n;
}
