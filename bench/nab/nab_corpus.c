/* Reading a NAB-layout directory; see nab_corpus.h. Row indices, not times,
 * identify rows: several series have duplicate or backward timestamps
 * (SCORING.md §1), so a window boundary maps to the FIRST row with its
 * timestamp, as NAB's list.index does. */
#include "nab_corpus.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static void chomp(char *line)
{
    size_t len = strlen(line);
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = 0;
}

int nab_series_read_csv(const char *path, struct nab_series *s, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "%s: cannot open", path);
    char *line = NULL;
    size_t cap = 0, n = 0, alloc = 0;
    int rc = -1;
    if (getline(&line, &cap, f) < 0) {
        fail(err, errlen, "%s: empty file (expected a header line)", path);
        goto out;
    }
    while (getline(&line, &cap, f) >= 0) {
        chomp(line);
        if (!*line)
            continue;
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 1024;
            void *ts = realloc(s->ts, alloc * sizeof *s->ts);
            if (ts)
                s->ts = ts;
            void *v = realloc(s->value, alloc * sizeof *s->value);
            if (v)
                s->value = v;
            if (!ts || !v) {
                fail(err, errlen, "%s: out of memory", path);
                goto out;
            }
        }
        char *comma = strchr(line, ',');
        if (!comma) {
            fail(err, errlen, "%s: row %zu: expected \"timestamp,value\", got \"%.40s\"", path,
                 n, line);
            goto out;
        }
        *comma = 0;
        snprintf(s->ts[n], sizeof s->ts[n], "%s", line);
        char *end;
        s->value[n] = strtod(comma + 1, &end);
        if (end == comma + 1)
            s->value[n] = NAN;
        n++;
    }
    s->n = n;
    s->probation = nab_probation(n);
    rc = 0;
out:
    free(line);
    fclose(f);
    return rc;
}

static long first_row_at(const struct nab_series *s, const char *ts)
{
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->ts[i], ts, 19) == 0)
            return (long)i;
    return -1;
}

static int map_windows(struct nab_series *s, const json_t *list, char *err, size_t errlen)
{
    size_t nw = json_array_size(list);
    s->w = calloc(nw ? nw : 1, sizeof *s->w);
    if (!s->w)
        return fail(err, errlen, "out of memory");
    for (size_t k = 0; k < nw; k++) {
        const json_t *pair = json_array_get(list, k);
        const char *a = json_string_value(json_array_get(pair, 0));
        const char *b = json_string_value(json_array_get(pair, 1));
        if (json_array_size(pair) != 2 || !a || !b)
            return fail(err, errlen, "%s: window %zu: expected [start, end] timestamps", s->name,
                        k);
        long first = first_row_at(s, a), last = first_row_at(s, b);
        if (first < 0 || last < 0)
            return fail(err, errlen, "%s: window %zu: expected a row at %.19s, got none", s->name,
                        k, first < 0 ? a : b);
        if (last < first || (k > 0 && (size_t)first <= s->w[k - 1].last))
            return fail(err, errlen, "%s: window %zu: expected windows in order, not overlapping",
                        s->name, k);
        if ((size_t)last < s->probation) /* NAB's labels hold none: its scorer drops one */
            return fail(err, errlen,
                        "%s: window %zu: expected a window that ends after the probation period "
                        "(the first %zu rows, not scored), got one ending at row %ld",
                        s->name, k, s->probation, last);
        s->w[k] = (struct nab_window){(size_t)first, (size_t)last};
    }
    s->nw = nw;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct nab_series *)a)->name, ((const struct nab_series *)b)->name);
}

int nab_corpus_load(const char *dir, struct nab_corpus *c, char *err, size_t errlen)
{
    char path[4096];
    json_error_t jerr;
    memset(c, 0, sizeof *c);
    snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
    json_t *labels = json_load_file(path, 0, &jerr);
    if (!labels || !json_is_object(labels)) {
        json_decref(labels);
        return fail(err, errlen, "%s: expected a JSON object of windows, got %s", path,
                    labels ? "another JSON value" : jerr.text);
    }
    c->s = calloc(json_object_size(labels) + 1, sizeof *c->s);
    int rc = c->s ? 0 : fail(err, errlen, "out of memory");
    const char *key;
    json_t *list;
    json_object_foreach(labels, key, list)
    {
        if (rc < 0)
            break;
        struct nab_series *s = &c->s[c->n++];
        s->name = strdup(key);
        snprintf(path, sizeof path, "%s/data/%s", dir, key);
        if (!s->name || !json_is_array(list))
            rc = fail(err, errlen, "%s: expected a list of windows", key);
        else if (nab_series_read_csv(path, s, err, errlen) < 0 ||
                 map_windows(s, list, err, errlen) < 0)
            rc = -1;
        else
            c->windows += s->nw;
    }
    json_decref(labels);
    if (rc < 0) {
        nab_corpus_free(c);
        return -1;
    }
    qsort(c->s, c->n, sizeof *c->s, by_name);
    return 0;
}

void nab_corpus_free(struct nab_corpus *c)
{
    for (size_t i = 0; c->s && i < c->n; i++) {
        free(c->s[i].name);
        free(c->s[i].ts);
        free(c->s[i].value);
        free(c->s[i].w);
    }
    free(c->s);
    memset(c, 0, sizeof *c);
}

/* Output lines are matched to input rows in order. When a line carries the
 * input's "timestamp", rows it skips (records the pipeline dropped) score
 * NaN; without one, the line count must equal the row count. */
/* A threshold's closing event ("close_event") is an alert record, not a
 * detection. Its text is known, its field is not ("explain_out" names it),
 * so any string member that begins with it marks one. */
static int closing_event(json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        const char *text = json_string_value(v);
        if (text && strncmp(text, "incident closed: ", 17) == 0)
            return 1;
    }
    return 0;
}

int nab_read_output(const char *path, const struct nab_series *s, double *score,
                    unsigned char *alert, char *err, size_t errlen)
{
    size_t n = s->n;
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "%s: cannot open", path);
    for (size_t i = 0; i < n; i++) {
        score[i] = NAN;
        alert[i] = 0;
    }
    char *line = NULL;
    size_t cap = 0, row = 0, lines = 0;
    int rc = 0, timed = 0; /* a line with a timestamp: rows may be skipped */
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        if (!json_is_object(o)) {
            rc = fail(err, errlen, "%s: line %zu: expected a JSON object", path, lines + 1);
        } else {
            const char *ts = json_string_value(json_object_get(o, "timestamp"));
            timed |= ts != NULL;
            while (ts && row < n && strncmp(s->ts[row], ts, 19) != 0)
                row++; /* a row the pipeline dropped */
            if (row >= n) {
                rc = fail(err, errlen, "%s: line %zu: expected a row of the series, got %s", path,
                          lines + 1, ts ? ts : "one line too many");
            } else {
                const json_t *sc = json_object_get(o, "anomaly_score");
                score[row] = json_is_number(sc) ? json_number_value(sc) : NAN;
                alert[row] = json_is_true(json_object_get(o, "alert")) && !closing_event(o);
                row++;
            }
        }
        json_decref(o);
        lines++;
    }
    free(line);
    fclose(f);
    if (rc == 0 && (lines == 0 || (!timed && lines != n)) && n > 0)
        rc = fail(err, errlen, "%s: expected %zu lines (one per row), got %zu", path, n, lines);
    return rc;
}
