/* Benchmark: model inference kernels on one core.
 *
 * Dense: one W→W layer (bias + relu) for widths 16, 128, 512 and batches 1,
 * 16, 256, 1024, 4096 rows: weir_dense_cpu (sgemm + fused epilogue) against
 * a bare single-threaded cblas_sgemm of the same shape (no bias, no
 * activation: the machine's limit) and a naive triple loop. Outputs are
 * checked against the reference kernel first.
 *
 * int8: the same layer through the int8 path (weights and each input row
 * quantised per row), its rows/s and its worst error against fp32 as a
 * fraction of the row's largest output.
 *
 * Trees (--trees DIR, made by bench/bench_model_xgb.py): weir's tree kernel
 * against XGBoost's own predictor (inplace_predict, nthread=1) on the same
 * rows, 100 and 500 trees of depth 6; weir's predictions must match
 * XGBoost's within 1e-5 before anything is timed.
 *
 * Each timing repeats the call until 0.2 s of this thread's CPU time have
 * passed and keeps the best of 3 such rounds (CLOCK_THREAD_CPUTIME_ID: the
 * machine the results were taken on is shared, and wall-clock rates swung
 * 2x between identical runs). XGBoost's baseline is timed in the process's
 * CPU time from Python on one thread (bench_model_xgb.py, which bench/run.sh
 * runs right before this).
 *
 * Usage: bench_model [--trees DIR] [RESULT.json]   (default bench/results/model.json) */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/dense.h"
#include "models/model.h"

/* CPU time of this thread: on a shared machine the wall clock also counts
 * the time other processes had the core; the kernels run on one thread. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct shape {
    size_t w, n;
    const float *W, *b, *X;
    float *Y;
    const int8_t *Wq;
    const float *w_scale;
    int8_t *xq;
};

static void run_int8(const struct shape *s)
{
    struct weir_dense_layer L = {s->w, s->w, s->W, s->b, NULL, NULL, 0, WEIR_ACT_RELU};
    weir_dense_int8_cpu(&L, s->Wq, s->w_scale, s->X, s->w, s->n, s->Y, s->w, s->xq);
}

/* int8's worst error against fp32 (ref), as a fraction of the row's largest output. */
static double int8_error(const float *Y, const float *R, size_t n, size_t w)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        float m = 1e-6f;
        for (size_t j = 0; j < w; j++)
            m = fabsf(R[i * w + j]) > m ? fabsf(R[i * w + j]) : m;
        for (size_t j = 0; j < w; j++)
            worst = fmax(worst, fabsf(Y[i * w + j] - R[i * w + j]) / m);
    }
    return worst;
}

static void run_weir(const struct shape *s)
{
    struct weir_dense_layer L = {s->w, s->w, s->W, s->b, NULL, NULL, 0, WEIR_ACT_RELU};
    weir_dense_cpu(&L, s->X, s->w, s->n, s->Y, s->w);
}

static void run_sgemm(const struct shape *s)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)s->n, (int)s->w, (int)s->w, 1.0f,
                s->X, (int)s->w, s->W, (int)s->w, 0.0f, s->Y, (int)s->w);
}

static void run_naive(const struct shape *s)
{
    size_t w = s->w;
    for (size_t i = 0; i < s->n; i++)
        for (size_t o = 0; o < w; o++) {
            float acc = s->b[o];
            for (size_t k = 0; k < w; k++)
                acc += s->X[i * w + k] * s->W[o * w + k];
            s->Y[i * w + o] = acc > 0 ? acc : 0;
        }
}

/* Rows per second, best of 3 rounds of at least `secs` each. */
static double rate(void (*fn)(const struct shape *), const struct shape *s, double secs)
{
    double best = 0;
    for (int round = 0; round < 3; round++) {
        size_t calls = 0;
        double t0 = now(), t;
        do {
            fn(s);
            calls++;
        } while ((t = now() - t0) < secs);
        double r = (double)calls * (double)s->n / t;
        best = r > best ? r : best;
    }
    return best;
}

static int dense_table(FILE *json)
{
    static const size_t widths[] = {16, 128, 512}, batches[] = {1, 16, 256, 1024, 4096};
    printf("dense layer W->W with bias + relu, one core (rows/s)\n");
    printf("%6s %6s %12s %12s %12s %10s %10s %11s %12s %9s %9s\n", "width", "batch", "weir",
           "bare sgemm", "naive loop", "weir/sgemm", "weir/naive", "ns/row weir", "weir int8",
           "int8/fp32", "int8 err");
    fprintf(json, "  \"dense\": [\n");
    int first = 1;
    for (size_t wi = 0; wi < 3; wi++)
        for (size_t bi = 0; bi < 5; bi++) {
            size_t w = widths[wi], n = batches[bi];
            float *W = malloc(w * w * 4), *b = malloc(w * 4), *X = malloc(n * w * 4),
                  *Y = malloc(n * w * 4), *R = malloc(n * w * 4);
            srand(1);
            for (size_t i = 0; i < w * w; i++)
                W[i] = (float)rand() / RAND_MAX - 0.5f;
            for (size_t i = 0; i < w; i++)
                b[i] = (float)rand() / RAND_MAX - 0.5f;
            for (size_t i = 0; i < n * w; i++)
                X[i] = (float)rand() / RAND_MAX * 2 - 1;
            int8_t *Wq = malloc(w * w), *xq = malloc(w);
            float *sc = malloc(w * 4);
            struct shape s = {w, n, W, b, X, Y, Wq, sc, xq};
            struct weir_dense_layer L = {w, w, W, b, NULL, NULL, 0, WEIR_ACT_RELU};
            weir_dense_int8_quantize(&L, Wq, sc);
            run_weir(&s);
            weir_dense_ref(&L, X, w, n, R, w);
            for (size_t i = 0; i < n * w; i++)
                if (fabsf(Y[i] - R[i]) > 1e-3f * (1 + fabsf(R[i]))) {
                    fprintf(stderr, "bench_model: weir differs from the reference at %zu\n", i);
                    return -1;
                }
            run_int8(&s);
            double err8 = int8_error(Y, R, n, w);
            double rw = rate(run_weir, &s, 0.2), rs = rate(run_sgemm, &s, 0.2);
            double rn = rate(run_naive, &s, w * w * n > 1e7 ? 0.05 : 0.2);
            double r8 = rate(run_int8, &s, 0.2);
            printf("%6zu %6zu %12.0f %12.0f %12.0f %10.2f %10.1f %11.1f %12.0f %9.2f %9.4f\n", w,
                   n, rw, rs, rn, rw / rs, rw / rn, 1e9 / rw, r8, r8 / rw, err8);
            fprintf(json,
                    "%s    {\"width\": %zu, \"batch\": %zu, \"weir_rows_s\": %.0f, "
                    "\"sgemm_rows_s\": %.0f, \"naive_rows_s\": %.0f, \"weir_over_sgemm\": %.3f, "
                    "\"int8_rows_s\": %.0f, \"int8_worst_error\": %.5f}",
                    first ? "" : ",\n", w, n, rw, rs, rn, rw / rs, r8, err8);
            first = 0;
            free(W), free(b), free(X), free(Y), free(R), free(Wq), free(xq), free(sc);
        }
    fprintf(json, "\n  ]");
    return 0;
}

static float *read_floats(const char *path, size_t *count)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *p = malloc((size_t)size);
    if (p && fread(p, 1, (size_t)size, f) != (size_t)size) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *count = (size_t)size / 4;
    return p;
}

struct tree_run {
    const struct weir_model *m;
    const float *X;
    size_t n;
    float *out;
};

static double tree_rate(const struct tree_run *r)
{
    double best = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        for (size_t i = 0; i < r->n; i += 1024) /* as the operator runs it: 1024 rows a call */
            weir_model_predict(r->m, r->X + i * r->m->nin, r->m->nin,
                               r->n - i < 1024 ? r->n - i : 1024, r->out + i, NULL,
                               WEIR_PREDICT_FP32);
        double v = (double)r->n / (now() - t0);
        best = v > best ? v : best;
    }
    return best;
}

static int trees_table(FILE *json, const char *dir)
{
    char path[512], err[600];
    size_t nx, np;
    snprintf(path, sizeof path, "%s/rows.f32", dir);
    float *X = read_floats(path, &nx);
    snprintf(path, sizeof path, "%s/xgb.json", dir);
    FILE *f = fopen(path, "r");
    double xrate[2] = {0, 0};
    char text[512] = "";
    if (f) {
        size_t got = fread(text, 1, sizeof text - 1, f);
        text[got] = 0;
        fclose(f);
        char *p = strstr(text, "\"trees100\": ");
        xrate[0] = p ? atof(p + 12) : 0;
        p = strstr(text, "\"trees500\": ");
        xrate[1] = p ? atof(p + 12) : 0;
    }
    if (!X || !f) {
        fprintf(stderr, "bench_model: no rows in %s: run bench/bench_model_xgb.py %s first\n", dir,
                dir);
        return -1;
    }
    printf("\ntree ensembles, depth 6, 16 features, %zu rows, one core (rows/s)\n", nx / 16);
    printf("%6s %14s %14s %10s %14s\n", "trees", "weir", "xgboost", "weir/xgb", "ns/row weir");
    fprintf(json, ",\n  \"trees\": [\n");
    for (int k = 0; k < 2; k++) {
        int ntrees = k ? 500 : 100;
        struct weir_model *m;
        snprintf(path, sizeof path, "%s/trees%d.json", dir, ntrees);
        if (weir_model_load(path, &m, err, sizeof err) < 0) {
            fprintf(stderr, "bench_model: %s\n", err);
            return -1;
        }
        snprintf(path, sizeof path, "%s/pred%d.f32", dir, ntrees);
        float *want = read_floats(path, &np), *out = malloc(np * 4);
        struct tree_run r = {m, X, np, out};
        tree_rate(&r);
        for (size_t i = 0; i < np; i++)
            if (fabsf(out[i] - want[i]) > 1e-5f) {
                fprintf(stderr, "bench_model: row %zu: weir %g, xgboost %g\n", i, out[i], want[i]);
                return -1;
            }
        double rw = tree_rate(&r);
        printf("%6d %14.0f %14.0f %10.2f %14.1f\n", ntrees, rw, xrate[k], rw / xrate[k], 1e9 / rw);
        fprintf(json, "%s    {\"trees\": %d, \"depth\": 6, \"weir_rows_s\": %.0f, "
                "\"xgboost_rows_s\": %.0f, \"weir_over_xgboost\": %.3f}",
                k ? ",\n" : "", ntrees, rw, xrate[k], rw / xrate[k]);
        free(want), free(out);
        weir_model_free(m);
    }
    fprintf(json, "\n  ],\n  \"xgboost_baseline\": %s", text[0] ? text : "null");
    free(X);
    return 0;
}

int main(int argc, char **argv)
{
    const char *trees = NULL, *result = "bench/results/model.json";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--trees") == 0 && i + 1 < argc)
            trees = argv[++i];
        else
            result = argv[i];
    }
    weir_kernels_cpu_init();
    /* written beside and renamed when done: a failed check keeps the last
     * good results rather than leaving them cut short */
    char part[4096];
    snprintf(part, sizeof part, "%s.part", result);
    FILE *json = fopen(part, "w");
    if (!json) {
        perror(part);
        return 1;
    }
    const char *commit = getenv("WEIR_BENCH_COMMIT");
    fprintf(json, "{\n  \"benchmark\": \"model\", \"commit\": \"%s\",\n", commit ? commit : "");
    int rc = dense_table(json);
    if (rc == 0 && trees)
        rc = trees_table(json, trees);
    fprintf(json, "\n}\n");
    if (fclose(json) != 0 && rc == 0) {
        perror(part);
        rc = 1;
    }
    if (rc == 0 && rename(part, result) != 0) {
        perror(result);
        rc = 1;
    }
    if (rc == 0)
        printf("\nwrote %s\n", result);
    else
        unlink(part);
    return rc ? 1 : 0;
}
