/* The weight a running mean gives a new value: the plain mean of the
 * first `window` values, then weighted exponentially over about as many.
 * A first value alone must not set a mean (or a scale) for long, and a
 * fixed weight from the start would. Shared by `deviation`'s and
 * `forecast`'s residual scales and `recurring`'s center. */
#ifndef WEIR_OPERATORS_WARM_MEAN_H
#define WEIR_OPERATORS_WARM_MEAN_H

#include <stdint.h>

/* How many values a new one is averaged with, itself included (its weight
 * is 1 over that); n: values learned before it. */
static inline double warm_mean_span(uint64_t n, int64_t window)
{
    return (double)(n < (uint64_t)window ? n + 1 : (uint64_t)window);
}

#endif
