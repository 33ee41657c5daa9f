/* Line framing for file and stdin sources: a read buffer that yields complete
 * lines, carries a partial line over to the next read, and turns a line longer
 * than the limit into one "too long" line instead of growing without bound. */
#ifndef WEIR_LINESPLIT_H
#define WEIR_LINESPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct weir_linesplit {
    char *buf;
    size_t cap;      /* max_line + read_size */
    size_t read_size;
    size_t max_line;
    size_t start;    /* first unconsumed byte */
    size_t end;      /* bytes in buf */
    uint64_t line_no;      /* number of the last line returned (1-based) */
    size_t oversize;       /* > 0 while skipping a line past max_line: bytes seen */
    char prefix[1024];     /* the start of the oversized line, for the dead letter */
    size_t prefix_len;
    int bom_checked;       /* the stream's first bytes were told apart from a BOM */
    int lent;              /* buf is lent bytes (lend()); own and own_cap are ours */
    char *own;
    size_t own_cap;
};

struct weir_line {
    const char *p;
    size_t len;        /* without '\n' or "\r\n" */
    uint64_t no;
    size_t too_long;   /* nonzero: the line had this many bytes; p holds a prefix */
};

int weir_linesplit_init(struct weir_linesplit *ls, size_t read_size, size_t max_line);
void weir_linesplit_free(struct weir_linesplit *ls);
/* Where the next read should land, and how much room there is. Compacts. */
char *weir_linesplit_space(struct weir_linesplit *ls, size_t *room);
void weir_linesplit_commit(struct weir_linesplit *ls, size_t n);
/* Lines straight from data[0, len), not copied (a whole file inflated on a
 * helper thread): only when nothing is pending. data is only read, and must
 * stay until unlend() or free(); space() must not be called meanwhile.
 * Returns 0, or -1 (copy it in instead). */
int weir_linesplit_lend(struct weir_linesplit *ls, const char *data, size_t len);
/* Back to the own buffer, with what is left of the lent bytes copied into it.
 * Returns 0 or -ENOMEM. */
int weir_linesplit_unlend(struct weir_linesplit *ls);
/* Next complete line; at_eof: the remaining bytes are the last line. Returns
 * 1 with *line set, or 0 when more input is needed. */
/* A reload's new reader goes on where from stopped: from's unconsumed bytes
 * (grown into, if they do not fit), its line count, its byte-order-mark
 * check and a long line it was skipping. Returns 0 or -ENOMEM. */
int weir_linesplit_carry(struct weir_linesplit *ls, const struct weir_linesplit *from);
/* Bytes of the stream taken so far that no line returned yet covers: the
 * unconsumed ones and a long line being skipped. */
static inline size_t weir_linesplit_pending(const struct weir_linesplit *ls)
{
    return ls->end - ls->start + ls->oversize;
}
int weir_linesplit_next(struct weir_linesplit *ls, int at_eof, struct weir_line *line);

/* 3 when a stream's first bytes data[0, len) are a UTF-8 byte-order mark,
 * else 0: for the readers of a file's start at load, which skip it as the
 * run does. */
static inline size_t weir_linesplit_bom_len(const char *data, size_t len)
{
    return len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

#endif
