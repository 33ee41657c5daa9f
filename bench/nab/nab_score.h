/* NAB scoring (Numenta Anomaly Benchmark), weir's own implementation of
 * ../shared/data/nab/SCORING.md: per-row sigmoid weights around labelled
 * windows, probationary rows, the three cost profiles, the corpus-wide
 * threshold sweep and the normalisation between the null detector (0) and a
 * perfect one (100). Plain C and libm: no engine, no I/O. */
#ifndef WEIR_NAB_SCORE_H
#define WEIR_NAB_SCORE_H

#include <stddef.h>

struct nab_profile {
    const char *name;
    double tp, fp, fn; /* tpWeight, fpWeight, fnWeight; tnWeight is never used */
};

enum { NAB_STANDARD, NAB_LOW_FP, NAB_LOW_FN, NAB_PROFILES };
extern const struct nab_profile nab_profiles[NAB_PROFILES];

/* An inclusive window of row indices [first, last]. */
struct nab_window {
    size_t first, last;
};

/* scaledSigmoid(y) = -1 when y > 3, else 2*sigma(-5y) - 1. */
double nab_scaled_sigmoid(double y);

/* Probationary rows of a file of n rows: min(floor(0.15 n), 750). */
size_t nab_probation(size_t n);

/* Fills A[i] (the weight of a detection on row i) and win[i] (index of the
 * window holding row i, or -1) for a file of n rows. Windows must be sorted
 * and disjoint, each inside [0, n); returns -1 if they are not. */
int nab_row_weights(size_t n, const struct nab_window *w, size_t nw,
                    const struct nab_profile *prof, double *A, int *win);

struct nab_counts {
    size_t tp, fp, fn, tn; /* row counts, for information; fn = missed windows' rows */
    size_t windows, windows_hit;
};

/* Raw score of one file at threshold theta: row i (i >= probation) detects
 * when score[i] >= theta. A NaN score never detects. counts may be NULL. */
double nab_score_file(size_t n, const struct nab_window *w, size_t nw, size_t probation,
                      const double *score, double theta, const struct nab_profile *prof,
                      struct nab_counts *counts);

/* The corpus sweep: add every file's scorable rows, then find the threshold
 * with the highest raw score (SCORING.md §7). */
struct nab_sweep;
struct nab_sweep *nab_sweep_new(const struct nab_profile *prof);
void nab_sweep_free(struct nab_sweep *s);
/* Adds one file (rows i >= probation). Returns 0, or -1 on bad windows or
 * out of memory. */
int nab_sweep_add(struct nab_sweep *s, size_t n, const struct nab_window *w, size_t nw,
                  size_t probation, const double *score);
/* Best threshold (when flagging nothing is best: 1.1, or just above the
 * highest score if that is higher) and its raw score. */
void nab_sweep_best(struct nab_sweep *s, double *theta, double *raw);
size_t nab_sweep_windows(const struct nab_sweep *s);

/* 100 * (raw - null) / (perfect - null) for nw windows. */
double nab_normalise(double raw, size_t nw, const struct nab_profile *prof);

#endif
