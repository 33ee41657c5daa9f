/* The CUDA back end's speed (needs a GPU; without one it says so and
 * measures nothing).
 *
 * Exit 77 without a GPU (bench/run.sh reports it as skipped).
 *
 * Dense: rows/s of one layer (bias + relu) for 128→128 and 512→512 at
 * batches of 256, 4096 and 65536, end to end from pinned host memory: copy
 * in, the layer, copy out, queued back to back on one stream and timed to
 * the last completion. The baseline is a bare cuBLAS sgemm with the same
 * pinned copies (no bias, no activation), when libcublas can be opened at
 * run time (it is dlopen'ed: the toolkit weir is built with may lack it);
 * the two outputs are also compared (without bias/activation on ours).
 * Compute-only rates (no copies) are printed alongside.
 * Trees: 500 random trees of depth 6 over 30 features, 65536 rows, GPU end
 * to end (copies included) against the CPU kernel on one core.
 *
 * Usage: bench_cuda [RESULT.json]   (default bench/results/cuda.json) */
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cuda/cuda.h"

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Calls that failed: a failed launch or copy would otherwise time as a very
 * fast one, and the results are not written when any did. */
static int failed_calls;
#define CU(call) (failed_calls += (call) != 0)

static uint64_t rng = 88172645463325252ull;
static float urand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

/* cuBLAS, opened at run time. */
typedef int (*create_fn)(void **);
typedef int (*set_stream_fn)(void *, void *);
typedef int (*sgemm_fn)(void *, int, int, int, int, int, const float *, const float *, int,
                        const float *, int, const float *, float *, int);
static struct {
    void *handle;
    set_stream_fn set_stream;
    sgemm_fn sgemm;
} cublas;

static int open_cublas(void)
{
    static const char *const names[] = {"libcublas.so", "libcublas.so.13", "libcublas.so.12"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        void *lib = dlopen(names[i], RTLD_NOW);
        if (!lib)
            continue;
        create_fn create = (create_fn)dlsym(lib, "cublasCreate_v2");
        cublas.set_stream = (set_stream_fn)dlsym(lib, "cublasSetStream_v2");
        cublas.sgemm = (sgemm_fn)dlsym(lib, "cublasSgemm_v2");
        if (create && cublas.set_stream && cublas.sgemm && create(&cublas.handle) == 0)
            return 0;
    }
    return -1;
}

/* Y (n × out, row-major) = X (n × in) · Wᵀ, W (out × in): in cuBLAS's
 * column-major terms Yᵀ = Wᵀᵀ · Xᵀ. */
static int cublas_layer(const float *W, const float *X, float *Y, int n, int in, int out,
                        weir_cuda_stream *s)
{
    const float one = 1, zero = 0;
    cublas.set_stream(cublas.handle, s);
    return cublas.sgemm(cublas.handle, 1 /* T */, 0 /* N */, out, n, in, &one, W, in, X, in,
                        &zero, Y, out);
}

struct dense_case {
    int in, out, batch;
    double weir_rows, cublas_rows, weir_compute_rows, cublas_compute_rows, max_diff;
};

static float *device_random(size_t n, float scale)
{
    float *h = malloc(n * 4), *d = weir_cuda_malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        h[i] = urand() * scale;
    CU(weir_cuda_upload(d, h, n * 4));
    free(h);
    return d;
}

/* Rows/s of reps runs of (copy in?, layer, copy out?) on stream s. */
static double time_dense(int use_cublas, int copies, const struct weir_dense_layer *L,
                         float *hx, float *hy, float *dx, float *dy, int n, weir_cuda_stream *s)
{
    int reps = (int)(4e6 / n) + 3;
    double t0 = 0;
    for (int r = -2; r < reps; r++) { /* two warm-up runs */
        if (r == 0) {
            CU(weir_cuda_stream_sync(s));
            t0 = wall();
        }
        if (copies)
            CU(weir_cuda_copy_in(dx, hx, (size_t)n * L->in * 4, s));
        if (use_cublas)
            CU(cublas_layer(L->W, dx, dy, n, (int)L->in, (int)L->out, s));
        else
            CU(weir_dense_cuda(L, dx, L->in, (size_t)n, dy, L->out, s));
        if (copies)
            CU(weir_cuda_copy_out(hy, dy, (size_t)n * L->out * 4, s));
    }
    CU(weir_cuda_stream_sync(s));
    return (double)n * reps / (wall() - t0);
}

static void bench_dense(struct dense_case *c, weir_cuda_stream *s, int have_cublas)
{
    size_t n = (size_t)c->batch;
    struct weir_dense_layer L = {(size_t)c->in, (size_t)c->out, NULL, NULL, NULL, NULL, 0,
                                 WEIR_ACT_RELU};
    L.W = device_random(L.in * L.out, 0.1f);
    L.b = device_random(L.out, 0.1f);
    float *hx = weir_cuda_host_alloc(n * L.in * 4), *hy = weir_cuda_host_alloc(n * L.out * 4);
    float *dx = weir_cuda_malloc(n * L.in * 4), *dy = weir_cuda_malloc(n * L.out * 4);
    for (size_t i = 0; i < n * L.in; i++)
        hx[i] = urand();
    c->weir_rows = time_dense(0, 1, &L, hx, hy, dx, dy, c->batch, s);
    c->weir_compute_rows = time_dense(0, 0, &L, hx, hy, dx, dy, c->batch, s);
    c->max_diff = NAN;
    if (have_cublas) {
        c->cublas_rows = time_dense(1, 1, &L, hx, hy, dx, dy, c->batch, s);
        c->cublas_compute_rows = time_dense(1, 0, &L, hx, hy, dx, dy, c->batch, s);
        /* the same product both ways (no bias, no activation) */
        float *ours = malloc(n * L.out * 4);
        struct weir_dense_layer P = L;
        P.b = NULL;
        P.act = WEIR_ACT_NONE;
        CU(weir_cuda_copy_in(dx, hx, n * L.in * 4, s));
        CU(weir_dense_cuda(&P, dx, L.in, n, dy, L.out, s));
        CU(weir_cuda_copy_out(ours, dy, n * L.out * 4, s));
        CU(cublas_layer(L.W, dx, dy, c->batch, c->in, c->out, s));
        CU(weir_cuda_copy_out(hy, dy, n * L.out * 4, s));
        CU(weir_cuda_stream_sync(s));
        double d = 0;
        for (size_t i = 0; i < n * L.out; i++)
            d = fmax(d, fabs((double)ours[i] - hy[i]) / fmax(fabs(hy[i]), 1e-3));
        c->max_diff = d;
        free(ours);
    }
    weir_cuda_free((void *)L.W), weir_cuda_free((void *)L.b);
    weir_cuda_free(dx), weir_cuda_free(dy);
    weir_cuda_host_free(hx), weir_cuda_host_free(hy);
}

/* 500 full-ish random trees of depth 6 (children as pairs). */
static uint32_t grow(struct weir_tree_node *node, float *leaf, uint32_t idx, uint32_t *next,
                     int depth, size_t nfeat)
{
    if (depth == 0 || urand() > 0.9f) {
        node[idx] = weir_tree_leaf(idx);
        leaf[idx] = urand() * 0.1f;
        return 0;
    }
    uint32_t left = *next;
    *next += 2;
    node[idx] = (struct weir_tree_node){urand(), (uint32_t)((urand() + 1) * 0.5f * (float)nfeat) %
                                                     (uint32_t)nfeat |
                                                     WEIR_TREE_DEFAULT_LEFT,
                                        left};
    uint32_t a = grow(node, leaf, left, next, depth - 1, nfeat);
    uint32_t b = grow(node, leaf, left + 1, next, depth - 1, nfeat);
    return 1 + (a > b ? a : b);
}

struct trees_case {
    double gpu_rows, cpu_rows, max_diff;
};

static void bench_trees(struct trees_case *c, weir_cuda_stream *s)
{
    size_t ntrees = 500, nfeat = 30, n = 65536, cap = ntrees * 128;
    struct weir_tree_node *node = calloc(cap, sizeof *node);
    float *leaf = calloc(cap, 4);
    uint32_t *root = calloc(ntrees, 4), *depth = calloc(ntrees, 4), next = 0;
    for (size_t k = 0; k < ntrees; k++) {
        root[k] = next++;
        depth[k] = grow(node, leaf, root[k], &next, 6, nfeat);
    }
    struct weir_trees t = {ntrees, next, nfeat, root, depth, node, leaf, NULL, NULL, 0, 0};
    float *hx = weir_cuda_host_alloc(n * nfeat * 4), *hy = weir_cuda_host_alloc(n * 4);
    float *cpu = malloc(n * 4);
    for (size_t i = 0; i < n * nfeat; i++)
        hx[i] = urand();
    struct weir_trees d = t;
    void *droot = weir_cuda_malloc(ntrees * 4), *ddepth = weir_cuda_malloc(ntrees * 4);
    void *dnode = weir_cuda_malloc(next * sizeof *node), *dleaf = weir_cuda_malloc(next * 4);
    CU(weir_cuda_upload(droot, root, ntrees * 4));
    CU(weir_cuda_upload(ddepth, depth, ntrees * 4));
    CU(weir_cuda_upload(dnode, node, next * sizeof *node));
    CU(weir_cuda_upload(dleaf, leaf, next * 4));
    d.root = droot, d.depth = ddepth, d.node = dnode, d.leaf = dleaf;
    float *dx = weir_cuda_malloc(n * nfeat * 4), *dy = weir_cuda_malloc(n * 4);
    int reps = 20;
    double t0 = 0;
    for (int r = -2; r < reps; r++) {
        if (r == 0) {
            CU(weir_cuda_stream_sync(s));
            t0 = wall();
        }
        CU(weir_cuda_copy_in(dx, hx, n * nfeat * 4, s));
        CU(weir_cuda_fill(dy, n, 0, s));
        CU(weir_trees_cuda(&d, dx, nfeat, n, dy, s));
        CU(weir_cuda_copy_out(hy, dy, n * 4, s));
    }
    CU(weir_cuda_stream_sync(s));
    c->gpu_rows = (double)n * reps / (wall() - t0);
    /* the CPU kernel on one core, over the first rows: warmed up, best of 5
     * (as the GPU's runs are warmed up and repeated) */
    size_t cn = 8192;
    c->cpu_rows = 0;
    for (int r = -1; r < 5; r++) {
        memset(cpu, 0, n * 4);
        t0 = wall();
        weir_trees_cpu(&t, hx, nfeat, cn, cpu);
        double rate = (double)cn / (wall() - t0);
        c->cpu_rows = r >= 0 && rate > c->cpu_rows ? rate : c->cpu_rows;
    }
    c->max_diff = 0;
    for (size_t i = 0; i < cn; i++)
        c->max_diff = fmax(c->max_diff, fabs((double)cpu[i] - hy[i]));
    weir_cuda_free(droot), weir_cuda_free(ddepth), weir_cuda_free(dnode), weir_cuda_free(dleaf);
    weir_cuda_free(dx), weir_cuda_free(dy);
    weir_cuda_host_free(hx), weir_cuda_host_free(hy);
    free(node), free(leaf), free(root), free(depth), free(cpu);
}

int main(int argc, char **argv)
{
    const char *result = argc > 1 ? argv[1] : "bench/results/cuda.json";
    char why[256];
    if (weir_cuda_available(why, sizeof why) <= 0) {
        printf("bench_cuda: nothing measured: %s\n", why);
        return 77; /* bench/run.sh: skipped */
    }
    weir_cuda_stream *s = weir_cuda_stream_new();
    int have_cublas = open_cublas() == 0;
    if (!have_cublas)
        printf("cuBLAS could not be opened (libcublas.so*): no baseline\n");
    static const int shapes[][3] = {{128, 128, 256}, {128, 128, 4096}, {128, 128, 65536},
                                    {512, 512, 256}, {512, 512, 4096}, {512, 512, 65536}};
    enum { NCASES = sizeof shapes / sizeof *shapes };
    struct dense_case cases[NCASES];
    size_t ncases = NCASES;
    memset(cases, 0, sizeof cases);
    for (size_t i = 0; i < ncases; i++)
        cases[i].in = shapes[i][0], cases[i].out = shapes[i][1], cases[i].batch = shapes[i][2];
    printf("%-9s %6s | %13s %13s %6s | %14s %14s | %s\n", "layer", "batch", "weir rows/s",
           "cuBLAS rows/s", "ratio", "weir compute", "cuBLAS compute", "max rel diff");
    for (size_t i = 0; i < ncases; i++) {
        struct dense_case *c = &cases[i];
        bench_dense(c, s, have_cublas);
        printf("%4d→%-4d %6d | %13.4g %13.4g %6.2f | %14.4g %14.4g | %.2g\n", c->in, c->out,
               c->batch, c->weir_rows, c->cublas_rows,
               c->cublas_rows > 0 ? c->weir_rows / c->cublas_rows : NAN, c->weir_compute_rows,
               c->cublas_compute_rows, c->max_diff);
    }
    struct trees_case tc;
    bench_trees(&tc, s);
    printf("trees 500 × depth 6, 30 features: GPU %.4g rows/s (copies included), CPU kernel "
           "(one core) %.4g rows/s, ratio %.1f, max |diff| %.2g\n",
           tc.gpu_rows, tc.cpu_rows, tc.gpu_rows / tc.cpu_rows, tc.max_diff);
    /* wrong answers are not results: nothing is written */
    int wrong = !(tc.max_diff <= 1e-4);
    for (size_t i = 0; i < ncases; i++)
        wrong += !isnan(cases[i].max_diff) && !(cases[i].max_diff <= 1e-3);
    if (failed_calls || wrong) {
        fprintf(stderr,
                "bench_cuda: %d CUDA call(s) failed, %d case(s) disagree with the baseline "
                "(dense: relative 1e-3 against cuBLAS; trees: 1e-4 against the CPU): nothing "
                "written\n",
                failed_calls, wrong);
        weir_cuda_stream_free(s);
        return 1;
    }
    FILE *f = fopen(result, "w");
    if (f) {
        fprintf(f, "{\"dense\": [");
        for (size_t i = 0; i < ncases; i++) {
            const struct dense_case *c = &cases[i];
            fprintf(f, "%s\n {\"in\": %d, \"out\": %d, \"batch\": %d, \"weir_rows_per_s\": %.6g, "
                       "\"cublas_rows_per_s\": %.6g, \"weir_compute_rows_per_s\": %.6g, "
                       "\"cublas_compute_rows_per_s\": %.6g, \"max_rel_diff\": %.6g}",
                    i ? "," : "", c->in, c->out, c->batch, c->weir_rows, c->cublas_rows,
                    c->weir_compute_rows, c->cublas_compute_rows,
                    isnan(c->max_diff) ? -1.0 : c->max_diff);
        }
        fprintf(f, "],\n \"trees\": {\"ntrees\": 500, \"depth\": 6, \"features\": 30, "
                   "\"gpu_rows_per_s\": %.6g, \"cpu_rows_per_s\": %.6g, \"max_abs_diff\": %.6g},\n"
                   " \"cublas\": %s}\n",
                tc.gpu_rows, tc.cpu_rows, tc.max_diff, have_cublas ? "true" : "false");
        fclose(f);
        printf("written: %s\n", result);
    }
    weir_cuda_stream_free(s);
    return 0;
}
