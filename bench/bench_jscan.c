/* Benchmark: reading two fields out of ~150-byte JSON records, jansson's
 * full parse against weir_jscan's one-pass validate-and-extract, on 1,000,000
 * generated metric records held in memory. Both methods must extract the
 * same values from every record before anything is timed. Each timing is
 * the best of 3 passes (CLOCK_MONOTONIC). Extra rows: weir_jscan validating
 * only, and extracting 4 fields (one nested). A second table times
 * weir_jsonw_double against snprintf.
 *
 * Usage: bench_jscan [results.json]   (default bench/results/jscan.json)
 */
#include "engine/buf.h"
#include "engine/jscan.h"
#include "engine/jsonw.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define NREC 1000000
#define RUNS 3

struct corpus {
    char *text;  /* all records, back to back */
    size_t *off; /* NREC + 1 */
    size_t bytes;
};

static uint64_t rng_state = 42;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int make_corpus(struct corpus *c)
{
    static const char *metrics[] = {"cpu_user", "cpu_system", "mem_used", "disk_io",
                                    "net_rx",   "net_tx",     "load1"};
    static const char *dcs[] = {"eu-1", "us-east-2", "ap-3"};
    static const char *envs[] = {"prod", "staging"};
    c->text = malloc((size_t)NREC * 256);
    c->off = malloc((NREC + 1) * sizeof *c->off);
    if (!c->text || !c->off)
        return -ENOMEM;
    size_t n = 0;
    time_t t0 = 1396310400; /* 2014-04-01 00:00:00 UTC */
    for (int i = 0; i < NREC; i++) {
        time_t t = t0 + (time_t)(i / 64) * 300;
        struct tm tm;
        gmtime_r(&t, &tm);
        char ts[32];
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        c->off[i] = n;
        double value = (double)(rnd() % 1000000) / 1000.0;
        n += (size_t)sprintf(
            c->text + n,
            "{\"ts\":\"%s\",\"host\":\"web-%d\",\"metric\":\"%s\",\"value\":%.3f,"
            "\"tags\":{\"dc\":\"%s\",\"env\":\"%s\",\"rack\":\"r%d\"},\"seq\":%d,\"ok\":true}",
            ts, (int)(rnd() % 64) + 1, metrics[rnd() % 7], value, dcs[rnd() % 3], envs[rnd() % 2],
            (int)(rnd() % 40), i);
    }
    c->off[NREC] = n;
    c->bytes = n;
    return 0;
}

/* ---- the two methods ----------------------------------------------------- */

struct fields {
    const char *host; /* into the record (weir) or jansson's copy */
    size_t host_len;
    double value;
};

static int jansson_get(const char *rec, size_t len, struct fields *f, json_t **keep)
{
    json_error_t err;
    json_t *root = json_loadb(rec, len, 0, &err);
    if (!root)
        return -1;
    json_t *h = json_object_get(root, "host"), *v = json_object_get(root, "value");
    if (!json_is_string(h) || !json_is_number(v)) {
        json_decref(root);
        return -1;
    }
    f->host = json_string_value(h);
    f->host_len = json_string_length(h);
    f->value = json_number_value(v);
    *keep = root; /* the caller frees it once it is done with host */
    return 0;
}

static int weir_get(const struct weir_jscan *s, const char *rec, size_t len, struct fields *f)
{
    struct weir_jval v[2];
    if (weir_jscan_run(s, rec, len, v, NULL) != 0 || v[0].type != WEIR_JSTRING ||
        weir_jval_number(rec, &v[1], &f->value) != 0)
        return -1;
    f->host = rec + v[0].off; /* no escapes in these records: the raw text is the value */
    f->host_len = v[0].len;
    return 0;
}

static double time_jansson(const struct corpus *c, double *sum)
{
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double acc = 0, t = now();
        for (int i = 0; i < NREC; i++) {
            json_error_t err;
            json_t *root = json_loadb(c->text + c->off[i], c->off[i + 1] - c->off[i], 0, &err);
            json_t *h = json_object_get(root, "host"), *v = json_object_get(root, "value");
            acc += json_number_value(v) + (double)json_string_length(h) + json_string_value(h)[4];
            json_decref(root);
        }
        t = now() - t;
        best = t < best ? t : best;
        *sum = acc;
    }
    return best;
}

static double time_weir(const struct corpus *c, const struct weir_jscan *s, int nfields,
                        double *sum)
{
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        double acc = 0, t = now();
        for (int i = 0; i < NREC; i++) {
            const char *rec = c->text + c->off[i];
            struct weir_jval v[4];
            double d;
            if (weir_jscan_run(s, rec, c->off[i + 1] - c->off[i], v, NULL) != 0)
                return -1;
            if (nfields >= 2) {
                weir_jval_number(rec, &v[1], &d);
                acc += d + (double)v[0].len + rec[v[0].off + 4];
            }
            if (nfields >= 4) {
                weir_jval_number(rec, &v[3], &d);
                acc += d + (double)v[2].len;
            }
        }
        t = now() - t;
        best = t < best ? t : best;
        *sum = acc;
    }
    return best;
}

/* ---- jsonw_double against snprintf --------------------------------------- */

static double time_format(const float *vals, int n, int how, size_t *bytes)
{
    struct weir_buf b = {0};
    weir_buf_reserve(&b, 64);
    double best = 1e30;
    for (int r = 0; r < RUNS; r++) {
        size_t total = 0;
        double t = now();
        for (int i = 0; i < n; i++) {
            b.len = 0;
            if (how == 0) {
                weir_jsonw_double(&b, vals[i]);
            } else {
                b.len =
                    (size_t)snprintf(b.data, b.cap, how == 1 ? "%.9g" : "%.17g", (double)vals[i]);
            }
            total += b.len;
        }
        t = now() - t;
        best = t < best ? t : best;
        *bytes = total;
    }
    weir_buf_free(&b);
    return best;
}

/* ---- main ---------------------------------------------------------------- */

static void json_row(struct weir_buf *o, const char *name, double secs, double bytes, double base)
{
    weir_buf_append(o, "    {", 5);
    weir_jsonw_key(o, "method");
    weir_jsonw_string(o, name, strlen(name));
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "records_per_s");
    weir_jsonw_int(o, (int64_t)(NREC / secs));
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "ns_per_record");
    weir_jsonw_double(o, secs * 1e9 / NREC);
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "mb_per_s");
    weir_jsonw_double(o, bytes / secs / 1e6);
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "speedup_vs_jansson");
    weir_jsonw_double(o, base / secs);
    weir_buf_append(o, "}", 1);
}

static void print_row(const char *name, double secs, double bytes, double base)
{
    printf("%-44s %12.0f %10.1f %9.0f %8.2fx\n", name, NREC / secs, secs * 1e9 / NREC,
           bytes / secs / 1e6, base / secs);
}

static void cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(out, n, "%s", colon + 2);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bench/results/jscan.json";
    struct corpus c;
    if (make_corpus(&c) < 0) {
        fprintf(stderr, "bench_jscan: out of memory generating records\n");
        return 1;
    }
    printf("%d records, %.1f bytes on average, e.g.\n  %.*s\n", NREC, (double)c.bytes / NREC,
           (int)(c.off[1] - c.off[0]), c.text);

    const char *two[] = {"/host", "/value"};
    const char *four[] = {"/host", "/value", "/tags/dc", "/seq"};
    struct weir_jscan *s2 = NULL, *s4 = NULL, *s0 = NULL;
    struct weir_error err;
    if (weir_jscan_compile(&s2, two, 2, &err) < 0 || weir_jscan_compile(&s4, four, 4, &err) < 0 ||
        weir_jscan_compile(&s0, NULL, 0, &err) < 0) {
        fprintf(stderr, "bench_jscan: %s\n", err.msg);
        return 1;
    }

    /* Check first: the same host and the same value, bit for bit, everywhere. */
    long mismatches = 0;
    for (int i = 0; i < NREC; i++) {
        const char *rec = c.text + c.off[i];
        size_t len = c.off[i + 1] - c.off[i];
        struct fields a, b;
        json_t *keep = NULL;
        if (jansson_get(rec, len, &a, &keep) != 0 || weir_get(s2, rec, len, &b) != 0 ||
            a.host_len != b.host_len || memcmp(a.host, b.host, a.host_len) != 0 ||
            memcmp(&a.value, &b.value, sizeof a.value) != 0) {
            if (mismatches++ < 5)
                fprintf(stderr, "mismatch in record %d: %.*s\n", i, (int)len, rec);
        }
        json_decref(keep);
    }
    if (mismatches) {
        fprintf(stderr, "bench_jscan: %ld records differ between jansson and weir_jscan\n",
                mismatches);
        return 1;
    }
    printf(
        "checked: jansson and weir_jscan extract identical host and value from all %d records\n\n",
        NREC);

    double sj, sw, s_unused;
    double tj = time_jansson(&c, &sj);
    double tw = time_weir(&c, s2, 2, &sw);
    double tv = time_weir(&c, s0, 0, &s_unused);
    double t4 = time_weir(&c, s4, 4, &s_unused);
    if (tw < 0 || tv < 0 || t4 < 0) {
        fprintf(stderr, "bench_jscan: weir_jscan_run rejected a record while timing\n");
        return 1;
    }
    if (fabs(sj - sw) > 1e-6 * fabs(sj)) {
        fprintf(stderr, "bench_jscan: checksums differ (%.17g vs %.17g)\n", sj, sw);
        return 1;
    }
    double bytes = (double)c.bytes;
    printf("%-44s %12s %10s %9s %9s\n", "method (best of 3, 1 core)", "records/s", "ns/record",
           "MB/s", "vs (a)");
    print_row("(a) jansson json_loadb + 2 gets + decref", tj, bytes, tj);
    print_row("(b) weir_jscan_run 2 fields + number parse", tw, bytes, tj);
    print_row("    weir_jscan_run validate only", tv, bytes, tj);
    print_row("    weir_jscan_run 4 fields (1 nested) + 2 nums", t4, bytes, tj);

    /* Formatting floats: scores and features as they are written out. */
    enum { NF = 1000000 };
    float *vals = malloc(NF * sizeof *vals);
    for (int i = 0; i < NF; i++)
        vals[i] = i % 2 ? (float)((double)(rnd() % 2000000) / 1000.0 - 1000.0)
                        : (float)(exp((double)(rnd() % 4000) / 100.0 - 20.0));
    size_t b0, b1, b2;
    double f0 = time_format(vals, NF, 0, &b0), f1 = time_format(vals, NF, 1, &b1);
    double f2 = time_format(vals, NF, 2, &b2);
    printf("\n%-44s %10s %12s\n", "float -> JSON text (1M floats, best of 3)", "ns/value",
           "bytes/value");
    printf("%-44s %10.1f %12.2f\n", "weir_jsonw_double (shortest, <= 9 digits)", f0 * 1e9 / NF,
           (double)b0 / NF);
    printf("%-44s %10.1f %12.2f\n", "snprintf %.9g", f1 * 1e9 / NF, (double)b1 / NF);
    printf("%-44s %10.1f %12.2f\n", "snprintf %.17g", f2 * 1e9 / NF, (double)b2 / NF);
    free(vals);

    /* Results file */
    struct weir_buf o = {0};
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    weir_buf_append(&o, "{\n  ", 4);
    weir_jsonw_key(&o, "benchmark");
    weir_jsonw_string(&o, "jscan", 5);
    weir_buf_append(&o, ",\n  ", 4);
    weir_jsonw_key(&o, "cpu");
    weir_jsonw_string(&o, cpu, strlen(cpu));
    weir_buf_append(&o, ",\n  ", 4);
    weir_jsonw_key(&o, "jansson_version");
    weir_jsonw_string(&o, JANSSON_VERSION, strlen(JANSSON_VERSION));
    weir_buf_append(&o, ",\n  ", 4);
    weir_jsonw_key(&o, "records");
    weir_jsonw_int(&o, NREC);
    weir_buf_append(&o, ",\n  ", 4);
    weir_jsonw_key(&o, "avg_record_bytes");
    weir_jsonw_double(&o, (double)c.bytes / NREC);
    weir_buf_append(&o, ",\n  ", 4);
    double load = -1;
    FILE *lf = fopen("/proc/loadavg", "r");
    if (lf) {
        if (fscanf(lf, "%lf", &load) != 1)
            load = -1;
        fclose(lf);
    }
    weir_jsonw_key(&o, "load_avg_1min"); /* other work on the machine skews timings */
    weir_jsonw_double(&o, load);
    weir_buf_append(&o, ",\n  ", 4);
    weir_jsonw_key(&o, "runs");
    weir_jsonw_int(&o, RUNS);
    weir_buf_append(&o, ",\n  ", 4);
    weir_jsonw_key(&o, "extract");
    weir_buf_append(&o, "[\n", 2);
    json_row(&o, "jansson json_loadb + 2 gets + decref", tj, bytes, tj);
    weir_buf_append(&o, ",\n", 2);
    json_row(&o, "weir_jscan_run 2 fields + number parse", tw, bytes, tj);
    weir_buf_append(&o, ",\n", 2);
    json_row(&o, "weir_jscan_run validate only", tv, bytes, tj);
    weir_buf_append(&o, ",\n", 2);
    json_row(&o, "weir_jscan_run 4 fields (1 nested) + 2 numbers", t4, bytes, tj);
    weir_buf_append(&o, "\n  ],\n  ", 8);
    weir_jsonw_key(&o, "format_ns_per_value");
    weir_buf_append(&o, "{", 1);
    weir_jsonw_key(&o, "weir_jsonw_double");
    weir_jsonw_double(&o, f0 * 1e9 / NF);
    weir_buf_append(&o, ",", 1);
    weir_jsonw_key(&o, "snprintf_9g");
    weir_jsonw_double(&o, f1 * 1e9 / NF);
    weir_buf_append(&o, ",", 1);
    weir_jsonw_key(&o, "snprintf_17g");
    weir_jsonw_double(&o, f2 * 1e9 / NF);
    weir_buf_append(&o, "}\n}\n", 4);

    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        for (char *p = dir + 1; *p; p++) { /* mkdir -p */
            if (*p == '/') {
                *p = '\0';
                mkdir(dir, 0755);
                *p = '/';
            }
        }
        mkdir(dir, 0755);
    }
    FILE *f = fopen(path, "w");
    if (!f || fwrite(o.data, 1, o.len, f) != o.len || fclose(f) != 0) {
        fprintf(stderr, "bench_jscan: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("\nwrote %s\n", path);
    weir_buf_free(&o);
    weir_jscan_free(s0);
    weir_jscan_free(s2);
    weir_jscan_free(s4);
    free(c.text);
    free(c.off);
    return 0;
}
