/* JSON numbers: the grammar and a correctly rounded parse (common/jsonnum.h). */
#include "common/jsonnum.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10)

/* Digits from *i on; returns how many. */
static size_t skip_digits(const char *s, size_t *i, size_t n)
{
    size_t d = *i;
    while (*i < n && IS_DIGIT(s[*i]))
        (*i)++;
    return *i - d;
}

int weir_json_number_valid(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++; /* no leading zeros: "01" is not JSON */
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        skip_digits(s, &i, n);
    else
        return 0;
    if (i < n && s[i] == '.') {
        i++;
        if (!skip_digits(s, &i, n))
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (!skip_digits(s, &i, n))
            return 0;
    }
    return i == n;
}

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

/* The slow, always-right path: strtod in the "C" locale (so a process that
 * called setlocale still reads '.' as the decimal point). */
static int parse_slow(const char *p, size_t len, double *out)
{
    char stack[128], *buf = stack;
    if (len >= sizeof stack) {
        buf = malloc(len + 1); /* hundreds of digits: rare */
        if (!buf)
            return -ENOMEM;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    pthread_once(&c_locale_once, c_locale_init);
    double v = c_locale ? strtod_l(buf, NULL, c_locale) : strtod(buf, NULL);
    if (buf != stack)
        free(buf);
    *out = v;
    return isinf(v) ? -ERANGE : 0;
}

int weir_decimal_parse(const char *text, size_t len, double *out)
{
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    int neg = 0, digits = 0, sig = 0, inexact = 0;
    uint64_t m = 0;  /* the first 19 significant digits */
    int64_t e10 = 0; /* value = m * 10^e10 (when !inexact) */

    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    for (; p < end && IS_DIGIT(*p); p++, digits++) {
        unsigned d = *p - '0';
        if (sig < 19) {
            m = m * 10 + d;
            sig += m != 0; /* leading zeros are not significant */
        } else {
            e10++;
            inexact |= d != 0;
        }
    }
    if (p < end && *p == '.') {
        for (p++; p < end && IS_DIGIT(*p); p++, digits++) {
            unsigned d = *p - '0';
            if (sig < 19) {
                m = m * 10 + d;
                sig += m != 0;
                e10--;
            } else {
                inexact |= d != 0;
            }
        }
    }
    if (!digits)
        return -EINVAL;
    if (p < end && (*p | 0x20) == 'e') {
        int eneg = 0;
        int64_t ex = 0;
        if (++p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || !IS_DIGIT(*p))
            return -EINVAL;
        for (; p < end && IS_DIGIT(*p); p++)
            if (ex < 1000000)
                ex = ex * 10 + (*p - '0');
        /* a cut exponent can meet as many zeros after the point and look
         * exact (0.000...1e10000000 as 1): strtod reads it whole */
        inexact |= ex >= 1000000;
        e10 += eneg ? -ex : ex;
    }
    if (p != end)
        return -EINVAL;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
#if FLT_EVAL_METHOD == 0
    /* Clinger's fast path: m and 10^|e10| both exact doubles, so one IEEE
     * multiply or divide rounds once, correctly. */
    if (!inexact) {
        double v = -1;
        if (e10 == 0) {
            v = (double)m; /* uint64 -> double rounds correctly */
        } else if (m <= (1ull << 53)) {
            if (e10 < 0 && e10 >= -22) {
                v = (double)m / pow10_exact[-e10];
            } else if (e10 > 0 && e10 <= 22) {
                v = (double)m * pow10_exact[e10];
            } else if (e10 > 22 && e10 <= 22 + 15) {
                /* 12e30: move zeros into m while it stays exact. */
                uint64_t scaled = m;
                int64_t k = e10 - 22;
                while (k > 0 && scaled <= (1ull << 53) / 10) {
                    scaled *= 10;
                    k--;
                }
                if (k == 0)
                    v = (double)scaled * 1e22;
            }
        }
        if (v >= 0) {
            *out = neg ? -v : v;
            return 0;
        }
    }
#endif
    return parse_slow(text, len, out);
}
