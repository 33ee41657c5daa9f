/* Benchmark: what sink projections and mask cost per record, on 1,000,000
 * fraud transactions shaped like the Fraud Detection Handbook's CSV rows as
 * the CSV source presents them (~190-byte JSON objects, 9 fields, two of
 * them labels), held in memory.
 *
 * Output rows (weir_output_record, one computed feature and "alert"):
 *   copy      the input copied whole, fields appended (no projection: the
 *             baseline every other row is compared with)
 *   exclude   "exclude": ["TX_FRAUD*"] (the labels dropped)
 *   fields    "fields": ["TRANSACTION_ID", "CUSTOMER_ID", "TX_AMOUNT", "score"]
 *   jansson   the same exclude done the obvious way: parse, delete, dump
 * mask rows (the operator's process() over batches of 1024):
 *   mask      "fields": ["CUSTOMER_ID"] keyed HMAC-SHA256, record rewritten
 *   HMAC()    OpenSSL's one-shot HMAC() on the same values (no rewrite), the
 *             allocating call mask avoids
 * Outputs are checked first: the exclude row against jansson's key set on
 * every record, the mask against HMAC() on every record. Times are the best
 * of 3 passes; wall and CPU time (CLOCK_PROCESS_CPUTIME_ID) per record.
 *
 * Usage: bench_project [results.json]   (default bench/results/project.json) */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/batch.h"
#include "engine/jsonw.h"
#include "engine/operator.h"
#include "engine/output.h"
#include "engine/pipeline.h"

#define NREC 1000000
#define RUNS 3
#define BATCH 1024

static char *text;
static size_t *off;

static double clk(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void make_corpus(void)
{
    text = malloc((size_t)NREC * 256);
    off = malloc((NREC + 1) * sizeof *off);
    size_t n = 0;
    srand(1);
    for (int i = 0; i < NREC; i++) {
        off[i] = n;
        int s = i * 7;
        n += (size_t)sprintf(text + n,
                             "{\"TRANSACTION_ID\":%d,\"TX_DATETIME\":\"2018-04-%02d %02d:%02d:%02d\","
                             "\"CUSTOMER_ID\":%d,\"TERMINAL_ID\":%d,\"TX_AMOUNT\":%d.%02d,"
                             "\"TX_TIME_SECONDS\":%d,\"TX_TIME_DAYS\":%d,\"TX_FRAUD\":%d,"
                             "\"TX_FRAUD_SCENARIO\":%d}",
                             i, 1 + s / 86400 % 28, s / 3600 % 24, s / 60 % 60, s % 60,
                             rand() % 5000, rand() % 10000, rand() % 300, rand() % 100, s,
                             s / 86400, rand() % 100 == 0, rand() % 4);
    }
    off[NREC] = n;
}

static struct weir_schema schema = {.feat = {{.name = "score", .producer = 1, .emit = 1}},
                                    .nfeat = 1};

static void output_for(struct weir_output *o, const char *const *keep, size_t nkeep,
                       const char *const *drop, size_t ndrop)
{
    static const char *const appended[] = {"score", "alert"};
    memset(o, 0, sizeof *o);
    o->schema = &schema;
    o->cols[o->ncols++] = 0;
    o->alert = !nkeep;
    weir_output_keys(o);
    if (nkeep || ndrop) {
        o->proj = calloc(1, sizeof *o->proj);
        weir_projection_build(o->proj, keep, nkeep, drop, ndrop, appended, o->alert ? 2 : 1);
    }
}

/* Writes every record through o; returns the best pass's wall seconds. */
static double time_output(const struct weir_output *o, struct weir_batch *b, double *cpu,
                          size_t *bytes)
{
    struct weir_buf out = {0};
    double best = 1e9, best_cpu = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double t0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        *bytes = 0;
        for (int i = 0; i < NREC; i++) {
            b->rec[0].value = text + off[i];
            b->rec[0].value_len = (uint32_t)(off[i + 1] - off[i]);
            out.len = 0;
            weir_output_record(&out, o, b, 0);
            *bytes += out.len;
        }
        double t = clk(CLOCK_MONOTONIC) - t0, c = clk(CLOCK_PROCESS_CPUTIME_ID) - c0;
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
    }
    *cpu = best_cpu;
    weir_buf_free(&out);
    return best;
}

static double time_jansson(double *cpu)
{
    double best = 1e9, best_cpu = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double t0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        size_t acc = 0;
        for (int i = 0; i < NREC; i++) {
            json_t *j = json_loadb(text + off[i], off[i + 1] - off[i], 0, NULL);
            json_object_del(j, "TX_FRAUD");
            json_object_del(j, "TX_FRAUD_SCENARIO");
            json_object_set_new(j, "score", json_real(0.5));
            json_object_set_new(j, "alert", json_false());
            char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
            acc += strlen(s);
            free(s);
            json_decref(j);
        }
        double t = clk(CLOCK_MONOTONIC) - t0, c = clk(CLOCK_PROCESS_CPUTIME_ID) - c0;
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
        if (!acc)
            return -1;
    }
    *cpu = best_cpu;
    return best;
}

/* The exclude row keeps exactly jansson's key set, on every record. */
static int check_exclude(const struct weir_output *o, struct weir_batch *b)
{
    struct weir_buf out = {0};
    int bad = 0;
    for (int i = 0; i < NREC && bad < 5; i++) {
        b->rec[0].value = text + off[i];
        b->rec[0].value_len = (uint32_t)(off[i + 1] - off[i]);
        out.len = 0;
        weir_output_record(&out, o, b, 0);
        json_t *got = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, NULL);
        json_t *want = json_loadb(text + off[i], off[i + 1] - off[i], 0, NULL);
        json_object_del(want, "TX_FRAUD");
        json_object_del(want, "TX_FRAUD_SCENARIO");
        json_object_set_new(want, "score", json_real(0.5));
        json_object_set_new(want, "alert", json_false());
        if (!got || !json_equal(got, want)) {
            fprintf(stderr, "bench_project: record %d: %.*s\n", i, (int)out.len, out.data);
            bad++;
        }
        json_decref(got);
        json_decref(want);
    }
    weir_buf_free(&out);
    return bad;
}

/* mask through a loaded pipeline: [implicit extract, mask]; returns the
 * best pass's wall seconds, or -1 when a mask differs from HMAC(). */
static double time_mask(struct weir_pipeline *pl, double *cpu, int check)
{
    struct weir_batch_pool *pool = NULL;
    weir_batch_pool_new(&pool, BATCH, pl->schema.nfeat, pl->schema.nstr);
    struct weir_op op = {.type = pl->ops[1].type, .conf = pl->ops[1].conf, .index = 1};
    double best = 1e9, best_cpu = 1e9;
    for (int r = 0; r < (check ? 1 : RUNS); r++) {
        double t0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        for (int i = 0; i < NREC; i += BATCH) {
            struct weir_batch *b = weir_batch_get(pool);
            for (int k = i; k < i + BATCH && k < NREC; k++) {
                int j = weir_batch_push(b);
                b->rec[j].value = text + off[k];
                b->rec[j].value_len = (uint32_t)(off[k + 1] - off[k]);
            }
            op.type->process(&op, b);
            for (uint32_t j = 0; check && j < b->n; j++) {
                json_t *in = json_loadb(text + off[i + j], off[i + j + 1] - off[i + j], 0, NULL);
                json_t *outj = json_loadb(b->rec[j].value, b->rec[j].value_len, 0, NULL);
                char id[32], hex[65];
                unsigned char md[32];
                unsigned int n = 0;
                snprintf(id, sizeof id, "%lld",
                         (long long)json_integer_value(json_object_get(in, "CUSTOMER_ID")));
                HMAC(EVP_sha256(), "bench-key", 9, (unsigned char *)id, strlen(id), md, &n);
                for (int q = 0; q < 32; q++)
                    sprintf(hex + 2 * q, "%02x", md[q]);
                const char *got = json_string_value(json_object_get(outj, "CUSTOMER_ID"));
                int ok = got && strcmp(got, hex) == 0;
                json_decref(in);
                json_decref(outj);
                if (!ok) {
                    fprintf(stderr, "bench_project: mask of record %u differs\n", i + j);
                    return -1;
                }
            }
            weir_batch_put(b);
        }
        double t = clk(CLOCK_MONOTONIC) - t0, c = clk(CLOCK_PROCESS_CPUTIME_ID) - c0;
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
    }
    weir_batch_pool_free(pool);
    *cpu = best_cpu;
    return best;
}

/* OpenSSL's one-shot HMAC() over the same CUSTOMER_ID digits. */
static double time_hmac_oneshot(double *cpu)
{
    double best = 1e9, best_cpu = 1e9;
    for (int r = 0; r < RUNS; r++) {
        double t0 = clk(CLOCK_MONOTONIC), c0 = clk(CLOCK_PROCESS_CPUTIME_ID);
        unsigned acc = 0;
        for (int i = 0; i < NREC; i++) {
            const char *p = strstr(text + off[i], "\"CUSTOMER_ID\":") + 14;
            size_t len = strcspn(p, ",");
            unsigned char md[32];
            unsigned int n = 0;
            HMAC(EVP_sha256(), "bench-key", 9, (const unsigned char *)p, len, md, &n);
            acc += md[0];
        }
        double t = clk(CLOCK_MONOTONIC) - t0, c = clk(CLOCK_PROCESS_CPUTIME_ID) - c0;
        best = t < best ? t : best;
        best_cpu = c < best_cpu ? c : best_cpu;
        if (acc == 1u << 31)
            return -1;
    }
    *cpu = best_cpu;
    return best;
}

struct row {
    const char *name;
    double wall, cpu, base;
};

static void print_row(const struct row *r)
{
    printf("%-58s %9.1f %9.1f %8.2fx\n", r->name, r->wall * 1e9 / NREC, r->cpu * 1e9 / NREC,
           r->base / r->wall);
}

static void json_row(struct weir_buf *o, const struct row *r, int last)
{
    weir_buf_append(o, "    {", 5);
    weir_jsonw_key(o, "method");
    weir_jsonw_string(o, r->name, strlen(r->name));
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "ns_per_record");
    weir_jsonw_double(o, r->wall * 1e9 / NREC);
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "cpu_ns_per_record");
    weir_jsonw_double(o, r->cpu * 1e9 / NREC);
    weir_buf_append(o, ",", 1);
    weir_jsonw_key(o, "time_vs_baseline");
    weir_jsonw_double(o, r->wall / r->base);
    weir_buf_append(o, last ? "}\n" : "},\n", last ? 2 : 3);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bench/results/project.json";
    make_corpus();
    printf("%d records, %.1f bytes on average, e.g.\n  %.*s\n", NREC,
           (double)off[NREC] / NREC, (int)(off[1] - off[0]), text);

    struct weir_batch_pool *pool = NULL;
    weir_batch_pool_new(&pool, 1, 1, 0);
    struct weir_batch *b = weir_batch_get(pool);
    weir_batch_push(b);
    b->X[0] = 0.5f;
    static const char *const labels[] = {"TX_FRAUD*"};
    static const char *const keep[] = {"TRANSACTION_ID", "CUSTOMER_ID", "TX_AMOUNT", "score"};
    struct weir_output copy, exclude, fields;
    output_for(&copy, NULL, 0, NULL, 0);
    output_for(&exclude, NULL, 0, labels, 1);
    output_for(&fields, keep, 4, NULL, 0);
    if (check_exclude(&exclude, b))
        return 1;
    printf("checked: \"exclude\" output has jansson's fields and values on all %d records\n",
           NREC);

    setenv("WEIR_BENCH_MASK_KEY", "bench-key", 1);
    static const char mask_pipeline[] =
        "{\"source\": {\"type\": \"file\", \"path\": \"-\"},"
        " \"operators\": [{\"type\": \"mask\", \"fields\": [\"CUSTOMER_ID\"], "
        "\"key_env\": \"WEIR_BENCH_MASK_KEY\"}],"
        " \"sinks\": [{\"type\": \"file\", \"path\": \"-\"}]}";
    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    struct weir_load_opts lo = {.text = mask_pipeline, .len = sizeof mask_pipeline - 1};
    if (weir_pipeline_load_opts("mask.json", &lo, &pl, &diag) < 0) {
        weir_diag_print(&diag, stderr);
        return 1;
    }
    double cpu;
    if (time_mask(pl, &cpu, 1) < 0)
        return 1;
    printf("checked: mask equals OpenSSL HMAC() on all %d records\n\n", NREC);

    size_t bytes;
    struct row rows[6];
    rows[0] = (struct row){"copy: the input whole, score and alert appended", 0, 0, 0};
    rows[0].wall = time_output(&copy, b, &rows[0].cpu, &bytes);
    rows[1] = (struct row){"exclude [\"TX_FRAUD*\"]", 0, 0, 0};
    rows[1].wall = time_output(&exclude, b, &rows[1].cpu, &bytes);
    rows[2] = (struct row){"fields [TRANSACTION_ID, CUSTOMER_ID, TX_AMOUNT, score]", 0, 0, 0};
    rows[2].wall = time_output(&fields, b, &rows[2].cpu, &bytes);
    rows[3] = (struct row){"jansson: parse, delete the labels, append, dump", 0, 0, 0};
    rows[3].wall = time_jansson(&rows[3].cpu);
    for (int k = 0; k < 4; k++)
        rows[k].base = rows[0].wall;
    rows[4] = (struct row){"mask CUSTOMER_ID (HMAC-SHA256, record rewritten)", 0, 0, 0};
    rows[4].wall = time_mask(pl, &rows[4].cpu, 0);
    rows[5] = (struct row){"OpenSSL one-shot HMAC() of the same values only", 0, 0, 0};
    rows[5].wall = time_hmac_oneshot(&rows[5].cpu);
    rows[4].base = rows[5].base = rows[5].wall;

    printf("%-58s %9s %9s %9s\n", "method", "ns/rec", "cpu ns", "speed");
    for (int k = 0; k < 6; k++) {
        if (k == 4)
            printf("(mask rows: speed relative to one-shot HMAC())\n");
        print_row(&rows[k]);
    }

    struct weir_buf o = {0};
    const char *commit = getenv("WEIR_BENCH_COMMIT");
    char head[256];
    snprintf(head, sizeof head, "{\n  \"benchmark\": \"project\",\n  \"commit\": \"%s\",\n"
             "  \"records\": %d,\n  \"rows\": [\n", commit ? commit : "unknown", NREC);
    weir_buf_append(&o, head, strlen(head));
    for (int k = 0; k < 6; k++)
        json_row(&o, &rows[k], k == 5);
    weir_buf_append(&o, "  ]\n}\n", 6);
    FILE *f = fopen(path, "w");
    if (!f || fwrite(o.data, 1, o.len, f) != o.len) {
        fprintf(stderr, "bench_project: cannot write %s\n", path);
        return 1;
    }
    fclose(f);
    printf("\nwrote %s\n", path);
    weir_buf_free(&o);
    weir_output_free(&copy);
    weir_output_free(&exclude);
    weir_output_free(&fields);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    weir_pipeline_free(pl);
    weir_diag_free(&diag);
    free(text);
    free(off);
    return 0;
}
