/* Sorted windows, and the median and MAD of values already sorted, for
 * operators that keep a sorted copy of their last values (deviation's
 * window, calibrate's ranks) or sort once (cad_ose's margin_mad). The MAD
 * is linear: the deviations left of the median and right of it are each
 * sorted, so merging them up to the middle finds the median deviation
 * without sorting the deviations again. Shared by operators, not part of
 * the engine. */
#ifndef WEIR_OPERATORS_ROBUST_H
#define WEIR_OPERATORS_ROBUST_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* First index of sorted[0..n) whose value is >= x. */
static inline uint32_t weir_sorted_lower_bound(const float *sorted, uint32_t n, float x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Puts x into sorted[0..n), which has room for one more. */
static inline void weir_sorted_insert(float *sorted, uint32_t n, float x)
{
    uint32_t at = weir_sorted_lower_bound(sorted, n, x);
    memmove(sorted + at + 1, sorted + at, (n - at) * sizeof *sorted);
    sorted[at] = x;
}

/* Takes `old`, which sorted[0..n) holds, out and puts x in, moving only
 * the values between the two places. Any value equal to `old` may leave:
 * they are alike. */
static inline void weir_sorted_replace(float *sorted, uint32_t n, float old, float x)
{
    uint32_t at = weir_sorted_lower_bound(sorted, n, x);
    uint32_t gone = weir_sorted_lower_bound(sorted, n, old);
    if (gone < at) {
        memmove(sorted + gone, sorted + gone + 1, (at - 1 - gone) * sizeof *sorted);
        sorted[at - 1] = x;
    } else {
        memmove(sorted + at + 1, sorted + at, (gone - at) * sizeof *sorted);
        sorted[at] = x;
    }
}

static inline double weir_sorted_median(const float *s, uint32_t n)
{
    return n % 2 ? s[n / 2] : 0.5 * ((double)s[n / 2 - 1] + (double)s[n / 2]);
}

/* The median of |s[i] - m| over the sorted s[0..n), n > 0. The values
 * right of m are found in double: a median between two adjacent floats
 * (16777216 and 16777218 have 16777217) rounded to float would land on one
 * of them, and its copies would count as negative deviations. */
static inline double weir_sorted_mad(const float *s, uint32_t n, double m)
{
    uint32_t right = 0;
    for (uint32_t hi = n; right < hi;) {
        uint32_t mid = right + (hi - right) / 2;
        if ((double)s[mid] < m)
            right = mid + 1;
        else
            hi = mid;
    }
    int64_t l = (int64_t)right - 1;
    uint32_t r = right;
    double prev = 0, cur = 0;
    for (uint32_t taken = 0; taken <= n / 2; taken++) {
        double dl = l >= 0 ? m - s[l] : INFINITY, dr = r < n ? s[r] - m : INFINITY;
        prev = cur;
        if (dl <= dr) {
            cur = dl;
            l--;
        } else {
            cur = dr;
            r++;
        }
    }
    return n % 2 ? cur : 0.5 * (prev + cur);
}

#endif
