/* `weir test FILE...`: a pipeline's unit tests (pipeline_test.h). This file
 * reads and checks the test file (every problem, with its JSON path, before
 * anything runs), runs each case and prints one line per case, the
 * differences under a failing one, and the totals. */
#include "connectors/pipeline_test.h"

#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/connector.h"
#include "engine/diag.h"
#include "engine/loop.h"

#define EXIT_FAILED 1
#define EXIT_USAGE  2

static const char *type_name(const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* "expected a count" for v, a negative integer quoted. */
static void not_a_count(struct weir_diag *d, const char *path, const json_t *v)
{
    if (json_is_integer(v))
        weir_diag_add(d, path, "expected a count (an integer >= 0), got %lld",
                      (long long)json_integer_value(v));
    else
        weir_diag_add(d, path, "expected a count (an integer >= 0), got %s", type_name(v));
}

/* Every key of obj is one of keys; else a problem naming what is allowed. */
static void known_keys(const json_t *obj, const char *path, const char *const *keys,
                       struct weir_diag *d)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        int ok = 0;
        char list[256] = "";
        size_t o = 0;
        for (const char *const *p = keys; *p; p++) {
            ok |= strcmp(*p, k) == 0;
            o += (size_t)snprintf(list + o, o < sizeof list ? sizeof list - o : 0, "%s%s",
                                  p == keys ? "" : ", ", *p);
        }
        if (!ok)
            weir_diag_add(d, path, "unknown key \"%s\": expected one of %s", k, list);
    }
}

static void want_type(const json_t *v, json_type t, const char *path, const char *what,
                      struct weir_diag *d)
{
    if (v && !(json_typeof(v) == t || (t == JSON_REAL && json_is_number(v))))
        weir_diag_add(d, path, "expected %s, got %s", what, type_name(v));
}

/* A sink's expectation: an array of records (objects or strings), or
 * {"count": N, "records": {"INDEX": record}}. */
static void check_records(const json_t *e, const char *path, struct weir_diag *d)
{
    char sub[300];
    if (json_is_array(e)) {
        size_t i;
        const json_t *r;
        json_array_foreach(e, i, r) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (!json_is_object(r) && !json_is_string(r))
                weir_diag_add(d, sub,
                              "expected a record (an object, or a string a text line "
                              "contains), got %s",
                              type_name(r));
        }
        return;
    }
    if (!json_is_object(e)) {
        weir_diag_add(d, path,
                      "expected an array of records or {\"count\": N, \"records\": "
                      "{\"INDEX\": record}}, got %s",
                      type_name(e));
        return;
    }
    static const char *const keys[] = {"count", "records", NULL};
    known_keys(e, path, keys, d);
    const json_t *count = json_object_get(e, "count");
    snprintf(sub, sizeof sub, "%s.count", path);
    if (count && (!json_is_integer(count) || json_integer_value(count) < 0))
        not_a_count(d, sub, count);
    const json_t *recs = json_object_get(e, "records");
    snprintf(sub, sizeof sub, "%s.records", path);
    want_type(recs, JSON_OBJECT, sub, "an object of INDEX: record", d);
    const char *k;
    json_t *r;
    json_object_foreach((json_t *)(json_is_object(recs) ? recs : NULL), k, r) {
        char *end;
        strtoll(k, &end, 10);
        snprintf(sub, sizeof sub, "%s.records.%s", path, k);
        if (!k[0] || *end)
            weir_diag_add(d, sub,
                          "expected a record index (0, 1, ..., or -1 for the last), got \"%s\"", k);
        if (!json_is_object(r) && !json_is_string(r))
            weir_diag_add(d, sub, "expected a record (an object or a string), got %s",
                          type_name(r));
    }
}

/* The sink an expectation names: its index ("0"), a Kafka sink's topic or
 * a file sink's path as written. -1 when none. */
static long sink_index(const json_t *pipeline, const char *name)
{
    const json_t *sinks = json_object_get(pipeline, "sinks");
    char *end;
    long i = strtol(name, &end, 10);
    if (name[0] && !*end)
        return i >= 0 && (size_t)i < json_array_size(sinks) ? i : -1;
    size_t k;
    const json_t *s;
    json_array_foreach(sinks, k, s) {
        const char *t = json_string_value(json_object_get(s, "topic"));
        const char *p = json_string_value(json_object_get(s, "path"));
        if ((t && strcmp(t, name) == 0) || (p && strcmp(p, name) == 0))
            return (long)k;
    }
    return -1;
}

static void check_expect(const json_t *e, const json_t *pipeline, const char *path,
                         struct weir_diag *d)
{
    char sub[300];
    if (!json_is_object(e)) {
        weir_diag_add(d, path, "expected an object with sinks, dead_letters and/or alerts, got %s",
                      type_name(e));
        return;
    }
    static const char *const keys[] = {"sinks", "dead_letters", "alerts", NULL};
    known_keys(e, path, keys, d);
    const json_t *sinks = json_object_get(e, "sinks");
    snprintf(sub, sizeof sub, "%s.sinks", path);
    want_type(sinks, JSON_OBJECT, sub,
              "an object of SINK: records (SINK: the sink's index, topic or path)", d);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(json_is_object(sinks) ? sinks : NULL), k, v) {
        snprintf(sub, sizeof sub, "%s.sinks.%s", path, k);
        size_t nsinks = json_array_size(json_object_get(pipeline, "sinks"));
        if (sink_index(pipeline, k) < 0 && nsinks == 0)
            weir_diag_add(d, sub, "expected a sink of the pipeline, which has none");
        else if (sink_index(pipeline, k) < 0)
            weir_diag_add(d, sub,
                          "expected a sink of the pipeline (its index from 0 to %zu, its "
                          "topic or its path), got \"%s\"",
                          nsinks - 1, k);
        check_records(v, sub, d);
    }
    const json_t *dead = json_object_get(e, "dead_letters");
    snprintf(sub, sizeof sub, "%s.dead_letters", path);
    if (dead)
        check_records(dead, sub, d);
    const json_t *alerts = json_object_get(e, "alerts");
    snprintf(sub, sizeof sub, "%s.alerts", path);
    if (alerts && (!json_is_integer(alerts) || json_integer_value(alerts) < 0))
        not_a_count(d, sub, alerts);
}

static void check_case(const json_t *c, size_t i, const json_t *pipeline, struct weir_diag *d)
{
    char path[64], sub[128];
    snprintf(path, sizeof path, "tests[%zu]", i);
    if (!json_is_object(c)) {
        weir_diag_add(d, path, "expected a test case (an object), got %s", type_name(c));
        return;
    }
    static const char *const keys[] = {"name",      "input",   "input_file", "set", "key",
                                       "tolerance", "timeout", "expect",     NULL};
    known_keys(c, path, keys, d);
    static const struct {
        const char *key, *what;
        json_type type;
    } fields[] = {{"name", "a string", JSON_STRING},
                  {"input", "an array of records", JSON_ARRAY},
                  {"input_file", "a file name", JSON_STRING},
                  {"set", "an object of PATH: VALUE", JSON_OBJECT},
                  {"key", "a field name", JSON_STRING},
                  {"tolerance", "a number", JSON_REAL},
                  {"timeout", "seconds", JSON_REAL}};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        snprintf(sub, sizeof sub, "%s.%s", path, fields[f].key);
        want_type(json_object_get(c, fields[f].key), fields[f].type, sub, fields[f].what, d);
    }
    if (!json_object_get(c, "name"))
        weir_diag_add(d, path, "expected a \"name\" (what the case shows)");
    const json_t *tol = json_object_get(c, "tolerance");
    snprintf(sub, sizeof sub, "%s.tolerance", path);
    if (json_is_number(tol) && !(json_number_value(tol) >= 0))
        weir_diag_add(d, sub, "expected a relative tolerance >= 0, got %g", json_number_value(tol));
    const json_t *timeout = json_object_get(c, "timeout");
    snprintf(sub, sizeof sub, "%s.timeout", path);
    if (json_is_number(timeout) && !(json_number_value(timeout) > 0))
        weir_diag_add(d, sub, "expected seconds > 0, got %g", json_number_value(timeout));
    snprintf(sub, sizeof sub, "%s.set", path);
    if (json_object_size(json_object_get(c, "set")) > WEIR_PTEST_MAX_SETS)
        weir_diag_add(d, sub, "expected at most %d overrides, got %zu", WEIR_PTEST_MAX_SETS,
                      json_object_size(json_object_get(c, "set")));
    const json_t *input = json_object_get(c, "input");
    for (size_t k = 0; json_is_array(input) && k < json_array_size(input); k++) {
        const json_t *r = json_array_get(input, k);
        snprintf(sub, sizeof sub, "%s.input[%zu]", path, k);
        if (!json_is_object(r) && !json_is_string(r))
            weir_diag_add(d, sub,
                          "expected a record (an object, or a string written as it is), got %s",
                          type_name(r));
    }
    if (!input && !json_object_get(c, "input_file"))
        weir_diag_add(d, path, "expected \"input\" (records) or \"input_file\"");
    snprintf(sub, sizeof sub, "%s.expect", path);
    if (!json_object_get(c, "expect"))
        weir_diag_add(d, path, "expected \"expect\" (what the sinks must have written)");
    else
        check_expect(json_object_get(c, "expect"), pipeline, sub, d);
}

/* FILE is the test file, or the pipeline it sits beside (x.json: x.test.json). */
static void test_file_of(const char *arg, char *out, size_t size)
{
    size_t n = strlen(arg);
    if (n > 10 && strcmp(arg + n - 10, ".test.json") == 0)
        snprintf(out, size, "%s", arg);
    else if (n > 5 && strcmp(arg + n - 5, ".json") == 0)
        snprintf(out, size, "%.*s.test.json", (int)(n - 5), arg);
    else
        snprintf(out, size, "%s", arg);
}

/* A path named in the test file, beside it unless absolute. */
static void beside(const char *test_file, const char *name, char *out, size_t size)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_file);
    if (name[0] == '/')
        snprintf(out, size, "%s", name);
    else
        snprintf(out, size, "%s/%s", dirname(dir), name);
}

struct totals {
    unsigned passed, failed;
    int interrupted; /* SIGINT/SIGTERM: no case after it runs */
};

/* A stop asked for between two runs (while a case's input is written or its
 * topics read back) is taken here; one during a run ends that run. */
static int stop_asked(struct totals *t)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    const struct timespec now = {0, 0};
    if (sigtimedwait(&set, NULL, &now) > 0)
        t->interrupted = 1;
    return t->interrupted;
}

/* Compares a case's outputs with its expectations; the differences go to d. */
static void compare(const json_t *c, const json_t *pipeline, const struct weir_ptest_result *r,
                    double tolerance, struct weir_ptest_diffs *d)
{
    const json_t *e = json_object_get(c, "expect");
    struct weir_ptest_match_opts o = {.tolerance = tolerance,
                                      .key = json_string_value(json_object_get(c, "key"))};
    const char *k;
    json_t *v;
    char where[300];
    json_object_foreach(json_object_get(e, "sinks"), k, v) {
        long i = sink_index(pipeline, k);
        const json_t *s = json_array_get(json_object_get(pipeline, "sinks"), (size_t)i);
        const char *name = json_string_value(json_object_get(s, "topic"));
        if (!name)
            name = json_string_value(json_object_get(s, "path"));
        snprintf(where, sizeof where, "sinks[%ld] \"%s\"", i, name ? name : "?");
        weir_ptest_match(v, &r->sinks[i], &o, where, d);
    }
    static const char *const reason[] = {"reason", NULL};
    struct weir_ptest_match_opts od = o;
    od.key = NULL;
    od.substrings = reason;
    if (json_object_get(e, "dead_letters"))
        weir_ptest_match(json_object_get(e, "dead_letters"), &r->dead, &od, "dead_letters", d);
    const json_t *alerts = json_object_get(e, "alerts");
    if (alerts && (unsigned long long)json_integer_value(alerts) != r->alerts)
        weir_ptest_diff(d, "alerts: expected %lld, got %llu", (long long)json_integer_value(alerts),
                        r->alerts);
}

static void run_case(const char *test_file, const char *pipeline_file, const json_t *pipeline,
                     struct weir_ptest_case *c, struct totals *t)
{
    struct weir_ptest_result r = {0};
    struct weir_error err = {0};
    uint64_t t0 = weir_now_ns();
    int rc = weir_ptest_case_run(pipeline_file, pipeline, c, &r, &err);
    struct weir_ptest_diffs d = {.limit = 20};
    if (rc == -EINTR) {
        printf("stop %s: %s: interrupted by a signal; no later case runs\n", test_file, c->name);
        t->interrupted = 1;
        weir_ptest_result_free(&r);
        return;
    }
    if (rc < 0)
        weir_ptest_diff(&d, "%s", err.msg[0] ? err.msg : strerror(-rc));
    else
        compare(c->obj, pipeline, &r, c->tolerance, &d);
    printf("%-4s %s: %s (%.2f s)\n", d.n ? "FAIL" : "ok", test_file, c->name,
           (double)(weir_now_ns() - t0) / 1e9);
    if (d.n) {
        fwrite(d.text.data, 1, d.text.len, stdout);
        if (d.n > d.limit)
            printf("    ... and %zu more differences\n", d.n - d.limit);
        t->failed++;
    } else {
        t->passed++;
    }
    fflush(stdout);
    weir_buf_free(&d.text);
    weir_ptest_result_free(&r);
}

/* One test file: checked whole first; 0 when its cases ran, -1 when it is
 * broken (its problems printed). */
static int test_one(const char *arg, int allow_unsafe, struct totals *t)
{
    char file[4096], pipeline_file[4096];
    test_file_of(arg, file, sizeof file);
    struct weir_diag d = {.file = file};
    struct stat st;
    if (stat(file, &st) == 0 && S_ISDIR(st.st_mode)) { /* jansson: "near end of file" */
        fprintf(stderr,
                "%s: cannot read the file: it is a directory (a test file is JSON: "
                "NAME.test.json, or the pipeline NAME.json beside it)\n",
                file);
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr), *pipeline = NULL;
    if (!root && jerr.line < 0) { /* not read at all: jansson has no place to give */
        fprintf(stderr, "%s: %s%s\n", file, jerr.text,
                strcmp(file, arg) != 0 ? " (weir test reads a pipeline's cases from the "
                                         ".test.json file beside it)"
                                       : "");
        return -1;
    }
    if (!root) {
        fprintf(stderr, "%s:%d:%d: %s\n", file, jerr.line, jerr.column, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        weir_diag_add(&d, "", "expected a test file (an object with \"tests\"), got %s",
                      type_name(root));
    } else {
        static const char *const keys[] = {"pipeline", "tolerance", "tests", NULL};
        known_keys(root, "", keys, &d);
        want_type(json_object_get(root, "pipeline"), JSON_STRING, "pipeline", "a file name", &d);
        want_type(json_object_get(root, "tolerance"), JSON_REAL, "tolerance", "a number", &d);
        const json_t *tol = json_object_get(root, "tolerance");
        if (json_is_number(tol) && !(json_number_value(tol) >= 0))
            weir_diag_add(&d, "tolerance", "expected a relative tolerance >= 0, got %g",
                          json_number_value(tol));
        const char *p = json_string_value(json_object_get(root, "pipeline"));
        if (p) {
            beside(file, p, pipeline_file, sizeof pipeline_file);
        } else {
            size_t n = strlen(file);
            snprintf(pipeline_file, sizeof pipeline_file, "%.*s.json",
                     (int)(n > 10 && strcmp(file + n - 10, ".test.json") == 0 ? n - 10 : n), file);
        }
        pipeline = json_load_file(pipeline_file, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(pipeline))
            weir_diag_add(&d, p ? "pipeline" : "", "expected a pipeline file, got %s: %s",
                          pipeline_file, pipeline ? "not an object" : jerr.text);
        const json_t *tests = json_object_get(root, "tests");
        if (!json_is_array(tests) || json_array_size(tests) == 0)
            weir_diag_add(&d, "tests", "expected a non-empty array of test cases, got %s",
                          tests ? type_name(tests) : "nothing");
        for (size_t i = 0; json_is_object(pipeline) && i < json_array_size(tests); i++)
            check_case(json_array_get(tests, i), i, pipeline, &d);
    }
    int rc = d.n ? -1 : 0;
    weir_diag_print(&d, stderr);
    if (d.n > 1)
        fprintf(stderr, "%s: %zu problems\n", file, d.n);
    weir_diag_free(&d);
    const json_t *tol = json_object_get(root, "tolerance");
    size_t i;
    const json_t *c;
    json_array_foreach(rc == 0 ? json_object_get(root, "tests") : NULL, i, c) {
        if (stop_asked(t))
            break;
        char input[4096];
        const char *in = json_string_value(json_object_get(c, "input_file"));
        if (in)
            beside(file, in, input, sizeof input);
        const json_t *ctol = json_object_get(c, "tolerance");
        struct weir_ptest_case tc = {.name = json_string_value(json_object_get(c, "name")),
                                     .obj = c,
                                     .input_file = in ? input : NULL,
                                     .allow_unsafe_kafka = allow_unsafe,
                                     .tolerance = ctol  ? json_number_value(ctol)
                                                  : tol ? json_number_value(tol)
                                                        : 1e-9};
        run_case(file, pipeline_file, pipeline, &tc, t);
    }
    json_decref(pipeline);
    json_decref(root);
    return rc;
}

static int test_main(int argc, char **argv)
{
    int allow_unsafe = 0, broken = 0, nfiles = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--allow-unsafe-kafka-properties") == 0)
            allow_unsafe = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "weir: test: unknown option \"%s\"; try: weir help test\n", argv[i]);
            return EXIT_USAGE;
        }
    }
    /* As in `weir run`: SIGINT/SIGTERM are the runs' stop requests. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct totals t = {0};
    for (int i = 2; i < argc && !t.interrupted; i++) {
        if (argv[i][0] == '-')
            continue;
        nfiles++;
        broken += test_one(argv[i], allow_unsafe, &t) < 0;
    }
    if (!nfiles) {
        fprintf(stderr, "weir: test needs a test file; try: weir help test\n");
        return EXIT_USAGE;
    }
    printf("%u passed, %u failed%s%s\n", t.passed, t.failed,
           broken ? " (and broken test files, above)" : "",
           t.interrupted ? " (interrupted: the cases after it did not run)" : "");
    if (t.interrupted)
        return EXIT_FAILED; /* not all ran: never a pass */
    return broken ? EXIT_USAGE : t.failed ? EXIT_FAILED : 0;
}

const struct weir_command weir_command_test = {
    .name = "test",
    .usage = "weir test FILE... [--allow-unsafe-kafka-properties]",
    .help =
        "Runs a pipeline's unit tests: FILE is a test file (x.test.json) or the pipeline x.json\n"
        "beside it. Each case's input records go through the real source, operators and sinks:\n"
        "a file source reads them from a temporary file and file sinks write temporary files;\n"
        "Kafka sources and sinks run on the embedded cluster (the input is produced to the\n"
        "source's topic, the run ends once it has been read and every output acknowledged,\n"
        "then each sink's topic is read back). What each sink wrote, the dead letters and the\n"
        "alert count are compared with the case's \"expect\": only the fields named, numbers\n"
        "within a relative tolerance (default 1e-9). One line per case, ok or FAIL, with the\n"
        "differences (sink, record, field, expected and got) under a failing one, then\n"
        "\"N passed, N failed\". Exit 0 when all pass, 1 when some fail, 2 for a broken test\n"
        "file (every problem with its JSON path). Format: docs/operations.md, \"Testing a\n"
        "pipeline\".\n",
    .main = test_main,
};
