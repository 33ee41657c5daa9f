/* mask: replaces sensitive top-level fields (card numbers, e-mails, IPs)
 * with the hex HMAC-SHA256 of their value, keyed by a secret, so that joins
 * and keys still work (the same card gives the same mask) while the raw
 * value never leaves the engine.
 *
 *     {"type": "mask", "fields": ["card", "email"], "key_env": "WEIR_MASK_KEY", "length": 32}
 *
 * The key comes from a file (`key_file`, its content with the trailing
 * newline stripped, the path beside the pipeline file) or an environment
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
 * coordinates. Each field is also a string column of the same name holding
 * the mask (an earlier extract's column of that name is overwritten), for
 * "by" keys and joins.
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

struct mask_conf {
    struct weir_strlist fields;
    const char *key_file;
    const char *key_env;
    int64_t length;
    /* built by prepare(), freed by release() */
    SHA256_CTX inner, outer; /* the key's pads absorbed */
    int cols[MASK_MAX_FIELDS];
    struct weir_projection names; /* field name -> its index */
};

static const struct weir_option mask_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "top-level fields to mask (names, not pointers)",
     offsetof(struct mask_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"key_file", WEIR_OPT_STRING, NULL,
     "file holding the HMAC key (trailing newline stripped; relative: beside the pipeline file)",
     offsetof(struct mask_conf, key_file), 0, 0, 0, NULL},
    {"key_env", WEIR_OPT_STRING, NULL, "environment variable holding the HMAC key",
     offsetof(struct mask_conf, key_env), 0, 0, 0, NULL},
    {"length", WEIR_OPT_INT, "64", "hex characters kept of the 64 of HMAC-SHA256",
     offsetof(struct mask_conf, length), WEIR_OPT_RANGE, 8, 64, NULL},
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
    int more = fgetc(f) != EOF;
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
        const char *name = c->fields.v[k];
        weir_path_index(ip, sizeof ip, fp, k);
        if (!*name || name[0] == '/') {
            weir_diag_add(p->diag, ip, "expected a top-level field name, got \"%s\"", name);
            bad++;
            continue;
        }
        /* An earlier extract's column of that name gets the mask too. */
        int col = -1;
        for (uint32_t j = 0; j < p->schema->nstr; j++)
            if (strcmp(p->schema->str[j].name, name) == 0 && p->schema->str[j].producer >= 0)
                col = (int)j;
        c->cols[k] = col >= 0 ? col : weir_schema_string_out(p, name, ip);
        bad += c->cols[k] < 0;
    }
    long n = bad ? -1 : read_key(c, raw, p, key, sizeof key);
    if (n < 0)
        return bad ? bad : 1;
    hmac_setup(c, key, (size_t)n);
    OPENSSL_cleanse(key, sizeof key);
    if (weir_projection_build(&c->names, NULL, 0, NULL, 0, c->fields.v, c->fields.n) < 0) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    return 0;
}

static void mask_release(void *vconf)
{
    struct mask_conf *c = vconf;
    weir_projection_free(&c->names);
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

/* Finds every masked member of record i, hashes it; returns how many, or -1
 * when the record holds more than MASK_MAX_SPANS. */
static int find_spans(const struct mask_conf *c, struct weir_batch *b, uint32_t i,
                      struct span *sp)
{
    const struct weir_record *r = &b->rec[i];
    struct weir_jmember m;
    uint32_t pos = 0, nth = 0;
    int n = 0;
    char kb[256];
    while (weir_jobject_next(r->value, r->value_len, &pos, &m)) {
        const char *key = r->value + m.key_off;
        uint32_t klen = m.key_len;
        if (m.key_escaped && klen <= sizeof kb) {
            klen = (uint32_t)weir_jstr_unescape(key, m.key_len, kb);
            key = kb;
        }
        int32_t k = weir_projection_decide_nth(&c->names, nth++, key, klen);
        if (k < 0)
            continue;
        if (n == MASK_MAX_SPANS)
            return -1;
        const char *v = r->value + m.val_off;
        struct weir_str *col = &b->S[(size_t)i * b->nstr + c->cols[k]];
        sp[n] = (struct span){.off = m.val_off, .len = m.val_len};
        if (m.val_len == 4 && memcmp(v, "null", 4) == 0) {
            *col = (struct weir_str){0};
            n++;
            continue;
        }
        char *hex = weir_arena_alloc(&b->arena, (size_t)c->length + m.val_len);
        if (!hex)
            return -2;
        if (v[0] == '"') { /* the decoded content, in the arena after the hex */
            size_t len = weir_jstr_unescape(v + 1, m.val_len - 2, hex + c->length);
            hmac_hex(c, hex + c->length, len, hex);
        } else {
            hmac_hex(c, v, m.val_len, hex);
        }
        sp[n++].hex = hex;
        *col = (struct weir_str){.p = hex, .len = (uint32_t)c->length};
    }
    return n;
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
    .summary = "replaces top-level fields with their keyed HMAC-SHA256 (hex), in the record itself",
    .options = mask_options,
    .conf_size = sizeof(struct mask_conf),
    .prepare = mask_prepare,
    .process = mask_process,
    .release = mask_release,
};
