/* Tests for the scale operator: standard and min-max parameters from the
 * pipeline and from a file (resolved against the pipeline file's
 * directory), against a reference computed here with NaN and ±Inf, and the
 * errors: a missing file named by its resolved path, bad parameters. */
#include "tests/check.h"
#include "tests/op_harness.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>

extern const struct weir_operator_type weir_op_scale;

static void check_values(struct h_pipe *p, struct h_op *h)
{
    int a = weir_schema_find_feature(&p->schema, "a");
    int b_in = weir_schema_find_feature(&p->schema, "b");
    int ao = weir_schema_find_feature(&p->schema, "a_s");
    int bo = weir_schema_find_feature(&p->schema, "b_s");
    CHECK(ao >= 0 && bo >= 0);
    struct weir_batch_pool *pool = h_pool(p, 300);
    struct weir_batch *b = weir_batch_get(pool);
    const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, 53.5f};
    unsigned seed = 11;
    for (uint32_t i = 0; i < b->cap; i++) {
        int k = h_push_value(
            b, a, i % 6 == 0 ? specials[i / 6 % 5] : (float)(rand_r(&seed) % 100000) / 100.0f);
        weir_batch_row(b, (uint32_t)k)[b_in] =
            i % 7 == 0 ? specials[i / 7 % 5] : (float)(rand_r(&seed) % 24);
    }
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
    size_t wrong = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const float *row = weir_batch_row(b, i);
        float wa = (float)(((double)row[a] - 53.5) / 41.25);
        float wb = (float)(((double)row[b_in] - 0) / (23.0 - 0));
        int ok = ((isnan(wa) && isnan(row[ao])) || wa == row[ao]) &&
                 ((isnan(wb) && isnan(row[bo])) || wb == row[bo]);
        if (!ok && wrong++ < 3)
            fprintf(stderr, "a %g b %g: got %g %g, want %g %g\n", row[a], row[b_in], row[ao],
                    row[bo], wa, wb);
    }
    CHECK(wrong == 0);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
}

static const char *const PARAMS =
    "{\"a\": {\"mean\": 53.5, \"std\": 41.25}, \"b\": {\"min\": 0, \"max\": 23}}";

static void run(const char *json, const char *pipeline_file)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    if (pipeline_file)
        p.diag.file = pipeline_file;
    h_feature(&p, "a", 0);
    h_feature(&p, "b", 0);
    CHECK(h_build(&h, &weir_op_scale, json, &p, 1) == 0);
    if (p.diag.n)
        fprintf(stderr, "%s\n", h_last_diag(&p));
    check_values(&p, &h);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *file, const char *want)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    p.diag.file = file;
    h_feature(&p, "a", 0);
    CHECK(h_prepare(&h, &weir_op_scale, json, &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), want);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    char json[512];
    snprintf(json, sizeof json, "{\"fields\": %s, \"suffix\": \"_s\"}", PARAMS);
    run(json, NULL);

    /* The file sits beside a pretend pipeline file in a temporary directory. */
    char dir[] = "/tmp/weir-test-scale.XXXXXX", path[300], pipe[300];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/scaler.json", dir);
    snprintf(pipe, sizeof pipe, "%s/fraud.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(PARAMS, f);
        fclose(f);
    }
    run("{\"file\": \"scaler.json\", \"suffix\": \"_s\"}", pipe);
    snprintf(json, sizeof json, "{\"file\": \"%s\", \"suffix\": \"_s\"}", path); /* absolute */
    run(json, "elsewhere/p.json");

    char want[600];
    snprintf(want, sizeof want,
             "%s/fraud.json: operators[1].file: cannot read \"%s/nope.json\" (resolved against "
             "the pipeline file's directory): No such file or directory",
             dir, dir);
    expect_error("{\"file\": \"nope.json\"}", pipe, want);
    expect_error("{\"file\": \"x.json\", \"fields\": {}}", "p.json",
                 "p.json: operators[1]: expected exactly one of \"fields\" or \"file\", got both");
    expect_error(
        "{}", "p.json",
        "p.json: operators[1]: expected exactly one of \"fields\" or \"file\", got neither");
    expect_error("{\"fields\": {\"a\": {\"mean\": 1, \"std\": 0}}}", "p.json",
                 "p.json: operators[1].fields.a: expected std > 0, got 0");
    expect_error("{\"fields\": {\"a\": {\"mean\": 1, \"std\": 1e-300}}}", "p.json",
                 "p.json: operators[1].fields.a: expected a std of at least 3e-39 (1 / it a "
                 "float), got 1e-300");
    expect_error("{\"fields\": {\"a\": {\"mean\": 1e39, \"std\": 1}}}", "p.json",
                 "p.json: operators[1].fields.a: expected a mean of magnitude at most 3.4e38 "
                 "(features are 32-bit floats), got 1e+39");
    expect_error("{\"fields\": {\"a\": {\"min\": 1, \"max\": 1}}}", "p.json",
                 "p.json: operators[1].fields.a: expected max > min, got a range of 0");
    expect_error("{\"fields\": {\"a\": {\"mean\": 1}}}", "p.json",
                 "p.json: operators[1].fields.a: expected {\"mean\": number, \"std\": number} or "
                 "{\"min\": number, \"max\": number}, got other keys");
    f = fopen(path, "w");
    if (f) {
        fputs("{\"a\": {\"min\": 0, \"max\": -1}}", f);
        fclose(f);
    }
    snprintf(want, sizeof want,
             "%s/fraud.json: operators[1].file (\"%s/scaler.json\": a): expected max > min, got a "
             "range of -1",
             dir, dir);
    expect_error("{\"file\": \"scaler.json\"}", pipe, want);
    f = fopen(path, "w"); /* a feature named twice: refused, as in a pipeline */
    if (f) {
        fputs("{\"a\": {\"min\": 0, \"max\": 1},\n \"a\": {\"min\": 0, \"max\": 2}}", f);
        fclose(f);
    }
    snprintf(want, sizeof want,
             "%s/fraud.json: operators[1].file: \"%s/scaler.json\": line 2: duplicate object key "
             "near '\"a\"'",
             dir, dir);
    expect_error("{\"file\": \"scaler.json\"}", pipe, want);
    unlink(path);
    rmdir(dir);
    return check_summary();
}
