/* See gunzip.h. Inflation runs on the worker's loop between reads: it is
 * CPU work like parsing, and the reads themselves stay asynchronous. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/gunzip.h"

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
    return 0;
}

void weir_gunzip_free(struct weir_gunzip *g)
{
    if (g->ready)
        inflateEnd(&g->z);
    free(g->in);
    memset(g, 0, sizeof *g);
}

void weir_gunzip_reset(struct weir_gunzip *g)
{
    inflateReset(&g->z);
    g->z.avail_in = 0;
    g->member_end = 0;
}

void weir_gunzip_fed(struct weir_gunzip *g, size_t n)
{
    g->z.next_in = g->in;
    g->z.avail_in = (uInt)n;
    if (n > 0 && g->member_end) { /* another member follows */
        inflateReset(&g->z);
        g->member_end = 0;
    }
}

long weir_gunzip_run(struct weir_gunzip *g, char *out, size_t room, const char **reason)
{
    g->z.next_out = (unsigned char *)out;
    g->z.avail_out = (uInt)room;
    while (g->z.avail_in > 0 && g->z.avail_out > 0) {
        int rc = inflate(&g->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
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
    if (g->member_end)
        return 0;
    *reason = "the gzip data ends early (truncated file)";
    return -1;
}
