/* weir fit's pieces (fit/): the backward pass against finite differences of
 * the loss (logistic, MLP with tanh and relu, autoencoder, class weights),
 * and the feature CSV reader on hostile input (quoted fields, CRLF, empty
 * and non-finite values, unknown labels, a wrong field count, a label out of
 * range, a column named twice, an event time that is not a number) and the
 * time-ordered split (ties in file order); a constant column's std is 1
 * whatever its value (not a rounding's spread). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fit/dataset.h"
#include "fit/dense.h"
#include "tests/check.h"

#define ROWS 16

/* Every parameter's gradient against the central difference of the loss;
 * returns how many differ by more than a float forward pass explains. */
static int gradient_misses(int task, const size_t *dims, size_t nl, int act, double pos_weight)
{
    struct fit_net net;
    CHECK(fit_net_init(&net, task, dims, nl, act, 42) == 0);
    float X[ROWS * 8], y[ROWS];
    size_t idx[ROWS];
    uint64_t s = 7;
    for (size_t k = 0; k < ROWS * dims[0]; k++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        X[k] = (float)((double)(s >> 40) / (double)(1ull << 24) * 4 - 2);
    }
    X[3] = NAN; /* imputed: z = 0 */
    for (size_t r = 0; r < ROWS; r++) {
        idx[r] = r;
        y[r] = (float)(r % 3 == 0);
    }
    for (size_t j = 0; j < dims[0]; j++) {
        net.mean[j] = 0.1f * (float)j;
        net.std[j] = 1.5f;
    }
    struct fit_train_opts o = {.pos_weight = pos_weight, .neg_weight = 1};
    size_t np;
    float *p = fit_net_params(&net, &np);
    float *grad = malloc(np * sizeof *grad);
    double loss, lp, lm;
    CHECK(fit_net_gradient(&net, X, y, idx, ROWS, &o, grad, &loss) == 0);
    float *scratch = malloc(np * sizeof *scratch);
    int misses = 0;
    for (size_t k = 0; k < np; k++) {
        const float h = 1e-2f;
        float keep = p[k];
        p[k] = keep + h;
        fit_net_gradient(&net, X, y, idx, ROWS, &o, scratch, &lp);
        p[k] = keep - h;
        fit_net_gradient(&net, X, y, idx, ROWS, &o, scratch, &lm);
        p[k] = keep;
        double num = (lp - lm) / (2 * h);
        if (fabs(num - grad[k]) > 2e-3 + 0.02 * fabs(num)) {
            if (misses++ < 3)
                fprintf(stderr, "parameter %zu: backward %.6g, finite difference %.6g\n", k,
                        grad[k], num);
        }
    }
    free(grad);
    free(scratch);
    fit_net_free(&net);
    return misses;
}

static void test_gradients(void)
{
    size_t logistic[] = {5, 1}, mlp[] = {5, 7, 4, 1}, ae[] = {6, 3, 2, 3, 6};
    CHECK(gradient_misses(FIT_CLASSIFY, logistic, 1, FIT_ACT_NONE, 1) == 0);
    CHECK(gradient_misses(FIT_CLASSIFY, logistic, 1, FIT_ACT_NONE, 7.5) == 0); /* class weight */
    CHECK(gradient_misses(FIT_CLASSIFY, mlp, 3, FIT_ACT_TANH, 3) == 0);
    CHECK(gradient_misses(FIT_RECONSTRUCT, ae, 4, FIT_ACT_TANH, 1) == 0);
    /* relu: a difference step may cross a kink; a few are allowed */
    CHECK(gradient_misses(FIT_CLASSIFY, mlp, 3, FIT_ACT_RELU, 1) <= 2);
}

static const char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/weir-test-fit-XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_reader(void)
{
    struct fit_data d;
    struct weir_error err = {0};
    const char *p = write_tmp("event_time_ms,y,a,\"b,c\"\r\n"
                              "3000,1,1.5,inf\r\n"
                              "1000,0,,-inf\r\n"
                              "2000,,2,3\r\n"
                              "1000,0.25,nan,\"4\"\r\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == 0);
    CHECK(d.n == 3 && d.nf == 2 && d.dropped == 1);
    CHECK_STR(d.nf == 2 ? d.feature[1] : "", "b,c");
    CHECK(d.n == 3 && d.X[0] == 1.5f && isinf(d.X[1]) && d.X[1] > 0);
    CHECK(d.n == 3 && isnan(d.X[2]) && isinf(d.X[3]) && d.X[3] < 0 && isnan(d.X[4]));
    CHECK(d.n == 3 && d.X[5] == 4);
    CHECK(d.n == 3 && d.y[0] == 1 && d.y[1] == 0 && d.y[2] == 0.25f);
    CHECK(d.n == 3 && d.t[0] == 3000 && d.t[1] == 1000 && d.t[2] == 1000);
    size_t ntrain, *idx = fit_data_split(&d, 0.34, &ntrain);
    CHECK(idx && ntrain == 2 && idx[0] == 1 && idx[1] == 2 && idx[2] == 0); /* tie: file order */
    free(idx);
    fit_data_free(&d);
    /* a label that only measures (iforest): the row without one is kept */
    CHECK(fit_data_read(p, NULL, "y", 1, &d, &err) == 0);
    CHECK(d.n == 4 && d.dropped == 1 && isnan(d.y[2]) && d.X[4] == 2 && d.y[3] == 0.25f);
    fit_data_free(&d);
    CHECK(fit_data_read(p, "a,zz", "y", 0, &d, &err) == -EINVAL &&
          strstr(err.msg, "no column \"zz\""));
    CHECK(fit_data_read(p, "a,y", "y", 0, &d, &err) == -EINVAL && strstr(err.msg, "the label"));
    unlink(p);
    /* every column but the label and the time: a string column is not a number */
    p = write_tmp("y,name,a\n1,\"x, \"\"quoted\"\"\",2\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == -EINVAL);
    CHECK(strstr(err.msg, ":2: column \"name\": expected a number, got \"x, \"quoted\"\"") != NULL);
    CHECK(fit_data_read(p, "a", "y", 0, &d, &err) == 0 && d.n == 1 && d.X[0] == 2);
    fit_data_free(&d);
    unlink(p);

    /* more columns than are read: refused, not cut to the first 4096 */
    static char wide[4097 * 8 + 4097 * 2 + 4];
    size_t at = 0;
    for (int k = 0; k < 4097; k++)
        at += (size_t)snprintf(wide + at, sizeof wide - at, "%sc%d", k ? "," : "", k);
    wide[at++] = '\n';
    for (int k = 0; k < 4097; k++)
        at += (size_t)snprintf(wide + at, sizeof wide - at, "%s1", k ? "," : "");
    wide[at++] = '\n';
    p = write_tmp(wide);
    CHECK(fit_data_read(p, NULL, "c4096", 0, &d, &err) == -EINVAL &&
          strstr(err.msg, "4097 columns in the header, at most 4096 read"));
    unlink(p);

    p = write_tmp("a,\xff\xfe,y\n1,2,0\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == -EINVAL &&
          strstr(err.msg, "column 2's name is not UTF-8 text"));
    /* a column the model does not name may be called anything */
    CHECK(fit_data_read(p, "a", "y", 0, &d, &err) == 0 && d.nf == 1 && d.X[0] == 1);
    fit_data_free(&d);
    unlink(p);

    p = write_tmp("a,y\n1,0\n2,1,3\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == -EINVAL);
    CHECK(strstr(err.msg, ":3: 3 fields, expected 2") != NULL);
    unlink(p);
    /* the label twice: the second copy would be trained on */
    p = write_tmp("a,y,y\n1,0,0\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == -EINVAL);
    CHECK(strstr(err.msg, "column \"y\" is in the header twice") != NULL);
    unlink(p);
    /* a time column pandas wrote as text: it was read as 2018 */
    p = write_tmp("event_time_ms,a\n2018-08-01 00:00:00,1\n");
    CHECK(fit_data_read(p, NULL, NULL, 0, &d, &err) == -EINVAL);
    CHECK(strstr(err.msg, ":2: column \"event_time_ms\": expected event time in epoch "
                          "milliseconds, got \"2018-08-01 00:00:00\"") != NULL);
    unlink(p);
    p = write_tmp("a,y\n1,2\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == -EINVAL);
    CHECK(strstr(err.msg, ":2: the label: expected a number from 0 to 1") != NULL);
    unlink(p);
    p = write_tmp("a,y\n");
    CHECK(fit_data_read(p, NULL, "y", 0, &d, &err) == -EINVAL && strstr(err.msg, "no rows"));
    unlink(p);
    p = write_tmp("");
    CHECK(fit_data_read(p, NULL, NULL, 0, &d, &err) == -EINVAL && strstr(err.msg, "header"));
    unlink(p);
    /* no time column: the split is file order */
    p = write_tmp("a\n5\n4\n3\n2\n1\n");
    CHECK(fit_data_read(p, NULL, NULL, 0, &d, &err) == 0 && d.t == NULL && d.y == NULL);
    idx = fit_data_split(&d, 0.4, &ntrain);
    CHECK(idx && ntrain == 3 && idx[3] == 3 && idx[4] == 4);
    free(idx);
    fit_data_free(&d);
    unlink(p);
}

/* A constant column's std is 1 (its z 0 in training, a served change
 * measured in its own units), for values whose one-pass variance is a
 * rounding's positive noise too; a varying column keeps its spread. */
static void test_normalise(void)
{
    enum { N = 10000 };
    static float X[N * 3];
    static size_t idx[N];
    static const float constants[] = {0.015f, 0.1f, 1e6f + 0.5f, 3.3f, 7.77e-3f};
    struct fit_net net;
    const size_t dims[] = {3, 1};
    CHECK(fit_net_init(&net, 0, dims, 1, 0, 1) == 0);
    for (size_t c = 0; c < sizeof constants / sizeof *constants; c++) {
        for (size_t r = 0; r < N; r++) {
            idx[r] = r;
            X[r * 3] = constants[c];
            X[r * 3 + 1] = (float)(r % 7);
            X[r * 3 + 2] = constants[c] * (r % 2 ? 1.001f : 1);
        }
        CHECK(fit_net_normalise(&net, X, idx, N) == 0);
        if (net.std[0] != 1)
            fprintf(stderr, "constant %g: std %g\n", constants[c], net.std[0]);
        CHECK(net.std[0] == 1 && net.mean[0] == constants[c]);
        CHECK(fabsf(net.std[1] - 2.0f) < 1e-3f); /* 0..6 evenly: sqrt(4) */
        CHECK(net.std[2] != 1 && net.std[2] > 0);
    }
    fit_net_free(&net);
}

int main(void)
{
    test_normalise();
    test_gradients();
    test_reader();
    return check_summary();
}
