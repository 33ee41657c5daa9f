/* What the tests of the contextual detectors (test_op_cad.c,
 * test_op_cad_ose.c) and of flatline share: one keyed series (x, key, and
 * event times ts when run_ts is set), run through a fresh operator of
 * run_type, each record's score, warm-up flag and explanation read back. A
 * test file's own helpers, included once by each. With run_w set, records
 * also carry a second feature "w" = run_w[k]. */
#ifndef WEIR_TESTS_KEYED_RUN_H
#define WEIR_TESTS_KEYED_RUN_H

#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "tests/op_harness.h"

static const struct weir_operator_type *run_type;
static int run_ts;    /* records carry ts[k] as their event time */
static float *run_w; /* records carry the feature "w" = run_w[k], when set */

enum { N = 3000 };
static float x[N], s1[N], s2[N];
static int key[N];
static int64_t ts[N];
static unsigned char w1[N];
static char *why[N]; /* each record's anomaly_score_explain, NULL when unset */

static int string_column(const struct weir_schema *s, const char *name)
{
    for (uint32_t k = 0; k < s->nstr; k++)
        if (strcmp(s->str[k].name, name) == 0)
            return (int)k;
    return -1;
}

/* Runs the first n of x through a fresh operator of run_type; only >= 0:
 * that key's records. */
static void run(const char *conf, size_t n, int only, float *score, unsigned char *warm)
{
    struct h_pipe p;
    struct h_op h;
    static const char *names[] = {"a", "b"};
    h_pipe_init(&p);
    h_feature(&p, "v", 0);
    if (run_w)
        h_feature(&p, "w", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int host = weir_schema_string_out(&pr, "host", "operators[0]");
    CHECK(h_build(&h, run_type, conf, &p, 1) == 0);
    int out = weir_schema_find_feature(&p.schema, "anomaly_score");
    int why_col = string_column(&p.schema, "anomaly_score_explain");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    for (size_t k = 0; k < n;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t at[64], m = 0;
        for (; k < n && b->n < b->cap; k++) {
            if (only >= 0 && key[k] != only)
                continue;
            int i = h_push_value(b, 0, x[k]);
            if (run_ts)
                b->rec[i].ts_ms = ts[k];
            if (run_w)
                weir_batch_row(b, (uint32_t)i)[1] = run_w[k];
            b->S[(size_t)i * b->nstr + (size_t)host] =
                (struct weir_str){names[key[k]], (uint32_t)strlen(names[key[k]])};
            at[m++] = k;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = 0; j < m; j++) {
            score[at[j]] = weir_batch_row(b, (uint32_t)j)[out];
            const struct weir_str *w = why_col < 0 ? NULL : &b->S[j * b->nstr + (size_t)why_col];
            free(why[at[j]]);
            why[at[j]] = w && w->p ? strndup(w->p, w->len) : NULL;
            if (warm)
                warm[at[j]] = (b->rec[j].flags & WEIR_REC_WARMUP) != 0;
        }
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A pattern of period 12 (the tests add noise inside each step). */
static const float pattern[12] = {10, 20, 30, 40, 50, 60, 70, 60, 50, 40, 30, 20};

#endif
