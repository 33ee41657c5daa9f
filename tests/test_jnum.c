/* Tests for engine/jnum.c: weir_jnum_parse (a wrapper of common/jsonnum.h's
 * parse, tested in test_jsonnum.c), and weir_jval_number on values the
 * scanner found (numbers, quoted numbers, escapes, non-numbers). */
#include "engine/jscan.h"
#include "tests/jscan_test_util.h"
#include "tests/check.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- numbers ------------------------------------------------------------- */

/* weir_jnum_parse is common/jsonnum.h's weir_decimal_parse (its cases and
 * random decimals against strtod: tests/test_jsonnum.c); what the wrapper
 * passes on. */
static void test_jnum_parse(void)
{
    double d = 0;
    CHECK(weir_jnum_parse("-42.137", 7, &d) == 0 && d == -42.137);
    CHECK(weir_jnum_parse("+7", 2, &d) == 0 && d == 7);
    CHECK(weir_jnum_parse("12345", 3, &d) == 0 && d == 123); /* only len bytes */
    CHECK(weir_jnum_parse("1x", 2, &d) == -EINVAL);
    CHECK(weir_jnum_parse("", 0, &d) == -EINVAL);
    CHECK(weir_jnum_parse("-1e400", 6, &d) == -ERANGE && d == -HUGE_VAL);
}

static void test_jval_number(void)
{
    const char *ptrs[] = {"/n", "/s", "/sp",   "/esc",   "/word", "/null",
                          "/t", "/o", "/nope", "/empty", "/long"};
    struct weir_jscan *s = compile(ptrs, 11);
    const char *rec =
        "{\"n\":-3.5,\"s\":\"42.25\",\"sp\":\" 7e2\\t\",\"esc\":\"\\u0034\\u0032\","
        "\"word\":\"12abc\",\"null\":null,\"t\":true,\"o\":{},\"empty\":\"  \","
        "\"long\":"
        "\"\\u0031\\u0031\\u0031\\u0031\\u0031\\u0031\\u0031\\u0031\\u0031\\u0031\\u0031\"}";
    struct weir_jval v[11];
    CHECK(run(s, rec, v, NULL) == 0);
    double d = 0;
    CHECK(weir_jval_number(rec, &v[0], &d) == 0 && d == -3.5);
    CHECK(weir_jval_number(rec, &v[1], &d) == 0 && d == 42.25);
    CHECK(weir_jval_number(rec, &v[2], &d) == 0 && d == 700);
    CHECK(weir_jval_number(rec, &v[3], &d) == 0 && d == 42);
    for (int i = 4; i < 11; i++)
        CHECK(weir_jval_number(rec, &v[i], &d) == -EINVAL); /* the last: escaped, > 64 bytes */
    weir_jscan_free(s);
}

int main(void)
{
    test_jnum_parse();
    test_jval_number();
    return check_summary();
}
