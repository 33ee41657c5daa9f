/* The line framer (connectors/linesplit.c) and CSV rows (connectors/csv.c)
 * on arbitrary bytes, read the way a pipe delivers them.
 *
 * Input: byte 0 picks the read size (1..64 bytes), byte 1 the line limit
 * (1..128 bytes), byte 2 CSV or not, the delimiter, and whether reads are
 * lent to the framer where nothing is pending (as the gzip helper's pieces
 * are; weir_linesplit_lend) or copied in; the rest is the stream.
 * Invariants: lines come out numbered 1, 2, ... without '\n'; a line
 * over the limit is marked too long; when no line is over the limit, the
 * lines are exactly the stream's (its leading byte-order mark dropped, one
 * '\r' before each '\n' or at the end dropped); a CSV row that converts is
 * a JSON object jansson reads back. */
#include <jansson.h>
#include <string.h>

#include "connectors/csv.h"
#include "connectors/linesplit.h"
#include "tests/fuzz/fuzz.h"

struct expect {
    const char *p, *end; /* what is left of the stream */
    int exact;           /* every line is within the limit: compare */
};

/* The next line the stream should give, as the oracle sees it. */
static int expected_line(struct expect *e, const char **p, size_t *len)
{
    if (e->p >= e->end)
        return 0;
    const char *nl = memchr(e->p, '\n', (size_t)(e->end - e->p));
    const char *stop = nl ? nl : e->end;
    *p = e->p;
    *len = (size_t)(stop - e->p);
    if (*len && (*p)[*len - 1] == '\r')
        (*len)--;
    e->p = nl ? nl + 1 : e->end;
    return 1;
}

static void check_csv(struct weir_csv_header *h, int *have_header, const struct weir_line *ln,
                      char delim)
{
    static struct weir_buf out;
    char reason[160];
    if (!*have_header) {
        const char *why = NULL;
        *have_header = weir_csv_header_parse(h, ln->p, ln->len, delim, &why) == 0;
        FUZZ_ASSERT(*have_header || why);
        return;
    }
    weir_buf_reset(&out);
    (void)weir_csv_ends_in_quote(ln->p, ln->len, delim, 1); /* a continuation line's reading */
    if (weir_csv_row_to_json(h, ln->p, ln->len, &out, reason, sizeof reason) < 0) {
        FUZZ_ASSERT(reason[0]);
        return;
    }
    /* A row that parses ends outside any quote. */
    FUZZ_ASSERT(!weir_csv_ends_in_quote(ln->p, ln->len, delim, 0));
    json_error_t e;
    json_t *j = json_loadb(out.data, out.len, JSON_ALLOW_NUL, &e);
    FUZZ_ASSERT(j || json_error_code(&e) == json_error_numeric_overflow); /* jansson's limit */
    FUZZ_ASSERT(!j || json_is_object(j));
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t step = 1 + data[0] % 64, max_line = 1 + data[1] % 128;
    int csv = data[2] & 1;
    char delim = data[2] & 2 ? ';' : ',';
    int lend = data[2] & 4;
    const char *stream = (const char *)data + 3;
    size_t len = size - 3;

    struct expect e = {stream, stream + len, 1};
    if (len >= 3 && memcmp(stream, "\xEF\xBB\xBF", 3) == 0)
        e.p += 3;
    const char *p;
    size_t plen;
    for (struct expect scan = e; expected_line(&scan, &p, &plen);)
        e.exact &= plen <= max_line;

    struct weir_linesplit ls;
    struct weir_line ln;
    struct weir_csv_header h;
    int have_header = 0;
    uint64_t lines = 0;
    FUZZ_ASSERT(weir_linesplit_init(&ls, step, max_line) == 0);
    for (size_t at = 0, n = 1; n > 0; at += n) { /* the last read returns 0: end of input */
        if (lend)
            FUZZ_ASSERT(weir_linesplit_unlend(&ls) == 0); /* a partial line copied back */
        if (lend && weir_linesplit_pending(&ls) == 0) {
            n = len - at < step ? len - at : step;
            FUZZ_ASSERT(weir_linesplit_lend(&ls, stream + at, n) == 0); /* never written */
        } else {
            size_t room;
            char *dst = weir_linesplit_space(&ls, &room);
            FUZZ_ASSERT(room > 0);
            n = len - at < room ? len - at : room;
            memcpy(dst, stream + at, n);
            weir_linesplit_commit(&ls, n);
        }
        while (weir_linesplit_next(&ls, n == 0, &ln)) {
            FUZZ_ASSERT(ln.no == ++lines);
            FUZZ_ASSERT(ln.too_long ? ln.len <= sizeof ls.prefix : ln.len <= max_line);
            FUZZ_ASSERT(ln.too_long || !memchr(ln.p, '\n', ln.len));
            if (e.exact) {
                FUZZ_ASSERT(!ln.too_long);
                FUZZ_ASSERT(expected_line(&e, &p, &plen));
                FUZZ_ASSERT(plen == ln.len && memcmp(p, ln.p, plen) == 0);
            }
            if (csv && !ln.too_long)
                check_csv(&h, &have_header, &ln, delim);
        }
    }
    FUZZ_ASSERT(!e.exact || !expected_line(&e, &p, &plen)); /* nothing was lost */
    if (have_header)
        weir_csv_header_free(&h);
    weir_linesplit_free(&ls);
    return 0;
}
