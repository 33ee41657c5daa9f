/* Writing records out (see output.h). The input object is copied as received
 * and the computed fields are appended before its closing brace, so a record's
 * own fields survive byte for byte. */
#include "engine/output.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8cut.h"
#include "engine/jscan.h"
#include "engine/jsonw.h"

/* put_features copies each feature's key as this many bytes, whatever its
 * length, when none is longer: a fixed-size copy instead of one chosen by
 * the length. */
#define KEY_COPY 48u

int weir_output_keys(struct weir_output *o)
{
    weir_buf_reset(&o->keys);
    o->key_max = 0;
    for (uint32_t k = 0; k < o->ncols + o->nstrs; k++) {
        const char *name = k < o->ncols ? o->schema->feat[o->cols[k]].name
                                        : o->schema->str[o->strs[k - o->ncols]].name;
        size_t start = o->keys.len;
        if (weir_jsonw_key(&o->keys, name) < 0)
            return -12;
        o->key_end[k] = (uint32_t)o->keys.len;
        if (o->keys.len - start > o->key_max)
            o->key_max = (uint32_t)(o->keys.len - start);
    }
    /* the last key's fixed-size copy reads this far past the keys */
    if (weir_buf_reserve(&o->keys, KEY_COPY) < 0)
        return -12;
    memset(o->keys.data + o->keys.len, 0, KEY_COPY);
    return 0;
}

void weir_output_free(struct weir_output *o)
{
    weir_buf_free(&o->keys);
    if (o->proj) {
        weir_projection_free(o->proj);
        free(o->proj);
        o->proj = NULL;
    }
}

/* "/amount/x" reads the input's top-level "amount"; "/a~1b" reads "a/b"
 * (extract refused other escapes). */
static int pointer_reads(const char *ptr, const char *name)
{
    if (*ptr++ != '/')
        return 0;
    for (; *ptr && *ptr != '/'; ptr++, name++) {
        char c = *ptr == '~' ? (*++ptr == '1' ? '/' : '~') : *ptr;
        if (c != *name)
            return 0;
    }
    return !*name;
}

int weir_output_input_has(const struct weir_schema *s, const char *name)
{
    for (uint32_t k = 0; k < s->ninput; k++)
        if (strcmp(s->input[k], name) == 0)
            return 1;
    for (uint32_t k = 0; k < s->nread; k++)
        if (pointer_reads(s->read[k], name))
            return 1;
    return 0;
}

int weir_output_shadows_input(const struct weir_output *o)
{
    for (uint32_t k = 0; k < o->ncols; k++)
        if (weir_output_input_has(o->schema, o->schema->feat[o->cols[k]].name))
            return 1;
    for (uint32_t k = 0; k < o->nstrs; k++)
        if (weir_output_input_has(o->schema, o->schema->str[o->strs[k]].name))
            return 1;
    return o->alert && weir_output_input_has(o->schema, "alert");
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

/* Appended field k as `"name":value`: features, then strings, then "alert". */
static void put_field(struct weir_buf *out, const struct weir_output *o,
                      const struct weir_batch *b, uint32_t i, uint32_t k)
{
    if (k < o->ncols) {
        put_key(out, o, k, o->schema->feat[o->cols[k]].name);
        weir_jsonw_double(out, b->X[(size_t)i * b->stride + o->cols[k]]);
    } else if (k < o->ncols + o->nstrs) {
        const struct weir_str *s = &b->S[(size_t)i * b->nstr + o->strs[k - o->ncols]];
        put_key(out, o, k, o->schema->str[o->strs[k - o->ncols]].name);
        if (s->p)
            weir_jsonw_string(out, s->p, s->len);
        else
            weir_buf_append(out, "null", 4);
    } else if (b->rec[i].flags & WEIR_REC_ALERT) {
        weir_buf_append(out, "\"alert\":true", 12);
    } else {
        weir_buf_append(out, "\"alert\":false", 13);
    }
}

/* The appended features not in done from k on, with their keys written
 * once by weir_output_keys: one reservation for them all, then plain stores
 * (an append per key, comma and number checked the room and stored
 * out->len each time). Returns where the other fields begin. */
static uint32_t put_features(struct weir_buf *out, const struct weir_output *o,
                             const struct weir_batch *b, uint32_t i, const uint64_t *done,
                             int *first)
{
    int fixed = o->key_max <= KEY_COPY; /* (the room: KEY_COPY more than the keys need) */
    size_t room = o->keys.len + o->ncols * (1u + WEIR_JSONW_FLOAT_ROOM) + (fixed ? KEY_COPY : 0);
    if (weir_buf_reserve(out, room) < 0)
        return 0; /* the slow way, field by field */
    const float *x = b->X + (size_t)i * b->stride;
    char *p = out->data + out->len;
    for (uint32_t k = 0; k < o->ncols; k++) {
        if (done && (done[k / 64] >> (k % 64) & 1))
            continue;
        uint32_t start = k ? o->key_end[k - 1] : 0, klen = o->key_end[k] - start;
        *p = ',';
        p += !*first;
        *first = 0;
        if (fixed)
            memcpy(p, o->keys.data + start, KEY_COPY);
        else
            weir_copy_short(p, o->keys.data + start, klen);
        p = weir_jsonw_float_to(p + klen, x[o->cols[k]]);
    }
    out->len = (size_t)(p - out->data);
    return o->ncols;
}

/* The appended fields not in done (a bitmap; NULL: none done yet). */
static int put_fields(struct weir_buf *out, const struct weir_output *o,
                      const struct weir_batch *b, uint32_t i, const uint64_t *done, int first)
{
    uint32_t n = o->ncols + o->nstrs + (o->alert ? 1u : 0u);
    uint32_t k = o->keys.data ? put_features(out, o, b, i, done, &first) : 0;
    for (; k < n; k++) {
        if (done && (done[k / 64] >> (k % 64) & 1))
            continue;
        if (!first)
            weir_buf_append(out, ",", 1);
        first = 0;
        put_field(out, o, b, i, k);
    }
    return 0;
}

int weir_output_fields(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i)
{
    return put_fields(out, o, b, i, NULL, 1);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

uint32_t weir_output_kept(const struct weir_record *r)
{
    uint32_t close = r->value_len;
    while (close > 0 && is_space(r->value[close - 1]))
        close--;
    return close > 0 && r->value[close - 1] == '}' ? close - 1 : r->value_len;
}

/* An input key's bytes, unescaped into buf when it holds escapes (keys
 * longer than buf are compared as written). */
static const char *key_bytes(const char *text, const struct weir_jmember *m, char *buf,
                             size_t size, uint32_t *len)
{
    *len = m->key_len;
    if (!m->key_escaped || m->key_len > size)
        return text + m->key_off;
    *len = (uint32_t)weir_jstr_unescape(text + m->key_off, m->key_len, buf);
    return buf;
}

/* The record's next top-level member: read off the members its source
 * listed when there are some, else found by scanning the object. */
static inline int next_member(const struct weir_record *r, uint32_t *pos, struct weir_jmember *m)
{
    const struct weir_members *ms = r->members;
    if (!ms)
        return weir_jobject_next(r->value, r->value_len, pos, m);
    if (*pos >= ms->n)
        return 0;
    const struct weir_member *x = &ms->m[(*pos)++];
    int quotes = x->type == WEIR_JSTRING; /* a weir_jmember's value has them */
    *m = (struct weir_jmember){x->key_off, x->key_len, x->val_off - (uint32_t)quotes,
                               x->val_len + 2u * (uint32_t)quotes, 0};
    return 1;
}

/* A member not written: dropped, or a second namesake of a replaced field
 * (the appended field is written once, in the first one's place). */
static inline int member_skipped(int32_t act, const uint64_t *done)
{
    return act == WEIR_PROJ_DROP || (act >= 0 && (done[act / 64] >> (act % 64) & 1));
}

/* The comma before every member but the first; a replaced member (act >= 0)
 * is written here as its appended field, the input's own by the caller. */
static inline void put_member_start(struct weir_buf *out, const struct weir_output *o,
                                    const struct weir_batch *b, uint32_t i, int32_t act,
                                    uint64_t *done, int *first)
{
    if (!*first)
        weir_buf_append(out, ",", 1);
    *first = 0;
    if (act >= 0) {
        done[act / 64] |= 1ull << (act % 64);
        put_field(out, o, b, i, (uint32_t)act);
    }
}

/* output_projected for a record that lists its members, with the
 * decisions for its shape (acts): no key is read, and kept members that
 * follow each other in the input, one comma apart, are copied as one run. */
static int output_members(struct weir_buf *out, const struct weir_output *o,
                          const struct weir_batch *b, uint32_t i, const int32_t *acts, int appended)
{
    const struct weir_record *r = &b->rec[i];
    const struct weir_members *ms = r->members;
    uint64_t done[(2 * WEIR_SCHEMA_MAX + 1 + 63) / 64] = {0};
    uint32_t run_start = 0, run_end = 0; /* kept input bytes not copied yet; 0: none */
    int first = 1;
    weir_buf_append(out, "{", 1);
    for (uint32_t k = 0; k < ms->n; k++) {
        const struct weir_member *x = &ms->m[k];
        int32_t act = appended || acts[k] < 0 ? acts[k] : WEIR_PROJ_DROP;
        if (member_skipped(act, done))
            continue;
        /* From the key's opening quote to the end of the value (its quote). */
        uint32_t start = x->key_off - 1, end = x->val_off + x->val_len;
        end += x->type == WEIR_JSTRING;
        if (act < 0 && run_end && start == run_end + 1 && r->value[run_end] == ',') {
            run_end = end; /* the input's comma is the one we would write */
            continue;
        }
        if (run_end)
            weir_buf_append(out, r->value + run_start, run_end - run_start);
        run_end = 0;
        put_member_start(out, o, b, i, act, done, &first);
        if (act < 0) {
            run_start = start;
            run_end = end;
        }
    }
    if (run_end)
        weir_buf_append(out, r->value + run_start, run_end - run_start);
    if (appended && put_fields(out, o, b, i, done, first) < 0)
        return -12;
    return weir_buf_append(out, "}\n", 2);
}

/* The projected output: the input's top-level fields the projection keeps,
 * in their order, appended fields taking their namesakes' places, then the
 * other appended fields; without appended (a text line, which shows them
 * apart), the kept input fields alone, less the appended fields' namesakes
 * (shown apart with the appended value). One pass over the keys; nothing
 * allocated. */
static int output_projected(struct weir_buf *out, const struct weir_output *o,
                            const struct weir_batch *b, uint32_t i, int appended)
{
    const struct weir_record *r = &b->rec[i];
    uint64_t done[(2 * WEIR_SCHEMA_MAX + 1 + 63) / 64] = {0};
    char kb[256];
    struct weir_jmember m;
    uint32_t pos = 0, klen, nth = 0;
    int first = 1;
    if (weir_buf_reserve(out, r->value_len + 64u + 48u * (o->ncols + o->nstrs)) < 0)
        return -12;
    const int32_t *acts = r->members ? weir_projection_decide_members(o->proj, r->value, r->members)
                                     : NULL;
    if (acts)
        return output_members(out, o, b, i, acts, appended);
    weir_buf_append(out, "{", 1);
    while (next_member(r, &pos, &m)) {
        const char *key = key_bytes(r->value, &m, kb, sizeof kb, &klen);
        int32_t act = weir_projection_decide_nth(o->proj, nth++, key, klen);
        if (!appended && act >= 0)
            act = WEIR_PROJ_DROP;
        if (member_skipped(act, done))
            continue;
        put_member_start(out, o, b, i, act, done, &first);
        if (act < 0)
            weir_buf_append(out, r->value + m.key_off - 1,
                            m.val_off + m.val_len - (m.key_off - 1));
    }
    if (appended && put_fields(out, o, b, i, done, first) < 0)
        return -12;
    return weir_buf_append(out, "}\n", 2);
}

/* Whitespace copied from the input may hold line breaks (JSON allows them
 * between tokens: a pretty-printed Kafka message); everything weir writes
 * itself escapes them. One record, one line: the line from at, but its own
 * last '\n', has them as spaces. */
static int one_line(struct weir_buf *out, size_t at, const struct weir_record *r, int rc)
{
    /* a row a CSV source wrote as JSON holds none; else a look at the input */
    if (rc < 0 || out->len <= at || r->members || r->value_len == 0 ||
        (!memchr(r->value, '\n', r->value_len) && !memchr(r->value, '\r', r->value_len)))
        return rc;
    char *end = out->data + out->len - 1;
    for (char *q = out->data + at; q < end && (q = memchr(q, '\n', (size_t)(end - q))); q++)
        *q = ' ';
    for (char *q = out->data + at; q < end && (q = memchr(q, '\r', (size_t)(end - q))); q++)
        *q = ' ';
    return rc;
}

static int output_record(struct weir_buf *out, const struct weir_output *o,
                         const struct weir_batch *b, uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    if (o->proj)
        return output_projected(out, o, b, i, 1);
    /* The extract stage guaranteed a JSON object: find its closing brace. */
    uint32_t close = weir_output_kept(r);
    if (close == r->value_len)
        return -22; /* -EINVAL: not an object; the loader's implicit extract prevents this */
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

int weir_output_record(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i)
{
    size_t at = out->len;
    return one_line(out, at, &b->rec[i], output_record(out, o, b, i));
}

uint32_t weir_output_kept_of(const struct weir_output *o, const struct weir_record *r,
                             size_t out_len)
{
    if (!o->proj)
        return weir_output_kept(r);
    return out_len > 0 ? (uint32_t)out_len - 1 : 0;
}

/* A text line's head: what it is, then where the record came from
 * ("ALERT  p3@1042", "DEAD   line 17    "). */
static void text_head(struct weir_buf *out, const char *what, const struct weir_record *r)
{
    char head[96];
    int n = r->partition >= 0
                ? snprintf(head, sizeof head, "%-5s  p%d@%lld", what, (int)r->partition,
                           (long long)r->offset)
                : snprintf(head, sizeof head, "%-5s  line %-6lld", what, (long long)r->offset);
    weir_buf_append(out, head, (size_t)n);
}

/* A file source's records name their own file. */
static const char *record_source(const struct weir_record *r, const char *source_name)
{
    return r->partition < 0 && r->topic ? r->topic : source_name;
}

static int output_text(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    const float *row = b->X + (size_t)i * b->stride;
    text_head(out, r->flags & WEIR_REC_ALERT ? "ALERT" : "ok", r);
    for (uint32_t k = 0; k < o->ncols; k++) {
        const char *name = o->schema->feat[o->cols[k]].name;
        weir_buf_append(out, "  ", 2);
        weir_buf_append(out, name, strlen(name));
        weir_buf_append(out, "=", 1);
        weir_jsonw_double(out, row[o->cols[k]]);
    }
    for (uint32_t k = 0; k < o->nstrs; k++) { /* unset strings (no explanation) are left out */
        const struct weir_str *s = &b->S[(size_t)i * b->nstr + o->strs[k]];
        if (!s->p)
            continue;
        const char *name = o->schema->str[o->strs[k]].name;
        weir_buf_append(out, "  ", 2);
        weir_buf_append(out, name, strlen(name));
        weir_buf_append(out, "=", 1);
        weir_jsonw_string(out, s->p, s->len);
    }
    weir_buf_append(out, "  ", 2);
    /* what the projection dropped or a mask replaced stays out; a line for
     * people shows the appended fields apart, so the record as it came */
    if (o->proj && !o->proj_shadow)
        return output_projected(out, o, b, i, 0);
    uint32_t len = r->value_len;
    while (len > 0 && is_space(r->value[len - 1]))
        len--;
    weir_buf_append(out, r->value, len);
    return weir_buf_append(out, "\n", 1);
}

int weir_output_text(struct weir_buf *out, const struct weir_output *o, const struct weir_batch *b,
                     uint32_t i)
{
    size_t at = out->len;
    return one_line(out, at, &b->rec[i], output_text(out, o, b, i));
}

/* The dead letter of r with the first raw_len bytes of its value as raw;
 * "raw_truncated" gives the whole length when raw_len cuts it short. */
static int dead_line(struct weir_buf *out, const struct weir_record *r, const char *source_name,
                     uint32_t raw_len)
{
    const char *reason = r->reason ? r->reason : "rejected";
    const char *raw = r->value ? r->value : "";
    source_name = record_source(r, source_name);
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
    weir_jsonw_string(out, raw, raw_len);
    if (!weir_utf8_valid(raw, raw_len)) {
        weir_buf_append(out, ",", 1);
        weir_jsonw_key(out, "raw_base64");
        weir_buf_append(out, "\"", 1);
        weir_base64_encode(out, raw, raw_len);
        weir_buf_append(out, "\"", 1);
    }
    if (raw_len < r->value_len) {
        weir_buf_append(out, ",", 1);
        weir_jsonw_key(out, "raw_truncated");
        weir_jsonw_int(out, r->value_len);
    }
    return weir_buf_append(out, "}\n", 2);
}

int weir_output_dead(struct weir_buf *out, const struct weir_batch *b, uint32_t i,
                     const char *source_name)
{
    return dead_line(out, &b->rec[i], source_name, b->rec[i].value_len);
}

/* Text for a terminal: as it is when it is valid UTF-8 without control
 * bytes (a rejected JSON line reads as itself), else as a JSON string, so
 * that a reject cannot move the cursor or split the line. */
static int append_printable(struct weir_buf *out, const char *s, size_t n)
{
    int plain = weir_utf8_valid(s, n);
    for (size_t k = 0; plain && k < n; k++)
        plain = (unsigned char)s[k] >= 0x20 && s[k] != 0x7f;
    if (!plain)
        return weir_jsonw_string(out, s, n);
    return weir_buf_append(out, s, n);
}

int weir_output_dead_text(struct weir_buf *out, const struct weir_batch *b, uint32_t i,
                          const char *source_name)
{
    const struct weir_record *r = &b->rec[i];
    const char *reason = r->reason ? r->reason : "rejected";
    source_name = record_source(r, source_name);
    text_head(out, "DEAD", r);
    weir_buf_append(out, "  ", 2);
    if (source_name && *source_name) {
        append_printable(out, source_name, strlen(source_name));
        weir_buf_append(out, ": ", 2);
    }
    append_printable(out, reason, strlen(reason));
    uint32_t len = r->value ? r->value_len : 0;
    while (len > 0 && is_space(r->value[len - 1]))
        len--;
    weir_buf_append(out, "  ", 2);
    append_printable(out, r->value ? r->value : "", len);
    return weir_buf_append(out, "\n", 1);
}

int weir_output_dead_fit(struct weir_buf *out, const struct weir_record *r,
                         const char *source_name, size_t max)
{
    size_t start = out->len;
    uint32_t n = r->value ? r->value_len : 0;
    int valid = n == 0 || weir_utf8_valid(r->value, n);
    size_t fixed = 0; /* the line without raw, measured once raw must be cut */
    for (;;) {
        out->len = start;
        if (dead_line(out, r, source_name, n) < 0) {
            out->len = start;
            return -ENOMEM;
        }
        size_t len = out->len - start - 1; /* without the '\n' */
        if (len <= max)
            return 0;
        if (!fixed) {
            out->len = start;
            if (dead_line(out, r, source_name, 0) < 0) {
                out->len = start;
                return -ENOMEM;
            }
            fixed = out->len - start - 1;
        }
        if (n == 0 || fixed >= max) {
            out->len = start;
            return -ENOSPC;
        }
        /* Escaping grows raw by a ratio of its own (x6 for control bytes,
         * more with raw_base64): cut by what this try measured, and by at
         * least 1/16 each time, so that a few tries settle on a fit. */
        double per_byte = (double)(len > fixed ? len - fixed : 1) / (double)n;
        double want = (double)(max - fixed) / per_byte;
        uint32_t next = want < (double)n ? (uint32_t)want : n;
        if (next > n - n / 16 - 1)
            next = n - n / 16 - 1;
        n = valid ? (uint32_t)weir_utf8_cut(r->value, next) : next;
    }
}
