/* Writing records out (see output.h). The input object is copied as received
 * and the computed fields are appended before its closing brace, so a record's
 * own fields survive byte for byte. */
#include "engine/output.h"

#include <math.h>
#include <string.h>

#include "engine/jsonw.h"

int weir_output_keys(struct weir_output *o)
{
    weir_buf_reset(&o->keys);
    for (uint32_t k = 0; k < o->ncols + o->nstrs; k++) {
        const char *name = k < o->ncols ? o->schema->feat[o->cols[k]].name
                                        : o->schema->str[o->strs[k - o->ncols]].name;
        if (weir_jsonw_key(&o->keys, name) < 0)
            return -12;
        o->key_end[k] = (uint32_t)o->keys.len;
    }
    return 0;
}

void weir_output_free(struct weir_output *o)
{
    weir_buf_free(&o->keys);
}

/* The k-th appended field's `"name":` (cols first, then strs), written
 * once by weir_output_keys; an output built by hand has none. */
static inline void put_key(struct weir_buf *out, const struct weir_output *o, uint32_t k,
                           const char *name)
{
    if (!o->keys.data) {
        weir_jsonw_key(out, name);
        return;
    }
    uint32_t start = k ? o->key_end[k - 1] : 0;
    weir_buf_append(out, o->keys.data + start, o->key_end[k] - start);
}

int weir_output_fields(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i)
{
    const float *row = b->X + (size_t)i * b->stride;
    int first = 1;
    for (uint32_t k = 0; k < o->ncols; k++) {
        if (!first && weir_buf_append(out, ",", 1) < 0)
            return -12;
        first = 0;
        put_key(out, o, k, o->schema->feat[o->cols[k]].name);
        weir_jsonw_double(out, row[o->cols[k]]);
    }
    for (uint32_t k = 0; k < o->nstrs; k++) {
        const struct weir_str *s = &b->S[(size_t)i * b->nstr + o->strs[k]];
        if (!first)
            weir_buf_append(out, ",", 1);
        first = 0;
        put_key(out, o, o->ncols + k, o->schema->str[o->strs[k]].name);
        if (s->p)
            weir_jsonw_string(out, s->p, s->len);
        else
            weir_buf_append(out, "null", 4);
    }
    if (o->alert) {
        if (!first)
            weir_buf_append(out, ",", 1);
        if (b->rec[i].flags & WEIR_REC_ALERT)
            weir_buf_append(out, "\"alert\":true", 12);
        else
            weir_buf_append(out, "\"alert\":false", 13);
    }
    return 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int weir_output_record(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    /* The extract stage guaranteed a JSON object: find its closing brace. */
    uint32_t close = r->value_len;
    while (close > 0 && is_space(r->value[close - 1]))
        close--;
    if (close == 0 || r->value[close - 1] != '}')
        return -22; /* -EINVAL: not an object; the loader's implicit extract prevents this */
    close--;
    uint32_t before = close;
    while (before > 0 && is_space(r->value[before - 1]))
        before--;
    int empty = before > 0 && r->value[before - 1] == '{';
    int has_fields = o->ncols || o->nstrs || o->alert;

    if (weir_buf_reserve(out, close + 64u + 48u * (o->ncols + o->nstrs)) < 0)
        return -12;
    weir_buf_append(out, r->value, close);
    if (has_fields && !empty)
        weir_buf_append(out, ",", 1);
    if (weir_output_fields(out, o, b, i) < 0)
        return -12;
    return weir_buf_append(out, "}\n", 2);
}

int weir_output_text(struct weir_buf *out, const struct weir_output *o, const struct weir_batch *b,
                     uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    const float *row = b->X + (size_t)i * b->stride;
    char head[96];
    int n = r->partition >= 0
                ? snprintf(head, sizeof head, "%-5s  p%d@%lld", r->flags & WEIR_REC_ALERT ? "ALERT" : "ok",
                           (int)r->partition, (long long)r->offset)
                : snprintf(head, sizeof head, "%-5s  line %-6lld", r->flags & WEIR_REC_ALERT ? "ALERT" : "ok",
                           (long long)r->offset);
    weir_buf_append(out, head, (size_t)n);
    for (uint32_t k = 0; k < o->ncols; k++) {
        const char *name = o->schema->feat[o->cols[k]].name;
        weir_buf_append(out, "  ", 2);
        weir_buf_append(out, name, strlen(name));
        weir_buf_append(out, "=", 1);
        weir_jsonw_double(out, row[o->cols[k]]);
    }
    weir_buf_append(out, "  ", 2);
    uint32_t len = r->value_len;
    while (len > 0 && is_space(r->value[len - 1]))
        len--;
    weir_buf_append(out, r->value, len);
    return weir_buf_append(out, "\n", 1);
}

/* Dead-letter records are rare: a plain validity check is enough here. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n || (len == 2 && c < 0xC2))
            return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        if (len == 3) {
            unsigned cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
            if (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        }
        if (len == 4) {
            unsigned cp = ((c & 0x07u) << 18) | ((s[i + 1] & 0x3Fu) << 12);
            if (cp < 0x10000 || cp > 0x10FFFF)
                return 0;
        }
        i += len;
    }
    return 1;
}

int weir_output_dead(struct weir_buf *out, const struct weir_batch *b, uint32_t i,
                     const char *source_name)
{
    const struct weir_record *r = &b->rec[i];
    const char *reason = r->reason ? r->reason : "rejected";
    weir_buf_append(out, "{", 1);
    weir_jsonw_key(out, "reason");
    weir_jsonw_string(out, reason, strlen(reason));
    weir_buf_append(out, ",", 1);
    weir_jsonw_key(out, "source");
    weir_jsonw_string(out, source_name ? source_name : "", source_name ? strlen(source_name) : 0);
    weir_buf_append(out, ",", 1);
    if (r->partition >= 0) {
        weir_jsonw_key(out, "partition");
        weir_jsonw_int(out, r->partition);
        weir_buf_append(out, ",", 1);
        weir_jsonw_key(out, "offset");
    } else {
        weir_jsonw_key(out, "line");
    }
    weir_jsonw_int(out, r->offset);
    weir_buf_append(out, ",", 1);
    weir_jsonw_key(out, "raw");
    weir_jsonw_string(out, r->value ? r->value : "", r->value_len);
    if (r->value && !utf8_valid((const unsigned char *)r->value, r->value_len)) {
        weir_buf_append(out, ",", 1);
        weir_jsonw_key(out, "raw_base64");
        weir_buf_append(out, "\"", 1);
        weir_base64_encode(out, r->value, r->value_len);
        weir_buf_append(out, "\"", 1);
    }
    return weir_buf_append(out, "}\n", 2);
}
