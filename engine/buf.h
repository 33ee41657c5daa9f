/* A growable byte buffer: where records, snapshots and JSON output are
 * assembled before they are handed to a sink. A zeroed struct is an empty
 * buffer; memory grows geometrically and is kept across weir_buf_reset, so a
 * buffer reused per batch stops allocating once it has reached its working
 * size. The contents are bytes, not a C string (see weir_buf_cstr). */
#ifndef WEIR_BUF_H
#define WEIR_BUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct weir_buf {
    char *data; /* owned; NULL while nothing was ever reserved */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
};

/* Slow path of weir_buf_reserve: reallocates. Returns 0 or -ENOMEM. */
int weir_buf_grow(struct weir_buf *b, size_t extra);

/* Makes room for at least extra more bytes past len. Returns 0 or -ENOMEM
 * (the buffer is then unchanged). */
static inline int weir_buf_reserve(struct weir_buf *b, size_t extra)
{
    return b->cap - b->len >= extra ? 0 : weir_buf_grow(b, extra);
}

/* memcpy of the short pieces records are made of (keys, numbers, commas)
 * by fixed-size copies the compiler inlines, overlapping where n is not a
 * multiple: a call into libc for each piece cost more than the copying
 * (memcpy was ~4% of the fraud features' samples). */
static inline void weir_copy_short(char *d, const char *s, size_t n)
{
    if (n >= 16) {
        for (size_t i = 0; i + 16 < n; i += 16)
            memcpy(d + i, s + i, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
}

/* memcmp(a, b, n) == 0 for short keys (ids) likewise: fixed-size loads,
 * overlapping where n is not a multiple, instead of a call. */
static inline int weir_equal_short(const char *a, const char *b, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t x, y, x2, y2;
        memcpy(&x, a, 8), memcpy(&y, b, 8);
        memcpy(&x2, a + n - 8, 8), memcpy(&y2, b + n - 8, 8);
        return ((x ^ y) | (x2 ^ y2)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t x, y, x2, y2;
        memcpy(&x, a, 4), memcpy(&y, b, 4);
        memcpy(&x2, a + n - 4, 4), memcpy(&y2, b + n - 4, 4);
        return ((x ^ y) | (x2 ^ y2)) == 0;
    }
    if (n < 4)
        return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1]);
    return memcmp(a, b, n) == 0;
}

/* Appends more than 64 bytes (weir_buf_append's slow path). Out of line:
 * inlined, gcc's range analysis warned about this memcpy at call sites whose
 * pieces can never be that long (-Warray-bounds, a TSan build). */
int weir_buf_append_long(struct weir_buf *b, const void *data, size_t n);

/* Appends n bytes. Returns 0 or -ENOMEM (nothing appended). */
static inline int weir_buf_append(struct weir_buf *b, const void *data, size_t n)
{
    if (n > 64)
        return weir_buf_append_long(b, data, n);
    if (n == 0) /* an empty buffer's data may be NULL: NULL + 0 is undefined */
        return 0;
    if (weir_buf_reserve(b, n) < 0)
        return -ENOMEM;
    weir_copy_short(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

/* Forgets the contents, keeps the memory. */
static inline void weir_buf_reset(struct weir_buf *b)
{
    b->len = 0;
}

/* NUL-terminates the contents (the NUL is not counted in len) and returns
 * them; NULL on -ENOMEM. For logs and tests, not for the hot path. */
char *weir_buf_cstr(struct weir_buf *b);

/* Frees the memory and leaves an empty buffer; accepts NULL. */
void weir_buf_free(struct weir_buf *b);

#endif
