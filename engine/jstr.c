/* JSON strings: UTF-8 validation and escape decoding, shared by the scanner
 * (jscan.c) and its callers (weir_jstr_unescape). Split from jscan.c; see
 * jscan.h for what each public function promises. */
#include "engine/jscan.h"
#include "engine/jscan_internal.h"

#include <string.h>

/* ---- UTF-8 and escapes --------------------------------------------------- */

size_t weir_utf8_seqlen(const char *sp, size_t avail)
{
    const unsigned char *p = (const unsigned char *)sp;
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2) /* continuation byte, or overlong C0/C1 */
        return 0;
    if (c < 0xE0)
        return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c < 0xF0) {
        /* E0: no overlong forms (A0..BF); ED: no surrogates (80..9F). */
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c < 0xF5) {
        /* F0: no overlong forms (90..BF); F4: nothing above U+10FFFF (80..8F). */
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
                       (p[3] & 0xC0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

static size_t utf8_put(unsigned char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | cp >> 6);
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12);
        o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18);
    o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes the escape at p (a backslash) into o (up to 4 bytes, never more
 * than it consumes); returns the bytes consumed. Malformed escapes yield the
 * backslash itself, lone surrogates U+FFFD. */
static size_t escape_decode(const unsigned char *p, const unsigned char *end, unsigned char *o,
                            size_t *olen)
{
    static const unsigned char simple[128] = {
        ['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
        ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t',
    };
    *olen = 1;
    o[0] = '\\';
    if (end - p < 2 || p[1] >= 128)
        return 1;
    if (simple[p[1]]) {
        o[0] = simple[p[1]];
        return 2;
    }
    uint32_t cp, lo;
    if (p[1] != 'u' || end - p < 6 || !hex4(p + 2, &cp))
        return 1;
    size_t used = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (end - p >= 12 && p[6] == '\\' && p[7] == 'u' && hex4(p + 8, &lo) && lo >= 0xDC00 &&
            lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            used = 12;
        } else {
            cp = 0xFFFD;
        }
    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        cp = 0xFFFD;
    }
    *olen = utf8_put(o, cp);
    return used;
}

size_t weir_jstr_unescape(const char *src, uint32_t len, char *dst)
{
    const unsigned char *p = (const unsigned char *)src, *end = p + len;
    unsigned char *o = (unsigned char *)dst;
    while (p < end) {
        const unsigned char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            memcpy(o, p, (size_t)(end - p));
            o += end - p;
            break;
        }
        memcpy(o, p, (size_t)(bs - p));
        o += bs - p;
        size_t olen;
        p = bs + escape_decode(bs, end, o, &olen);
        o += olen;
    }
    return (size_t)(o - (unsigned char *)dst);
}

/* Whether the escaped key text raw[0..rawlen) decodes to want[0..wlen). */
int weir_jkey_eq_escaped(const unsigned char *raw, uint32_t rawlen, const char *want,
                         uint32_t wlen)
{
    const unsigned char *p = raw, *end = raw + rawlen;
    uint32_t at = 0;
    while (p < end) {
        unsigned char buf[4];
        size_t n = 1;
        if (*p == '\\') {
            p += escape_decode(p, end, buf, &n);
        } else {
            buf[0] = *p++;
        }
        if (wlen - at < n || memcmp(want + at, buf, n) != 0)
            return 0;
        at += (uint32_t)n;
    }
    return at == wlen;
}

int weir_utf8_valid(const char *p, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = weir_utf8_seqlen(p + i, n - i)))
            return 0;
    return 1;
}
