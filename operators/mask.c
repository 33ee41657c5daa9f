/* mask: replaces sensitive fields (card numbers, e-mails, IPs) — top-level
 * names or JSON pointers into nested objects — and, by option, the Kafka
 * message key, with the hex HMAC-SHA256 of their value, keyed by a secret, so that joins
 * and keys still work (the same card gives the same mask) while the raw
 * value never leaves the engine.
 *
 *     {"type": "mask", "fields": ["card", "/user/email"], "key_env": "WEIR_MASK_KEY",
 *      "length": 32, "message_key": true}
 *
 * The key comes from a file (`key_file`, its content with every trailing
 * newline (\n or \r\n) stripped, the path beside the pipeline file) or an environment
 * variable (`key_env`), read when the pipeline loads; a pipeline file cannot
 * hold the key itself (there is no such option).
 *
 * What is hashed: a string's decoded content (escapes resolved, so "\u0041"
 * and "A" mask alike); any other value's JSON text (a card number written as
 * a number). null stays null. The record itself is rewritten: every
 * occurrence of a masked key (duplicates too) gets the quoted hex in place of
 * its value, in a copy in the batch's arena that becomes the record's value,
 * so whatever comes after — outputs in any format, dead letters of records
 * killed later, string fields extracted later — sees only the mask. Records
 * already dead when they reach mask (invalid JSON, which mask cannot look
 * into) lose their raw bytes: their dead letter keeps the reason and the
 * coordinates. Each field is also a string column holding the mask (named
 * as the field, or a pointer's last segment; an earlier extract's column of
 * that name is overwritten), for "by" keys and joins. A pointer descends
 * only through objects (arrays are not searched); a pointer to an object
 * masks the object's JSON text, as a top-level object is masked. With
 * message_key the key is replaced by its mask (null stays null) before any
 * sink sees it.
 *
 * HMAC is computed from SHA-256 states that absorbed the padded key once
 * (RFC 2104's inner and outer pads): a record costs two SHA-256 finishes on
 * copies of plain structs, with no allocation. OpenSSL 3's one-shot HMAC()
 * and EVP MAC paths fetch the algorithm and allocate on every call, which the
 * record path must not; its SHA256_* functions are deprecated in 3.0 but are
 * the allocation-free primitive. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/jscan.h"
#include "engine/operator.h"
#include "engine/paths.h"
#include "engine/project.h"

#define MASK_MAX_FIELDS 64
#define MASK_MAX_SPANS 64 /* masked values in one record (duplicates count) */
#define MASK_MAX_DEPTH 8  /* segments of a pointer */

/* A field's path: its keys from the top, unescaped (RFC 6901). */
struct mask_field {
    uint32_t nseg;
    const char *seg[MASK_MAX_DEPTH];
    uint32_t len[MASK_MAX_DEPTH];
    char *owned; /* the segments' bytes */
};

struct mask_conf {
    struct weir_strlist fields;
    const char *key_file;
    const char *key_env;
    int64_t length;
    int message_key;
    /* built by prepare(), freed by release() */
    SHA256_CTX inner, outer; /* the key's pads absorbed */
    int cols[MASK_MAX_FIELDS];
    struct mask_field fld[MASK_MAX_FIELDS];
    uint64_t all; /* a bit per field */
};

static const struct weir_option mask_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL,
     "fields to mask: top-level names, or JSON pointers (\"/user/card\") into nested objects",
     offsetof(struct mask_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"key_file", WEIR_OPT_STRING, NULL,
     "file holding the HMAC key (trailing newlines stripped; relative: beside the pipeline file)",
     offsetof(struct mask_conf, key_file), 0, 0, 0, NULL},
    {"key_env", WEIR_OPT_STRING, NULL, "environment variable holding the HMAC key",
     offsetof(struct mask_conf, key_env), 0, 0, 0, NULL},
    {"length", WEIR_OPT_INT, "64", "hex characters kept of the 64 of HMAC-SHA256",
     offsetof(struct mask_conf, length), WEIR_OPT_RANGE, 8, 64, NULL},
    {"message_key", WEIR_OPT_BOOL, "false",
     "also replace a Kafka message's key by its mask (outputs and dead letters carry the mask)",
     offsetof(struct mask_conf, message_key), 0, 0, 0, NULL},
    {0},
};

/* RFC 2104: keys longer than the block are hashed first; the pads are the
 * key XOR 0x36 / 0x5c, zero-filled to the 64-byte block. */
static void hmac_setup(struct mask_conf *c, const unsigned char *key, size_t len)
{
    unsigned char k[64] = {0}, pad[64];
    if (len > sizeof k)
        SHA256(key, len, k);
    else
        memcpy(k, key, len);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    SHA256_Init(&c->inner);
    SHA256_Update(&c->inner, pad, sizeof pad);
    for (int i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&c->outer);
    SHA256_Update(&c->outer, pad, sizeof pad);
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
}

/* The key's bytes from the file or the variable, into buf; returns its
 * length, or -1 with the problem reported. */
static long read_key(struct mask_conf *c, const json_t *raw, struct weir_prepare *p,
                     unsigned char *buf, size_t size)
{
    char kp[256], path[4096], why[8300];
    if (c->key_env) {
        const char *v = getenv(c->key_env);
        weir_path_key(kp, sizeof kp, p->path, "key_env");
        if (!v || !*v || strlen(v) > size) {
            weir_diag_add(p->diag, kp, "expected the environment variable %s to hold the key "
                          "(1 to %zu bytes), got %s", c->key_env, size, !v ? "it unset" : !*v
                          ? "it empty" : "a longer one");
            return -1;
        }
        memcpy(buf, v, strlen(v));
        return (long)strlen(v);
    }
    weir_path_key(kp, sizeof kp, p->path, "key_file");
    int rc = weir_prepare_path(p, (json_t *)raw, "key_file", &c->key_file, WEIR_PATH_READ, why,
                               sizeof why);
    if (rc == 0)
        snprintf(path, sizeof path, "%s", c->key_file);
    FILE *f = rc == 0 ? fopen(path, "rb") : NULL;
    if (!f) {
        weir_diag_add(p->diag, kp, "expected a readable key file, got %s: %s", c->key_file,
                      rc == -ENOENT ? why : strerror(rc ? -rc : errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) { /* a FIFO would hold the load */
        fclose(f);
        weir_diag_add(p->diag, kp, "expected a regular key file, got %s", path);
        return -1;
    }
    size_t n = fread(buf, 1, size, f);
    int ch; /* a key of the full size may still end in line ends, stripped below */
    while ((ch = fgetc(f)) == '\n' || ch == '\r')
        ;
    int more = ch != EOF;
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0 || more) {
        weir_diag_add(p->diag, kp, "expected a key of 1 to %zu bytes in %s, got %s", size, path,
                      more ? "a longer file" : "an empty one");
        return -1;
    }
    return (long)n;
}

/* Fills f from a top-level name or a JSON pointer ("/a/b", with ~1 for '/'
 * and ~0 for '~'); returns the column's name (the last segment, in f's
 * bytes), or NULL with why set. */
static const char *parse_field(struct mask_field *f, const char *name, const char **why)
{
    size_t n = strlen(name);
    if (!(f->owned = malloc(n + 1))) {
        *why = "out of memory";
        return NULL;
    }
    if (name[0] != '/') {
        memcpy(f->owned, name, n + 1);
        f->nseg = 1;
        f->seg[0] = f->owned;
        f->len[0] = (uint32_t)n;
        return *name ? f->owned
                     : (*why = "a field name or a JSON pointer like \"/user/card\"", NULL);
    }
    char *o = f->owned;
    f->nseg = 0;
    for (const char *s = name; *s == '/';) {
        if (f->nseg == MASK_MAX_DEPTH) {
            *why = "a JSON pointer of at most 8 segments";
            return NULL;
        }
        f->seg[f->nseg] = o;
        for (s++; *s && *s != '/'; s++) {
            if (*s == '~' && (s[1] == '0' || s[1] == '1')) {
                *o++ = s[1] == '0' ? '~' : '/';
                s++;
            } else if (*s == '~') {
                *why = "a JSON pointer (\"~\" only as ~0 or ~1)";
                return NULL;
            } else {
                *o++ = *s;
            }
        }
        f->len[f->nseg] = (uint32_t)(o - f->seg[f->nseg]);
        *o++ = '\0';
        f->nseg++;
    }
    return f->seg[f->nseg - 1];
}

/* A field inside another ("/user" and "/user/email") would be masked with
 * it, as part of the outer one's text, and its own column left empty:
 * refused. 1 when field k nests with an earlier one (said at ip). */
static int nested(const struct mask_conf *c, size_t k, const char *ip, struct weir_diag *diag)
{
    const struct mask_field *b = &c->fld[k];
    for (size_t j = 0; j < k; j++) {
        const struct mask_field *a = &c->fld[j];
        if (c->cols[j] < 0 || a->nseg == b->nseg)
            continue; /* not parsed, or the same depth: the column check's */
        uint32_t n = a->nseg < b->nseg ? a->nseg : b->nseg, s = 0;
        while (s < n && a->len[s] == b->len[s] && memcmp(a->seg[s], b->seg[s], a->len[s]) == 0)
            s++;
        if (s < n)
            continue;
        weir_diag_add(diag, ip, "expected fields that do not nest, got \"%s\" %s fields[%zu] "
                      "(\"%s\"), which would be masked %s", c->fields.v[k],
                      a->nseg < b->nseg ? "inside" : "around", j, c->fields.v[j],
                      a->nseg < b->nseg ? "whole with it" : "whole with this one");
        return 1;
    }
    return 0;
}

static int mask_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct mask_conf *c = vconf;
    char fp[256], ip[256];
    unsigned char key[4096];
    if (!c->key_file == !c->key_env) {
        weir_diag_add(p->diag, p->path, "expected exactly one of \"key_file\" or \"key_env\" "
                      "(the key is never written in the pipeline), got %s",
                      c->key_file ? "both" : "neither");
        return 1;
    }
    weir_path_key(fp, sizeof fp, p->path, "fields");
    if (c->fields.n == 0 || c->fields.n > MASK_MAX_FIELDS) {
        weir_diag_add(p->diag, fp, "expected 1 to %d field names, got %zu", MASK_MAX_FIELDS,
                      c->fields.n);
        return 1;
    }
    int bad = 0;
    for (size_t k = 0; k < c->fields.n; k++) {
        const char *why = NULL, *col_name = parse_field(&c->fld[k], c->fields.v[k], &why);
        weir_strlist_path(ip, sizeof ip, fp, &c->fields, k);
        if (!col_name) {
            weir_diag_add(p->diag, ip, "expected %s, got \"%s\"", why, c->fields.v[k]);
            c->cols[k] = -1; /* not compared with the later fields */
            bad++;
            continue;
        }
        bad += nested(c, k, ip, p->diag);
        for (size_t j = 0; j < k; j++)
            if (c->cols[j] >= 0 && strcmp(p->schema->str[c->cols[j]].name,
                                          col_name) == 0) {
                weir_diag_add(p->diag, ip, "expected fields whose columns differ, got a second "
                              "field for the column \"%s\" (fields[%zu])", col_name, j);
                bad++;
                break;
            }
        /* An earlier extract's column of that name gets the mask too. */
        int col = -1;
        for (uint32_t j = 0; j < p->schema->nstr; j++)
            if (strcmp(p->schema->str[j].name, col_name) == 0 && p->schema->str[j].producer >= 0)
                col = (int)j;
        c->cols[k] = col >= 0 ? col : weir_schema_string_out(p, col_name, ip);
        bad += c->cols[k] < 0;
        c->all |= 1ull << k;
    }
    long n = bad ? -1 : read_key(c, raw, p, key, sizeof key);
    if (n < 0)
        return bad ? bad : 1;
    hmac_setup(c, key, (size_t)n);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
}

static void mask_release(void *vconf)
{
    struct mask_conf *c = vconf;
    for (size_t k = 0; k < MASK_MAX_FIELDS; k++)
        free(c->fld[k].owned);
    OPENSSL_cleanse(&c->inner, sizeof c->inner);
    OPENSSL_cleanse(&c->outer, sizeof c->outer);
}

/* The first length hex digits of HMAC-SHA256(key, data) into hex. */
static void hmac_hex(const struct mask_conf *c, const void *data, size_t len, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_CTX ctx = c->inner;
    SHA256_Update(&ctx, data, len);
    SHA256_Final(md, &ctx);
    ctx = c->outer;
    SHA256_Update(&ctx, md, sizeof md);
    SHA256_Final(md, &ctx);
    for (int64_t i = 0; i < c->length; i++)
        hex[i] = digits[(md[i / 2] >> (i % 2 ? 0 : 4)) & 15];
}

struct span {
    uint32_t off, len; /* the value's text in the record */
    char *hex;         /* its mask (arena), or NULL for null */
};

/* Masks the value at text[off..off+len) of record i as field k's: its span
 * and column. Returns 0, or -2 out of memory. */
static int mask_value(const struct mask_conf *c, struct weir_batch *b, uint32_t i, int k,
                      uint32_t off, uint32_t len, struct span *sp)
{
    const char *v = b->rec[i].value + off;
    struct weir_str *col = &b->S[(size_t)i * b->nstr + c->cols[k]];
    *sp = (struct span){.off = off, .len = len};
    if (len == 4 && memcmp(v, "null", 4) == 0) {
        *col = (struct weir_str){0};
        return 0;
    }
    char *hex = weir_arena_alloc(&b->arena, (size_t)c->length + len);
    if (!hex)
        return -2;
    if (v[0] == '"') { /* the decoded content, in the arena after the hex */
        size_t n = weir_jstr_unescape(v + 1, len - 2, hex + c->length);
        hmac_hex(c, hex + c->length, n, hex);
    } else {
        hmac_hex(c, v, len, hex);
    }
    sp->hex = hex;
    *col = (struct weir_str){.p = hex, .len = (uint32_t)c->length};
    return 0;
}

/* Masks, in document order, the members of the object at [base, base+len)
 * that the candidate fields (bits of cand) name at this depth, descending
 * into objects that a longer pointer continues in. Returns the spans found
 * so far in *n; -1 when the record holds more than MASK_MAX_SPANS, -2 out
 * of memory. */
static int walk(const struct mask_conf *c, struct weir_batch *b, uint32_t i, uint32_t base,
                uint32_t len, uint32_t depth, uint64_t cand, struct span *sp, int *n)
{
    const char *text = b->rec[i].value + base;
    struct weir_jmember m;
    uint32_t pos = 0;
    char kb[256];
    while (weir_jobject_next(text, len, &pos, &m)) {
        const char *key = text + m.key_off;
        uint32_t klen = m.key_len;
        if (m.key_escaped) { /* decoded whatever its length, or a long key goes unmasked */
            char *to = klen <= sizeof kb ? kb : weir_arena_alloc(&b->arena, klen);
            if (!to)
                return -2;
            klen = (uint32_t)weir_jstr_unescape(key, m.key_len, to);
            key = to;
        }
        uint64_t deeper = 0;
        int hit = -1;
        for (uint64_t left = cand; left; left &= left - 1) {
            int k = __builtin_ctzll(left);
            const struct mask_field *f = &c->fld[k];
            if (f->len[depth] != klen || memcmp(f->seg[depth], key, klen) != 0)
                continue;
            if (depth + 1 == f->nseg)
                hit = hit < 0 ? k : hit;
            else
                deeper |= 1ull << k;
        }
        int rc = 0;
        if (hit >= 0) {
            if (*n == MASK_MAX_SPANS)
                return -1;
            rc = mask_value(c, b, i, hit, base + m.val_off, m.val_len, &sp[*n]);
            *n += rc == 0;
        } else if (deeper && text[m.val_off] == '{') {
            rc = walk(c, b, i, base + m.val_off, m.val_len, depth + 1, deeper, sp, n);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Finds every masked member of record i, hashes it; returns how many, or -1
 * when the record holds more than MASK_MAX_SPANS, -2 out of memory. */
static int find_spans(const struct mask_conf *c, struct weir_batch *b, uint32_t i,
                      struct span *sp)
{
    int n = 0, rc = walk(c, b, i, 0, b->rec[i].value_len, 0, c->all, sp, &n);
    return rc < 0 ? rc : n;
}

/* The message key replaced by its mask. */
static int mask_message_key(const struct mask_conf *c, struct weir_batch *b, uint32_t i)
{
    struct weir_record *r = &b->rec[i];
    if (!r->key)
        return 0;
    char *hex = weir_arena_alloc(&b->arena, (size_t)c->length);
    if (!hex)
        return -1;
    hmac_hex(c, r->key, r->key_len, hex);
    r->key = hex;
    r->key_len = (uint32_t)c->length;
    return 0;
}

/* The record with each span's value replaced by its quoted mask. */
static int rewrite(const struct mask_conf *c, struct weir_batch *b, uint32_t i,
                   const struct span *sp, int n)
{
    struct weir_record *r = &b->rec[i];
    size_t cap = r->value_len + (size_t)n * ((size_t)c->length + 2);
    char *out = weir_arena_alloc(&b->arena, cap), *o = out;
    if (!out)
        return -1;
    uint32_t at = 0;
    for (int k = 0; k < n; k++) {
        memcpy(o, r->value + at, sp[k].off - at);
        o += sp[k].off - at;
        if (sp[k].hex) {
            *o++ = '"';
            memcpy(o, sp[k].hex, (size_t)c->length);
            o += c->length;
            *o++ = '"';
        } else {
            memcpy(o, "null", 4);
            o += 4;
        }
        at = sp[k].off + sp[k].len;
    }
    memcpy(o, r->value + at, r->value_len - at);
    o += r->value_len - at;
    r->value = out;
    r->value_len = (uint32_t)(o - out);
    return 0;
}

static int mask_process(struct weir_op *op, struct weir_batch *b)
{
    const struct mask_conf *c = op->conf;
    struct span sp[MASK_MAX_SPANS];
    for (uint32_t i = 0; i < b->n; i++) {
        struct weir_record *r = &b->rec[i];
        r->members = NULL; /* the value is rewritten below */
        if (c->message_key && mask_message_key(c, b, i) < 0)
            return -ENOMEM;
        if (!weir_record_live(r)) { /* mask cannot look into it: its raw bytes stay here */
            r->value = "";
            r->value_len = 0;
            continue;
        }
        for (size_t k = 0; k < c->fields.n; k++) /* absent unless found */
            b->S[(size_t)i * b->nstr + c->cols[k]] = (struct weir_str){0};
        int n = find_spans(c, b, i, sp);
        if (n == -2 || (n > 0 && rewrite(c, b, i, sp, n) < 0))
            return -ENOMEM;
        if (n < 0) {
            r->value = "";
            r->value_len = 0;
            weir_batch_kill(b, i, "mask: more than 64 masked values in one record");
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_mask = {
    .name = "mask",
    .reads_declared = 1,
    .summary = "replaces fields (names or JSON pointers) and optionally the message key with "
               "their keyed HMAC-SHA256 (hex), in the record itself",
    .options = mask_options,
    .conf_size = sizeof(struct mask_conf),
    .prepare = mask_prepare,
    .process = mask_process,
    .release = mask_release,
};
