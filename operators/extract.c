/* extract: the parse stage for JSON records.
 *
 * `fields` maps output names to JSON pointers into each record:
 *
 *     "fields": {"amount": "/amount",
 *                "card":   {"path": "/card/id", "type": "string"},
 *                "ts":     {"path": "/ts", "type": "timestamp"},
 *                "vip":    {"path": "/vip", "type": "bool", "default": false}}
 *
 * number and bool fields fill feature columns (bool as 1/0), string fields
 * fill string columns, and the (at most one) timestamp field sets the
 * record's event time. The pointers are compiled once into an on-demand
 * scanner (engine/jscan.h) that makes one pass over each record, validating
 * it whole and noting where the wanted values lie; only those values are
 * decoded. A record that is not valid JSON, not an object, or lacks a
 * required field, has one of the wrong type, or a number no float holds is
 * killed with a reason that goes to the dead-letter sink; the rest of the
 * batch goes on. A record whose source wrote the object itself (a CSV row)
 * comes with its members listed (engine/batch.h): fields "/name" are read
 * off them, without the scan, with the same results (the object is valid
 * by construction).
 *
 * Lenient on purpose, because producers differ: a number field accepts a
 * string holding a number ("12.5", as CSV-minded producers write), a string
 * field accepts a number (ids are often numeric), a bool field accepts the
 * strings "true" and "false", and null counts as absent.
 *
 * Timestamps: an epoch number (a JSON number or a string holding one) or a
 * date-time string. The epoch unit is the field's "unit": s, ms, us, ns, or
 * auto (the default), which decides by magnitude: |x| < 1e11 is seconds (up
 * to year 5138), < 1e14 milliseconds, < 1e17 microseconds, else nanoseconds;
 * so 1441712340 is read as seconds, never as milliseconds of January 1970.
 * Fractions are kept to the millisecond (rounded). Date-times are RFC 3339
 * "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" (also 't', 'z', "+HHMM", a
 * space for 'T', and no zone: UTC), e.g. "YYYY-MM-DD HH:MM:SS"; fraction
 * digits past milliseconds are dropped.
 *
 * `"fields": {}` only validates records (the loader inserts such an extract
 * when a pipeline has none).
 *
 * Wildcards: `"V*": "/V*"` (or the object form with that path) is one
 * field per top-level field of the input whose name the pattern matches,
 * named by the key with its '*' standing for what the path's '*' matched
 * (`"pca_*": "/V*"` gives pca_1, pca_2, ...). Pipelines are resolved when
 * they load, so the input's fields must be known then: a CSV file source
 * reads its header at load; with JSON Lines a wildcard is an error. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8cut.h"
#include "engine/jscan.h"
#include "engine/operator.h"
#include "operators/extract_time.h"

#define FEATURE_RANGE "a number of magnitude at most 3.4e38 (features are 32-bit floats)"

enum extract_type { XT_NUMBER, XT_STRING, XT_BOOL, XT_TIMESTAMP };

/* What "expected ..." says for each type. */
static const char *const type_noun[] = {"a number", "a string", "true or false", "a timestamp"};
static const char *const type_name[] = {"number", "string", "bool", "timestamp"};

struct extract_field {
    const char *name;    /* output name: the key in "fields" */
    const char *pointer; /* RFC 6901 JSON pointer */
    int type;            /* enum extract_type */
    int required;
    int has_default;
    int col;             /* feature or string column; -1 for the timestamp */
    int unit;            /* enum weir_epoch_unit: timestamps given as numbers */
    double def_num;      /* number, bool (1/0) and timestamp (ms) defaults */
    const char *def_str; /* string default, borrowed from the pipeline's JSON */
    uint32_t def_len;
};

struct extract_conf {
    const json_t *fields;     /* the option as written */
    /* built by prepare(), freed by release() */
    struct extract_field *f;  /* (nf) */
    size_t nf;
    struct weir_jscan *scan;  /* the nf pointers, then "" (the root, to learn its type) */
    char **owned;             /* names and pointers wildcards made up (nowned) */
    size_t nowned;
};

static const struct weir_option extract_options[] = {
    {"fields", WEIR_OPT_JSON, NULL,
     "output name -> JSON pointer (\"/amount\"), or {\"path\", \"type\" (number, string, "
     "bool or timestamp), \"default\", \"required\", \"unit\" (a timestamp's number: auto, s, ms, "
     "us or ns; auto by magnitude)}; {} only validates records; \"V*\": "
     "\"/V*\" is every matching top-level field of the input known at load (a CSV file's "
     "header; a JSON Lines file's first records, in order of first appearance)",
     offsetof(struct extract_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {0},
};

/* The object form of one field, checked by its own option table. */
struct field_spec {
    const char *path;
    int type;
    const json_t *def;
    int required;
    int unit;
};

static const struct weir_option field_options[] = {
    {"path", WEIR_OPT_STRING, NULL, "JSON pointer into the record",
     offsetof(struct field_spec, path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"type", WEIR_OPT_ENUM, "\"number\"", "what the value must be",
     offsetof(struct field_spec, type), 0, 0, 0, "number|string|bool|timestamp"},
    {"default", WEIR_OPT_JSON, NULL, "used when the field is absent or null",
     offsetof(struct field_spec, def), 0, 0, 0, NULL},
    {"required", WEIR_OPT_BOOL, NULL,
     "kill records without it (default: true unless a default is given)",
     offsetof(struct field_spec, required), 0, 0, 0, NULL},
    {"unit", WEIR_OPT_ENUM, "\"auto\"",
     "timestamp fields: what an epoch number counts; auto decides by magnitude (< 1e11 s, "
     "< 1e14 ms, < 1e17 us, else ns); date-times are RFC 3339 or \"YYYY-MM-DD HH:MM:SS\" (UTC)",
     offsetof(struct field_spec, unit), 0, 0, 0, "auto|s|ms|us|ns"},
    {0},
};

/* A timestamp value: an epoch number (or a string holding one) in the
 * field's unit, or a date-time. */
static int timestamp_value(const char *text, const struct weir_jval *v, int unit, int64_t *ms)
{
    double x;
    if (v->type == WEIR_JSTRING) {
        const char *s = text + v->off;
        char tmp[64];
        size_t len = v->len;
        if (v->escaped && len <= sizeof tmp) {
            len = weir_jstr_unescape(s, v->len, tmp);
            s = tmp;
        }
        if (weir_extract_datetime(s, len, ms) == 0)
            return 0;
    }
    int rc = weir_jval_number(text, v, &x);
    if (rc < 0)
        return rc == -ERANGE ? rc : -EINVAL;
    return weir_extract_epoch_ms(x, unit, ms); /* -ERANGE: a number, but no time */
}

/* ---- prepare ---------------------------------------------------------------- */

/* A short rendering of what the user wrote, for "got ...": 15 digits give
 * back the number as written (1e300), not its 17-digit expansion. */
static const char *json_brief(const json_t *v, char *buf, size_t size)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    snprintf(buf, size, "%.40s%s", text ? text : "?", text && strlen(text) > 40 ? "..." : "");
    free(text);
    return buf;
}

/* Checks a default against the field's type and stores it. */
static int field_default(struct extract_field *f, const json_t *def, struct weir_prepare *p,
                         const char *path)
{
    char got[64], dp[256];
    int ok = 0;
    weir_path_key(dp, sizeof dp, path, "default");
    switch (f->type) {
    case XT_NUMBER:
        if ((ok = json_is_number(def) && !isinf((float)json_number_value(def))))
            f->def_num = json_number_value(def);
        break;
    case XT_BOOL:
        if ((ok = json_is_boolean(def)))
            f->def_num = json_is_true(def) ? 1.0 : 0.0;
        break;
    case XT_STRING:
        if ((ok = json_is_string(def))) {
            f->def_str = json_string_value(def);
            f->def_len = (uint32_t)json_string_length(def);
        }
        break;
    case XT_TIMESTAMP: {
        int64_t ms;
        const char *s = json_string_value(def);
        /* Records' event times are int64_t: a default beyond it (1e300)
         * would be an undefined conversion on every record that uses it. */
        if (json_is_number(def) &&
            weir_extract_epoch_ms(json_number_value(def), f->unit, &ms) == 0) {
            f->def_num = (double)ms;
            ok = ms >= 0; /* a negative event time means none */
        } else if (s && weir_extract_datetime(s, strlen(s), &ms) == 0) {
            f->def_num = (double)ms;
            ok = ms >= 0;
        }
        break;
    }
    }
    if (!ok) {
        const char *want = type_noun[f->type];
        if (f->type == XT_TIMESTAMP)
            want = "an epoch number in \"unit\" (0 to 9.2e18 ms) or a date-time like "
                   "\"YYYY-MM-DD HH:MM:SS\" from 1970 on";
        else if (f->type == XT_NUMBER && json_is_number(def))
            want = FEATURE_RANGE;
        weir_diag_add(p->diag, dp, "expected %s, got %s", want, json_brief(def, got, sizeof got));
        return 1;
    }
    f->has_default = 1;
    return 0;
}

/* Fills f from the object form {"path", "type", "default", "required"}. */
static int field_from_object(struct extract_field *f, const json_t *spec, struct weir_prepare *p,
                             const char *path)
{
    struct field_spec s = {0};
    char rp[256];
    int bad = weir_options_apply(field_options, spec, &s, NULL, p->diag, path);
    if (bad)
        return bad;
    f->pointer = s.path;
    f->type = s.type;
    f->unit = s.unit;
    if (json_object_get(spec, "unit") && s.type != XT_TIMESTAMP) {
        weir_diag_add(p->diag, weir_path_key(rp, sizeof rp, path, "unit"),
                      "expected only with \"type\": \"timestamp\", got \"type\": \"%s\"",
                      type_name[s.type]);
        return 1;
    }
    if (s.def && field_default(f, s.def, p, path))
        return 1;
    const json_t *req = json_object_get(spec, "required");
    if (req && s.required && f->has_default) {
        weir_diag_add(p->diag, weir_path_key(rp, sizeof rp, path, "required"),
                      "expected false or no \"required\" when a \"default\" is given, got true");
        return 1;
    }
    f->required = req ? s.required : !f->has_default;
    return 0;
}

/* Fills f from one entry of "fields" and checks its pointer alone, so an
 * error names the field it belongs to. */
static int field_parse(struct extract_field *f, const char *name, const json_t *v,
                       struct weir_prepare *p, const char *path)
{
    char got[64], pp[256];
    f->name = name;
    f->col = -1;
    if (json_is_string(v)) {
        f->pointer = json_string_value(v);
        f->type = XT_NUMBER;
        f->required = 1;
        snprintf(pp, sizeof pp, "%s", path);
    } else if (json_is_object(v)) {
        int bad = field_from_object(f, v, p, path);
        if (bad)
            return bad;
        weir_path_key(pp, sizeof pp, path, "path");
    } else {
        weir_diag_add(p->diag, path, "expected a JSON pointer like \"/%s\" or an object with "
                      "\"path\", got %s", name, json_brief(v, got, sizeof got));
        return 1;
    }
    if (f->pointer[0] != '/' && f->pointer[0] != '\0') {
        weir_diag_add(p->diag, pp, "expected a JSON pointer starting with \"/\", got \"%s\"",
                      f->pointer);
        return 1;
    }
    struct weir_jscan *one = NULL;
    struct weir_error err = {0};
    if (weir_jscan_compile(&one, &f->pointer, 1, &err) < 0) {
        /* jscan says 'JSON pointer #1 "/a~2": why'; keep the why */
        char prefix[300];
        int n = snprintf(prefix, sizeof prefix, "JSON pointer #1 \"%s\": ", f->pointer);
        const char *why = n > 0 && strncmp(err.msg, prefix, (size_t)n) == 0 ? err.msg + n : err.msg;
        weir_diag_add(p->diag, pp, "expected a valid JSON pointer, got \"%s\" (%s)", f->pointer,
                      why);
        return 1;
    }
    weir_jscan_free(one);
    return 0;
}

/* Declares the field's column, or claims the record's timestamp. */
static int field_declare(struct extract_field *f, struct weir_prepare *p, const char *path,
                         const char **ts_name)
{
    char tp[256];
    if (p->schema->nread < sizeof p->schema->read / sizeof p->schema->read[0])
        p->schema->read[p->schema->nread++] = f->pointer;
    switch (f->type) {
    case XT_NUMBER:
    case XT_BOOL:
        f->col = weir_schema_feature_out(p, f->name, path, /*emit*/ 0);
        return f->col < 0;
    case XT_STRING:
        f->col = weir_schema_string_out(p, f->name, path);
        return f->col < 0;
    case XT_TIMESTAMP:
        if (*ts_name) {
            weir_diag_add(p->diag, weir_path_key(tp, sizeof tp, path, "type"),
                          "expected at most one field of type \"timestamp\", got a second "
                          "(the first is \"%s\")", *ts_name);
            return 1;
        }
        *ts_name = f->name;
        p->schema->event_time = 1;
        return 0;
    }
    return 0;
}

static int compile_all(struct extract_conf *c, struct weir_prepare *p, const char *path)
{
    const char **ptrs = calloc(c->nf + 1, sizeof *ptrs);
    struct weir_error err = {0};
    if (!ptrs) {
        weir_diag_add(p->diag, path, "out of memory");
        return 1;
    }
    for (size_t i = 0; i < c->nf; i++)
        ptrs[i] = c->f[i].pointer;
    ptrs[c->nf] = ""; /* the root: its type tells an object from anything else */
    int rc = weir_jscan_compile(&c->scan, ptrs, c->nf + 1, &err);
    free(ptrs);
    if (rc < 0) {
        weir_diag_add(p->diag, path, "%s", err.msg);
        return 1;
    }
    return 0;
}

/* ---- wildcards ----------------------------------------------------------------- */

/* Whether s has exactly one '*' and no '?': the only wildcard form extract
 * takes ("V*", "*_amount", "pca_*"). */
static int one_star(const char *s)
{
    const char *star = strchr(s, '*');
    return star && !strchr(star + 1, '*') && !strchr(s, '?');
}

static char *own(struct extract_conf *c, char *s)
{
    if (s)
        c->owned[c->nowned++] = s;
    return s;
}

/* key[*] with '*' replaced by cap[0..caplen). */
static char *substitute(const char *key, const char *cap, size_t caplen)
{
    const char *star = strchr(key, '*');
    size_t pre = (size_t)(star - key), post = strlen(star + 1);
    char *out = malloc(pre + caplen + post + 1);
    if (out)
        snprintf(out, pre + caplen + post + 1, "%.*s%.*s%s", (int)pre, key, (int)caplen, cap,
                 star + 1);
    return out;
}

/* "V*": "/V*" (or {"path": "/V*", ...}): one field per top-level input
 * field the pointer's pattern matches, in the input's order, named by the
 * key with its '*' standing for what the pattern's '*' matched. The input's
 * fields must be known when the pipeline loads (a CSV file's header, a
 * JSON Lines file's first records). */
static int expand_wildcard(struct extract_conf *c, const char *key, const json_t *v,
                           struct weir_prepare *p, const char *fp, const char **ts_name)
{
    struct extract_field proto = {0};
    int bad = field_parse(&proto, key, v, p, fp);
    if (bad)
        return bad;
    const char *pat = proto.pointer + 1;
    if (!one_star(key) || proto.pointer[0] != '/' || !one_star(pat) || strpbrk(pat, "/~")) {
        weir_diag_add(p->diag, fp,
                      "expected a name with one '*' and a pointer \"/prefix*suffix\" into the "
                      "record's top level (\"V*\": \"/V*\"), got \"%s\": \"%s\"", key,
                      proto.pointer);
        return 1;
    }
    if (proto.type == XT_TIMESTAMP) {
        weir_diag_add(p->diag, fp, "expected a number, string or bool field for a wildcard, got "
                      "a timestamp");
        return 1;
    }
    if (!p->schema->input_known) {
        weir_diag_add(p->diag, fp,
                      "expected the input's fields known when the pipeline loads to expand "
                      "\"%s\" (a CSV header or the first JSON Lines records of a file source "
                      "that exists), got none: name the fields one by one", proto.pointer);
        return 1;
    }
    size_t pre = (size_t)(strchr(pat, '*') - pat), post = strlen(strchr(pat, '*') + 1);
    int matched = 0;
    for (uint32_t k = 0; k < p->schema->ninput; k++) {
        const char *nm = p->schema->input[k];
        size_t len = strlen(nm);
        if (len < pre + post || memcmp(nm, pat, pre) != 0 ||
            memcmp(nm + len - post, pat + pre + 1, post) != 0)
            continue;
        struct extract_field *f = &c->f[c->nf++];
        *f = proto;
        f->name = own(c, substitute(key, nm + pre, len - pre - post));
        f->pointer = own(c, weir_jpointer_for(nm));
        if (!f->name || !f->pointer) {
            weir_diag_add(p->diag, fp, "out of memory");
            return 1;
        }
        bad += field_declare(f, p, fp, ts_name);
        matched++;
    }
    if (!matched) {
        weir_diag_add(p->diag, fp, "expected \"%s\" to match a field of the input, got none "
                      "(its fields: %s%s%s%s)", proto.pointer, p->schema->input[0],
                      p->schema->ninput > 1 ? ", " : "",
                      p->schema->ninput > 1 ? p->schema->input[1] : "",
                      p->schema->ninput > 2 ? ", ..." : "");
        return 1;
    }
    return bad;
}

static int extract_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct extract_conf *c = vconf;
    char path[256], fp[256], got[64];
    const char *key, *ts_name = NULL;
    const json_t *v;
    int bad = 0;

    weir_path_key(path, sizeof path, p->path, "fields");
    if (!json_is_object(c->fields)) {
        weir_diag_add(p->diag, path, "expected an object mapping output names to JSON pointers, "
                      "got %s", json_brief(c->fields, got, sizeof got));
        return 1;
    }
    size_t cap = json_object_size(c->fields) + 1;
    json_object_foreach((json_t *)c->fields, key, v) {
        if (strchr(key, '*') || strchr(key, '?'))
            cap += p->schema->ninput;
    }
    c->f = calloc(cap, sizeof *c->f);
    c->owned = calloc(2 * cap, sizeof *c->owned);
    if (!c->f || !c->owned) {
        weir_diag_add(p->diag, path, "out of memory");
        return 1;
    }
    json_object_foreach((json_t *)c->fields, key, v) {
        struct extract_field *f = &c->f[c->nf++];
        weir_path_key(fp, sizeof fp, path, key);
        if (!*key) {
            weir_diag_add(p->diag, path, "expected non-empty output names, got \"\"");
            bad++;
            continue;
        }
        if (strchr(key, '*') || strchr(key, '?')) {
            c->nf--;
            bad += expand_wildcard(c, key, v, p, fp, &ts_name);
            continue;
        }
        int fbad = field_parse(f, key, v, p, fp);
        bad += fbad ? fbad : field_declare(f, p, fp, &ts_name);
    }
    if (bad)
        return bad;
    return compile_all(c, p, path);
}

static void extract_release(void *vconf)
{
    struct extract_conf *c = vconf;
    if (!c)
        return;
    weir_jscan_free(c->scan);
    for (size_t k = 0; k < c->nowned; k++)
        free(c->owned[k]);
    free(c->owned);
    c->owned = NULL;
    c->nowned = 0;
    free(c->f);
    c->scan = NULL;
    c->f = NULL;
    c->nf = 0;
}

/* ---- per-worker state, process --------------------------------------------- */

struct extract_state {
    struct weir_jval *vals; /* (nf + 1) scanner output, reused per record */
    /* Records whose source listed their members (CSV rows): which member
     * each field is, worked out once per shape of them. */
    uint64_t shape;         /* the shape colmap is for; 0: none yet */
    int by_members;         /* every field maps to a member or to none */
    int32_t *colmap;        /* (nf) member index, or -1: absent */
};

static int extract_init(struct weir_op *op, struct weir_error *err)
{
    const struct extract_conf *c = op->conf;
    struct extract_state *st = calloc(1, sizeof *st);
    if (st) {
        st->vals = calloc(c->nf + 1, sizeof *st->vals);
        st->colmap = calloc(c->nf + 1, sizeof *st->colmap);
    }
    if (!st || !st->vals || !st->colmap) {
        if (st) {
            free(st->vals);
            free(st->colmap);
        }
        free(st);
        return weir_error_set(err, -ENOMEM, "extract: out of memory");
    }
    op->state = st;
    return 0;
}

static const char *jtype_noun(int t)
{
    switch (t) {
    case WEIR_JNULL: return "null";
    case WEIR_JFALSE: return "false";
    case WEIR_JTRUE: return "true";
    case WEIR_JNUMBER: return "a number";
    case WEIR_JSTRING: return "a string";
    case WEIR_JOBJECT: return "an object";
    case WEIR_JARRAY: return "an array";
    }
    return "nothing";
}

/* Kills record i with a formatted reason copied into the batch's arena. */
static void kill_fmt(struct weir_batch *b, uint32_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void kill_fmt(struct weir_batch *b, uint32_t i, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    const char *r = weir_arena_strdup(&b->arena, msg, len);
    weir_batch_kill(b, i, r ? r : "invalid record (out of memory while describing it)");
}

static void kill_type(struct weir_batch *b, uint32_t i, const struct extract_field *f,
                      const struct weir_jval *v)
{
    kill_fmt(b, i, "field \"%s\" (%s): expected %s, got %s", f->name, f->pointer,
             type_noun[f->type], jtype_noun(v->type));
}

/* Absent or null: the default, nothing, or a dead record. */
static void put_absent(struct weir_batch *b, uint32_t i, const struct extract_field *f,
                       const struct weir_jval *v)
{
    if (f->has_default) {
        if (f->type == XT_STRING)
            b->S[(size_t)i * b->nstr + f->col] = (struct weir_str){f->def_str, f->def_len};
        else if (f->type == XT_TIMESTAMP)
            b->rec[i].ts_ms = (int64_t)f->def_num;
        else
            weir_batch_row(b, i)[f->col] = (float)f->def_num;
    } else if (f->required && v->type == WEIR_JMISSING) {
        kill_fmt(b, i, "missing required field \"%s\" (%s)", f->name, f->pointer);
    } else if (f->required) {
        kill_type(b, i, f, v);
    }
}

static void put_string(struct weir_batch *b, uint32_t i, const struct extract_field *f,
                       const char *text, const struct weir_jval *v)
{
    struct weir_str *dst = &b->S[(size_t)i * b->nstr + f->col];
    if (v->type != WEIR_JSTRING && v->type != WEIR_JNUMBER) {
        kill_type(b, i, f, v);
        return;
    }
    if (!v->escaped) {
        *dst = (struct weir_str){text + v->off, v->len};
        return;
    }
    char *s = weir_arena_alloc(&b->arena, v->len ? v->len : 1);
    if (!s) {
        weir_batch_kill(b, i, "invalid record (out of memory while decoding a string)");
        return;
    }
    *dst = (struct weir_str){s, (uint32_t)weir_jstr_unescape(text + v->off, v->len, s)};
}

/* "true"/"false" as strings, for producers that quote everything. */
static int bool_string(const char *text, const struct weir_jval *v, float *out)
{
    if (v->type != WEIR_JSTRING || v->escaped)
        return -1;
    if (v->len == 4 && memcmp(text + v->off, "true", 4) == 0)
        *out = 1.0f;
    else if (v->len == 5 && memcmp(text + v->off, "false", 5) == 0)
        *out = 0.0f;
    else
        return -1;
    return 0;
}

/* How much of a value a reason quotes: 40 bytes at most. */
static int quoted_len(const char *s, size_t len)
{
    return weir_utf8_prefix(s, len, 40);
}

static void put_field(struct weir_batch *b, uint32_t i, const struct extract_field *f,
                      const char *text, const struct weir_jval *v)
{
    double x;
    int64_t ms = 0;
    int rc;
    float *row = weir_batch_row(b, i);
    if (v->type == WEIR_JMISSING || v->type == WEIR_JNULL) {
        put_absent(b, i, f, v);
        return;
    }
    switch (f->type) {
    case XT_NUMBER: {
        rc = weir_jval_number(text, v, &x);
        /* Features are floats: a value that rounds beyond FLT_MAX would be
         * an infinity every scorer ignores, so a spike there raised nothing
         * (FLT_MAX as weir writes it, 3.4028235e38, still rounds to it). */
        if (rc == -ERANGE || (rc == 0 && isinf((float)x)))
            kill_fmt(b, i, "field \"%s\" (%s): expected " FEATURE_RANGE ", got one out of range",
                     f->name, f->pointer);
        else if (rc < 0)
            kill_type(b, i, f, v);
        else
            row[f->col] = (float)x;
        return;
    }
    case XT_BOOL:
        if (v->type == WEIR_JTRUE || v->type == WEIR_JFALSE)
            row[f->col] = v->type == WEIR_JTRUE ? 1.0f : 0.0f;
        else if (bool_string(text, v, &row[f->col]) < 0)
            kill_type(b, i, f, v);
        return;
    case XT_STRING:
        put_string(b, i, f, text, v);
        return;
    case XT_TIMESTAMP:
        if ((rc = timestamp_value(text, v, f->unit, &ms)) == 0 && ms >= 0)
            b->rec[i].ts_ms = ms;
        else if (rc == -ERANGE)
            kill_fmt(b, i,
                     "field \"%s\" (%s): expected an epoch time of at most 9.2e18 ms "
                     "(in its unit), got %s%.*s%s",
                     f->name, f->pointer, v->type == WEIR_JSTRING ? "\"" : "",
                     quoted_len(text + v->off, v->len), text + v->off,
                     v->type == WEIR_JSTRING ? "\"" : "");
        else if (ms < 0) /* a negative time is "none" from here on: said, not lost in silence */
            kill_fmt(b, i, "field \"%s\" (%s): expected a time from 1970-01-01 on, got %s%.*s%s",
                     f->name, f->pointer, v->type == WEIR_JSTRING ? "\"" : "",
                     quoted_len(text + v->off, v->len), text + v->off,
                     v->type == WEIR_JSTRING ? "\"" : "");
        else if (v->type == WEIR_JSTRING)
            kill_fmt(b, i,
                     "field \"%s\" (%s): expected a timestamp (an epoch number or an "
                     "RFC 3339 / \"YYYY-MM-DD HH:MM:SS\" date-time), got \"%.*s\"",
                     f->name, f->pointer, quoted_len(text + v->off, v->len), text + v->off);
        else
            kill_type(b, i, f, v);
        return;
    }
}

/* Which member each field is in records of r's shape: a pointer "/name"
 * (no escapes, one level) is the last member with that key, as the scanner
 * finds it (the last of duplicate keys wins); other pointers leave such
 * records to the scanner. */
static void map_members(const struct extract_conf *c, struct extract_state *st,
                        const struct weir_record *r)
{
    const struct weir_members *m = r->members;
    st->shape = m->shape;
    st->by_members = 1;
    for (size_t k = 0; k < c->nf; k++) {
        st->colmap[k] = -1;
        if (c->f[k].pointer[0] != '/' || strpbrk(c->f[k].pointer + 1, "/~")) { /* "": the root */
            st->by_members = 0;
            return;
        }
        const char *seg = c->f[k].pointer + 1;
        size_t len = strlen(seg);
        for (uint32_t j = m->n; j-- > 0;)
            if (m->m[j].key_len == len && memcmp(r->value + m->m[j].key_off, seg, len) == 0) {
                st->colmap[k] = (int32_t)j;
                break;
            }
    }
}

/* The scanner's answers, read off the members the source listed: the
 * source wrote the object itself, so it is valid JSON and an object. */
static void vals_from_members(const struct extract_conf *c, const struct extract_state *st,
                              const struct weir_members *m, struct weir_jval *vals)
{
    for (size_t k = 0; k < c->nf; k++) {
        int32_t j = st->colmap[k];
        if (j < 0) {
            vals[k] = (struct weir_jval){.type = WEIR_JMISSING};
            continue;
        }
        const struct weir_member *x = &m->m[j];
        vals[k] = (struct weir_jval){.type = x->type, .escaped = x->escaped, .off = x->val_off,
                                     .len = x->val_len};
    }
    vals[c->nf] = (struct weir_jval){.type = WEIR_JOBJECT};
}

static void extract_record(const struct extract_conf *c, struct extract_state *st,
                           struct weir_batch *b, uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    struct weir_jval *vals = st->vals;
    struct weir_jscan_fail fail = {0, "invalid JSON"};
    const char *text = r->value ? r->value : "";
    if (r->members && r->members->shape != st->shape)
        map_members(c, st, r);
    if (r->members && st->by_members) {
        vals_from_members(c, st, r->members, vals);
    } else if (weir_jscan_run(c->scan, text, r->value_len, vals, &fail) < 0) {
        kill_fmt(b, i, "invalid JSON at byte %zu: %s", fail.offset, fail.reason);
        return;
    }
    if (vals[c->nf].type != WEIR_JOBJECT) {
        weir_batch_kill(b, i, "record is not a JSON object");
        return;
    }
    for (size_t k = 0; k < c->nf && weir_record_live(r); k++)
        put_field(b, i, &c->f[k], text, &vals[k]);
}

static int extract_process(struct weir_op *op, struct weir_batch *b)
{
    const struct extract_conf *c = op->conf;
    struct extract_state *st = op->state;
    for (uint32_t i = 0; i < b->n; i++)
        if (weir_record_live(&b->rec[i]))
            extract_record(c, st, b, i);
    return WEIR_OP_CONTINUE;
}

static void extract_destroy(struct weir_op *op)
{
    struct extract_state *st = op->state;
    if (st) {
        free(st->vals);
        free(st->colmap);
    }
    free(st);
    op->state = NULL;
}

const struct weir_operator_type weir_op_extract = {
    .name = "extract",
    .reads_declared = 1,
    .summary = "Parses JSON records: named fields become features, strings and the event time",
    .options = extract_options,
    .conf_size = sizeof(struct extract_conf),
    .prepare = extract_prepare,
    .init = extract_init,
    .process = extract_process,
    .destroy = extract_destroy,
    .release = extract_release,
};
