/* Line framing (see linesplit.h). */
#include "connectors/linesplit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8cut.h"

int weir_linesplit_init(struct weir_linesplit *ls, size_t read_size, size_t max_line)
{
    memset(ls, 0, sizeof *ls);
    ls->read_size = read_size;
    ls->max_line = max_line;
    ls->cap = read_size + max_line + 1;
    ls->buf = malloc(ls->cap);
    return ls->buf ? 0 : -ENOMEM;
}

void weir_linesplit_free(struct weir_linesplit *ls)
{
    free(ls->lent ? ls->own : ls->buf);
    ls->buf = ls->own = NULL;
    ls->lent = 0;
}

/* n bytes from src at the start of *buf, grown to hold them and a read
 * after them. Returns 0 or -ENOMEM. */
static int hold_bytes(const struct weir_linesplit *ls, char **buf, size_t *cap, const char *src,
                      size_t n)
{
    if (n + ls->read_size + 1 > *cap) {
        char *grown = realloc(*buf, n + ls->read_size + 1);
        if (!grown)
            return -ENOMEM;
        *buf = grown;
        *cap = n + ls->read_size + 1;
    }
    memmove(*buf, src, n);
    return 0;
}

int weir_linesplit_lend(struct weir_linesplit *ls, const char *data, size_t len)
{
    if (ls->lent || ls->start != ls->end || ls->oversize)
        return -1;
    ls->own = ls->buf;
    ls->own_cap = ls->cap;
    ls->buf = (char *)data; /* never written: only space() writes, and not while lent */
    ls->cap = len;
    ls->start = ls->end = 0;
    ls->lent = 1;
    weir_linesplit_commit(ls, len); /* the byte-order mark's check */
    return 0;
}

int weir_linesplit_unlend(struct weir_linesplit *ls)
{
    if (!ls->lent)
        return 0;
    size_t n = ls->end - ls->start;
    if (hold_bytes(ls, &ls->own, &ls->own_cap, ls->buf + ls->start, n) < 0)
        return -ENOMEM;
    ls->buf = ls->own;
    ls->cap = ls->own_cap;
    ls->own = NULL;
    ls->start = 0;
    ls->end = n;
    ls->lent = 0;
    return 0;
}

int weir_linesplit_carry(struct weir_linesplit *ls, const struct weir_linesplit *from)
{
    size_t n = from->end - from->start;
    if (hold_bytes(ls, &ls->buf, &ls->cap, from->buf + from->start, n) < 0)
        return -ENOMEM;
    ls->start = 0;
    ls->end = n;
    ls->line_no = from->line_no;
    ls->oversize = from->oversize;
    memcpy(ls->prefix, from->prefix, from->prefix_len);
    ls->prefix_len = from->prefix_len;
    ls->bom_checked = from->bom_checked;
    return 0;
}

char *weir_linesplit_space(struct weir_linesplit *ls, size_t *room)
{
    if (ls->start > 0) {
        memmove(ls->buf, ls->buf + ls->start, ls->end - ls->start);
        ls->end -= ls->start;
        ls->start = 0;
    }
    size_t free_bytes = ls->cap - ls->end;
    *room = free_bytes < ls->read_size ? free_bytes : ls->read_size;
    return ls->buf + ls->end;
}

/* Only the stream's first 3 bytes may be a UTF-8 byte-order mark, which is
 * not part of the first record. They may come a byte at a time (a pipe):
 * until they have been told apart from data, next() hands out no line, so
 * they are still at buf + start here. */
void weir_linesplit_commit(struct weir_linesplit *ls, size_t n)
{
    ls->end += n;
    if (ls->bom_checked)
        return;
    size_t have = ls->end - ls->start < 3 ? ls->end - ls->start : 3;
    if (memcmp(ls->buf + ls->start, "\xEF\xBB\xBF", have) != 0) {
        ls->bom_checked = 1; /* data from the first byte that differs */
    } else if (have == 3) {
        ls->bom_checked = 1;
        ls->start += 3;
    }
}

static size_t trim_cr(const char *p, size_t len)
{
    return len > 0 && p[len - 1] == '\r' ? len - 1 : len;
}

/* An oversized line: keep a prefix, count the rest, return it when it ends. */
static int skip_oversize(struct weir_linesplit *ls, int at_eof, struct weir_line *line)
{
    char *nl = memchr(ls->buf + ls->start, '\n', ls->end - ls->start);
    size_t upto = nl ? (size_t)(nl - ls->buf) : ls->end;
    ls->oversize += upto - ls->start;
    ls->start = nl ? upto + 1 : upto;
    if (!nl && !at_eof)
        return 0;
    line->p = ls->prefix;
    line->len = ls->prefix_len;
    line->no = ++ls->line_no;
    line->too_long = ls->oversize;
    ls->oversize = 0;
    return 1;
}

int weir_linesplit_next(struct weir_linesplit *ls, int at_eof, struct weir_line *line)
{
    if (!ls->bom_checked) {
        if (!at_eof && ls->end > ls->start)
            return 0; /* 1 or 2 bytes of what may be a byte-order mark: wait for more */
        ls->bom_checked = ls->end > ls->start; /* a stream that short is data */
    }
    if (ls->oversize)
        return skip_oversize(ls, at_eof, line);
    size_t avail = ls->end - ls->start;
    if (avail == 0)
        return 0;
    char *p = ls->buf + ls->start;
    char *nl = memchr(p, '\n', avail);
    /* One byte more than max_line may be the CR of a CRLF still waiting for its LF. */
    if (!nl && avail > ls->max_line + 1) {
        /* the line goes on past avail: a character it cuts is left out too */
        ls->prefix_len = avail <= sizeof ls->prefix ? weir_utf8_whole(p, avail)
                                                    : weir_utf8_cut(p, sizeof ls->prefix);
        memcpy(ls->prefix, p, ls->prefix_len);
        ls->oversize = avail;
        ls->start = ls->end;
        return skip_oversize(ls, at_eof, line);
    }
    if (!nl && !at_eof)
        return 0;
    size_t len = nl ? (size_t)(nl - p) : avail;
    ls->start += nl ? len + 1 : len;
    line->too_long = 0;
    line->no = ++ls->line_no;
    if (trim_cr(p, len) > ls->max_line) { /* a complete line that is still too long (CR not counted) */
        line->p = p;
        line->len = len <= sizeof ls->prefix ? len : weir_utf8_cut(p, sizeof ls->prefix);
        line->too_long = len;
        return 1;
    }
    line->p = p;
    line->len = trim_cr(p, len);
    return 1;
}
