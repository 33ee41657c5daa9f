/* On-demand JSON field extraction for the per-record hot path.
 *
 * A pipeline names the few fields it needs ("/amount", "/card/id") once, when
 * it loads; weir_jscan_compile turns those RFC 6901 JSON pointers into a
 * small trie. weir_jscan_run then makes ONE pass over a record: it validates
 * the whole record as a single JSON value (RFC 8259, UTF-8 included) and, on
 * the way, notes where each wanted value lies, without building a tree,
 * copying or allocating. Numbers and escaped strings are decoded only when a
 * caller asks (weir_jval_number, weir_jstr_unescape), and only for the
 * fields it reads. jansson stays in charge of pipeline files, where a full
 * tree is wanted and speed does not matter.
 *
 * Semantics worth knowing:
 *  - Duplicate keys: the LAST occurrence wins (as in jansson). A pointer
 *    beneath a duplicated key sees only the last occurrence's subtree: with
 *    {"a":{"b":1},"a":2}, "/a" is the number 2 and "/a/b" is missing.
 *  - A segment made of digits ("/items/0") matches array index 0 in an array
 *    and the key "0" in an object, as RFC 6901 says; "-" never matches an
 *    array element.
 *  - Nesting is limited to WEIR_JSCAN_MAX_DEPTH objects/arrays.
 *  - Strict RFC 8259: no byte order mark, no NUL or other bytes outside
 *    strings but JSON's four whitespace characters, \u0000 allowed inside
 *    strings (keys too), numbers of any size accepted (overflow shows only
 *    when one is parsed). tests/test_jscan.c lists where jansson differs.
 *  - Records are limited to 4 GiB - 1 (offsets are 32-bit).
 *  - A compiled matcher is read-only during runs: workers may share one.
 */
#ifndef WEIR_JSCAN_H
#define WEIR_JSCAN_H

#include "engine/error.h"

#include <stddef.h>
#include <stdint.h>

#define WEIR_JSCAN_MAX_DEPTH 64

enum weir_jtype {
    WEIR_JMISSING = 0, /* the pointer matched nothing in this record */
    WEIR_JNULL,
    WEIR_JFALSE,
    WEIR_JTRUE,
    WEIR_JNUMBER,
    WEIR_JSTRING,
    WEIR_JOBJECT,
    WEIR_JARRAY,
};

/* Where one wanted value lies inside the record it was found in. */
struct weir_jval {
    uint8_t type;    /* enum weir_jtype */
    uint8_t escaped; /* STRING only: the text holds backslash escapes */
    uint32_t off;    /* byte offset into the record */
    uint32_t len;    /* bytes; STRING: between the quotes, still escaped;
                        OBJECT/ARRAY: the whole text, brackets included */
};

/* Why a record was rejected. reason is a static string ("unterminated
 * string", "invalid UTF-8", ...); offset is the byte where the problem was
 * seen (for "unterminated ..." errors: where the string/object/array began;
 * for errors at the end of input: the record's length). */
struct weir_jscan_fail {
    size_t offset;
    const char *reason;
};

struct weir_jscan;

/* Compiles n NUL-terminated JSON pointers (RFC 6901: "" is the whole
 * document, otherwise "/seg/seg..." with "~0" for '~' and "~1" for '/').
 * n may be 0 (weir_jscan_run then only validates). Pointers may repeat.
 * On success *out owns a matcher to free with weir_jscan_free; returns 0,
 * -EINVAL for a malformed pointer, -ENOMEM. */
int weir_jscan_compile(struct weir_jscan **out, const char *const *pointers, size_t n,
                       struct weir_error *err);

/* Accepts NULL. */
void weir_jscan_free(struct weir_jscan *s);

/* The pointer to a top-level member: "/" + name, with RFC 6901's "~0" and
 * "~1" for '~' and '/'. malloc'd (free it); NULL when out of memory. */
char *weir_jpointer_for(const char *name);

/* The number of pointers s was compiled with (the length vals must have). */
size_t weir_jscan_count(const struct weir_jscan *s);

/* Validates text[0..len) as one JSON value (whitespace around it allowed)
 * and fills vals[0..n) in pointer order; values not found are
 * WEIR_JMISSING. Returns 0, or -EINVAL with *fail filled (fail may be
 * NULL) when the record is not valid JSON; vals are then unspecified.
 * Does not allocate; text need not be NUL-terminated. */
int weir_jscan_run(const struct weir_jscan *s, const char *text, size_t len, struct weir_jval *vals,
                   struct weir_jscan_fail *fail);

/* Parses a decimal number: optional sign ('-' or '+'), digits with an
 * optional '.', optional exponent ("5.", ".5" and leading zeros are fine; no
 * spaces, hex, inf or nan). Every JSON number is accepted. The result is
 * correctly rounded (ordinary numbers take an exact fast path, the rest
 * strtod in the "C" locale). Returns 0; -EINVAL when p is not a number;
 * -ERANGE (with *out = +-HUGE_VAL) when it overflows a double; -ENOMEM only
 * for a number of 128 bytes or more that needs the slow path (it copies the
 * text to NUL-terminate it). Underflow is not an error: the result is the
 * rounded value (possibly 0). */
int weir_jnum_parse(const char *p, uint32_t len, double *out);

/* The number in a NUMBER value, or in a STRING value whose content is a
 * number (CSV-derived records often quote numbers; spaces and tabs around it
 * are ignored, escapes are decoded for strings up to 64 bytes). text is the
 * record v was found in. Returns 0, -EINVAL for any other value (MISSING,
 * null, booleans, objects, arrays, non-numeric strings), -ERANGE on
 * overflow. */
int weir_jval_number(const char *text, const struct weir_jval *v, double *out);

/* Decodes the escapes of a string value's text (src, len: as weir_jval
 * gives them) into dst, which must have room for len bytes (decoding never
 * grows the text). \uXXXX becomes UTF-8, surrogate pairs included. Expects
 * text weir_jscan_run accepted; a malformed escape is copied through and a
 * lone surrogate becomes U+FFFD, never overrunning dst. Returns the number
 * of bytes written; dst is not NUL-terminated. */
size_t weir_jstr_unescape(const char *src, uint32_t len, char *dst);

/* The length (1-4) of the valid UTF-8 sequence that starts at p, or 0 when
 * the bytes there are not one (overlong forms, encoded surrogates, code
 * points above U+10FFFF, stray continuation bytes, or a sequence cut short
 * by avail). avail must be >= 1. */
size_t weir_utf8_seqlen(const char *p, size_t avail);
/* Whether p[0..n) is all valid UTF-8 (weir_utf8_seqlen's rules). */
int weir_utf8_valid(const char *p, size_t n);

#endif
