/* Tests for a trained isolation forest (weir fit --type iforest, the iforest
 * operator's "model"): the forest fit/iforest.c grows from a data set, saved
 * and loaded by the operator, scores every record as a naive recursive
 * reference forest grown from the same rows with the same draws (rows with a
 * missing feature neither learned nor scored); fit's own scores agree; the
 * same seed writes the same file, another seed another; hold and side work
 * with a model; a hand-written forest (an empty leaf included) scores as
 * written; bad, mismatched and malformed files fail with clear
 * errors, as do the online forest's options beside "model", and, with
 * "explain", trees no grower makes; a trained forest's explanation,
 * exact on a hand-written one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fit/iforest.h"
#include "operators/iforest_forest.h"
#include "operators/iforest_model.h"
#include "tests/check.h"
#include "tests/iforest_ref.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_iforest;

enum { NTRAIN = 1200, NTEST = 600, TREES = 30, SAMPLE = 64 };

static float train[NTRAIN][D], test[NTEST][D];
static char dir[] = "/tmp/weir-test-iforest-model.XXXXXX";
static char model_path[256], conf[512];

static void make_data(void)
{
    for (size_t i = 0; i < NTRAIN; i++) {
        train[i][0] = (float)(3 + gauss());
        train[i][1] = (float)(100 + 10 * gauss());
    }
    train[5][0] = NAN; /* not learned */
    train[6][1] = -INFINITY;
    for (size_t i = 0; i < NTEST; i++) {
        test[i][0] = (float)(3 + gauss());
        test[i][1] = (float)(100 + 10 * gauss());
    }
    for (size_t i = 50; i < NTEST; i += 100)
        test[i][0] = 9, test[i][1] = 160; /* isolated */
    test[7][1] = NAN;
    test[8][0] = 1e30f; /* far outside: still a path to a leaf */
}

/* Trains on train[] (every row, in order) and writes path. */
static int fit(const char *path, uint64_t seed, float *pred, size_t *used)
{
    static char *names[] = {"x", "y"};
    struct fit_data d = {.n = NTRAIN, .nf = D, .feature = names, .X = &train[0][0]};
    static size_t idx[NTRAIN];
    for (size_t i = 0; i < NTRAIN; i++)
        idx[i] = i;
    struct fit_iforest_opts o = {.trees = TREES, .sample = SAMPLE, .seed = seed};
    struct weir_error err = {0};
    double bound;
    int rc = fit_iforest_train(&d, idx, NTRAIN, &o, path, pred, used, &bound, &err);
    if (rc < 0)
        fprintf(stderr, "fit: %s\n", err.msg);
    else /* at least a leaf a tree, at most SAMPLE, paths over both inputs */
        CHECK(bound >= TREES && bound <= (double)TREES * SAMPLE * (D + 1) * (D + 1));
    return rc;
}

/* Runs rows through an iforest built from conf_json; scores out. */
static void run(const char *conf_json, const float (*xs)[D], size_t n, float *score)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "x", 0);
    h_feature(&p, "y", 0);
    CHECK(h_build(&h, &weir_op_iforest, conf_json, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        for (; k < n && b->n < b->cap; k++) {
            int i = weir_batch_push(b);
            weir_batch_row(b, (uint32_t)i)[0] = xs[k][0];
            weir_batch_row(b, (uint32_t)i)[1] = xs[k][1];
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (uint32_t j = 0; j < b->n; j++) {
            score[first + j] = weir_batch_row(b, j)[out];
            CHECK(!(b->rec[j].flags & WEIR_REC_WARMUP));
        }
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_against_reference(void)
{
    static float pred[NTRAIN], score[NTEST];
    size_t used = 0;
    CHECK(fit(model_path, 11, pred, &used) == 0);
    CHECK(used == NTRAIN - 2);
    /* the reference: the finite rows in order, the same draws */
    static float pop[NTRAIN][D];
    int n = 0;
    for (size_t i = 0; i < NTRAIN; i++)
        if (isfinite(train[i][0]) && isfinite(train[i][1]))
            memcpy(pop[n++], train[i], sizeof pop[0]);
    struct rnode *forest[TREES] = {0};
    uint64_t s = 11;
    int psi = rgrow(pop, n, SAMPLE, TREES, &s, forest);
    CHECK(psi == SAMPLE);
    run(conf, (const float(*)[D])test, NTEST, score);
    size_t off = 0, fit_off = 0, above = 0;
    double least = 1;
    for (size_t i = 50; i < NTEST; i += 100)
        least = score[i] < least ? score[i] : least;
    for (size_t i = 0; i < NTEST; i++) {
        int finite = isfinite(test[i][0]) && isfinite(test[i][1]);
        double want = finite ? rscore(forest, TREES, psi, test[i]) : 0;
        off += fabs(score[i] - want) > 1e-6;
        above += i % 100 != 50 && i != 8 && score[i] >= least;
        CHECK(score[i] >= 0 && score[i] <= 1);
    }
    for (size_t i = 0; i < NTRAIN; i++) {
        int finite = isfinite(train[i][0]) && isfinite(train[i][1]);
        fit_off += fabs(pred[i] - (finite ? rscore(forest, TREES, psi, train[i]) : 0)) > 1e-6;
    }
    printf("iforest model: isolated least %.3f, %zu ordinary above it; far point %.3f\n", least,
           above, score[8]);
    CHECK(off == 0 && fit_off == 0);
    CHECK(score[7] == 0 && score[8] > 0.6 && least > 0.7 && above * 100 < NTEST);
    for (int t = 0; t < TREES; t++)
        rfree(forest[t]);
}

static int same_file(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb, ca, cb;
    while (same && ((ca = fgetc(fa)) != EOF) | ((cb = fgetc(fb)) != EOF))
        same = ca == cb;
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

static void test_deterministic(void)
{
    static float pred[NTRAIN];
    char again[300], other[300];
    size_t used;
    snprintf(again, sizeof again, "%s/again.json", dir);
    snprintf(other, sizeof other, "%s/other.json", dir);
    CHECK(fit(again, 11, pred, &used) == 0 && fit(other, 12, pred, &used) == 0);
    CHECK(same_file(model_path, again));
    CHECK(!same_file(model_path, other));
    unlink(again);
    unlink(other);
}

/* hold and side apply to a model's scores as to the online forest's. */
static void test_hold_side(void)
{
    static float plain[NTEST], held[NTEST], up[NTEST];
    char c2[600];
    run(conf, (const float(*)[D])test, NTEST, plain);
    snprintf(c2, sizeof c2, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\", \"hold\": 20}",
             model_path);
    run(c2, (const float(*)[D])test, NTEST, held);
    snprintf(c2, sizeof c2, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\", \"side\": \"down\"}",
             model_path);
    run(c2, (const float(*)[D])test, NTEST, up);
    size_t bad = 0, kept = 0, zero = 0;
    for (size_t i = 0; i < NTEST; i++) {
        float prev = 0;
        for (size_t q = i >= 20 ? i - 20 : 0; q < i; q++)
            prev = plain[q] > prev ? plain[q] : prev;
        bad += held[i] != (plain[i] > prev ? plain[i] : 0);
        kept += held[i] > 0;
        zero += up[i] == 0;
        bad += up[i] != 0 && up[i] != plain[i];
    }
    CHECK(bad == 0 && kept > 5 && kept < NTEST / 4);
    CHECK(up[50] == 0 && zero > NTEST / 5 && zero < NTEST); /* 50: above on both */
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Expects the model file holding text to be refused with want, which
 * follows "test.json: operators[1].model: PATH: ". */
static void expect_bad_file(const char *text, const char *want)
{
    static const char *const feats[] = {"x", "y", NULL};
    char path[300], c2[600], msg[1200];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    write_text(path, text);
    snprintf(c2, sizeof c2, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\"}", path);
    snprintf(msg, sizeof msg, "test.json: operators[1].model: %s: %s", path, want);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, c2, msg);
    unlink(path);
}

static const char tree_ok[] = "{\"feature\": [0, -1, -1], \"split\": [1.5, 0, 0], "
                              "\"right\": [2, 1, 1]}";

/* A forest is written a tree at a time, as one jansson dump of the whole
 * wrote it: these bytes. */
static void test_save_bytes(void)
{
    static char *names[] = {"x", "y"};
    struct iforest_model m;
    char path[300], why[300], got[400] = "";
    CHECK(iforest_model_alloc(&m, 2, names, 2, 2) == 0);
    m.center[0] = 0.5f;
    m.center[1] = 1.0f / 3;
    for (size_t t = 0; t < 2; t++) {
        struct iforest_node *n = m.nodes + t * m.tree_nodes;
        n[0] = (struct iforest_node){t ? 0.1f : 1.5f, (uint16_t)t, 2};
        n[1] = (struct iforest_node){0, IFOREST_LEAF, 1};
        n[2] = (struct iforest_node){0, IFOREST_LEAF, 1};
    }
    snprintf(path, sizeof path, "%s/bytes.json", dir);
    CHECK(iforest_model_save(&m, path, why, sizeof why) == 0);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (f) {
        got[fread(got, 1, sizeof got - 1, f)] = 0;
        fclose(f);
    }
    CHECK_STR(got, "{\"format\":\"weir-iforest\",\"version\":1,\"features\":[\"x\",\"y\"],"
                   "\"sample\":2,\"center\":[0.5,0.333333343],\"trees\":[{\"feature\":[0,-1,-1],"
                   "\"split\":[1.5,0.0,0.0],\"right\":[2,1,1]},{\"feature\":[1,-1,-1],\"split\":"
                   "[0.100000001,0.0,0.0],\"right\":[2,1,1]}]}");
    iforest_model_free(&m);
    unlink(path);
}

static void test_bad_files(void)
{
    static const char *const feats[] = {"x", "y", "z", NULL};
    char c2[700], msg[1200];
    snprintf(c2, sizeof c2, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s/none.json\"}", dir);
    snprintf(msg, sizeof msg,
             "test.json: operators[1].model: cannot open model file %s/none.json: No such file "
             "or directory",
             dir);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, c2, msg);
    /* a FIFO is refused, not read (the load would wait for a writer) */
    snprintf(c2, sizeof c2, "%s/fifo.json", dir);
    CHECK(mkfifo(c2, 0600) == 0);
    snprintf(msg, sizeof msg,
             "test.json: operators[1].model: model file %s: expected a regular file", c2);
    char fifo_conf[700];
    snprintf(fifo_conf, sizeof fifo_conf, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\"}", c2);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, fifo_conf, msg);
    unlink(c2);
    /* fields not the model's, in its order */
    snprintf(c2, sizeof c2, "{\"fields\": [\"y\", \"x\"], \"model\": \"%s\"}", model_path);
    snprintf(msg, sizeof msg,
             "test.json: operators[1].fields: expected the model's features in its order "
             "[\"x\", \"y\"] (%s), got [\"y\", \"x\"]",
             model_path);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, c2, msg);
    snprintf(c2, sizeof c2, "{\"fields\": [\"x\", \"y\", \"z\"], \"model\": \"%s\"}", model_path);
    snprintf(msg, sizeof msg,
             "test.json: operators[1].fields: expected the model's features in its order "
             "[\"x\", \"y\"] (%s), got [\"x\", \"y\", \"z\"]",
             model_path);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, c2, msg);
    /* the online forest's options beside a model */
    snprintf(c2, sizeof c2, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\", \"window\": 100}",
             model_path);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, c2,
                           "test.json: operators[1].window: expected no \"window\" with \"model\" "
                           "(the model file fixes the forest), got one");
    expect_bad_file("{\"format\": \"weir-iforest\", ",
                    "line 1: string or '}' expected near end of file");
    expect_bad_file("{\"format\": \"weir\", \"version\": 1}",
                    "expected {\"format\": \"weir-iforest\", \"version\": 1, ...} (weir fit "
                    "--type iforest writes it)");
    const char *head = "{\"format\": \"weir-iforest\", \"version\": 1, \"features\": [\"x\", "
                       "\"y\"], \"center\": [0, 0], \"sample\": 2, \"trees\": [";
    char text[1024];
    snprintf(text, sizeof text, "%s]}", head);
    expect_bad_file(text, "expected 1 to 256 \"features\", as many \"center\" values, \"sample\" "
                          "from 1 to 4096 and 1 to 1024 \"trees\"");
    /* a child outside the tree; a feature beyond the model's; too many nodes */
    snprintf(text, sizeof text,
             "%s%s, {\"feature\": [0, -1, -1], \"split\": [1, 0, 0], "
             "\"right\": [3, 1, 1]}]}",
             head, tree_ok);
    expect_bad_file(text, "trees[1] node 0: expected a feature from -1 (a leaf) to 1, a finite "
                          "split and a right child's offset >= 2 inside the tree (a leaf: its "
                          "point count, 0 to sample), got feature 0, right 3");
    snprintf(text, sizeof text,
             "%s{\"feature\": [2, -1, -1], \"split\": [1, 0, 0], "
             "\"right\": [2, 1, 1]}]}",
             head);
    expect_bad_file(text, "trees[0] node 0: expected a feature from -1 (a leaf) to 1, a finite "
                          "split and a right child's offset >= 2 inside the tree (a leaf: its "
                          "point count, 0 to sample), got feature 2, right 2");
    snprintf(text, sizeof text,
             "%s{\"feature\": [0, -1, -1, -1], \"split\": [1, 0, 0, 0], "
             "\"right\": [2, 1, 1, 1]}]}",
             head);
    expect_bad_file(text, "trees[0]: expected \"feature\", \"split\" and \"right\" arrays of one "
                          "length from 1 to 3 (2 sample - 1), integers in \"feature\" and "
                          "\"right\"");
    /* the trees are read from the text, not jansson's tree: integers still
     * as written (not true, 1.0 or 2e0), strings refused */
    static const char *const not_integers[] = {
        "{\"feature\": [true, -1, -1], \"split\": [1, 0, 0], \"right\": [2, 1, 1]}",
        "{\"feature\": [0, -1, -1], \"split\": [1, 0, 0], \"right\": [2.0, 1, 1]}",
        "{\"feature\": [0, -1, -1], \"split\": [1, 0, 0], \"right\": [2e0, 1, 1]}",
        "{\"feature\": [0, -1, -1], \"split\": [\"1\", 0, 0], \"right\": [2, 1, 1]}",
        "{\"feature\": [0, -1, -1], \"split\": [true, 0, 0], \"right\": [2, 1, 1]}",
        "{\"feature\": [0, -1, -1], \"split\": [1, 0, 0]}"};
    for (size_t k = 0; k < sizeof not_integers / sizeof *not_integers; k++) {
        snprintf(text, sizeof text, "%s%s]}", head, not_integers[k]);
        expect_bad_file(text, "trees[0]: expected \"feature\", \"split\" and \"right\" arrays of "
                              "one length from 1 to 3 (2 sample - 1), integers in \"feature\" "
                              "and \"right\"");
    }
    /* a key given twice in a tree, as jansson refuses one elsewhere */
    snprintf(text, sizeof text,
             "%s%s, {\"feature\": [0, -1, -1], \"split\": [1, 0, 0], \"right\": [2, 1, 1], "
             "\"split\": [2, 0, 0]}]}",
             head, tree_ok);
    expect_bad_file(text, "trees[1]: \"feature\", \"split\" or \"right\" given twice");
    snprintf(text, sizeof text,
             "%s{\"feature\": [0, -1, -1], \"split\": [1e400, 0, 0], \"right\": [2, 1, 1]}]}",
             head);
    expect_bad_file(text, "trees[0] node 0: expected a feature from -1 (a leaf) to 1, a finite "
                          "split and a right child's offset >= 2 inside the tree (a leaf: its "
                          "point count, 0 to sample), got feature 0, right 2");
    /* finite as a double, infinite as the float a split is kept as */
    snprintf(text, sizeof text,
             "%s{\"feature\": [0, -1, -1], \"split\": [-1e39, 0, 0], \"right\": [2, 1, 1]}]}",
             head);
    expect_bad_file(text, "trees[0] node 0: expected a feature from -1 (a leaf) to 1, a finite "
                          "split and a right child's offset >= 2 inside the tree (a leaf: its "
                          "point count, 0 to sample), got feature 0, right 2");
    snprintf(text, sizeof text,
             "{\"format\": \"weir-iforest\", \"version\": 1, \"features\": [\"x\", \"y\"], "
             "\"center\": [0, 1e39], \"sample\": 2, \"trees\": [%s]}",
             tree_ok);
    expect_bad_file(text, "features[1]: expected a name with a number in center[1] (within a "
                          "float's range)");
    snprintf(text, sizeof text, "%s", head);
    snprintf(text + strlen(text) - 1, sizeof text - strlen(text) + 1, "{}}");
    expect_bad_file(text, "expected 1 to 256 \"features\", as many \"center\" values, \"sample\" "
                          "from 1 to 4096 and 1 to 1024 \"trees\"");
    /* a mistake after trees written over several lines (one the scanner
     * passes over, jansson not): the line in the file */
    snprintf(text, sizeof text, "%s\n%s,\n%s\n], \"x\": tru}", head, tree_ok, tree_ok);
    expect_bad_file(text, "line 4: invalid token near 'tru'");
    /* a hand-written forest of one split loads and scores as written */
    snprintf(text, sizeof text, "%s%s]}", head, tree_ok);
    snprintf(c2, sizeof c2, "%s/one.json", dir);
    write_text(c2, text);
    char c3[700];
    snprintf(c3, sizeof c3, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\"}", c2);
    static const float two[2][D] = {{1, 0}, {2, 0}};
    float s2[2];
    run(c3, two, 2, s2);
    CHECK(s2[0] == 0.5f && s2[1] == 0.5f); /* depth 1 + c(1) = 1 = c(2): 2^-1 */
    /* "trees" written with an escape: found by jansson, read the same */
    snprintf(text, sizeof text, "%s", head);
    char *key = strstr(text, "\"trees\"");
    CHECK(key != NULL);
    if (key)
        snprintf(key, sizeof text - (size_t)(key - text), "\"tr\\u0065es\": [%s]}", tree_ok);
    write_text(c2, text);
    s2[0] = s2[1] = 0;
    run(c3, two, 2, s2);
    CHECK(s2[0] == 0.5f && s2[1] == 0.5f);
    /* a split may leave a side empty: a leaf of 0 points (c(0) = 0) */
    snprintf(text, sizeof text,
             "%s{\"feature\": [0, -1, -1], \"split\": [1.5, 0, 0], "
             "\"right\": [2, 0, 2]}]}",
             head);
    write_text(c2, text);
    run(c3, two, 2, s2);
    CHECK(s2[0] == 0.5f && s2[1] == 0.25f); /* 2^-(1 + 0), 2^-(1 + c(2)) */
    /* explained, a split no point reached is refused at prepare (before:
     * each record it scored went without its text) */
    snprintf(text, sizeof text,
             "%s{\"feature\": [0, -1, -1], \"split\": [1.5, 0, 0], "
             "\"right\": [2, 0, 0]}]}",
             head);
    write_text(c2, text);
    snprintf(c3, sizeof c3, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\", \"explain\": true}",
             c2);
    snprintf(msg, sizeof msg,
             "test.json: operators[1].explain: expected trees a grower makes (at most 64 deep, no "
             "shared nodes, every split reached by a point of the sample), got others in %s",
             c2);
    h_expect_prepare_error(&weir_op_iforest, feats, 1, c3, msg);
    unlink(c2);
}

/* A trained forest explains from its layout made at prepare: the record
 * the split isolates is told by x, the other by none; the string column is
 * named after "out". Under weir features / fit (models_optional) nothing is
 * laid out at prepare; a forest that runs there all the same (upstream of
 * the model operator the chain is cut at) explains a tree at a time, alike. */
static void explain_as(const char *path, const char *out, int models_optional)
{
    char c2[700], name[64];
    snprintf(c2, sizeof c2,
             "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\", \"explain\": true, "
             "\"explain_above\": 0, \"out\": \"%s\"}",
             path, out);
    snprintf(name, sizeof name, "%s_explain", out);
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "x", 0);
    h_feature(&p, "y", 0);
    p.models_optional = models_optional;
    CHECK(h_build(&h, &weir_op_iforest, c2, &p, 1) == 0);
    int why = -1;
    for (uint32_t k = 0; k < p.schema.nstr; k++)
        if (strcmp(p.schema.str[k].name, name) == 0)
            why = (int)k;
    CHECK(why >= 0);
    struct weir_batch_pool *pool = h_pool(&p, 4);
    struct weir_batch *b = weir_batch_get(pool);
    for (int j = 0; j < 2; j++) {
        float *row = weir_batch_row(b, (uint32_t)weir_batch_push(b));
        row[0] = j ? 2.0f : 1.0f;
        row[1] = 0;
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    char buf[2][512];
    const char *lone = h_str(b, 0, why, buf[0], sizeof buf[0]);
    const char *crowd = h_str(b, 1, why, buf[1], sizeof buf[1]);
    /* expected path (1 * 1 + (1 + c(3)) * 3) / 4; x's share: the path less it */
    double c3 = iforest_c(3), expect = (1 + (1 + c3) * 3) / 4;
    char want[2][256];
    snprintf(want[0], sizeof want[0],
             "path length 1 from %.6g: x=1 %+.6g sample mean 2; the other 1 +0", expect,
             1 - expect);
    snprintf(want[1], sizeof want[1],
             "path length %.6g from %.6g: none shortened it; the other 2 %+.6g", 1 + c3, expect,
             1 + c3 - expect);
    CHECK(lone && strcmp(lone, want[0]) == 0);
    CHECK(crowd && strcmp(crowd, want[1]) == 0);
    if (lone && crowd)
        printf("iforest model explain (out %s%s): \"%s\" and \"%s\"\n", out,
               models_optional ? ", features mode" : "", lone, crowd);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_explain(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/explain.json", dir);
    /* x < 1.5: a leaf of 1 point, else one of 3 (path 1 + c(3)) */
    write_text(path, "{\"format\": \"weir-iforest\", \"version\": 1, \"features\": [\"x\", \"y\"], "
                     "\"center\": [2, 0], \"sample\": 4, \"trees\": [{\"feature\": [0, -1, -1], "
                     "\"split\": [1.5, 0, 0], \"right\": [2, 1, 3]}]}");
    explain_as(path, "anomaly_score", 0);
    explain_as(path, "iso", 0);
    explain_as(path, "anomaly_score", 1);
    unlink(path);
}

/* A file's forest of brooms, each leaf isolating one point, 64 deep over
 * 64 features: `trees` of them, a split on f0, two on f1, then four chains
 * of 62 splits on f2 ... f63 (503 nodes, 252 leaves), each path 64
 * distinct inputs. With explain its account is bounded from the trees laid
 * out (not from sample's log2, which would count these far lower and
 * accept them); fields receives the 64 names for the operator. */
static void write_brooms(const char *path, size_t trees, const char **fields)
{
    static char names[64][8];
    char chain_f[700] = "", chain_s[700] = "", chain_r[700] = "";
    size_t lf = 0, ls = 0, lr = 0;
    for (int k = 2; k < 64; k++) { /* preorder: split k, its leaf, then split k + 1 */
        lf += (size_t)snprintf(chain_f + lf, sizeof chain_f - lf, "%d, -1, ", k);
        ls += (size_t)snprintf(chain_s + ls, sizeof chain_s - ls, "0.5, 0, ");
        lr += (size_t)snprintf(chain_r + lr, sizeof chain_r - lr, "2, 1, ");
    }
    for (int k = 0; k < 64; k++) {
        snprintf(names[k], sizeof names[k], "f%d", k);
        fields[k] = names[k];
    }
    fields[64] = NULL;
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"format\": \"weir-iforest\", \"version\": 1, \"sample\": 252, \"features\": [", f);
    for (int q = 0; q < 64; q++)
        fprintf(f, "%s\"f%d\"", q ? ", " : "", q);
    fputs("], \"center\": [0", f);
    for (int q = 1; q < 64; q++)
        fputs(", 0", f);
    fputs("], \"trees\": [", f);
    /* a chain is 125 nodes, a split on f1 and its two chains 251 */
    for (size_t t = 0; t < trees; t++)
        fprintf(f,
                "%s{\"feature\": [0, 1, %s-1, %s-1, 1, %s-1, %s-1], "
                "\"split\": [0.5, 0.5, %s0, %s0, 0.5, %s0, %s0], "
                "\"right\": [252, 126, %s1, %s1, 126, %s1, %s1]}",
                t ? ", " : "", chain_f, chain_f, chain_f, chain_f, chain_s, chain_s, chain_s,
                chain_s, chain_r, chain_r, chain_r, chain_r);
    fputs("]}", f);
    fclose(f);
}

/* 1024 such trees may take 1024 × 503 × 32 steps: refused; 600 not. The
 * file lies under a long directory name: the refusal names it whole. */
static void test_explain_bound(void)
{
    const char *fields[65];
    char sub[300], path[320], c2[2200], msg[1400], deep[201];
    memset(deep, 'd', 200);
    deep[200] = '\0';
    snprintf(sub, sizeof sub, "%s/%s", dir, deep);
    CHECK(mkdir(sub, 0700) == 0);
    snprintf(path, sizeof path, "%s/brooms.json", sub);
    write_brooms(path, 1024, fields);
    size_t len = (size_t)snprintf(c2, sizeof c2, "{\"fields\": [");
    for (int q = 0; q < 64; q++)
        len += (size_t)snprintf(c2 + len, sizeof c2 - len, "%s\"f%d\"", q ? ", " : "", q);
    snprintf(c2 + len, sizeof c2 - len, "], \"model\": \"%s\", \"explain\": true}", path);
    snprintf(msg, sizeof msg,
             "test.json: operators[1].explain: expected at most 1e+07 steps to explain a "
             "record, and the 1024 trees of %s over 64 fields may take 1.6e+07 (their nodes * "
             "ceil(min(depth, fields) / 2)): a forest of fewer or smaller trees, or no explain",
             path);
    h_expect_prepare_error(&weir_op_iforest, fields, 1, c2, msg);
    write_brooms(path, 600, fields);
    h_expect_prepare_error(&weir_op_iforest, fields, 1, c2, NULL);
    unlink(path);
    rmdir(sub);
}

int main(void)
{
    rng = 7;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(model_path, sizeof model_path, "%s/model.json", dir);
    snprintf(conf, sizeof conf, "{\"fields\": [\"x\", \"y\"], \"model\": \"%s\"}", model_path);
    make_data();
    test_against_reference();
    test_deterministic();
    test_hold_side();
    test_bad_files();
    test_save_bytes();
    test_explain();
    test_explain_bound();
    unlink(model_path);
    rmdir(dir);
    return check_summary();
}
