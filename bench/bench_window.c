/* Benchmark: the window, aggregate and dedup operators on their own, 1,000,000 records
 * over 100,000 distinct keys (uniformly drawn, event times in order over 30
 * days: about 10 records per key), fed in batches of 1,024 through the same
 * option table / prepare / init path as a pipeline (tests/op_harness.h).
 * Only process() is timed (wall clock and this thread's CPU clock), the best
 * of 3 runs, each on a fresh instance (empty state).
 *
 * Baseline in the same run: `standardize` with "by" (one keyed-store lookup
 * and an O(1) Welford update per record), the floor any keyed operator pays;
 * the ratio column says what the window's per-record work adds to it.
 * Bytes of state per key: the keyed store's bytes (keys, values, overhead,
 * table) over its key count, at the end of a run.
 *
 * Before timing, each configuration is checked: every record alive (but
 * dedup's duplicates, which it marks dead), and the outputs of record 0 and of the last record of
 * key 0 are what a direct computation says.
 *
 * `aggregate` (tumbling 1-day windows) runs with a stand-in engine that
 * takes its result batches and puts them back: building the results is
 * timed, writing them is not.
 *
 * Usage: bench_window [results.json]   (default bench/results/window.json) */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/opstate.h"
#include "engine/state.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_window, weir_op_dedup, weir_op_standardize,
    weir_op_aggregate;

#define NREC 1000000
#define NKEYS 100000
#define BATCH 1024
#define RUNS 3
#define SPAN_MS (30LL * 86400 * 1000)

struct input {
    uint32_t key[NREC];
    int64_t ts[NREC];
    float amount[NREC];
    float fraud[NREC];
    uint32_t shop[NREC];
};

static char keys[NKEYS][8];
static char shops[64][8];

static uint64_t rng_state = 42;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void make_input(struct input *in)
{
    for (int k = 0; k < NKEYS; k++)
        snprintf(keys[k], sizeof keys[k], "c%06d", k);
    for (int k = 0; k < 64; k++)
        snprintf(shops[k], sizeof shops[k], "m%d", k);
    for (int i = 0; i < NREC; i++) {
        in->key[i] = (uint32_t)(rnd() % NKEYS);
        in->ts[i] = 1522540800000LL + (int64_t)i * SPAN_MS / NREC; /* 2018-04-01 on */
        in->amount[i] = (float)(rnd() % 20000) / 100.0f;
        in->fraud[i] = rnd() % 100 == 0 ? 1.0f : 0.0f;
        in->shop[i] = (uint32_t)(rnd() % 64);
    }
}

struct config {
    const char *name;
    const struct weir_operator_type *type;
    const char *json;
    const char *check_out; /* an output compared before timing, or NULL */
};

static const struct config CONFIGS[] = {
    {"standardize by key (baseline)", &weir_op_standardize,
     "{\"by\": \"key\", \"fields\": \"amount\", \"out\": \"amount_z\", \"max_keys\": 1000000, "
     "\"max_state_bytes\": 4000000000}",
     NULL},
    {"window: customer count+mean, 1/7/30d", &weir_op_window,
     "{\"by\": \"key\", \"sizes\": [\"1d\", \"7d\", \"30d\"], \"empty\": 0, \"max_events\": 64, "
     "\"max_keys\": 1000000, \"max_state_bytes\": 4000000000, \"aggregates\": [{\"agg\": "
     "\"count\", \"out\": \"n_{size}\"}, {\"agg\": \"mean\", \"field\": \"amount\", \"out\": "
     "\"avg_{size}\"}]}",
     "n_30d"},
    {"window: terminal delay 7d, count+mean", &weir_op_window,
     "{\"by\": \"key\", \"delay\": \"7d\", \"sizes\": [\"1d\", \"7d\", \"30d\"], \"empty\": 0, "
     "\"max_events\": 64, \"max_keys\": 1000000, \"max_state_bytes\": 4000000000, "
     "\"aggregates\": [{\"agg\": \"count\", \"out\": \"tn_{size}\"}, {\"agg\": \"mean\", "
     "\"field\": \"fraud\", \"out\": \"risk_{size}\"}]}",
     NULL},
    {"window: all 9 aggregates, 1h/1d/30d", &weir_op_window,
     "{\"by\": \"key\", \"sizes\": [\"1h\", \"1d\", \"30d\"], \"max_events\": 64, "
     "\"max_keys\": 1000000, \"max_state_bytes\": 4000000000, \"aggregates\": ["
     "{\"agg\": \"count\", \"out\": \"a_n_{size}\"}, {\"agg\": \"sum\", \"field\": \"amount\", "
     "\"out\": \"a_sum_{size}\"}, {\"agg\": \"mean\", \"field\": \"amount\", \"out\": "
     "\"a_mean_{size}\"}, {\"agg\": \"min\", \"field\": \"amount\", \"out\": \"a_min_{size}\"}, "
     "{\"agg\": \"max\", \"field\": \"amount\", \"out\": \"a_max_{size}\"}, {\"agg\": "
     "\"stddev\", \"field\": \"amount\", \"out\": \"a_sd_{size}\"}, {\"agg\": \"last\", "
     "\"field\": \"amount\", \"out\": \"a_last_{size}\"}, {\"agg\": \"since_last\", \"out\": "
     "\"a_gap\"}, {\"agg\": \"distinct\", \"field\": \"shop\", \"out\": \"a_shops_{size}\"}]}",
     NULL},
    {"aggregate: tumbling 1d, count+sum+max", &weir_op_aggregate,
     "{\"by\": \"key\", \"kind\": \"tumbling\", \"size\": \"1d\", \"max_keys\": 1000000, "
     "\"max_state_bytes\": 4000000000, \"aggregates\": [{\"agg\": \"count\", \"out\": "
     "\"day_n\"}, {\"agg\": \"sum\", \"field\": \"amount\", \"out\": \"day_sum\"}, {\"agg\": "
     "\"max\", \"field\": \"amount\", \"out\": \"day_max\"}]}",
     NULL},
    {"dedup within 1h", &weir_op_dedup,
     "{\"by\": \"key\", \"within\": \"1h\", \"duplicates\": \"dead\", \"max_keys\": 1000000, "
     "\"max_state_bytes\": 4000000000}",
     NULL},
};
#define NCONF (sizeof CONFIGS / sizeof CONFIGS[0])

struct result {
    double wall_ns, cpu_ns, bytes_per_key;
    uint64_t keys, dead, emitted;
};

/* A stand-in engine for aggregate's results: batches from the run's pool,
 * counted and put back (inside the timed process() call, as in a worker
 * the sinks' work would be). */
static struct weir_batch_pool *out_pool;
static uint64_t emitted;
static struct weir_batch *fake_new(void *ctx)
{
    (void)ctx;
    return weir_batch_get(out_pool);
}
static void fake_emit(void *ctx, struct weir_op *op, struct weir_batch *b)
{
    (void)ctx;
    (void)op;
    emitted += b->n;
    weir_batch_put(b);
}
static int fake_tie(void *ctx, struct weir_batch *out, struct weir_batch *in)
{
    (void)ctx;
    (void)out;
    (void)in;
    return 0;
}
static const struct weir_op_engine ENGINE = {.batch_new = fake_new, .emit = fake_emit,
                                             .tie = fake_tie};

/* One run over the whole input on a fresh instance of h. */
static int run_once(const struct h_op *proto, struct h_pipe *p, const struct input *in,
                    struct result *r, int check)
{
    struct h_op h;
    if (h_clone(&h, proto) < 0)
        return -ENOMEM;
    struct weir_batch_pool *pool = h_pool(p, BATCH);
    out_pool = pool;
    emitted = 0;
    h.op.engine = &ENGINE;
    int amount = weir_schema_find_feature(&p->schema, "amount");
    int fraud = weir_schema_find_feature(&p->schema, "fraud");
    int n30 = weir_schema_find_feature(&p->schema, "n_30d");
    double wall = 0, cpu = 0;
    uint64_t dead = 0, key0_n = 0;
    float key0_last = NAN;
    for (int i = 0; i < NREC;) {
        struct weir_batch *b = weir_batch_get(pool);
        int first = i;
        for (; i < NREC && b->n < b->cap; i++) {
            int k = weir_batch_push(b);
            float *row = weir_batch_row(b, (uint32_t)k);
            row[amount] = in->amount[i];
            row[fraud] = in->fraud[i];
            b->rec[k].ts_ms = in->ts[i];
            struct weir_str *s = &b->S[(size_t)k * b->nstr];
            s[0] = (struct weir_str){keys[in->key[i]], 7};
            s[1] = (struct weir_str){shops[in->shop[i]], (uint32_t)strlen(shops[in->shop[i]])};
        }
        double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
        int rc = h.type->process(&h.op, b);
        cpu += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        wall += clock_s(CLOCK_MONOTONIC) - w0;
        if (rc != WEIR_OP_CONTINUE)
            return -EIO;
        for (uint32_t j = 0; j < b->n; j++) {
            dead += !weir_record_live(&b->rec[j]);
            if (check && n30 >= 0 && in->key[first + (int)j] == 0) {
                key0_n++;
                key0_last = weir_batch_row(b, j)[n30];
            }
        }
        weir_batch_put(b);
    }
    if (check && dead && h.type != &weir_op_dedup) {
        fprintf(stderr, "check: %llu records dead, want none\n", (unsigned long long)dead);
        return -EINVAL;
    }
    if (check && n30 >= 0 && key0_last != (float)key0_n) { /* all of 30 days: every record */
        fprintf(stderr, "check: key 0's last n_30d is %g, want %llu\n", key0_last,
                (unsigned long long)key0_n);
        return -EINVAL;
    }
    struct weir_state *st = weir_op_state_part(&h.op, 0, 0);
    r->keys = st ? weir_state_count(st) : 0;
    r->bytes_per_key = r->keys ? (double)weir_state_bytes(st) / (double)r->keys : 0;
    r->wall_ns = wall * 1e9 / NREC;
    r->cpu_ns = cpu * 1e9 / NREC;
    r->dead = dead;
    r->emitted = emitted;
    weir_batch_pool_free(pool);
    h_free_clone(&h);
    return 0;
}

static int bench_config(const struct config *cf, const struct input *in, struct result *best)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "amount", 0);
    h_feature(&p, "fraud", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    weir_schema_string_out(&pr, "key", "key");
    weir_schema_string_out(&pr, "shop", "shop");
    if (h_build(&h, cf->type, cf->json, &p, 1) != 0) {
        fprintf(stderr, "%s: %s\n", cf->name, h_last_diag(&p));
        return -EINVAL;
    }
    int rc = 0;
    for (int run = 0; run < RUNS && rc == 0; run++) {
        struct result r;
        rc = run_once(&h, &p, in, &r, run == 0);
        if (rc == 0 && (run == 0 || r.wall_ns < best->wall_ns))
            *best = r;
    }
    h_free(&h);
    h_pipe_free(&p);
    return rc;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bench/results/window.json";
    struct input *in = malloc(sizeof *in);
    if (!in)
        return 1;
    make_input(in);
    struct result res[NCONF];
    printf("%d records, %d keys, event times over 30 days, batches of %d, best of %d\n\n",
           NREC, NKEYS, BATCH, RUNS);
    printf("| operator | ns/record (wall) | CPU ns/record | vs baseline (wall) | vs baseline (CPU) "
           "| state bytes/key | keys | dead | records written |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t c = 0; c < NCONF; c++) {
        if (bench_config(&CONFIGS[c], in, &res[c]) < 0) {
            fprintf(stderr, "bench_window: %s failed its check; nothing timed\n",
                    CONFIGS[c].name);
            return 1;
        }
        printf("| %s | %.0f | %.0f | %.2fx | %.2fx | %.0f | %llu | %llu | %llu |\n",
               CONFIGS[c].name, res[c].wall_ns, res[c].cpu_ns, res[c].wall_ns / res[0].wall_ns,
               res[c].cpu_ns / res[0].cpu_ns, res[c].bytes_per_key, (unsigned long long)res[c].keys,
               (unsigned long long)res[c].dead, (unsigned long long)res[c].emitted);
        fflush(stdout);
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    const char *commit = getenv("WEIR_BENCH_COMMIT");
    fprintf(f, "{\n  \"benchmark\":\"window\",\n  \"commit\":\"%s\",\n  \"records\":%d,\n"
               "  \"keys\":%d,\n  \"runs\":%d,\n  \"batch\":%d,\n  \"results\":[\n",
            commit ? commit : "", NREC, NKEYS, RUNS, BATCH);
    for (size_t c = 0; c < NCONF; c++)
        fprintf(f,
                "    {\"operator\":\"%s\",\"ns_per_record\":%.1f,\"cpu_ns_per_record\":%.1f,"
                "\"vs_baseline\":%.3f,\"cpu_vs_baseline\":%.3f,\"state_bytes_per_key\":%.0f,"
                "\"keys\":%llu,\"dead\":%llu,\"written\":%llu}%s\n",
                CONFIGS[c].name, res[c].wall_ns, res[c].cpu_ns, res[c].wall_ns / res[0].wall_ns,
                res[c].cpu_ns / res[0].cpu_ns, res[c].bytes_per_key,
                (unsigned long long)res[c].keys, (unsigned long long)res[c].dead,
                (unsigned long long)res[c].emitted, c + 1 < NCONF ? "," : "");
    fprintf(f, "  ]\n}\n");
    fclose(f);
    free(in);
    printf("\nresults: %s\n", path);
    return 0;
}
