/* Top-level member names of JSON Lines records (see jsonl_members.h).
 *
 * Each line is validated by weir_jscan_run first, so the walk over the top
 * level below may assume well-formed JSON: it only needs to find each key's
 * string and skip each value by counting brackets outside strings. Keys are
 * decoded with weir_jstr_unescape, the way the scanner compares them, so
 * "V\u0031" is the member "V1" that the pointer "/V1" finds. */
#include "connectors/jsonl_members.h"

#include "connectors/linesplit.h"
#include "engine/jscan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p: an opening quote; returns the closing one. */
static const char *string_end(const char *p, const char *end)
{
    for (p++; p < end && *p != '"'; p++)
        if (*p == '\\')
            p++;
    return p;
}

/* Skips one value from p; returns the ',' or '}' after it. */
static const char *value_end(const char *p, const char *end)
{
    int depth = 0;
    for (; p < end; p++) {
        if (*p == '"')
            p = string_end(p, end);
        else if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && depth-- == 0)
            break;
        else if (*p == ',' && depth == 0)
            break;
    }
    return p;
}

static int name_add(const char *key, size_t klen, char ***names, uint32_t *n, uint32_t *cap)
{
    if (memchr(key, '\0', klen))
        return 0; /* "\u0000" in a name: no column can be called that */
    for (uint32_t k = 0; k < *n; k++)
        if (strlen((*names)[k]) == klen && memcmp((*names)[k], key, klen) == 0)
            return 0;
    if (*n == *cap) {
        uint32_t ncap = *cap ? 2 * *cap : 16;
        char **grown = realloc(*names, ncap * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        *names = grown;
        *cap = ncap;
    }
    char *copy = malloc(klen + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, key, klen);
    copy[klen] = '\0';
    (*names)[(*n)++] = copy;
    return 0;
}

int weir_jsonl_members_add(const struct weir_jscan *validator, const char *line, size_t len,
                           char ***names, uint32_t *n, uint32_t *cap)
{
    if (len >= UINT32_MAX || weir_jscan_run(validator, line, len, NULL, NULL) != 0)
        return 0;
    const char *p = skip_ws(line, line + len), *end = line + len;
    if (p == end || *p != '{')
        return 0;
    char stack[256], *buf = stack;
    size_t bufcap = sizeof stack;
    int rc = 0;
    for (p = skip_ws(p + 1, end); rc == 0 && p < end && *p == '"';) {
        const char *ke = string_end(p, end);
        size_t raw = (size_t)(ke - p - 1);
        if (raw > bufcap) {
            char *nb = malloc(raw);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            if (buf != stack)
                free(buf);
            buf = nb;
            bufcap = raw;
        }
        size_t klen = weir_jstr_unescape(p + 1, (uint32_t)raw, buf);
        rc = name_add(buf, klen, names, n, cap);
        p = skip_ws(ke + 1, end); /* at ':' */
        p = value_end(p + 1, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    if (buf != stack)
        free(buf);
    return rc;
}

int weir_jsonl_members_read(const char *path, size_t max_records, size_t max_bytes,
                            char ***names, uint32_t *n)
{
    struct weir_jscan *validator = NULL;
    uint32_t cap = 0;
    *names = NULL;
    *n = 0;
    gzFile gz = gzopen(path, "rb"); /* plain files are read as they are */
    if (!gz)
        return -ENOENT;
    char *buf = malloc(max_bytes + 1);
    int rc = buf && weir_jscan_compile(&validator, NULL, 0, NULL) == 0 ? 0 : -ENOMEM;
    size_t have = 0;
    while (rc == 0 && have < max_bytes) {
        unsigned want = max_bytes - have > (1u << 30) ? 1u << 30 : (unsigned)(max_bytes - have);
        int got = gzread(gz, buf + have, want);
        if (got <= 0)
            break;
        have += (size_t)got;
    }
    int whole = have < max_bytes; /* the file ended: its last line counts unterminated too */
    /* A byte-order mark is not part of the first record (nor in the run). */
    size_t lines = 0, at = weir_linesplit_bom_len(buf, have);
    for (; rc == 0 && at < have && lines < max_records; lines++) {
        const char *nl = memchr(buf + at, '\n', have - at);
        if (!nl && !whole)
            break;
        size_t len = nl ? (size_t)(nl - (buf + at)) : have - at;
        rc = weir_jsonl_members_add(validator, buf + at, len, names, n, &cap);
        at += len + 1;
    }
    gzclose(gz);
    free(buf);
    weir_jscan_free(validator);
    if (rc < 0) {
        for (uint32_t k = 0; k < *n; k++)
            free((*names)[k]);
        free(*names);
        *names = NULL;
        *n = 0;
    }
    return rc;
}
