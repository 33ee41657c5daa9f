/* Streaming gzip decompression for the file source: compressed bytes come in
 * through the loop's reads, lines come out. Concatenated members (what `cat
 * a.gz b.gz` and pigz make) are one stream; a file that ends inside a member
 * is an error, not a silently short input. Zero bytes after the last member
 * (the padding tape and block tools leave; gzip -d takes it) are ignored;
 * anything else after it is an error that says where it starts.
 *
 * Built with libdeflate (WEIR_HAVE_LIBDEFLATE), a member that lies whole in
 * a short read (the file's end is in it) and whose output fits the room
 * given is inflated by libdeflate in one call, ~2.8x faster than zlib on the
 * fraud data set's daily files; anything else streams through zlib. */
#ifndef WEIR_GUNZIP_H
#define WEIR_GUNZIP_H

#include <stddef.h>
#include <zlib.h>

struct libdeflate_decompressor;

struct weir_gunzip {
    z_stream z;
    struct libdeflate_decompressor *whole; /* NULL without libdeflate */
    int short_read;      /* the bytes pending came from a read that did not fill in */
    int in_member;       /* zlib has begun the member at next_in: it must finish it */
    unsigned char *in;   /* compressed bytes read, not yet inflated */
    size_t in_cap;
    int member_end;      /* the last member ended exactly at the input's end so far */
    int ready;           /* inflateInit2 succeeded */
    int ended_one;       /* a member ended: what follows is another one, padding or an error */
    int padding;         /* past the last member, in zero bytes: nothing else may follow */
    unsigned long long in_base; /* the file's offset of in[0] (compressed bytes) */
    size_t in_fed;       /* bytes fed into in */
    char why[80];        /* a reason with an offset in it */
};

int weir_gunzip_init(struct weir_gunzip *g, size_t in_cap); /* 0 or -ENOMEM */
void weir_gunzip_free(struct weir_gunzip *g);
/* For the next file. */
void weir_gunzip_reset(struct weir_gunzip *g);
/* Compressed bytes are waiting to be inflated. */
static inline int weir_gunzip_pending(const struct weir_gunzip *g)
{
    return g->z.avail_in > 0;
}
/* Where the next read of compressed bytes lands (only when none are pending). */
static inline void *weir_gunzip_space(struct weir_gunzip *g, size_t *room)
{
    *room = g->in_cap;
    return g->in;
}
void weir_gunzip_fed(struct weir_gunzip *g, size_t n);
/* Inflates pending bytes into out; returns the bytes produced (0: needs more
 * input), or -1 with why in *reason. */
long weir_gunzip_run(struct weir_gunzip *g, char *out, size_t room, const char **reason);
/* At the compressed input's end: 0 when the data ended on a member's end,
 * -1 (truncated) otherwise. */
int weir_gunzip_finish(const struct weir_gunzip *g, const char **reason);

#endif
