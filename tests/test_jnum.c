/* Tests for engine/jnum.c: weir_jnum_parse on chosen cases and on random
 * decimals against strtod (bit for bit), and weir_jval_number on values the
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

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void test_jnum_cases(void)
{
    static const struct {
        const char *s;
        double want;
    } ok[] = {
        {"0", 0.0},
        {"-0", -0.0},
        {"1", 1},
        {"-1", -1},
        {"42.137", 42.137},
        {"0.1", 0.1},
        {"1e22", 1e22},
        {"1e23", 1e23},
        {"12e30", 12e30},
        {"9007199254740993", 9007199254740993.0},
        {"18446744073709551615", 18446744073709551615.0},
        {"123.456e-5", 123.456e-5},
        {"0.000001234", 0.000001234},
        {"1E+2", 100},
        {"5.", 5},
        {".5", 0.5},
        {"+7", 7},
        {"007", 7},
        {"0e999999999", 0},
        {"2.2250738585072011e-308", 2.2250738585072011e-308},
        {"4.9e-324", 4.9e-324},
        {"1e-400", 0},
        {"0.30000000000000004", 0.30000000000000004},
        {"1.7976931348623157e308", 1.7976931348623157e308},
        {"3.14159265358979323846264338327950288", 3.14159265358979323846264338327950288},
        {"100000000000000000000000", 1e23},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        double d = -999;
        int rc = weir_jnum_parse(ok[i].s, (uint32_t)strlen(ok[i].s), &d);
        if (rc != 0 || !same_double(d, ok[i].want))
            fprintf(stderr, "jnum %s: rc %d got %.17g want %.17g\n", ok[i].s, rc, d, ok[i].want);
        CHECK(rc == 0 && same_double(d, ok[i].want));
    }
    static const char *bad[] = {"",   "-",  "+",    ".",   "e5",  "1e",    "1e+", "1x",
                                " 1", "1 ", "0x10", "inf", "nan", "1.2.3", "--1", "1e5e5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double d;
        CHECK(weir_jnum_parse(bad[i], (uint32_t)strlen(bad[i]), &d) == -EINVAL);
    }
    double d;
    CHECK(weir_jnum_parse("1e400", 5, &d) == -ERANGE && d == HUGE_VAL);
    CHECK(weir_jnum_parse("-1e400", 6, &d) == -ERANGE && d == -HUGE_VAL);
    /* not NUL-terminated: only len bytes are read */
    CHECK(weir_jnum_parse("12345", 3, &d) == 0 && d == 123);
    char longnum[400];
    memset(longnum, '1', sizeof longnum);
    longnum[1] = '.';
    CHECK(weir_jnum_parse(longnum, sizeof longnum, &d) == 0 && same_double(d, 1.1111111111111112));
}

static void test_jnum_random(void)
{
    char buf[80];
    int bad = 0, syntax = 0;
    struct weir_jscan *s = compile((const char *[]){""}, 1);
    for (int i = 0; i < 100000; i++) {
        int n = random_decimal(buf, 330);
        struct weir_jval v[1];
        if (weir_jscan_run(s, buf, (size_t)n, v, NULL) != 0 || v[0].type != WEIR_JNUMBER) {
            if (syntax++ < 5)
                fprintf(stderr, "generated number not valid JSON: %s\n", buf);
            continue;
        }
        double want = strtod(buf, NULL), got = 0;
        int rc = weir_jnum_parse(buf, (uint32_t)n, &got);
        int ok = isinf(want) ? rc == -ERANGE && got == want : rc == 0 && same_double(got, want);
        if (!ok && bad++ < 10)
            fprintf(stderr, "jnum %s: got %.17g rc %d, strtod %.17g\n", buf, got, rc, want);
    }
    CHECK(syntax == 0);
    CHECK(bad == 0);
    weir_jscan_free(s);
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
    test_jnum_cases();
    test_jnum_random();
    test_jval_number();
    return check_summary();
}
