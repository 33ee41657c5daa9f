/* Tests for engine/jscan: pointer compilation, field extraction (nested,
 * escaped, indexed, missing, duplicated), every rejection reason with its
 * offset, UTF-8 edge cases, limits (10 MB record, nesting 64/65) and reads
 * that never pass the record's end. Number parsing is in test_jnum.c, the
 * cross-check against jansson on generated and mutated records in
 * test_jscan_jansson.c. */
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

/* ---- compiling ----------------------------------------------------------- */

static void test_compile_errors(void)
{
    struct weir_jscan *s = (struct weir_jscan *)1;
    struct weir_error err = {0};
    const char *bad1[] = {"/ok", "amount"};
    CHECK(weir_jscan_compile(&s, bad1, 2, &err) == -EINVAL);
    CHECK(s == NULL);
    CHECK(err.code == -EINVAL);
    CHECK(strstr(err.msg, "#2 \"amount\"") != NULL);
    CHECK(strstr(err.msg, "start with '/'") != NULL);

    const char *bad2[] = {"/a~2b"};
    CHECK(weir_jscan_compile(&s, bad2, 1, &err) == -EINVAL);
    CHECK(strstr(err.msg, "'~' must be followed by '0'") != NULL);
    const char *bad3[] = {"/a~"};
    CHECK(weir_jscan_compile(&s, bad3, 1, &err) == -EINVAL);
    const char *bad4[] = {NULL};
    CHECK(weir_jscan_compile(&s, bad4, 1, &err) == -EINVAL);
    CHECK(strstr(err.msg, "NULL") != NULL);

    /* n == 0: validation only */
    CHECK(weir_jscan_compile(&s, NULL, 0, &err) == 0);
    CHECK(s && weir_jscan_count(s) == 0);
    struct weir_jscan_fail f;
    CHECK(weir_jscan_run(s, "{\"a\":[1,2]}", 11, NULL, &f) == 0);
    CHECK(weir_jscan_run(s, "{\"a\":[1,2]", 10, NULL, &f) == -EINVAL);
    weir_jscan_free(s);
    weir_jscan_free(NULL);
}

/* ---- extraction ---------------------------------------------------------- */

static void test_extract_basic(void)
{
    const char *ptrs[] = {
        "/amount",
        "/card/id",
        "/items/0/price",
        "/items/1/price",
        "/items/2/price",
        "/a~1b",
        "/m~0n",
        "",
        "/missing",
        "/card/missing",
        "/s",
        "/t",
        "/f",
        "/n",
        "/items",
        "/card",
        "/",
        "/0",
        "/items/-",
        "/amount",
    };
    enum { N = sizeof ptrs / sizeof *ptrs };
    struct weir_jscan *s = compile(ptrs, N);
    CHECK(s && weir_jscan_count(s) == N);
    const char *rec =
        " {\"amount\": 12.5e1, \"card\": {\"id\": \"c-\\\"42\\\"\", \"x\": [1, {}]},"
        "\n\"items\": [ {\"price\": 1}, {\"price\": -0.25, \"q\": 2} ],"
        "\"a/b\": \"slash\", \"m~n\": \"tilde\", \"s\": \"\", \"t\": true, \"f\": false,"
        "\"n\": null, \"\": \"empty key\", \"0\": \"key zero\"}\t\r\n";
    struct weir_jval v[N];
    struct weir_jscan_fail fail;
    CHECK(run(s, rec, v, &fail) == 0);
    CHECK(v[0].type == WEIR_JNUMBER);
    CHECK_STR(vtext(rec, &v[0]), "12.5e1");
    CHECK(v[1].type == WEIR_JSTRING && v[1].escaped == 1);
    CHECK_STR(vtext(rec, &v[1]), "c-\\\"42\\\"");
    CHECK(v[2].type == WEIR_JNUMBER);
    CHECK_STR(vtext(rec, &v[2]), "1");
    CHECK_STR(vtext(rec, &v[3]), "-0.25");
    CHECK(v[4].type == WEIR_JMISSING);
    CHECK(v[5].type == WEIR_JSTRING && v[5].escaped == 0);
    CHECK_STR(vtext(rec, &v[5]), "slash");
    CHECK_STR(vtext(rec, &v[6]), "tilde");
    CHECK(v[7].type == WEIR_JOBJECT);
    CHECK(v[7].off == 1 && rec[v[7].off] == '{' && rec[v[7].off + v[7].len - 1] == '}');
    CHECK(v[7].off + v[7].len == strlen(rec) - 3); /* then "\t\r\n" */
    CHECK(v[8].type == WEIR_JMISSING);
    CHECK(v[9].type == WEIR_JMISSING);
    CHECK(v[10].type == WEIR_JSTRING && v[10].len == 0);
    CHECK(v[11].type == WEIR_JTRUE);
    CHECK_STR(vtext(rec, &v[11]), "true");
    CHECK(v[12].type == WEIR_JFALSE);
    CHECK(v[13].type == WEIR_JNULL);
    CHECK(v[14].type == WEIR_JARRAY);
    CHECK_STR(vtext(rec, &v[14]), "[ {\"price\": 1}, {\"price\": -0.25, \"q\": 2} ]");
    CHECK(v[15].type == WEIR_JOBJECT);
    CHECK_STR(vtext(rec, &v[15]), "{\"id\": \"c-\\\"42\\\"\", \"x\": [1, {}]}");
    CHECK_STR(vtext(rec, &v[16]), "empty key");                 /* "/" is the key "" */
    CHECK_STR(vtext(rec, &v[17]), "key zero");                  /* "/0" on an object: key "0" */
    CHECK(v[18].type == WEIR_JMISSING);                         /* "-" is never an element */
    CHECK(v[19].type == WEIR_JNUMBER && v[19].off == v[0].off); /* repeated pointer */

    double d;
    CHECK(weir_jval_number(rec, &v[0], &d) == 0 && d == 125.0);
    CHECK(weir_jval_number(rec, &v[3], &d) == 0 && d == -0.25);
    weir_jscan_free(s);
}

static void test_extract_scalar_roots(void)
{
    const char *ptrs[] = {"", "/a"};
    struct weir_jscan *s = compile(ptrs, 2);
    struct weir_jval v[2];
    struct weir_jscan_fail f;
    CHECK(run(s, "  \"hi\\n\" ", v, &f) == 0);
    CHECK(v[0].type == WEIR_JSTRING && v[0].off == 3 && v[0].len == 4 && v[0].escaped);
    CHECK(v[1].type == WEIR_JMISSING);
    CHECK(run(s, "-1.5E-3", v, &f) == 0);
    CHECK(v[0].type == WEIR_JNUMBER && v[0].off == 0 && v[0].len == 7);
    CHECK(run(s, "null", v, &f) == 0 && v[0].type == WEIR_JNULL);
    CHECK(run(s, "[]", v, &f) == 0 && v[0].type == WEIR_JARRAY && v[0].len == 2);
    CHECK(run(s, "{}", v, &f) == 0 && v[0].type == WEIR_JOBJECT && v[0].len == 2);
    CHECK(v[1].type == WEIR_JMISSING);
    CHECK(run(s, "[{\"a\":1}]", v, &f) == 0 && v[1].type == WEIR_JMISSING);
    weir_jscan_free(s);
}

static void test_extract_escaped_keys(void)
{
    /* Record keys written with escapes still match the pointer's bytes. */
    const char *ptrs[] = {"/a", "/caf\xC3\xA9", "/q\"uote", "/emoji\xF0\x9F\x98\x80", "/ab"};
    struct weir_jscan *s = compile(ptrs, 5);
    struct weir_jval v[5];
    struct weir_jscan_fail f;
    const char *rec = "{\"\\u0061\":1,\"caf\\u00e9\":2,\"q\\\"uote\":3,"
                      "\"emoji\\ud83d\\ude00\":4,\"a\\u0062c\":5,\"\\u0061b\":6}";
    CHECK(run(s, rec, v, &f) == 0);
    CHECK_STR(vtext(rec, &v[0]), "1");
    CHECK_STR(vtext(rec, &v[1]), "2");
    CHECK_STR(vtext(rec, &v[2]), "3");
    CHECK_STR(vtext(rec, &v[3]), "4");
    CHECK_STR(vtext(rec, &v[4]), "6"); /* "a\u0062c" is "abc", not "ab" */
    /* An escaped key longer than any wanted key, and a prefix of one. */
    CHECK(run(s, "{\"\\u0061\\u0061\":1,\"c\\u0061\":2}", v, &f) == 0);
    CHECK(v[0].type == WEIR_JMISSING && v[1].type == WEIR_JMISSING);
    weir_jscan_free(s);
}

static void test_duplicate_keys(void)
{
    const char *ptrs[] = {"/a", "/a/b", "/a/0", "/x"};
    struct weir_jscan *s = compile(ptrs, 4);
    struct weir_jval v[4];
    struct weir_jscan_fail f;
    const char *r1 = "{\"a\":{\"b\":1},\"x\":1,\"a\":2,\"x\":\"last\"}";
    CHECK(run(s, r1, v, &f) == 0);
    CHECK_STR(vtext(r1, &v[0]), "2");
    CHECK(v[1].type == WEIR_JMISSING); /* the earlier /a/b is gone with its /a */
    CHECK_STR(vtext(r1, &v[3]), "last");
    const char *r2 = "{\"a\":5,\"a\":{\"b\":7}}";
    CHECK(run(s, r2, v, &f) == 0);
    CHECK(v[0].type == WEIR_JOBJECT);
    CHECK_STR(vtext(r2, &v[1]), "7");
    const char *r3 = "{\"a\":[10,11],\"a\":{\"c\":1}}";
    CHECK(run(s, r3, v, &f) == 0);
    CHECK(v[2].type == WEIR_JMISSING);
    const char *r4 = "{\"a\":{\"b\":1,\"b\":[2]}}";
    CHECK(run(s, r4, v, &f) == 0);
    CHECK(v[1].type == WEIR_JARRAY);
    CHECK_STR(vtext(r4, &v[1]), "[2]");
    weir_jscan_free(s);
}

static void test_arrays(void)
{
    const char *ptrs[] = {"/0", "/1/1", "/1/0/0", "/2", "/10", "/01", "/3/k"};
    struct weir_jscan *s = compile(ptrs, 7);
    struct weir_jval v[7];
    struct weir_jscan_fail f;
    const char *rec =
        "[ \"zero\" , [ [ 100 ] , \"one-one\" ] , {} , {\"k\":[]} , 4,5,6,7,8,9,\"ten\" ]";
    CHECK(run(s, rec, v, &f) == 0);
    CHECK_STR(vtext(rec, &v[0]), "zero");
    CHECK_STR(vtext(rec, &v[1]), "one-one");
    CHECK_STR(vtext(rec, &v[2]), "100");
    CHECK(v[3].type == WEIR_JOBJECT && v[3].len == 2);
    CHECK_STR(vtext(rec, &v[4]), "ten");
    CHECK(v[5].type == WEIR_JMISSING); /* "01" is not an index */
    CHECK(v[6].type == WEIR_JARRAY);
    weir_jscan_free(s);
}

/* ---- rejections ---------------------------------------------------------- */

struct bad_case {
    const char *text;
    size_t len; /* 0: strlen */
    size_t offset;
    const char *reason;
};

static void test_malformed(void)
{
    static const struct bad_case cases[] = {
        {"", 0, 0, "empty record"},
        {"  \n\t\r ", 0, 6, "empty record"},
        {"{\"a\":1,}", 0, 6, "trailing comma in object"},
        {"[1,2,]", 0, 4, "trailing comma in array"},
        {"[1, ]", 0, 2, "trailing comma in array"},
        {"[1 2]", 0, 3, "expected ',' or ']' in array"},
        {"{\"a\":1 \"b\":2}", 0, 7, "expected ',' or '}' in object"},
        {"{\"a\" 1}", 0, 5, "expected ':' after object key"},
        {"{\"a\"}", 0, 4, "expected ':' after object key"},
        {"{a:1}", 0, 1, "expected string key in object"},
        {"{,}", 0, 1, "expected string key in object"},
        {"{\"a\":1,2}", 0, 7, "expected string key in object"},
        {"[,1]", 0, 1, "expected a JSON value"},
        {"{\"a\":}", 0, 5, "expected a JSON value"},
        {"01", 0, 0, "leading zero in number"},
        {"[-01]", 0, 2, "leading zero in number"},
        {"-", 0, 1, "expected digit after '-'"},
        {"[-a]", 0, 2, "expected digit after '-'"},
        {"1.", 0, 2, "expected digit after decimal point"},
        {"1.e5", 0, 2, "expected digit after decimal point"},
        {"1e", 0, 2, "expected digit in exponent"},
        {"[1e+]", 0, 4, "expected digit in exponent"},
        {".5", 0, 0, "expected a JSON value"},
        {"+1", 0, 0, "expected a JSON value"},
        {"NaN", 0, 0, "expected a JSON value"},
        {"\"abc", 0, 0, "unterminated string"},
        {"{\"a\":\"abc", 0, 5, "unterminated string"},
        {"\"abcdefghijklmnopqrstuvwxyz0123456789", 0, 0, "unterminated string"},
        {"\"ab\\", 0, 0, "unterminated string"},
        {"\"\\u12", 0, 0, "unterminated string"},
        {"{\"a\":\"\\uD83D", 0, 5, "unterminated string"}, /* cut inside a pair */
        {"{\"a\":\"\\uD83D\\uD", 0, 5, "unterminated string"},
        {"{\"a\":1", 0, 0, "unterminated object"},
        {"{", 0, 0, "unterminated object"},
        {"{\"a\":", 0, 0, "unterminated object"},
        {"{\"a\"", 0, 0, "unterminated object"},
        {"{\"a\":1,", 0, 0, "unterminated object"},
        {"[1,[2,3]", 0, 0, "unterminated array"},
        {"[1,[2,3", 0, 3, "unterminated array"},
        {"[", 0, 0, "unterminated array"},
        {"\"\\x\"", 0, 1, "invalid escape in string"},
        {"\"\\U0041\"", 0, 1, "invalid escape in string"},
        {"\"\\u12G4\"", 0, 1, "invalid \\u escape (want 4 hex digits)"},
        {"\"\\u12\"", 0, 1, "invalid \\u escape (want 4 hex digits)"},
        {"\"\\ud800\"", 0, 1, "lone surrogate in \\u escape"},
        {"\"x\\udc00\"", 0, 2, "lone surrogate in \\u escape"},
        {"\"\\ud800\\u0041\"", 0, 1, "lone surrogate in \\u escape"},
        {"\"\\ud800\\ud800\"", 0, 1, "lone surrogate in \\u escape"},
        {"\"a\x01"
         "b\"",
         0, 2, "control character in string (escape it)"},
        {"\"a\tb\"", 0, 2, "control character in string (escape it)"},
        {"\"a\nb\"", 0, 2, "control character in string (escape it)"},
        {"\"a\0b\"", 5, 2, "control character in string (escape it)"},
        {"{\"k\x1f\":1}", 0, 3, "control character in string (escape it)"},
        {"\"\x80\"", 0, 1, "invalid UTF-8"},             /* stray continuation */
        {"\"\xC0\xAF\"", 0, 1, "invalid UTF-8"},         /* overlong '/' */
        {"\"\xC1\xBF\"", 0, 1, "invalid UTF-8"},         /* overlong */
        {"\"\xE0\x80\xAF\"", 0, 1, "invalid UTF-8"},     /* overlong, 3 bytes */
        {"\"\xF0\x80\x80\xAF\"", 0, 1, "invalid UTF-8"}, /* overlong, 4 bytes */
        {"\"\xED\xA0\x80\"", 0, 1, "invalid UTF-8"},     /* U+D800 encoded */
        {"\"ok \xED\xBF\xBF\"", 0, 4, "invalid UTF-8"},  /* U+DFFF encoded */
        {"\"\xF4\x90\x80\x80\"", 0, 1, "invalid UTF-8"}, /* above U+10FFFF */
        {"\"\xF5\x80\x80\x80\"", 0, 1, "invalid UTF-8"},
        {"\"\xE2\x82\"", 0, 1, "invalid UTF-8"}, /* truncated euro sign */
        {"\"\xE2\x82", 0, 1, "invalid UTF-8"},   /* truncated at the end */
        {"\"\xF0\x9F\x98", 0, 1, "invalid UTF-8"},
        {"\"abcdefghijklmnopqrstuvwxyz\xFF\"", 0, 27, "invalid UTF-8"},
        {"\xFF", 0, 0, "invalid UTF-8"}, /* outside strings too */
        {"{\"a\":1}\xC3", 0, 7, "invalid UTF-8"},
        {"[1,\xC3\xA9]", 0, 3, "expected a JSON value"},   /* valid UTF-8, not JSON */
        {"\xEF\xBB\xBF{}", 0, 0, "expected a JSON value"}, /* byte order mark */
        {"{\"a\":1}x", 0, 7, "trailing characters after JSON value"},
        {"{} {}", 0, 3, "trailing characters after JSON value"},
        {"1 2", 0, 2, "trailing characters after JSON value"},
        {"{\"a\":1}\0", 8, 7, "trailing characters after JSON value"},
        {"\"a\"\"b\"", 0, 3, "trailing characters after JSON value"},
        {"nul", 0, 0, "invalid literal (expected true, false or null)"},
        {"[tru]", 0, 1, "invalid literal (expected true, false or null)"},
        {"[truex]", 0, 5, "expected ',' or ']' in array"},
        {"{\"a\":False}", 0, 5, "expected a JSON value"},
        {"[1,2}", 0, 4, "expected ',' or ']' in array"},
        {"{\"a\":1]", 0, 6, "expected ',' or '}' in object"},
        {"\v1", 0, 0, "expected a JSON value"}, /* \v is not JSON space */
    };
    struct weir_jscan *s = compile((const char *[]){"", "/a"}, 2);
    struct weir_jval v[2];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct bad_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        struct weir_jscan_fail f = {999, NULL};
        int rc = weir_jscan_run(s, c->text, len, v, &f);
        CHECK(rc == -EINVAL);
        CHECK_STR(f.reason, c->reason);
        if (f.offset != c->offset)
            fprintf(stderr, "case %zu: offset %zu, want %zu\n", i, f.offset, c->offset);
        CHECK(f.offset == c->offset);
    }
    /* fail may be NULL */
    CHECK(weir_jscan_run(s, "[", 1, v, NULL) == -EINVAL);
    weir_jscan_free(s);
}

static void test_valid_edge_cases(void)
{
    static const char *good[] = {
        "0",
        "-0",
        "0.0",
        "-0.0e-0",
        "1E+2",
        "1e-2",
        "123456789012345678901234567890",
        "1e400",
        "-1e-400",
        "\"\"",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u0000\"",
        "\"\\uD83D\\uDE00\"",
        "\"\\uffff\"",
        "\"\x7F\"",
        "\"\xC2\x80\"",
        "\"\xDF\xBF\"",
        "\"\xE0\xA0\x80\"",
        "\"\xED\x9F\xBF\"",
        "\"\xEE\x80\x80\"",
        "\"\xEF\xBF\xBF\"",
        "\"\xF0\x90\x80\x80\"",
        "\"\xF4\x8F\xBF\xBF\"",
        "[]",
        "{}",
        "[[]]",
        "[{}]",
        " \t\r\n[ \t\r\n1 \t\r\n, \t\r\n{ \"a\" : null } ] \t\r\n",
        "true",
        "false",
        "null",
        "{\"a\":{\"a\":{\"a\":[[[]]]}}}",
    };
    struct weir_jscan *s = compile((const char *[]){""}, 1);
    struct weir_jval v[1];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct weir_jscan_fail f = {0, NULL};
        int rc = run(s, good[i], v, &f);
        if (rc)
            fprintf(stderr, "valid case %zu rejected: %s at %zu\n", i, f.reason, f.offset);
        CHECK(rc == 0);
        CHECK(v[0].type != WEIR_JMISSING);
    }
    weir_jscan_free(s);
}

/* A string with one special byte at each position, around the 8/16-byte
 * steps of the fast string loop. */
static void test_string_positions(void)
{
    struct weir_jscan *s = compile((const char *[]){""}, 1);
    struct weir_jval v[1];
    char rec[128];
    for (int len = 0; len <= 40; len++) {
        for (int pos = 0; pos < len; pos++) {
            for (int kind = 0; kind < 5; kind++) {
                int n = 0;
                rec[n++] = '"';
                for (int i = 0; i < len; i++)
                    rec[n++] = 'a' + (char)(i % 26);
                rec[n++] = '"';
                const char *why = NULL;
                int extra = 0;
                switch (kind) {
                case 0:
                    rec[1 + pos] = 0x01;
                    why = "control character in string (escape it)";
                    break;
                case 1:
                    rec[1 + pos] = (char)0xFF;
                    why = "invalid UTF-8";
                    break;
                case 2:
                    rec[1 + pos] = '"';
                    why = "trailing characters after JSON value";
                    break;
                case 3: /* a valid two-byte character: length grows by one */
                    memmove(rec + 2 + pos + 1, rec + 2 + pos, (size_t)(n - 2 - pos));
                    rec[1 + pos] = (char)0xC3;
                    rec[2 + pos] = (char)0xA9;
                    extra = 1;
                    break;
                case 4: /* an escape: length grows by one */
                    memmove(rec + 2 + pos + 1, rec + 2 + pos, (size_t)(n - 2 - pos));
                    rec[1 + pos] = '\\';
                    rec[2 + pos] = 'n';
                    extra = 1;
                    break;
                }
                n += extra;
                struct weir_jscan_fail f = {0, NULL};
                int rc = weir_jscan_run(s, rec, (size_t)n, v, &f);
                if (!why) {
                    CHECK(rc == 0 && v[0].len == (uint32_t)(len + extra) &&
                          v[0].escaped == (kind == 4));
                } else {
                    CHECK(rc == -EINVAL);
                    CHECK_STR(f.reason, why);
                    CHECK(f.offset == (size_t)(kind == 2 ? 2 + pos : 1 + pos));
                }
                /* and the same record cut short: rejected (unless that cut
                 * leaves a complete string: "abc"" -> "abc") */
                rc = weir_jscan_run(s, rec, (size_t)(n - 1), v, &f);
                CHECK(rc == (kind == 2 && pos == len - 1 ? 0 : -EINVAL));
            }
        }
    }
    weir_jscan_free(s);
}

/* Records that end at a page boundary followed by an inaccessible page: a
 * read past the end would crash the test. */
static void test_no_overread(void)
{
    long page = sysconf(_SC_PAGESIZE);
    char *mem =
        mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mem != MAP_FAILED);
    if (mem == MAP_FAILED)
        return;
    CHECK(mprotect(mem + page, (size_t)page, PROT_NONE) == 0);
    static const char *recs[] = {
        "\"abcdefghijklmnopqrstuvwxyz0123456789",
        "\"abcdefghijklmnopqrstuvwxyz0123456789\"",
        "{\"key\":\"value value value value value",
        "[1,2,3",
        "123",
        "1.5e",
        "tru",
        "\"\\u00",
        "\"\\ud83d\\ude0",
        "\"\xE2\x82",
        "{\"a\":\"b\"}",
        "",
        "   ",
    };
    struct weir_jscan *s = compile((const char *[]){"", "/key", "/a"}, 3);
    struct weir_jval v[3];
    for (size_t i = 0; i < sizeof recs / sizeof *recs; i++) {
        for (size_t cut = 0; cut <= strlen(recs[i]); cut++) {
            char *p = mem + page - cut;
            memcpy(p, recs[i], cut);
            struct weir_jscan_fail f;
            int rc = weir_jscan_run(s, p, cut, v, &f);
            CHECK(rc == 0 || rc == -EINVAL);
        }
    }
    weir_jscan_free(s);
    munmap(mem, (size_t)page * 2);
}

static void test_depth(void)
{
    struct weir_jscan *s;
    char ptr[200];
    /* 63 "/0" segments reach the innermost of 64 nested arrays. */
    ptr[0] = '\0';
    for (int i = 0; i < 63; i++)
        strcat(ptr, "/0");
    s = compile((const char *[]){ptr}, 1);
    char rec[300];
    struct weir_jval v[1];
    struct weir_jscan_fail f;
    for (int d = 63; d <= 66; d++) {
        int n = 0;
        for (int i = 0; i < d; i++)
            rec[n++] = '[';
        for (int i = 0; i < d; i++)
            rec[n++] = ']';
        int rc = weir_jscan_run(s, rec, (size_t)n, v, &f);
        if (d <= 64) {
            CHECK(rc == 0);
            CHECK(v[0].type == (d == 64 ? WEIR_JARRAY : WEIR_JMISSING));
        } else {
            CHECK(rc == -EINVAL);
            CHECK_STR(f.reason, "nesting deeper than 64");
            CHECK(f.offset == 64);
        }
    }
    /* objects count too */
    char obj[600];
    int n = 0;
    for (int i = 0; i < 65; i++)
        n += sprintf(obj + n, "{\"k\":");
    obj[n++] = '1';
    for (int i = 0; i < 65; i++)
        obj[n++] = '}';
    CHECK(weir_jscan_run(s, obj, (size_t)n, v, &f) == -EINVAL);
    CHECK_STR(f.reason, "nesting deeper than 64");
    CHECK(f.offset == 64 * 5);
    /* jansson accepts deeper nesting (its limit is 2048): a documented difference */
    json_error_t jerr;
    json_t *j = json_loadb(rec, 2 * 66, 0, &jerr);
    CHECK(j != NULL);
    json_decref(j);
    weir_jscan_free(s);
}

static void test_big_record(void)
{
    size_t cap = 11u << 20, n = 0;
    char *rec = malloc(cap);
    CHECK(rec != NULL);
    if (!rec)
        return;
    n += (size_t)sprintf(rec, "{\"pad\":[");
    int items = 0;
    while (n < (10u << 20)) {
        n += (size_t)sprintf(rec + n,
                             "{\"k\":\"some text caf\xC3\xA9 \\u00e9 \\\"q\\\" %d\",\"n\":-12.5e3,"
                             "\"t\":true,\"z\":[null,false]},",
                             items++);
    }
    n += (size_t)sprintf(rec + n,
                         "{}],\"deep\":{\"x\":[1,2,{\"target\":\"found\"}]},\"last\":12345}");
    const char *ptrs[] = {"/last", "/deep/x/2/target", "/pad/100000/n", "/pad/100000/k"};
    struct weir_jscan *s = compile(ptrs, 4);
    struct weir_jval v[4];
    struct weir_jscan_fail f;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = weir_jscan_run(s, rec, n, v, &f);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("10 MB record (%d items): %.1f ms, %.0f MB/s\n", items, secs * 1e3,
           (double)n / secs / 1e6);
    CHECK(rc == 0);
    CHECK_STR(vtext(rec, &v[0]), "12345");
    CHECK_STR(vtext(rec, &v[1]), "found");
    CHECK_STR(vtext(rec, &v[2]), "-12.5e3");
    CHECK_STR(vtext(rec, &v[3]), "some text caf\xC3\xA9 \\u00e9 \\\"q\\\" 100000");
    /* one bad byte near the end is found */
    rec[n - 30] = '\x01';
    CHECK(weir_jscan_run(s, rec, n, v, &f) == -EINVAL);
    weir_jscan_free(s);
    free(rec);
}

/* ---- strings and UTF-8 --------------------------------------------------- */

static void test_unescape(void)
{
    char out[64];
    const char *src = "a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\\u0041\\u00e9\\u20AC\\ud83d\\ude00z";
    size_t n = weir_jstr_unescape(src, (uint32_t)strlen(src), out);
    const char want[] = "a\"b\\c/d\be\ff\ng\rh\ti"
                        "A"
                        "\xC3\xA9"
                        "\xE2\x82\xAC"
                        "\xF0\x9F\x98\x80"
                        "z";
    CHECK(n == sizeof want - 1);
    CHECK(memcmp(out, want, sizeof want - 1) == 0);
    CHECK(n <= strlen(src));
    /* lone surrogates (never from a validated record) become U+FFFD */
    n = weir_jstr_unescape("\\ud800x", 7, out);
    CHECK(n == 4 && memcmp(out, "\xEF\xBF\xBDx", 4) == 0);
    n = weir_jstr_unescape("\\udc00", 6, out);
    CHECK(n == 3 && memcmp(out, "\xEF\xBF\xBD", 3) == 0);
    /* a malformed escape is copied through, without overrunning */
    n = weir_jstr_unescape("ab\\", 3, out);
    CHECK(n == 3 && memcmp(out, "ab\\", 3) == 0);
    n = weir_jstr_unescape("\\u12", 4, out);
    CHECK(n == 4 && memcmp(out, "\\u12", 4) == 0);
    n = weir_jstr_unescape("plain", 5, out);
    CHECK(n == 5 && memcmp(out, "plain", 5) == 0);
    CHECK(weir_jstr_unescape("", 0, out) == 0);
    CHECK(weir_jstr_unescape("\\u0000", 6, out) == 1 && out[0] == '\0');
}

static void test_utf8_seqlen(void)
{
    CHECK(weir_utf8_seqlen("a", 1) == 1);
    CHECK(weir_utf8_seqlen("\xC3\xA9", 2) == 2);
    CHECK(weir_utf8_seqlen("\xC3\xA9", 1) == 0);
    CHECK(weir_utf8_seqlen("\xE2\x82\xAC", 3) == 3);
    CHECK(weir_utf8_seqlen("\xF0\x9F\x98\x80", 4) == 4);
    CHECK(weir_utf8_seqlen("\xF0\x9F\x98\x80", 3) == 0);
    CHECK(weir_utf8_seqlen("\x80", 1) == 0);
    CHECK(weir_utf8_seqlen("\xC0\x80", 2) == 0);
    CHECK(weir_utf8_seqlen("\xE0\x9F\xBF", 3) == 0);
    CHECK(weir_utf8_seqlen("\xED\xA0\x80", 3) == 0);
    CHECK(weir_utf8_seqlen("\xF0\x8F\xBF\xBF", 4) == 0);
    CHECK(weir_utf8_seqlen("\xF4\x90\x80\x80", 4) == 0);
    CHECK(weir_utf8_seqlen("\xF8\x80\x80\x80", 4) == 0);
    /* Exhaustive over 1..3-byte sequences against a decoder. */
    unsigned bad = 0;
    for (uint32_t a = 0x80; a < 0x100; a++) {
        for (uint32_t b = 0; b < 0x100; b++) {
            for (uint32_t c = 0x7F; c < 0xC1; c++) {
                unsigned char s[4] = {(unsigned char)a, (unsigned char)b, (unsigned char)c, 0x80};
                size_t want = 0;
                if (a >= 0xC2 && a < 0xE0 && (b & 0xC0) == 0x80) {
                    want = 2;
                } else if (a >= 0xE0 && a < 0xF0 && (b & 0xC0) == 0x80 && (c & 0xC0) == 0x80) {
                    uint32_t cp = (a & 0x0F) << 12 | (b & 0x3F) << 6 | (c & 0x3F);
                    want = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF) ? 3 : 0;
                } else if (a >= 0xF0 && a < 0xF8 && (b & 0xC0) == 0x80 && (c & 0xC0) == 0x80) {
                    uint32_t cp = (a & 0x07) << 18 | (b & 0x3F) << 12 | (c & 0x3F) << 6;
                    want = cp >= 0x10000 && cp <= 0x10FFFF ? 4 : 0;
                }
                if (weir_utf8_seqlen((const char *)s, 4) != want)
                    bad++;
            }
        }
    }
    CHECK(bad == 0);
}

int main(void)
{
    test_compile_errors();
    test_extract_basic();
    test_extract_scalar_roots();
    test_extract_escaped_keys();
    test_duplicate_keys();
    test_arrays();
    test_malformed();
    test_valid_edge_cases();
    test_string_positions();
    test_no_overread();
    test_depth();
    test_big_record();
    test_unescape();
    test_utf8_seqlen();
    return check_summary();
}
