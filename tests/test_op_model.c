/* Tests for the model operator through the operator harness: a hand-made
 * safetensors logistic regression with input normalisation (values worked
 * by hand), non-finite inputs dead-lettered or imputed, rows split over
 * several runs (max_records), a hand-made XGBoost tree with a missing value,
 * dead records left alone, prepare errors, and an equal operator prepared
 * again (a reload) sharing the loaded model, whose watcher loads the file
 * again when it changed (operators/model_share.c). The PyTorch and XGBoost
 * comparisons are tests/test_model_torch.sh and test_model_xgb.sh. */
#include <fcntl.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "operators/model.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_model;

static char dir[] = "/tmp/weir-op-model-XXXXXX";
static char st_path[512], xgb_path[512], st_padded_path[512];

/* logistic: p = sigmoid(1 * (a - 1) / 2 - 2 * (b - 2) / 4 + 0.5), its header
 * padded with spaces to pad_to bytes (0: none), as safetensors writers pad it;
 * layer_extra: more of the layer's members (escaped for the metadata) */
static void write_logistic(const char *path, size_t pad_to, const char *layer_extra)
{
    const float W[] = {1, -2}, b[] = {0.5f}, mean[] = {1, 2}, std[] = {2, 4};
    char arch[1024];
    snprintf(arch, sizeof arch,
             "{\\\"features\\\": [\\\"a\\\", \\\"b\\\"], "
             "\\\"layers\\\": [{\\\"weight\\\": "
             "\\\"w\\\", \\\"bias\\\": \\\"b\\\"%s}], \\\"input_mean\\\": \\\"m\\\", "
             "\\\"input_std\\\": \\\"s\\\", \\\"output\\\": \\\"probability\\\"}",
             layer_extra);
    static char header[0x8000];
    int n = snprintf(header, sizeof header,
                     "{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 2], \"data_offsets\": [0, 8]}, "
                     "\"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}, "
                     "\"m\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [12, 20]}, "
                     "\"s\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [20, 28]}, "
                     "\"__metadata__\": {\"weir\": \"%s\"}}", arch);
    while ((size_t)n < pad_to)
        header[n++] = ' ';
    FILE *f = fopen(path, "wb");
    uint64_t len = (uint64_t)n; /* little-endian host */
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, (size_t)n, f);
    fwrite(W, 4, 2, f), fwrite(b, 4, 1, f), fwrite(mean, 4, 2, f), fwrite(std, 4, 2, f);
    fclose(f);
}

static void write_models(void)
{
    snprintf(st_path, sizeof st_path, "%s/logistic.safetensors", dir);
    write_logistic(st_path, 0, "");
    /* 0x7B20 bytes: the length's first bytes read " {", which once sent the
     * file to the XGBoost JSON loader */
    snprintf(st_padded_path, sizeof st_padded_path, "%s/padded.safetensors", dir);
    write_logistic(st_padded_path, 0x7B20, "");
    /* one tree: a < 0.5 (missing: left) ? 0.25 : -0.75, base_score 0.5 (margin 0) */
    snprintf(xgb_path, sizeof xgb_path, "%s/tree.json", dir);
    FILE *f = fopen(xgb_path, "w");
    fputs("{\"learner\": {\"feature_names\": [\"a\", \"b\"], \"gradient_booster\": {\"name\": "
          "\"gbtree\", \"model\": {\"trees\": [{\"left_children\": [1, -1, -1], "
          "\"right_children\": [2, -1, -1], \"split_indices\": [0, 0, 0], \"split_conditions\": "
          "[0.5, 0.25, -0.75], \"default_left\": [1, 0, 0]}]}}, \"learner_model_param\": "
          "{\"base_score\": \"5E-1\", \"num_class\": \"0\", \"num_feature\": \"2\"}, "
          "\"objective\": {\"name\": \"binary:logistic\"}}}", f);
    fclose(f);
}

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* Runs rows (a, b) through a model operator; out[i] = y, or -1 when killed,
 * and why[i] a copy of the reason (the operator's reasons live in its conf). */
static void run(const char *conf, const float (*ab)[2], size_t n, float *out, const char **why)
{
    static char reasons[8][80];
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int a = h_feature(&p, "a", 0), b = h_feature(&p, "b", 0);
    CHECK(h_build(&h, &weir_op_model, conf, &p, 1) == 0);
    int y = weir_schema_find_feature(&p.schema, "y");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    struct weir_batch *bt = weir_batch_get(pool);
    for (size_t i = 0; i < n; i++) {
        int r = weir_batch_push(bt);
        weir_batch_row(bt, (uint32_t)r)[a] = ab[i][0];
        weir_batch_row(bt, (uint32_t)r)[b] = ab[i][1];
    }
    weir_batch_kill(bt, (uint32_t)n - 1, "dead before"); /* the last row: left alone */
    CHECK(h.type->process(&h.op, bt) == WEIR_OP_CONTINUE);
    for (size_t i = 0; i < n; i++) {
        out[i] = weir_record_live(&bt->rec[i]) ? weir_batch_row(bt, (uint32_t)i)[y] : -1;
        snprintf(reasons[i], sizeof reasons[i], "%s", bt->rec[i].reason ? bt->rec[i].reason : "");
        why[i] = reasons[i];
    }
    CHECK(isnan(weir_batch_row(bt, (uint32_t)n - 1)[y]));
    weir_batch_put(bt);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_dense(void)
{
    static const float rows[][2] = {{1, 2}, {3, 2}, {NAN, 2}, {1, INFINITY}, {-1, 6}, {0, 0}};
    float y[6];
    const char *why[6];
    char conf[1024];
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\", \"max_records\": 2}", st_path);
    run(conf, rows, 6, y, why);
    CHECK_NEAR(y[0], sigmoid(0.5), 1e-7);
    CHECK_NEAR(y[1], sigmoid(1.5), 1e-7);
    CHECK(y[2] == -1 && why[2] && strcmp(why[2], "model: feature a is not finite") == 0);
    CHECK(y[3] == -1 && why[3] && strcmp(why[3], "model: feature b is not finite") == 0);
    CHECK_NEAR(y[4], sigmoid(-1 - 2 + 0.5), 1e-7);
    CHECK(y[5] == -1 && strcmp(why[5], "dead before") == 0);

    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\"}", st_padded_path);
    run(conf, rows, 6, y, why);
    CHECK_NEAR(y[1], sigmoid(1.5), 1e-7);

    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\", \"on_nan\": \"impute\", "
             "\"features\": [\"a\", \"b\"]}", st_path);
    run(conf, rows, 6, y, why);
    CHECK_NEAR(y[2], sigmoid(0.5), 1e-7); /* a imputed with its mean 1 */
    CHECK(y[3] >= 0 && fabs(y[3] - sigmoid(0.5)) < 1e-7); /* b imputed with 2 */
}

static void test_trees(void)
{
    static const float rows[][2] = {{0, 9}, {1, NAN}, {NAN, 1}, {INFINITY, 0}, {0.5f, 0}, {0, 0}};
    float y[6];
    const char *why[6];
    char conf[1024];
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\"}", xgb_path);
    run(conf, rows, 6, y, why);
    CHECK_NEAR(y[0], sigmoid(0.25), 1e-7);
    CHECK_NEAR(y[1], sigmoid(-0.75), 1e-7);
    CHECK_NEAR(y[2], sigmoid(0.25), 1e-7); /* missing goes left */
    CHECK_NEAR(y[3], sigmoid(-0.75), 1e-7);
    CHECK_NEAR(y[4], sigmoid(-0.75), 1e-7); /* x < 0.5 is false at 0.5 */
}

static void test_errors(void)
{
    static const char *const ab[] = {"a", "b", NULL}, *const a_only[] = {"a", NULL};
    char conf[1024];
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": [\"y\", \"z\"]}", st_path);
    h_expect_prepare_error(&weir_op_model, ab, 1, conf,
                           "test.json: operators[1].out: expected 1 name (the outputs of dense "
                           "2-1, probability), got 2");
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\", \"features\": [\"b\", \"a\"]}",
             xgb_path);
    h_expect_prepare_error(&weir_op_model, ab, 1, conf,
                           "test.json: operators[1].features[1]: expected \"b\" (the model's "
                           "input 1), got \"a\"");
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\"}", st_path);
    h_expect_prepare_error(&weir_op_model, a_only, 1, conf,
                           "test.json: operators[1].features: unknown feature \"b\" (did you "
                           "mean \"a\"?)");
    snprintf(conf, sizeof conf, "{\"path\": \"%s/none\", \"out\": \"y\"}", dir);
    char want[700];
    snprintf(want, sizeof want, "test.json: operators[1].path: cannot open model file %s/none: "
             "No such file or directory", dir);
    h_expect_prepare_error(&weir_op_model, ab, 1, conf, want);
    /* an activation that is not a string is a mistake, not "none" */
    char bad_act[600];
    snprintf(bad_act, sizeof bad_act, "%s/act.safetensors", dir);
    write_logistic(bad_act, 0, ", \\\"activation\\\": 1");
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\"}", bad_act);
    snprintf(want, sizeof want,
             "test.json: operators[1].path: model file %s: layers[0].activation: expected "
             "a string (none, relu, tanh, sigmoid or gelu), got another type",
             bad_act);
    h_expect_prepare_error(&weir_op_model, ab, 1, conf, want);
    unlink(bad_act);
}

static const struct model_conf *conf_of(const struct h_op *h)
{
    return h->conf;
}

/* Prepared again with the same JSON (what a reload does): the new conf
 * serves the same cell, nothing is loaded. Other options: a load of its own.
 * A file with a new modification time: still the same cell, whose watcher
 * (started by the first worker's init) loads the file again and swaps it in,
 * so a kept instance serves it too. Each cell goes with the last conf
 * serving it, whatever the order they are freed in. */
static void test_shared(void)
{
    static const float rows[][2] = {{1, 2}, {3, 2}};
    char conf[1024], other[1024];
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\"}", st_path);
    snprintf(other, sizeof other, "{\"path\": \"%s\", \"out\": \"y\", \"max_records\": 7}",
             st_path);
    uint64_t loads0, cells0, loads, cells;
    model_share_counts(&loads0, &cells0);
    struct h_pipe p;
    struct h_op a, b, c, d;
    h_pipe_init(&p);
    int fa = h_feature(&p, "a", 0), fb = h_feature(&p, "b", 0);
    CHECK(h_build(&a, &weir_op_model, conf, &p, 1) == 0);
    CHECK(h_build(&b, &weir_op_model, conf, &p, 1) == 0);
    CHECK(h_build(&c, &weir_op_model, other, &p, 1) == 0);
    model_share_counts(&loads, &cells);
    CHECK(conf_of(&a)->cell == conf_of(&b)->cell);
    CHECK(conf_of(&a)->cell != conf_of(&c)->cell);
    CHECK(loads == loads0 + 2 && cells == cells0 + 2);
    struct timespec later[2] = {{0, UTIME_OMIT}, {time(NULL) + 5, 0}};
    CHECK(utimensat(AT_FDCWD, st_path, later, 0) == 0); /* a new file, as far as anyone knows */
    CHECK(h_build(&d, &weir_op_model, conf, &p, 1) == 0);
    model_share_counts(&loads, &cells);
    CHECK(conf_of(&d)->cell == conf_of(&a)->cell);
    CHECK(loads == loads0 + 2 && cells == cells0 + 2);
    struct weir_model_cell *cell = conf_of(&a)->cell;
    for (int i = 0; i < 500 && weir_model_cell_generation(cell) == 1; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL); /* the watcher's load */
    CHECK(weir_model_cell_generation(cell) == 2);
    CHECK(atomic_load(&cell->swaps) == 1);
    h_free(&a); /* b and d serve a's cell on */
    model_share_counts(&loads, &cells);
    CHECK(cells == cells0 + 2);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    struct weir_batch *bt = weir_batch_get(pool);
    int ycol = conf_of(&b)->out_col[0];
    weir_batch_row(bt, (uint32_t)weir_batch_push(bt))[fa] = 1;
    weir_batch_row(bt, 0)[fb] = 2;
    CHECK(b.type->process(&b.op, bt) == WEIR_OP_CONTINUE);
    CHECK_NEAR(weir_batch_row(bt, 0)[ycol], 1 / (1 + exp(-0.5)), 1e-6);
    weir_batch_put(bt);
    weir_batch_pool_free(pool);
    float y[2];
    const char *why[2];
    h_free(&b);
    h_free(&c);
    h_free(&d);
    model_share_counts(&loads, &cells);
    CHECK(cells == cells0);
    h_pipe_free(&p);
    run(conf, rows, 2, y, why); /* loads anew: nothing shares a freed cell */
    CHECK_NEAR(y[0], 1 / (1 + exp(-0.5)), 1e-6);
    model_share_counts(&loads, &cells);
    CHECK(loads == loads0 + 3 && cells == cells0);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    write_models();
    test_dense();
    test_trees();
    test_errors();
    test_shared();
    unlink(st_path);
    unlink(xgb_path);
    unlink(st_padded_path);
    rmdir(dir);
    return check_summary();
}
