/* bench_expr: ns/record of the expression and preprocessing operators
 * (derive, filter, impute, clip, scale) on 1,000,000 records in batches of
 * 1,024, each beside a baseline: the same computation hand-written in C,
 * row by row, over the same batch (for impute, with its per-key state in a
 * plain array indexed by the key's number: a lower bound no hash table
 * reaches). 100,000 distinct keys (impute's "by").
 *
 * Operators are built as the loader builds them (tests/op_harness.h: option
 * table, prepare against a schema, init). Before timing, each operator's
 * output is checked equal to its baseline's on every record of the first
 * pass. Only process() (or the baseline loop) is timed, not the filling of
 * the batch; wall and CPU time (CLOCK_PROCESS_CPUTIME_ID), best of 3 passes.
 * The ratio is of CPU times: on a shared machine wall time also counts the
 * time other processes had the core.
 *
 * Usage: bench_expr [RESULT.json]   (default bench/results/expr.json) */
#include "tests/check.h"
#include "tests/op_harness.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NREC   1000000
#define NKEYS  100000
#define PASSES 3

struct input {
    float amount[NREC];
    int64_t ts[NREC];
    uint32_t key[NREC];
    char keys[NKEYS][16];
};

struct timing {
    double wall, cpu; /* seconds */
};

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void make_input(struct input *in)
{
    unsigned seed = 2024;
    for (uint32_t k = 0; k < NKEYS; k++)
        snprintf(in->keys[k], sizeof in->keys[k], "card-%u", k);
    int64_t t0 = 1522540800000LL;
    for (size_t i = 0; i < NREC; i++) {
        in->amount[i] = rand_r(&seed) % 50 == 0 ? NAN : (float)(rand_r(&seed) % 20000) / 100.0f;
        in->ts[i] = t0 + (int64_t)i * 2600 + rand_r(&seed) % 1000;
        in->key[i] = (uint32_t)rand_r(&seed) % NKEYS;
    }
}

static void fill(struct weir_batch *b, const struct input *in, size_t first, int amount_col,
                 int key_col)
{
    b->n = 0;
    for (size_t i = first; i < NREC && b->n < b->cap; i++) {
        uint32_t r = (uint32_t)weir_batch_push(b);
        float *row = weir_batch_row(b, r);
        for (uint32_t c = 0; c < b->nfeat; c++)
            row[c] = NAN;
        row[amount_col] = in->amount[i];
        b->rec[r].flags = 0;
        b->rec[r].ts_ms = in->ts[i];
        const char *k = in->keys[in->key[i]];
        b->S[(size_t)r * b->nstr + (size_t)key_col] = (struct weir_str){k, (uint32_t)strlen(k)};
    }
}

/* ---- baselines: the same computations, by hand --------------------------- */

struct impute_ref {
    uint64_t n;
    double mean;
};

static struct impute_ref *impute_state;

static void base_derive(struct weir_batch *b, const int *out, int amount)
{
    for (uint32_t i = 0; i < b->n; i++) {
        float *row = weir_batch_row(b, i);
        int64_t ms = b->rec[i].ts_ms;
        int64_t day = ms / 86400000;
        row[out[0]] = (float)((day + 3) % 7 >= 5);
        row[out[1]] = (float)(ms % 86400000 / 3600000 <= 6);
        row[out[2]] = (float)log1p((double)row[amount]);
    }
}

static void base_filter(struct weir_batch *b, int amount)
{
    for (uint32_t i = 0; i < b->n; i++)
        if (!(weir_batch_row(b, i)[amount] >= 20))
            b->rec[i].flags |= WEIR_REC_DROPPED;
}

static void base_impute(struct weir_batch *b, const struct input *in, size_t first, int amount,
                        int out)
{
    for (uint32_t i = 0; i < b->n; i++) {
        float *row = weir_batch_row(b, i);
        struct impute_ref *s = &impute_state[in->key[first + i]];
        double x = row[amount];
        if (!isfinite(x)) {
            row[out] = s->n ? (float)s->mean : NAN;
            continue;
        }
        row[out] = (float)x;
        s->n++;
        s->mean += (x - s->mean) / (double)s->n;
    }
}

static void base_clip(struct weir_batch *b, int amount, int out)
{
    for (uint32_t i = 0; i < b->n; i++) {
        float *row = weir_batch_row(b, i);
        double x = row[amount];
        row[out] = isnan(x) ? NAN : x < 1 ? 1.0f : x > 150 ? 150.0f : (float)x;
    }
}

static void base_scale(struct weir_batch *b, int amount, int out)
{
    for (uint32_t i = 0; i < b->n; i++) {
        float *row = weir_batch_row(b, i);
        row[out] = (float)(((double)row[amount] - 53.5) / 41.25);
    }
}

/* ---- one operator against its baseline ----------------------------------- */

struct bench_case {
    const char *name;
    const char *json;
    const char *outs[3]; /* features to compare */
};

static const struct bench_case cases[] = {
    {"derive",
     "{\"fields\": {\"TX_DURING_WEEKEND\": \"day_of_week(event_time) >= 5\", "
     "\"TX_DURING_NIGHT\": \"hour_of_day(event_time) <= 6\", "
     "\"log_amount\": \"log1p(amount)\"}}",
     {"TX_DURING_WEEKEND", "TX_DURING_NIGHT", "log_amount"}},
    {"filter", "{\"keep\": \"amount >= 20\"}", {NULL}},
    {"impute",
     "{\"fields\": \"amount\", \"method\": \"mean\", \"by\": \"card\"}",
     {"amount_imputed"}},
    {"clip", "{\"fields\": {\"amount\": [1, 150]}}", {"amount_clipped"}},
    {"scale", "{\"fields\": {\"amount\": {\"mean\": 53.5, \"std\": 41.25}}}", {"amount_scaled"}},
};

static void baseline(size_t c, struct weir_batch *b, const struct input *in, size_t first,
                     int amount, const int *out)
{
    switch (c) {
    case 0: base_derive(b, out, amount); break;
    case 1: base_filter(b, amount); break;
    case 2: base_impute(b, in, first, amount, out[0]); break;
    case 3: base_clip(b, amount, out[0]); break;
    default: base_scale(b, amount, out[0]); break;
    }
}

/* Returns the number of records whose outputs differ, or -1 on failure. */
static long run_case(size_t c, const struct input *in, struct timing *op_t, struct timing *base_t)
{
    const struct bench_case *bc = &cases[c];
    const struct weir_operator_type *type = weir_operator_find(bc->name);
    struct h_pipe p;
    struct h_op ops[PASSES];
    h_pipe_init(&p);
    int amount = h_feature(&p, "amount", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int card = weir_schema_string_out(&pr, "card", "operators[0]");
    if (!type || h_build(&ops[0], type, bc->json, &p, 1) < 0) {
        fprintf(stderr, "%s: %s\n", bc->name, h_last_diag(&p));
        return -1;
    }
    for (int k = 1; k < PASSES; k++)
        h_clone(&ops[k], &ops[0]); /* fresh state per pass */
    int out[3] = {-1, -1, -1};
    for (int k = 0; k < 3 && bc->outs[k]; k++)
        out[k] = weir_schema_find_feature(&p.schema, bc->outs[k]);
    struct weir_batch_pool *pool = h_pool(&p, 1024);
    struct weir_batch *b = weir_batch_get(pool), *ref = weir_batch_get(pool);
    long differ = 0;
    *op_t = *base_t = (struct timing){INFINITY, INFINITY};
    for (int pass = 0; pass < PASSES; pass++) {
        struct timing o = {0, 0}, r = {0, 0};
        memset(impute_state, 0, NKEYS * sizeof *impute_state);
        for (size_t first = 0; first < NREC; first += b->cap) {
            fill(b, in, first, amount, card);
            fill(ref, in, first, amount, card);
            double w0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            type->process(&ops[pass].op, b);
            double w1 = clock_s(CLOCK_MONOTONIC), c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            baseline(c, ref, in, first, amount, out);
            double w2 = clock_s(CLOCK_MONOTONIC), c2 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
            o.wall += w1 - w0, o.cpu += c1 - c0, r.wall += w2 - w1, r.cpu += c2 - c1;
            for (uint32_t i = 0; pass == 0 && i < b->n; i++) {
                int same = b->rec[i].flags == ref->rec[i].flags;
                for (int k = 0; k < 3 && out[k] >= 0; k++) {
                    float x = weir_batch_row(b, i)[out[k]], y = weir_batch_row(ref, i)[out[k]];
                    same &= (isnan(x) && isnan(y)) || x == y;
                }
                differ += !same;
            }
        }
        if (o.wall < op_t->wall)
            *op_t = o;
        if (r.wall < base_t->wall)
            *base_t = r;
    }
    weir_batch_put(b);
    weir_batch_put(ref);
    weir_batch_pool_free(pool);
    for (int k = 1; k < PASSES; k++)
        h_free_clone(&ops[k]);
    h_free(&ops[0]);
    h_pipe_free(&p);
    return differ;
}

int main(int argc, char **argv)
{
    const char *result = argc > 1 ? argv[1] : "bench/results/expr.json";
    struct input *in = malloc(sizeof *in);
    impute_state = calloc(NKEYS, sizeof *impute_state);
    if (!in || !impute_state)
        return 1;
    make_input(in);
    size_t ncases = sizeof cases / sizeof cases[0];
    struct timing op_t[8], base_t[8];
    printf("%-8s %12s %12s %16s %8s\n", "operator", "ns/record", "cpu ns/rec", "baseline cpu ns",
           "ratio");
    for (size_t c = 0; c < ncases; c++) {
        long differ = run_case(c, in, &op_t[c], &base_t[c]);
        if (differ != 0) {
            fprintf(stderr, "%s: %ld records differ from the baseline: not timed\n", cases[c].name,
                    differ);
            return 1;
        }
        printf("%-8s %12.2f %12.2f %16.2f %8.2f\n", cases[c].name, op_t[c].wall * 1e9 / NREC,
               op_t[c].cpu * 1e9 / NREC, base_t[c].cpu * 1e9 / NREC, op_t[c].cpu / base_t[c].cpu);
    }
    FILE *f = fopen(result, "w");
    if (!f) {
        perror(result);
        return 1;
    }
    const char *commit = getenv("WEIR_BENCH_COMMIT");
    fprintf(f,
            "{\"benchmark\": \"bench_expr\", \"commit\": \"%s\", \"records\": %d, \"keys\": %d, "
            "\"batch\": 1024, \"passes\": %d, \"operators\": [",
            commit ? commit : "", NREC, NKEYS, PASSES);
    for (size_t c = 0; c < ncases; c++)
        fprintf(f,
                "%s\n  {\"operator\": \"%s\", \"ns_per_record\": %.3f, \"cpu_ns_per_record\": "
                "%.3f, \"baseline_ns_per_record\": %.3f, \"baseline_cpu_ns_per_record\": %.3f, "
                "\"cpu_ratio\": %.3f}",
                c ? "," : "", cases[c].name, op_t[c].wall * 1e9 / NREC, op_t[c].cpu * 1e9 / NREC,
                base_t[c].wall * 1e9 / NREC, base_t[c].cpu * 1e9 / NREC,
                op_t[c].cpu / base_t[c].cpu);
    fprintf(f, "\n]}\n");
    fclose(f);
    printf("written: %s\n", result);
    free(in);
    free(impute_state);
    return 0;
}
