/* Tests for the derive operator: fields computed in order (a later one uses
 * an earlier one), bools written as 1/0, NaN/Inf inputs against a reference
 * computed here, dead records left alone, the fraud handbook's
 * TX_DURING_WEEKEND and TX_DURING_NIGHT on event times, and prepare errors
 * with the path of the field and the column of the mistake. */
#include "tests/check.h"
#include "tests/op_harness.h"

#include <math.h>
#include <stdlib.h>

extern const struct weir_operator_type weir_op_derive;

static int same(double got, double want)
{
    return (isnan(got) && isnan(want)) || (float)want == (float)got;
}

static void test_values(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int amount = h_feature(&p, "amount", 0);
    CHECK(h_build(&h, &weir_op_derive,
                  "{\"type\": \"derive\", \"fields\": {\"log_amount\": \"log1p(amount)\", "
                  "\"big\": \"log_amount > 3\", \"twice\": \"if(big == 1, log_amount * 2, -1)\"}}",
                  &p, 1) == 0);
    int lg = weir_schema_find_feature(&p.schema, "log_amount");
    int big = weir_schema_find_feature(&p.schema, "big");
    int tw = weir_schema_find_feature(&p.schema, "twice");
    CHECK(lg >= 0 && big >= 0 && tw >= 0 && p.schema.feat[tw].emit == 1);
    struct weir_batch_pool *pool = h_pool(&p, 512);
    unsigned seed = 7;
    const float specials[] = {NAN, INFINITY, -INFINITY, -1.0f, -2.0f, 0.0f, 19.0855f, 1e30f};
    size_t wrong = 0;
    for (int round = 0; round < 3; round++) {
        struct weir_batch *b = weir_batch_get(pool);
        for (uint32_t i = 0; i < b->cap; i++) {
            float x = rand_r(&seed) % 4 == 0 ? specials[rand_r(&seed) % 8]
                                             : (float)(rand_r(&seed) % 100000) / 100.0f;
            h_push_value(b, amount, x);
            if (i % 41 == 40)
                weir_batch_kill(b, i, "test");
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (uint32_t i = 0; i < b->n; i++) {
            const float *row = weir_batch_row(b, i);
            if (!weir_record_live(&b->rec[i])) {
                CHECK(isnan(row[lg]) && isnan(row[big]) && isnan(row[tw]));
                continue;
            }
            double l = log1p((double)row[amount]);
            double bg = l > 3;
            double t = bg != 0 ? (double)(float)l * 2 : -1; /* twice reads the float column */
            if (!same(row[lg], l) || !same(row[big], bg) || !same(row[tw], t)) {
                if (wrong++ < 3)
                    fprintf(stderr, "amount %g: got %g %g %g, want %g %g %g\n", row[amount],
                            row[lg], row[big], row[tw], l, bg, t);
            }
        }
        weir_batch_put(b);
    }
    CHECK(wrong == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* The handbook's flags (pandas weekday(): Monday 0; hour <= 6 is night). */
static void test_handbook_flags(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "TX_AMOUNT", 0);
    CHECK(h_build(&h, &weir_op_derive,
                  "{\"fields\": {\"TX_DURING_WEEKEND\": \"day_of_week(event_time) >= 5\", "
                  "\"TX_DURING_NIGHT\": \"hour_of_day(event_time) <= 6\"}}",
                  &p, 1) == 0);
    int we = weir_schema_find_feature(&p.schema, "TX_DURING_WEEKEND");
    int ni = weir_schema_find_feature(&p.schema, "TX_DURING_NIGHT");
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    /* 2018-04-01 00:00:31 Sunday; 2018-04-02 12:00:00 Monday; 2018-04-07
     * 06:59:59 Saturday; 2018-04-06 23:00:00 Friday (Python datetime, UTC). */
    const int64_t ts[] = {1522540831000LL, 1522670400000LL, 1523084399000LL, 1523055600000LL};
    const float want_we[] = {1, 0, 1, 0}, want_ni[] = {1, 0, 1, 0};
    for (int i = 0; i < 4; i++)
        b->rec[weir_batch_push(b)].ts_ms = ts[i];
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    for (uint32_t i = 0; i < 4; i++) {
        CHECK(weir_batch_row(b, i)[we] == want_we[i]);
        CHECK(weir_batch_row(b, i)[ni] == want_ni[i]);
    }
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_derive, (const char *const[]){"amount", NULL}, 3, json, want);
}

static void test_prepare_errors(void)
{
    expect_error(
        "{\"fields\": {\"x\": \"amount + )\"}}",
        "test.json: operators[3].fields.x: column 10: expected a number after '+', got ')'");
    expect_error("{\"fields\": {\"x\": \"y + 1\", \"y\": \"amount\"}}",
                 "test.json: operators[3].fields.x: column 1: unknown field \"y\" (a record's "
                 "event time is event_time)");
    expect_error(
        "{\"fields\": {\"x\": 3}}",
        "test.json: operators[3].fields.x: expected an expression (a string), got a number");
    expect_error("{\"fields\": {}}", "test.json: operators[3].fields: expected an object of 1 to "
                                     "256 \"name\": \"expression\" pairs");
    expect_error("{\"fields\": {\"x\": \"'a'\"}}",
                 "test.json: operators[3].fields.x: column 1: expected a number or a condition, "
                 "got a string");
    expect_error("{\"fields\": {\"amount\": \"1\"}}",
                 "test.json: operators[3].fields.amount: feature \"amount\" is already written by "
                 "operators[0]");
    expect_error("{}", "test.json: operators[3]: missing required option \"fields\"");
}

int main(void)
{
    test_values();
    test_handbook_flags();
    test_prepare_errors();
    return check_summary();
}
