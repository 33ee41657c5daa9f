/* splitmix64 draws for the tests that need 64-bit random values. A test
 * defines SPLITMIX_SEED before including this; its data depend on that seed
 * only. */
#ifndef WEIR_TEST_SPLITMIX_H
#define WEIR_TEST_SPLITMIX_H

#include <stdint.h>

static uint64_t rng_state = SPLITMIX_SEED;

static inline uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline unsigned rndn(unsigned n) /* [0, n) */
{
    return (unsigned)(rnd() % n);
}

#endif
