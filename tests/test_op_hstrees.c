/* Tests for hstrees (Half-Space Trees): an isolated point scores high and
 * the cluster low; the first window only learns (flagged warm-up); the same
 * seed gives the same scores and another seed other ones; records with a
 * NaN feature are neither scored nor learned; prepare errors; "explain":
 * the isolated points' texts, their mass matching the score, none for a
 * record below explain_above or in the warm-up, the same scores as without;
 * a record at an empty node explained with a mass of exactly 0. */
#include <math.h>
#include <stdlib.h>

#include "tests/check.h"
#include "tests/op_harness.h"
#include "tests/test_rand.h"

extern const struct weir_operator_type weir_op_hstrees;

/* Runs (x, y) pairs through a fresh hstrees; scores and warm-up flags out;
 * with why (n texts of 256 bytes), the "<out>_explain" texts ("" for none). */
static void run_explained(const char *conf, const float (*xy)[2], size_t n, float *score,
                          unsigned char *warm, char (*why)[256])
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "x", 0);
    h_feature(&p, "y", 0);
    CHECK(h_build(&h, &weir_op_hstrees, conf, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score"), col = -1;
    for (uint32_t k = 0; k < p.schema.nstr; k++)
        if (strcmp(p.schema.str[k].name, "anomaly_score_explain") == 0)
            col = (int)k;
    CHECK((col >= 0) == (why != NULL));
    struct weir_batch_pool *pool = h_pool(&p, 64);
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        while (k < n && b->n < b->cap) {
            int i = weir_batch_push(b);
            weir_batch_row(b, (uint32_t)i)[0] = xy[k][0];
            weir_batch_row(b, (uint32_t)i)[1] = xy[k][1];
            k++;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < k; j++) {
            score[j] = weir_batch_row(b, (uint32_t)(j - first))[out];
            warm[j] = (b->rec[j - first].flags & WEIR_REC_WARMUP) != 0;
            const char *text = why ? h_str(b, (uint32_t)(j - first), col, why[j], 256) : NULL;
            if (why && !text)
                why[j][0] = 0;
        }
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void run(const char *conf, const float (*xy)[2], size_t n, float *score, unsigned char *warm)
{
    run_explained(conf, xy, n, score, warm, NULL);
}

/* The isolated points explained: "mass M from E: x=3 -s seen
 * lo..hi, y=-14 -s ...", 1 - M / window their score; no text below
 * explain_above or in the warm-up; the scores as without explain. */
static void test_explain(const float (*xy)[2], size_t n, const float *plain, const size_t *odd)
{
    static float s[2000];
    static unsigned char w[2000];
    static char why[2000][256];
    CHECK(n <= 2000);
    run_explained("{\"fields\": [\"x\", \"y\"], \"window\": 250, \"seed\": 3, \"explain\": true}",
                  xy, n, s, w, why);
    CHECK(memcmp(s, plain, n * sizeof *s) == 0);
    size_t texts = 0, stray = 0;
    for (size_t i = 0; i < n; i++) {
        texts += why[i][0] != 0;
        stray += why[i][0] && (w[i] || !(s[i] >= 0.5f));
    }
    CHECK(stray == 0 && texts >= 3);
    for (size_t k = 0; k < 3; k++) {
        const char *t = why[odd[k]];
        double mass = -1, from = -1, share = 0;
        char first[8] = "";
        int got = sscanf(t, "mass %lf from %lf: %1[xy]=%*f %lf", &mass, &from, first, &share);
        CHECK(got == 4 && share < 0 && mass < from && strstr(t, " seen ") != NULL);
        CHECK_NEAR(s[odd[k]], 1 - mass / 250, 1e-5);
        if (k == 0)
            printf("explained: %s\n", t);
    }
    printf("explain: %zu texts of %zu records\n", texts, n);
    h_expect_prepare_error(&weir_op_hstrees, (const char *const[]){"x", NULL}, 1,
                           "{\"fields\": [\"x\"], \"explain_above\": 0.9}",
                           "test.json: operators[1].explain_above: expected only with \"explain\": "
                           "true: without it this option does nothing");
    /* an account that could hold the loop for long is refused: 16 fields,
     * 256 trees of 7,023 inner nodes (1 + 2 + ... + 512, then 1,000 a
     * level), 14,047 nodes, paths of 16 features: 8 quadrature points a
     * node; one field's paths repeat it: 256 trees of depth 12 take
     * 256 × 8,191 × 1, not × 6 */
    static const char *const sixteen[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i",
                                          "j", "k", "l", "m", "n", "o", "p", NULL};
    h_expect_prepare_error(
        &weir_op_hstrees, sixteen, 1,
        "{\"fields\": [\"a\", \"b\", \"c\", \"d\", \"e\", \"f\", \"g\", "
        "\"h\", \"i\", \"j\", \"k\", \"l\", \"m\", \"n\", \"o\", \"p\"], "
        "\"explain\": true, \"trees\": 256, \"depth\": 16, \"window\": 1000, "
        "\"size_limit\": 0}",
        "test.json: operators[1].explain: expected at most 1e+07 steps to "
        "explain a record, and 256 trees of depth 16 over 16 fields with window "
        "1000 and size_limit 0 may take 2.9e+07 (trees * nodes * ceil(min(depth, "
        "fields) / 2)): fewer trees, less depth, a smaller window or a larger "
        "size_limit, or no explain");
    h_expect_prepare_error(&weir_op_hstrees, (const char *const[]){"x", NULL}, 1,
                           "{\"fields\": [\"x\"], \"explain\": true, \"trees\": 256, "
                           "\"depth\": 12, \"window\": 1000000, \"size_limit\": 0}",
                           NULL);
}

int main(void)
{
    rng = 77;
    enum { N = 2000 };
    static float xy[N][2], s1[N], s2[N], s3[N];
    static unsigned char w1[N], w2[N], w3[N];
    for (size_t i = 0; i < N; i++) {
        xy[i][0] = (float)(10 + gauss());
        xy[i][1] = (float)(-5 + 2 * gauss());
    }
    /* isolated points late in the stream, inside the range already seen */
    const size_t odd[] = {1500, 1700, 1900};
    xy[0][0] = 2, xy[0][1] = -15; /* stretch the range early */
    for (size_t k = 0; k < 3; k++)
        xy[odd[k]][0] = 3, xy[odd[k]][1] = -14;
    xy[100][0] = NAN;
    const char *conf = "{\"fields\": [\"x\", \"y\"], \"window\": 250, \"seed\": 3}";
    run(conf, xy, N, s1, w1);
    /* warm-up: exactly the first 250 finite records; the NaN one is skipped */
    size_t nwarm = 0;
    for (size_t i = 0; i < N; i++)
        nwarm += w1[i];
    CHECK(nwarm == 250);
    CHECK(w1[250] && !w1[251] && !w1[100]);
    CHECK(s1[100] == 0 && s1[10] == 0);
    double inlier = 0;
    size_t m = 0;
    for (size_t i = 300; i < N; i++)
        if (i != 1500 && i != 1700 && i != 1900) {
            inlier += s1[i];
            m++;
        }
    inlier /= (double)m;
    printf("mean inlier score %.3f; isolated points %.3f %.3f %.3f\n", inlier, s1[1500], s1[1700],
           s1[1900]);
    CHECK(inlier < 0.2);
    for (size_t k = 0; k < 3; k++)
        CHECK(s1[odd[k]] > 0.6 && s1[odd[k]] > inlier + 0.4);
    for (size_t i = 0; i < N; i++)
        CHECK(s1[i] >= 0 && s1[i] <= 1);
    run(conf, xy, N, s2, w2);
    CHECK(memcmp(s1, s2, sizeof s1) == 0);
    test_explain((const float(*)[2])xy, N, s1, odd);
    run("{\"fields\": [\"x\", \"y\"], \"window\": 250, \"seed\": 4}", xy, N, s3, w3);
    CHECK(memcmp(s1, s3, sizeof s1) != 0);
    /* one value far beyond the range: it scores high, and the ordinary
     * records after it are scored with the scaling their reference masses
     * learnt with, not squeezed into a corner those masses never saw
     * (every one of the next window's records scored 0.85) */
    static float v1[1601][2];
    for (size_t i = 0; i < 1601; i++)
        v1[i][0] = (float)(50 + 5 * gauss()), v1[i][1] = 0;
    v1[1000][0] = 5000;
    run("{\"fields\": [\"x\"], \"seed\": 1}", v1, 1601, s1, w1);
    size_t false_alerts = 0;
    for (size_t i = 1001; i < 1601; i++)
        false_alerts += s1[i] > 0.8f;
    printf("one value 100 sigmas out: %.3f, then %zu of 600 ordinary records over 0.8\n", s1[1000],
           false_alerts);
    CHECK(s1[1000] > 0.9f && false_alerts < 10);
    /* a constant series, then a spike: outside the cube, not at its centre
     * among every earlier point (it scored 0) */
    for (size_t i = 0; i < 300; i++)
        xy[i][0] = 5, xy[i][1] = 1;
    xy[299][0] = 1e6f;
    run("{\"fields\": [\"x\", \"y\"], \"window\": 100, \"seed\": 3}", xy, 300, s1, w1);
    printf("constant, then a spike: %.3f\n", s1[299]);
    CHECK(s1[298] == 0 && s1[299] > 0.5);
    /* explained: the mass the scorer found, exactly (0 here: every tree
     * stops it at an empty node), the spike's input first */
    static char why[300][256];
    run_explained("{\"fields\": [\"x\", \"y\"], \"window\": 100, \"seed\": 3, \"explain\": true}",
                  xy, 300, s2, w2, why);
    printf("explained: %s\n", why[299]);
    CHECK(s2[299] == 1 && strncmp(why[299], "mass 0 from ", 12) == 0);
    CHECK(strstr(why[299], ": x=1e+06 -") != NULL && strstr(why[299], " seen 5..5") != NULL);
    h_expect_prepare_error(&weir_op_hstrees, (const char *const[]){"x", NULL}, 1,
                           "{\"fields\": [\"x\"], \"depth\": 17}",
                           "test.json: operators[1].depth: expected a positive integer up to 16, "
                           "got 17");
    return check_summary();
}
