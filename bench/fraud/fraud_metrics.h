/* Ranking metrics of the Fraud Detection Handbook's protocol
 * (../shared/data/fraud/fdh/README.md): AUC ROC, average precision (the
 * step-wise sum sklearn's average_precision_score computes) and card
 * precision@k. Plain C: no engine, no I/O. */
#ifndef WEIR_FRAUD_METRICS_H
#define WEIR_FRAUD_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* Area under the ROC curve; tied scores count one half. NaN without both
 * classes. */
double fraud_auc(const double *score, const unsigned char *label, size_t n);

/* Average precision: sum over distinct thresholds, highest first, of
 * (recall gained) * (precision there). NaN without a positive. */
double fraud_ap(const double *score, const unsigned char *label, size_t n);

/* Card precision@k: on each day, a card's score is the max over its
 * transactions and it is compromised if any of them is a fraud; the share
 * of compromised cards among the day's k highest, averaged over the days
 * (ties broken by the smaller card id). A card found compromised (among a
 * day's k, a fraud) is left out of the later days' rankings, as by the
 * handbook's card_precision_top_k (remove_detected_compromised_cards, its
 * default, with which its published CP@100 were computed): investigators
 * have blocked it. */
double fraud_card_precision(const double *score, const unsigned char *label, const int64_t *card,
                            const int32_t *day, size_t n, size_t k);

/* Precision/recall at each distinct threshold, highest first: fills up to
 * cap points, returns how many there are. */
size_t fraud_pr_curve(const double *score, const unsigned char *label, size_t n, double *precision,
                      double *recall, size_t cap);

#endif
