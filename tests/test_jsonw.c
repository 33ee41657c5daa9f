/* Tests for engine/buf and engine/jsonw: buffer growth, string escaping
 * (every control byte, UTF-8 passed through, each kind of invalid UTF-8
 * replaced, chunk boundaries) checked by parsing the output back with both
 * weir_jscan and jansson; shortest float formatting round-tripped through
 * strtof on 150k floats and compared for length with a %.Ng search;
 * integers; base64 against the RFC 4648 vectors and a decoder. */
#include "engine/buf.h"
#include "engine/jscan.h"
#include "engine/jsonw.h"
#include "tests/check.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPLITMIX_SEED 0x243F6A8885A308D3ull
#include "tests/splitmix.h"

static void test_buf(void)
{
    struct weir_buf b = {0};
    CHECK(b.len == 0 && b.cap == 0 && b.data == NULL);
    CHECK(weir_buf_append(&b, "", 0) == 0);
    CHECK(weir_buf_append(&b, "abc", 3) == 0);
    CHECK(b.len == 3 && b.cap >= 3);
    for (int i = 0; i < 1000; i++)
        CHECK(weir_buf_append(&b, "0123456789", 10) == 0);
    CHECK(b.len == 10003);
    CHECK(memcmp(b.data, "abc0123456789", 13) == 0);
    CHECK(memcmp(b.data + 9993, "0123456789", 10) == 0);
    size_t cap = b.cap;
    CHECK(weir_buf_reserve(&b, cap - b.len) == 0 && b.cap == cap); /* fits: no realloc */
    CHECK(weir_buf_reserve(&b, cap - b.len + 1) == 0 && b.cap > cap);
    CHECK(weir_buf_reserve(&b, SIZE_MAX) == -ENOMEM);
    CHECK(b.len == 10003);
    CHECK_STR(weir_buf_cstr(&b) + 9993, "0123456789");
    CHECK(b.len == 10003);
    weir_buf_reset(&b);
    CHECK(b.len == 0 && b.cap > 0);
    weir_buf_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    weir_buf_free(&b);
    weir_buf_free(NULL);
}

/* Appends of every length up to past the inlined copies' limit (64), each
 * byte distinct: an overlapping copy that missed or moved a byte shows. */
static void test_buf_lengths(void)
{
    char src[100], want[100 * 101 / 2];
    for (int i = 0; i < 100; i++)
        src[i] = (char)(' ' + i % 90);
    struct weir_buf b = {0};
    size_t at = 0;
    for (size_t n = 0; n < 100; n++) {
        CHECK(weir_buf_append(&b, src + n % 7, n % 94) == 0);
        memcpy(want + at, src + n % 7, n % 94);
        at += n % 94;
    }
    CHECK(b.len == at && memcmp(b.data, want, at) == 0);
    weir_buf_free(&b);
    /* weir_equal_short: equal keys, and keys that differ in one byte anywhere */
    char x[40], y[40];
    int wrong = 0;
    for (size_t n = 0; n <= sizeof x; n++) {
        memcpy(x, src, n), memcpy(y, src, n);
        wrong += !weir_equal_short(x, y, n);
        for (size_t i = 0; i < n; i++) {
            y[i] ^= 0x10;
            wrong += weir_equal_short(x, y, n);
            y[i] ^= 0x10;
        }
    }
    CHECK(wrong == 0);
}

/* The output of one writer call on a fresh buffer, NUL-terminated. */
static struct weir_buf out_buf;

static const char *str_out(const char *s, size_t len)
{
    weir_buf_reset(&out_buf);
    CHECK(weir_jsonw_string(&out_buf, s, len) == 0);
    return weir_buf_cstr(&out_buf);
}

static void test_string_cases(void)
{
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain", 0, "\"plain\""},
        {"a\"b\\c/d", 0, "\"a\\\"b\\\\c/d\""},
        {"\b\f\n\r\t", 0, "\"\\b\\f\\n\\r\\t\""},
        {"\0\x01\x1f", 3, "\"\\u0000\\u0001\\u001f\""},
        {"\x7f", 0, "\"\x7f\""},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 0,
         "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\""},
        {"\x80", 0, "\"\xEF\xBF\xBD\""},                 /* stray continuation */
        {"\xC0\xAF", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* overlong: 2 bytes, 2 U+FFFD */
        {"\xED\xA0\x80", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""}, /* encoded surrogate */
        {"a\xE2\x82", 0, "\"a\xEF\xBF\xBD\xEF\xBF\xBD\""},               /* cut short at the end */
        {"\xE2\x82z", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBDz\""},               /* cut short inside */
        {"\xF4\x90\x80\x80", 0, "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\""},
        {"\xFF"
         "abcdefghijklmnopqrstuvwxyz\"",
         0,
         "\"\xEF\xBF\xBD"
         "abcdefghijklmnopqrstuvwxyz\\\"\""},
        {"0123456789abcdef0123456789abcdef\n", 0, "\"0123456789abcdef0123456789abcdef\\n\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
        CHECK_STR(str_out(cases[i].in, len), cases[i].want);
    }
    /* Every control byte: short escapes where JSON has them, \u00XX else. */
    for (int c = 0; c < 0x20; c++) {
        char in[1] = {(char)c}, want[16];
        const char *shortform = c == '\b'   ? "\\b"
                                : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                            : NULL;
        if (shortform)
            snprintf(want, sizeof want, "\"%s\"", shortform);
        else
            snprintf(want, sizeof want, "\"\\u%04x\"", c);
        CHECK_STR(str_out(in, 1), want);
    }
    /* Appends after what is there. */
    struct weir_buf b = {0};
    weir_buf_append(&b, "[", 1);
    CHECK(weir_jsonw_string(&b, "x", 1) == 0);
    weir_buf_append(&b, ",", 1);
    CHECK(weir_jsonw_key(&b, "na\"me") == 0);
    CHECK_STR(weir_buf_cstr(&b), "[\"x\",\"na\\\"me\":");
    weir_buf_free(&b);
}

/* An independent reference for what the writer should keep: the input with
 * each byte that does not begin a valid UTF-8 sequence replaced by U+FFFD
 * (decoded by value ranges, not with weir_utf8_seqlen). */
static size_t reference_clean(const unsigned char *s, size_t n, unsigned char *o)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp = 0;
        size_t len = 0;
        if (s[i] < 0x80) {
            cp = s[i];
            len = 1;
        } else if (s[i] >= 0xC0 && s[i] < 0xE0) {
            len = 2;
            cp = s[i] & 0x1F;
        } else if (s[i] >= 0xE0 && s[i] < 0xF0) {
            len = 3;
            cp = s[i] & 0x0F;
        } else if (s[i] >= 0xF0 && s[i] < 0xF8) {
            len = 4;
            cp = s[i] & 0x07;
        }
        int ok = len > 0 && i + len <= n;
        for (size_t j = 1; ok && j < len; j++) {
            ok = (s[i + j] & 0xC0) == 0x80;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && cp >= min_cp[len] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF);
        if (ok) {
            memcpy(o + k, s + i, len);
            k += len;
            i += len;
        } else {
            memcpy(o + k, "\xEF\xBF\xBD", 3);
            k += 3;
            i++;
        }
    }
    return k;
}

static void random_bytes(unsigned char *s, size_t n)
{
    static const char *pieces[] = {
        "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\"",       "\\",
        "\n",       "\x01",         "\xED\xA0\x80",     "\xC0\xAF", "\xF4\x90\x80\x80"};
    size_t i = 0;
    while (i < n) {
        unsigned r = rndn(10);
        if (r < 6) {
            s[i++] = (unsigned char)(' ' + rndn(95));
        } else if (r < 9) {
            const char *p = pieces[rndn(sizeof pieces / sizeof *pieces)];
            for (; *p && i < n; p++)
                s[i++] = (unsigned char)*p;
        } else {
            s[i++] = (unsigned char)rndn(256);
        }
    }
}

/* Whatever the bytes, the output is one valid JSON string whose decoded
 * content is the cleaned input, by weir_jscan's reading and by jansson's. */
static void test_string_roundtrip(void)
{
    struct weir_jscan *s = NULL;
    const char *root[] = {""};
    CHECK(weir_jscan_compile(&s, root, 1, NULL) == 0);
    size_t maxn = 10000;
    unsigned char *in = malloc(maxn), *want = malloc(maxn * 3);
    char *dec = malloc(maxn * 6 + 2);
    int bad_scan = 0, bad_content = 0, bad_jansson = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = iter < 2900 ? rndn(300) : 4000 + rndn(6000); /* the last cross 4 KiB chunks */
        random_bytes(in, n);
        size_t wn = reference_clean(in, n, want);
        const char *out = str_out((const char *)in, n);
        size_t olen = out_buf.len;
        struct weir_jval v[1];
        struct weir_jscan_fail f;
        if (weir_jscan_run(s, out, olen, v, &f) != 0 || v[0].type != WEIR_JSTRING) {
            bad_scan++;
            continue;
        }
        size_t dn = weir_jstr_unescape(out + v[0].off, v[0].len, dec);
        bad_content += dn != wn || memcmp(dec, want, wn) != 0;
        json_error_t jerr;
        json_t *j = json_loadb(out, olen, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        bad_jansson +=
            !j || json_string_length(j) != wn || memcmp(json_string_value(j), want, wn) != 0;
        json_decref(j);
    }
    CHECK(bad_scan == 0);
    CHECK(bad_content == 0);
    CHECK(bad_jansson == 0);

    /* A multi-byte character straddling the 4096-byte chunk boundary. */
    for (int shift = 0; shift < 4; shift++) {
        size_t n = 0;
        memset(in, 'a', 4094 + (size_t)shift);
        n = 4094 + (size_t)shift;
        memcpy(in + n, "\xF0\x9F\x98\x80\x01\xC3\xA9", 7);
        n += 7;
        const char *out = str_out((const char *)in, n);
        CHECK(out_buf.len == n + 2 + 5); /* quotes, \u0001 is 6 bytes for 1 */
        CHECK(memcmp(out + 1 + 4094 + shift, "\xF0\x9F\x98\x80\\u0001\xC3\xA9\"", 14) == 0);
    }
    free(in);
    free(want);
    free(dec);
    weir_jscan_free(s);
}

/* ---- numbers ------------------------------------------------------------- */

static const char *dbl_out(double v)
{
    weir_buf_reset(&out_buf);
    CHECK(weir_jsonw_double(&out_buf, v) == 0);
    return weir_buf_cstr(&out_buf);
}

static void test_double_cases(void)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {0.1, "0.1"},
        {42, "42"},
        {-2.5, "-2.5"},
        {100, "100"},
        {1.5e-7, "1.5e-7"},
        {3e20, "3e20"},
        {1e15, "1e15"},
        {1e14, "100000000000000"},
        {0.00001, "0.00001"},
        {1e-6, "1e-6"},
        {1.0 / 3, "0.33333334"},
        {123456789, "123456790"},
        {16777216, "16777216"},
        {-1e31, "-1e31"},            /* beyond int32: the whole-number path must not */
        {-5.17914e16, "-5.17914e16"}, /* convert these (fuzz_jsonw, fuzz_extract found it) */
        {3e9, "3000000000"},
        {0.3, "0.3"},
        {42.137, "42.137"},
        {12345.678, "12345.678"},
        {FLT_MAX, "3.4028235e38"},
        {FLT_MIN, "1.1754944e-38"},
        {FLT_TRUE_MIN, "1e-45"},
        {-1e-40, "-1e-40"},
        {0.999999940395355224609375, "0.99999994"},
        {1e300, "1e+300"},
        {-1e-50, "-1e-50"}, /* beyond float: 9 digits of the double */
        /* a point after every digit of 8, leading zeros, exponents (digits
         * written 8 at a time); small whole numbers (written as a pair) */
        {1.2345678, "1.2345678"},
        {12.345678, "12.345678"},
        {123.45678, "123.45678"},
        {1234.5678, "1234.5678"},
        {123456.78, "123456.78"},
        {1234567.8, "1234567.8"},
        {0.12345678, "0.12345678"},
        {0.0012345, "0.0012345"},
        {1.25e-5, "0.0000125"},
        {2.5e20, "2.5e20"},
        {1.2345678e-20, "1.2345678e-20"},
        {45.603333, "45.603333"},
        {3.1e-6, "3.1e-6"},
        {7, "7"},
        {-7, "-7"},
        {70, "70"},
        {99, "99"},
        {-99, "-99"},
        {1e7, "10000000"},
        {12345678, "12345678"},
        {NAN, "null"},
        {INFINITY, "null"},
        {-INFINITY, "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        CHECK_STR(dbl_out(cases[i].v), cases[i].want);
    struct weir_buf b = {0};
    weir_buf_append(&b, "[", 1);
    weir_jsonw_double(&b, 1.25);
    weir_buf_append(&b, ",", 1);
    weir_jsonw_double(&b, NAN);
    weir_buf_append(&b, "]", 1);
    CHECK_STR(weir_buf_cstr(&b), "[1.25,null]");
    weir_buf_free(&b);
}

static int sig_digits(const char *s)
{
    int n = 0, lead = 1, zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        if (*s == '0') {
            zeros++;
        } else {
            n += zeros + 1;
            zeros = 0;
        }
    }
    return n ? n : 1;
}

/* The fewest significant digits with which %.Ng reads back as f. */
static int shortest_reference(float f)
{
    char tmp[64];
    for (int p = 1; p <= 9; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, (double)f);
        if (strtof(tmp, NULL) == f)
            return p;
    }
    return 99;
}

static void test_double_roundtrip(void)
{
    struct weir_jscan *s = NULL;
    const char *root[] = {""};
    CHECK(weir_jscan_compile(&s, root, 1, NULL) == 0);
    int bad_trip = 0, too_long = 0, not_json = 0, longer_than_ref = 0, shorter_than_ref = 0;
    for (int i = 0; i < 150000; i++) {
        float f;
        if (i < 100000) {
            uint32_t bits = (uint32_t)rnd();
            memcpy(&f, &bits, sizeof f);
            if (!isfinite(f))
                continue;
        } else {
            /* numbers people write: amounts, percentages, scores */
            f = (float)((double)(int64_t)(rnd() % 2000001 - 1000000) / (double)(1u << rndn(4) * 3) /
                        pow(10, rndn(6)));
        }
        const char *out = dbl_out(f);
        float back = strtof(out, NULL);
        if (memcmp(&back, &f, sizeof f) != 0 && bad_trip++ < 5)
            fprintf(stderr, "round trip: %.9g -> %s -> %.9g\n", (double)f, out, (double)back);
        int sd = sig_digits(out);
        too_long += sd > 9;
        struct weir_jval v[1];
        not_json += weir_jscan_run(s, out, out_buf.len, v, NULL) != 0 || v[0].type != WEIR_JNUMBER;
        int ref = shortest_reference(f);
        if (sd > ref && longer_than_ref++ < 5)
            fprintf(stderr, "not shortest: %.9g -> %s, %%.%dg round-trips\n", (double)f, out, ref);
        shorter_than_ref += sd < ref;
    }
    printf("jsonw_double: 150000 floats, %d longer than the %%.Ng reference, %d shorter\n",
           longer_than_ref, shorter_than_ref);
    CHECK(bad_trip == 0);
    CHECK(too_long == 0);
    CHECK(not_json == 0);
    CHECK(longer_than_ref == 0);
    weir_jscan_free(s);
}

static void test_int(void)
{
    static const int64_t cases[] = {0,
                                    1,
                                    -1,
                                    9,
                                    10,
                                    -10,
                                    99,
                                    100,
                                    12345,
                                    INT64_MAX,
                                    INT64_MIN,
                                    INT64_MIN + 1,
                                    1000000000000000000ll};
    char want[32];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        weir_buf_reset(&out_buf);
        CHECK(weir_jsonw_int(&out_buf, cases[i]) == 0);
        snprintf(want, sizeof want, "%" PRId64, cases[i]);
        CHECK_STR(weir_buf_cstr(&out_buf), want);
    }
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        int64_t v = (int64_t)(rnd() >> rndn(64));
        if (rndn(2))
            v = -v;
        weir_buf_reset(&out_buf);
        weir_jsonw_int(&out_buf, v);
        snprintf(want, sizeof want, "%" PRId64, v);
        bad += strcmp(weir_buf_cstr(&out_buf), want) != 0;
    }
    CHECK(bad == 0);
    for (uint64_t p = 1, k = 0; k < 19; k++, p *= 10) /* each digit count's edges */
        for (int64_t d = -1; d <= 1; d++) {
            int64_t v = (int64_t)p + d;
            weir_buf_reset(&out_buf);
            weir_jsonw_int(&out_buf, v);
            snprintf(want, sizeof want, "%" PRId64, v);
            CHECK_STR(weir_buf_cstr(&out_buf), want);
        }
}

/* ---- base64 -------------------------------------------------------------- */

static size_t b64_decode(const char *s, size_t n, unsigned char *o)
{
    static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        const char *p = strchr(alpha, s[i]);
        if (!p || !*p)
            return (size_t)-1;
        acc = acc << 6 | (uint32_t)(p - alpha);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (unsigned char)(acc >> bits);
        }
    }
    return k;
}

static void test_base64(void)
{
    static const char *vec[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof vec / sizeof *vec; i++) {
        weir_buf_reset(&out_buf);
        CHECK(weir_base64_encode(&out_buf, vec[i][0], strlen(vec[i][0])) == 0);
        CHECK_STR(weir_buf_cstr(&out_buf), vec[i][1]);
    }
    /* Empty input into a buffer that never held anything (data is NULL):
     * once NULL + 0, which clang's UBSan reports. */
    struct weir_buf empty = {0};
    CHECK(weir_base64_encode(&empty, NULL, 0) == 0);
    CHECK(empty.len == 0 && empty.data == NULL);
    unsigned char in[300], dec[300];
    int bad = 0;
    for (int i = 0; i < 2000; i++) {
        size_t n = rndn(300);
        for (size_t k = 0; k < n; k++)
            in[k] = (unsigned char)rnd();
        weir_buf_reset(&out_buf);
        weir_buf_append(&out_buf, "x", 1);
        weir_base64_encode(&out_buf, in, n);
        bad += out_buf.len != 1 + (n + 2) / 3 * 4;
        bad += b64_decode(out_buf.data + 1, out_buf.len - 1, dec) != n || memcmp(dec, in, n) != 0;
    }
    CHECK(bad == 0);
}

/* Whole numbers below 2^24 take a fast path: each must be written as the
 * plain integer, as the general algorithm writes it (a side run compared
 * the two on every integer below 2^24; here a dense range and a sweep). */
static void test_double_whole(void)
{
    char want[32];
    int bad = 0;
    struct weir_buf b = {0};
    for (int64_t n = -16777215; n <= 16777215; n += n > -70000 && n < 70000 ? 1 : 997) {
        b.len = 0;
        weir_jsonw_double(&b, (double)n);
        int len = snprintf(want, sizeof want, "%lld", (long long)n);
        bad += b.len != (size_t)len || memcmp(b.data, want, b.len) != 0;
    }
    CHECK(bad == 0);
    b.len = 0;
    weir_jsonw_double(&b, -0.0);
    CHECK(b.len == 2 && memcmp(b.data, "-0", 2) == 0);
    b.len = 0;
    weir_jsonw_double(&b, 16777216.0); /* the general path from 2^24 on */
    CHECK(b.len == 8 && memcmp(b.data, "16777216", 8) == 0);
    weir_buf_free(&b);
}

/* Floats below 2^16 that one or two decimals give back take another fast
 * path (amounts and their means): the output must be the shortest digits
 * that read back, as the shortest "%.Ng" that strtof reads back gives them
 * (a side run compared the fast path with the general one on every float
 * in [0.009, 70000): no difference). */
static void test_double_short_decimals(void)
{
    char want[32];
    int bad = 0;
    struct weir_buf b = {0};
    for (int64_t m = -6553599; m <= 6553599; m += 61) {
        for (int k = 1; k <= 2; k++) {
            float f = (float)((double)m / (k == 1 ? 10.0 : 100.0));
            int len = 0;
            for (int prec = 1; prec <= 9; prec++) {
                len = snprintf(want, sizeof want, "%.*g", prec, (double)f);
                if (strtof(want, NULL) == f)
                    break;
            }
            if (strchr(want, 'e'))
                continue; /* "2e+01" for 20: weir writes whole numbers out */
            b.len = 0;
            weir_jsonw_double(&b, f);
            bad += b.len != (size_t)len || memcmp(b.data, want, b.len) != 0;
        }
    }
    CHECK(bad == 0);
    weir_buf_free(&b);
}

/* weir_jsonw_float_to, written in place for output records, writes what
 * weir_jsonw_double writes for the float, and stays within its room. */
static void test_float_to(void)
{
    struct weir_buf b = {0};
    char room[64];
    int differ = 0, over = 0;
    for (int i = 0; i < 300000; i++) {
        float f;
        uint32_t bits = (uint32_t)rnd();
        if (i % 3 == 1) /* whole numbers and amounts */
            bits = 0;
        memcpy(&f, &bits, sizeof f);
        if (i % 3 == 1)
            f = (float)((double)(int64_t)(rnd() % 2000001 - 1000000) / (i % 2 ? 100.0 : 1.0));
        if (i < 8) {
            static const float special[] = {0.0f, -0.0f, NAN, INFINITY, -INFINITY,
                                            16777216.0f, -16777215.0f, 1e-45f};
            f = special[i];
        }
        memset(room, 0x7f, sizeof room);
        char *end = weir_jsonw_float_to(room, f);
        b.len = 0;
        weir_jsonw_double(&b, f);
        differ += (size_t)(end - room) != b.len || memcmp(room, b.data, b.len) != 0;
        over += end - room > WEIR_JSONW_FLOAT_ROOM || room[WEIR_JSONW_FLOAT_ROOM] != 0x7f;
    }
    CHECK(differ == 0);
    CHECK(over == 0);
    char *end = weir_jsonw_float_to(room, NAN);
    CHECK(end - room == 4 && memcmp(room, "null", 4) == 0);
    weir_buf_free(&b);
}

int main(void)
{
    test_float_to();
    test_double_whole();
    test_double_short_decimals();
    test_buf();
    test_buf_lengths();
    test_string_cases();
    test_string_roundtrip();
    test_double_cases();
    test_double_roundtrip();
    test_int();
    test_base64();
    weir_buf_free(&out_buf);
    return check_summary();
}
