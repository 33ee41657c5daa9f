/* Shapley values by their definition, for the explanation tests: over
 * every subset S of d players (bits), player i gets the mean of v(S + i) -
 * v(S) weighted |S|! (d - |S| - 1)! / d!. Exponential in d: for a few
 * features only. */
#ifndef WEIR_TEST_SHAPLEY_REF_H
#define WEIR_TEST_SHAPLEY_REF_H

static double shapley_factorial(int n)
{
    return n <= 1 ? 1 : n * shapley_factorial(n - 1);
}

/* Adds `scale` times each player's Shapley value of v to phi[i] (i < d),
 * and scale * v(empty set) to phi[d]. */
static void shapley_add(int d, double (*v)(unsigned S, const void *ctx), const void *ctx,
                        double scale, double *phi)
{
    phi[d] += scale * v(0, ctx);
    for (int i = 0; i < d; i++)
        for (unsigned S = 0; S < 1u << d; S++) {
            if (S & (1u << i))
                continue;
            int s = __builtin_popcount(S);
            double w = shapley_factorial(s) * shapley_factorial(d - s - 1) / shapley_factorial(d);
            phi[i] += scale * w * (v(S | (1u << i), ctx) - v(S, ctx));
        }
}

#endif
