/* Out-of-memory, SQLite style: every allocation weir makes while it loads a
 * pipeline and builds operators and a worker is made to fail in turn, the
 * N-th for N = 1, 2, ... until a run makes no more allocations than N. Each
 * run with a failed allocation must end in an error (no crash, no success
 * with half a config) and free everything it allocated. Two modes: the N-th
 * allocation alone fails ("once"), or every allocation from the N-th on
 * ("sticky", so error paths that allocate are tried too).
 *
 * The binary is linked with --wrap for the allocation functions (see
 * CMakeLists.txt): weircore is a static library, so its calls come here;
 * jansson's come through json_set_alloc_funcs. Blocks are counted, so a
 * leak is found without AddressSanitizer; under it, LeakSanitizer and
 * use-after-free checks come on top. librdkafka's and libc's own
 * allocations are not counted: they are not weir's to handle.
 *
 * jansson's parser (2.14) is not safe against a failed allocation: its
 * lexer drops a byte it cannot save and goes on, so json_loads may succeed
 * with a cut string and json_load_file overruns a buffer. A parse therefore
 * counts as one allocation here, failing whole as a correct parser would
 * (NULL, json_error_out_of_memory), and nothing fails inside it.
 *
 * To look into a failure: WEIR_ALLOC_CASE=TEXT runs only the cases whose
 * name holds TEXT, and WEIR_ALLOC_TRACE=N prints a backtrace at the N-th
 * allocation of each run (addr2line -f -e test_alloc_fail ADDRESS...). */
#include <errno.h>
#include <execinfo.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/override.h"
#include "engine/opstate.h"
#include "engine/pipeline.h"
#include "engine/worker.h"
#include "tests/check.h"

/* ---- the allocator ---------------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

static struct {
    long fail_at;   /* the allocation to fail, counted from 1; 0: none */
    int sticky;     /* and every one after it */
    long count;     /* allocations in this run */
    long failed;    /* allocations failed in this run */
    long live;      /* blocks allocated and not yet freed */
    int in_parser;  /* inside jansson's parser: nothing fails, nothing is counted */
    long trace;     /* WEIR_ALLOC_TRACE: print a backtrace at this allocation */
} fi;

static int inject(void)
{
    if (fi.in_parser)
        return 0;
    fi.count++;
    if (fi.count == fi.trace) {
        void *frames[32];
        fprintf(stderr, "allocation %ld (failing %ld):\n", fi.count, fi.fail_at);
        backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
    }
    if (fi.fail_at && (fi.count == fi.fail_at || (fi.sticky && fi.count > fi.fail_at))) {
        fi.failed++;
        return 1;
    }
    return 0;
}

static void *counted(void *p)
{
    if (p)
        fi.live++;
    return p;
}

void *__wrap_malloc(size_t n)
{
    return inject() ? NULL : counted(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
    return inject() ? NULL : counted(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (inject())
        return NULL;
    void *q = __real_realloc(p, n);
    if (!p && q)
        fi.live++;
    return q;
}

void __wrap_free(void *p)
{
    if (p)
        fi.live--;
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    return inject() ? NULL : counted(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
    return inject() ? NULL : counted(__real_strndup(s, n));
}

int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    if (inject())
        return ENOMEM;
    int rc = __real_posix_memalign(p, align, n);
    if (rc == 0)
        fi.live++;
    return rc;
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return inject() ? NULL : counted(__real_aligned_alloc(align, n));
}

/* A parse fails whole, as one allocation (see the top of the file). */
json_t *__real_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__real_json_loadb(const char *s, size_t len, size_t flags, json_error_t *e);
json_t *__real_json_load_file(const char *path, size_t flags, json_error_t *e);

static json_t *parse_failed(json_error_t *e)
{
    if (e) {
        memset(e, 0, sizeof *e);
        e->line = e->column = -1;
        snprintf(e->text, sizeof e->text, "Out of memory");
        e->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_out_of_memory; /* json_error_code() */
    }
    return NULL;
}

#define PARSE(call)                                                                  \
    do {                                                                             \
        if (inject())                                                                \
            return parse_failed(e);                                                  \
        fi.in_parser++;                                                              \
        json_t *j_ = call;                                                           \
        fi.in_parser--;                                                              \
        return j_;                                                                   \
    } while (0)

json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e)
{
    PARSE(__real_json_loads(s, flags, e));
}

json_t *__wrap_json_loadb(const char *s, size_t len, size_t flags, json_error_t *e)
{
    PARSE(__real_json_loadb(s, len, flags, e));
}

json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e)
{
    PARSE(__real_json_load_file(path, flags, e));
}

/* jansson allocates through these once json_set_alloc_funcs names them. */
static void *json_malloc(size_t n)
{
    return __wrap_malloc(n);
}

static void json_free(void *p)
{
    __wrap_free(p);
}

/* ---- what is built ------------------------------------------------------------ */

struct alloc_case {
    const char *name;
    const char *file;    /* the pipeline file (read from disk unless text is set) */
    const char *text;    /* the pipeline's JSON, given from memory */
    const char *sets[4]; /* --set PATH=VALUE, NULL-terminated */
    int worker;          /* also weir_worker_init + weir_worker_destroy (file -> file) */
};

static char tmpdir[] = "/tmp/weir-test-alloc-XXXXXX";

/* Every operator's per-worker init, then its destroy, the way a worker
 * builds its chain (destroy also after a failed init: partial state). */
static int build_ops(const struct weir_pipeline *pl, struct weir_error *err)
{
    int rc = 0;
    for (size_t k = 0; k < pl->nops && rc == 0; k++) {
        struct weir_op op = {.type = pl->ops[k].type, .conf = pl->ops[k].conf, .index = (int)k};
        if (op.type->init)
            rc = op.type->init(&op, err);
        if (op.type->destroy)
            op.type->destroy(&op);
        weir_op_state_free(&op); /* the engine frees declared keyed state */
    }
    return rc;
}

static int build_worker(const struct weir_pipeline *pl, struct weir_error *err)
{
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        int rc = st->type->setup ? st->type->setup(st->conf, err) : 0;
        if (rc < 0)
            return rc;
    }
    struct weir_worker w;
    int rc = weir_worker_init(&w, 0, 1, pl, 1, err);
    weir_worker_destroy(&w);
    return rc;
}

/* One run: load (and build). Returns 0 or the first error, whose text
 * (the diagnostics, or the error message) goes to why. */
static int run_once(const struct alloc_case *c, char *why, size_t size)
{
    struct weir_diag d = {0};
    struct weir_error err = {0};
    struct weir_override sets[4];
    char args[4][512];
    size_t nsets = 0;
    for (; nsets < 4 && c->sets[nsets]; nsets++) {
        snprintf(args[nsets], sizeof args[nsets], "%s", c->sets[nsets]);
        if (weir_override_parse(args[nsets], &sets[nsets]) < 0)
            return -EINVAL;
    }
    struct weir_load_opts o = {.sets = sets, .nsets = nsets, .text = c->text,
                               .len = c->text ? strlen(c->text) : 0};
    struct weir_pipeline *pl = NULL;
    int rc = weir_pipeline_load_opts(c->file, &o, &pl, &d);
    if (rc == 0)
        rc = build_ops(pl, &err);
    if (rc == 0 && c->worker)
        rc = build_worker(pl, &err);
    weir_pipeline_free(pl);
    size_t n = (size_t)snprintf(why, size, "%s", err.msg);
    for (size_t i = 0; i < d.n && n < size; i++)
        n += (size_t)snprintf(why + n, size - n, "%s%s", n ? "\n" : "", d.msgs[i]);
    weir_diag_free(&d);
    return rc;
}

/* Where a crash happened: AddressSanitizer calls this before it exits. */
static const char *cur_case = "";
static const char *cur_mode = "";
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void on_death(void)
{
    fprintf(stderr, "test_alloc_fail: died in case \"%s\", %s, failing allocation %ld\n",
            cur_case, cur_mode, fi.fail_at);
}

/* N = 1, 2, ... until a run allocates fewer than N times. Returns the
 * number of runs with a failed allocation. */
static long fail_each(const struct alloc_case *c, int sticky)
{
    cur_case = c->name;
    cur_mode = sticky ? "sticky" : "once";
    long runs = 0;
    for (long n = 1;; n++) {
        char why[2048];
        long live0 = fi.live;
        fi.fail_at = n;
        fi.sticky = sticky;
        fi.count = fi.failed = 0;
        int rc = run_once(c, why, sizeof why);
        long failed = fi.failed;
        fi.fail_at = 0;
        if (!failed) { /* every allocation of a whole run has been failed once */
            CHECK(rc == 0);
            break;
        }
        runs++;
        if (rc == 0)
            fprintf(stderr, "%s (%s): allocation %ld failed, yet the run succeeded\n", c->name,
                    cur_mode, n);
        if (fi.live != live0)
            fprintf(stderr, "%s (%s): allocation %ld failed: %ld blocks leaked\n", c->name,
                    cur_mode, n, fi.live - live0);
        /* The user is told why (when one allocation failed, saying so
         * needs memory that is there): not a made-up problem with the file. */
        int said = rc == -ENOMEM || strstr(why, "out of memory") != NULL;
        if (rc < 0 && !sticky && !said)
            fprintf(stderr, "%s (%s): allocation %ld failed, and the error says:\n%s\n", c->name,
                    cur_mode, n, why[0] ? why : "(nothing)");
        CHECK(rc < 0);
        CHECK(fi.live == live0);
        CHECK(sticky || said);
        if (rc == 0 || fi.live != live0 || !(sticky || said))
            break; /* one report per case is enough to act on */
    }
    return runs;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(void)
{
    json_set_alloc_funcs(json_malloc, json_free);
    const char *trace = getenv("WEIR_ALLOC_TRACE");
    fi.trace = trace ? atol(trace) : 0;
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(on_death);
    if (!mkdtemp(tmpdir))
        return 1;

    /* A file -> file pipeline for the worker: its input must exist. */
    char in[128], worker_file[128], worker_text[2048];
    snprintf(in, sizeof in, "%s/in.jsonl", tmpdir);
    snprintf(worker_file, sizeof worker_file, "%s/worker.json", tmpdir);
    write_file(in, "{\"cpu\": 1, \"host\": \"a\", \"ts\": 1700000000000}\n");
    snprintf(worker_text, sizeof worker_text,
             "{\"name\": \"w\", \"source\": {\"type\": \"file\", \"path\": \"%s\", "
             "\"max_records\": 8},"
             " \"operators\": [{\"type\": \"extract\", \"fields\": {\"cpu\": \"/cpu\", "
             "\"host\": {\"path\": \"/host\", \"type\": \"string\"}, "
             "\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\"}}},"
             "  {\"type\": \"standardize\", \"fields\": \"cpu\", \"out\": \"cpu_z\"},"
             "  {\"type\": \"score\", \"fields\": \"cpu_z\", \"out\": \"score\"},"
             "  {\"type\": \"threshold\", \"score\": \"score\", \"quantile\": 0.99}],"
             " \"sinks\": [{\"type\": \"file\", \"path\": \"%s/out.jsonl\", "
             "\"fields\": [\"score\", \"host\"]},"
             "  {\"type\": \"file\", \"path\": \"%s/alerts.txt\", \"when\": \"alert\", "
             "\"format\": \"text\"}],"
             " \"dead_letter\": {\"type\": \"file\", \"path\": \"%s/dead.jsonl\"}}",
             in, tmpdir, tmpdir, tmpdir);
    write_file(worker_file, worker_text);

    /* No extract (an implicit one), no dead letter (the default), declared
     * features, CSV with a delimiter, the ewm mode: the loader's other paths. */
    static const char implicit_text[] =
        "{\"features\": [\"v\", \"v_z\", \"s\"],"
        " \"source\": {\"type\": \"file\", \"path\": \"x.csv\", \"format\": \"csv\", "
        "\"delimiter\": \";\"},"
        " \"operators\": [],"
        " \"sinks\": [{\"type\": \"file\", \"path\": \"-\", \"when\": \"normal\"}]}";
    static const char chain_text[] =
        "{\"features\": [\"v\", \"v_z\", \"s\"],"
        " \"source\": {\"type\": \"file\", \"path\": \"-\"},"
        " \"operators\": [{\"type\": \"extract\", \"fields\": {\"v\": {\"path\": \"/a/v\", "
        "\"default\": 0}, \"k\": {\"path\": \"/k\", \"type\": \"string\", \"default\": \"none\"}}},"
        "  {\"type\": \"standardize\", \"fields\": [\"v\"], \"out\": [\"v_z\"], \"mode\": \"ewm\","
        " \"alpha\": 0.1},"
        "  {\"type\": \"score\", \"fields\": [\"v_z\"], \"out\": \"s\"},"
        "  {\"type\": \"threshold\", \"score\": \"s\", \"above\": 3}],"
        " \"sinks\": [{\"type\": \"file\", \"path\": \"-\", \"fields\": [\"s\", \"k\"]}]}";

    /* Expressions and preprocessing: every operator of issue 9's item 2 and
     * 3, a sink condition, a scale file (absolute: the text has no file). */
    char scaler[128], expr_text[2048];
    snprintf(scaler, sizeof scaler, "%s/scaler.json", tmpdir);
    write_file(scaler, "{\"cpu_imputed_c\": {\"min\": 0, \"max\": 100}}");
    snprintf(expr_text, sizeof expr_text,
             "{\"name\": \"e\", \"source\": {\"type\": \"file\", \"path\": \"%s\"},"
             " \"operators\": [{\"type\": \"extract\", \"fields\": {\"cpu\": \"/cpu\", "
             "\"host\": {\"path\": \"/host\", \"type\": \"string\"}, "
             "\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\"}}},"
             "  {\"type\": \"derive\", \"fields\": {\"night\": \"hour_of_day(event_time) <= 6\", "
             "\"l\": \"log1p(cpu) + min(cpu, 2, 3)\", \"h\": \"if(host in ['a', 'b'], 1, 0)\"}},"
             "  {\"type\": \"filter\", \"keep\": \"exists(cpu) and night == 0\"},"
             "  {\"type\": \"impute\", \"fields\": \"cpu\", \"method\": \"mean\", \"by\": \"host\"},"
             "  {\"type\": \"clip\", \"fields\": {\"cpu_imputed\": [0, 100]}, \"suffix\": \"_c\"},"
             "  {\"type\": \"scale\", \"fields\": {\"l\": {\"mean\": 1, \"std\": 2}}},"
             "  {\"type\": \"scale\", \"file\": \"%s\", \"suffix\": \"_s\"}],"
             " \"sinks\": [{\"type\": \"file\", \"path\": \"%s/out.jsonl\", "
             "\"when\": \"l_scaled > 0 and host != 'z'\"}],"
             " \"dead_letter\": {\"type\": \"file\", \"path\": \"%s/dead.jsonl\"}}",
             in, scaler, tmpdir, tmpdir);

    const struct alloc_case cases[] = {
        {"pipelines/monitor-cpu.json", "pipelines/monitor-cpu.json", NULL, {NULL}, 0},
        {"pipelines/monitor-embedded.json", "pipelines/monitor-embedded.json", NULL, {NULL}, 0},
        {"pipelines/monitor-kafka.json", "pipelines/monitor-kafka.json", NULL, {NULL}, 0},
        /* a trained forest, read from its text (and laid out for explain) */
        {"pipelines/fraud-iforest-fit.json", "pipelines/fraud-iforest-fit.json", NULL, {NULL}, 0},
        {"tests/golden/pipeline.json", "tests/golden/pipeline.json", NULL, {NULL}, 0},
        {"tests/golden/pipeline.json --set ...",
         "tests/golden/pipeline.json",
         NULL,
         {"operators[3].above=0.5", "source.max_records=64",
          "sinks=[{\"type\":\"file\",\"path\":\"-\",\"fields\":[\"cpu_z\",\"host\"]}]",
          "dead_letter.path=/dev/null"},
         0},
        {"tests/pipelines/kafka-basic.json", "tests/pipelines/kafka-basic.json", NULL, {NULL}, 0},
        {"tests/pipelines/embedded-replay.json",
         "tests/pipelines/embedded-replay.json",
         NULL,
         {"replay={\"path\":\"in.jsonl\",\"rate\":1000}"},
         0},
        {"implicit extract (from memory)", "implicit.json", implicit_text, {NULL}, 0},
        {"operator chain (from memory)", "chain.json", chain_text, {"operators[3].warmup=5"}, 0},
        {"file -> file worker", worker_file, NULL, {NULL}, 1},
        {"expressions and preprocessing worker", "expr.json", expr_text, {NULL}, 1},
    };
    const char *only = getenv("WEIR_ALLOC_CASE");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (only && !strstr(cases[i].name, only))
            continue;
        char why[2048];
        fi.count = 0;
        int rc = run_once(&cases[i], why, sizeof why); /* the case itself must be valid */
        if (rc < 0)
            fprintf(stderr, "%s: fails without any failed allocation (%d):\n%s\n", cases[i].name,
                    rc, why);
        CHECK(rc == 0);
        if (rc < 0)
            continue;
        long allocs = fi.count;
        long once = fail_each(&cases[i], 0), sticky = fail_each(&cases[i], 1);
        printf("%-40s %5ld allocations; %5ld + %5ld failing runs\n", cases[i].name, allocs, once,
               sticky);
        /* the wrappers saw allocations and failed some: else (weircore
         * linked so that its calls bypass them) nothing here was tested */
        CHECK(allocs > 0 && once > 0 && sticky > 0);
    }
    const char *names[] = {"in.jsonl",   "worker.json", "out.jsonl",
                           "alerts.txt", "dead.jsonl",  "scaler.json"};
    char path[160];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, names[i]);
        unlink(path);
    }
    rmdir(tmpdir);
    return check_summary();
}
