/* Tests for the filter operator: records not kept are dropped (flagged
 * WEIR_REC_DROPPED: not live, not dead) or, with dead_letter, killed with
 * the condition as the reason; a condition over NaN is false; dead records
 * stay dead and are not dropped; prepare errors. */
#include "tests/check.h"
#include "tests/op_harness.h"

#include <math.h>
#include <stdlib.h>

extern const struct weir_operator_type weir_op_filter;

static void run(const char *json, int dead_letter)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int x = h_feature(&p, "x", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int s = weir_schema_string_out(&pr, "country", "operators[0]");
    CHECK(h_build(&h, &weir_op_filter, json, &p, 2) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 256);
    struct weir_batch *b = weir_batch_get(pool);
    const float special[] = {NAN, INFINITY, -INFINITY, 5.0f, 4.999f};
    const char *const countries[] = {"FR", "DE", NULL, ""};
    unsigned seed = 99;
    for (uint32_t i = 0; i < b->cap; i++) {
        float v = i % 3 == 0 ? special[i / 3 % 5] : (float)(rand_r(&seed) % 1000) / 100.0f;
        h_push_value(b, x, v);
        const char *c = countries[rand_r(&seed) % 4];
        b->S[(size_t)i * b->nstr + (size_t)s] = (struct weir_str){c, c ? (uint32_t)strlen(c) : 0};
        if (i % 50 == 49)
            weir_batch_kill(b, i, "earlier");
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    size_t wrong = 0, kept = 0, out = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        const struct weir_record *r = &b->rec[i];
        float v = weir_batch_row(b, i)[x];
        const struct weir_str *c = &b->S[(size_t)i * b->nstr + (size_t)s];
        int fr = c->p && c->len == 2 && memcmp(c->p, "FR", 2) == 0;
        int keep = v >= 5 && !fr; /* NaN >= 5 is false; absent != 'FR' is false too */
        keep = keep && c->p != NULL;
        if (i % 50 == 49) { /* already dead: untouched */
            wrong += !(r->flags & WEIR_REC_DEAD) || (r->flags & WEIR_REC_DROPPED) ||
                     strcmp(r->reason, "earlier") != 0;
            continue;
        }
        if (keep) {
            kept++;
            wrong += !weir_record_live(r) || r->flags != 0;
        } else if (dead_letter) {
            out++;
            wrong += r->flags != WEIR_REC_DEAD ||
                     strcmp(r->reason, "not kept by operators[2]: x >= 5 and country != 'FR'") != 0;
        } else {
            out++;
            wrong += r->flags != WEIR_REC_DROPPED || weir_record_live(r);
        }
    }
    CHECK(wrong == 0);
    CHECK(kept > 20 && out > 20);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_filter, (const char *const[]){"x", NULL}, 1, json, want);
}

int main(void)
{
    run("{\"type\": \"filter\", \"keep\": \"x >= 5 and country != 'FR'\"}", 0);
    run("{\"keep\": \"x >= 5 and country != 'FR'\", \"dead_letter\": true}", 1);
    expect_error("{\"keep\": \"x + 1\"}",
                 "test.json: operators[1].keep: column 1: expected a condition (a bool), got a "
                 "number");
    expect_error("{\"keep\": \"x >\"}",
                 "test.json: operators[1].keep: column 4: expected a value after '>', got the end "
                 "of the expression");
    expect_error("{}", "test.json: operators[1]: missing required option \"keep\"");
    return check_summary();
}
