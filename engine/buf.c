/* Growable byte buffer; see buf.h. Only the slow paths live here: the
 * append fast path is inline because output writers call it per field. */
#include "engine/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int weir_buf_grow(struct weir_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len)
        return -ENOMEM;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    /* Doubling keeps appends amortized O(1); 64 avoids tiny reallocs. */
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *data = realloc(b->data, cap);
    if (!data)
        return -ENOMEM;
    b->data = data;
    b->cap = cap;
    return 0;
}

int weir_buf_append_long(struct weir_buf *b, const void *data, size_t n)
{
    if (weir_buf_reserve(b, n) < 0)
        return -ENOMEM;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

char *weir_buf_cstr(struct weir_buf *b)
{
    if (weir_buf_reserve(b, 1) < 0)
        return NULL;
    b->data[b->len] = '\0';
    return b->data;
}

void weir_buf_free(struct weir_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
