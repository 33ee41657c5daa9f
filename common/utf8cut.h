/* Where to cut UTF-8 text that must be shortened: a cut inside a sequence
 * turns valid text into bytes that are not (a dead letter then needs
 * raw_base64 for all of it), so the cut backs up to the sequence's start. */
#ifndef WEIR_COMMON_UTF8CUT_H
#define WEIR_COMMON_UTF8CUT_H

#include <stddef.h>

/* The length at most n to keep of s, whose byte s[n] exists: n itself
 * when s[n] starts a character (or s is not UTF-8 there), else the start
 * of the sequence that s[n] continues. */
static inline size_t weir_utf8_cut(const char *s, size_t n)
{
    size_t k = n;
    while (k > 0 && n - k < 3 && ((unsigned char)s[k] & 0xC0) == 0x80)
        k--;
    return ((unsigned char)s[k] & 0xC0) == 0x80 ? n : k;
}

/* How much of s's len bytes a message quotes: all of them up to max, else
 * max cut at a whole character (a reason is valid text or needs base64). */
static inline int weir_utf8_prefix(const char *s, size_t len, size_t max)
{
    return (int)(len <= max ? len : weir_utf8_cut(s, max));
}

/* The length to keep of s's n bytes, all that has arrived of a text that
 * goes on: n less a last character whose bytes are not all there. */
static inline size_t weir_utf8_whole(const char *s, size_t n)
{
    size_t k = n;
    while (k > 0 && n - k < 3 && ((unsigned char)s[k - 1] & 0xC0) == 0x80)
        k--;
    if (k == 0)
        return n;
    unsigned char lead = (unsigned char)s[k - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return lead >= 0xC0 && (k - 1) + need > n ? k - 1 : n;
}

#endif
