/* Reading a feature CSV (fit/dataset.h). Plain stdio: training is not on the
 * record path. */
#include "fit/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/features.h"
#include "engine/jscan.h"

#define MAX_COLS 4096

/* Splits line (modified in place: fields are NUL-terminated, quotes
 * removed) into at most MAX_COLS fields. Returns their number, all of them. */
static size_t split_csv(char *line, char **field)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *w = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"' || *p == 0) {
                    p += *p == '"';
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            while (*p && *p != ',')
                p++;
        } else {
            while (*p && *p != ',')
                p++;
            w = p;
        }
        char sep = *p;
        *w = 0;
        if (n < MAX_COLS) /* counted past it: a longer line is refused, not cut */
            field[n] = start;
        n++;
        if (sep != ',')
            return n;
        p++;
    }
}

static void chomp(char *s, ssize_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r'))
        s[--*len] = 0;
}

/* Empty: missing (NaN). Otherwise a number, inf and nan included. */
static int parse_float(const char *s, float *v)
{
    if (!*s) {
        *v = NAN;
        return 0;
    }
    char *end;
    *v = strtof(s, &end);
    return *end ? -1 : 0;
}

static int find_col(char **name, size_t ncol, const char *want)
{
    for (size_t k = 0; k < ncol; k++)
        if (strcmp(name[k], want) == 0)
            return (int)k;
    return -1;
}

/* Column indexes of the features: the list, or every column but the label
 * and the time. */
static int pick_features(char **name, size_t ncol, const char *features, int label_col,
                         int time_col, int *pick, size_t *nf, const char *path,
                         struct weir_error *err)
{
    *nf = 0;
    if (!features) {
        for (size_t k = 0; k < ncol; k++)
            if ((int)k != label_col && (int)k != time_col)
                pick[(*nf)++] = (int)k;
        return 0;
    }
    char *list = strdup(features), *save = NULL;
    if (!list)
        return weir_error_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    for (char *t = strtok_r(list, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
        int c = find_col(name, ncol, t);
        if (c < 0 || c == label_col || c == time_col)
            rc =
                weir_error_set(err, -EINVAL, "%s: %s \"%s\"", path,
                               c < 0            ? "no column"
                               : c == label_col ? "the label cannot be a feature:"
                                                : "the event time cannot be a feature (no pipeline "
                                                  "computes it; it orders the split):",
                               t);
        else if (*nf < MAX_COLS)
            pick[(*nf)++] = c;
    }
    free(list);
    return rc;
}

/* Room for one more row; *rows is what the arrays hold. */
static int reserve_rows(struct fit_data *d, size_t *rows, int label, int time)
{
    if (d->n < *rows)
        return 0;
    size_t cap = *rows ? *rows * 2 : 4096;
    float *X = realloc(d->X, cap * (d->nf ? d->nf : 1) * sizeof *X);
    if (!X)
        return -ENOMEM;
    d->X = X;
    size_t *line = realloc(d->line, cap * sizeof *line);
    if (!line)
        return -ENOMEM;
    d->line = line;
    if (label) {
        float *y = realloc(d->y, cap * sizeof *y);
        if (!y)
            return -ENOMEM;
        d->y = y;
    }
    if (time) {
        int64_t *t = realloc(d->t, cap * sizeof *t);
        if (!t)
            return -ENOMEM;
        d->t = t;
    }
    *rows = cap;
    return 0;
}

/* A row left out for want of a label: its line, so --scores can say so in
 * its place. */
static int note_dropped(struct fit_data *d, size_t lineno)
{
    if ((d->dropped & (d->dropped - 1)) == 0) { /* 0, 1, 2, 4, ...: grow at powers of two */
        size_t *l = realloc(d->dropped_line, (d->dropped ? d->dropped * 2 : 1) * sizeof *l);
        if (!l)
            return -ENOMEM;
        d->dropped_line = l;
    }
    d->dropped_line[d->dropped++] = lineno;
    return 0;
}

static int read_rows(FILE *f, const char *path, struct fit_data *d, const int *pick, int label_col,
                     int time_col, size_t ncol, int unlabelled, struct weir_error *err)
{
    char *line = NULL, **field = malloc(MAX_COLS * sizeof *field);
    size_t cap = 0, lineno = 1;
    ssize_t len;
    size_t rows = 0;
    int rc = field ? 0 : weir_error_set(err, -ENOMEM, "out of memory");
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        chomp(line, &len);
        if (len == 0)
            continue;
        size_t nfield = split_csv(line, field);
        if (nfield != ncol) {
            rc = weir_error_set(err, -EINVAL, "%s:%zu: %zu fields, expected %zu as in the header",
                                path, lineno, nfield, ncol);
            break;
        }
        if (reserve_rows(d, &rows, label_col >= 0, time_col >= 0) < 0) {
            rc = weir_error_set(err, -ENOMEM, "out of memory reading %s", path);
            break;
        }
        float *x = d->X + d->n * d->nf;
        for (size_t k = 0; k < d->nf && rc == 0; k++)
            if (parse_float(field[pick[k]], &x[k]) < 0)
                rc = weir_error_set(err, -EINVAL, "%s:%zu: column \"%s\": expected a number, "
                                    "got \"%s\"", path, lineno, d->feature[k], field[pick[k]]);
        if (rc == 0 && label_col >= 0) {
            float y;
            if (parse_float(field[label_col], &y) < 0 || (!isnan(y) && !(y >= 0 && y <= 1)))
                rc = weir_error_set(err, -EINVAL, "%s:%zu: the label: expected a number from 0 to "
                                    "1 (empty: unknown), got \"%s\"", path, lineno,
                                    field[label_col]);
            else if (isnan(y) && !unlabelled) {
                if (note_dropped(d, lineno) < 0)
                    rc = weir_error_set(err, -ENOMEM, "out of memory reading %s", path);
                continue;
            } else if (isnan(y))
                d->dropped++;
            d->y[d->n] = y;
        }
        if (rc == 0 && time_col >= 0) {
            char *end;
            d->t[d->n] = *field[time_col] ? strtoll(field[time_col], &end, 10) : -1;
            if (*field[time_col] && *end) /* "2018-08-01 00:00:00" read as 2018 */
                rc = weir_error_set(err, -EINVAL,
                                    "%s:%zu: column \"%s\": expected event time "
                                    "in epoch milliseconds, got \"%s\"",
                                    path, lineno, WEIR_FEATURES_TIME_COLUMN, field[time_col]);
        }
        if (rc == 0)
            d->line[d->n++] = lineno;
    }
    free(line);
    free(field);
    return rc;
}

static int no_times(const struct fit_data *d)
{
    for (size_t r = 0; r < d->n; r++)
        if (d->t[r] >= 0)
            return 0;
    return 1;
}

int fit_data_read(const char *path, const char *features, const char *label, int unlabelled,
                  struct fit_data *d, struct weir_error *err)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f)
        return weir_error_set(err, -errno, "%s: %s", path, strerror(errno));
    char *head = NULL, **name = malloc(MAX_COLS * sizeof *name);
    int *pick = malloc(MAX_COLS * sizeof *pick);
    size_t cap = 0, ncol = 0;
    ssize_t len = getline(&head, &cap, f);
    int rc = !name || !pick ? weir_error_set(err, -ENOMEM, "out of memory")
             : len <= 0     ? weir_error_set(err, -EINVAL, "%s: empty: expected a header line", path)
                            : 0;
    int label_col = -1, time_col = -1;
    if (rc == 0) {
        chomp(head, &len);
        /* a byte-order mark (a spreadsheet's "CSV UTF-8") is not part of the
         * first column's name: event_time_ms would be read as a feature */
        int bom = len >= 3 && memcmp(head, "\xEF\xBB\xBF", 3) == 0;
        ncol = split_csv(head + (bom ? 3 : 0), name);
        if (ncol > MAX_COLS) {
            rc = weir_error_set(err, -EINVAL, "%s: %zu columns in the header, at most %d read",
                                path, ncol, MAX_COLS);
            ncol = 0;
        }
        for (size_t k = 1; k < ncol && rc == 0; k++) /* a label twice would be trained on */
            if (find_col(name, k, name[k]) >= 0)
                rc = weir_error_set(err, -EINVAL, "%s: column \"%s\" is in the header twice", path,
                                    name[k]);
        time_col = find_col(name, ncol, WEIR_FEATURES_TIME_COLUMN);
        if (rc == 0 && label && (label_col = find_col(name, ncol, label)) < 0)
            rc = weir_error_set(err, -EINVAL, "%s: no label column \"%s\"", path, label);
    }
    if (rc == 0)
        rc = pick_features(name, ncol, features, label_col, time_col, pick, &d->nf, path, err);
    if (rc == 0 && d->nf == 0)
        rc = weir_error_set(err, -EINVAL, "%s: no feature columns", path);
    for (size_t k = 0; rc == 0 && k < d->nf; k++) /* the model file names them in JSON */
        if (!weir_utf8_valid(name[pick[k]], strlen(name[pick[k]])))
            rc = weir_error_set(err, -EINVAL, "%s: column %d's name is not UTF-8 text", path,
                                pick[k] + 1);
    if (rc == 0 && !(d->feature = calloc(d->nf, sizeof *d->feature)))
        rc = weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < d->nf; k++)
        if (!(d->feature[k] = strdup(name[pick[k]])))
            rc = weir_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0)
        rc = read_rows(f, path, d, pick, label_col, time_col, ncol, unlabelled, err);
    if (rc == 0 && d->n == 0)
        rc = weir_error_set(err, -EINVAL, "%s: no rows%s", path,
                            d->dropped && !unlabelled ? " with a label" : "");
    if (rc == 0 && d->t && no_times(d)) { /* a pipeline without event time: file order */
        free(d->t);
        d->t = NULL;
    }
    fclose(f);
    free(head);
    free(name);
    free(pick);
    if (rc < 0)
        fit_data_free(d);
    return rc;
}

void fit_data_free(struct fit_data *d)
{
    for (size_t k = 0; d->feature && k < d->nf; k++)
        free(d->feature[k]);
    free(d->feature);
    free(d->X);
    free(d->y);
    free(d->t);
    free(d->line);
    free(d->dropped_line);
    memset(d, 0, sizeof *d);
}

static const int64_t *sort_times;

static int by_time(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t ti = sort_times[i], tj = sort_times[j];
    if (ti != tj)
        return ti < tj ? -1 : 1;
    return i < j ? -1 : i > j; /* stable: file order for ties */
}

size_t *fit_data_split(const struct fit_data *d, double valid, size_t *ntrain)
{
    size_t *idx = malloc(d->n * sizeof *idx);
    if (!idx)
        return NULL;
    for (size_t i = 0; i < d->n; i++)
        idx[i] = i;
    if (d->t) {
        sort_times = d->t;
        qsort(idx, d->n, sizeof *idx, by_time);
    }
    size_t nvalid = (size_t)((double)d->n * valid + 0.5);
    *ntrain = d->n - (nvalid < d->n ? nvalid : d->n);
    return idx;
}
