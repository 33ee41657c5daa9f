/* Tests for threshold's explanations: the top features with their values
 * and expected ranges, and a fired scorer's own explanation in their place.
 * (The incident texts are test_op_threshold.c's.) */
#include <math.h>
#include <string.h>

#include "engine/opstate.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_threshold;

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_threshold, (const char *const[]){"anomaly_score", NULL}, 3,
                           json, want);
}

/* Runs the batch through h again, its alerts cleared. */
static void explain_again(struct h_op *h, struct weir_batch *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        b->rec[i].flags = 0;
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
}

static void test_explain(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "anomaly_score", 1);
    h_feature(&p, "cpu", 1);
    h_feature(&p, "cpu_lo", 1);
    h_feature(&p, "cpu_hi", 1);
    h_feature(&p, "mem", 1);
    h_feature(&p, "mem_z", 1);
    h_feature(&p, "disk", 1);
    h_feature(&p, "s_window", 1);
    h_feature(&p, "s_ewm", 1);
    CHECK(h_build(&h, &weir_op_threshold,
                  "{\"above\": 0.9, \"warmup\": 0, \"explain\": [\"disk\", \"mem\", \"cpu\"], "
                  "\"explain_k\": 2, \"scorers\": [\"s_window\", \"s_ewm\"]}",
                  &p, 3) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const float rows[2][9] = {{0.95f, 93.5f, 10, 50, 4, 2.5f, 7, 0.95f, 0.4f},
                              {0.5f, 20, 10, 50, 4, 0.1f, 7, 0.5f, 0.4f}};
    for (int r = 0; r < 2; r++) {
        int i = weir_batch_push(b);
        memcpy(weir_batch_row(b, (uint32_t)i), rows[r], sizeof rows[r]);
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    char buf[512];
    float *row0;
    CHECK(b->rec[0].flags & WEIR_REC_ALERT);
    /* cpu is (93.5-50)/40 = 1.09 ranges out; mem's |z| = 2.5 is inside
     * (|z| <= 3, as a range of 3 scales): not listed after cpu */
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_window=0.95); cpu=93.5 expected 10..50");
    CHECK(h_str(b, 1, 0, buf, sizeof buf) == NULL);
    row0 = weir_batch_row(b, 0);
    /* |z| = 9 is (9-3)/6 = 1 range width out: after cpu's 1.09 */
    row0[5] = -9;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_window=0.95); cpu=93.5 expected 10..50; mem=4 "
              "z=-9");
    /* an infinite value is the furthest out, not inside its range */
    row0[1] = INFINITY;
    row0[5] = 40;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_window=0.95); cpu=inf expected 10..50; mem=4 "
              "z=40");
    /* so it is with no range: a scorer knows none for an infinite value */
    row0[2] = row0[3] = NAN;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_window=0.95); cpu=inf; mem=4 z=40");
    row0[2] = 10, row0[3] = 50;
    /* nothing outside: the one nearest its edge is shown (mem, z 0.5 range
     * widths inside; cpu in the middle of its range), and only it */
    row0[1] = 30;
    row0[5] = 2.5f;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_window=0.95); mem=4 z=2.5");
    /* a NaN scorer has nothing to say: it did not fire, and the one that
     * did is named; with every scorer NaN, none is */
    row0[7] = NAN;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_ewm=0.4); mem=4 z=2.5");
    row0[8] = NAN;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf), "anomaly_score=0.95 >= 0.9; mem=4 z=2.5");
    /* scorers at 0 found nothing: none fired (the score came from a scorer
     * not listed); it said "fired: s_window=0, s_ewm=0" */
    row0[7] = row0[8] = 0;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf), "anomaly_score=0.95 >= 0.9; mem=4 z=2.5");
    /* a scorer above the score, where another equals it, was passed over
     * on the way (recurring silenced it): the one equal to it fired */
    row0[7] = 0.97f;
    row0[8] = 0.95f;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_ewm=0.95); mem=4 z=2.5");
    row0[7] = 0.95f;
    row0[8] = 0.4f;
    /* a record that lacks every feature (a session's result) is explained
     * by its scorer alone, not "disk=nan" */
    row0[1] = row0[4] = row0[5] = row0[6] = NAN;
    explain_again(&h, b);
    CHECK_STR(h_str(b, 0, 0, buf, sizeof buf), "anomaly_score=0.95 >= 0.9 (fired: s_window=0.95)");
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
    expect_error("{\"above\": 0.9, \"clear\": 0.5}",
                 "test.json: operators[3].clear: expected \"incidents\": true with \"clear\", "
                 "got no incidents");
    expect_error("{\"above\": 0.9, \"incidents\": true, \"clear\": 0.95}",
                 "test.json: operators[3].clear: expected clear <= above (0.9), got 0.95");
    expect_error("{\"above\": 0.9, \"explain\": [\"nope\"]}",
                 "test.json: operators[3].explain[0]: unknown feature \"nope\"; earlier "
                 "operators write \"anomaly_score\"");
}

/* A scorer's own explanation ("<scorer>_explain", as cad writes) stands in
 * place of the ranges when that scorer fired, and only then: another
 * scorer's range need not hold what it saw. Without "scorers", the score's
 * own explanation. */
/* The features anomaly_score, cpu, cpu_lo, cpu_hi, then last[0] and
 * last[1], and the string s_cad_explain (column 0). */
static void pipe_with(struct h_pipe *p, const char *const last[2])
{
    static const char *const names[] = {"anomaly_score", "cpu", "cpu_lo", "cpu_hi"};
    h_pipe_init(p);
    for (size_t k = 0; k < 6; k++)
        h_feature(p, k < 4 ? names[k] : last[k - 4], 2);
    struct weir_prepare pr = {
        .schema = &p->schema, .diag = &p->diag, .path = "operators[2]", .op_index = 2};
    CHECK(weir_schema_string_out(&pr, "s_cad_explain", "operators[2]") == 0);
}

/* Features as in test_explain_scorer. */
static void scorer_pipe(struct h_pipe *p)
{
    pipe_with(p, (const char *const[]){"s_range", "s_cad"});
}

static void test_explain_scorer(void)
{
    struct h_pipe p;
    struct h_op h;
    scorer_pipe(&p);
    CHECK(h_build(&h, &weir_op_threshold,
                  "{\"above\": 0.9, \"warmup\": 0, \"explain\": [\"cpu\"], "
                  "\"scorers\": [\"s_range\", \"s_cad\"]}",
                  &p, 3) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    /* cad fired and explains; the range scorer fired; cad fired, no text;
     * both tied (cad's text, though listed second); both tied, no text */
    const float rows[5][6] = {{1, 93.5f, 10, 100, 0.5f, 1},
                              {0.95f, 120, 10, 100, 0.95f, 0},
                              {1, 93.5f, 10, 100, 0.5f, 1},
                              {1, 93.5f, 10, 100, 1, 1},
                              {1, 120, 10, 100, 1, 1}};
    static const char cad_text[] = "cpu=93.5 in 90..95: never after 10..15";
    for (int r = 0; r < 5; r++) {
        int i = weir_batch_push(b);
        memcpy(weir_batch_row(b, (uint32_t)i), rows[r], sizeof rows[r]);
        int text = r < 2 || r == 3;
        b->S[(size_t)i * b->nstr] =
            (struct weir_str){text ? cad_text : NULL, text ? (uint32_t)strlen(cad_text) : 0};
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    char buf[512];
    CHECK_STR(h_str(b, 0, 1, buf, sizeof buf),
              "anomaly_score=1 >= 0.9 (fired: s_cad=1); cpu=93.5 in 90..95: never after 10..15");
    CHECK_STR(h_str(b, 1, 1, buf, sizeof buf),
              "anomaly_score=0.95 >= 0.9 (fired: s_range=0.95); cpu=120 expected 10..100");
    CHECK_STR(h_str(b, 2, 1, buf, sizeof buf),
              "anomaly_score=1 >= 0.9 (fired: s_cad=1); cpu=93.5 expected 10..100");
    CHECK_STR(h_str(b, 3, 1, buf, sizeof buf),
              "anomaly_score=1 >= 0.9 (fired: s_range=1, s_cad=1); "
              "cpu=93.5 in 90..95: never after 10..15");
    CHECK_STR(h_str(b, 4, 1, buf, sizeof buf),
              "anomaly_score=1 >= 0.9 (fired: s_range=1, s_cad=1); cpu=120 expected 10..100");
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
    /* no "scorers": the score's own explanation */
    scorer_pipe(&p);
    CHECK(h_build(&h, &weir_op_threshold,
                  "{\"score\": \"s_cad\", \"above\": 0.9, \"warmup\": 0, "
                  "\"explain\": [\"cpu\"]}",
                  &p, 3) == 0);
    pool = h_pool(&p, 8);
    b = weir_batch_get(pool);
    int i = weir_batch_push(b);
    memcpy(weir_batch_row(b, (uint32_t)i), rows[0], sizeof rows[0]);
    b->S[0] = (struct weir_str){cad_text, (uint32_t)strlen(cad_text)};
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    CHECK_STR(h_str(b, 0, 1, buf, sizeof buf), "s_cad=1 >= 0.9; cpu=93.5 in 90..95: never after "
                                               "10..15");
    /* an account longer than the explanation's 1023 bytes: cut after a
     * whole character (2-byte ones here after one ASCII byte, so the byte
     * at the cut is a character's second), marked */
    char long_text[1202], cut[2048];
    long_text[0] = 'x';
    for (int k = 0; k < 600; k++)
        memcpy(long_text + 1 + 2 * k, "\xc3\xa9", 2);
    b->S[0] = (struct weir_str){long_text, 1201};
    b->rec[0].flags = 0;
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    CHECK(h_str(b, 0, 1, cut, sizeof cut) != NULL);
    size_t cut_len = strlen(cut);
    CHECK(cut_len <= 1023 && cut_len > 1000 && strcmp(cut + cut_len - 3, "...") == 0);
    CHECK(strncmp(cut, "s_cad=1 >= 0.9; x\xc3\xa9", 19) == 0);
    CHECK((cut_len - 3 - strlen("s_cad=1 >= 0.9; x")) % 2 == 0); /* whole characters */
    CHECK((unsigned char)cut[cut_len - 4] == 0xa9);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A calibrated score ("s_cad_cal", calibrate's output from s_cad) has its
 * scorer's explanation: listed in "scorers", or as the score (it fell back
 * on the ranges). A name that merely begins the same, from outside its
 * lineage, is not taken for it. */
static void calibrated_pipe(struct h_pipe *p, int from_cad)
{
    pipe_with(p, (const char *const[]){"s_cad", "s_cad_cal"});
    /* s_cad_cal made from s_cad (calibrate), or from something else */
    p->schema.feat_deps[4] = weir_col_bit(4);
    p->schema.feat_deps[5] = (from_cad ? weir_col_bit(4) : 0) | weir_col_bit(5);
    p->schema.feat_deps[0] = weir_col_bit(0) | weir_col_bit(5);
}

static void test_explain_calibrated(void)
{
    struct h_pipe p;
    struct h_op h;
    calibrated_pipe(&p, 1);
    CHECK(h_build(&h, &weir_op_threshold,
                  "{\"above\": 0.9, \"warmup\": 0, \"explain\": [\"cpu\"], "
                  "\"scorers\": [\"s_cad_cal\"]}",
                  &p, 3) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const float row[6] = {1, 93.5f, 10, 100, 1, 1};
    static const char cad_text[] = "cpu=93.5 in 90..95: never after 10..15";
    int i = weir_batch_push(b);
    memcpy(weir_batch_row(b, (uint32_t)i), row, sizeof row);
    b->S[0] = (struct weir_str){cad_text, (uint32_t)strlen(cad_text)};
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    char buf[512];
    CHECK_STR(h_str(b, 0, 1, buf, sizeof buf), "anomaly_score=1 >= 0.9 (fired: s_cad_cal=1); "
                                               "cpu=93.5 in 90..95: never after 10..15");
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
    /* the same names, s_cad_cal not made from s_cad: the ranges */
    calibrated_pipe(&p, 0);
    CHECK(h_build(&h, &weir_op_threshold,
                  "{\"score\": \"s_cad_cal\", \"above\": 0.9, \"warmup\": 0, "
                  "\"explain\": [\"cpu\"]}",
                  &p, 3) == 0);
    pool = h_pool(&p, 8);
    b = weir_batch_get(pool);
    i = weir_batch_push(b);
    memcpy(weir_batch_row(b, (uint32_t)i), row, sizeof row);
    b->S[0] = (struct weir_str){cad_text, (uint32_t)strlen(cad_text)};
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    CHECK_STR(h_str(b, 0, 1, buf, sizeof buf), "s_cad_cal=1 >= 0.9; cpu=93.5 expected 10..100");
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_explain();
    test_explain_scorer();
    test_explain_calibrated();
    return check_summary();
}
