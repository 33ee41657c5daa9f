/* See gunzip.h. Inflation runs on the worker's loop between reads: it is
 * CPU work like parsing, and the reads themselves stay asynchronous. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/gunzip.h"

#ifdef WEIR_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

int weir_gunzip_init(struct weir_gunzip *g, size_t in_cap)
{
    memset(g, 0, sizeof *g);
    if (!(g->in = malloc(in_cap)))
        return -ENOMEM;
    g->in_cap = in_cap;
    if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) { /* 16: gzip framing only */
        free(g->in);
        g->in = NULL;
        return -ENOMEM;
    }
    g->ready = 1;
#ifdef WEIR_HAVE_LIBDEFLATE
    g->whole = libdeflate_alloc_decompressor(); /* NULL: zlib alone, as without */
#endif
    return 0;
}

void weir_gunzip_free(struct weir_gunzip *g)
{
    if (g->ready)
        inflateEnd(&g->z);
#ifdef WEIR_HAVE_LIBDEFLATE
    if (g->whole)
        libdeflate_free_decompressor(g->whole);
#endif
    free(g->in);
    memset(g, 0, sizeof *g);
}

void weir_gunzip_reset(struct weir_gunzip *g)
{
    inflateReset(&g->z);
    g->z.avail_in = 0;
    g->member_end = 0;
    g->in_member = 0;
    g->ended_one = 0;
    g->padding = 0;
    g->in_base = 0;
    g->in_fed = 0;
}

void weir_gunzip_fed(struct weir_gunzip *g, size_t n)
{
    g->in_base += g->in_fed; /* the bytes before were all taken */
    g->in_fed = n;
    g->z.next_in = g->in;
    g->z.avail_in = (uInt)n;
    g->short_read = n < g->in_cap;
    if (n > 0 && g->member_end) { /* another member follows */
        inflateReset(&g->z);
        g->member_end = 0;
        g->in_member = 0;
    }
}

/* The member at next_in inflated by libdeflate in one call: 1 when done,
 * 0 when it is not whole in the input or its output does not fit (zlib
 * then streams it, and reports what is wrong with it, if anything). */
static int whole_member(struct weir_gunzip *g)
{
#ifdef WEIR_HAVE_LIBDEFLATE
    size_t in_used = 0, out_used = 0;
    if (!g->whole || !g->short_read ||
        libdeflate_gzip_decompress_ex(g->whole, g->z.next_in, g->z.avail_in, g->z.next_out,
                                      g->z.avail_out, &in_used, &out_used) != LIBDEFLATE_SUCCESS)
        return 0;
    g->z.next_in += in_used;
    g->z.avail_in -= (uInt)in_used;
    g->z.next_out += out_used;
    g->z.avail_out -= (uInt)out_used;
    g->member_end = g->z.avail_in == 0;
    return 1;
#else
    (void)g;
    return 0;
#endif
}

/* What follows a member that ended: another member (its magic bytes; the
 * second one may be in the next read), or zero bytes, taken as padding up
 * to the input's end. Anything else, and anything but zeros after them, is
 * refused where it starts: zlib would call it "incorrect header check".
 * Returns 1 when a member follows, 0 when the input so far was padding, or
 * -1 with *reason set. */
static int after_member(struct weir_gunzip *g, const char **reason)
{
    const unsigned char *p = g->z.next_in;
    size_t n = g->z.avail_in, zeros = 0;
    if (!g->padding && p[0] == 0x1f && (n < 2 || p[1] == 0x8b))
        return 1;
    while (zeros < n && p[zeros] == 0)
        zeros++;
    g->padding |= zeros > 0;
    g->z.next_in += zeros;
    g->z.avail_in -= (uInt)zeros;
    if (g->z.avail_in == 0) {
        g->member_end = 1; /* the stream may end here */
        return 0;
    }
    snprintf(g->why, sizeof g->why, "trailing data after the gzip stream at byte %llu",
             g->in_base + (unsigned long long)(g->z.next_in - g->in));
    *reason = g->why;
    return -1;
}

long weir_gunzip_run(struct weir_gunzip *g, char *out, size_t room, const char **reason)
{
    g->z.next_out = (unsigned char *)out;
    g->z.avail_out = (uInt)room;
    while (g->z.avail_in > 0 && g->z.avail_out > 0) {
        if (!g->in_member && g->ended_one) {
            int next = after_member(g, reason);
            if (next < 0)
                return -1;
            if (next == 0)
                break;
        }
        if (!g->in_member && whole_member(g)) {
            g->ended_one = 1;
            continue;
        }
        g->in_member = 1;
        int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            g->in_member = 0;
            g->ended_one = 1;
            if (g->z.avail_in == 0) {
                g->member_end = 1;
                break;
            }
            inflateReset(&g->z);
            continue;
        }
        if (rc == Z_BUF_ERROR)
            break;
        if (rc != Z_OK) {
            *reason = g->z.msg ? g->z.msg : "corrupt gzip data";
            return -1;
        }
    }
    return (long)(room - g->z.avail_out);
}

int weir_gunzip_finish(const struct weir_gunzip *g, const char **reason)
{
    /* An empty file is empty however it is named: a rotation or a day
     * with nothing to log leaves a 0-byte .gz in a directory of them. */
    if (g->member_end || g->in_base + g->in_fed == 0)
        return 0;
    *reason = "the gzip data ends early (truncated file)";
    return -1;
}
