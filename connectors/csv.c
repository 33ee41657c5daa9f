/* CSV to JSON objects (see csv.h). */
#include "connectors/csv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonnum.h"
#include "common/utf8cut.h"
#include "engine/jscan.h"
#include "engine/jsonw.h"
#include "engine/opstate.h"

#if defined(__SSE2__) && !defined(WEIR_JSCAN_NO_SIMD)
#include <emmintrin.h>
#define CSV_SSE2 1
#endif

/* One field starting at *pos: unquoted, or quoted with "" for a quote.
 * Unquoted bytes are returned in place; quoted ones are unescaped into tmp. */
static int next_field(const char *line, size_t len, size_t *pos, char delim, const char **f,
                      size_t *flen, int *quoted, struct weir_buf *tmp)
{
    size_t i = *pos;
    *quoted = i < len && line[i] == '"';
    if (!*quoted) {
        size_t end = i; /* fields are short: a loop, not a call to memchr */
        while (end < len && line[end] != delim)
            end++;
        *f = line + i;
        *flen = end - i;
        *pos = end;
        return 0;
    }
    tmp->len = 0;
    for (i++; i < len; i++) {
        if (line[i] == '"') {
            if (i + 1 < len && line[i + 1] == '"') {
                if (weir_buf_append(tmp, "\"", 1) < 0)
                    return -ENOMEM; /* not a field cut short, written as valid */
                i++;
                continue;
            }
            *f = tmp->data ? tmp->data : "";
            *flen = tmp->len;
            *pos = i + 1;
            return *pos == len || line[*pos] == delim ? 0 : -EILSEQ;
        }
        if (weir_buf_append(tmp, line + i, 1) < 0)
            return -ENOMEM;
    }
    return -EINVAL; /* unterminated quote */
}

static int split(const char *line, size_t len, char delim, size_t max, const char **fs,
                 size_t *lens, int *quoted, struct weir_buf *tmps, size_t *n)
{
    size_t pos = 0, k = 0;
    for (;;) {
        if (k == max)
            return -E2BIG;
        int rc = next_field(line, len, &pos, delim, &fs[k], &lens[k], &quoted[k], &tmps[k]);
        if (rc < 0)
            return rc; /* -EINVAL: unterminated quote; -EILSEQ: text after a closing quote;
                          -ENOMEM */
        k++;
        if (pos >= len)
            break;
        pos++; /* the delimiter */
        if (pos == len) { /* a trailing delimiter: one more, empty field */
            if (k == max)
                return -E2BIG;
            fs[k] = line + pos;
            lens[k] = 0;
            quoted[k++] = 0;
            break;
        }
    }
    *n = k;
    return 0;
}

/* What the byte scan of a short line (at most 64 bytes) learnt of each
 * byte, bit j for line[j], so that a field's value is told a number or
 * plain text by a mask instead of another loop over its bytes. */
struct csv_classes {
    int valid;
    uint64_t nondigit; /* not '0'..'9' */
    uint64_t unplain;  /* not copied into a JSON string as is: a control byte, non-ASCII, '\\' */
};

/* The bits of field [off, off + len) of a short line. */
static inline uint64_t field_bits(uint64_t mask, size_t off, size_t len)
{
    uint64_t span = len >= 64 ? ~0ull : (1ull << len) - 1;
    return (mask >> off) & span;
}

#ifdef CSV_SSE2
/* Bit j set where p[j] == c, for the 16 bytes at p. */
static inline uint32_t chunk_mask(const char *p, char c)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    return (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}

/* csv_classes' two masks for the 16 bytes at p (signed compares: bytes from
 * 0x80 on are negative, below ' ' and not digits). */
static inline void chunk_classes(const char *p, uint32_t *nondigit, uint32_t *unplain)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(' ')),
                               _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    *nondigit = (uint32_t)_mm_movemask_epi8(digit) ^ 0xFFFFu;
    *unplain = (uint32_t)_mm_movemask_epi8(bad);
}

static inline int byte_unplain(unsigned char c)
{
    return c < 0x20 || c >= 0x80 || c == '\\';
}

/* split for the common line with no quote: the delimiters of 16 bytes at a
 * time as a bit mask (the last, partial 16 from a load that ends at the
 * line's end), the fields read off its set bits, instead of a compare and
 * a branch per byte. -EAGAIN, with nothing split, when a quote is in the
 * line. */
static int split_unquoted(const char *line, size_t len, char delim, size_t max, const char **fs,
                          size_t *lens, int *quoted, size_t *n, struct csv_classes *cls)
{
    size_t k = 0, start = 0;
    uint64_t nondigit = 0, unplain = 0;
    int classify = cls && len <= 64;
    for (size_t at = 0; at < len; at += 16) {
        uint32_t dm = 0, qm = 0, nd = 0, up = 0;
        if (len - at >= 16) {
            dm = chunk_mask(line + at, delim);
            qm = chunk_mask(line + at, '"');
            if (classify)
                chunk_classes(line + at, &nd, &up);
        } else if (len >= 16) {
            size_t shift = 16 - (len - at);
            dm = chunk_mask(line + len - 16, delim) >> shift;
            qm = chunk_mask(line + len - 16, '"') >> shift;
            if (classify) {
                chunk_classes(line + len - 16, &nd, &up);
                nd >>= shift;
                up >>= shift;
            }
        } else {
            for (size_t j = 0; j < len; j++) {
                unsigned char c = (unsigned char)line[j];
                dm |= (uint32_t)(c == (unsigned char)delim) << j;
                qm |= (uint32_t)(c == '"') << j;
                nd |= (uint32_t)(c < '0' || c > '9') << j;
                up |= (uint32_t)byte_unplain(c) << j;
            }
        }
        if (qm)
            return -EAGAIN;
        if (classify) {
            nondigit |= (uint64_t)nd << at;
            unplain |= (uint64_t)up << at;
        }
        for (; dm; dm &= dm - 1) {
            size_t end = at + (size_t)__builtin_ctz(dm);
            if (k == max)
                return -E2BIG;
            fs[k] = line + start;
            lens[k] = end - start;
            quoted[k++] = 0;
            start = end + 1;
        }
    }
    if (k == max)
        return -E2BIG;
    fs[k] = line + start;
    lens[k] = len - start;
    quoted[k++] = 0;
    *n = k;
    if (classify)
        *cls = (struct csv_classes){1, nondigit, unplain};
    return 0;
}
#endif

/* split, the fast way when it can. */
static int split_row(const char *line, size_t len, char delim, size_t max, const char **fs,
                     size_t *lens, int *quoted, struct weir_buf *tmps, size_t *n,
                     struct csv_classes *cls)
{
    cls->valid = 0;
#ifdef CSV_SSE2
    int rc = split_unquoted(line, len, delim, max, fs, lens, quoted, n, cls);
    if (rc != -EAGAIN)
        return rc;
#endif
    return split(line, len, delim, max, fs, lens, quoted, tmps, n);
}

/* Writes each column's `"name":` once, and the rows' shape: a hash of the
 * names, or 0 when one of them is not written as is (escaped, or not UTF-8). */
static int header_keys(struct weir_csv_header *h)
{
    uint64_t shape = 0x9e3779b97f4a7c15ull;
    int as_is = 1;
    for (size_t k = 0; k < h->n; k++) {
        size_t start = h->keys.len, len = strlen(h->names[k]);
        if (weir_jsonw_key(&h->keys, h->names[k]) < 0)
            return -ENOMEM;
        h->key_end[k] = (uint32_t)h->keys.len;
        as_is &= h->keys.len - start == len + 3 &&
                 memcmp(h->keys.data + start + 1, h->names[k], len) == 0;
        shape = weir_hash_str(weir_hash_u64(shape, k), h->names[k]);
    }
    h->shape = as_is ? shape | 1u : 0;
    return 0;
}

/* Two columns of one name would make each row an object with a repeated
 * key, one of the two values out of reach (JSON's last one wins): refused,
 * as an empty name is. Returns 0 or -EINVAL with *reason set (into h). */
static int repeated_name(struct weir_csv_header *h, const char **reason)
{
    for (size_t k = 1; k < h->n; k++)
        for (size_t j = 0; j < k; j++)
            if (strcmp(h->names[j], h->names[k]) == 0) {
                snprintf(h->why, sizeof h->why,
                         "CSV header has a repeated column name \"%.*s\" (columns %zu and %zu)",
                         weir_utf8_prefix(h->names[k], strlen(h->names[k]), 60), h->names[k], j + 1,
                         k + 1);
                *reason = h->why;
                return -EINVAL;
            }
    return 0;
}

static int valid_utf8(const char *s, size_t n);

int weir_csv_header_parse(struct weir_csv_header *h, const char *line, size_t len, char delim,
                          const char **reason)
{
    const char *fs[WEIR_CSV_MAX_COLS];
    size_t lens[WEIR_CSV_MAX_COLS];
    int quoted[WEIR_CSV_MAX_COLS];
    memset(h, 0, sizeof *h);
    h->delim = delim;
    int rc = split(line, len, delim, WEIR_CSV_MAX_COLS, fs, lens, quoted, h->quoted, &h->n);
    if (rc == -E2BIG)
        *reason = "CSV header has more than 256 columns";
    else if (rc == -EILSEQ)
        *reason = "CSV header has text after a closing quote";
    else if (rc < 0 && rc != -ENOMEM)
        *reason = "CSV header has an unterminated quote";
    for (size_t k = 0; rc == 0 && k < h->n; k++) {
        h->names[k] = strndup(fs[k], lens[k]);
        if (!h->names[k])
            rc = -ENOMEM;
        else if (lens[k] == 0)
            *reason = "CSV header has an empty column name", rc = -EINVAL;
        else if (!valid_utf8(fs[k], lens[k])) { /* two such names could become one key */
            snprintf(h->why, sizeof h->why, "CSV header: column %zu's name is not valid UTF-8 "
                     "(convert the file, e.g. iconv -f latin1 -t utf-8)", k + 1);
            *reason = h->why, rc = -EINVAL;
        }
    }
    if (rc == 0)
        rc = repeated_name(h, reason);
    if (rc == 0)
        rc = header_keys(h);
    if (rc < 0)
        weir_csv_header_free(h);
    return rc;
}

void weir_csv_header_free(struct weir_csv_header *h)
{
    weir_buf_free(&h->keys);
    for (size_t k = 0; k < h->n; k++)
        free(h->names[k]);
    for (size_t k = 0; k < WEIR_CSV_MAX_COLS; k++)
        weir_buf_free(&h->quoted[k]);
    h->n = 0;
}

/* Room for a row's object but its string values: braces, keys, a comma and
 * "null" per field, the number fields' bytes. */
static size_t row_room(const struct weir_csv_header *h, size_t n, size_t len)
{
    return 2 + h->keys.len + 5 * n + len;
}

/* Whether text goes into a JSON string as it is (what weir_jsonw_string
 * copies unchanged): ASCII from the space on, but the quote and the
 * backslash. */
static int plain_text(const char *s, size_t n)
{
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bad |= (unsigned)(c < 0x20) | (unsigned)(c >= 0x80) | (unsigned)(c == '"') |
               (unsigned)(c == '\\');
    }
    return !bad;
}

/* Whether text is UTF-8 throughout. A field that is not would become a JSON
 * string with U+FFFD for each bad byte: two different values (Latin-1
 * names, say) would become one key. */
static int valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = (unsigned char)s[i] < 0x80 ? 1 : weir_utf8_seqlen(s + i, n - i);
        if (!len)
            return 0;
        i += len;
    }
    return 1;
}

/* Writes field k's value at out->data + *at, where the caller reserved
 * room: numbers, nulls and plain strings (ids, dates) in place; other
 * strings through weir_jsonw_string, after which the room is reserved
 * again. *at moves past the value; the
 * member is filled when m is not NULL (base: where the object starts in
 * out). 0, -EILSEQ (not UTF-8) or -ENOMEM. */
enum field_hint {
    FIELD_ANY,    /* nothing known */
    FIELD_DIGITS, /* digits, no leading zero: a JSON number */
    FIELD_PLAIN,  /* plain text, if it is not a number */
};

/* What the line's classes tell of unquoted field f (inside line). */
static enum field_hint field_hint(const struct csv_classes *cls, const char *line, const char *f,
                                  size_t flen)
{
    if (!cls->valid || flen == 0)
        return FIELD_ANY;
    size_t off = (size_t)(f - line);
    if (!field_bits(cls->nondigit, off, flen) && (flen == 1 || f[0] != '0'))
        return FIELD_DIGITS;
    return field_bits(cls->unplain, off, flen) ? FIELD_ANY : FIELD_PLAIN;
}

/* How much of a column's name a reason quotes: 60 bytes at most, cut at a
 * whole UTF-8 character. */
static int name_quoted(const char *name)
{
    return weir_utf8_prefix(name, strlen(name), 60);
}

static int put_value(struct weir_buf *out, size_t *at, const char *f, size_t flen, int quoted,
                     enum field_hint hint, size_t base, struct weir_member *m, size_t room)
{
    size_t start = *at;
    uint8_t type;
    int escaped = 0;
    if (flen == 0 && !quoted) {
        memcpy(out->data + start, "null", 4);
        *at += 4;
        type = WEIR_JNULL;
    } else if (!quoted && (hint == FIELD_DIGITS || weir_json_number_valid(f, flen))) {
        weir_copy_short(out->data + start, f, flen);
        *at += flen;
        type = WEIR_JNUMBER;
    } else if (hint == FIELD_PLAIN || plain_text(f, flen)) { /* 2 quotes: the room of a "null" */
        out->data[start] = '"';
        weir_copy_short(out->data + start + 1, f, flen);
        out->data[start + 1 + flen] = '"';
        *at += flen + 2;
        type = WEIR_JSTRING;
    } else if (!valid_utf8(f, flen)) {
        return -EILSEQ;
    } else {
        out->len = start;
        if (weir_jsonw_string(out, f, flen) < 0 || weir_buf_reserve(out, room) < 0)
            return -ENOMEM;
        *at = out->len;
        type = WEIR_JSTRING;
        escaped = memchr(out->data + start + 1, '\\', *at - start - 2) != NULL;
    }
    if (!m)
        return 0;
    m->type = type;
    m->val_off = (uint32_t)(start - base);
    m->val_len = (uint32_t)(*at - start);
    m->escaped = (uint8_t)escaped;
    if (type == WEIR_JSTRING) { /* between the quotes */
        m->val_off++;
        m->val_len -= 2;
    }
    return 0;
}

int weir_csv_row_members(struct weir_csv_header *h, const char *line, size_t len,
                         struct weir_buf *out, struct weir_members *members, char *reason,
                         size_t reason_size)
{
    const char *fs[WEIR_CSV_MAX_COLS];
    size_t lens[WEIR_CSV_MAX_COLS], n = 0;
    int quoted[WEIR_CSV_MAX_COLS];
    struct csv_classes cls = {0, 0, 0};
    if (members)
        members->n = 0;
    int rc = split_row(line, len, h->delim, WEIR_CSV_MAX_COLS, fs, lens, quoted, h->quoted, &n,
                       &cls);
    if (rc == -ENOMEM)
        return rc;
    if (rc < 0) {
        snprintf(reason, reason_size, rc == -E2BIG    ? "CSV row has more than 256 fields"
                                      : rc == -EILSEQ ? "CSV row has text after a closing quote "
                                                        "(write \"\" for a quote inside a field)"
                                                      : "CSV row has an unterminated quote");
        return -EINVAL;
    }
    if (n != h->n) {
        snprintf(reason, reason_size, "CSV row has %zu fields, the header has %zu", n, h->n);
        return -EINVAL;
    }
    if (!h->shape)
        members = NULL;
    /* One reservation for the whole row, then plain stores at a local
     * offset: appends would check the room and store out->len around every
     * piece. */
    size_t base = out->len, room = row_room(h, n, len), at = base;
    if (weir_buf_reserve(out, room) < 0)
        return -ENOMEM;
    out->data[at++] = '{';
    for (size_t k = 0; k < n; k++) {
        uint32_t kstart = k ? h->key_end[k - 1] : 0, klen = h->key_end[k] - kstart;
        if (k)
            out->data[at++] = ',';
        if (members) {
            members->m[k].key_off = (uint32_t)(at - base + 1);
            members->m[k].key_len = klen - 3; /* no quotes, no colon */
        }
        weir_copy_short(out->data + at, h->keys.data + kstart, klen);
        at += klen;
        rc = put_value(out, &at, fs[k], lens[k], quoted[k], field_hint(&cls, line, fs[k], lens[k]),
                       base, members ? &members->m[k] : NULL, room);
        if (rc < 0) {
            out->len = base;
            if (rc == -EILSEQ)
                snprintf(reason, reason_size, "CSV column %zu (\"%.*s\") is not valid UTF-8", k + 1,
                         name_quoted(h->names[k]), h->names[k]);
            return rc == -EILSEQ ? -EINVAL : rc;
        }
    }
    out->data[at++] = '}';
    out->len = at;
    if (members) {
        members->n = (uint32_t)n;
        members->shape = h->shape;
    }
    return 0;
}

/* Where the quoted field whose text starts at from ends: its closing
 * quote, or len when the line ends first. */
static size_t closing_quote(const char *line, size_t len, size_t from)
{
    for (size_t i = from; i < len; i++) {
        if (line[i] != '"')
            continue;
        if (i + 1 < len && line[i + 1] == '"')
            i++;
        else
            return i;
    }
    return len;
}

int weir_csv_ends_in_quote(const char *line, size_t len, char delim, int inside)
{
    size_t pos = 0;
    /* Text after a closing quote makes the row bad, but a quote that opens a
     * later field still runs on into the next line: that text is passed
     * over to its delimiter, and the line after is still the field's rest,
     * not a row of its pieces. */
    if (inside) {
        pos = closing_quote(line, len, 0);
        if (pos == len)
            return 1;
        pos++;
    }
    for (;;) { /* at a field's start, or just past a closing quote */
        if (!inside && pos < len && line[pos] == '"') {
            pos = closing_quote(line, len, pos + 1);
            if (pos == len)
                return 1;
            pos++;
        }
        inside = 0;
        while (pos < len && line[pos] != delim)
            pos++;
        if (pos >= len)
            return 0;
        pos++;
    }
}

int weir_csv_row_to_json(struct weir_csv_header *h, const char *line, size_t len,
                         struct weir_buf *out, char *reason, size_t reason_size)
{
    return weir_csv_row_members(h, line, len, out, NULL, reason, reason_size);
}
