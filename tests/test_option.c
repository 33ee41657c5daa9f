/* Option tables: filling config structs, every kind's error message, unknown
 * keys with "did you mean", defaults, durations and --set overrides. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/option.h"
#include "engine/override.h"
#include "tests/check.h"

struct conf {
    int flag;
    int64_t count;
    double q;
    const char *name;
    int mode;
    struct weir_strlist fields;
    uint64_t delay;
};

static const struct weir_option opts[] = {
    {"flag", WEIR_OPT_BOOL, "false", "", offsetof(struct conf, flag), 0, 0, 0, NULL},
    {"count", WEIR_OPT_INT, "1024", "", offsetof(struct conf, count), WEIR_OPT_RANGE, 1, INFINITY, NULL},
    {"quantile", WEIR_OPT_NUMBER, NULL, "", offsetof(struct conf, q),
     WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN | WEIR_OPT_MAX_OPEN, 0, 1, NULL},
    {"name", WEIR_OPT_STRING, NULL, "", offsetof(struct conf, name), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"mode", WEIR_OPT_ENUM, "\"running\"", "", offsetof(struct conf, mode), 0, 0, 0, "running|ewm"},
    {"fields", WEIR_OPT_STRINGS, NULL, "", offsetof(struct conf, fields), 0, 0, 0, NULL},
    {"delay", WEIR_OPT_DURATION, "\"5ms\"", "", offsetof(struct conf, delay), 0, 0, 0, NULL},
    {0},
};

static const char *const type_only[] = {"type", NULL};

/* Applies text and returns the diag (first message) for checks. */
static int apply(const char *text, struct conf *c, struct weir_diag *d)
{
    json_t *obj = json_loads(text, 0, NULL);
    *c = (struct conf){0};
    *d = (struct weir_diag){.file = "p.json"};
    int bad = weir_options_apply(opts, obj, c, type_only, d, "operators[2]");
    json_decref(obj); /* strings were only needed for the checks below in the ok case */
    return bad;
}

static void expect_error(const char *text, const char *msg)
{
    struct conf c;
    struct weir_diag d;
    int bad = apply(text, &c, &d);
    CHECK(bad == 1);
    CHECK_STR(d.n ? d.msgs[0] : NULL, msg);
    weir_options_release(opts, &c);
    weir_diag_free(&d);
}

static void test_fill(void)
{
    json_t *obj = json_loads("{\"type\":\"x\",\"name\":\"a\",\"fields\":[\"u\",\"v\"],\"quantile\":0.99,"
                             "\"mode\":\"ewm\",\"delay\":\"1h\",\"flag\":true}", 0, NULL);
    struct conf c = {0};
    struct weir_diag d = {.file = "p.json"};
    CHECK(weir_options_apply(opts, obj, &c, type_only, &d, "operators[2]") == 0);
    CHECK(c.flag == 1 && c.count == 1024 && c.mode == 1);
    CHECK_NEAR(c.q, 0.99, 1e-12);
    CHECK_STR(c.name, "a");
    CHECK(c.fields.n == 2);
    CHECK_STR(c.fields.v[1], "v");
    CHECK(c.delay == 3600ull * 1000000000ull);
    weir_options_release(opts, &c);
    weir_diag_free(&d);
    json_decref(obj);
}

static void test_errors(void)
{
    expect_error("{\"name\":\"a\",\"count\":-5}",
                 "p.json: operators[2].count: expected a positive integer, got -5");
    expect_error("{\"name\":\"a\",\"count\":2.5}",
                 "p.json: operators[2].count: expected a positive integer, got 2.5");
    expect_error("{\"name\":\"a\",\"quantile\":1.5}",
                 "p.json: operators[2].quantile: expected a number in (0,1), got 1.5");
    expect_error("{\"name\":\"a\",\"quantile\":\"high\"}",
                 "p.json: operators[2].quantile: expected a number in (0,1), got \"high\"");
    expect_error("{}", "p.json: operators[2]: missing required option \"name\"");
    expect_error("{\"name\":\"\"}", "p.json: operators[2].name: expected a non-empty string, got \"\"");
    expect_error("{\"name\":\"a\",\"mode\":\"fast\"}",
                 "p.json: operators[2].mode: expected \"running\" or \"ewm\", got \"fast\"");
    expect_error("{\"name\":\"a\",\"flag\":1}", "p.json: operators[2].flag: expected true or false, got 1");
    expect_error("{\"name\":\"a\",\"delay\":\"soon\"}",
                 "p.json: operators[2].delay: expected a duration like \"250ms\" or \"1h\", got \"soon\"");
    expect_error("{\"name\":\"a\",\"fields\":[\"u\",3]}",
                 "p.json: operators[2].fields[1]: expected a string, got 3");
    expect_error("{\"name\":\"a\",\"qantile\":0.5}",
                 "p.json: operators[2].qantile: unknown option (did you mean \"quantile\"?)");
    expect_error("{\"name\":\"a\",\"zzz\":0.5}",
                 "p.json: operators[2].zzz: unknown option; expected one of: flag, count, quantile, "
                 "name, mode, fields, delay");
}

/* Numbers beyond what the field holds are errors that name the range, never
 * a conversion (undefined for a double past int64_t or uint64_t). */
static void test_out_of_range_numbers(void)
{
    expect_error("{\"name\":\"a\",\"count\":1e300}",
                 "p.json: operators[2].count: expected a positive integer up to "
                 "9223372036854775807, got 1e300");
    expect_error("{\"name\":\"a\",\"count\":9.3e18}",
                 "p.json: operators[2].count: expected a positive integer up to "
                 "9223372036854775807, got 9.3e18");
    expect_error("{\"name\":\"a\",\"delay\":\"1e300s\"}",
                 "p.json: operators[2].delay: expected a duration of at most \"36500d\" (100 "
                 "years), got \"1e300s\"");
    expect_error("{\"name\":\"a\",\"delay\":5e55}",
                 "p.json: operators[2].delay: expected a duration of at most \"36500d\" (100 "
                 "years), got 5e55");
    expect_error("{\"name\":\"a\",\"delay\":\"36501d\"}",
                 "p.json: operators[2].delay: expected a duration of at most \"36500d\" (100 "
                 "years), got \"36501d\"");
    /* The edges themselves are fine. */
    struct conf c;
    struct weir_diag d;
    CHECK(apply("{\"name\":\"a\",\"count\":9223372036854775807,\"delay\":\"36500d\"}", &c,
                &d) == 0);
    CHECK(c.count == INT64_MAX);
    CHECK(c.delay == WEIR_DURATION_MAX_NS);
    weir_options_release(opts, &c);
    weir_diag_free(&d);
    uint64_t ns;
    CHECK(weir_duration_parse("1e300s", &ns) == -ERANGE);
    CHECK(weir_duration_parse("nan", &ns) == -EINVAL);
    /* only what `weir schema`'s pattern allows: strtod's other forms are not durations */
    const char *refused[] = {"inf", " 5s", "+5s",  "-0s",  "0x10s", "5 s", "e5s",
                             ".s",  "5e",  "5e+s", "infs", "1,5s",  ""};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        CHECK(weir_duration_parse(refused[i], &ns) == -EINVAL);
    const char *taken[] = {"5", "5.", ".5s", "1e3ms", "1E-3s", "2.5e+1m", "0"};
    for (size_t i = 0; i < sizeof taken / sizeof *taken; i++)
        CHECK(weir_duration_parse(taken[i], &ns) == 0);
}

static void test_all_errors_reported(void)
{
    struct conf c;
    struct weir_diag d;
    CHECK(apply("{\"count\":0,\"quantile\":0,\"mode\":1}", &c, &d) == 4);
    CHECK(d.n == 4);
    weir_options_release(opts, &c);
    weir_diag_free(&d);
}

static void test_durations_and_names(void)
{
    uint64_t ns;
    CHECK(weir_duration_parse("250ms", &ns) == 0 && ns == 250000000ull);
    CHECK(weir_duration_parse("1.5s", &ns) == 0 && ns == 1500000000ull);
    /* rounded, not cut: in a double 4.1 s is a hair under 4100000000 ns */
    CHECK(weir_duration_parse("4.1s", &ns) == 0 && ns == 4100000000ull);
    CHECK(weir_duration_parse("2.3h", &ns) == 0 && ns == 8280000000000ull);
    CHECK(weir_duration_parse("0.57m", &ns) == 0 && ns == 34200000000ull);
    /* whole milliseconds: every value to the thousandth of a second,
     * minute, hour or day is one, whatever a double makes of it */
    int64_t ms;
    static const char *const units[] = {"s", "m", "h", "d"};
    int refused = 0;
    for (int u = 0; u < 4; u++)
        for (int i = 1; i < 100000; i += 7) {
            char text[32];
            snprintf(text, sizeof text, "%d.%03d%s", i / 1000, i % 1000, units[u]);
            refused += weir_duration_parse(text, &ns) != 0 || weir_duration_whole_ms(ns, &ms) != 0;
        }
    CHECK(refused == 0);
    CHECK(weir_duration_parse("99.999d", &ns) == 0 && weir_duration_whole_ms(ns, &ms) == 0 &&
          ms == 8639913600ll);
    CHECK(weir_duration_parse("1.5ms", &ns) == 0 && weir_duration_whole_ms(ns, &ms) < 0);
    CHECK(weir_duration_parse("500us", &ns) == 0 && weir_duration_whole_ms(ns, &ms) < 0);
    CHECK(weir_duration_parse("2", &ns) == 0 && ns == 2000000ull);
    CHECK(weir_duration_parse("1d", &ns) == 0 && ns == 86400ull * 1000000000ull);
    CHECK(weir_duration_parse("5 parsecs", &ns) < 0);
    CHECK(weir_duration_parse("-1s", &ns) < 0);
    const char *names[] = {"standardize", "score", "threshold"};
    CHECK_STR(weir_did_you_mean("standardise", names, 3), "standardize");
    CHECK_STR(weir_did_you_mean("treshold", names, 3), "threshold");
    CHECK(weir_did_you_mean("window", names, 3) == NULL);
}

static void test_override(void)
{
    json_t *root = json_loads("{\"source\":{\"path\":\"a\"},\"operators\":[{\"q\":1},{\"q\":2}]}", 0, NULL);
    struct weir_diag d = {.file = "p.json"};
    char a1[] = "source.path=other.csv", a2[] = "operators[1].q=0.5", a3[] = "operators[0].list=[1,2]";
    struct weir_override o;
    CHECK(weir_override_parse(a1, &o) == 0 && weir_override_apply(root, &o, &d) == 0);
    CHECK(weir_override_parse(a2, &o) == 0 && weir_override_apply(root, &o, &d) == 0);
    CHECK(weir_override_parse(a3, &o) == 0 && weir_override_apply(root, &o, &d) == 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(root, "source"), "path")), "other.csv");
    CHECK_NEAR(json_number_value(json_object_get(json_array_get(json_object_get(root, "operators"), 1), "q")),
               0.5, 1e-12);
    CHECK(json_is_array(json_object_get(json_array_get(json_object_get(root, "operators"), 0), "list")));
    char b1[] = "operators[5].q=1", b2[] = "source.x.y=1", b3[] = "noequals";
    CHECK(weir_override_parse(b1, &o) == 0 && weir_override_apply(root, &o, &d) == 1);
    CHECK_STR(d.msgs[0], "p.json: --set operators[5].q: index 5 is out of range: \"operators\" has 2 elements");
    CHECK(weir_override_parse(b2, &o) == 0 && weir_override_apply(root, &o, &d) == 1);
    CHECK_STR(d.msgs[1], "p.json: --set source.x.y: \"source.x\" does not exist in the pipeline");
    CHECK(weir_override_parse(b3, &o) < 0);
    char c1[] = "state.durable=true"; /* a section the file leaves out: made */
    CHECK(weir_override_parse(c1, &o) == 0 && weir_override_apply(root, &o, &d) == 0);
    CHECK(json_is_true(json_object_get(json_object_get(root, "state"), "durable")));
    char b4[] = "source.path=caf\xe9"; /* Latin-1: jansson refused it, said as out of memory */
    CHECK(weir_override_parse(b4, &o) == 0 && weir_override_apply(root, &o, &d) == 1);
    CHECK_STR(d.msgs[2],
              "p.json: --set source.path: expected UTF-8 text, got bytes that are not UTF-8");
    weir_diag_free(&d);
    json_decref(root);
}

int main(void)
{
    test_fill();
    test_errors();
    test_out_of_range_numbers();
    test_all_errors_reported();
    test_durations_and_names();
    test_override();
    return check_summary();
}
