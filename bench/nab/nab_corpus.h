/* Reading a NAB-layout data directory: labels/combined_windows.json, the
 * series under data/<category>/<file>.csv, and a detector's per-row output
 * (weir's JSONL: one line per input row with "anomaly_score" and "alert"). */
#ifndef WEIR_NAB_CORPUS_H
#define WEIR_NAB_CORPUS_H

#include <stddef.h>

#include "nab_score.h"

struct nab_series {
    char *name;              /* "<category>/<file>.csv", as in the labels */
    size_t n;                /* data rows */
    char (*ts)[20];          /* each row's timestamp, first 19 characters */
    double *value;           /* NaN where the value does not parse */
    struct nab_window *w;    /* labelled windows as row ranges, sorted */
    size_t nw;
    size_t probation;
};

struct nab_corpus {
    struct nab_series *s;
    size_t n;
    size_t windows; /* all windows */
};

/* Loads every labelled series of DIR (a NAB layout). Fails, with a message
 * in err, when a label names a series that is missing, a window boundary
 * matches no row of its series, or windows overlap: a label file that does
 * not match the data cannot be scored. */
int nab_corpus_load(const char *dir, struct nab_corpus *c, char *err, size_t errlen);
void nab_corpus_free(struct nab_corpus *c);

/* Reads a series file (header line, then "timestamp,value"; CRLF or LF). */
int nab_series_read_csv(const char *path, struct nab_series *s, char *err, size_t errlen);

/* Reads a detector's JSONL output for series s: score[i] is row i's
 * "anomaly_score" (NaN when absent or null), alert[i] its "alert" (not
 * counting a threshold's "incident closed" events). Lines
 * match rows in order by their "timestamp" (rows the pipeline dropped stay
 * NaN); lines without one take the next row. Fails on more lines than rows,
 * a timestamp out of the series' order, or an empty output. */
int nab_read_output(const char *path, const struct nab_series *s, double *score,
                    unsigned char *alert, char *err, size_t errlen);

#endif
