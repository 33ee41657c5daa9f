/* Shared by the JSON scanner's files (jscan.c, jstr.c); nothing outside
 * engine/j*.c includes this. */
#ifndef WEIR_JSCAN_INTERNAL_H
#define WEIR_JSCAN_INTERNAL_H

#include <stdint.h>

/* Whether c is a hex digit. */
static inline int hex4_digit(unsigned c)
{
    return c - '0' < 10 || (c | 0x20) - 'a' < 6;
}

/* Reads 4 hex digits at p into *out; 0 when one is not a hex digit. */
static inline int hex4(const unsigned char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (c - '0' < 10)
            d = c - '0';
        else if ((c | 0x20) - 'a' < 6)
            d = (c | 0x20) - 'a' + 10;
        else
            return 0;
        v = v << 4 | d;
    }
    *out = v;
    return 1;
}

/* Whether the escaped key text raw[0..rawlen) decodes to want[0..wlen). */
int weir_jkey_eq_escaped(const unsigned char *raw, uint32_t rawlen, const char *want,
                         uint32_t wlen);

#endif
