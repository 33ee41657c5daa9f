/* Fast JSON writers; see jsonw.h for what each promises.
 *
 * weir_jsonw_double works on the float the value rounds to. A float f has a
 * rounding interval: the reals that strtof turns into f lie within half a
 * gap of it on either side. Scaled by a power of ten so that f has nine
 * integer digits, that interval is at least ~6 units wide, so it holds
 * integers, and the shortest output is the integer in it with the most
 * trailing zeros. The scaling happens in double arithmetic (error < 1e-6
 * units); the interval is shrunk by a margin well above that error, so what
 * is written always reads back as f. Endpoints that are exact integers (ties
 * strtof breaks towards f's even mantissa, common for large whole numbers)
 * are found with integer arithmetic and put back. An exhaustive run over all
 * 2^32 floats found every output reading back as its float.
 */
#include "engine/jsonw.h"

#include "engine/jscan.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#if defined(__SSE2__) && !defined(WEIR_JSCAN_NO_SIMD)
#include <emmintrin.h>
#define JSONW_SSE2 1
#endif

/* Input consumed per reservation by weir_jsonw_string: one byte can become
 * six (\u00XX), so reserving by chunk bounds over-allocation to 24 KiB. */
#define STRING_CHUNK 4096

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t pow10_u64[20] = {
    1ull,           10ull,           100ull,           1000ull,           10000ull,
    100000ull,      1000000ull,      10000000ull,      100000000ull,      1000000000ull,
    10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull, 100000000000000ull,
    1000000000000000ull,    10000000000000000ull,     100000000000000000ull,
    1000000000000000000ull, 10000000000000000000ull};

/* How many decimal digits v has (1..20): t, v's bit length times log10(2)
 * (1233 / 4096, rounded down), is that count or one less. */
static inline size_t count_digits(uint64_t v)
{
    size_t t = (size_t)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
    return t + 1 - (v < pow10_u64[t]) + (v == 0);
}

/* Writes the last n decimal digits of v at o[0..n), zeros in front. Right
 * to left into place: no scratch copy (a memcpy call of a variable size). */
static inline void put_digits(char *o, uint64_t v, size_t n)
{
    char *t = o + n;
    while (t - o >= 2) {
        t -= 2;
        memcpy(t, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (t > o)
        *--t = (char)('0' + v % 10);
}

/* Writes the decimal digits of v at o; returns how many (1..20). */
static size_t put_u64(char *o, uint64_t v)
{
    size_t n = count_digits(v);
    put_digits(o, v, n);
    return n;
}

int weir_jsonw_int(struct weir_buf *b, int64_t v)
{
    if (weir_buf_reserve(b, 21) < 0)
        return -ENOMEM;
    char *o = b->data + b->len;
    uint64_t u = (uint64_t)v;
    if (v < 0) {
        *o++ = '-';
        u = 0 - u; /* well defined for INT64_MIN too */
    }
    o += put_u64(o, u);
    b->len = (size_t)(o - b->data);
    return 0;
}

/* ---- strings ------------------------------------------------------------- */

int weir_jsonw_string(struct weir_buf *b, const char *s, size_t len)
{
    static const char short_esc[32] = {
        ['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
    };
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t start_len = b->len;
    if (weir_buf_reserve(b, 1) < 0)
        return -ENOMEM;
    b->data[b->len++] = '"';
    do {
        const unsigned char *cend = end - p > STRING_CHUNK ? p + STRING_CHUNK : end;
        if (weir_buf_reserve(b, (size_t)(cend - p) * 6 + 1) < 0) {
            b->len = start_len;
            return -ENOMEM;
        }
        char *o = b->data + b->len;
        while (p < cend) {
#ifdef JSONW_SSE2
            const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
            const __m128i space = _mm_set1_epi8(' ');
            /* Copy 16 at a time, stopping at the first byte needing care.
             * The store may run ahead of what is kept: the reservation of
             * 6 bytes per input byte leaves room for it. */
            while (cend - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                _mm_storeu_si128((__m128i *)(void *)o, v);
                __m128i hit =
                    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
                unsigned bits = (unsigned)_mm_movemask_epi8(hit);
                if (bits) {
                    unsigned n = (unsigned)__builtin_ctz(bits);
                    p += n;
                    o += n;
                    break;
                }
                p += 16;
                o += 16;
            }
#endif
            while (p < cend && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
                *o++ = (char)*p++;
            if (p == cend)
                break;
            unsigned c = *p;
            if (c == '"' || c == '\\') {
                o[0] = '\\';
                o[1] = (char)c;
                o += 2;
                p++;
            } else if (c < 0x20) {
                if (short_esc[c]) {
                    o[0] = '\\';
                    o[1] = short_esc[c];
                    o += 2;
                } else {
                    memcpy(o, "\\u00", 4);
                    o[4] = hex[c >> 4];
                    o[5] = hex[c & 15];
                    o += 6;
                }
                p++;
            } else {
                /* A sequence may straddle the chunk's end: look at the whole
                 * input, and let the chunk run over by up to 3 bytes (the
                 * 6x reservation covers it). */
                size_t n = weir_utf8_seqlen((const char *)p, (size_t)(end - p));
                if (n) {
                    memcpy(o, p, n);
                    o += n;
                    p += n;
                } else {
                    memcpy(o, "\xEF\xBF\xBD", 3); /* U+FFFD */
                    o += 3;
                    p++;
                }
            }
        }
        b->len = (size_t)(o - b->data);
    } while (p < end);
    b->data[b->len++] = '"';
    return 0;
}

int weir_jsonw_key(struct weir_buf *b, const char *name)
{
    size_t start_len = b->len;
    if (weir_jsonw_string(b, name, strlen(name)) < 0 || weir_buf_append(b, ":", 1) < 0) {
        b->len = start_len;
        return -ENOMEM;
    }
    return 0;
}

/* ---- numbers ------------------------------------------------------------- */

#define POW10_MIN (-40)
static const double pow10_tab[] = {
    1e-40, 1e-39, 1e-38, 1e-37, 1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28,
    1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15,
    1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,
    1e-1,  1e0,   1e1,   1e2,   1e3,   1e4,   1e5,   1e6,   1e7,   1e8,   1e9,   1e10,  1e11,
    1e12,  1e13,  1e14,  1e15,  1e16,  1e17,  1e18,  1e19,  1e20,  1e21,  1e22,  1e23,  1e24,
    1e25,  1e26,  1e27,  1e28,  1e29,  1e30,  1e31,  1e32,  1e33,  1e34,  1e35,  1e36,  1e37,
    1e38,  1e39,  1e40,  1e41,  1e42,  1e43,  1e44,  1e45,  1e46,  1e47,  1e48,  1e49,  1e50,
    1e51,  1e52,  1e53,  1e54,  1e55,  1e56,  1e57,  1e58,  1e59,  1e60,
};
#define POW10(n) pow10_tab[(n)-POW10_MIN]

/* 2^e for e in [-1022, 1023], without a libm call. */
static double pow2(int e)
{
    uint64_t bits = (uint64_t)(e + 1023) << 52;
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* Values a float cannot carry: written from the double, 9 digits, slowly. */
static int double_slow(struct weir_buf *b, double v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%.9g", v);
    return weir_buf_append(b, tmp, (size_t)n);
}

/* Whether the rounding-interval endpoint N * 2^q, scaled by 10^n, is an
 * integer, and which. Only such exact ties can be lost to the safety
 * margin; with f's mantissa even, strtof rounds a tie to f, so they count. */
static int endpoint_int(uint64_t N, int q, int n, uint64_t *out)
{
    uint64_t v = N;
    if (n >= 0) {
        /* N * 5^n * 2^(q+n); beyond 5^13 it could not be near 1e9 */
        if (n > 13 || q + n < 0 || q + n > 30)
            return 0;
        for (int i = 0; i < n; i++)
            v *= 5;
        *out = v << (q + n);
        return 1;
    }
    /* (N / 5^k) * 2^(q-k): N has 26 bits, so 5^k must stay below 2^26 */
    int k = -n;
    uint64_t p5 = 1;
    if (k > 11 || q < k || q - k > 30)
        return 0;
    for (int i = 0; i < k; i++)
        p5 *= 5;
    if (v % p5)
        return 0;
    *out = v / p5 << (q - k);
    return 1;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JSONW_SWAR 1
/* The last nd digits of v (v < 10^8, 1 <= nd <= 8) as the bytes of one
 * word, the first digit in the lowest byte (first in memory), from a few
 * multiplications over lanes instead of a division per pair of digits:
 * v splits into two 4-digit halves (32-bit lanes), each into two pairs
 * (16-bit lanes), each pair into two digits (bytes). x * 10486 >> 20 is
 * x / 100 for x < 10000, y * 103 >> 10 is y / 10 for y < 100; no lane's
 * product reaches the next lane, and the bits shifted down from it are
 * masked off. */
static inline uint64_t digits8(uint32_t v, int nd)
{
    uint64_t x = v / 10000u | (uint64_t)(v % 10000u) << 32;
    uint64_t y = (x * 10486u >> 20) & 0x0000007F0000007Full;
    y |= (x - y * 100u) << 16;
    uint64_t z = (y * 103u >> 10) & 0x000F000F000F000Full;
    z |= (y - z * 10u) << 8;
    return (z + 0x3030303030303030ull) >> (8 * (8 - nd));
}

/* Stores the 8 bytes of w at o: the caller's room covers all 8, whatever
 * is beyond the digits being overwritten or left past the end. */
static inline void store8(char *o, uint64_t w)
{
    memcpy(o, &w, 8);
}
#endif

/* Writes c's nd digits with a point after the first `whole` of them
 * (0 < whole < nd). Up to 8 digits: the digits' word stored twice, the
 * second time shifted past the point (two stores, no load of fresh stores:
 * writing the digits and moving the fraction up in memory stalled on
 * them). 9 digits: the fraction's digits right to left, then the whole
 * part from what is left of c (splitting c with c / 10^k took a division
 * by a variable, a hardware divide). */
static char *put_point(char *o, uint64_t c, int nd, int whole)
{
#ifdef JSONW_SWAR
    if (nd <= 8) {
        uint64_t w = digits8((uint32_t)c, nd);
        store8(o, w);
        store8(o + whole + 1, w >> (8 * whole));
        o[whole] = '.';
        return o + nd + 1;
    }
#endif
    char *t = o + nd + 1;
    int frac = nd - whole;
    if (frac & 1) {
        *--t = (char)('0' + c % 10);
        c /= 10;
    }
    for (int i = frac / 2; i > 0; i--) {
        t -= 2;
        memcpy(t, digit_pairs + 2 * (c % 100), 2);
        c /= 100;
    }
    o[whole] = '.';
    put_digits(o, c, (size_t)whole);
    return o + nd + 1;
}

/* put_digits for format_decimal's c, which has room for 8 bytes more. */
static inline void put_digits_room(char *o, uint64_t c, int nd)
{
#ifdef JSONW_SWAR
    if (nd <= 8) {
        store8(o, digits8((uint32_t)c, nd));
        return;
    }
#endif
    put_digits(o, c, (size_t)nd);
}

/* Writes c * 10^x, c having no trailing zeros (at most 9 digits). The
 * caller reserved 32 bytes: the fixed 7-byte copy and the 8-byte stores of
 * digits stay inside them (at most 6 + 8, or 8 + 9 with a point). */
static char *format_decimal(char *o, uint64_t c, int x)
{
    int nd = (int)count_digits(c);
    int E = x + nd - 1; /* the decimal exponent of the first digit */
    if (E >= -5 && E < 15) {
        if (E < 0) {
            memcpy(o, "0.00000", 7); /* "0." and -E-1 zeros are kept */
            o += 1 - E;
            put_digits_room(o, c, nd);
            return o + nd;
        }
        if (nd <= E + 1) {
            put_digits_room(o, c, nd);
            o += nd;
            for (int i = nd; i <= E; i++)
                *o++ = '0';
            return o;
        }
        return put_point(o, c, nd, E + 1);
    }
    if (nd > 1) {
        o = put_point(o, c, nd, 1);
    } else {
        *o++ = (char)('0' + c);
    }
    *o++ = 'e';
    if (E < 0) {
        *o++ = '-';
        E = -E;
    }
    return o + put_u64(o, (uint64_t)E);
}

/* nearbyint(x) for 0 <= x < 2^52 in the default rounding mode (to nearest,
 * ties to even: adding 2^52 leaves no bits below the units), without a call
 * into libm, whose nearbyint also saves and restores the floating-point
 * environment: on plain x86-64 (no SSE4.1 rounding instruction) that call
 * was a third of the time of a float that is not whole. */
static inline double round_even(double x)
{
    const double two52 = 4503599627370496.0;
    return (x + two52) - two52;
}

/* Floats below 2^16 that one or two decimals give back (amounts, their
 * means): m / 10^k read back as f. Below 2^16 the floats are closer than
 * 0.01, so only one such decimal can read back as f, and with one decimal
 * tried first it is the shortest: the general path would give the same
 * digits. m / 10^k is rounded to double, then to float; a double exactly
 * halfway between two floats, where that could differ from rounding the
 * decimal once, needs 28 zero bits in a row, which m / 10^k (a repeating
 * binary fraction unless exact) never has. */
static int short_decimal(char **o, float f)
{
    static const double p10[] = {10.0, 100.0};
    double a = fabs((double)f);
    if (!(a >= 0.01 && a < 65536.0))
        return 0;
    for (int k = 0; k < 2; k++) {
        double x = a * p10[k], m = round_even(x);
        /* A decimal that reads back as f is within half of f's gap (at
         * most f * 2^-24) of it, so m is within x * 2^-23 of x (the
         * products' own rounding is 2^-53 of them): most values fail this
         * and skip the division below. */
        if (fabs(x - m) > x * 0x1p-20 || (float)(m / p10[k]) != (float)a)
            continue;
        char *p = *o;
        if (f < 0)
            *p++ = '-';
        *o = format_decimal(p, (uint64_t)m, -(k + 1));
        return 1;
    }
    return 0;
}

/* The float's shortest decimal when it is neither zero nor whole (and
 * finite): out of line, so that the common values' path below saves no
 * registers for it. */
static __attribute__((noinline)) char *float_general(char *o, float f)
{
    if (short_decimal(&o, f))
        return o;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if (bits >> 31)
        *o++ = '-';
    bits &= 0x7FFFFFFFu;

    /* f = m * 2^e2; its neighbours are a gap of 2^e2 away, except just
     * below a power of two, where the gap halves. */
    uint32_t ebits = bits >> 23, m = bits & 0x7FFFFFu;
    int e2 = ebits ? (int)ebits - 150 : -149;
    int pow2_edge = ebits > 1 && m == 0;
    if (ebits)
        m |= 0x800000u;
    int top = e2 + 31 - __builtin_clz(m); /* floor(log2 f) */
    double fd = (double)m * pow2(e2);     /* exact */
    double half = pow2(e2 - 1), half_lo = pow2_edge ? half / 2 : half;

    /* Scale so that f has nine integer digits: S in [1e8, 1e9). */
    /* floor(top * log10(2)), maybe 1 off; no right shift of a negative */
    int k = top >= 0 ? (top * 78913) >> 18 : -((-top * 78913 + (1 << 18) - 1) >> 18);
    int n = 8 - k;
    double S = fd * POW10(n);
    while (S >= 1e9)
        S = fd * POW10(--n);
    while (S < 1e8)
        S = fd * POW10(++n);
    double scale = POW10(n), margin = S * 4e-15;
    /* fd -+ half are exact (26 bits), so only the scaling rounds. */
    double L = (fd - half_lo) * scale + margin, H = (fd + half) * scale - margin;
    /* The integers in (L, H); both are positive and below 2^31, so a
     * truncating conversion is floor. */
    int64_t Lt = (int64_t)L, Ht = (int64_t)H;
    uint64_t A = (uint64_t)Lt + 1, B = (uint64_t)Ht - ((double)Ht == H);
    if (!(m & 1)) {
        uint64_t e;
        if (pow2_edge ? endpoint_int(4 * (uint64_t)m - 1, e2 - 2, n, &e)
                      : endpoint_int(2 * (uint64_t)m - 1, e2 - 1, n, &e))
            A = e + 1 == A ? e : A;
        if (endpoint_int(2 * (uint64_t)m + 1, e2 - 1, n, &e))
            B = e == B + 1 ? e : B;
    }
    uint64_t s = (uint64_t)(int64_t)(S + 0.5);
    if (A > B || s < A || s > B)
        return o + snprintf(o, 24, "%.9g", fabs((double)f)); /* cannot happen; stay correct */

    /* Drop digits while the interval still holds a multiple of ten; t_up
     * is s / 10^(j-1) (rounded down at each step, as one division would). */
    uint64_t t = s, t_up = s;
    int j = 0;
    for (;;) {
        uint64_t A2 = (A + 9) / 10, B2 = B / 10;
        if (A2 > B2)
            break;
        A = A2;
        B = B2;
        t_up = t;
        t /= 10;
        j++;
    }
    /* Of the candidates, the one nearest f: (s + 10^j / 2) / 10^j, which
     * is (t_up + 5) / 10 (the digits below t_up add less than a tenth),
     * without a division by a variable power of ten. */
    uint64_t c = j ? (t_up + 5) / 10 : s;
    if (c < A)
        c = A;
    if (c > B)
        c = B;
    int x = j - n; /* f ~= c * 10^x */
    while (c % 10 == 0) {
        c /= 10;
        x++;
    }
    return format_decimal(o, c, x);
}

char *weir_jsonw_float_to(char *o, float f)
{
    if (f == 0) { /* "0" or "-0"; common (empty windows, flags) */
        if (signbit(f))
            *o++ = '-';
        *o++ = '0';
        return o;
    }
    /* Whole numbers below 2^24 (counts, flags: most features) are their
     * own shortest form: the gap to the neighbours is at most 1. The range
     * is checked before the conversion: a float beyond int32 is undefined
     * there (found by fuzz_jsonw). NaN fails the range test. */
    if (f > -16777216.0f && f < 16777216.0f) {
        int32_t w = (int32_t)f;
        if (f == (float)w) {
            if (w < 0)
                *o++ = '-';
            uint32_t u = w < 0 ? (uint32_t)-(int64_t)w : (uint32_t)w;
            if (u < 100) { /* counts mostly: two stores, no digit count */
                memcpy(o, digit_pairs + 2 * u + (u < 10), 2);
                return o + 1 + (u >= 10);
            }
            return o + put_u64(o, u);
        }
    } else if (!isfinite(f)) {
        memcpy(o, "null", 4);
        return o + 4;
    }
    return float_general(o, f);
}

int weir_jsonw_double(struct weir_buf *b, double v)
{
    if (weir_buf_reserve(b, 32) < 0)
        return -ENOMEM;
    float f = (float)v;
    if (isfinite(v) && (isinf(f) || (f == 0 && v != 0)))
        return double_slow(b, v);
    b->len = (size_t)(weir_jsonw_float_to(b->data + b->len, f) - b->data);
    return 0;
}

/* ---- base64 -------------------------------------------------------------- */

int weir_base64_encode(struct weir_buf *b, const void *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len == 0)
        return 0; /* an empty buffer's data is NULL: even NULL + 0 is undefined */
    if (len / 3 >= (SIZE_MAX - 4) / 4 || weir_buf_reserve(b, (len + 2) / 3 * 4) < 0)
        return -ENOMEM;
    const unsigned char *p = data;
    char *o = b->data + b->len;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = alphabet[w >> 18];
        o[1] = alphabet[w >> 12 & 63];
        o[2] = alphabet[w >> 6 & 63];
        o[3] = alphabet[w & 63];
        o += 4;
    }
    if (i < len) {
        uint32_t w = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        o[0] = alphabet[w >> 18];
        o[1] = alphabet[w >> 12 & 63];
        o[2] = i + 1 < len ? alphabet[w >> 6 & 63] : '=';
        o[3] = '=';
        o += 4;
    }
    b->len = (size_t)(o - b->data);
    return 0;
}
