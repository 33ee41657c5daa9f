/* Tests for models/jspan.h, the scanner XGBoost's trees are read with:
 * spans of values, members (the last of a repeated key), items, number
 * arrays (JSON's grammar only, booleans as 0/1), and malformed or cut-short
 * text refused at every step. */
#include <math.h>
#include <string.h>

#include "models/jspan.h"
#include "tests/check.h"

static struct jspan span(const char *s)
{
    return jspan_value(s, strlen(s));
}

static int span_is(struct jspan v, const char *want)
{
    return v.p && v.n == strlen(want) && memcmp(v.p, want, v.n) == 0;
}

static void test_values(void)
{
    CHECK(span_is(span("  {\"a\": [1, {\"b\": \"]}\"}]}  "), "{\"a\": [1, {\"b\": \"]}\"}]}"));
    CHECK(span_is(span("\"x\\\"y\" "), "\"x\\\"y\""));
    CHECK(span_is(span("-1.5e3,"), "-1.5e3"));
    CHECK(span_is(span("true]"), "true"));
    const char *bad[] = {"",       "   ",      "{",       "[1, 2", "{\"a\": 1]", "[1}",
                         "\"open", "\"a\nb\"", "[1 # 2]", "}",     ",",          "{\"a\": \"b}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!span(bad[i]).p);
}

static void test_members(void)
{
    const char *keys[] = {"a", "b", "missing"};
    struct jspan out[3];
    CHECK(jspan_members(span("{\"a\": 1, \"b\": {\"a\": 2}, \"a\": [3]}"), keys, 3, out) == 1);
    CHECK(span_is(out[0], "[3]")); /* the last one, as jansson */
    CHECK(span_is(out[1], "{\"a\": 2}"));
    CHECK(!out[2].p);
    CHECK(jspan_members(span("{\"a\": 1, \"b\": 2, \"a\": 3, \"b\": 4, \"a\": 5}"), keys, 3, out) ==
          3);
    CHECK(span_is(out[0], "5") && span_is(out[1], "4"));
    CHECK(jspan_members(span("{\"a\": 1, \"c\": 2, \"c\": 3}"), keys, 3, out) == 0); /* not asked */
    CHECK(jspan_members(span("{}"), keys, 3, out) == 0 && !out[0].p);
    CHECK(jspan_members(span("[1]"), keys, 3, out) < 0);
    CHECK(jspan_members(span("{\"a\" 1}"), keys, 3, out) < 0);
    CHECK(jspan_members(span("{\"a\": 1,}"), keys, 3, out) < 0);
    CHECK(jspan_members(span("{\"a\": 1 \"b\": 2}"), keys, 3, out) < 0);
    CHECK(jspan_members(span("{1: 2}"), keys, 3, out) < 0);
    CHECK(jspan_members((struct jspan){NULL, 0}, keys, 3, out) < 0);
}

static void test_items(void)
{
    struct jspan arr = span("[ 1 , \"a,b\" ,[2,3], {\"c\":[]} ]"), item;
    const char *want[] = {"1", "\"a,b\"", "[2,3]", "{\"c\":[]}"};
    size_t at = 0, n = 0;
    int rc;
    while ((rc = jspan_next_item(arr, &at, &item)) == 1)
        CHECK(n < 4 && span_is(item, want[n++]));
    CHECK(rc == 0 && n == 4);
    CHECK(jspan_next_item(arr, &at, &item) == 0); /* stays at the end */
    CHECK(jspan_count(span("[]")) == 0 && jspan_count(span("[ ]")) == 0);
    CHECK(jspan_count(arr) == 4);
    CHECK(jspan_count(span("[1,,2]")) < 0);
    CHECK(jspan_count(span("[,1]")) < 0);
    CHECK(jspan_count(span("[1,]")) < 0);
    CHECK(jspan_count(span("{\"a\":1}")) < 0);
}

static void test_numbers(void)
{
    double v[8];
    CHECK(jspan_numbers(span("[1, -2, 5E-1, 0.25, 1e3, true, false, -0]"), v, 8) == 8);
    CHECK(v[0] == 1 && v[1] == -2 && v[2] == 0.5 && v[3] == 0.25 && v[4] == 1000 && v[5] == 1 &&
          v[6] == 0 && v[7] == 0);
    CHECK(jspan_numbers(span("[]"), v, 8) == 0);
    /* overflow: +-HUGE_VAL, as strtod gives (the loader judges what is finite) */
    CHECK(jspan_numbers(span("[1e400, -1e400]"), v, 8) == 2 && v[0] == HUGE_VAL &&
          v[1] == -HUGE_VAL);
    CHECK(jspan_numbers(span("[1, 2, 3]"), v, 2) < 0); /* more than cap */
    const char *bad[] = {"[null]", "[\"1\"]", "[0x10]", "[inf]", "[nan]", "[+1]", "[01]",
                         "[1.]",   "[.5]",    "[1e]",   "[-]",   "[[1]]", "[tru]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(jspan_numbers(span(bad[i]), v, 8) < 0);
}

int main(void)
{
    test_values();
    test_members();
    test_items();
    test_numbers();
    return check_summary();
}
