/* Tests for the extract operator: field types, defaults, the exact reasons
 * records are killed with (they reach users through the dead-letter sink),
 * timestamps, escaped strings, validation-only mode, and prepare errors. */
#include <math.h>

#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_extract;

static const char *const FIELDS =
    "{\"type\": \"extract\", \"fields\": {"
    "\"amount\": \"/amount\","
    "\"card\": {\"path\": \"/card/id\", \"type\": \"string\"},"
    "\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\"},"
    "\"vip\": {\"path\": \"/vip\", \"type\": \"bool\", \"default\": false},"
    "\"note\": {\"path\": \"/note\", \"type\": \"string\", \"required\": false}}}";

struct cols {
    int amount, vip, card, note;
};

/* Runs one record through a fresh batch; returns the batch (caller puts it back). */
static struct weir_batch *run_one(struct h_op *h, struct weir_batch_pool *pool, const char *json)
{
    struct weir_batch *b = weir_batch_get(pool);
    h_push_json(b, json);
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
    return b;
}

/* The reason record 0 was killed with, or "(alive)". */
static const char *reason_of(struct h_op *h, struct weir_batch_pool *pool, const char *json,
                             char *buf, size_t size)
{
    struct weir_batch *b = run_one(h, pool, json);
    snprintf(buf, size, "%s", weir_record_live(&b->rec[0]) ? "(alive)" : b->rec[0].reason);
    weir_batch_put(b);
    return buf;
}

static void test_valid(struct h_op *h, struct weir_batch_pool *pool, struct cols c)
{
    char s[128];
    struct weir_batch *b = weir_batch_get(pool);
    h_push_json(b, "{\"amount\": 12.5, \"card\": {\"id\": \"c1\"}, \"ts\": \"2024-01-31 12:00:00\","
                   " \"vip\": true, \"note\": \"a\\\"b\\u00e9\\n\"}");
    h_push_json(b, "{\"amount\": \"7.25\", \"card\": {\"id\": 123}, "
                   "\"ts\": \"2024-01-31T12:00:00.250Z\", \"extra\": [1, {\"x\": null}]}");
    h_push_json(b, "{\"ts\": 1700000000000, \"card\": {\"id\": \"c3\"}, \"amount\": -1e3, "
                   "\"vip\": \"true\", \"note\": null}");
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
    for (uint32_t i = 0; i < 3; i++)
        CHECK(weir_record_live(&b->rec[i]));

    float *r0 = weir_batch_row(b, 0), *r1 = weir_batch_row(b, 1), *r2 = weir_batch_row(b, 2);
    CHECK_NEAR(r0[c.amount], 12.5, 0);
    CHECK_NEAR(r0[c.vip], 1.0, 0);
    CHECK_STR(h_str(b, 0, c.card, s, sizeof s), "c1");
    CHECK_STR(h_str(b, 0, c.note, s, sizeof s), "a\"b\xc3\xa9\n"); /* unescaped */
    CHECK(b->rec[0].ts_ms == 1706702400000LL);

    CHECK_NEAR(r1[c.amount], 7.25, 0); /* a quoted number is accepted */
    CHECK_NEAR(r1[c.vip], 0.0, 0);     /* absent: the default */
    CHECK_STR(h_str(b, 1, c.card, s, sizeof s), "123"); /* a numeric id as a string */
    CHECK(h_str(b, 1, c.note, s, sizeof s) == NULL);    /* optional, absent */
    CHECK(b->rec[1].ts_ms == 1706702400250LL);

    CHECK_NEAR(r2[c.amount], -1000.0, 0);
    CHECK_NEAR(r2[c.vip], 1.0, 0); /* "true" as a string */
    CHECK(h_str(b, 2, c.note, s, sizeof s) == NULL); /* null counts as absent */
    CHECK(b->rec[2].ts_ms == 1700000000000LL);
    weir_batch_put(b);
}

static void test_reasons(struct h_op *h, struct weir_batch_pool *pool)
{
    char r[512];
    const char *ok_rest = "\"card\": {\"id\": \"c\"}, \"ts\": 0}";
    char json[256];

    snprintf(json, sizeof json, "{%s", ok_rest);
    CHECK_STR(reason_of(h, pool, json, r, sizeof r), "missing required field \"amount\" (/amount)");
    snprintf(json, sizeof json, "{\"amount\": \"abc\", %s", ok_rest);
    CHECK_STR(reason_of(h, pool, json, r, sizeof r),
              "field \"amount\" (/amount): expected a number, got a string");
    snprintf(json, sizeof json, "{\"amount\": true, %s", ok_rest);
    CHECK_STR(reason_of(h, pool, json, r, sizeof r),
              "field \"amount\" (/amount): expected a number, got true");
    snprintf(json, sizeof json, "{\"amount\": null, %s", ok_rest);
    CHECK_STR(reason_of(h, pool, json, r, sizeof r),
              "field \"amount\" (/amount): expected a number, got null");
    /* Beyond a float the value would be an infinity no scorer sees. */
    static const char *const too_big[] = {"3.5e38", "-1e39", "\"4e38\"", "1e999"};
    for (size_t k = 0; k < sizeof too_big / sizeof *too_big; k++) {
        snprintf(json, sizeof json, "{\"amount\": %s, %s", too_big[k], ok_rest);
        CHECK_STR(reason_of(h, pool, json, r, sizeof r),
                  "field \"amount\" (/amount): expected a number of magnitude at most 3.4e38 "
                  "(features are 32-bit floats), got one out of range");
    }
    snprintf(json, sizeof json, "{\"amount\": -3.4e38, %s", ok_rest);
    CHECK_STR(reason_of(h, pool, json, r, sizeof r), "(alive)");
    snprintf(json, sizeof json, "{\"amount\": 3.4028235e38, %s", ok_rest); /* FLT_MAX, written */
    CHECK_STR(reason_of(h, pool, json, r, sizeof r), "(alive)");
    snprintf(json, sizeof json, "{\"amount\": 3.4028236e38, %s", ok_rest);
    CHECK(strcmp(reason_of(h, pool, json, r, sizeof r), "(alive)") != 0);
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {\"id\": [1]}, \"ts\": 0}", r, sizeof r),
              "field \"card\" (/card/id): expected a string, got an array");
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {}, \"ts\": 0}", r, sizeof r),
              "missing required field \"card\" (/card/id)");
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": 0, \"vip\": 1}",
                        r, sizeof r),
              "field \"vip\" (/vip): expected true or false, got a number");
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": \"yesterday\"}",
                        r, sizeof r),
              "field \"ts\" (/ts): expected a timestamp (an epoch number or an RFC 3339 / "
              "\"YYYY-MM-DD HH:MM:SS\" date-time), got \"yesterday\"");
    /* a value quoted in a reason is cut at a whole character (39 x, then é
     * across bytes 40-41): the reason stays valid UTF-8 */
    CHECK_STR(
        reason_of(h, pool,
                  "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": "
                  "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9\"}",
                  r, sizeof r),
        "field \"ts\" (/ts): expected a timestamp (an epoch number or an RFC 3339 / "
        "\"YYYY-MM-DD HH:MM:SS\" date-time), got \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"");
    /* a time before 1970 would be read as no time at all by what follows */
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": "
                        "\"1969-12-31 23:59:59\"}", r, sizeof r),
              "field \"ts\" (/ts): expected a time from 1970-01-01 on, got \"1969-12-31 23:59:59\"");
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": -5}", r, sizeof r),
              "field \"ts\" (/ts): expected a time from 1970-01-01 on, got -5");
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": {}}", r, sizeof r),
              "field \"ts\" (/ts): expected a timestamp, got an object");
    CHECK_STR(reason_of(h, pool, "{\"amount\": \"12", r, sizeof r),
              "invalid JSON at byte 11: unterminated string");
    CHECK_STR(reason_of(h, pool, "{\"amount\": 1,}", r, sizeof r),
              "invalid JSON at byte 12: trailing comma in object");
    CHECK_STR(reason_of(h, pool, "[1, 2]", r, sizeof r), "record is not a JSON object");
    CHECK_STR(reason_of(h, pool, "42", r, sizeof r), "record is not a JSON object");
    CHECK_STR(reason_of(h, pool, "\"x\"", r, sizeof r), "record is not a JSON object");
}

/* Dead records are skipped untouched; the rest of the batch goes on. */
static void test_mixed_batch(struct h_op *h, struct weir_batch_pool *pool, struct cols c)
{
    struct weir_batch *b = weir_batch_get(pool);
    h_push_json(b, "{\"amount\": 1, \"card\": {\"id\": \"a\"}, \"ts\": 0}");
    h_push_json(b, "{\"amount\": 2, \"card\": {\"id\": \"b\"}, \"ts\": 0}");
    weir_batch_kill(b, 1, "earlier");
    h_push_json(b, "not json");
    h_push_json(b, "{\"amount\": 4, \"card\": {\"id\": \"d\"}, \"ts\": 0}");
    h->type->process(&h->op, b);
    CHECK(weir_record_live(&b->rec[0]) && weir_record_live(&b->rec[3]));
    CHECK_STR(b->rec[1].reason, "earlier");
    CHECK(isnan(weir_batch_row(b, 1)[c.amount])); /* not extracted */
    CHECK(!weir_record_live(&b->rec[2]));
    CHECK_NEAR(weir_batch_row(b, 3)[c.amount], 4.0, 0);
    weir_batch_put(b);
}

static void test_timestamps(struct h_op *h, struct weir_batch_pool *pool)
{
    static const struct { const char *ts; long long ms;
    } cases[] = {
        {"\"1970-01-01 00:00:00\"", 0},
        {"\"2000-02-29 23:59:59\"", 951868799000LL},
        {"\"2013-12-02T21:15:00.5\"", 1386018900500LL},
        {"\"2013-12-02T22:15:00+01:00\"", 1386018900000LL},
        {"\"2100-03-01 00:00:00\"", 4107542400000LL},
        {"\"1386018900000\"", 1386018900000LL},
        {"1.5e12", 1500000000000LL},
        /* epoch numbers, unit "auto": by magnitude (seconds below 1e11) */
        {"1441712340", 1441712340000LL},
        {"\"1441712340\"", 1441712340000LL},
        {"1441712340.5", 1441712340500LL},
        {"1441712340123", 1441712340123LL},
        {"1441712340123456", 1441712340123LL},
        {"1441712340123456789", 1441712340123LL},
        {"99999999999", 99999999999000LL}, /* just under 1e11: seconds */
        {"100000000000", 100000000000LL},  /* 1e11: milliseconds */
        {"1e14", 100000000000LL},          /* microseconds from 1e14 */
        {"0", 0},
        /* RFC 3339 */
        {"\"2015-09-08T11:39:00.123456+02:00\"", 1441705140123LL},
        {"\"2015-09-08t11:39:00z\"", 1441712340000LL},
        {"\"2015-09-08T11:39:00-0530\"", 1441732140000LL},
        {"\"2015-09-08 11:39:00\"", 1441712340000LL},
        /* a leap second, at 23:59 UTC: the next day's first second */
        {"\"2016-12-31T23:59:60Z\"", 1483228800000LL},
        {"\"2017-01-01T05:29:60.5+05:30\"", 1483228800500LL},
    };
    char json[160];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        snprintf(json, sizeof json, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": %s}",
                 cases[k].ts);
        struct weir_batch *b = run_one(h, pool, json);
        CHECK(weir_record_live(&b->rec[0]));
        if (b->rec[0].ts_ms != cases[k].ms)
            fprintf(stderr, "ts %s: got %lld\n", cases[k].ts, (long long)b->rec[0].ts_ms);
        CHECK(b->rec[0].ts_ms == cases[k].ms);
        weir_batch_put(b);
    }
    static const char *const bad[] = {
        "\"2023-02-29 00:00:00\"", "\"2024-13-01 00:00:00\"", "\"2024-01-01\"",
        "\"2024-01-01 10:00\"", "\"2024-01-01 10:00:00 \"", "\"2015-09-08T11:39:00+2:00\"",
        "\"2015-09-08T11:39:00+02:0\"", "\"2015-09-08T11:39:00+02:\"", "\"2015-09-08T11:39:00.Z\"",
        "1e300", "\"NaN\"",
        /* each place of the fixed layout wrong */
        "\"202a-01-01 00:00:00\"", "\"2024/01/01 00:00:00\"", "\"2024-1-01 00:00:00\"",
        "\"2024-01-0x 00:00:00\"", "\"2024-01-01_00:00:00\"", "\"2024-01-01 24:00:00\"",
        "\"2024-01-01 10-00:00\"", "\"2024-01-01 10:60:00\"", "\"2024-01-15T10:20:60Z\"",
        "\"2016-12-31T23:59:60+01:00\"", "\"2024-01-01 10:00:61\"", "\"2024-01-01 10:00:-1\"",
        "\"2024-00-01 00:00:00\"", "\"2024-01-00 00:00:00\""};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        snprintf(json, sizeof json, "{\"amount\": 1, \"card\": {\"id\": \"c\"}, \"ts\": %s}", bad[k]);
        struct weir_batch *b = run_one(h, pool, json);
        CHECK(!weir_record_live(&b->rec[0]));
        weir_batch_put(b);
    }
}

/* A declared unit is taken as said, whatever the magnitude. */
static void test_units(void)
{
    static const struct { const char *unit, *ts; long long ms; } cases[] = {
        {"ms", "1441712340", 1441712340LL},  {"s", "1e17", -1},
        {"s", "1.5", 1500LL},                {"us", "1441712340", 1441712LL},
        {"ns", "1441712340", 1442LL}, /* rounded */        {"ms", "\"2015-09-08 11:39:00\"", 1441712340000LL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct h_pipe p;
        struct h_op h;
        char conf[160], json[96];
        h_pipe_init(&p);
        snprintf(conf, sizeof conf, "{\"fields\": {\"ts\": {\"path\": \"/ts\", \"type\": "
                 "\"timestamp\", \"unit\": \"%s\"}}}", cases[k].unit);
        CHECK(h_build(&h, &weir_op_extract, conf, &p, 0) == 0);
        struct weir_batch_pool *pool = h_pool(&p, 4);
        snprintf(json, sizeof json, "{\"ts\": %s}", cases[k].ts);
        struct weir_batch *b = run_one(&h, pool, json);
        if (cases[k].ms < 0) /* 1e17 s is 1e20 ms, past int64: refused, said so */
            CHECK(!weir_record_live(&b->rec[0]) &&
                  strcmp(b->rec[0].reason, "field \"ts\" (/ts): expected an epoch time of at "
                                           "most 9.2e18 ms (in its unit), got 1e17") == 0);
        else
            CHECK(weir_record_live(&b->rec[0]) && b->rec[0].ts_ms == cases[k].ms);
        if (weir_record_live(&b->rec[0]) && b->rec[0].ts_ms != cases[k].ms)
            fprintf(stderr, "unit %s ts %s: got %lld\n", cases[k].unit, cases[k].ts, (long long)b->rec[0].ts_ms);
        weir_batch_put(b);
        weir_batch_pool_free(pool);
        h_free(&h);
        h_pipe_free(&p);
    }
}

static void test_fields(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_extract, FIELDS, &p, 0) == 0);
    struct cols c = {
        weir_schema_find_feature(&p.schema, "amount"),
        weir_schema_find_feature(&p.schema, "vip"),
        -1, -1,
    };
    for (uint32_t i = 0; i < p.schema.nstr; i++) {
        if (strcmp(p.schema.str[i].name, "card") == 0)
            c.card = (int)i;
        if (strcmp(p.schema.str[i].name, "note") == 0)
            c.note = (int)i;
    }
    CHECK(c.amount >= 0 && c.vip >= 0 && c.card >= 0 && c.note >= 0);
    CHECK(p.schema.nfeat == 2 && p.schema.nstr == 2); /* the timestamp has no column */
    CHECK(weir_schema_find_feature(&p.schema, "ts") < 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    test_valid(&h, pool, c);
    test_reasons(&h, pool);
    test_mixed_batch(&h, pool, c);
    test_timestamps(&h, pool);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* "fields": {} only validates. */
static void test_validate_only(void)
{
    struct h_pipe p;
    struct h_op h;
    char r[256];
    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_extract, "{\"type\": \"extract\", \"fields\": {}}", &p, 0) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 4);
    CHECK_STR(reason_of(&h, pool, "{\"a\": [1, 2, {\"b\": \"\\u00e9\"}]}", r, sizeof r), "(alive)");
    CHECK_STR(reason_of(&h, pool, "{\"a\": [1, 2}", r, sizeof r),
              "invalid JSON at byte 11: expected ',' or ']' in array");
    CHECK_STR(reason_of(&h, pool, "{\"a\": 1} x", r, sizeof r),
              "invalid JSON at byte 9: trailing characters after JSON value");
    CHECK_STR(reason_of(&h, pool, "null", r, sizeof r), "record is not a JSON object");
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_extract, NULL, 0, json, want);
}

static void test_prepare_errors(void)
{
    expect_error("{\"fields\": [1]}",
                 "test.json: operators[0].fields: expected an object mapping output names to "
                 "JSON pointers, got [1]");
    expect_error("{\"fields\": {\"amount\": 5}}",
                 "test.json: operators[0].fields.amount: expected a JSON pointer like \"/amount\" "
                 "or an object with \"path\", got 5");
    expect_error("{\"fields\": {\"amount\": \"amount\"}}",
                 "test.json: operators[0].fields.amount: expected a JSON pointer starting with "
                 "\"/\", got \"amount\"");
    expect_error("{\"fields\": {\"a\": {\"path\": \"/a\", \"default\": 1, \"required\": true}}}",
                 "test.json: operators[0].fields.a.required: expected false or no \"required\" "
                 "when a \"default\" is given, got true");
    expect_error("{\"fields\": {\"a\": {\"path\": \"/a\", \"default\": \"x\"}}}",
                 "test.json: operators[0].fields.a.default: expected a number, got \"x\"");
    expect_error("{\"fields\": {\"a\": {\"path\": \"/a\", \"default\": -1e39}}}",
                 "test.json: operators[0].fields.a.default: expected a number of magnitude at "
                 "most 3.4e38 (features are 32-bit floats), got -1e39");
    expect_error("{\"fields\": {\"a\": {\"path\": \"/a\", \"type\": \"int\"}}}",
                 "test.json: operators[0].fields.a.type: expected \"number\", \"string\", \"bool\" "
                 "or \"timestamp\", got \"int\"");
    expect_error("{\"fields\": {\"a\": {\"type\": \"string\"}}}",
                 "test.json: operators[0].fields.a: missing required option \"path\"");
    expect_error("{\"fields\": {\"t1\": {\"path\": \"/t1\", \"type\": \"timestamp\"}, "
                 "\"t2\": {\"path\": \"/t2\", \"type\": \"timestamp\"}}}",
                 "test.json: operators[0].fields.t2.type: expected at most one field of type "
                 "\"timestamp\", got a second (the first is \"t1\")");
    expect_error("{\"fields\": {\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\", "
                 "\"default\": \"soon\"}}}",
                 "test.json: operators[0].fields.ts.default: expected an epoch number in "
                 "\"unit\" (0 to 9.2e18 ms) or a date-time like \"YYYY-MM-DD HH:MM:SS\" from 1970 on, got \"soon\"");
    /* Beyond int64_t milliseconds: each record using the default would
     * convert it with undefined behaviour. */
    expect_error("{\"fields\": {\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\", "
                 "\"default\": 1e300}}}",
                 "test.json: operators[0].fields.ts.default: expected an epoch number in "
                 "\"unit\" (0 to 9.2e18 ms) or a date-time like \"YYYY-MM-DD HH:MM:SS\" from 1970 on, got 1e300");
    expect_error("{\"fields\": {\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\", "
                 "\"unit\": \"ms\", \"default\": -9.3e18}}}",
                 "test.json: operators[0].fields.ts.default: expected an epoch number in "
                 "\"unit\" (0 to 9.2e18 ms) or a date-time like \"YYYY-MM-DD HH:MM:SS\" from 1970 on, got -9.3e18");
    expect_error("{\"fields\": {\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\", "
                 "\"default\": \"1969-07-20 20:17:40\"}}}",
                 "test.json: operators[0].fields.ts.default: expected an epoch number in "
                 "\"unit\" (0 to 9.2e18 ms) or a date-time like \"YYYY-MM-DD HH:MM:SS\" from 1970 on, got "
                 "\"1969-07-20 20:17:40\"");
    expect_error("{\"fields\": {\"a\": \"/a~2\"}}",
                 "test.json: operators[0].fields.a: expected a valid JSON pointer, got \"/a~2\" "
                 "('~' must be followed by '0' (for '~') or '1' (for '/'))");
    expect_error("{\"fields\": {\"a\": {\"path\": \"/a\", \"unit\": \"s\"}}}",
                 "test.json: operators[0].fields.a.unit: expected only with \"type\": "
                 "\"timestamp\", got \"type\": \"number\"");
    expect_error("{\"fields\": {\"t\": {\"path\": \"/t\", \"type\": \"timestamp\", \"unit\": "
                 "\"sec\"}}}",
                 "test.json: operators[0].fields.t.unit: expected \"auto\", \"s\", \"ms\", \"us\" "
                 "or \"ns\", got \"sec\"");
    expect_error("{\"fieldz\": {}}",
                 "test.json: operators[0]: missing required option \"fields\"");
}

/* A feature already written by an earlier operator cannot be written again. */
static void test_schema_conflict(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "amount", 0);
    CHECK(h_prepare(&h, &weir_op_extract, "{\"fields\": {\"amount\": \"/amount\"}}", &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[1].fields.amount: feature \"amount\" is "
                               "already written by operators[0]");
    h_free(&h);
    h_pipe_free(&p);
}

/* "V*": "/V*" expands against the input's fields known at load (a CSV
 * header), in their order; "pca_*" renames; '~' and '/' in names are
 * escaped in the pointers; no known fields, no match, or a second '*' are
 * errors. */
static void test_wildcards(void)
{
    static char *header[] = {"Time", "V1", "V2", "V10", "Amount", "a/V~b", "Class"};
    struct h_pipe p;
    struct h_op h;
    char r[256];
    h_pipe_init(&p);
    p.schema.input = header;
    p.schema.ninput = 7;
    p.schema.input_known = 1;
    CHECK(h_build(&h, &weir_op_extract,
                  "{\"fields\": {\"V*\": \"/V*\", "
                  "\"pca_*\": {\"path\": \"/*s\", \"default\": 7}}}",
                  &p, 0) == 0);
    /* V1 V2 V10 (header order), then pca_Clas (Class matches "*s"). */
    CHECK(p.schema.nfeat == 4);
    CHECK_STR(p.schema.feat[0].name, "V1");
    CHECK_STR(p.schema.feat[1].name, "V2");
    CHECK_STR(p.schema.feat[2].name, "V10");
    CHECK_STR(p.schema.feat[3].name, "pca_Clas");
    struct weir_batch_pool *pool = h_pool(&p, 4);
    struct weir_batch *b = run_one(&h, pool, "{\"V1\": 1.5, \"V2\": \"-2\", \"V10\": 1e3}");
    CHECK(weir_record_live(&b->rec[0]));
    CHECK(b->X[0] == 1.5f && b->X[1] == -2.0f && b->X[2] == 1000.0f && b->X[3] == 7.0f);
    weir_batch_put(b);
    CHECK_STR(reason_of(&h, pool, "{\"V1\": 1, \"V2\": 2}", r, sizeof r), "missing required field \"V10\" (/V10)");
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_wildcard_errors(void)
{
    static char *header[] = {"id", "m~/x"};
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    CHECK(h_prepare(&h, &weir_op_extract, "{\"fields\": {\"V*\": \"/V*\"}}", &p, 0) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[0].fields.V*: expected the input's fields "
                               "known when the pipeline loads to expand \"/V*\" (a CSV header or "
                               "the first JSON Lines records of a file source that exists), got "
                               "none: name the fields one by one");
    h_free(&h);
    h_pipe_free(&p);
    h_pipe_init(&p);
    p.schema.input = header;
    p.schema.ninput = 2;
    p.schema.input_known = 1;
    CHECK(h_prepare(&h, &weir_op_extract, "{\"fields\": {\"V*\": \"/V*\"}}", &p, 0) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[0].fields.V*: expected \"/V*\" to match a "
                               "field of the input, got none (its fields: id, m~/x)");
    h_free(&h);
    CHECK(h_prepare(&h, &weir_op_extract, "{\"fields\": {\"V*\": \"/V**\"}}", &p, 0) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[0].fields.V*: expected a name with one '*' "
                               "and a pointer \"/prefix*suffix\" into the record's top level "
                               "(\"V*\": \"/V*\"), got \"V*\": \"/V**\"");
    h_free(&h);
    /* A name with '~' and '/' gets an escaped pointer that finds it. */
    CHECK(h_build(&h, &weir_op_extract, "{\"fields\": {\"*\": \"/m*\"}}", &p, 0) == 0);
    CHECK_STR(p.schema.feat[0].name, "~/x");
    struct weir_batch_pool *pool = h_pool(&p, 2);
    struct weir_batch *b = run_one(&h, pool, "{\"m~/x\": 4}");
    CHECK(weir_record_live(&b->rec[0]) && b->X[0] == 4.0f);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_wildcards();
    test_wildcard_errors();
    test_fields();
    test_units();
    test_validate_only();
    test_prepare_errors();
    test_schema_conflict();
    return check_summary();
}
