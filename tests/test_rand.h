/* The tests' random data (scorers, TreeSHAP): xorshift64* uniforms in [0,1) and
 * Box-Muller normals from one global state, which each test sets at the
 * start of main (its data depend on that start only). */
#ifndef WEIR_TEST_RAND_H
#define WEIR_TEST_RAND_H

#include <math.h>
#include <stdint.h>

static uint64_t rng = 1;

static inline double uniform(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static inline double gauss(void)
{
    return sqrt(-2 * log(uniform() + 1e-300)) * cos(2 * M_PI * uniform());
}

#endif
