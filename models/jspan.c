/* Spans of a JSON text without a tree: models/jspan.h. */
#include "models/jspan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonnum.h"

/* Brackets nested deeper than this are refused (XGBoost's files use 6). */
#define JSPAN_MAX_DEPTH 256

static int is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static size_t skip_ws(const char *s, size_t i, size_t n)
{
    while (i < n && is_ws(s[i]))
        i++;
    return i;
}

/* What true, false, null and numbers are made of, and XGBoost's NaN and
 * Infinity (at its categorical splits): passed over here, refused where
 * read as numbers, so such a file gets its own error, not "not JSON". */
static int scalar_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.' ||
           c == 'E' || c == 'N' || c == 'I';
}

/* Past the string that opens at s[i], or 0 when it does not close (or holds
 * a raw control character). */
static size_t skip_string(const char *s, size_t i, size_t n)
{
    for (i++; i < n; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
        else if ((unsigned char)s[i] < 0x20)
            return 0;
    }
    return 0;
}

/* Past the value that starts at s[i], or 0 when it is malformed. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    if (i >= n)
        return 0;
    if (s[i] == '"')
        return skip_string(s, i, n);
    if (s[i] != '{' && s[i] != '[') {
        size_t j = i;
        while (j < n && scalar_char(s[j]))
            j++;
        return j > i ? j : 0;
    }
    char close[JSPAN_MAX_DEPTH];
    size_t depth = 0;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '"') {
            size_t j = skip_string(s, i, n);
            if (!j)
                return 0;
            i = j - 1;
        } else if (c == '{' || c == '[') {
            if (depth == JSPAN_MAX_DEPTH)
                return 0;
            close[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (!depth || close[--depth] != c)
                return 0;
            if (!depth)
                return i + 1;
        } else if (!scalar_char(c) && c != ',' && c != ':' && !is_ws(c)) {
            return 0;
        }
    }
    return 0;
}

struct jspan jspan_value(const char *text, size_t len)
{
    size_t i = skip_ws(text, 0, len), end = skip_value(text, i, len);
    return end ? (struct jspan){text + i, end - i} : (struct jspan){NULL, 0};
}

int jspan_members(struct jspan obj, const char *const *keys, size_t n, struct jspan *out)
{
    const char *s = obj.p;
    size_t len = obj.n;
    for (size_t k = 0; k < n; k++)
        out[k] = (struct jspan){NULL, 0};
    if (!s || len < 2 || s[0] != '{')
        return -1;
    int repeats = 0;
    size_t i = skip_ws(s, 1, len);
    if (i < len && s[i] == '}')
        return 0;
    for (;;) {
        size_t kend = i < len && s[i] == '"' ? skip_string(s, i, len) : 0;
        if (!kend)
            return -1;
        const char *key = s + i + 1;
        size_t klen = kend - i - 2;
        i = skip_ws(s, kend, len);
        if (i >= len || s[i] != ':')
            return -1;
        i = skip_ws(s, i + 1, len);
        size_t vend = skip_value(s, i, len);
        if (!vend)
            return -1;
        for (size_t k = 0; k < n; k++)
            if (strlen(keys[k]) == klen && memcmp(keys[k], key, klen) == 0) {
                repeats += out[k].p != NULL;
                out[k] = (struct jspan){s + i, vend - i};
            }
        i = skip_ws(s, vend, len);
        if (i < len && s[i] == '}')
            return repeats;
        if (i >= len || s[i] != ',')
            return -1;
        i = skip_ws(s, i + 1, len);
    }
}

int jspan_next_item(struct jspan arr, size_t *at, struct jspan *item)
{
    const char *s = arr.p;
    size_t len = arr.n, i;
    if (!s || len < 2 || s[0] != '[')
        return -1;
    if (*at == 0) {
        i = skip_ws(s, 1, len);
        if (i < len && s[i] == ']')
            return 0;
    } else {
        i = skip_ws(s, *at, len);
        if (i < len && s[i] == ']')
            return 0;
        if (i >= len || s[i] != ',')
            return -1;
        i = skip_ws(s, i + 1, len);
    }
    size_t end = skip_value(s, i, len);
    if (!end)
        return -1;
    *item = (struct jspan){s + i, end - i};
    *at = end;
    return 1;
}

long jspan_count(struct jspan arr)
{
    size_t at = 0;
    long n = 0;
    struct jspan item;
    int rc;
    while ((rc = jspan_next_item(arr, &at, &item)) == 1)
        n++;
    return rc < 0 ? -1 : n;
}

long jspan_numbers(struct jspan arr, double *out, size_t cap)
{
    size_t at = 0, k = 0;
    struct jspan v;
    int rc;
    while ((rc = jspan_next_item(arr, &at, &v)) == 1) {
        if (k == cap)
            return -1;
        if (v.n == 4 && memcmp(v.p, "true", 4) == 0)
            out[k++] = 1;
        else if (v.n == 5 && memcmp(v.p, "false", 5) == 0)
            out[k++] = 0;
        else if (weir_json_number_valid(v.p, v.n) &&
                 weir_decimal_parse(v.p, v.n, &out[k]) != -ENOMEM)
            k++; /* JSON's grammar, "C" locale; -ERANGE leaves +-HUGE_VAL, as strtod */
        else
            return -1;
    }
    return rc < 0 ? -1 : (long)k;
}

json_t *jspan_load_but(const char *text, size_t len, struct jspan cut, size_t flags,
                       json_error_t *jerr)
{
    if (!cut.p)
        return json_loadb(text, len, flags, jerr);
    size_t head = (size_t)(cut.p - text), tail = len - head - cut.n, lines = 0;
    for (size_t i = 0; i < cut.n; i++)
        lines += cut.p[i] == '\n';
    char *rest = malloc(head + 2 + lines + tail);
    if (!rest) {
        snprintf(jerr->text, sizeof jerr->text, "out of memory");
        jerr->line = 0;
        return NULL;
    }
    /* [, the cut's line breaks, ]: an error after it is on the file's line */
    memcpy(rest, text, head);
    rest[head] = '[';
    memset(rest + head + 1, '\n', lines);
    rest[head + 1 + lines] = ']';
    memcpy(rest + head + 2 + lines, cut.p + cut.n, tail);
    json_t *root = json_loadb(rest, head + 2 + lines + tail, flags, jerr);
    free(rest);
    return root;
}

json_t *jspan_load_split(const char *text, size_t len, const char *const *path, size_t n,
                         size_t flags, struct jspan *arr, char **dumped, json_error_t *jerr)
{
    struct jspan v = jspan_value(text, len);
    for (size_t i = 0; i < n && v.p; i++)
        if (jspan_members(v, &path[i], 1, &v) < 0)
            v.p = NULL;
    *arr = v.p && v.p[0] == '[' ? v : (struct jspan){NULL, 0};
    *dumped = NULL;
    json_t *rest = jspan_load_but(text, len, *arr, flags, jerr);
    if (arr->p || !rest)
        return rest;
    const json_t *j = rest;
    for (size_t i = 0; i < n && j; i++)
        j = json_object_get(j, path[i]);
    if (json_array_size(j) && (*dumped = json_dumps(j, JSON_COMPACT)))
        *arr = jspan_value(*dumped, strlen(*dumped));
    return rest;
}
