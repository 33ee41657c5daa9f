/* The CUDA back end (kernels/cuda/, models/gpu.c, the model operator's
 * "device").
 *
 * Without a GPU (this machine, CI): the back end says why there is none,
 * "device": "cuda" is an error at prepare naming the reason, "int8" with
 * "cuda" is an error, and `weir run` with "device": "auto" says so in one
 * line on stderr and writes exactly what "device": "cpu" writes. Then it
 * prints that the GPU tests are skipped and exits 77. With weir_hostcuda
 * (WEIR_HOSTCUDA: the CUDA API on the host) a CUDA error is injected on the
 * third slot: the records of the slots it reaches are dead-lettered with
 * the error, one line says the model moved to the CPU, the rest are scored
 * as on the CPU, in order.
 *
 * With a GPU: the dense kernel against the CPU kernel on random layers
 * (every activation, with and without bias and layer norm, odd shapes),
 * within 1e-5 relative; the tree kernel against the CPU kernel on random
 * ensembles with NaN inputs, within 1e-5 absolute; and `weir run` with
 * "device": "cuda" against "device": "cpu" on the same models and inputs;
 * a network and random trees over the ULB fraud features (5,000 rows) when
 * the shared data is found.
 * Hot reload on the GPU: scripts/gpu_check.sh runs test_model_reload.sh with
 * WEIR_MODEL_DEVICE=cuda. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernels/cuda/cuda.h"
#include "models/gpu.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_model;

#define NFEAT 8
#define NROWS 3000

static char dir[] = "/tmp/weir-cuda-XXXXXX";
static char dense_path[600], tree_path[600], input_path[600];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float urand(void) /* [-1, 1) */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

/* ---- model files ------------------------------------------------------- */

struct tensor {
    const char *name;
    size_t rows, cols; /* cols 0: a vector */
    float *v;
};

static void write_safetensors(const char *path, const struct tensor *t, size_t n, const char *arch)
{
    char header[8192];
    size_t off = 0;
    int w = snprintf(header, sizeof header, "{");
    for (size_t i = 0; i < n; i++) {
        size_t count = t[i].rows * (t[i].cols ? t[i].cols : 1);
        char shape[64];
        if (t[i].cols)
            snprintf(shape, sizeof shape, "[%zu, %zu]", t[i].rows, t[i].cols);
        else
            snprintf(shape, sizeof shape, "[%zu]", t[i].rows);
        w += snprintf(header + w, sizeof header - (size_t)w,
                      "\"%s\": {\"dtype\": \"F32\", \"shape\": %s, \"data_offsets\": [%zu, %zu]}, ",
                      t[i].name, shape, off, off + count * 4);
        off += count * 4;
    }
    w += snprintf(header + w, sizeof header - (size_t)w, "\"__metadata__\": {\"weir\": \"");
    for (const char *p = arch; *p; p++) { /* arch is JSON inside a JSON string */
        if (*p == '"')
            header[w++] = '\\';
        header[w++] = *p;
    }
    w += snprintf(header + w, sizeof header - (size_t)w, "\"}}");
    FILE *f = fopen(path, "wb");
    uint64_t len = (uint64_t)w;
    fwrite(&len, 8, 1, f);
    fwrite(header, 1, (size_t)w, f);
    for (size_t i = 0; i < n; i++)
        fwrite(t[i].v, 4, t[i].rows * (t[i].cols ? t[i].cols : 1), f);
    fclose(f);
}

static float *randv(size_t n, float scale, float shift)
{
    float *v = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        v[i] = urand() * scale + shift;
    return v;
}

/* 8 → 32 (relu) → 16 (layer norm, gelu) → 1, probability, normalised inputs. */
static void write_dense(void)
{
    struct tensor t[] = {
        {"m", NFEAT, 0, randv(NFEAT, 0.2f, 0)},  {"s", NFEAT, 0, randv(NFEAT, 0.2f, 1)},
        {"w0", 32, NFEAT, randv(32 * NFEAT, 0.5f, 0)}, {"b0", 32, 0, randv(32, 0.1f, 0)},
        {"w1", 16, 32, randv(16 * 32, 0.3f, 0)},  {"b1", 16, 0, randv(16, 0.1f, 0)},
        {"g1", 16, 0, randv(16, 0.2f, 1)},        {"e1", 16, 0, randv(16, 0.1f, 0)},
        {"w2", 1, 16, randv(16, 0.5f, 0)},        {"b2", 1, 0, randv(1, 0.1f, 0)},
    };
    const char *arch =
        "{\"features\": [\"f0\", \"f1\", \"f2\", \"f3\", \"f4\", \"f5\", \"f6\", \"f7\"], "
        "\"input_mean\": \"m\", \"input_std\": \"s\", \"output\": \"probability\", \"layers\": ["
        "{\"weight\": \"w0\", \"bias\": \"b0\", \"activation\": \"relu\"}, "
        "{\"weight\": \"w1\", \"bias\": \"b1\", \"activation\": \"gelu\", "
        "\"norm\": {\"weight\": \"g1\", \"bias\": \"e1\", \"eps\": 1e-5}}, "
        "{\"weight\": \"w2\", \"bias\": \"b2\", \"activation\": \"none\"}]}";
    snprintf(dense_path, sizeof dense_path, "%s/dense.safetensors", dir);
    write_safetensors(dense_path, t, sizeof t / sizeof *t, arch);
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        free(t[i].v);
}

/* One XGBoost tree: f0 < 0.1 (missing left) ? (f3 < -0.2 ? 0.3 : -0.4) : 0.7 */
static void write_tree(void)
{
    snprintf(tree_path, sizeof tree_path, "%s/tree.json", dir);
    FILE *f = fopen(tree_path, "w");
    fputs("{\"learner\": {\"feature_names\": [\"f0\", \"f1\", \"f2\", \"f3\", \"f4\", \"f5\", "
          "\"f6\", \"f7\"], \"gradient_booster\": {\"name\": \"gbtree\", \"model\": {\"trees\": "
          "[{\"left_children\": [1, 3, -1, -1, -1], \"right_children\": [2, 4, -1, -1, -1], "
          "\"split_indices\": [0, 3, 0, 0, 0], \"split_conditions\": [0.1, -0.2, 0.7, 0.3, -0.4], "
          "\"default_left\": [1, 0, 0, 0, 0]}]}}, \"learner_model_param\": {\"base_score\": "
          "\"5E-1\", \"num_class\": \"0\", \"num_feature\": \"8\"}, \"objective\": {\"name\": "
          "\"binary:logistic\"}}}", f);
    fclose(f);
}

static void write_input(void)
{
    snprintf(input_path, sizeof input_path, "%s/input.jsonl", dir);
    FILE *f = fopen(input_path, "w");
    for (int i = 0; i < NROWS; i++) {
        fprintf(f, "{\"id\": %d", i);
        for (int j = 0; j < NFEAT; j++) {
            if ((i * 7 + j) % 97 == 0)
                continue; /* missing: NaN, dead-lettered by the dense model */
            fprintf(f, ", \"f%d\": %.6f", j, urand() * 3);
        }
        fputs("}\n", f);
    }
    fclose(f);
}

/* ---- weir run ------------------------------------------------------------ */

static const char *bin_override; /* weir_hostcuda, for the injected error */

/* Runs a pipeline with the model at path on device; returns weir's exit
 * status. Outputs in dir/<tag>.out.jsonl, stderr in dir/<tag>.err. */
static int weir_run_with(const char *tag, const char *path, const char *device, const char *verb,
                         const char *extra, const char *env)
{
    char p[700], cmd[2400];
    snprintf(p, sizeof p, "%s/%s.json", dir, tag);
    FILE *f = fopen(p, "w");
    fprintf(f, "{\"source\": {\"type\": \"file\", \"path\": \"%s\", \"max_records\": 200},\n"
               " \"operators\": [{\"type\": \"extract\", \"fields\": {", input_path);
    for (int j = 0; j < NFEAT; j++)
        fprintf(f, "%s\"f%d\": {\"path\": \"/f%d\", \"required\": false}", j ? ", " : "", j, j);
    fprintf(f, "}},\n  {\"type\": \"model\", \"path\": \"%s\", \"out\": \"y\", \"device\": "
               "\"%s\"%s}],\n"
               " \"sinks\": [{\"type\": \"file\", \"path\": \"%s/%s.out.jsonl\"}],\n"
               " \"dead_letter\": {\"type\": \"file\", \"path\": \"%s/%s.dead.jsonl\"}}\n",
            path, device, extra, dir, tag, dir, tag);
    fclose(f);
    const char *bin = bin_override  ? bin_override
                      : getenv("WEIR_BIN") ? getenv("WEIR_BIN")
                                           : "build/weir";
    snprintf(cmd, sizeof cmd, "%s %s %s %s %s >%s/%s.err 2>&1", env, bin, verb, p,
             strcmp(verb, "run") == 0 ? "--quiet" : "", dir, tag);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int weir_run(const char *tag, const char *path, const char *device, const char *verb)
{
    return weir_run_with(tag, path, device, verb, ", \"max_records\": 256", "");
}

static char *slurp(const char *tag, const char *ext)
{
    char p[700];
    snprintf(p, sizeof p, "%s/%s.%s", dir, tag, ext);
    FILE *f = fopen(p, "r");
    if (!f)
        return strdup("");
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return strdup(buf);
}

static int count_lines_with(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* The two runs' "y" per line: same records, values within tol (relative
 * to max(|cpu|, 1e-3)). */
static void compare_outputs(const char *a_tag, const char *b_tag, double tol)
{
    char *a = slurp(a_tag, "out.jsonl"), *b = slurp(b_tag, "out.jsonl");
    char *sa, *sb;
    char *la = strtok_r(a, "\n", &sa), *lb = strtok_r(b, "\n", &sb);
    int lines = 0, bad = 0;
    for (; la && lb; la = strtok_r(NULL, "\n", &sa), lb = strtok_r(NULL, "\n", &sb), lines++) {
        json_t *ja = json_loads(la, 0, NULL), *jb = json_loads(lb, 0, NULL);
        double ya = json_number_value(json_object_get(ja, "y"));
        double yb = json_number_value(json_object_get(jb, "y"));
        int ida = (int)json_integer_value(json_object_get(ja, "id"));
        int idb = (int)json_integer_value(json_object_get(jb, "id"));
        if (ida != idb || fabs(ya - yb) > tol * fmax(fabs(ya), 1e-3)) {
            if (bad++ < 3)
                fprintf(stderr, "%s vs %s: id %d/%d y %.9g vs %.9g\n", a_tag, b_tag, ida, idb,
                        ya, yb);
        }
        json_decref(ja);
        json_decref(jb);
    }
    CHECK(!la && !lb);
    CHECK(lines > NROWS / 2);
    CHECK(bad == 0);
    free(a);
    free(b);
}

static void test_no_gpu(const char *why)
{
    static const char *const feats[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", NULL};
    char conf[1024], want[1024];
    CHECK(why[0] != 0);
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\", \"device\": \"cuda\"}",
             dense_path);
    snprintf(want, sizeof want, "test.json: operators[1].device: expected a CUDA device, got "
             "none (%s); use \"auto\" to fall back to the CPU", why);
    h_expect_prepare_error(&weir_op_model, feats, 1, conf, want);

    /* auto: the CPU, one line, the same bytes out as "cpu" */
    for (int m = 0; m < 2; m++) {
        const char *path = m ? tree_path : dense_path;
        CHECK(weir_run("cpu", path, "cpu", "run") == 0);
        CHECK(weir_run("auto", path, "auto", "run") == 0);
        char *cpu = slurp("cpu", "out.jsonl"), *aut = slurp("auto", "out.jsonl");
        char *cerr = slurp("cpu", "err"), *aerr = slurp("auto", "err");
        char *cdead = slurp("cpu", "dead.jsonl"), *adead = slurp("auto", "dead.jsonl");
        CHECK(strlen(cpu) > 1000 && strcmp(cpu, aut) == 0);
        CHECK(strcmp(cdead, adead) == 0);
        CHECK(m == 1 || strlen(cdead) > 0); /* the dense model dead-letters NaN rows */
        CHECK(count_lines_with(aerr, "device auto:") == 1);
        CHECK(count_lines_with(aerr, "the model runs on the CPU") == 1);
        CHECK(count_lines_with(cerr, "device auto:") == 0);
        if (count_lines_with(aerr, "device auto:") != 1)
            fprintf(stderr, "auto's stderr: %s\n", aerr);
        free(cpu), free(aut), free(cerr), free(aerr), free(cdead), free(adead);
    }
    /* The GPU path's slots, pending queue and order, the CPU computing each
     * slot: batches of 200 over slots of 64 rows (and held by max_delay_ms). */
    static const char *const extras[] = {", \"max_records\": 64",
                                         ", \"max_records\": 1000, \"max_delay_ms\": 5"};
    for (int m = 0; m < 2; m++)
        for (int x = 0; x < 2; x++) {
            const char *path = m ? tree_path : dense_path;
            CHECK(weir_run("cpu", path, "cpu", "run") == 0);
            CHECK(weir_run_with("slots", path, "cuda", "run", extras[x],
                                "WEIR_MODEL_GPU_ON_CPU=1") == 0);
            compare_outputs("cpu", "slots", 1e-6);
            char *cdead = slurp("cpu", "dead.jsonl"), *sdead = slurp("slots", "dead.jsonl");
            CHECK(strcmp(cdead, sdead) == 0);
            free(cdead), free(sdead);
        }
    /* cuda: an invalid pipeline (exit 2) naming the reason */
    CHECK(weir_run("cuda", dense_path, "cuda", "validate") == 2);
    char *err = slurp("cuda", "err");
    CHECK(strstr(err, "operators[1].device: expected a CUDA device, got none") != NULL);
    free(err);
}

/* id → y of a run's output lines (NAN where absent). */
static void outputs_by_id(const char *tag, double *y, int *count)
{
    char *a = slurp(tag, "out.jsonl"), *save;
    *count = 0;
    for (int i = 0; i < NROWS; i++)
        y[i] = NAN;
    for (char *l = strtok_r(a, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(l, 0, NULL);
        int id = (int)json_integer_value(json_object_get(j, "id"));
        if (id >= 0 && id < NROWS)
            y[id] = json_number_value(json_object_get(j, "y"));
        (*count)++;
        json_decref(j);
    }
    free(a);
}

/* A CUDA error on the third slot (weir_hostcuda injects it, sticky as a
 * device fault is): that slot's records, and those of the slots in flight
 * with it, go to the dead-letter sink with the error, one line says the
 * worker switched to the CPU, and every other record is scored as on the
 * CPU, in order. */
static void test_injected_error(const char *hostcuda)
{
    static double cpu[NROWS], gpu[NROWS];
    int ncpu, ngpu;
    bin_override = NULL;
    CHECK(weir_run("cpu", dense_path, "cpu", "run") == 0);
    bin_override = hostcuda;
    CHECK(weir_run_with("fail", dense_path, "cuda", "run", ", \"max_records\": 64",
                        "WEIR_HOSTCUDA_FAIL_AFTER=2") == 0);
    bin_override = NULL;
    outputs_by_id("cpu", cpu, &ncpu);
    outputs_by_id("fail", gpu, &ngpu);
    char *err = slurp("fail", "err"), *dead = slurp("fail", "dead.jsonl");
    char *cdead = slurp("cpu", "dead.jsonl");
    int killed = count_lines_with(dead, "model: CUDA error: an illegal memory access");
    CHECK(killed > 0 && killed <= 3 * 64); /* the failed slot, and those in flight with it */
    CHECK(ngpu + killed == ncpu);
    CHECK(count_lines_with(dead, "\n") == count_lines_with(cdead, "\n") + killed);
    CHECK(count_lines_with(err, "the model runs on the CPU from now on") == 1);
    int same = 0;
    for (int i = 0; i < NROWS; i++)
        same += !isnan(gpu[i]) && fabs(gpu[i] - cpu[i]) <= 1e-6 * fmax(fabs(cpu[i]), 1e-3);
    CHECK(same == ngpu);
    char *out = slurp("fail", "out.jsonl"), *save;
    int last = -1, ordered = 1;
    for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int id = atoi(strstr(l, "\"id\":") ? strstr(l, "\"id\":") + 5 : "0");
        ordered &= id > last;
        last = id;
    }
    CHECK(ordered);
    printf("injected CUDA error: %d records dead-lettered, %d scored\n", killed, ngpu);
    free(err), free(dead), free(cdead), free(out);
}

static void test_int8_device(void)
{
    static const char *const feats[] = {"f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", NULL};
    char conf[1024];
    snprintf(conf, sizeof conf, "{\"path\": \"%s\", \"out\": \"y\", \"device\": \"cuda\", "
             "\"precision\": \"int8\"}", dense_path);
    h_expect_prepare_error(&weir_op_model, feats, 1, conf,
                           "test.json: operators[1].device: expected \"cpu\" or \"auto\" with "
                           "\"precision\": \"int8\" (int8 runs on the CPU), got \"cuda\"");
}

/* ---- with a GPU ---------------------------------------------------------- */

static void *to_device(const float *host, size_t n)
{
    if (!host)
        return NULL;
    void *d = weir_cuda_malloc(n * 4);
    CHECK(d && weir_cuda_upload(d, host, n * 4) == 0 && weir_cuda_uploads_done() == 0);
    return d;
}

static float *from_device(const float *dev, size_t n, weir_cuda_stream *s)
{
    float *h = malloc(n * 4);
    CHECK(weir_cuda_copy_out(h, dev, n * 4, s) == 0 && weir_cuda_stream_sync(s) == 0);
    return h;
}

/* Worst error relative to each row's largest output (a sum of products
 * near 0 has no meaningful relative error of its own). */
static double row_rel_err(const float *got, const float *want, size_t n, size_t width)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double scale = 1e-3;
        for (size_t j = 0; j < width; j++)
            scale = fmax(scale, fabs(want[i * width + j]));
        for (size_t j = 0; j < width; j++) {
            double e = fabs((double)got[i * width + j] - want[i * width + j]) / scale;
            worst = isnan(e) ? INFINITY : fmax(worst, e);
        }
    }
    return worst;
}

static void test_dense_kernel(weir_cuda_stream *s)
{
    static const size_t shapes[][2] = {{1, 1}, {7, 3}, {16, 64}, {33, 65}, {128, 128}, {300, 17}};
    static const size_t rows[] = {1, 63, 257, 1000};
    double worst = 0;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++)
        for (int variant = 0; variant < 2 * 2 * 5; variant++) {
            size_t in = shapes[k][0], out = shapes[k][1], n = rows[variant % 4];
            int act = variant % 5, bias = variant & 1, norm = (variant / 2) & 1;
            float *W = randv(in * out, 0.5f, 0), *b = randv(out, 0.2f, 0);
            float *g = randv(out, 0.3f, 1), *be = randv(out, 0.1f, 0), *X = randv(n * in, 2, 0);
            struct weir_dense_layer L = {in, out, W, bias ? b : NULL, norm ? g : NULL,
                                         norm ? be : NULL, 1e-5f, act};
            struct weir_dense_layer D = L;
            D.W = to_device(W, in * out);
            D.b = bias ? to_device(b, out) : NULL;
            D.ln_gamma = norm ? to_device(g, out) : NULL;
            D.ln_beta = norm ? to_device(be, out) : NULL;
            float *dX = to_device(X, n * in), *dY = weir_cuda_malloc(n * out * 4);
            float *want = malloc(n * out * 4);
            weir_dense_cpu(&L, X, in, n, want, out);
            CHECK(weir_dense_cuda(&D, dX, in, n, dY, out, s) == 0);
            float *got = from_device(dY, n * out, s);
            double e = row_rel_err(got, want, n, out);
            if (e > 1e-5)
                fprintf(stderr, "dense %zu→%zu n %zu act %d bias %d norm %d: error %.3g\n", in,
                        out, n, act, bias, norm, e);
            CHECK(e <= 1e-5);
            worst = fmax(worst, e);
            weir_cuda_free((void *)D.W), weir_cuda_free((void *)D.b);
            weir_cuda_free((void *)D.ln_gamma), weir_cuda_free((void *)D.ln_beta);
            weir_cuda_free(dX), weir_cuda_free(dY);
            free(W), free(b), free(g), free(be), free(X), free(want), free(got);
        }
    printf("dense kernel: worst error %.3g (relative to the row's largest output)\n", worst);
}

/* A random tree at node idx (children laid out as pairs from *next). */
static uint32_t grow(struct weir_tree_node *node, float *leaf, uint8_t *is_leaf, uint32_t idx,
                     uint32_t *next, int depth, size_t nfeat)
{
    if (depth == 0 || urand() > 0.7f) {
        node[idx] = weir_tree_leaf(idx);
        leaf[idx] = urand() * 0.5f;
        is_leaf[idx] = 1;
        return 0;
    }
    uint32_t left = *next;
    *next += 2;
    uint32_t feature = (uint32_t)((urand() + 1) * 0.5f * (float)nfeat) % (uint32_t)nfeat;
    node[idx] = (struct weir_tree_node){
        urand(), feature | (urand() > 0 ? WEIR_TREE_DEFAULT_LEFT : 0), left};
    uint32_t dl = grow(node, leaf, is_leaf, left, next, depth - 1, nfeat);
    uint32_t dr = grow(node, leaf, is_leaf, left + 1, next, depth - 1, nfeat);
    return 1 + (dl > dr ? dl : dr);
}

static void trees_kernel(weir_cuda_stream *s, const char *what, float *X, size_t n, size_t nfeat)
{
    size_t ntrees = 500, cap = ntrees * 128;
    struct weir_tree_node *node = calloc(cap, sizeof *node);
    float *leaf = calloc(cap, 4);
    uint8_t *is_leaf = calloc(cap, 1);
    uint32_t *root = calloc(ntrees, 4), *depth = calloc(ntrees, 4), next = 0;
    for (size_t k = 0; k < ntrees; k++) {
        root[k] = next++;
        depth[k] = grow(node, leaf, is_leaf, root[k], &next, 6, nfeat);
    }
    struct weir_trees t = {ntrees, next, nfeat, root, depth, node, leaf, is_leaf, NULL, 0, 0};
    float *want = malloc(n * 4);
    for (size_t i = 0; i < n; i++)
        want[i] = 0.5f;
    weir_trees_cpu(&t, X, nfeat, n, want);
    struct weir_trees d = t;
    d.root = (const uint32_t *)to_device((const float *)root, ntrees);
    d.depth = (const uint32_t *)to_device((const float *)depth, ntrees);
    d.node = (const struct weir_tree_node *)to_device((const float *)node, next * 3);
    d.leaf = to_device(leaf, next);
    float *dX = to_device(X, n * nfeat), *dout = weir_cuda_malloc(n * 4);
    CHECK(weir_cuda_fill(dout, n, 0.5f, s) == 0);
    CHECK(weir_trees_cuda(&d, dX, nfeat, n, dout, s) == 0);
    float *got = from_device(dout, n, s);
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)got[i] - want[i]));
    printf("tree kernel, %s: 500 trees, depth <= 6, worst absolute error %.3g\n", what, worst);
    CHECK(worst <= 1e-5);
    weir_cuda_free((void *)d.root), weir_cuda_free((void *)d.depth);
    weir_cuda_free((void *)d.node), weir_cuda_free((void *)d.leaf);
    weir_cuda_free(dX), weir_cuda_free(dout);
    free(node), free(leaf), free(is_leaf), free(root), free(depth), free(want), free(got);
}

static void test_trees_kernel(weir_cuda_stream *s)
{
    size_t nfeat = 20, n = 4099;
    float *X = randv(n * nfeat, 1, 0);
    for (size_t i = 0; i < n * nfeat; i += 7)
        X[i] = i % 3 ? NAN : (i % 2 ? INFINITY : -INFINITY);
    trees_kernel(s, "random rows with NaN and ±Inf", X, n, nfeat);
    free(X);
}

/* The ULB fraud features (Time, V1..V28, Amount: 30 per row), when the
 * shared data is there (WEIR_FRAUD_CSV, or ../shared/data, shared/data). */
static float *load_fraud(size_t *n)
{
    const char *cands[] = {getenv("WEIR_FRAUD_CSV"),
                           "../shared/data/fraud/ulb_head5000/creditcard_head5000.csv",
                           "shared/data/fraud/ulb_head5000/creditcard_head5000.csv"};
    FILE *f = NULL;
    for (size_t i = 0; !f && i < sizeof cands / sizeof *cands; i++)
        f = cands[i] ? fopen(cands[i], "r") : NULL;
    if (!f)
        return NULL;
    size_t cap = 8192;
    float *X = malloc(cap * 30 * 4);
    char line[4096];
    *n = 0;
    if (!fgets(line, sizeof line, f)) /* the header */
        *n = 0;
    while (*n < cap && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int j = 0; j < 30; j++) {
            X[*n * 30 + (size_t)j] = strtof(p, &p);
            p += *p == ',';
        }
        (*n)++;
    }
    fclose(f);
    return X;
}

/* A 30-64(relu)-32(norm, tanh)-1 network normalised on the data itself, and
 * random trees, over the fraud rows: GPU against CPU. */
static void test_fraud(weir_cuda_stream *s)
{
    size_t n;
    float *X = load_fraud(&n);
    if (!X) {
        printf("fraud features: skipped (set WEIR_FRAUD_CSV to ulb_head5000's CSV)\n");
        return;
    }
    float mean[30] = {0}, sd[30] = {0};
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 30; j++)
            mean[j] += X[i * 30 + (size_t)j] / (float)n;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 30; j++) {
            float d = X[i * 30 + (size_t)j] - mean[j];
            sd[j] += d * d / (float)n;
        }
    for (int j = 0; j < 30; j++)
        sd[j] = sqrtf(sd[j]) + 1e-3f;
    struct tensor t[] = {
        {"m", 30, 0, mean}, {"s", 30, 0, sd}, {"w0", 64, 30, randv(64 * 30, 0.3f, 0)},
        {"b0", 64, 0, randv(64, 0.1f, 0)}, {"w1", 32, 64, randv(32 * 64, 0.2f, 0)},
        {"b1", 32, 0, randv(32, 0.1f, 0)}, {"g1", 32, 0, randv(32, 0.2f, 1)},
        {"e1", 32, 0, randv(32, 0.1f, 0)}, {"w2", 1, 32, randv(32, 0.4f, 0)},
        {"b2", 1, 0, randv(1, 0.1f, 0)},
    };
    const char *arch =
        "{\"input_mean\": \"m\", \"input_std\": \"s\", \"output\": \"probability\", "
        "\"layers\": [{\"weight\": \"w0\", \"bias\": \"b0\", \"activation\": \"relu\"}, "
        "{\"weight\": \"w1\", \"bias\": \"b1\", \"activation\": \"tanh\", "
        "\"norm\": {\"weight\": \"g1\", \"bias\": \"e1\", \"eps\": 1e-5}}, "
        "{\"weight\": \"w2\", \"bias\": \"b2\", \"activation\": \"none\"}]}";
    char path[700], err[600];
    snprintf(path, sizeof path, "%s/fraud.safetensors", dir);
    write_safetensors(path, t, sizeof t / sizeof *t, arch);
    for (size_t i = 2; i < sizeof t / sizeof *t; i++)
        free(t[i].v);
    struct weir_model *m;
    CHECK(weir_model_load(path, &m, err, sizeof err) == 0);
    float *want = malloc(n * 4), *scratch = malloc((weir_model_scratch(m, n) + 16) * 4);
    weir_model_predict(m, X, 30, n, want, scratch, WEIR_PREDICT_FP32);
    struct weir_gpu_model *g = weir_gpu_model_upload(m, err, sizeof err);
    float *dX = to_device(X, n * 30), *dout = weir_cuda_malloc(n * 4);
    float *dscratch = weir_cuda_malloc(weir_gpu_model_scratch(m, n) * 4);
    CHECK(g && weir_gpu_model_predict(g, dX, n, dout, dscratch, s) == 0);
    float *got = from_device(dout, n, s);
    double e = row_rel_err(got, want, n, 1);
    printf("fraud features (%zu rows), %s: worst relative error %.3g\n", n, m->what, e);
    CHECK(e <= 1e-5);
    trees_kernel(s, "fraud features", X, n, 30);
    weir_gpu_model_free(g);
    weir_cuda_free(dX), weir_cuda_free(dout), weir_cuda_free(dscratch);
    weir_model_free(m);
    free(X), free(want), free(scratch), free(got);
}

/* The whole prediction (normalisation, layers, output) of both models. */
static void test_gpu_model(weir_cuda_stream *s)
{
    const char *paths[] = {dense_path, tree_path};
    for (int k = 0; k < 2; k++) {
        struct weir_model *m;
        char err[600];
        CHECK(weir_model_load(paths[k], &m, err, sizeof err) == 0);
        size_t n = 1000;
        float *X = randv(n * m->nin, 3, 0), *want = malloc(n * m->nout * 4);
        float *scratch = malloc((weir_model_scratch(m, n) + 16) * 4);
        weir_model_predict(m, X, m->nin, n, want, scratch, WEIR_PREDICT_FP32);
        struct weir_gpu_model *g = weir_gpu_model_upload(m, err, sizeof err);
        CHECK(g != NULL);
        float *dX = to_device(X, n * m->nin), *dout = weir_cuda_malloc(n * m->nout * 4);
        float *dscratch = weir_cuda_malloc(weir_gpu_model_scratch(m, n) * 4);
        CHECK(weir_gpu_model_predict(g, dX, n, dout, dscratch, s) == 0);
        float *got = from_device(dout, n * m->nout, s);
        double e = row_rel_err(got, want, n, m->nout);
        printf("%s on the GPU: worst error %.3g\n", m->what, e);
        CHECK(e <= 1e-5);
        weir_gpu_model_free(g);
        weir_cuda_free(dX), weir_cuda_free(dout), weir_cuda_free(dscratch);
        free(X), free(want), free(scratch), free(got);
        weir_model_free(m);
    }
}

static void test_gpu_pipeline(void)
{
    const char *paths[] = {dense_path, tree_path};
    for (int k = 0; k < 2; k++) {
        CHECK(weir_run("cpu", paths[k], "cpu", "run") == 0);
        CHECK(weir_run("gpu", paths[k], "cuda", "run") == 0);
        CHECK(weir_run("auto", paths[k], "auto", "run") == 0);
        compare_outputs("cpu", "gpu", k ? 1e-5 : 1e-5);
        compare_outputs("cpu", "auto", 1e-5);
        char *cdead = slurp("cpu", "dead.jsonl"), *gdead = slurp("gpu", "dead.jsonl");
        CHECK(strcmp(cdead, gdead) == 0);
        char *aerr = slurp("auto", "err");
        CHECK(count_lines_with(aerr, "device auto:") == 0);
        free(cdead), free(gdead), free(aerr);
    }
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    write_dense();
    write_tree();
    write_input();
    test_int8_device();
    char why[256] = "";
    int devices = weir_cuda_available(why, sizeof why);
    if (devices <= 0) {
        test_no_gpu(why);
        if (getenv("WEIR_HOSTCUDA"))
            test_injected_error(getenv("WEIR_HOSTCUDA"));
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", dir);
        int rc = check_summary();
        printf("GPU tests skipped: %s (the fallback checks above ran)\n", why);
        return rc ? rc : 77;
    }
    printf("%d CUDA device(s)\n", devices);
    weir_cuda_stream *s = weir_cuda_stream_new();
    CHECK(s != NULL);
    test_dense_kernel(s);
    test_trees_kernel(s);
    test_gpu_model(s);
    test_fraud(s);
    test_gpu_pipeline();
    weir_cuda_stream_free(s);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
