/* Fraud ranking metrics (bench/fraud/): AUC ROC, average precision and card
 * precision@k against values computed independently (a plain Python
 * reference written from the definitions: AUC as the share of
 * (fraud, genuine) pairs ranked right, ties one half; AP as sklearn's
 * step-wise sum; CP@k as the handbook's card_precision_top_k, cards found
 * compromised left out of later days, ties to the smaller card), on a small
 * vector with many ties; plus edge cases: one class only, NaN scores,
 * a perfect and a reversed ranking, fewer cards than k. */
#include <math.h>

#include "bench/fraud/fraud_metrics.h"
#include "check.h"

static const double s[40] = {0.6, 0.7, 0.8, 0.9, 0.7, 0.9, 0.0, 0.5, 0.9, 0.6, 0.9, 0.1, 0.5, 0.2,
                             0.5, 0.6, 0.0, 0.2, 0.3, 0.9, 0.8, 0.2, 0.8, 0.1, 0.6, 0.1, 0.0, 0.9,
                             0.2, 0.2, 1.0, 0.9, 0.3, 1.0, 0.5, 0.7, 0.2, 0.9, 0.7, 1.0};
static const unsigned char y[40] = {0, 1, 0, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1,
                                    0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0};
static const int64_t card[40] = {6, 5, 1, 7, 2, 4, 6, 6, 3, 6, 5, 2, 5, 6, 5, 3, 2, 3, 5, 8,
                                 3, 1, 2, 7, 1, 4, 6, 5, 8, 7, 3, 1, 1, 8, 6, 4, 3, 3, 7, 2};
static const int32_t day[40] = {0, 1, 1, 0, 0, 1, 1, 0, 1, 2, 0, 2, 1, 1, 2, 2, 1, 1, 1, 1,
                                1, 1, 0, 0, 1, 2, 0, 2, 1, 1, 0, 0, 1, 1, 2, 2, 2, 1, 0, 1};

int main(void)
{
    CHECK_NEAR(fraud_auc(s, y, 40), 0.67806267806267806, 1e-12);
    CHECK_NEAR(fraud_ap(s, y, 40), 0.48139654463183879, 1e-12);
    CHECK_NEAR(fraud_card_precision(s, y, card, day, 40, 3), 0.44444444444444442, 1e-12);
    CHECK_NEAR(fraud_card_precision(s, y, card, day, 40, 5), 0.39999999999999997, 1e-12);
    /* 0.4667 when found cards stayed in later days' rankings; one card
     * first on both days counts once, its place the next card's on day 1 */
    const double twice[4] = {0.9, 0.5, 0.9, 0.5};
    const unsigned char twice_y[4] = {1, 0, 1, 0};
    const int64_t twice_card[4] = {7, 8, 7, 8};
    const int32_t twice_day[4] = {0, 0, 1, 1};
    CHECK_NEAR(fraud_card_precision(twice, twice_y, twice_card, twice_day, 4, 1), 0.5, 0);

    const double up[4] = {0.1, 0.2, 0.3, 0.4};
    const unsigned char good[4] = {0, 0, 1, 1}, bad[4] = {1, 1, 0, 0}, none[4] = {0};
    CHECK_NEAR(fraud_auc(up, good, 4), 1.0, 0);
    CHECK_NEAR(fraud_ap(up, good, 4), 1.0, 0);
    CHECK_NEAR(fraud_auc(up, bad, 4), 0.0, 0);
    CHECK_NEAR(fraud_ap(up, bad, 4), (1.0 / 3 + 2.0 / 4) / 2, 1e-12);
    CHECK(isnan(fraud_auc(up, none, 4)) && isnan(fraud_ap(up, none, 4)));
    const double flat[4] = {0.5, 0.5, 0.5, 0.5};
    CHECK_NEAR(fraud_auc(flat, good, 4), 0.5, 0);
    CHECK_NEAR(fraud_ap(flat, good, 4), 0.5, 0); /* one threshold: the base rate */
    /* NaN ranks lowest: here below every fraud */
    const double withnan[4] = {NAN, 0.2, 0.3, 0.4};
    CHECK_NEAR(fraud_auc(withnan, good, 4), 1.0, 0);
    /* fewer cards than k: still divided by k, as the handbook does */
    const int64_t cards[4] = {1, 1, 2, 3};
    const int32_t one_day[4] = {0, 0, 0, 0};
    CHECK_NEAR(fraud_card_precision(up, good, cards, one_day, 4, 100), 2.0 / 100, 1e-15);
    CHECK_NEAR(fraud_card_precision(up, good, cards, one_day, 4, 2), 1.0, 1e-15);
    double p[8], r[8];
    CHECK(fraud_pr_curve(up, good, 4, p, r, 8) == 4);
    CHECK(p[0] == 1.0 && r[0] == 0.5 && p[3] == 0.5 && r[3] == 1.0);
    return check_summary();
}
