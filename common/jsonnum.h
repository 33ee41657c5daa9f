/* JSON numbers without dependencies (libc and pthreads): the grammar, and a
 * correctly rounded decimal parse that reads '.' whatever the process's
 * locale. Shared by models/ (jspan.c), engine/ (jnum.c) and connectors/
 * (csv.c). */
#ifndef WEIR_COMMON_JSONNUM_H
#define WEIR_COMMON_JSONNUM_H

#include <stddef.h>

/* 1 when s[0..n) is exactly one JSON number (RFC 8259: an optional '-', an
 * integer part "0" or [1-9][0-9]*, an optional fraction '.' [0-9]+, an
 * optional exponent [eE] [+-]? [0-9]+), else 0. No '+', no leading zeros,
 * no "1." or ".5", no spaces, hex, inf or nan. s need not be NUL-terminated;
 * n == 0 is 0. */
int weir_json_number_valid(const char *s, size_t n);

/* Parses a decimal number in p[0..n): optional sign ('-' or '+'), digits
 * with an optional '.', optional exponent ("5.", ".5" and leading zeros are
 * fine; no spaces, hex, inf or nan): a superset of JSON's grammar (check
 * weir_json_number_valid first for JSON's alone). The result is correctly
 * rounded: Clinger's exact fast path for ordinary numbers, strtod_l in the
 * "C" locale for the rest (a process that called setlocale with a decimal
 * comma still reads "0.25"). p need not be NUL-terminated. Returns 0;
 * -EINVAL when p is not a number; -ERANGE (with *out = +-HUGE_VAL) when it
 * overflows a double; -ENOMEM only for a number of 128 bytes or more that
 * needs the slow path (it copies the text to NUL-terminate it). Underflow is
 * not an error: the result is the rounded value (possibly 0). */
int weir_decimal_parse(const char *p, size_t n, double *out);

#endif
