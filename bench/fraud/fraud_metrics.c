/* See fraud_metrics.h. Everything sorts an index by score, highest first,
 * and walks groups of equal scores. */
#include "fraud_metrics.h"

#include <math.h>
#include <stdlib.h>

struct ranked {
    double score;
    unsigned char label;
};

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const struct ranked *)a)->score, y = ((const struct ranked *)b)->score;
    return (x < y) - (x > y);
}

/* The rows sorted by score, highest first (NaN scores rank lowest). */
static struct ranked *rank_rows(const double *score, const unsigned char *label, size_t n)
{
    struct ranked *r = malloc((n ? n : 1) * sizeof *r);
    if (!r)
        return NULL;
    for (size_t i = 0; i < n; i++)
        r[i] = (struct ranked){isnan(score[i]) ? -INFINITY : score[i], label[i] != 0};
    qsort(r, n, sizeof *r, by_score_desc);
    return r;
}

double fraud_auc(const double *score, const unsigned char *label, size_t n)
{
    struct ranked *r = rank_rows(score, label, n);
    if (!r)
        return NAN;
    double tp = 0, fp = 0, area = 0;
    for (size_t i = 0; i < n;) {
        double gtp = 0, gfp = 0, s = r[i].score;
        for (; i < n && r[i].score == s; i++)
            r[i].label ? gtp++ : gfp++;
        area += gfp * (tp + 0.5 * gtp); /* negatives here: positives above, half the tied */
        tp += gtp;
        fp += gfp;
    }
    free(r);
    return tp > 0 && fp > 0 ? area / (tp * fp) : NAN;
}

size_t fraud_pr_curve(const double *score, const unsigned char *label, size_t n, double *precision,
                      double *recall, size_t cap)
{
    struct ranked *r = rank_rows(score, label, n);
    if (!r)
        return 0;
    double pos = 0;
    for (size_t i = 0; i < n; i++)
        pos += r[i].label;
    double tp = 0, seen = 0;
    size_t points = 0;
    for (size_t i = 0; i < n;) {
        double s = r[i].score;
        for (; i < n && r[i].score == s; i++) {
            tp += r[i].label;
            seen++;
        }
        if (points < cap) {
            precision[points] = tp / seen;
            recall[points] = pos > 0 ? tp / pos : NAN;
        }
        points++;
    }
    free(r);
    return points;
}

double fraud_ap(const double *score, const unsigned char *label, size_t n)
{
    size_t m = fraud_pr_curve(score, label, n, NULL, NULL, 0);
    double *p = malloc((m ? m : 1) * sizeof *p), *rc = malloc((m ? m : 1) * sizeof *rc);
    double ap = NAN;
    if (p && rc && fraud_pr_curve(score, label, n, p, rc, m) == m && m > 0 && !isnan(rc[0])) {
        ap = 0;
        double prev = 0;
        for (size_t k = 0; k < m; k++) {
            ap += (rc[k] - prev) * p[k];
            prev = rc[k];
        }
    }
    free(p);
    free(rc);
    return ap;
}

struct card_day {
    int32_t day;
    int64_t card;
    double score;
    unsigned char fraud;
};

static int by_day_card(const void *a, const void *b)
{
    const struct card_day *x = a, *y = b;
    if (x->day != y->day)
        return (x->day > y->day) - (x->day < y->day);
    return (x->card > y->card) - (x->card < y->card);
}

static int by_card(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int by_day_score(const void *a, const void *b)
{
    const struct card_day *x = a, *y = b;
    if (x->day != y->day)
        return (x->day > y->day) - (x->day < y->day);
    if (x->score != y->score)
        return (x->score < y->score) - (x->score > y->score);
    return (x->card > y->card) - (x->card < y->card);
}

double fraud_card_precision(const double *score, const unsigned char *label, const int64_t *card,
                            const int32_t *day, size_t n, size_t k)
{
    struct card_day *c = malloc((n ? n : 1) * sizeof *c);
    if (!c || k == 0) {
        free(c);
        return NAN;
    }
    for (size_t i = 0; i < n; i++)
        c[i] = (struct card_day){day[i], card[i], isnan(score[i]) ? -INFINITY : score[i],
                                 label[i] != 0};
    qsort(c, n, sizeof *c, by_day_card);
    size_t m = 0; /* one entry per (day, card): max score, any fraud */
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && c[m - 1].day == c[i].day && c[m - 1].card == c[i].card) {
            c[m - 1].score = c[i].score > c[m - 1].score ? c[i].score : c[m - 1].score;
            c[m - 1].fraud |= c[i].fraud;
        } else {
            c[m++] = c[i];
        }
    }
    qsort(c, m, sizeof *c, by_day_score);
    /* the cards found compromised so far, sorted after each day: a day's
     * ranking leaves them out, as the handbook's card_precision_top_k does
     * (remove_detected_compromised_cards, its default) */
    int64_t *found = malloc((m ? m : 1) * sizeof *found);
    if (!found) {
        free(c);
        return NAN;
    }
    double sum = 0;
    size_t days = 0, nfound = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i, taken = 0, hits = 0, before = nfound;
        for (; j < m && c[j].day == c[i].day; j++) {
            if (taken == k || bsearch(&c[j].card, found, before, sizeof *found, by_card))
                continue;
            taken++;
            hits += c[j].fraud;
            if (c[j].fraud)
                found[nfound++] = c[j].card;
        }
        qsort(found, nfound, sizeof *found, by_card);
        sum += (double)hits / (double)k;
        days++;
        i = j;
    }
    free(found);
    free(c);
    return days ? sum / (double)days : NAN;
}
