/* Tests for iforest (online isolation forest): every score equals a naive
 * recursive reference (pointer trees, built from a plain array of all points
 * with the same random draws, scored by 2^(-E[h]/c(n))); isolated points
 * score high and the cluster about 0.5 or below; a constant window scores
 * 0.5; warm-up count and flags; NaN records neither scored nor learned;
 * side; the same seed gives the same scores and another seed other ones;
 * per key equals each key alone; prepare errors. */
#include <math.h>
#include <stdlib.h>

#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_iforest;

#include "operators/iforest_forest.h"
#include "tests/iforest_ref.h"

/* Scores xs[0..n) as the operator with trees/sample/window/rebuild/warmup
 * and seed, side both. NaN rows score 0 and are skipped. */
static void reference(const float (*xs)[D], size_t n, int trees, int sample, int window,
                      int rebuild, int warmup, uint64_t seed, double *out)
{
    float(*ring)[D] = calloc((size_t)window, sizeof *ring);
    struct rnode **forest = calloc((size_t)trees, sizeof *forest);
    int count = 0, head = 0, since = 0, built = 0;
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) {
        out[i] = 0;
        if (!isfinite(xs[i][0]) || !isfinite(xs[i][1]))
            continue;
        if (built)
            out[i] = rscore(forest, trees, built, xs[i]);
        memcpy(ring[head], xs[i], sizeof ring[head]);
        head = (head + 1) % window;
        count += count < window;
        since++;
        if (count >= warmup && (!built || since >= rebuild)) {
            int psi = rgrow(ring, count, sample, trees, &s, forest);
            built = psi;
            since = 0;
        }
    }
    for (int t = 0; t < trees; t++)
        rfree(forest[t]);
    free(forest);
    free(ring);
}

/* ---- the operator ------------------------------------------------------ */

/* Runs rows through a fresh iforest (keys: NULL, or one of 3 per row, and
 * only >= 0 keeps that key's rows alone); scores and warm-up flags out. */
static void run(const char *conf, const float (*xs)[D], const int *key, int only, size_t n,
                float *score, unsigned char *warm)
{
    struct h_pipe p;
    struct h_op h;
    static const char *names[] = {"a", "bb", "ccc"};
    h_pipe_init(&p);
    h_feature(&p, "x", 0);
    h_feature(&p, "y", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int host = weir_schema_string_out(&pr, "host", "operators[0]");
    CHECK(h_build(&h, &weir_op_iforest, conf, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score");
    struct weir_batch_pool *pool = h_pool(&p, 50);
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t at[64], m = 0;
        for (; k < n && b->n < b->cap; k++) {
            if (only >= 0 && key[k] != only)
                continue;
            int i = weir_batch_push(b);
            weir_batch_row(b, (uint32_t)i)[0] = xs[k][0];
            weir_batch_row(b, (uint32_t)i)[1] = xs[k][1];
            if (key)
                b->S[(size_t)i * b->nstr + (size_t)host] =
                    (struct weir_str){names[key[k]], (uint32_t)strlen(names[key[k]])};
            at[m++] = k;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = 0; j < m; j++) {
            score[at[j]] = weir_batch_row(b, (uint32_t)j)[out];
            if (warm)
                warm[at[j]] = (b->rec[j].flags & WEIR_REC_WARMUP) != 0;
        }
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

enum { N = 3000 };
static float xs[N][D], s1[N], s2[N];
static double ref[N];
static unsigned char w1[N];

static void make_data(void)
{
    for (size_t i = 0; i < N; i++) {
        xs[i][0] = (float)(10 + gauss());
        xs[i][1] = (float)(-5 + 2 * gauss());
    }
    xs[0][0] = 2, xs[0][1] = -15; /* stretches the range early */
    for (size_t i = 1200; i < N; i += 300)
        xs[i][0] = 17, xs[i][1] = 6; /* isolated */
    xs[100][1] = NAN;
    xs[101][0] = INFINITY;
    xs[1700][0] = 3, xs[1700][1] = -5; /* low on x only */
}

static void test_reference(void)
{
    const char *conf = "{\"fields\": [\"x\", \"y\"], \"trees\": 40, \"sample\": 64, "
                       "\"window\": 500, \"rebuild\": 100, \"warmup\": 50, \"seed\": 7}";
    run(conf, (const float(*)[D])xs, NULL, -1, N, s1, w1);
    reference((const float(*)[D])xs, N, 40, 64, 500, 100, 50, 7, ref);
    size_t off = 0, nwarm = 0;
    for (size_t i = 0; i < N; i++) {
        off += fabs(s1[i] - ref[i]) > 1e-6;
        nwarm += w1[i];
    }
    CHECK(off == 0);
    CHECK(nwarm == 50); /* the 50th point is still scored by no forest, then builds it */
    CHECK(w1[49] && !w1[50] && !w1[100] && s1[100] == 0 && s1[101] == 0);
    double inlier = 0, least = 1;
    for (size_t i = 1200; i < N; i += 300)
        least = s1[i] < least ? s1[i] : least;
    size_t m = 0, above = 0;
    for (size_t i = 200; i < N; i++) {
        if (i % 300 == 0 || i == 1700)
            continue;
        inlier += s1[i];
        above += s1[i] >= least;
        m++;
    }
    inlier /= (double)m;
    printf("iforest: mean inlier %.3f; isolated %.3f %.3f (least %.3f, %zu inliers above); "
           "x-low %.3f\n",
           inlier, s1[1200], s1[2700], least, above, s1[1700]);
    CHECK(inlier < 0.5 && least > 0.65 && above * 200 < m); /* under 0.5% of inliers */
    CHECK(s1[1700] > 0.58);
    for (size_t i = 0; i < N; i++)
        CHECK(s1[i] >= 0 && s1[i] <= 1);
    /* same seed, same scores; another seed, others */
    run(conf, (const float(*)[D])xs, NULL, -1, N, s2, NULL);
    CHECK(memcmp(s1, s2, sizeof s1) == 0);
    run("{\"fields\": [\"x\", \"y\"], \"trees\": 40, \"sample\": 64, \"window\": 500, "
        "\"rebuild\": 100, \"warmup\": 50, \"seed\": 8}",
        (const float(*)[D])xs, NULL, -1, N, s2, NULL);
    CHECK(memcmp(s1, s2, sizeof s1) != 0);
    /* defaults (100 trees of 256, window 2048) against the reference too */
    run("{\"fields\": [\"x\", \"y\"]}", (const float(*)[D])xs, NULL, -1, N, s2, NULL);
    reference((const float(*)[D])xs, N, 100, 256, 2048, 256, 256, 1, ref);
    off = 0;
    for (size_t i = 0; i < N; i++)
        off += fabs(s2[i] - ref[i]) > 1e-6;
    CHECK(off == 0);
}

/* A window of one repeated point isolates nothing: every path ends at the
 * root with c(n), so the score is exactly 0.5; a new value splits later. */
static void test_constant(void)
{
    static float c[300][D];
    for (size_t i = 0; i < 300; i++)
        c[i][0] = 4, c[i][1] = 1;
    run("{\"fields\": [\"x\", \"y\"], \"warmup\": 20, \"rebuild\": 1000, \"trees\": 10}",
        (const float(*)[D])c, NULL, -1, 300, s1, NULL);
    CHECK(s1[19] == 0 && s1[20] == 0.5f && s1[299] == 0.5f);
}

/* side: "up" scores only points above the sample mean on some feature. */
static void test_side(void)
{
    const char *up = "{\"fields\": [\"x\", \"y\"], \"trees\": 40, \"sample\": 64, "
                     "\"window\": 500, \"rebuild\": 100, \"warmup\": 50, \"side\": \"up\"}";
    const char *down = "{\"fields\": [\"x\", \"y\"], \"trees\": 40, \"sample\": 64, "
                       "\"window\": 500, \"rebuild\": 100, \"warmup\": 50, \"side\": \"down\"}";
    run(up, (const float(*)[D])xs, NULL, -1, N, s1, NULL);
    run(down, (const float(*)[D])xs, NULL, -1, N, s2, NULL);
    CHECK(s1[1200] > 0.7 && s2[1200] == 0); /* high on both features */
    CHECK(s1[1700] == 0 || xs[1700][1] > -5.5f);
    CHECK(s2[1700] > 0.58); /* low on x */
    size_t zero_up = 0, zero_down = 0;
    for (size_t i = 200; i < N; i++) {
        zero_up += s1[i] == 0;
        zero_down += s2[i] == 0;
    }
    CHECK(zero_up > 300 && zero_down > 300); /* both below (above) on both: about a quarter */
}

static void test_by_key(void)
{
    static int key[N];
    static float alone[N];
    for (size_t i = 0; i < N; i++) {
        key[i] = (int)(uniform() * 3);
        xs[i][0] += 10.0f * (float)key[i];
    }
    const char *conf = "{\"fields\": [\"x\", \"y\"], \"by\": \"host\", \"trees\": 20, "
                       "\"sample\": 32, \"window\": 100, \"rebuild\": 30, \"warmup\": 20}";
    run(conf, (const float(*)[D])xs, key, -1, N, s1, NULL);
    for (int k = 0; k < 3; k++)
        run(conf, (const float(*)[D])xs, key, k, N, alone, NULL);
    size_t diff = 0;
    for (size_t i = 0; i < N; i++)
        diff += s1[i] != alone[i];
    CHECK(diff == 0);
    /* hold 30: a score stands only above the key's 30 raw scores before it */
    run("{\"fields\": [\"x\", \"y\"], \"trees\": 20, \"sample\": 32, \"window\": 100, "
        "\"rebuild\": 30, \"warmup\": 20, \"hold\": 30}",
        (const float(*)[D])xs, key, 1, N, alone, NULL);
    run(conf, (const float(*)[D])xs, key, 1, N, s2, NULL);
    size_t bad = 0, held = 0, j = 0;
    static float raw[N];
    for (size_t i = 0; i < N; i++)
        if (key[i] == 1) {
            float prev = 0;
            raw[j] = s2[i];
            for (size_t q = j >= 30 ? j - 30 : 0; q < j; q++)
                prev = raw[q] > prev ? raw[q] : prev;
            bad += alone[i] != (raw[j] > prev ? raw[j] : 0);
            held += alone[i] == 0 && raw[j] > 0;
            j++;
        }
    CHECK(bad == 0 && held > 100);
}

/* A single point only warms up; so does a window shorter than warmup. */
static void test_single_point(void)
{
    static const float one[1][D] = {{1, 2}};
    unsigned char w = 0;
    run("{\"fields\": [\"x\", \"y\"]}", one, NULL, -1, 1, s1, &w);
    CHECK(s1[0] == 0 && w == 1);
}

/* Points on two adjacent floats: a split drawn between them rounds to one
 * of them. Each side of every split keeps a point, so a tree of psi points
 * fits its 2 psi - 1 nodes (an empty left side made a leaf more, and trees
 * of a sample that is not a power of two wrote into the next one's). */
static void test_adjacent_floats(void)
{
    enum { SEEDS = 200, GUARD = 64 };
    const float one = 1.0f, next = nextafterf(1.0f, 2.0f);
    uint64_t draw = 7;
    size_t overrun = 0;
    for (uint32_t psi = 3; psi <= 12; psi++) {
        float pop[12 * 2];
        size_t tree_nodes = 2 * (size_t)psi - 1;
        struct iforest_node *nodes = malloc((tree_nodes + GUARD) * sizeof *nodes);
        struct iforest_scratch s;
        float center[2];
        CHECK(iforest_scratch_alloc(&s, psi, psi, 2) == 0);
        for (uint64_t seed = 1; seed <= SEEDS; seed++) { /* one tree at a time: its own guard */
            for (uint32_t i = 0; i < 2 * psi; i++)
                pop[i] = (weir_splitmix(&draw) & 1) ? next : one;
            memset(nodes, 0xab, (tree_nodes + GUARD) * sizeof *nodes);
            uint64_t rng_seed = seed;
            iforest_grow(pop, 2, psi, psi, 1, tree_nodes, &rng_seed, &s, nodes, center);
            for (size_t k = 0; k < GUARD * sizeof *nodes; k++)
                overrun += ((unsigned char *)(nodes + tree_nodes))[k] != 0xab;
        }
        iforest_scratch_free(&s);
        free(nodes);
    }
    CHECK(overrun == 0);
}

/* "explain": an isolated point's text names the input that isolated it
 * first, with a negative share, and its path matches its score; the
 * warm-up gets none, and few ordinary points reach 0.6. */
static void test_explain(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "x", 0);
    h_feature(&p, "y", 0);
    CHECK(h_build(&h, &weir_op_iforest,
                  "{\"fields\": [\"x\", \"y\"], \"explain\": true, \"explain_k\": 1}", &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score"), why = -1;
    for (uint32_t k = 0; k < p.schema.nstr; k++)
        if (strcmp(p.schema.str[k].name, "anomaly_score_explain") == 0)
            why = (int)k;
    CHECK(why >= 0 && p.schema.str[why].emit);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    int texts = 0, warm_texts = 0, outlier_done = 0;
    for (int k = 0; k < 400; k += 40) {
        struct weir_batch *b = weir_batch_get(pool);
        for (int j = 0; j < 40; j++) {
            float *row = weir_batch_row(b, (uint32_t)weir_batch_push(b));
            row[0] = (float)gauss();
            row[1] = k + j == 390 ? 20.0f : (float)gauss(); /* one point far out in y */
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (uint32_t j = 0; j < 40; j++) {
            char buf[2048];
            const char *text = h_str(b, j, why, buf, sizeof buf);
            float score = weir_batch_row(b, j)[out];
            texts += text != NULL;
            warm_texts += text != NULL && k + (int)j < 256;
            if (k + j != 390)
                continue;
            double path = -1, from = -1, share = 0;
            CHECK(text &&
                  sscanf(text, "path length %lf from %lf: y=20 %lf", &path, &from, &share) == 3);
            CHECK(share < 0 && path < from);
            CHECK_NEAR(score, exp2(-path / iforest_c(256)), 1e-4);
            CHECK(text && strstr(text, " sample mean ") && strstr(text, "; the other 1 "));
            outlier_done = 1;
        }
        weir_batch_put(b);
    }
    CHECK(outlier_done && warm_texts == 0);
    CHECK(texts >= 1 && texts < 20); /* 0.6 and above: few of a Gaussian cluster */
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_prepare_errors(void)
{
    const char *const feats[] = {"x", NULL};
    h_expect_prepare_error(&weir_op_iforest, feats, 1,
                           "{\"fields\": [\"x\"], \"window\": 100, \"warmup\": 200}",
                           "test.json: operators[1].warmup: expected warmup <= window (100), "
                           "got 200");
    h_expect_prepare_error(&weir_op_iforest, feats, 1, "{\"fields\": [\"x\"], \"sample\": 1}",
                           "test.json: operators[1].sample: expected an integer in [2,4096], "
                           "got 1");
    h_expect_prepare_error(&weir_op_iforest, feats, 1, "{\"fields\": [\"x\"], \"explain_k\": 2}",
                           "test.json: operators[1].explain_k: expected only with \"explain\": "
                           "true: without it this option does nothing");
    /* an account that could hold the loop for long: 1024 trees of 8,191
     * nodes and paths of 12 distinct inputs, 6 quadrature points a node;
     * over one field, 1 */
    static const char *const sixteen[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i",
                                          "j", "k", "l", "m", "n", "o", "p", NULL};
    h_expect_prepare_error(
        &weir_op_iforest, sixteen, 1,
        "{\"fields\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", \"h\", \"i\", "
        "\"j\", \"k\", \"l\", \"m\", \"n\", \"o\", \"p\"], \"explain\": true, "
        "\"trees\": 1024, \"sample\": 4096, \"window\": 4096}",
        "test.json: operators[1].explain: expected at most 1e+07 steps to explain a record, and "
        "1024 trees of 4096 points over 16 fields may take 5e+07 (trees * (2 * sample - 1) * "
        "ceil(min(ceil(log2 sample), fields) / 2)): fewer trees, a smaller sample, or no explain");
    h_expect_prepare_error(&weir_op_iforest, feats, 1,
                           "{\"fields\": [\"x\"], \"explain\": true, \"trees\": 1024, "
                           "\"sample\": 4096, \"window\": 4096}",
                           NULL);
}

int main(void)
{
    rng = 99;
    make_data();
    test_reference();
    test_constant();
    test_side();
    test_by_key();
    test_single_point();
    test_adjacent_floats();
    test_explain();
    test_prepare_errors();
    return check_summary();
}
