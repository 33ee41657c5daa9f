/* Tests for the expression language (engine/expr.h): good expressions
 * compile to the right type; each bad one fails with the exact message and
 * the column of the mistake; evaluation matches a reference written in C
 * on random inputs with NaN, ±Inf, absent strings and missing event times;
 * the fraud handbook's weekend and night flags on known dates. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/batch.h"
#include "engine/expr.h"
#include "tests/check.h"
#include "tests/op_harness.h"

/* Features a, b, c and string fields s, t, written by operators[0];
 * feature late is declared but written by nobody yet. */
static void schema(struct h_pipe *p)
{
    h_pipe_init(p);
    h_feature(p, "a", 0);
    h_feature(p, "b", 0);
    h_feature(p, "c", 0);
    h_feature(p, "amount", 0);
    struct weir_prepare pr = {.schema = &p->schema, .diag = &p->diag, .path = "operators[0]"};
    weir_schema_string_out(&pr, "s", "operators[0]");
    weir_schema_string_out(&pr, "t", "operators[0]");
    p->schema.feat[p->schema.nfeat].name = "late";
    p->schema.feat[p->schema.nfeat++].producer = -1;
}

static struct weir_expr *compile(struct h_pipe *p, const char *text)
{
    struct weir_prepare pr = {
        .schema = &p->schema, .diag = &p->diag, .path = "operators[3]", .op_index = 3};
    return weir_expr_compile(text, &pr, "operators[3].expr");
}

/* text compiled over schema() into p, NULL (said) when it does not. */
static struct weir_expr *compiled(struct h_pipe *p, const char *text)
{
    schema(p);
    struct weir_expr *e = compile(p, text);
    CHECK(e != NULL);
    if (!e)
        fprintf(stderr, "  %s: %s\n", text, h_last_diag(p));
    return e;
}

static void good(const char *text, enum weir_expr_type want)
{
    struct h_pipe p;
    struct weir_expr *e = compiled(&p, text);
    if (e) {
        CHECK(weir_expr_result_type(e) == want);
        if (weir_expr_result_type(e) != want)
            fprintf(stderr, "  %s: type %s\n", text, weir_expr_type_name(weir_expr_result_type(e)));
    }
    CHECK(p.diag.n == 0);
    weir_expr_free(e);
    h_pipe_free(&p);
}

static void bad(const char *text, const char *want)
{
    struct h_pipe p;
    schema(&p);
    struct weir_expr *e = compile(&p, text);
    CHECK(e == NULL);
    CHECK(p.diag.n == 1);
    char full[600];
    snprintf(full, sizeof full, "test.json: operators[3].expr: %s", want);
    CHECK_STR(h_last_diag(&p), full);
    weir_expr_free(e);
    h_pipe_free(&p);
}

static void test_parse(void)
{
    good("a + b * c", WEIR_EXPR_NUMBER);
    good("-a - -b", WEIR_EXPR_NUMBER);
    good("(a + b) % 3 / 2.5e-1", WEIR_EXPR_NUMBER);
    good("a > 1 and not b <= 2 or c == 3", WEIR_EXPR_BOOL);
    good("s == 'FR'", WEIR_EXPR_BOOL);
    good("s != t", WEIR_EXPR_BOOL);
    good("s in ['FR', \"DE\", 'it\\'s']", WEIR_EXPR_BOOL);
    good("s in ['a\\\\b', 'c\\td\\n', '\\\"']", WEIR_EXPR_BOOL);
    /* '\r' read as "r" would match nothing, silently */
    bad("s == 'C:\\data'", "column 9: expected one of the escapes \\' \\\" \\\\ \\n \\t, got \\d");
    bad("s == 'é\\é'", "column 8: expected one of the escapes \\' \\\" \\\\ \\n \\t, got \\é");
    good("a in [1, -2, 3.5]", WEIR_EXPR_BOOL);
    good("a not in []", WEIR_EXPR_BOOL);
    good("exists(a) and exists(s) and exists(event_time)", WEIR_EXPR_BOOL);
    good("log(a) + log1p(b) + exp(c) + sqrt(a) + abs(b)", WEIR_EXPR_NUMBER);
    good("min(a, b) + max(a, b, c, 1) + clip(a, 0, 1)", WEIR_EXPR_NUMBER);
    good("if(a > b, a, b)", WEIR_EXPR_NUMBER);
    good("if(is_nan(a), true, a > 0)", WEIR_EXPR_BOOL);
    good("day_of_week(event_time) >= 5", WEIR_EXPR_BOOL);
    good("hour_of_day(event_time) <= 6", WEIR_EXPR_BOOL);
    good("`amount` * 2", WEIR_EXPR_NUMBER);
    good("true", WEIR_EXPR_BOOL);
    good("  .5  ", WEIR_EXPR_NUMBER);
    good("((((a))))", WEIR_EXPR_NUMBER);

    bad("amount + )", "column 10: expected a number after '+', got ')'");
    bad("", "column 1: expected an expression, got the end of the expression");
    bad("a +", "column 4: expected a number after '+', got the end of the expression");
    bad("a + (b > 1)", "column 5: expected a number after '+', got a bool");
    bad("(a > 1) * 2", "column 1: expected a number before '*', got a bool");
    bad("a and b > 1", "column 1: expected a bool before 'and', got a number");
    bad("a > 1 or b", "column 10: expected a bool after 'or', got a number");
    bad("not a", "column 5: expected a bool after 'not', got a number");
    bad("a < b < c", "column 7: expected 'and' between two comparisons, got '<'");
    bad("a in [1] == 1", "column 10: expected 'and' between two comparisons, got '=='");
    bad("a = 1", "column 3: expected '==' to compare, got '='");
    bad("s < 'x'", "column 1: expected a number before '<', got a string");
    bad("s == 1", "column 6: expected a string after '==', got a number");
    bad("a == true", "column 6: expected a number after '==', got a bool");
    bad("amout > 1", "column 1: unknown field \"amout\" (did you mean \"amount\"?)");
    bad("zzzzzz > 1", "column 1: unknown field \"zzzzzz\" (a record's event time is event_time)");
    bad("late > 1", "column 1: feature \"late\" is not written by any earlier operator");
    bad("lg(a)", "column 1: unknown function \"lg\" (did you mean \"log\"?)");
    bad("log(a, b)", "column 1: expected 1 argument for log(), got 2");
    bad("min(a)", "column 1: expected at least 2 arguments for min(), got 1");
    bad("clip(a, 0)", "column 1: expected 3 arguments for clip(), got 2");
    bad("abs(a > 1)", "column 5: expected a number as argument 1 of abs(), got a bool");
    bad("if(a, 1, 2)", "column 4: expected a bool as argument 1 of if(), got a number");
    bad("if(a > 1, 1, false)", "column 14: expected a number as argument 3 of if(), got a bool");
    bad("if(a > 1, s, t)",
        "column 11: expected a number or a bool as argument 2 of if(), got a string");
    bad("exists(a + 1)", "column 10: expected ')' after the field name in exists(), got '+'");
    bad("exists(1)", "column 8: expected a field name in exists(), got '1'");
    bad("exists(log(a))", "column 8: expected a field name in exists(), got a call to log(): "
                          "exists() asks whether a record has a field (is_nan() tests a value)");
    bad("log(a b)", "column 7: expected ',' or ')' in log(), got 'b'");
    bad("(a + 1",
        "column 7: expected ')' to close the '(' at column 1, got the end of the expression");
    bad("a b", "column 3: expected an operator or the end of the expression, got 'b'");
    /* a no-break space (pasted from a page) prints like a space: named */
    bad("a >\u00a03", "column 4: expected a value after '>', got '\u00a0' (U+00A0)");
    bad("a in [1, 'x']", "column 10: expected a number in the list, got a string");
    bad("a in 1", "column 6: expected '[' after 'in', got '1'");
    bad("a in [1 2]", "column 9: expected ',' or ']' in the list, got '2'");
    bad("(a > 1) in [1]", "column 1: expected a number or a string before 'in', got a bool");
    bad("s == 'abc", "column 6: expected a closing ' for the string that starts here, got the end "
                     "of the expression");
    bad("a # 2", "column 3: expected an operator or the end of the expression, got '#'");
    bad("a > and", "column 5: expected a value after '>', got 'and'");
    bad("é + 1", "column 1: expected an expression, got 'é' (U+00E9)"); /* names are ASCII */
    bad("'é' + )", "column 7: expected a number after '+', got ')'"); /* characters, not bytes */
    bad("'é' + 1", "column 1: expected a number before '+', got a string");
    bad("`unterminated",
        "column 1: expected a closing ` for the name that starts here, got the end "
        "of the expression");
    bad("min(a, )", "column 8: expected an argument after ',' in min(), got ')'");

    char deep[1200];
    size_t k = 0;
    for (int i = 0; i < 300; i++)
        deep[k++] = '(';
    deep[k++] = 'a';
    for (int i = 0; i < 300; i++)
        deep[k++] = ')';
    deep[k] = '\0';
    bad(deep, "column 201: expected at most 200 nested parentheses or operators, got more");

    static char longsum[8000];
    k = 0;
    for (int i = 0; i < 1200; i++)
        k += (size_t)sprintf(longsum + k, "%sa", i ? "+" : "");
    bad(longsum, "column 1: expected an expression of at most 1000 operations, got more");
    longsum[500 * 2 - 1] = '\0'; /* 500 operands and 499 additions: 999 nodes fit */
    good(longsum, WEIR_EXPR_NUMBER);
}

/* ---- evaluation against C --------------------------------------------------- */

static double specials[] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -1.0, 1e30f, 7.0};

static float rnd_value(unsigned *seed)
{
    unsigned r = (unsigned)rand_r(seed);
    if (r % 5 == 0)
        return (float)specials[r / 5 % (sizeof specials / sizeof specials[0])];
    return (float)((double)rand_r(seed) / RAND_MAX * 20.0 - 10.0);
}

static double ref_min(double x, double y)
{
    return isnan(x) || isnan(y) ? NAN : x < y ? x : y;
}

static double ref_mod(double x, double y)
{
    double r = fmod(x, y);
    return r != 0 && (r < 0) != (y < 0) ? r + y : r;
}

static int ref_ne(double x, double y)
{
    return !isnan(x) && !isnan(y) && x != y;
}

static int str_is(const struct weir_str *v, const char *lit)
{
    return v->p && v->len == strlen(lit) && memcmp(v->p, lit, v->len) == 0;
}

struct evcase {
    const char *text;
    double (*ref)(double a, double b, double c, const struct weir_str *s, const struct weir_str *t,
                  int64_t ts);
};

#define REF(name, body)                                                                            \
    static double name(double a, double b, double c, const struct weir_str *s,                     \
                       const struct weir_str *t, int64_t ts)                                       \
    {                                                                                              \
        (void)a, (void)b, (void)c, (void)s, (void)t, (void)ts;                                     \
        return (body);                                                                             \
    }

REF(r_arith, a + b * c - -a / b)
REF(r_mod, ref_mod(a, b) + ref_mod(a, 3))
REF(r_funcs, log(fabs(a)) + log1p(b) * exp(c / 10) - sqrt(a))
REF(r_minmax, ref_min(a, b) - ref_min(-a, ref_min(-b, -c)))
REF(r_clip, isnan(a) ? NAN : a<-1 ? -1 : a> 2 ? 2 : a)
REF(r_cmp, (a < b) + 2 * (a <= b) + 4 * (a > c) + 8 * (b >= c) + 16 * (a == b) + 32 * ref_ne(a, c))
REF(r_logic, (a > 0 && !(b > 0)) || c == 7)
REF(r_in, a == 1 || a == -1 || a == 7)
REF(r_not_in, !isnan(a) && !(a == 1 || a == -1 || a == 7))
REF(r_str_not_in, s->p && !(str_is(s, "y") || str_is(s, "")))
REF(r_if, a > b ? a : isnan(c) ? 0 : c)
REF(r_exists, !isnan(a) && s->p != NULL)
REF(r_str, str_is(s, "x") +
               2 * (s->p && t->p && !(s->len == t->len && !memcmp(s->p, t->p, s->len))) +
               4 * (str_is(s, "y") || str_is(s, "")) +
               8 * (s->p && t->p && s->len == t->len && !memcmp(s->p, t->p, s->len)))
REF(r_isnan, isnan(a) + 2 * isnan(a * b))
static double ref_hour(double ms)
{
    return isfinite(ms) ? floor(ref_mod(ms, 86400000.0) / 3600000.0) : NAN;
}

static double ref_dow(double ms)
{
    return isfinite(ms) ? ref_mod(floor(ms / 86400000.0) + 3, 7) : NAN;
}

REF(r_time_any, ref_hour(a * 1e7) * 10 + ref_dow(a * 1e7) + ref_hour(b * 1e17) + ref_dow(c * 1e17))
REF(r_time, ts < 0 ? NAN : (double)((ts / 3600000) % 24) * 10 + (double)((ts / 86400000 + 3) % 7))

static const struct evcase evcases[] = {
    {"a + b * c - -a / b", r_arith},
    {"a % b + a % 3", r_mod},
    {"log(abs(a)) + log1p(b) * exp(c / 10) - sqrt(a)", r_funcs},
    {"min(a, b) - min(-a, -b, -c)", r_minmax},
    {"clip(a, -1, 2)", r_clip},
    {"if(a < b, 1, 0) + 2 * if(a <= b, 1, 0) + 4 * if(a > c, 1, 0) + 8 * if(b >= c, 1, 0) + "
     "16 * if(a == b, 1, 0) + 32 * if(a != c, 1, 0)",
     r_cmp},
    {"a > 0 and not b > 0 or c == 7", r_logic},
    {"a in [1, -1, 7]", r_in},
    /* `not in` is false for a missing value, as != is */
    {"a not in [1, -1, 7]", r_not_in},
    {"s not in ['y', '']", r_str_not_in},
    {"if(a > b, a, if(is_nan(c), 0, c))", r_if},
    {"exists(a) and exists(s)", r_exists},
    {"if(s == 'x', 1, 0) + 2 * if(s != t, 1, 0) + 4 * if(s in ['y', ''], 1, 0) + "
     "8 * if(not s != t and exists(s) and exists(t), 1, 0)",
     r_str},
    {"if(is_nan(a), 1, 0) + 2 * if(is_nan(a * b), 1, 0)", r_isnan},
    {"hour_of_day(event_time) * 10 + day_of_week(event_time)", r_time},
    /* negative times, and times past 2^62 ms that take the double path */
    {"hour_of_day(a * 1e7) * 10 + day_of_week(a * 1e7) + hour_of_day(b * 1e17) + "
     "day_of_week(c * 1e17)",
     r_time_any},
};

static const char *const strvals[] = {NULL, "x", "y", "", "xy", "x"};

static void test_eval(void)
{
    struct h_pipe p;
    schema(&p);
    struct weir_batch_pool *pool = h_pool(&p, 300);
    unsigned seed = 12345;
    for (size_t c = 0; c < sizeof evcases / sizeof evcases[0]; c++) {
        struct weir_expr *e = compile(&p, evcases[c].text);
        CHECK(e != NULL);
        if (!e) {
            fprintf(stderr, "  %s: %s\n", evcases[c].text, h_last_diag(&p));
            continue;
        }
        struct weir_expr_run run;
        weir_expr_run_init(&run, e);
        size_t wrong = 0;
        for (int round = 0; round < 4; round++) {
            struct weir_batch *b = weir_batch_get(pool);
            uint32_t n = round == 3 ? 0 : 1 + (uint32_t)rand_r(&seed) % b->cap;
            for (uint32_t i = 0; i < n; i++) {
                weir_batch_push(b);
                float *row = weir_batch_row(b, i);
                for (int f = 0; f < 3; f++)
                    row[f] = rnd_value(&seed);
                for (uint32_t k = 0; k < 2; k++) {
                    const char *v = strvals[rand_r(&seed) % 6];
                    b->S[(size_t)i * b->nstr + k] =
                        (struct weir_str){.p = v, .len = v ? (uint32_t)strlen(v) : 0};
                }
                b->rec[i].ts_ms = rand_r(&seed) % 7 == 0
                                      ? -1
                                      : (int64_t)rand_r(&seed) * 1000 + (int64_t)rand_r(&seed);
            }
            const double *got = weir_expr_eval(&run, b);
            CHECK(got != NULL);
            for (uint32_t i = 0; got && i < n; i++) {
                const float *row = weir_batch_row(b, i);
                const struct weir_str *S = &b->S[(size_t)i * b->nstr];
                double want = evcases[c].ref(row[0], row[1], row[2], &S[0], &S[1], b->rec[i].ts_ms);
                int same = (isnan(want) && isnan(got[i])) || want == got[i];
                if (!same && wrong++ < 3)
                    fprintf(stderr, "  %s: a=%g b=%g c=%g ts=%lld: got %.17g, want %.17g\n",
                            evcases[c].text, row[0], row[1], row[2], (long long)b->rec[i].ts_ms,
                            got[i], want);
            }
            weir_batch_put(b);
        }
        CHECK(wrong == 0);
        weir_expr_run_free(&run);
        weir_expr_free(e);
    }
    weir_batch_pool_free(pool);
    h_pipe_free(&p);
}

/* The fraud handbook's flags: TX_DURING_WEEKEND = weekday >= 5 (pandas,
 * Monday 0), TX_DURING_NIGHT = hour <= 6, on known UTC dates. */
static void test_handbook_flags(void)
{
    struct h_pipe p;
    schema(&p);
    struct weir_expr *we = compile(&p, "day_of_week(event_time) >= 5");
    struct weir_expr *ni = compile(&p, "hour_of_day(event_time) <= 6");
    struct weir_expr *dw = compile(&p, "day_of_week(event_time)");
    CHECK(we && ni && dw);
    /* Checked against Python's datetime.fromtimestamp(ts / 1000, utc). */
    const struct {
        int64_t ts;
        int weekend, night, dow;
    } cases[] = {
        {1522540800000LL, 1, 1, 6}, /* 2018-04-01 00:00:00 Sunday */
        {1522627199000LL, 1, 0, 6}, /* 2018-04-01 23:59:59 Sunday */
        {1522627200000LL, 0, 1, 0}, /* 2018-04-02 00:00:00 Monday */
        {1522652399000LL, 0, 1, 0}, /* 2018-04-02 06:59:59 Monday: still night */
        {1522652400000LL, 0, 0, 0}, /* 2018-04-02 07:00:00 */
        {1522972800000LL, 0, 1, 4}, /* 2018-04-06 00:00:00 Friday */
        {1523059200000LL, 1, 1, 5}, /* 2018-04-07 00:00:00 Saturday */
        {0, 0, 1, 3},               /* 1970-01-01 Thursday */
        {-1, 0, 0, -1},             /* no event time: NaN, so neither flag */
    };
    struct weir_batch_pool *pool = h_pool(&p, 16);
    struct weir_batch *b = weir_batch_get(pool);
    size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        weir_batch_push(b);
        b->rec[i].ts_ms = cases[i].ts;
    }
    struct weir_expr_run rw, rn, rd;
    weir_expr_run_init(&rw, we);
    weir_expr_run_init(&rn, ni);
    weir_expr_run_init(&rd, dw);
    const double *w = weir_expr_eval(&rw, b), *nt = weir_expr_eval(&rn, b),
                 *d = weir_expr_eval(&rd, b);
    for (size_t i = 0; i < n; i++) {
        CHECK(w[i] == cases[i].weekend);
        CHECK(nt[i] == cases[i].night);
        CHECK(cases[i].dow < 0 ? isnan(d[i]) : d[i] == cases[i].dow);
    }
    weir_expr_run_free(&rw);
    weir_expr_run_free(&rn);
    weir_expr_run_free(&rd);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    weir_expr_free(we);
    weir_expr_free(ni);
    weir_expr_free(dw);
    h_pipe_free(&p);
}

/* One feature value a, one expression: its result. */
static double eval_one(const char *text, float a)
{
    struct h_pipe p;
    struct weir_expr *e = compiled(&p, text);
    if (!e) {
        h_pipe_free(&p);
        return NAN;
    }
    struct weir_batch_pool *pool = h_pool(&p, 4);
    struct weir_batch *b = weir_batch_get(pool);
    weir_batch_push(b);
    weir_batch_row(b, 0)[0] = a;
    struct weir_expr_run run;
    weir_expr_run_init(&run, e);
    const double *got = weir_expr_eval(&run, b);
    double v = got ? got[0] : NAN;
    weir_expr_run_free(&run);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    weir_expr_free(e);
    h_pipe_free(&p);
    return v;
}

/* A number written beside a feature is compared at the feature's (float)
 * precision: the 0.1 a record carried is 0.1. Literals are read whatever
 * their length (131 digits). Calls nest no deeper than parentheses (a
 * deeper one is an error, not a crash). */
static void test_literals(void)
{
    CHECK(eval_one("a == 0.1", 0.1f) == 1);
    CHECK(eval_one("a <= 0.1", 0.1f) == 1);
    CHECK(eval_one("0.1 >= a", 0.1f) == 1);
    CHECK(eval_one("a in [0.2, 0.1]", 0.1f) == 1);
    CHECK(eval_one("a == -0.1", -0.1f) == 1);
    CHECK(eval_one("a in [-57.16]", -57.16f) == 1);
    CHECK(eval_one("a > 0.1", 0.1f) == 0);
    CHECK(eval_one("a not in [0.1]", 0.1f) == 0);
    /* numbers a float cannot hold stay as written */
    CHECK(eval_one("a <= 1e300", INFINITY) == 0 && eval_one("a <= 1e300", 3e38f) == 1);
    CHECK(eval_one("a == 1e39", INFINITY) == 0 && eval_one("a >= -1e39", -INFINITY) == 0);
    CHECK(eval_one("a >= 1e-46", 0) == 0 && eval_one("a in [1e-46]", 0) == 0);
    /* FLT_MAX as weir writes it (3.4028235e38) is a little above it: the
     * float a record's 3.4028235e38 became */
    CHECK(eval_one("a == 3.4028235e38", FLT_MAX) == 1 &&
          eval_one("a >= 3.4028235e38", FLT_MAX) == 1);
    CHECK(eval_one("a == -3.4028235e38", -FLT_MAX) == 1);
    CHECK(eval_one("a == 3.4028236e38", FLT_MAX) == 0 && eval_one("a < 3.41e38", INFINITY) == 0);
    char big[200];
    snprintf(big, sizeof big, "a * 0 + 1%0130de-130", 0);
    CHECK(eval_one(big, 2) == 1);
    char deep[1200] = "";
    for (int i = 0; i < 201; i++)
        strcat(deep, "abs(");
    strcat(deep, "a");
    for (int i = 0; i < 201; i++)
        strcat(deep, ")");
    bad(deep, "column 801: expected at most 200 nested parentheses or operators, got more");
    bad("min(a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a, a)",
        "column 53: expected at most 16 arguments in min(), got more");
}

int main(void)
{
    test_parse();
    test_literals();
    test_eval();
    test_handbook_flags();
    return check_summary();
}
