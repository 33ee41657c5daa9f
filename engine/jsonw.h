/* Small, fast JSON writers for output records: each appends one JSON token
 * to a struct weir_buf. They exist because output happens per record per
 * field: snprintf("%.17g") costs ~150 ns a number and writes 17 digits that
 * a float feature never had; weir_jsonw_double writes the shortest decimal
 * (9 significant digits at most) that reads back as the same float, in a few
 * tens of nanoseconds. jansson remains the tool for building whole
 * documents off the hot path.
 *
 * Every function returns 0 or -ENOMEM (the buffer is then left with its
 * previous contents, possibly more capacity). Nothing here adds separators:
 * callers write ',' and braces with weir_buf_append.
 */
#ifndef WEIR_JSONW_H
#define WEIR_JSONW_H

#include "engine/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Writes s[0..len) as a quoted JSON string: '"', '\\' and control bytes are
 * escaped (\n, \t ... or \u00XX), valid UTF-8 passes through unchanged, and
 * each byte that does not begin a valid UTF-8 sequence (stray continuation
 * bytes, overlong forms, encoded surrogates, cut-short sequences) is written
 * as U+FFFD, so the output is always valid JSON whatever the input bytes
 * are. Callers who must keep such bytes should write them with
 * weir_base64_encode as well. */
int weir_jsonw_string(struct weir_buf *b, const char *s, size_t len);

/* Writes `"name":` (name NUL-terminated, escaped as above). */
int weir_jsonw_key(struct weir_buf *b, const char *name);

/* Writes v rounded to float (weir's features are floats) as the shortest
 * decimal, at most 9 significant digits, that strtof reads back as that
 * float: 0.1 -> 0.1, 42 -> 42, 1.5e-7 -> 1.5e-7, 3e20 -> 3e20. Plain
 * notation is used for decimal exponents -5..14, exponent notation outside.
 * NaN and infinities are written as null (JSON has no spelling for them).
 * A finite v beyond float's range (overflowing to infinity or underflowing
 * to zero as a float) is written with 9 significant digits of the double
 * instead, slowly (snprintf), rather than as null or 0. */
int weir_jsonw_double(struct weir_buf *b, double v);

/* The same for a float, written at o, which has room for
 * WEIR_JSONW_FLOAT_ROOM bytes; returns the end of what was written. For
 * callers that reserve once for several pieces (an output record's fields). */
#define WEIR_JSONW_FLOAT_ROOM 32
char *weir_jsonw_float_to(char *o, float f);

/* Writes a 64-bit integer in decimal. */
int weir_jsonw_int(struct weir_buf *b, int64_t v);

/* Appends the base64 (RFC 4648, standard alphabet, '=' padded) of
 * data[0..len), without quotes. */
int weir_base64_encode(struct weir_buf *b, const void *data, size_t len);

#endif
