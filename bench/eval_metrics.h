/* Ranking metrics for detection harnesses, defined as scikit-learn defines
 * them (ties are one threshold): AUC ROC by the trapezoid rule over the ROC
 * curve, average precision as sum over thresholds of (R_k - R_k-1) * P_k, and
 * the precision-recall curve drawn as SVG. Header-only: bench tools include it. */
#ifndef WEIR_EVAL_METRICS_H
#define WEIR_EVAL_METRICS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct eval_scored {
    double score;
    int label; /* 1: positive */
};

static int eval_cmp_desc(const void *a, const void *b)
{
    double x = ((const struct eval_scored *)a)->score, y = ((const struct eval_scored *)b)->score;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Sorts v by score, highest first. NaN scores rank last. */
static void eval_sort(struct eval_scored *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].score != v[i].score)
            v[i].score = -HUGE_VAL;
    qsort(v, n, sizeof *v, eval_cmp_desc);
}

/* v sorted by eval_sort. NaN when one class is absent. */
static double eval_auc_roc(const struct eval_scored *v, size_t n)
{
    double pos = 0, neg = 0, tp = 0, fp = 0, area = 0;
    for (size_t i = 0; i < n; i++)
        v[i].label ? pos++ : neg++;
    if (pos == 0 || neg == 0)
        return NAN;
    for (size_t i = 0; i < n;) {
        double dtp = 0, dfp = 0, s = v[i].score;
        for (; i < n && v[i].score == s; i++)
            v[i].label ? dtp++ : dfp++;
        area += dfp * (tp + dtp / 2);
        tp += dtp;
        fp += dfp;
    }
    return area / (pos * neg);
}

/* v sorted by eval_sort. NaN without positives. */
static double eval_average_precision(const struct eval_scored *v, size_t n)
{
    double pos = 0, tp = 0, seen = 0, ap = 0, last_recall = 0;
    for (size_t i = 0; i < n; i++)
        pos += v[i].label != 0;
    if (pos == 0)
        return NAN;
    for (size_t i = 0; i < n;) {
        double s = v[i].score;
        for (; i < n && v[i].score == s; i++) {
            tp += v[i].label != 0;
            seen++;
        }
        double recall = tp / pos;
        ap += (recall - last_recall) * (tp / seen);
        last_recall = recall;
    }
    return ap;
}

/* The precision-recall curve of sorted v as a small SVG plot. */
static void eval_pr_svg(FILE *f, const struct eval_scored *v, size_t n, const char *title)
{
    const double W = 480, H = 360, L = 50, B = 40, R = 20, T = 30;
    double pos = 0, tp = 0, seen = 0;
    for (size_t i = 0; i < n; i++)
        pos += v[i].label != 0;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%g\" y=\"18\">%s</text>\n", L, title);
    fprintf(f, "<rect x=\"%g\" y=\"%g\" width=\"%g\" height=\"%g\" fill=\"none\" stroke=\"#888\"/>\n", L, T,
            W - L - R, H - T - B);
    fprintf(f, "<text x=\"%g\" y=\"%g\">recall</text><text x=\"4\" y=\"%g\">precision</text>\n",
            (W - R + L) / 2 - 20, H - 8, T + 10);
    for (int k = 0; k <= 4; k++) {
        double x = L + (W - L - R) * k / 4, y = H - B - (H - T - B) * k / 4;
        fprintf(f, "<text x=\"%g\" y=\"%g\">%.2g</text><text x=\"%g\" y=\"%g\">%.2g</text>\n", x - 8,
                H - B + 15, k / 4.0, L - 30, y + 4, k / 4.0);
    }
    fprintf(f, "<polyline fill=\"none\" stroke=\"#c33\" stroke-width=\"1.5\" points=\"");
    for (size_t i = 0; i < n && pos > 0;) {
        double s = v[i].score;
        for (; i < n && v[i].score == s; i++) {
            tp += v[i].label != 0;
            seen++;
        }
        fprintf(f, "%.1f,%.1f ", L + (W - L - R) * tp / pos, H - B - (H - T - B) * tp / seen);
    }
    fprintf(f, "\"/>\n</svg>\n");
}

#endif
