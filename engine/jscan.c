/* On-demand JSON field extraction; see jscan.h for what it promises.
 *
 * The compiled pointers form a trie (one node per path segment, children in
 * a linked list: pipelines name a handful of fields, so a list beats a hash).
 * weir_jscan_run is one iterative state machine over the record with an
 * explicit stack of at most WEIR_JSCAN_MAX_DEPTH levels. While the scanner is
 * inside a part of the record no pointer reaches, its trie node is NULL and
 * the work left is validation only. Strings, the bulk of most records, are
 * skipped 16 bytes at a time with SSE2 (8 with portable SWAR elsewhere);
 * only quotes, backslashes, control bytes and non-ASCII bytes stop the fast
 * loop, the last to be checked as UTF-8 one sequence at a time.
 */
#include "engine/jscan.h"
#include "engine/jscan_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && !defined(WEIR_JSCAN_NO_SIMD)
#include <emmintrin.h>
#define JSCAN_SSE2 1
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define JSCAN_SWAR 1
#endif

#define NO_INDEX UINT32_MAX

struct jnode {
    const char *key; /* unescaped segment, inside weir_jscan.keys */
    uint32_t klen;
    uint32_t index;          /* array index the segment names, or NO_INDEX */
    int32_t parent;          /* -1 for the root */
    int32_t first_child;     /* -1: none */
    int32_t next_sibling;    /* -1: none */
    int32_t out;             /* first pointer ending here, -1: none; more via out_next */
    uint32_t sub_lo, sub_hi; /* the pointers of this subtree: order[sub_lo..sub_hi) */
};

struct weir_jscan {
    size_t n;            /* pointers compiled */
    struct jnode *nodes; /* nodes[0] is the root (the whole document) */
    uint32_t nnodes, cap;
    int32_t *out_next; /* n: next pointer ending at the same node, -1: none */
    uint32_t *order;   /* n: pointer indexes in trie pre-order */
    char *keys;        /* arena for the unescaped segments */
};

/* ---- compiling pointers ------------------------------------------------ */

static int32_t node_add(struct weir_jscan *s, int32_t parent, const char *key, uint32_t klen)
{
    if (s->nnodes == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        struct jnode *nodes = realloc(s->nodes, cap * sizeof *nodes);
        if (!nodes)
            return -1;
        s->nodes = nodes;
        s->cap = cap;
    }
    int32_t id = (int32_t)s->nnodes++;
    struct jnode *nd = &s->nodes[id];
    *nd = (struct jnode){.key = key,
                         .klen = klen,
                         .index = NO_INDEX,
                         .parent = parent,
                         .first_child = -1,
                         .next_sibling = -1,
                         .out = -1};
    /* RFC 6901: an array index is "0" or digits without a leading zero. */
    if (klen > 0 && klen <= 10 && (key[0] != '0' || klen == 1)) {
        uint64_t v = 0;
        uint32_t i;
        for (i = 0; i < klen && key[i] >= '0' && key[i] <= '9'; i++)
            v = v * 10 + (uint64_t)(key[i] - '0');
        if (i == klen && v < NO_INDEX)
            nd->index = (uint32_t)v;
    }
    if (parent >= 0) {
        /* Append, so siblings stay in the order the pipeline named them. */
        int32_t *link = &s->nodes[parent].first_child;
        while (*link >= 0)
            link = &s->nodes[*link].next_sibling;
        *link = id;
    }
    return id;
}

/* Decodes one segment of pointer text [p, end) into dst; returns its length
 * or -1 on a '~' not followed by '0' or '1'. */
static long segment_unescape(const char *p, const char *end, char *dst)
{
    long n = 0;
    while (p < end) {
        if (*p == '~') {
            if (end - p < 2 || (p[1] != '0' && p[1] != '1'))
                return -1;
            dst[n++] = p[1] == '0' ? '~' : '/';
            p += 2;
        } else {
            dst[n++] = *p++;
        }
    }
    return n;
}

static int pointer_add(struct weir_jscan *s, size_t i, const char *ptr, char **arena,
                       struct weir_error *err)
{
    if (ptr[0] != '\0' && ptr[0] != '/')
        return weir_error_set(err, -EINVAL,
                              "JSON pointer #%zu \"%s\": must be \"\" (the whole record) or "
                              "start with '/', as in \"/amount\" or \"/card/id\"",
                              i + 1, ptr);
    int32_t cur = 0;
    const char *p = ptr;
    while (*p == '/') {
        const char *seg = p + 1, *segend = strchr(seg, '/');
        if (!segend)
            segend = seg + strlen(seg);
        long klen = segment_unescape(seg, segend, *arena);
        if (klen < 0)
            return weir_error_set(err, -EINVAL,
                                  "JSON pointer #%zu \"%s\": '~' must be followed by '0' (for '~') "
                                  "or '1' (for '/')",
                                  i + 1, ptr);
        int32_t child = s->nodes[cur].first_child;
        while (child >= 0 && !(s->nodes[child].klen == (uint32_t)klen &&
                               memcmp(s->nodes[child].key, *arena, (size_t)klen) == 0))
            child = s->nodes[child].next_sibling;
        if (child < 0) {
            child = node_add(s, cur, *arena, (uint32_t)klen);
            if (child < 0)
                return weir_error_set(err, -ENOMEM, "out of memory compiling JSON pointers");
            *arena += klen;
        }
        cur = child;
        p = segend;
    }
    /* Chain behind pointers already ending here (the same pointer twice). */
    int32_t *link = &s->nodes[cur].out;
    while (*link >= 0)
        link = &s->out_next[*link];
    *link = (int32_t)i;
    return 0;
}

/* Numbers every node's subtree in pre-order so that a node's pointers are
 * one range of order[]: re-matching a duplicated key clears that range. */
static int subtree_ranges(struct weir_jscan *s)
{
    uint32_t nn = s->nnodes;
    int32_t *pre = malloc(nn * sizeof *pre), *stack = malloc(nn * sizeof *stack);
    uint32_t *size = malloc(nn * sizeof *size), *cum = malloc((nn + 1) * sizeof *cum);
    uint32_t *pos = malloc(nn * sizeof *pos);
    int rc = -ENOMEM;
    if (!pre || !stack || !size || !cum || !pos)
        goto out;
    uint32_t npre = 0, sp = 0, nout = 0;
    stack[sp++] = 0;
    while (sp) {
        int32_t id = stack[--sp];
        pos[id] = npre;
        pre[npre++] = id;
        cum[pos[id]] = nout;
        for (int32_t o = s->nodes[id].out; o >= 0; o = s->out_next[o])
            s->order[nout++] = (uint32_t)o;
        for (int32_t c = s->nodes[id].first_child; c >= 0; c = s->nodes[c].next_sibling)
            stack[sp++] = c;
    }
    cum[nn] = nout;
    for (uint32_t i = 0; i < nn; i++)
        size[i] = 1;
    for (uint32_t i = nn; i-- > 1;)
        size[s->nodes[pre[i]].parent] += size[pre[i]];
    for (uint32_t id = 0; id < nn; id++) {
        s->nodes[id].sub_lo = cum[pos[id]];
        s->nodes[id].sub_hi = cum[pos[id] + size[id]];
    }
    rc = 0;
out:
    free(pre);
    free(stack);
    free(size);
    free(cum);
    free(pos);
    return rc;
}

int weir_jscan_compile(struct weir_jscan **out, const char *const *pointers, size_t n,
                       struct weir_error *err)
{
    *out = NULL;
    if (n > INT32_MAX)
        return weir_error_set(err, -EINVAL, "too many JSON pointers (%zu)", n);
    struct weir_jscan *s = calloc(1, sizeof *s);
    size_t total = 1;
    int rc = -ENOMEM;
    if (!s)
        goto nomem;
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        if (!pointers[i]) {
            rc = weir_error_set(err, -EINVAL, "JSON pointer #%zu is NULL", i + 1);
            goto fail;
        }
        total += strlen(pointers[i]);
    }
    s->keys = malloc(total);
    s->out_next = malloc((n ? n : 1) * sizeof *s->out_next);
    s->order = malloc((n ? n : 1) * sizeof *s->order);
    if (!s->keys || !s->out_next || !s->order || node_add(s, -1, "", 0) < 0)
        goto nomem;
    for (size_t i = 0; i < n; i++)
        s->out_next[i] = -1;
    char *arena = s->keys;
    for (size_t i = 0; i < n; i++) {
        rc = pointer_add(s, i, pointers[i], &arena, err);
        if (rc < 0)
            goto fail;
    }
    if (subtree_ranges(s) < 0)
        goto nomem;
    *out = s;
    return 0;
nomem:
    rc = weir_error_set(err, -ENOMEM, "out of memory compiling JSON pointers");
fail:
    weir_jscan_free(s);
    return rc;
}

char *weir_jpointer_for(const char *name)
{
    char *out = malloc(2 * strlen(name) + 2), *o = out;
    if (!out)
        return NULL;
    *o++ = '/';
    for (; *name; name++) {
        if (*name == '~' || *name == '/') {
            *o++ = '~';
            *o++ = *name == '~' ? '0' : '1';
        } else {
            *o++ = *name;
        }
    }
    *o = '\0';
    return out;
}

void weir_jscan_free(struct weir_jscan *s)
{
    if (!s)
        return;
    free(s->nodes);
    free(s->out_next);
    free(s->order);
    free(s->keys);
    free(s);
}

size_t weir_jscan_count(const struct weir_jscan *s)
{
    return s->n;
}

/* ---- the scanner --------------------------------------------------------- */

static inline const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
    /* Bits for ' ', '\t', '\n', '\r': the only whitespace JSON has. */
    const uint64_t ws = 1ull << ' ' | 1ull << '\t' | 1ull << '\n' | 1ull << '\r';
    while (p < end && *p <= ' ' && (ws >> *p & 1))
        p++;
    return p;
}

/* Whether q..end, cut by the end of input, could go on as the "\\uDCxx"
 * of a pair (the record ran out, not a lone surrogate). */
static int cut_pair(const unsigned char *q, const unsigned char *end)
{
    for (int k = 0; q < end; q++, k++)
        if (k == 0 ? *q != '\\' : k == 1 ? *q != 'u' : !hex4_digit(*q))
            return 0;
    return 1;
}

/* Scans string content from p (just past the opening quote). Returns the
 * closing quote, or NULL with *at and *why set (*at NULL: ran off the end). */
static inline const unsigned char *scan_string(const unsigned char *p, const unsigned char *end,
                                               uint8_t *esc, const unsigned char **at,
                                               const char **why)
{
    for (;;) {
#ifdef JSCAN_SSE2
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        const __m128i space = _mm_set1_epi8(' ');
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            /* Signed compare: bytes < 0x20 and bytes >= 0x80 both test < ' '. */
            __m128i hit =
                _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                             _mm_cmplt_epi8(v, space));
            unsigned bits = (unsigned)_mm_movemask_epi8(hit);
            if (bits) {
                p += __builtin_ctz(bits);
                goto special;
            }
            p += 16;
        }
#endif
#ifdef JSCAN_SWAR
        while (end - p >= 8) {
            const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
            uint64_t w;
            memcpy(&w, p, 8);
            uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            /* Flags bytes equal to '"' or '\\', below 0x20, or >= 0x80. A
             * borrow can flag bytes above a true hit, never below one, so the
             * lowest flag is exact. */
            uint64_t hit =
                (((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w) | w) & high;
            if (hit) {
                p += __builtin_ctzll(hit) >> 3;
                goto special;
            }
            p += 8;
        }
#endif
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p == end) {
            *at = NULL;
            *why = "unterminated string";
            return NULL;
        }
    special:
        if (*p == '"')
            return p;
        if (*p == '\\') {
            uint32_t cp, lo;
            *esc = 1;
            if (end - p < 2) {
                *at = NULL;
                *why = "unterminated string";
                return NULL;
            }
            switch (p[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': p += 2; continue;
            case 'u':
                if (end - p < 6 || !hex4(p + 2, &cp)) {
                    /* Cut short by the end of input, or a non-hex digit? */
                    const unsigned char *h = p + 2;
                    while (h < end && h < p + 6 && hex4_digit(*h))
                        h++;
                    *at = h == end ? NULL : p;
                    *why =
                        h == end ? "unterminated string" : "invalid \\u escape (want 4 hex digits)";
                    return NULL;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF && end - p < 12 && cut_pair(p + 6, end)) {
                    *at = NULL;
                    *why = "unterminated string";
                    return NULL;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    if (cp > 0xDBFF || end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
                        !hex4(p + 8, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        *at = p;
                        *why = "lone surrogate in \\u escape";
                        return NULL;
                    }
                    p += 6;
                }
                p += 6;
                continue;
            default:
                *at = p;
                *why = "invalid escape in string";
                return NULL;
            }
        }
        if (*p < 0x20) {
            *at = p;
            *why = "control character in string (escape it)";
            return NULL;
        }
        size_t n = weir_utf8_seqlen((const char *)p, (size_t)(end - p));
        if (!n) {
            *at = p;
            *why = "invalid UTF-8";
            return NULL;
        }
        p += n;
    }
}

static inline void put(const struct weir_jscan *s, struct weir_jval *vals, const struct jnode *nd,
                       uint8_t type, uint8_t esc, size_t off, size_t len)
{
    for (int32_t i = nd->out; i >= 0; i = s->out_next[i])
        vals[i] = (struct weir_jval){
            .type = type, .escaped = esc, .off = (uint32_t)off, .len = (uint32_t)len};
}

static inline const struct jnode *match_key(const struct weir_jscan *s, const struct jnode *parent,
                                            const unsigned char *k, uint32_t klen, uint8_t esc,
                                            struct weir_jval *vals)
{
    for (int32_t c = parent->first_child; c >= 0; c = s->nodes[c].next_sibling) {
        const struct jnode *nd = &s->nodes[c];
        if (esc ? weir_jkey_eq_escaped(k, klen, nd->key, nd->klen)
                : nd->klen == klen && memcmp(nd->key, k, klen) == 0) {
            /* A repeated key replaces what an earlier occurrence left
             * beneath it: last one wins, for the whole subtree. */
            if (nd->first_child >= 0)
                for (uint32_t i = nd->sub_lo; i < nd->sub_hi; i++)
                    vals[s->order[i]] = (struct weir_jval){0};
            return nd;
        }
    }
    return NULL;
}

static inline const struct jnode *match_index(const struct weir_jscan *s,
                                              const struct jnode *parent, uint32_t index)
{
    for (int32_t c = parent->first_child; c >= 0; c = s->nodes[c].next_sibling)
        if (s->nodes[c].index == index)
            return &s->nodes[c];
    return NULL;
}

#define IS_DIGIT(c) ((unsigned)(c) - '0' < 10)

/* Scans a number (RFC 8259 grammar) starting at p, a '-' or a digit.
 * Returns the byte after it, or NULL with *at and *why set. */
static inline const unsigned char *scan_number(const unsigned char *p, const unsigned char *end,
                                               const unsigned char **at, const char **why)
{
    if (*p == '-' && (++p == end || !IS_DIGIT(*p))) {
        *at = p;
        *why = "expected digit after '-'";
        return NULL;
    }
    if (*p == '0') {
        if (++p < end && IS_DIGIT(*p)) {
            *at = p - 1;
            *why = "leading zero in number";
            return NULL;
        }
    } else {
        while (++p < end && IS_DIGIT(*p))
            ;
    }
    if (p < end && *p == '.') {
        if (++p == end || !IS_DIGIT(*p)) {
            *at = p;
            *why = "expected digit after decimal point";
            return NULL;
        }
        while (++p < end && IS_DIGIT(*p))
            ;
    }
    if (p < end && (*p | 0x20) == 'e') {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || !IS_DIGIT(*p)) {
            *at = p;
            *why = "expected digit in exponent";
            return NULL;
        }
        while (++p < end && IS_DIGIT(*p))
            ;
    }
    return p;
}

#define FAIL(where, reason)                                                                        \
    do {                                                                                           \
        at = (where);                                                                              \
        why = (reason);                                                                            \
        goto fail;                                                                                 \
    } while (0)

int weir_jscan_run(const struct weir_jscan *s, const char *text, size_t len, struct weir_jval *vals,
                   struct weir_jscan_fail *fail)
{
    const unsigned char *base = (const unsigned char *)text, *p = base, *end = base + len;
    const unsigned char *at;
    const char *why;
    const struct jnode *lnode[WEIR_JSCAN_MAX_DEPTH]; /* per open container: its trie node */
    uint32_t lstart[WEIR_JSCAN_MAX_DEPTH];           /* ... its offset */
    uint32_t lindex[WEIR_JSCAN_MAX_DEPTH];           /* ... arrays: the current index */
    uint64_t is_array = 0;                           /* bit d: level d is an array */
    int depth = 0;
    const struct jnode *nd = s->n ? &s->nodes[0] : NULL; /* node of the value at p */

    if (len > UINT32_MAX)
        FAIL(base, "record larger than 4 GiB");
    if (s->n)
        memset(vals, 0, s->n * sizeof *vals); /* vals may be NULL when n is 0 */
    p = skip_ws(p, end);
    if (p == end)
        FAIL(p, "empty record");

value: /* p < end: the first byte of a value whose trie node is nd */
    switch (*p) {
    case '"': {
        uint8_t esc = 0;
        const unsigned char *q = scan_string(p + 1, end, &esc, &at, &why);
        if (!q) {
            if (!at)
                at = p;
            goto fail;
        }
        if (nd && nd->out >= 0)
            put(s, vals, nd, WEIR_JSTRING, esc, (size_t)(p + 1 - base), (size_t)(q - p - 1));
        p = q + 1;
        goto after_value;
    }
    case '{':
    case '[':
        if (depth == WEIR_JSCAN_MAX_DEPTH)
            FAIL(p, "nesting deeper than 64");
        lnode[depth] = nd;
        lstart[depth] = (uint32_t)(p - base);
        if (*p == '{') {
            is_array &= ~(1ull << depth);
            depth++;
            p = skip_ws(p + 1, end);
            if (p < end && *p == '}') {
                p++;
                goto close;
            }
            goto key;
        }
        is_array |= 1ull << depth;
        lindex[depth] = 0;
        depth++;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            goto close;
        }
        nd = nd ? match_index(s, nd, 0) : NULL;
        goto value_or_eof;
    case 't':
    case 'f':
    case 'n': {
        static const struct {
            const char *word;
            uint8_t len, type;
        } lit[3] = {
            {"true", 4, WEIR_JTRUE},
            {"false", 5, WEIR_JFALSE},
            {"null", 4, WEIR_JNULL},
        };
        int w = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        if ((size_t)(end - p) < lit[w].len || memcmp(p, lit[w].word, lit[w].len) != 0)
            FAIL(p, "invalid literal (expected true, false or null)");
        if (nd && nd->out >= 0)
            put(s, vals, nd, lit[w].type, 0, (size_t)(p - base), lit[w].len);
        p += lit[w].len;
        goto after_value;
    }
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': {
        const unsigned char *q = scan_number(p, end, &at, &why);
        if (!q)
            goto fail;
        if (nd && nd->out >= 0)
            put(s, vals, nd, WEIR_JNUMBER, 0, (size_t)(p - base), (size_t)(q - p));
        p = q;
        goto after_value;
    }
    default: FAIL(p, "expected a JSON value");
    }

value_or_eof: /* inside a container, after '[', ',' or ':' and whitespace */
    if (p == end)
        goto unterminated;
    goto value;

after_value:
    if (depth == 0)
        goto done;
    p = skip_ws(p, end);
    if (p == end)
        goto unterminated;
    if (is_array >> (depth - 1) & 1) {
        if (*p == ']') {
            p++;
            goto close;
        }
        if (*p != ',')
            FAIL(p, "expected ',' or ']' in array");
        const unsigned char *comma = p;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']')
            FAIL(comma, "trailing comma in array");
        uint32_t i = ++lindex[depth - 1];
        nd = lnode[depth - 1] ? match_index(s, lnode[depth - 1], i) : NULL;
        goto value_or_eof;
    }
    if (*p == '}') {
        p++;
        goto close;
    }
    if (*p != ',')
        FAIL(p, "expected ',' or '}' in object");
    {
        const unsigned char *comma = p;
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}')
            FAIL(comma, "trailing comma in object");
    }

key: /* p after '{' or ',' and whitespace */
    if (p == end)
        goto unterminated;
    if (*p != '"')
        FAIL(p, "expected string key in object");
    {
        uint8_t esc = 0;
        const unsigned char *q = scan_string(p + 1, end, &esc, &at, &why);
        if (!q) {
            if (!at)
                at = p;
            goto fail;
        }
        nd = lnode[depth - 1]
                 ? match_key(s, lnode[depth - 1], p + 1, (uint32_t)(q - p - 1), esc, vals)
                 : NULL;
        p = skip_ws(q + 1, end);
    }
    if (p == end)
        goto unterminated;
    if (*p != ':')
        FAIL(p, "expected ':' after object key");
    p = skip_ws(p + 1, end);
    goto value_or_eof;

close: /* p just past a '}' or ']' closing level depth - 1 */
    depth--;
    nd = lnode[depth];
    if (nd && nd->out >= 0)
        put(s, vals, nd, (is_array >> depth & 1) ? WEIR_JARRAY : WEIR_JOBJECT, 0, lstart[depth],
            (size_t)(p - base) - lstart[depth]);
    goto after_value;

done:
    p = skip_ws(p, end);
    if (p != end)
        FAIL(p, "trailing characters after JSON value");
    return 0;

unterminated:
    FAIL(base + lstart[depth - 1],
         (is_array >> (depth - 1) & 1) ? "unterminated array" : "unterminated object");

fail:
    /* Any non-ASCII byte outside a string is an error anyway; when it is
     * not even UTF-8, say so, since that is what the producer must fix. */
    if (at < end && *at >= 0x80 && weir_utf8_seqlen((const char *)at, (size_t)(end - at)) == 0)
        why = "invalid UTF-8";
    if (fail) {
        fail->offset = (size_t)(at - base);
        fail->reason = why;
    }
    return -EINVAL;
}
