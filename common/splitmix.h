/* splitmix64 (Steele, Lea and Flood): the one seeded stream of random draws
 * the operators and `weir fit` use, so that a seed means the same draws
 * wherever it is given, and one copy is checked. */
#ifndef WEIR_COMMON_SPLITMIX_H
#define WEIR_COMMON_SPLITMIX_H

#include <stdint.h>

static inline uint64_t weir_splitmix(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* A uniform draw in [0, 1) from the top 53 bits. */
static inline double weir_splitmix_unit(uint64_t *state)
{
    return (double)(weir_splitmix(state) >> 11) * 0x1.0p-53;
}

#endif
