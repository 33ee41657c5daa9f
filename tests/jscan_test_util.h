/* Helpers shared by the JSON scanner's tests (test_jscan.c, test_jnum.c,
 * test_jscan_jansson.c; test_jsonnum.c for its random decimals): a
 * reproducible random generator and thin wrappers around
 * weir_jscan_compile/run. Each test file gets its own copy. */
#ifndef WEIR_TESTS_JSCAN_TEST_UTIL_H
#define WEIR_TESTS_JSCAN_TEST_UTIL_H

#include "engine/jscan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static inline uint64_t rnd(void)
{
    /* splitmix64: reproducible across runs and platforms */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static inline unsigned rndn(unsigned n)
{
    return (unsigned)(rnd() % n);
}

static inline struct weir_jscan *compile(const char *const *ptrs, size_t n)
{
    struct weir_jscan *s = NULL;
    struct weir_error err = {0};
    int rc = weir_jscan_compile(&s, ptrs, n, &err);
    if (rc != 0)
        fprintf(stderr, "compile failed: %s\n", err.msg);
    return s;
}

/* The value's text as a NUL-terminated string (static buffer). */
static inline const char *vtext(const char *rec, const struct weir_jval *v)
{
    static char buf[4096];
    size_t n = v->len < sizeof buf - 1 ? v->len : sizeof buf - 1;
    memcpy(buf, rec + v->off, n);
    buf[n] = '\0';
    return buf;
}

static inline int run(const struct weir_jscan *s, const char *rec, struct weir_jval *vals,
               struct weir_jscan_fail *fail)
{
    return weir_jscan_run(s, rec, strlen(rec), vals, fail);
}

/* Writes a random decimal in JSON grammar; returns its length. Forms:
 * integers and fractions of 1-17 digits, the same with exponents up to 30,
 * 0.000ddd, up to 19 digits, exponents near the double range, and 18-25
 * digit numbers that need the slow path. */
static inline int random_decimal(char *o, int max_exp)
{
    int n = 0;
    if (rndn(2))
        o[n++] = '-';
    int form = (int)rndn(8);
    int nd = form == 7 ? 18 + (int)rndn(8) : 1 + (int)rndn(form < 4 ? 17 : 19);
    char digs[32];
    for (int i = 0; i < nd; i++)
        digs[i] = (char)('0' + rndn(10));
    digs[0] = (char)('1' + rndn(9));
    if (form == 5) {
        o[n++] = '0';
        o[n++] = '.';
        for (int z = (int)rndn(12); z > 0; z--)
            o[n++] = '0';
        memcpy(o + n, digs, (size_t)nd);
        n += nd;
    } else {
        int ip = rndn(3) ? 1 + (int)rndn((unsigned)nd) : nd; /* digits before the point */
        memcpy(o + n, digs, (size_t)ip);
        n += ip;
        if (ip < nd) {
            o[n++] = '.';
            memcpy(o + n, digs + ip, (size_t)(nd - ip));
            n += nd - ip;
        }
    }
    if (form == 2 || form == 3 || form == 6)
        n += sprintf(o + n, "%s%s%d", rndn(2) ? "e" : "E", rndn(2) ? "-" : (rndn(2) ? "+" : ""),
                     (int)rndn(form == 6 ? (unsigned)max_exp : 30));
    o[n] = '\0';
    return n;
}

#endif
