/* The JSON writers (engine/jsonw.c) against jansson, on arbitrary bytes.
 *
 * The input is written as a string (and as a key): jansson must read it
 * back as a string, equal to the input when that is valid UTF-8, and valid
 * UTF-8 of at least as many characters otherwise. Its first 8 bytes, as a
 * double and as an int64, are written as numbers: jansson must read back
 * the same float (the writer's promise: the shortest text that reads back
 * as the same float; beyond float's range, the double to 9 digits) and the
 * same integer. The input is written as base64 and decoded back. Every
 * writer starts on an empty buffer once, as the engine's first use does. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "engine/jscan.h"
#include "engine/jsonw.h"
#include "tests/fuzz/fuzz.h"

static int utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = weir_utf8_seqlen(s + i, n - i)))
            return 0;
    return 1;
}

static json_t *read_back(const struct weir_buf *b)
{
    json_error_t e;
    json_t *j = json_loadb(b->data, b->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        fprintf(stderr, "jansson: %s: %.*s\n", e.text, (int)(b->len > 200 ? 200 : b->len), b->data);
    return j;
}

static void check_string(const char *s, size_t n)
{
    struct weir_buf b = {0};
    FUZZ_ASSERT(weir_jsonw_string(&b, s, n) == 0);
    json_t *j = read_back(&b);
    FUZZ_ASSERT(json_is_string(j));
    const char *got = json_string_value(j);
    size_t glen = json_string_length(j);
    if (utf8_valid(s, n))
        FUZZ_ASSERT(glen == n && memcmp(got, s, n) == 0);
    else
        FUZZ_ASSERT(utf8_valid(got, glen) && glen >= n / 4);
    json_decref(j);
    weir_buf_free(&b);
}

static void check_key(const char *s, size_t n)
{
    char name[256];
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < sizeof name; i++)
        if (s[i]) /* a key is a C string */
            name[k++] = s[i];
    name[k] = '\0';
    struct weir_buf b = {0};
    FUZZ_ASSERT(weir_buf_append(&b, "{", 1) == 0);
    FUZZ_ASSERT(weir_jsonw_key(&b, name) == 0);
    FUZZ_ASSERT(weir_buf_append(&b, "1}", 2) == 0);
    json_t *j = read_back(&b);
    FUZZ_ASSERT(json_is_object(j) && json_object_size(j) == 1);
    if (utf8_valid(name, k))
        FUZZ_ASSERT(json_object_get(j, name) != NULL);
    json_decref(j);
    weir_buf_free(&b);
}

static void check_numbers(const uint8_t *data, size_t n)
{
    uint8_t raw[8] = {0};
    memcpy(raw, data, n < 8 ? n : 8);
    double v;
    int64_t i;
    memcpy(&v, raw, 8);
    memcpy(&i, raw, 8);

    struct weir_buf b = {0};
    FUZZ_ASSERT(weir_jsonw_double(&b, v) == 0);
    json_t *j = read_back(&b);
    if (!isfinite(v)) {
        FUZZ_ASSERT(json_is_null(j));
    } else {
        FUZZ_ASSERT(json_is_number(j));
        double back = json_number_value(j);
        float f = (float)v;
        if (!isinf(f) && !(f == 0 && v != 0))
            FUZZ_ASSERT((float)back == f);
        else /* beyond float: the double to 9 significant digits */
            FUZZ_ASSERT(fabs(back - v) <= fabs(v) * 1e-8);
    }
    json_decref(j);

    weir_buf_reset(&b);
    FUZZ_ASSERT(weir_jsonw_int(&b, i) == 0);
    j = read_back(&b);
    FUZZ_ASSERT(json_is_integer(j) && json_integer_value(j) == i);
    json_decref(j);
    weir_buf_free(&b);
}

static int b64_value(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

static void check_base64(const uint8_t *data, size_t n)
{
    struct weir_buf b = {0};
    FUZZ_ASSERT(weir_base64_encode(&b, data, n) == 0);
    FUZZ_ASSERT(b.len == (n + 2) / 3 * 4);
    size_t k = 0;
    for (size_t q = 0; q < b.len; q += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int c = 0; c < 4; c++) {
            int x = b.data[q + c] == '=' ? (pad++, 0) : b64_value(b.data[q + c]);
            FUZZ_ASSERT(x >= 0);
            w = w << 6 | (uint32_t)x;
        }
        for (int c = 0; c < 3 - pad; c++, k++)
            FUZZ_ASSERT(k < n && data[k] == (uint8_t)(w >> (16 - 8 * c)));
    }
    FUZZ_ASSERT(k == n);
    weir_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_string((const char *)data, size);
    check_key((const char *)data, size);
    check_numbers(data, size);
    check_base64(data, size);
    return 0;
}
