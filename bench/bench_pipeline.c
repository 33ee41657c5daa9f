/* bench_pipeline: file -> file throughput of a four-operator pipeline on one
 * worker, side by side with a reference implementation written the obvious
 * way with jansson.
 *
 * It generates N (default 1,000,000) deterministic, seeded JSON records of
 * about 150 bytes (a metrics stream: a mean-reverting random walk with a few
 * injected spikes, and a few malformed lines for the dead-letter path),
 * writes a pipeline file
 *
 *     file source -> extract (value, host as string, ts as timestamp)
 *                 -> standardize (running) -> score (zscore)
 *                 -> threshold (quantile 0.999, or --above X)
 *                 -> file sink, dead letters to a file
 *
 * and runs it with weir_pipeline_load + weir_run (timing on, one worker).
 * The reference reads lines with getline, parses each with json_loads, reads
 * the fields, does the same Welford / z-score / erf / P² math (copied from
 * operators/standardize.c, score.c and threshold.c), adds the computed fields
 * with json_object_set_new, serialises with json_dumps and fwrites the line.
 *
 * Before timing anything it runs both once and checks that they agree: the
 * same output lines, dead letters and alerts, and, line by line, the same
 * value_z, anomaly_score and alert (as floats). Then it times R runs of each
 * (interleaved), prints a table (best, and median in brackets) and writes the
 * numbers as JSON.
 *
 * With --keys K the records are spread over K hosts in turn (default 24),
 * standardize and threshold get "by": "host" (one state per host, in the
 * engine's keyed store), their warm-ups drop to 5 records (with 100,000 hosts
 * each host has only 10 records), and the reference keeps its per-host state
 * in a hash map of its own. After the check it also runs one worker directly
 * (untimed) to read what the keyed store holds: weir_state_bytes and the
 * worker's RSS growth.
 *
 * Usage: bench_pipeline [--records N] [--runs R] [--seed S] [--above X]
 *                       [--keys K] [--dir DIR] [--keep] [RESULT.json]
 * RESULT.json defaults to bench/results/pipeline_file.json, or
 * bench/results/pipeline_keyed.json with --keys. */
#include "engine/diag.h"
#include "engine/error.h"
#include "engine/opstate.h"
#include "engine/pipeline.h"
#include "engine/run.h"
#include "engine/state.h"
#include "engine/worker.h"
#include "bench/pipeline/pipeline_ref.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_RUNS 15
#define DEFAULT_HOSTS 24
#define KEYED_WARMUP  5 /* standardize and threshold warm-ups with --keys */

struct opts {
    uint64_t records;
    int runs;
    uint64_t seed;
    double above;    /* > 0: a fixed threshold instead of the 0.999 quantile */
    uint32_t keys;   /* > 0: that many hosts, and state per host ("by": "host") */
    const char *dir; /* where the temp directory goes */
    int keep;        /* keep the generated files */
    const char *result;
};

struct paths {
    char dir[512];
    char input[600], pipeline[600];
    char weir_out[600], weir_dead[600];
    char ref_out[600], ref_dead[600];
};


/* ---- the input -------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double unit(uint64_t *s) /* [0, 1) */
{
    return (double)(splitmix(s) >> 11) * 0x1.0p-53;
}

static double gauss(uint64_t *s) /* Box-Muller */
{
    double u1 = 1.0 - unit(s), u2 = unit(s);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* Writes n records; returns the bytes written or -1. nhosts hosts report in
 * turn (24: every 5 s) from 2014-04-01 00:00:00 UTC; one value stream, a random walk
 * pulled towards 40 with a spike on about 1 record in 5,000, and about 1 in
 * 50,000 records malformed (cut short, or without "value"). */
static long long generate(const char *path, uint64_t n, uint64_t seed, uint32_t nhosts)
{
    static const char *const dcs[] = {"eu-west-1", "us-east-1", "ap-south-1"};
    static const char *const services[] = {"checkout-api", "search-api", "payments-api",
                                           "catalog-api",  "auth-api",   "recommendations-api"};
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    uint64_t s = seed;
    double walk = 40.0;
    long long bytes = 0;
    char line[512], ts[32], value[32];
    for (uint64_t i = 0; i < n; i++) {
        walk += 0.02 * (40.0 - walk) + 1.2 * gauss(&s);
        walk = walk < 0 ? 0 : walk > 100 ? 100 : walk;
        double v = walk;
        if (unit(&s) < 2e-4)
            v += (unit(&s) < 0.5 ? -1 : 1) * (25.0 + 25.0 * unit(&s));
        v = v < 0 ? 0 : v > 100 ? 100 : v;
        time_t t = (time_t)(1396310400 + (i / 24) * 5);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
        unsigned host = (unsigned)(i % nhosts);
        double bad = unit(&s);
        value[0] = '\0'; /* no "value" in about 1 record in 100,000 */
        if (bad >= 1e-5)
            snprintf(value, sizeof value, "\"value\":%.3f,", v);
        int len =
            snprintf(line, sizeof line,
                     "{\"ts\":\"%s\",\"host\":\"web-%03u\",\"dc\":\"%s\",\"service\":\"%s\","
                     "\"metric\":\"cpu_user\",\"unit\":\"percent\",%s\"seq\":%llu}",
                     ts, host, dcs[host % 3], services[host % 6], value, (unsigned long long)i);
        if (bad >= 1e-5 && bad < 2e-5)
            len /= 2; /* cut short: not valid JSON */
        line[len++] = '\n';
        if (fwrite(line, 1, (size_t)len, f) != (size_t)len) {
            fclose(f);
            return -1;
        }
        bytes += len;
    }
    return fclose(f) == 0 ? bytes : -1;
}

/* The pipeline file; paths are escaped by jansson. */
static int write_pipeline(const struct paths *p, const struct opts *o)
{
    int z_warmup = o->keys ? KEYED_WARMUP : 30, t_warmup = o->keys ? KEYED_WARMUP : 100;
    json_t *threshold = o->above > 0
                            ? json_pack("{s:s, s:s, s:f, s:i}", "type", "threshold", "score",
                                        "anomaly_score", "above", o->above, "warmup", t_warmup)
                            : json_pack("{s:s, s:s, s:f, s:i}", "type", "threshold", "score",
                                        "anomaly_score", "quantile", 0.999, "warmup", t_warmup);
    /* clang-format off */
    json_t *ops = json_pack(
        "[{s:s, s:{s:s, s:{s:s, s:s}, s:{s:s, s:s}}},"
        " {s:s, s:[s], s:[s], s:s, s:i},"
        " {s:s, s:s, s:[s], s:s}, o]",
        "type", "extract", "fields", "value", "/value", "host", "path", "/host", "type", "string",
        "ts", "path", "/ts", "type", "timestamp",
        "type", "standardize", "fields", "value", "out", "value_z", "mode", "running", "warmup", z_warmup,
        "type", "score", "method", "zscore", "fields", "value_z", "out", "anomaly_score",
        threshold);
    if (ops && o->keys) { /* state per host */
        json_object_set_new(json_array_get(ops, 1), "by", json_string("host"));
        json_object_set_new(json_array_get(ops, 3), "by", json_string("host"));
    }
    json_t *pl = json_pack("{s:s, s:{s:s, s:s, s:s}, s:o, s:[{s:s, s:s}], s:{s:s, s:s}}",
                           "name", "bench-pipeline",
                           "source", "type", "file", "path", p->input, "format", "jsonl",
                           "operators", ops,
                           "sinks", "type", "file", "path", p->weir_out,
                           "dead_letter", "type", "file", "path", p->weir_dead);
    /* clang-format on */
    int rc = pl ? json_dump_file(pl, p->pipeline, JSON_INDENT(2)) : -1;
    json_decref(pl);
    return rc;
}

/* ---- weir ------------------------------------------------------------------- */

static int run_weir(const struct weir_pipeline *pl, struct run *r)
{
    struct weir_run_opts ro = {.workers = 1, .timing = 1};
    struct weir_run_result res;
    struct weir_error err = {0};
    double c0 = cpu_seconds();
    uint64_t t0 = now_ns();
    int rc = weir_run(pl, &ro, &res, &err);
    r->seconds = (double)(now_ns() - t0) / 1e9;
    r->cpu = cpu_seconds() - c0;
    if (rc < 0) {
        fprintf(stderr, "bench_pipeline: weir_run: %s\n", err.msg[0] ? err.msg : strerror(-rc));
        return -1;
    }
    r->out = res.total.records_out;
    r->dead = res.total.dead;
    r->alerts = res.total.alerts;
    for (size_t k = 0; k < pl->nops && k < MAX_OPS; k++)
        r->op_ns[k] = res.total.op_ns[k];
    return 0;
}

/* ---- checking before timing ------------------------------------------------- */

/* The float after "key":, NaN for null or when the key is missing. */
static float field_float(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    if (!p)
        return NAN;
    p += strlen(key);
    return strncmp(p, "null", 4) == 0 ? NAN : strtof(p, NULL);
}

static uint64_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[1 << 16];
    size_t n;
    uint64_t lines = 0;
    if (!f)
        return 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        for (size_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    fclose(f);
    return lines;
}

/* Compares the two outputs line by line; returns the number of differences. */
static uint64_t compare_outputs(const char *a_path, const char *b_path)
{
    FILE *a = fopen(a_path, "r"), *b = fopen(b_path, "r");
    char *la = NULL, *lb = NULL;
    size_t ca = 0, cb = 0;
    uint64_t no = 0, diffs = 0;
    if (!a || !b) {
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        return 1;
    }
    for (;;) {
        ssize_t na = getline(&la, &ca, a), nb = getline(&lb, &cb, b);
        if (na <= 0 || nb <= 0) {
            diffs += (na > 0) != (nb > 0);
            break;
        }
        no++;
        static const char *const keys[] = {"\"value_z\":", "\"anomaly_score\":"};
        int same = (strstr(la, "\"alert\":true") != NULL) == (strstr(lb, "\"alert\":true") != NULL);
        for (int k = 0; k < 2; k++) {
            float x = field_float(la, keys[k]), y = field_float(lb, keys[k]);
            same &= x == y || (isnan(x) && isnan(y));
        }
        if (!same && diffs++ < 5)
            fprintf(stderr,
                    "bench_pipeline: output line %llu differs:\n  weir:      %s  reference: %s",
                    (unsigned long long)no, la, lb);
    }
    free(la);
    free(lb);
    fclose(a);
    fclose(b);
    return diffs;
}

/* Deleting the last run's outputs, untimed, keeps the kernel's freeing of
 * their page-cache pages (a truncate inside the timed run) out of the next. */
static void clear_outputs(const struct paths *p)
{
    unlink(p->weir_out);
    unlink(p->weir_dead);
    unlink(p->ref_out);
    unlink(p->ref_dead);
}

static int verify(const struct paths *p, const struct weir_pipeline *pl,
                  const struct ref_conf *rc, uint64_t *out, uint64_t *dead, uint64_t *alerts,
                  struct run *ref_run)
{
    struct run w = {0}, r = {0};
    double above = rc->above;
    clear_outputs(p);
    if (run_weir(pl, &w) < 0 || run_reference(p->input, p->ref_out, p->ref_dead, rc, &r, 0) < 0)
        return -1;
    *ref_run = r;
    uint64_t wl = count_lines(p->weir_out), rl = count_lines(p->ref_out);
    uint64_t wd = count_lines(p->weir_dead), rd = count_lines(p->ref_dead);
    uint64_t diffs = compare_outputs(p->weir_out, p->ref_out);
    printf("check: output lines weir %llu / reference %llu; dead letters %llu / %llu; alerts %llu "
           "/ %llu; "
           "differing lines %llu\n",
           (unsigned long long)wl, (unsigned long long)rl, (unsigned long long)wd,
           (unsigned long long)rd, (unsigned long long)w.alerts, (unsigned long long)r.alerts,
           (unsigned long long)diffs);
    if (wl != rl || wd != rd || w.alerts != r.alerts || diffs || wl != w.out || wd != w.dead) {
        fprintf(stderr, "bench_pipeline: weir and the reference disagree; not timing%s\n",
                above > 0 ? "" : " (try --above 0.99999 for a fixed threshold)");
        return -1;
    }
    *out = wl;
    *dead = wd;
    *alerts = w.alerts;
    return 0;
}

/* ---- what the keyed state holds ------------------------------------------- */

/* At the end of one run (untimed): one worker driven directly, as weir_run's
 * threads drive theirs, and read before it is destroyed. */
struct state_mem {
    uint64_t keys[MAX_OPS], bytes[MAX_OPS]; /* per operator, over its partitions */
    long long rss_kb;                       /* the process's RSS growth, init to end of run */
    int measured;
};

static long long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtoll(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return kb;
}

static int measure_state(const struct paths *p, const struct weir_pipeline *pl,
                         struct state_mem *sm)
{
    struct weir_error err = {0};
    struct weir_worker *w = calloc(1, sizeof *w);
    int rc = w ? 0 : -ENOMEM;
    clear_outputs(p);
    for (size_t k = 0; rc == 0 && k <= pl->nsinks; k++) { /* as weir_run's first worker does */
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        if (st->type->setup)
            rc = st->type->setup(st->conf, &err);
    }
    long long rss0 = rss_kb();
    if (rc == 0 && (rc = weir_worker_init(w, 0, 1, pl, 1, &err)) == 0 &&
        (rc = weir_worker_run(w)) < 0)
        err = w->err;
    if (rc == 0) {
        sm->rss_kb = rss_kb() - rss0;
        for (size_t k = 0; k < w->nops && k < MAX_OPS; k++) {
            const struct weir_op_state *ks = w->ops[k].keyed;
            for (uint32_t part = 0; ks && part < ks->nparts; part++) {
                if (ks->parts[part]) {
                    sm->keys[k] += weir_state_count(ks->parts[part]);
                    sm->bytes[k] += weir_state_bytes(ks->parts[part]);
                }
            }
        }
        sm->measured = 1;
    } else {
        fprintf(stderr, "bench_pipeline: measuring the state: %s\n",
                err.msg[0] ? err.msg : strerror(-rc));
    }
    if (w)
        weir_worker_destroy(w);
    free(w);
    clear_outputs(p);
    return rc < 0 ? -1 : 0;
}

/* ---- reporting -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Wall and CPU seconds of a method's runs: best (least) and median. */
struct stats {
    double best, median;         /* wall seconds */
    double cpu_best, cpu_median; /* CPU seconds */
    int best_i;                  /* the run with the best wall time */
};

static struct stats summarise(const struct run *runs, int n)
{
    double wall[MAX_RUNS], cpu[MAX_RUNS];
    struct stats st = {0};
    for (int i = 0; i < n; i++) {
        wall[i] = runs[i].seconds;
        cpu[i] = runs[i].cpu;
        if (runs[i].seconds < runs[st.best_i].seconds)
            st.best_i = i;
    }
    st.best = runs[st.best_i].seconds;
    st.median = median_of(wall, n);
    st.cpu_median = median_of(cpu, n);
    st.cpu_best = cpu[0]; /* median_of sorted it */
    return st;
}

static json_t *speed_json(double seconds, double cpu, uint64_t records, long long bytes)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "seconds", seconds, "records_per_s",
                     (double)records / seconds, "mb_per_s", (double)bytes / seconds / 1e6,
                     "ns_per_record", seconds * 1e9 / (double)records, "cpu_ns_per_record",
                     cpu * 1e9 / (double)records);
}

static void machine_model(char *buf, size_t size)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, size, "unknown");
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(buf, size, "%s", colon + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
}

#if defined(__clang__)
#define COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER __VERSION__
#endif

static json_t *machine_json(void)
{
    char model[256];
    struct utsname u;
    machine_model(model, sizeof model);
    if (uname(&u) < 0)
        snprintf(u.release, sizeof u.release, "unknown");
    return json_pack("{s:i, s:s, s:s, s:s}", "nproc", (int)sysconf(_SC_NPROCESSORS_ONLN), "model",
                     model, "kernel", u.release, "compiler", COMPILER);
}

static void utc_now(char *buf, size_t size)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

struct report {
    const struct opts *o;
    const struct weir_pipeline *pl;
    long long bytes;
    uint64_t out, dead, alerts;
    struct run weir[MAX_RUNS], ref[MAX_RUNS];
    struct run ref_phases; /* the instrumented reference run */
    struct run ref_check;  /* the reference's checking run (its map's size) */
    struct state_mem state;
};

static void print_row(const char *name, const struct stats *st, const struct report *rp)
{
    double n = (double)rp->o->records, mb = (double)rp->bytes / 1e6;
    printf("%-22s %9.0f (%9.0f) %7.1f (%7.1f) %7.0f (%7.0f) %7.0f (%7.0f)\n", name, n / st->best,
           n / st->median, mb / st->best, mb / st->median, st->best * 1e9 / n, st->median * 1e9 / n,
           st->cpu_best * 1e9 / n, st->cpu_median * 1e9 / n);
}

static const char *const phase_names[5] = {"getline", "json_loads", "fields+math",
                                           "json_object_set+json_dumps", "fwrite"};

/* The per-operator part of the table, for weir's best run. */
static json_t *report_ops(const struct report *rp, const struct stats *w)
{
    double n = (double)rp->o->records;
    json_t *ops = json_object();
    uint64_t op_total = 0;
    printf("\nweir per operator, best run (ns/record)\n");
    for (size_t k = 0; k < rp->pl->nops && k < MAX_OPS; k++) {
        double v = (double)rp->weir[w->best_i].op_ns[k] / n;
        op_total += rp->weir[w->best_i].op_ns[k];
        printf("  %-26s %8.1f\n", rp->pl->ops[k].type->name, v);
        json_object_set_new(ops, rp->pl->ops[k].type->name, json_real(v));
    }
    double rest = (w->best * 1e9 - (double)op_total) / n;
    printf("  %-26s %8.1f\n  %-26s %8.1f   (CPU, all threads: %.1f)\n", "source+sink+overhead",
           rest, "total", w->best * 1e9 / n, rp->weir[w->best_i].cpu * 1e9 / n);
    json_object_set_new(ops, "source+sink+overhead", json_real(rest));
    return ops;
}

static json_t *report_phases(const struct report *rp)
{
    double n = (double)rp->o->records;
    json_t *phases = json_object();
    printf("\nreference phases, separate instrumented run (ns/record, includes clock reads)\n");
    for (int k = 0; k < 5; k++) {
        double v = (double)rp->ref_phases.phase_ns[k] / n;
        printf("  %-26s %8.1f\n", phase_names[k], v);
        json_object_set_new(phases, phase_names[k], json_real(v));
    }
    return phases;
}

/* What the keyed stores held at the end of a run, and the reference's map. */
static json_t *report_state(const struct report *rp)
{
    const struct state_mem *sm = &rp->state;
    json_t *ops = json_object();
    uint64_t bytes = 0, keys = 0;
    printf("\nkeyed state at the end of a run (weir_state_bytes: entries + table, as engine/state.c "
           "counts them)\n");
    for (size_t k = 0; sm->measured && k < rp->pl->nops && k < MAX_OPS; k++) {
        if (!sm->keys[k])
            continue;
        double per = (double)sm->bytes[k] / (double)sm->keys[k];
        printf("  %-14s %9llu keys %12llu bytes %8.1f bytes/key\n", rp->pl->ops[k].type->name,
               (unsigned long long)sm->keys[k], (unsigned long long)sm->bytes[k], per);
        json_object_set_new(ops, rp->pl->ops[k].type->name,
                            json_pack("{s:I, s:I, s:f}", "keys", (json_int_t)sm->keys[k], "bytes",
                                      (json_int_t)sm->bytes[k], "bytes_per_key", per));
        bytes += sm->bytes[k];
        keys = sm->keys[k] > keys ? sm->keys[k] : keys;
    }
    double per_key = keys ? (double)bytes / (double)keys : 0;
    double rss = (double)sm->rss_kb * 1024.0;
    double ref_per = rp->ref_check.keys ? (double)rp->ref_check.key_bytes /
                                              (double)rp->ref_check.keys : 0;
    printf("  %-14s %9llu keys %12llu bytes %8.1f bytes/key (every operator)\n", "total",
           (unsigned long long)keys, (unsigned long long)bytes, per_key);
    printf("  process RSS growth over one worker's run (batches and buffers too): %.1f MB, "
           "%.1f bytes/key\n",
           rss / 1e6, keys ? rss / (double)keys : 0.0);
    if (rp->ref_check.keys)
        printf("  reference's hash map: %llu keys, %llu bytes (table + keys, no malloc "
               "overhead), %.1f bytes/key\n",
               (unsigned long long)rp->ref_check.keys,
               (unsigned long long)rp->ref_check.key_bytes, ref_per);
    return json_pack("{s:b, s:o, s:I, s:I, s:f, s:f, s:f, s:I, s:I, s:f}", "measured",
                     sm->measured, "operators", ops, "keys", (json_int_t)keys, "bytes",
                     (json_int_t)bytes, "bytes_per_key", per_key, "rss_growth_bytes", rss,
                     "rss_growth_bytes_per_key", keys ? rss / (double)keys : 0.0,
                     "reference_map_keys", (json_int_t)rp->ref_check.keys, "reference_map_bytes",
                     (json_int_t)rp->ref_check.key_bytes, "reference_map_bytes_per_key", ref_per);
}

static json_t *runs_json(const struct run *runs, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(
            a, json_pack("{s:f, s:f}", "seconds", runs[i].seconds, "cpu_seconds", runs[i].cpu));
    return a;
}

/* Prints the table; returns the JSON with the same numbers. */
static json_t *report(const struct report *rp)
{
    const struct opts *o = rp->o;
    double n = (double)o->records;
    struct stats w = summarise(rp->weir, o->runs), r = summarise(rp->ref, o->runs);
    char keying[128];
    if (o->keys)
        snprintf(keying, sizeof keying, "state per host (\"by\": \"host\", %u hosts, warm-ups %d)",
                 o->keys, KEYED_WARMUP);
    else
        snprintf(keying, sizeof keying, "state per partition (%d hosts)", DEFAULT_HOSTS);
    printf("\n%llu records, %.1f bytes/record on average (%.1f MB), %s, %s, 1 worker; "
           "best of %d (median)\n",
           (unsigned long long)o->records, (double)rp->bytes / n, (double)rp->bytes / 1e6,
           o->above > 0 ? "fixed threshold" : "threshold quantile 0.999", keying, o->runs);
    printf("%-22s %21s %17s %17s %17s\n", "method", "records/s", "MB/s", "ns/record",
           "CPU ns/record"); /* CPU: least (median) */
    print_row("weir (jscan)", &w, rp);
    print_row("reference (jansson)", &r, rp);
    printf("%-22s %8.2fx (%8.2fx) %35s %6.2fx (%6.2fx)\n", "ratio weir/reference", r.best / w.best,
           r.median / w.median, "", r.cpu_best / w.cpu_best, r.cpu_median / w.cpu_median);
    json_t *ops = report_ops(rp, &w), *phases = report_phases(rp), *state = report_state(rp);
    const char *commit = getenv("WEIR_BENCH_COMMIT");
    char date[32];
    utc_now(date, sizeof date);
    printf("check: %llu output lines, %llu dead letters, %llu alerts, identical in both\n",
           (unsigned long long)rp->out, (unsigned long long)rp->dead,
           (unsigned long long)rp->alerts);
    /* clang-format off */
    json_t *res = json_pack(
        "{s:s, s:s, s:o, s:{s:s, s:s, s:s}, s:s, s:s, s:I, s:I, s:f, s:i, s:I,"
        " s:{s:I, s:I, s:I, s:b},"
        " s:[{s:s, s:i, s:o, s:o, s:o, s:o}, {s:s, s:o, s:o, s:o, s:o}], s:{s:f, s:f, s:f}}",
        "benchmark", o->keys ? "pipeline_keyed" : "pipeline_file", "date", date, "machine", machine_json(),
        "build", "weir", WEIR_VERSION, "commit", commit ? commit : "", "jansson", JANSSON_VERSION,
        "pipeline", o->above > 0 ? "file -> extract -> standardize -> score -> threshold(above) -> file"
                                 : "file -> extract -> standardize -> score -> threshold(quantile 0.999) -> file",
        "dir", o->dir,
        "records", (json_int_t)o->records, "input_bytes", (json_int_t)rp->bytes,
        "record_bytes_avg", (double)rp->bytes / n, "runs", o->runs, "seed", (json_int_t)o->seed,
        "counts", "out", (json_int_t)rp->out, "dead", (json_int_t)rp->dead, "alerts",
        (json_int_t)rp->alerts, "verified", 1,
        "methods",
        "name", "weir", "workers", 1, "best", speed_json(w.best, w.cpu_best, o->records, rp->bytes),
        "median", speed_json(w.median, w.cpu_median, o->records, rp->bytes),
        "runs", runs_json(rp->weir, o->runs), "operators_ns_per_record", ops,
        "name", "reference_jansson", "best", speed_json(r.best, r.cpu_best, o->records, rp->bytes),
        "median", speed_json(r.median, r.cpu_median, o->records, rp->bytes),
        "runs", runs_json(rp->ref, o->runs), "phases_ns_per_record", phases,
        "ratio_weir_over_reference", "best", r.best / w.best, "median", r.median / w.median,
        "cpu_median", r.cpu_median / w.cpu_median);
    /* clang-format on */
    if (res) {
        json_object_set_new(res, "hosts", json_integer(o->keys ? o->keys : DEFAULT_HOSTS));
        json_object_set_new(res, "by", o->keys ? json_string("host") : json_null());
        json_object_set_new(res, "warmups",
                            json_pack("{s:i, s:i}", "standardize", o->keys ? KEYED_WARMUP : 30,
                                      "threshold", o->keys ? KEYED_WARMUP : 100));
        json_object_set_new(res, "state", state);
    } else {
        json_decref(state);
    }
    return res;
}

static int write_result(const char *path, json_t *res)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!res || json_dump_file(res, tmp, JSON_INDENT(2) | JSON_REAL_PRECISION(7)) < 0 ||
        rename(tmp, path) < 0) {
        fprintf(stderr, "bench_pipeline: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

/* ---- main ------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep") == 0)
            o->keep = 1;
        else if (strcmp(a, "--records") == 0 && v)
            o->records = (uint64_t)strtod(argv[++i], NULL);
        else if (strcmp(a, "--runs") == 0 && v)
            o->runs = atoi(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && v)
            o->seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(a, "--above") == 0 && v)
            o->above = strtod(argv[++i], NULL);
        else if (strcmp(a, "--keys") == 0 && v)
            o->keys = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(a, "--dir") == 0 && v)
            o->dir = argv[++i];
        else if (a[0] != '-')
            o->result = a;
        else
            return -1;
    }
    return o->records > 0 && o->runs >= 1 && o->runs <= MAX_RUNS ? 0 : -1;
}

static int make_paths(struct paths *p, const char *dir)
{
    snprintf(p->dir, sizeof p->dir, "%s/weir-bench-XXXXXX", dir);
    if (!mkdtemp(p->dir))
        return -1;
    snprintf(p->input, sizeof p->input, "%s/input.jsonl", p->dir);
    snprintf(p->pipeline, sizeof p->pipeline, "%s/pipeline.json", p->dir);
    snprintf(p->weir_out, sizeof p->weir_out, "%s/weir.out.jsonl", p->dir);
    snprintf(p->weir_dead, sizeof p->weir_dead, "%s/weir.dead.jsonl", p->dir);
    snprintf(p->ref_out, sizeof p->ref_out, "%s/reference.out.jsonl", p->dir);
    snprintf(p->ref_dead, sizeof p->ref_dead, "%s/reference.dead.jsonl", p->dir);
    return 0;
}

static void remove_paths(const struct paths *p)
{
    const char *const files[] = {p->input,     p->pipeline, p->weir_out,
                                 p->weir_dead, p->ref_out,  p->ref_dead};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(files[i]);
    rmdir(p->dir);
}

static int bench(const struct opts *o, const struct paths *p, struct report *rp)
{
    struct weir_pipeline *pl = NULL;
    struct weir_diag diag = {0};
    printf("generating %llu records in %s ...\n", (unsigned long long)o->records, p->dir);
    uint32_t hosts = o->keys ? o->keys : DEFAULT_HOSTS;
    if ((rp->bytes = generate(p->input, o->records, o->seed, hosts)) < 0 ||
        write_pipeline(p, o) < 0) {
        fprintf(stderr, "bench_pipeline: cannot write to %s: %s\n", p->dir, strerror(errno));
        return -1;
    }
    if (weir_pipeline_load(p->pipeline, NULL, 0, &pl, &diag) < 0) {
        weir_diag_print(&diag, stderr);
        weir_diag_free(&diag);
        return -1;
    }
    weir_diag_free(&diag);
    rp->pl = pl;
    struct ref_conf refc = {.above = o->above,
                            .z_warmup = o->keys ? KEYED_WARMUP : 30,
                            .t_warmup = o->keys ? KEYED_WARMUP : 100,
                            .keyed = o->keys > 0};
    /* First, while the heap is fresh, so the RSS growth is the state's own. */
    int rc = measure_state(p, pl, &rp->state);
    if (rc == 0)
        rc = verify(p, pl, &refc, &rp->out, &rp->dead, &rp->alerts, &rp->ref_check);
    for (int i = 0; rc == 0 && i < o->runs; i++) {
        clear_outputs(p);
        rc = run_weir(pl, &rp->weir[i]);
        clear_outputs(p);
        if (rc == 0)
            rc = run_reference(p->input, p->ref_out, p->ref_dead, &refc, &rp->ref[i], 0);
        if (rc == 0)
            printf("run %d: weir %.3f s, reference %.3f s\n", i + 1, rp->weir[i].seconds,
                   rp->ref[i].seconds);
    }
    clear_outputs(p);
    if (rc == 0)
        rc = run_reference(p->input, p->ref_out, p->ref_dead, &refc, &rp->ref_phases, 1);
    if (rc == 0) {
        json_t *res = report(rp);
        rc = write_result(o->result, res);
        json_decref(res);
    }
    weir_pipeline_free(pl);
    return rc;
}

int main(int argc, char **argv)
{
    struct opts o = {.records = 1000000,
                     .runs = 3,
                     .seed = 42,
                     .above = 0,
                     .result = NULL};
    const char *tmpdir = getenv("TMPDIR");
    o.dir = tmpdir && *tmpdir ? tmpdir : "/tmp";
    if (parse_args(argc, argv, &o) < 0) {
        fprintf(stderr,
                "usage: bench_pipeline [--records N] [--runs R (1-%d)] [--seed S] "
                "[--above X] [--keys K] [--dir DIR] [--keep] [RESULT.json]\n",
                MAX_RUNS);
        return 2;
    }
    if (!o.result)
        o.result = o.keys ? "bench/results/pipeline_keyed.json" : "bench/results/pipeline_file.json";
    struct paths p;
    static struct report rp;
    rp.o = &o;
    if (make_paths(&p, o.dir) < 0) {
        fprintf(stderr, "bench_pipeline: cannot create a directory in %s: %s\n", o.dir,
                strerror(errno));
        return 1;
    }
    int rc = bench(&o, &p, &rp);
    if (o.keep)
        printf("kept the files in %s\n", p.dir);
    else
        remove_paths(&p);
    return rc < 0 ? 1 : 0;
}
