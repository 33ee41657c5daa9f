/* Tests for common/jsonnum.h: JSON's number grammar (exactly RFC 8259, the
 * whole span) and the correctly rounded parse (its wider grammar, chosen
 * cases and random decimals against strtod bit for bit, overflow, underflow,
 * a decimal-comma locale: tested where one is installed, e.g. LOCPATH). */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonnum.h"
#include "tests/check.h"
#include "tests/jscan_test_util.h"

static int valid(const char *s)
{
    return weir_json_number_valid(s, strlen(s));
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static int parse(const char *s, double *d)
{
    return weir_decimal_parse(s, strlen(s), d);
}

static void test_grammar(void)
{
    const char *ok[] = {
        "0",    "-0",  "1",       "-1",       "10",       "0.5",
        "-0.5", "0e5", "0E0",     "1E+05",    "1e-5",     "1.25e3",
        "0.0",  "1e0", "-0.0e-0", "9.99e999", "1.000001", "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        if (!valid(ok[i]))
            fprintf(stderr, "should be valid: '%s'\n", ok[i]);
        CHECK(valid(ok[i]));
    }
    const char *bad[] = {"",    "-",   "+1",  "01",    "-01",   "00",    "1.", ".5",  "-.5",
                         "1e",  "1e+", "1e-", "e5",    "1.e5",  "1x",    " 1", "1 ",  "0x10",
                         "inf", "nan", "--1", "1.2.3", "1e5e5", "1E+-5", "-a", "1,5", "+"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (valid(bad[i]))
            fprintf(stderr, "should be invalid: '%s'\n", bad[i]);
        CHECK(!valid(bad[i]));
    }
    /* only n bytes are read: "12" of "12x", "1" of "1." */
    CHECK(weir_json_number_valid("12x", 2));
    CHECK(weir_json_number_valid("1.", 1));
    CHECK(!weir_json_number_valid("-5", 1));
    CHECK(!weir_json_number_valid(NULL, 0));
}

/* Chosen cases (moved from test_jnum.c, where weir_jnum_parse now wraps this). */
static void test_parse_cases(void)
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
        {"1e308", 1e308},
        {"9007199254740993", 9007199254740993.0},
        {"18446744073709551615", 18446744073709551615.0},
        {"123.456e-5", 123.456e-5},
        {"0.000001234", 0.000001234},
        {"1E+2", 100},
        {"1E+05", 1e5},
        {"5.", 5}, /* wider than JSON: "5.", ".5", '+', leading zeros */
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
        int rc = parse(ok[i].s, &d);
        if (rc != 0 || !same_double(d, ok[i].want))
            fprintf(stderr, "parse %s: rc %d got %.17g want %.17g\n", ok[i].s, rc, d, ok[i].want);
        CHECK(rc == 0 && same_double(d, ok[i].want));
    }
    static const char *bad[] = {"",   "-",    "+",   ".",   "e5",    "1e",  "1e+",   "1x", " 1",
                                "1 ", "0x10", "inf", "nan", "1.2.3", "--1", "1e5e5", "1,5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        double d;
        CHECK(parse(bad[i], &d) == -EINVAL);
    }
    double d = 0;
    CHECK(parse("1e309", &d) == -ERANGE && d == HUGE_VAL);
    CHECK(parse("-1e400", &d) == -ERANGE && d == -HUGE_VAL);
    CHECK(weir_decimal_parse("12345", 3, &d) == 0 && d == 123); /* not NUL-terminated */
    /* many digits: past 19 significant ones, and past the 128-byte stack copy */
    const char *halfway = "1.00000000000000011102230246251565404236316680908203125";
    CHECK(parse(halfway, &d) == 0 && same_double(d, strtod(halfway, NULL)));
    char longnum[400];
    memset(longnum, '1', sizeof longnum);
    longnum[1] = '.';
    CHECK(weir_decimal_parse(longnum, sizeof longnum, &d) == 0 &&
          same_double(d, 1.1111111111111112));
    /* an exponent past the parser's 10^6 cap beside as many zeros after the
     * point: 10^9000000, not the 1 that 0.(999,999 zeros)1e1000000 would be */
    static char zeros[1000020];
    size_t n = (size_t)sprintf(zeros, "0.");
    memset(zeros + n, '0', 999999);
    n += 999999;
    n += (size_t)sprintf(zeros + n, "1e10000000");
    CHECK(weir_decimal_parse(zeros, n, &d) == -ERANGE && d == HUGE_VAL);
    n -= 1; /* 1e1000000: exactly 1 */
    CHECK(weir_decimal_parse(zeros, n, &d) == 0 && d == 1.0);
}

/* Random JSON decimals of every form (moved from test_jnum.c): JSON's
 * grammar takes them, and the parse is strtod's bit for bit. */
static void test_parse_random(void)
{
    char buf[80];
    int bad = 0, syntax = 0;
    for (int i = 0; i < 100000; i++) {
        int n = random_decimal(buf, 330);
        if (!weir_json_number_valid(buf, (size_t)n) && syntax++ < 5)
            fprintf(stderr, "generated number not valid JSON: %s\n", buf);
        double want = strtod(buf, NULL), got = 0;
        int rc = weir_decimal_parse(buf, (size_t)n, &got);
        int ok = isinf(want) ? rc == -ERANGE && got == want : rc == 0 && same_double(got, want);
        if (!ok && bad++ < 10)
            fprintf(stderr, "parse %s: got %.17g rc %d, strtod %.17g\n", buf, got, rc, want);
    }
    CHECK(syntax == 0);
    CHECK(bad == 0);
}

/* A decimal-comma locale does not change what "0.25" is. */
static void test_locale(void)
{
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8",  "fr_FR.UTF-8",
                           "fr_FR.utf8",  "ru_RU.UTF-8", "nl_NL.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !got; i++)
        got = setlocale(LC_NUMERIC, names[i]);
    if (!got) {
        fprintf(stderr, "no decimal-comma locale installed: the locale case is skipped\n");
        return;
    }
    double d = 0;
    CHECK(strtod("0.25", NULL) != 0.25); /* the locale took: strtod stops at '.' */
    CHECK(parse("0.25", &d) == 0 && d == 0.25);
    /* the slow path (strtod_l) too: more than 19 significant digits */
    CHECK(parse("0.2500000000000000000000001", &d) == 0 && d == 0.25);
    CHECK(parse("0,25", &d) == -EINVAL);
    setlocale(LC_NUMERIC, "C");
}

int main(void)
{
    test_grammar();
    test_parse_cases();
    test_parse_random();
    test_locale();
    return check_summary();
}
