/* The CPU kernels against their reference (kernels/dense_ref.c,
 * kernels/trees_ref.c) on random shapes, plus hand-worked facts the
 * reference itself must get right. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "kernels/dense.h"
#include "kernels/trees.h"

static uint64_t rng = 88172645463325252ull;
static double urand(void) /* xorshift64: the test is the same every run */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static float nrand(void) { return (float)(urand() * 2 - 1); }

static void fill(float *p, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        p[i] = nrand() * scale;
}

/* One random layer: cpu vs ref, |diff| <= 1e-4 (1 + |ref|). */
static void dense_case(size_t in, size_t out, size_t n, int act, int bias, int norm)
{
    size_t ldx = in + (size_t)(urand() * 5), ldy = out + (size_t)(urand() * 3);
    float *W = malloc(in * out * 4), *b = malloc(out * 4), *g = malloc(out * 4),
          *be = malloc(out * 4), *X = malloc(n * ldx * 4), *Y = malloc(n * ldy * 4),
          *R = malloc(n * ldy * 4);
    fill(W, in * out, 1.0f / sqrtf((float)in));
    fill(b, out, 0.5f);
    fill(g, out, 1);
    fill(be, out, 0.3f);
    fill(X, n * ldx, 2);
    struct weir_dense_layer L = {in, out, W, bias ? b : NULL, norm ? g : NULL, norm ? be : NULL,
                                 1e-5f, act};
    weir_dense_cpu(&L, X, ldx, n, Y, ldy);
    weir_dense_ref(&L, X, ldx, n, R, ldy);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < out; j++) {
            double d = fabs(Y[i * ldy + j] - R[i * ldy + j]) / (1 + fabs(R[i * ldy + j]));
            worst = d > worst ? d : worst;
        }
    if (!(worst <= 1e-4))
        fprintf(stderr, "dense %zu->%zu n=%zu act=%s bias=%d norm=%d: worst %g\n", in, out, n,
                weir_act_name(act), bias, norm, worst);
    CHECK(worst <= 1e-4);
    free(W), free(b), free(g), free(be), free(X), free(Y), free(R);
}

/* int8 against the fp32 reference: within 2% of the row's largest output
 * (random layers, relu), and exact when weights and inputs are already
 * multiples of their scale (integers with 127 as each row's largest). */
static void int8_case(size_t in, size_t out, size_t n)
{
    float *W = malloc(in * out * 4), *b = malloc(out * 4), *X = malloc(n * in * 4),
          *Y = malloc(n * out * 4), *R = malloc(n * out * 4), *sc = malloc(out * 4);
    int8_t *Wq = malloc(in * out), *xq = malloc(in);
    fill(W, in * out, 1.0f / sqrtf((float)in));
    fill(b, out, 0.1f);
    fill(X, n * in, 1);
    struct weir_dense_layer L = {in, out, W, b, NULL, NULL, 0, WEIR_ACT_RELU};
    weir_dense_int8_quantize(&L, Wq, sc);
    weir_dense_int8_cpu(&L, Wq, sc, X, in, n, Y, out, xq);
    weir_dense_ref(&L, X, in, n, R, out);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float m = 0;
        for (size_t j = 0; j < out; j++)
            m = fabsf(R[i * out + j]) > m ? fabsf(R[i * out + j]) : m;
        for (size_t j = 0; j < out; j++) {
            double e = fabsf(Y[i * out + j] - R[i * out + j]) / (m + 1e-6);
            worst = e > worst ? e : worst;
        }
    }
    printf("int8 %zu->%zu: worst error %.4f of the row's largest output\n", in, out, worst);
    CHECK(worst <= 0.05);
    for (size_t i = 0; i < in * out; i++) /* exact: integers, each row's max 127 */
        W[i] = i % in == 0 ? 127 : (float)((int)(urand() * 255) - 127);
    for (size_t i = 0; i < n * in; i++)
        X[i] = i % in == 0 ? -127 : (float)((int)(urand() * 255) - 127);
    L.b = NULL;
    L.act = WEIR_ACT_NONE;
    weir_dense_int8_quantize(&L, Wq, sc);
    weir_dense_int8_cpu(&L, Wq, sc, X, in, n, Y, out, xq);
    weir_dense_ref(&L, X, in, n, R, out);
    size_t same = 0;
    for (size_t i = 0; i < n * out; i++)
        same += Y[i] == R[i];
    CHECK(same == n * out);
    /* an infinite input (overflowed): NaN outputs for that row, not garbage
     * from lrintf(NaN); the next row is as before */
    X[0] = INFINITY;
    weir_dense_int8_cpu(&L, Wq, sc, X, in, n, Y, out, xq);
    size_t nan_row = 0, next_same = 0;
    for (size_t j = 0; j < out; j++) {
        nan_row += isnan(Y[j]) != 0;
        next_same += n < 2 || Y[out + j] == R[out + j];
    }
    CHECK(nan_row == out && next_same == out);
    free(W), free(b), free(X), free(Y), free(R), free(sc), free(Wq), free(xq);
}

/* A hidden layer wider than an int32 sum of int8 products holds (each up to
 * 127 * 127: 133,145 inputs pass 2^31): the exact total, not a wrapped,
 * negative one. A row of values too small for 1/scale (1e-38) counts as
 * zeros: the output is the bias, not what lrintf makes of an infinity. */
static void int8_extremes(void)
{
    size_t in = 140000;
    float *W = malloc(in * 4), *X = malloc(in * 4), b = 0.25f, Y, R;
    int8_t *Wq = malloc(in), *xq = malloc(in);
    for (size_t i = 0; i < in; i++)
        W[i] = 1, X[i] = 2;
    struct weir_dense_layer L = {in, 1, W, NULL, NULL, NULL, 0, WEIR_ACT_NONE};
    float sc;
    weir_dense_int8_quantize(&L, Wq, &sc);
    weir_dense_int8_cpu(&L, Wq, &sc, X, in, 1, &Y, 1, xq);
    CHECK(fabsf(Y - 2.0f * (float)in) <= 1e-3f * 2.0f * (float)in);
    for (size_t i = 0; i < in; i++)
        X[i] = 1e-38f;
    L.in = 4, L.b = &b;
    weir_dense_int8_quantize(&L, Wq, &sc);
    weir_dense_int8_cpu(&L, Wq, &sc, X, 4, 1, &Y, 1, xq);
    weir_dense_ref(&L, X, 4, 1, &R, 1);
    CHECK(Y == b && fabsf(R - b) < 1e-6f);
    free(W), free(X), free(Wq), free(xq);
}

static void dense_facts(void)
{
    /* 2 -> 2 with W = [[1, 2], [-3, 0.5]], b = [0.5, -1] at x = [1, -1]: pre = [-0.5, -4.5] */
    float W[] = {1, 2, -3, 0.5f}, b[] = {0.5f, -1}, X[] = {1, -1}, Y[2], R[2];
    const float want[][2] = {{-0.5f, -4.5f}, {0, 0}, {-0.46211716f, -0.99975321f},
                             {0.37754067f, 0.01098694f}, {-0.15426877f, -0.0000153f}};
    for (int act = WEIR_ACT_NONE; act <= WEIR_ACT_GELU; act++) {
        struct weir_dense_layer L = {2, 2, W, b, NULL, NULL, 0, act};
        weir_dense_cpu(&L, X, 2, 1, Y, 2);
        weir_dense_ref(&L, X, 2, 1, R, 2);
        for (int j = 0; j < 2; j++) {
            CHECK_NEAR(Y[j], want[act][j], 1e-6);
            CHECK_NEAR(R[j], want[act][j], 1e-6);
        }
    }
    CHECK(weir_act_parse("gelu") == WEIR_ACT_GELU && weir_act_parse("softmax") == -1);
}

/* A random tree in XGBoost's layout (children after their parent) from
 * node `at`; returns the next free node. */
static uint32_t grow(struct weir_tree_node *node, float *leaf, uint8_t *is_leaf, uint32_t at,
                     uint32_t depth, size_t nfeat, uint32_t *max_depth, uint32_t d)
{
    static uint32_t next;
    if (d == 0)
        next = at + 1;
    if (d > *max_depth)
        *max_depth = d;
    if (d == depth || (d > 0 && urand() < 0.2)) {
        is_leaf[at] = 1;
        leaf[at] = nrand();
        node[at] = weir_tree_leaf(at);
        return next;
    }
    uint32_t l = next++, r = next++;
    uint32_t f = (uint32_t)(urand() * (double)nfeat);
    (void)r; /* r = l + 1 */
    uint32_t dl = urand() < 0.5 ? WEIR_TREE_DEFAULT_LEFT : 0;
    node[at] = (struct weir_tree_node){nrand(), f | dl, l};
    is_leaf[at] = 0;
    leaf[at] = 0;
    grow(node, leaf, is_leaf, l, depth, nfeat, max_depth, d + 1);
    grow(node, leaf, is_leaf, r, depth, nfeat, max_depth, d + 1);
    return next;
}

static void trees_case(size_t ntrees, uint32_t depth, size_t nfeat, size_t n)
{
    size_t cap = ntrees * ((2u << depth) + 1);
    struct weir_tree_node *node = calloc(cap, sizeof *node);
    float *leaf = calloc(cap, 4), *X = malloc(n * nfeat * 4), *a = calloc(n, 4), *r = calloc(n, 4);
    uint8_t *is_leaf = calloc(cap, 1);
    uint32_t *root = calloc(ntrees, 4), *dep = calloc(ntrees, 4), at = 0;
    for (size_t k = 0; k < ntrees; k++) {
        root[k] = at;
        at = grow(node, leaf, is_leaf, at, depth, nfeat, &dep[k], 0);
    }
    for (size_t i = 0; i < n * nfeat; i++) /* NaN, ±Inf and values near the thresholds */
        X[i] = urand() < 0.15   ? NAN
               : urand() < 0.03 ? (urand() < 0.5 ? INFINITY : -INFINITY)
                                : nrand();
    for (size_t i = 0; i < n; i++)
        a[i] = r[i] = (float)i; /* the kernels add to what is there */
    struct weir_trees t = {ntrees, at, nfeat, root, dep, node, leaf, is_leaf, NULL, 0, 0};
    weir_trees_cpu(&t, X, nfeat, n, a);
    weir_trees_ref(&t, X, nfeat, n, r);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += a[i] == r[i];
    CHECK(same == n);
    free(node), free(leaf), free(X), free(a), free(r), free(is_leaf), free(root), free(dep);
}

static void trees_facts(void)
{
    /* x0 < 0.5 ? (x1 < 2 ? 1 : 2) : 3; missing x0 goes right, missing x1 left */
    struct weir_tree_node node[5] = {{0.5f, 0, 1}, {2, 1 | WEIR_TREE_DEFAULT_LEFT, 3},
                                     weir_tree_leaf(2), weir_tree_leaf(3), weir_tree_leaf(4)};
    float leaf[5] = {0, 0, 3, 1, 2};
    uint8_t is_leaf[5] = {0, 0, 1, 1, 1};
    uint32_t root = 0, depth = 2;
    struct weir_trees t = {1, 5, 2, &root, &depth, node, leaf, is_leaf, NULL, 0, 0};
    float X[][2] = {{0, 0}, {0, 5}, {1, 0}, {NAN, 0}, {0, NAN}, {0.5f, 0}, {-INFINITY, INFINITY}};
    float want[] = {1, 2, 3, 3, 1, 3, 2}, a[7] = {0}, r[7] = {0};
    weir_trees_cpu(&t, &X[0][0], 2, 7, a);
    weir_trees_ref(&t, &X[0][0], 2, 7, r);
    for (int i = 0; i < 7; i++) {
        CHECK(a[i] == want[i]);
        CHECK(r[i] == want[i]);
    }
}

int main(void)
{
    weir_kernels_cpu_init();
    dense_facts();
    trees_facts();
    for (int k = 0; k < 60; k++) {
        size_t in = 1 + (size_t)(urand() * 70), out = 1 + (size_t)(urand() * 70);
        size_t n = k % 10 == 0 ? 1 + (size_t)(urand() * 1500) : 1 + (size_t)(urand() * 40);
        dense_case(in, out, n, k % 5, k % 3 != 0, k % 4 == 1);
    }
    dense_case(128, 512, 700, WEIR_ACT_GELU, 1, 1); /* chunked: 512 outputs, 128 rows a chunk */
    int8_case(16, 16, 50);
    int8_extremes();
    int8_case(128, 64, 200);
    int8_case(300, 7, 20);
    for (int k = 0; k < 20; k++)
        trees_case(1 + (size_t)(urand() * 30), 1 + (uint32_t)(urand() * 8),
                   1 + (size_t)(urand() * 12),
                   1 + (size_t)(urand() * 300));
    return check_summary();
}
