/* NAB scoring: see nab_score.h and ../shared/data/nab/SCORING.md (the
 * section numbers below are that file's). */
#include "nab_score.h"

#include <math.h>
#include <stdlib.h>

const struct nab_profile nab_profiles[NAB_PROFILES] = {
    [NAB_STANDARD] = {"standard", 1.0, 0.11, 1.0},
    [NAB_LOW_FP] = {"reward_low_FP_rate", 1.0, 0.22, 1.0},
    [NAB_LOW_FN] = {"reward_low_FN_rate", 1.0, 0.11, 2.0},
};

double nab_scaled_sigmoid(double y)
{
    if (y > 3.0)
        return -1.0;
    return 2.0 / (1.0 + exp(5.0 * y)) - 1.0; /* 2*sigma(-5y) - 1 */
}

size_t nab_probation(size_t n)
{
    size_t p = (size_t)floor(0.15 * (double)n);
    return p < 750 ? p : 750;
}

static int windows_ok(size_t n, const struct nab_window *w, size_t nw)
{
    for (size_t k = 0; k < nw; k++) {
        if (w[k].first > w[k].last || w[k].last >= n)
            return 0;
        if (k > 0 && w[k].first <= w[k - 1].last)
            return 0;
    }
    return 1;
}

/* §5: inside a window the weight falls from tp at its first row; outside,
 * -fp before the first window and a sigmoid recovering from the most
 * recently finished window after it. */
int nab_row_weights(size_t n, const struct nab_window *w, size_t nw,
                    const struct nab_profile *prof, double *A, int *win)
{
    if (!windows_ok(n, w, nw))
        return -1;
    const double max_tp = nab_scaled_sigmoid(-1.0);
    size_t k = 0;        /* next window not yet finished */
    int have_prev = 0;   /* a window has finished */
    size_t prev_last = 0, prev_width = 0;
    for (size_t i = 0; i < n; i++) {
        if (k < nw && i >= w[k].first && i <= w[k].last) {
            double width = (double)(w[k].last - w[k].first + 1);
            double y = -(double)(w[k].last - i + 1) / width;
            A[i] = prof->tp * nab_scaled_sigmoid(y) / max_tp;
            win[i] = (int)k;
            if (i == w[k].last) {
                have_prev = 1;
                prev_last = w[k].last;
                prev_width = w[k].last - w[k].first + 1;
                k++;
            }
            continue;
        }
        win[i] = -1;
        if (!have_prev) {
            A[i] = -prof->fp;
        } else {
            /* y = (i - Rp)/(Wp - 1); a one-row window divides by zero: y = inf */
            double y = prev_width > 1 ? (double)(i - prev_last) / (double)(prev_width - 1)
                                      : INFINITY;
            A[i] = prof->fp * nab_scaled_sigmoid(y);
        }
    }
    return 0;
}

/* §6 for one file. */
double nab_score_file(size_t n, const struct nab_window *w, size_t nw, size_t probation,
                      const double *score, double theta, const struct nab_profile *prof,
                      struct nab_counts *counts)
{
    double *A = malloc((n ? n : 1) * sizeof *A);
    int *win = malloc((n ? n : 1) * sizeof *win);
    double *best = malloc((nw ? nw : 1) * sizeof *best);
    unsigned char *hit = calloc(nw ? nw : 1, 1);
    struct nab_counts cnt = {0};
    double total = NAN;
    if (!A || !win || !best || !hit || nab_row_weights(n, w, nw, prof, A, win) < 0)
        goto out;
    total = 0.0;
    for (size_t i = probation; i < n; i++) {
        int det = score[i] >= theta; /* false for NaN */
        if (win[i] >= 0) {
            size_t k = (size_t)win[i];
            if (det) {
                cnt.tp++;
                if (!hit[k] || A[i] > best[k])
                    best[k] = A[i];
                hit[k] = 1;
            } else {
                cnt.fn++;
            }
        } else if (det) {
            cnt.fp++;
            total += A[i];
        } else {
            cnt.tn++;
        }
    }
    for (size_t k = 0; k < nw; k++) {
        /* a window inside the probation period cannot be scored (none are) */
        if (w[k].last < probation)
            continue;
        cnt.windows++;
        cnt.windows_hit += hit[k];
        total += hit[k] ? best[k] : -prof->fn;
    }
out:
    if (counts)
        *counts = cnt;
    free(A);
    free(win);
    free(best);
    free(hit);
    return total;
}

/* ---- §7: the corpus-wide threshold sweep ------------------------------- */

struct nab_point {
    double score, A;
    long window; /* corpus-wide window id, or -1 */
};

struct nab_sweep {
    struct nab_profile prof;
    struct nab_point *pt;
    size_t n, cap;
    size_t windows;
};

struct nab_sweep *nab_sweep_new(const struct nab_profile *prof)
{
    struct nab_sweep *s = calloc(1, sizeof *s);
    if (s)
        s->prof = *prof;
    return s;
}

void nab_sweep_free(struct nab_sweep *s)
{
    if (s)
        free(s->pt);
    free(s);
}

size_t nab_sweep_windows(const struct nab_sweep *s)
{
    return s->windows;
}

int nab_sweep_add(struct nab_sweep *s, size_t n, const struct nab_window *w, size_t nw,
                  size_t probation, const double *score)
{
    double *A = malloc((n ? n : 1) * sizeof *A);
    int *win = malloc((n ? n : 1) * sizeof *win);
    int rc = -1;
    if (!A || !win || nab_row_weights(n, w, nw, &s->prof, A, win) < 0)
        goto out;
    if (s->n + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->n + n)
            cap *= 2;
        struct nab_point *p = realloc(s->pt, cap * sizeof *p);
        if (!p)
            goto out;
        s->pt = p;
        s->cap = cap;
    }
    for (size_t i = probation; i < n; i++) {
        if (isnan(score[i]))
            continue; /* never a detection at any threshold */
        s->pt[s->n++] = (struct nab_point){
            score[i], A[i], win[i] >= 0 ? (long)(s->windows + (size_t)win[i]) : -1};
    }
    for (size_t k = 0; k < nw; k++)
        s->windows += w[k].last >= probation;
    rc = 0;
out:
    free(A);
    free(win);
    return rc;
}

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const struct nab_point *)a)->score, y = ((const struct nab_point *)b)->score;
    return (x < y) - (x > y);
}

void nab_sweep_best(struct nab_sweep *s, double *theta, double *raw)
{
    double *part = malloc((s->windows ? s->windows : 1) * sizeof *part);
    double fn = s->prof.fn;
    if (!part) {
        *theta = NAN;
        *raw = NAN;
        return;
    }
    for (size_t k = 0; k < s->windows; k++)
        part[k] = -fn;
    qsort(s->pt, s->n, sizeof *s->pt, by_score_desc);
    double parts = -fn * (double)s->windows, fp_sum = 0.0;
    /* flagging nothing: above every score (1.1 for scores in [0,1]), so that
     * the threshold applied again (held-out half, per series) flags nothing */
    double best_theta = s->n && s->pt[0].score >= 1.1 ? nextafter(s->pt[0].score, INFINITY) : 1.1;
    double best = parts;
    for (size_t i = 0; i < s->n;) {
        double group = s->pt[i].score;
        for (; i < s->n && s->pt[i].score == group; i++) {
            const struct nab_point *p = &s->pt[i];
            if (p->window < 0) {
                fp_sum += p->A;
            } else if (p->A > part[p->window]) {
                parts += p->A - part[p->window];
                part[p->window] = p->A;
            }
        }
        if (fp_sum + parts > best) { /* strict: the highest threshold wins ties */
            best = fp_sum + parts;
            best_theta = group;
        }
    }
    free(part);
    *theta = best_theta;
    *raw = best;
}

/* §8 */
double nab_normalise(double raw, size_t nw, const struct nab_profile *prof)
{
    double perfect = prof->tp * (double)nw, null = -prof->fn * (double)nw;
    if (perfect == null)
        return 0.0;
    return 100.0 * (raw - null) / (perfect - null);
}
