/* aggregate: tumbling, hopping and session windows per key by event time,
 * one result record per (key, window) once the watermark passes its end.
 *
 * Tumbling windows are [k * size, (k + 1) * size) (epoch-aligned); hopping
 * windows [k * hop, k * hop + size), so a record is in every window whose
 * start lies in (t - size, t]; sessions are runs of a key's records less than
 * `gap` apart, closed `gap` after their last record. Aggregates per window:
 * count, sum, mean, min, max, stddev (sample) of numeric fields; NaN and
 * infinite values are skipped (count counts records).
 *
 * The watermark is the partition's largest event time seen by this operator
 * minus allowed_lateness (records behind it are late: dead-lettered or let
 * through unaggregated, `late`). At the end of each batch, windows whose end
 * (a session's: last record + gap) the watermark reached are written as new
 * records, tied to that batch (its input is acknowledged only after they went
 * out): {"<by>": key, "window_start": RFC 3339, "window_end": RFC 3339} plus
 * the aggregates as features, the key also as the Kafka key and the "by"
 * string field, event time end - 1 ms. Input records go on unchanged.
 *
 * State per key: the open windows, a fixed number of slots (tumbling and
 * hopping: ceil((size + allowed_lateness) / hop) + 1, enough for every window
 * a non-late record can still reach; sessions: max_sessions, the oldest
 * session being written early when a key has more open at once), 24 + 48
 * bytes per field per slot, durable with the store. A sweep over the
 * partition's keys finds the due windows when the watermark passes the
 * earliest known end (or before a new key would push one out of a full
 * store), and deletes the keys left with none open. Windows still open when the input ends stay in the
 * state (with --state-dir or a changelog they close in a later run), and so
 * does the watermark (see newest_seen). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/jsonw.h"
#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/late.h"

#define AGG_MAX_FIELDS 8
#define AGG_MAX_OUTS 32
#define AGG_MAX_SLOTS 64

enum { KIND_TUMBLING, KIND_HOPPING, KIND_SESSION };
enum { A_COUNT, A_SUM, A_MEAN, A_MIN, A_MAX, A_STDDEV };
enum { LATE_DEAD, LATE_PASS };

static const char *const a_names[] = {"count", "sum", "mean", "min", "max", "stddev"};

struct aggregate_conf {
    int kind;
    uint64_t size_ns, hop_ns, gap_ns;
    const json_t *aggregates;
    int64_t max_sessions;
    int late;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int64_t size_ms, hop_ms, gap_ms, lateness_ms;
    uint32_t nfields, naggs, slots, slot_size;
    int field_col[AGG_MAX_FIELDS];
    struct {
        int kind, slot, out_col;
    } agg[AGG_MAX_OUTS];
    uint64_t layout;
};

static const struct weir_option aggregate_options[] = {
    {"kind", WEIR_OPT_ENUM, NULL,
     "tumbling ([k*size, (k+1)*size)), hopping ([k*hop, k*hop + size)) or session (records less "
     "than gap apart)",
     offsetof(struct aggregate_conf, kind), WEIR_OPT_REQUIRED, 0, 0, "tumbling|hopping|session"},
    {"size", WEIR_OPT_DURATION, NULL, "tumbling and hopping: window length",
     offsetof(struct aggregate_conf, size_ns), 0, 0, 0, NULL},
    {"hop", WEIR_OPT_DURATION, NULL, "hopping: how far apart windows start",
     offsetof(struct aggregate_conf, hop_ns), 0, 0, 0, NULL},
    {"gap", WEIR_OPT_DURATION, NULL, "session: the inactivity that closes a session",
     offsetof(struct aggregate_conf, gap_ns), 0, 0, 0, NULL},
    {"aggregates", WEIR_OPT_JSON, NULL,
     "list of {\"agg\": count|sum|mean|min|max|stddev, \"field\": feature (not for count), "
     "\"out\": feature name}",
     offsetof(struct aggregate_conf, aggregates), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"max_sessions", WEIR_OPT_INT, "4",
     "session: open sessions kept per key (out-of-order records can open several); past it the "
     "oldest is written early",
     offsetof(struct aggregate_conf, max_sessions), WEIR_OPT_RANGE, 1, AGG_MAX_SLOTS, NULL},
    {"late", WEIR_OPT_ENUM, "\"dead\"",
     "records behind the watermark or without an event time: dead (dead-letter sink) or pass "
     "(on, not aggregated)",
     offsetof(struct aggregate_conf, late), 0, 0, 0, "dead|pass"},
    WEIR_STATE_OPTION_ROWS(struct aggregate_conf, state),
    {0},
};

struct agg_spec {
    int agg;
    const char *field;
    const char *out;
};

static const struct weir_option spec_options[] = {
    {"agg", WEIR_OPT_ENUM, NULL, "aggregate", offsetof(struct agg_spec, agg), WEIR_OPT_REQUIRED, 0,
     0, "count|sum|mean|min|max|stddev"},
    {"field", WEIR_OPT_STRING, NULL, "input", offsetof(struct agg_spec, field), 0, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, NULL, "output", offsetof(struct agg_spec, out), WEIR_OPT_REQUIRED, 0,
     0, NULL},
    {0},
};

/* ---- prepare ------------------------------------------------------------- */

static int need(struct weir_prepare *p, const char *key, int ok, const char *what)
{
    char path[256];
    if (ok)
        return 0;
    weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, key), "%s", what);
    return 1;
}

static int prepare_times(struct aggregate_conf *c, const json_t *raw, struct weir_prepare *p)
{
    if (weir_late_whole_ms(p, "size", c->size_ns, &c->size_ms) +
        weir_late_whole_ms(p, "hop", c->hop_ns, &c->hop_ms) +
        weir_late_whole_ms(p, "gap", c->gap_ns, &c->gap_ms))
        return 1;
    c->lateness_ms = p->lateness_ms;
    int session = c->kind == KIND_SESSION;
    if (need(p, "size", session != (json_object_get(raw, "size") != NULL),
             session ? "expected no \"size\" with \"kind\": \"session\" (it has \"gap\")"
                     : "expected a \"size\" of at least 1ms") ||
        need(p, "size", session || c->size_ms >= 1, "expected a duration of at least 1ms") ||
        need(p, "hop", (c->kind == KIND_HOPPING) == (json_object_get(raw, "hop") != NULL),
             c->kind == KIND_HOPPING ? "expected a \"hop\" with \"kind\": \"hopping\""
                                     : "expected \"hop\" only with \"kind\": \"hopping\"") ||
        need(p, "hop", c->kind != KIND_HOPPING || (c->hop_ms >= 1 && c->hop_ms <= c->size_ms),
             "expected a duration of at least 1ms and at most \"size\"") ||
        need(p, "gap", session == (json_object_get(raw, "gap") != NULL),
             session ? "expected a \"gap\" with \"kind\": \"session\""
                     : "expected \"gap\" only with \"kind\": \"session\"") ||
        need(p, "gap", !session || c->gap_ms >= 1, "expected a duration of at least 1ms") ||
        need(p, "max_sessions", session || !json_object_get(raw, "max_sessions"),
             "expected \"max_sessions\" only with \"kind\": \"session\""))
        return 1;
    if (c->kind == KIND_TUMBLING)
        c->hop_ms = c->size_ms;
    int64_t slots = session ? c->max_sessions
                            : (c->size_ms + c->lateness_ms + c->hop_ms - 1) / c->hop_ms + 1;
    if (need(
            p,
            session                    ? "max_sessions"
            : c->kind == KIND_TUMBLING ? "size"
                                       : "hop",
            slots <= AGG_MAX_SLOTS,
            c->kind == KIND_TUMBLING
                ? "expected at most 64 open windows per key ((size + allowed_lateness) / size + 1: "
                  "a larger size or a shorter allowed_lateness)"
                : "expected at most 64 open windows per key ((size + allowed_lateness) / hop + 1)"))
        return 1;
    c->slots = (uint32_t)slots;
    return 0;
}

static int prepare_one(struct aggregate_conf *c, const json_t *obj, const char *path,
                       struct weir_prepare *p)
{
    static const char *const none[] = {NULL};
    struct agg_spec a = {0};
    char at[256];
    if (!json_is_object(obj)) {
        weir_diag_add(p->diag, path, "expected an object like {\"agg\": \"sum\", \"field\": "
                                     "\"amount\", \"out\": \"amount_sum\"}");
        return 1;
    }
    if (weir_options_apply(spec_options, obj, &a, none, p->diag, path))
        return 1;
    int wants = a.agg != A_COUNT;
    if (wants != (a.field != NULL)) {
        weir_diag_add(p->diag, wants ? path : weir_path_key(at, sizeof at, path, "field"),
                      "expected %s with \"agg\": \"%s\"", wants ? "a \"field\"" : "no \"field\"",
                      a_names[a.agg]);
        return 1;
    }
    int slot = -1;
    if (a.field) {
        int col = weir_schema_feature_in(p, a.field, weir_path_key(at, sizeof at, path, "field"));
        if (col < 0)
            return 1;
        for (uint32_t f = 0; f < c->nfields && slot < 0; f++)
            slot = c->field_col[f] == col ? (int)f : -1;
        if (slot < 0) {
            if (c->nfields == AGG_MAX_FIELDS) {
                weir_diag_add(p->diag, at, "expected at most %d fields", AGG_MAX_FIELDS);
                return 1;
            }
            c->field_col[c->nfields] = col;
            slot = (int)c->nfields++;
        }
    }
    int out = weir_schema_feature_out(p, a.out, weir_path_key(at, sizeof at, path, "out"), 1);
    if (out < 0)
        return 1;
    for (uint32_t k = 0; k < c->naggs; k++)
        if (c->agg[k].out_col == out) {
            weir_diag_add(p->diag, at, "expected a name not used twice, got \"%s\"", a.out);
            return 1;
        }
    c->agg[c->naggs].kind = a.agg;
    c->agg[c->naggs].slot = slot;
    c->agg[c->naggs].out_col = out;
    c->naggs++;
    return 0;
}

static int aggregate_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct aggregate_conf *c = vconf;
    char kp[256], path[256];
    int bad = prepare_times(c, raw, p) + weir_state_opts_prepare(&c->state, raw, p);
    bad += weir_schema_event_time(p, NULL, "no record falls in a window (\"late\": \"dead\" "
                                  "dead-letters every record, \"pass\" lets each through)");
    if (bad)
        return bad;
    weir_path_key(kp, sizeof kp, p->path, "aggregates");
    size_t n = json_array_size(c->aggregates);
    if (!json_is_array(c->aggregates) || n == 0 || n > AGG_MAX_OUTS) {
        weir_diag_add(p->diag, kp, "expected a list of 1 to %d aggregates", AGG_MAX_OUTS);
        return 1;
    }
    for (size_t i = 0; i < n && !bad; i++)
        bad += prepare_one(c, json_array_get(c->aggregates, i),
                           weir_path_index(path, sizeof path, kp, i), p);
    int session = c->kind == KIND_SESSION;
    bad += weir_state_ttl_covers(&c->state, (session ? c->gap_ms : c->size_ms) + c->lateness_ms,
                                 session ? "gap + allowed_lateness" : "size + allowed_lateness",
                                 "a key that expires sooner loses windows not yet written", p);
    c->slot_size = 24u + 48u * c->nfields;
    uint64_t h = weir_hash_u64(weir_hash_str(WEIR_HASH_SEED, "aggregate+seen"), (uint64_t)c->kind);
    h = weir_hash_u64(weir_hash_u64(weir_hash_u64(h, c->slots), (uint64_t)c->size_ms),
                      (uint64_t)(c->hop_ms + 31 * c->gap_ms));
    for (uint32_t f = 0; f < c->nfields && !bad; f++)
        h = weir_hash_str(h, p->schema->feat[c->field_col[f]].name);
    c->layout = h;
    return bad;
}

/* ---- per key: open windows ----------------------------------------------- */

struct acc {
    double sum, mean, m2, min, max;
    uint32_t n, pad;
};

struct slot {
    int64_t start, end; /* session: first and last record's time */
    uint32_t count, pad;
    struct acc acc[];   /* (nfields) */
};

struct value {
    uint32_t n, pad; /* open windows */
    int64_t seen;    /* the partition's largest event time when the key last took a record */
    /* then (slots) struct slot of slot_size bytes */
};

static struct slot *slot_at(const struct aggregate_conf *c, struct value *v, uint32_t i)
{
    return (struct slot *)((char *)(v + 1) + (size_t)i * c->slot_size);
}

static int64_t due(const struct aggregate_conf *c, const struct slot *s)
{
    return c->kind == KIND_SESSION ? s->end + c->gap_ms : s->end;
}

static void acc_add(const struct aggregate_conf *c, struct slot *s, const float *row)
{
    s->count++;
    for (uint32_t f = 0; f < c->nfields; f++) {
        double x = row[c->field_col[f]];
        struct acc *a = &s->acc[f];
        if (!isfinite(x))
            continue;
        a->n++;
        a->sum += x;
        a->min = a->n == 1 || x < a->min ? x : a->min;
        a->max = a->n == 1 || x > a->max ? x : a->max;
        double d = x - a->mean;
        a->mean += d / a->n;
        a->m2 += d * (x - a->mean);
    }
}

/* Folds session b into a (b's slot is then removed by the caller). */
static void acc_merge(const struct aggregate_conf *c, struct slot *a, const struct slot *b)
{
    a->start = b->start < a->start ? b->start : a->start;
    a->end = b->end > a->end ? b->end : a->end;
    a->count += b->count;
    for (uint32_t f = 0; f < c->nfields; f++) {
        struct acc *x = &a->acc[f];
        const struct acc *y = &b->acc[f];
        if (y->n == 0)
            continue;
        if (x->n == 0) {
            *x = *y;
            continue;
        }
        double n = (double)x->n + y->n, d = y->mean - x->mean; /* Chan et al. */
        x->m2 += y->m2 + d * d * x->n * y->n / n;
        x->mean += d * y->n / n;
        x->sum += y->sum;
        x->min = y->min < x->min ? y->min : x->min;
        x->max = y->max > x->max ? y->max : x->max;
        x->n += y->n;
    }
}

static void slot_remove(const struct aggregate_conf *c, struct value *v, uint32_t i)
{
    if (i + 1 < v->n)
        memmove(slot_at(c, v, i), slot_at(c, v, i + 1), (size_t)(v->n - 1 - i) * c->slot_size);
    v->n--;
}

static struct slot *slot_new(const struct aggregate_conf *c, struct value *v, int64_t start,
                             int64_t end)
{
    struct slot *s = slot_at(c, v, v->n++);
    memset(s, 0, c->slot_size);
    s->start = start;
    s->end = end;
    return s;
}

/* ---- per worker ---------------------------------------------------------- */

struct part_info {
    int64_t next_due; /* earliest known due time of an open window */
    int touched;
    int swept_early; /* in this batch, by sweep_if_full */
};

struct aggregate_state {
    struct part_info *parts;
    uint32_t nparts;
    struct weir_late late; /* the largest event time seen, by partition slot */
    struct weir_batch *out; /* results being filled */
    struct weir_buf json;   /* scratch for a result's raw value */
    struct weir_buf keys;   /* sweep: keys found due (klen, bytes) */
};

static int aggregate_init(struct weir_op *op, struct weir_error *err)
{
    const struct aggregate_conf *c = op->conf;
    op->state = calloc(1, sizeof(struct aggregate_state));
    uint32_t size = (uint32_t)(sizeof(struct value) + (size_t)c->slots * c->slot_size);
    if (!op->state || weir_op_state_declare(op, &c->state, size, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "aggregate: out of memory");
    return 0;
}

static void aggregate_destroy(struct weir_op *op)
{
    struct aggregate_state *st = op->state;
    if (!st)
        return;
    if (st->out)
        weir_batch_put(st->out);
    weir_buf_free(&st->json);
    weir_buf_free(&st->keys);
    weir_late_free(&st->late);
    free(st->parts);
    free(st);
    op->state = NULL;
}

static struct part_info *part_info(struct aggregate_state *st, uint32_t part)
{
    if (part >= st->nparts) {
        uint32_t n = part + 8;
        struct part_info *m = realloc(st->parts, n * sizeof *m);
        if (!m)
            return NULL;
        for (uint32_t i = st->nparts; i < n; i++)
            m[i] = (struct part_info){INT64_MIN + 1, 0, 0}; /* sweep once: restored */
        st->parts = m;
        st->nparts = n;
    }
    return &st->parts[part];
}

static void aggregate_partition(struct weir_op *op, uint32_t part, int assigned)
{
    struct aggregate_state *st = op->state;
    (void)assigned;
    if (st && part < st->nparts) /* restored windows are found by the first sweep */
        st->parts[part] = (struct part_info){INT64_MIN + 1, 0, 0};
    if (st)
        weir_late_reset(&st->late, part);
}

/* The watermark survives a restart through the keys (late.h): each
 * remembers the partition's largest event time when it last took a record,
 * so a record behind it is late after a restart as before it, instead of
 * opening a window already written. The key that took the largest time
 * keeps that window open, so a sweep never deletes it. */
static int64_t newest_seen(const void *conf, const void *value)
{
    (void)conf;
    return ((const struct value *)value)->seen;
}

/* ---- results ------------------------------------------------------------- */

static const char *key_of(struct weir_op *op, const struct weir_batch *b, uint32_t i)
{
    int col = op->keyed->by_col;
    if (col >= 0)
        return b->S[(size_t)i * b->nstr + (size_t)col].p;
    return col == WEIR_BY_KAFKA_KEY ? b->rec[i].key : NULL;
}

static uint32_t key_len(struct weir_op *op, const struct weir_batch *b, uint32_t i)
{
    int col = op->keyed->by_col;
    if (col >= 0)
        return b->S[(size_t)i * b->nstr + (size_t)col].len;
    return col == WEIR_BY_KAFKA_KEY && b->rec[i].key ? b->rec[i].key_len : 0;
}

/* Sends the results so far on, tied to the input batch in. */
static int send_results(struct weir_op *op, struct weir_batch *in)
{
    struct aggregate_state *st = op->state;
    struct weir_batch *out = st->out;
    if (!out)
        return WEIR_OP_CONTINUE;
    st->out = NULL;
    if (out->n == 0) {
        weir_batch_put(out);
        return WEIR_OP_CONTINUE;
    }
    int rc = weir_op_batch_tie(op, out, in);
    if (rc < 0) {
        weir_batch_put(out);
        return rc;
    }
    weir_op_emit_new(op, out);
    return WEIR_OP_CONTINUE;
}

/* "2018-04-01T00:00:00.000Z" */
static int put_time(struct weir_buf *buf, const char *name, int64_t ms)
{
    char text[40];
    int64_t frac = ms % 1000 < 0 ? ms % 1000 + 1000 : ms % 1000; /* a hop before 1970 */
    time_t sec = (time_t)((ms - frac) / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(text + n, sizeof text - n, ".%03dZ", (int)frac);
    return weir_jsonw_key(buf, name) | weir_jsonw_string(buf, text, strlen(text));
}

static double result(int kind, int f, const struct slot *s)
{
    if (kind == A_COUNT)
        return s->count;
    const struct acc *a = &s->acc[f];
    if (a->n == 0)
        return NAN;
    switch (kind) {
    case A_SUM: return a->sum;
    case A_MEAN: return a->sum / a->n;
    case A_MIN: return a->min;
    case A_MAX: return a->max;
    default: return a->n > 1 ? sqrt(a->m2 / (a->n - 1)) : NAN;
    }
}

/* Appends the result record of window s of key to the results. */
static int emit_slot(struct weir_op *op, struct weir_batch *in, uint32_t part, const char *key,
                     uint32_t klen, const struct slot *s)
{
    const struct aggregate_conf *c = op->conf;
    struct aggregate_state *st = op->state;
    if (st->out && st->out->n == st->out->cap) {
        int rc = send_results(op, in);
        if (rc < 0)
            return rc;
    }
    if (!st->out && !(st->out = weir_op_batch_new(op)))
        return op->engine ? -ENOMEM : 0; /* outside a worker there is nowhere to send */
    struct weir_batch *o = st->out;
    uint32_t i = (uint32_t)weir_batch_push(o);
    int64_t end = c->kind == KIND_SESSION ? s->end + c->gap_ms : s->end;
    struct weir_buf *j = &st->json;
    weir_buf_reset(j);
    int bad = weir_buf_append(j, "{", 1);
    if (c->state.by) {
        bad |= weir_jsonw_key(j, op->keyed->by_col >= 0 ? c->state.by : "key");
        bad |= weir_jsonw_string(j, key ? key : "", klen);
        bad |= weir_buf_append(j, ",", 1);
    }
    bad |= put_time(j, "window_start", s->start) | weir_buf_append(j, ",", 1);
    bad |= put_time(j, "window_end", end) | weir_buf_append(j, "}", 1);
    struct weir_record *r = &o->rec[i];
    char *value = bad ? NULL : weir_arena_strdup(&o->arena, j->data, j->len);
    char *kcopy = weir_arena_strdup(&o->arena, key ? key : "", klen);
    if (!value || !kcopy)
        return -ENOMEM;
    r->value = value;
    r->value_len = (uint32_t)j->len;
    r->key = kcopy;
    r->key_len = klen;
    r->ts_ms = end - 1;
    r->offset = 0;
    r->topic = "aggregate";
    r->partition = -1;
    r->part = part;
    if (op->keyed->by_col >= 0)
        o->S[(size_t)i * o->nstr + (size_t)op->keyed->by_col] = (struct weir_str){kcopy, klen};
    float *row = weir_batch_row(o, i);
    for (uint32_t k = 0; k < c->naggs; k++)
        row[c->agg[k].out_col] = (float)result(c->agg[k].kind, c->agg[k].slot, s);
    return 0;
}

struct sweep_ctx {
    const struct aggregate_conf *c;
    struct weir_buf *keys;
    int64_t wm, next;
    int rc;
};

/* Notes the keys with a due window (or none open: state saved by builds
 * that kept such keys), and the earliest due time of the rest. */
static int collect(void *vctx, const void *key, uint32_t klen, const void *value)
{
    struct sweep_ctx *x = vctx;
    struct value *v = (struct value *)value; /* read only */
    int any = v->n == 0;
    for (uint32_t k = 0; k < v->n; k++) {
        int64_t d = due(x->c, slot_at(x->c, v, k));
        if (d <= x->wm)
            any = 1;
        else if (d < x->next)
            x->next = d;
    }
    if (any && (weir_buf_append(x->keys, &klen, sizeof klen) < 0 ||
                weir_buf_append(x->keys, key, klen) < 0))
        x->rc = -ENOMEM;
    return x->rc;
}

/* Writes every window of partition part whose due time wm reached. A key
 * left with no open window is deleted: nothing a later record does depends
 * on it (a record that could reach a written window is late), and kept it
 * would hold a place under max_keys, most recently used, that a key with
 * open windows then gives up. The partition's newest time stays with the
 * key that took it, whose window is still open (newest_seen). */
static int sweep(struct weir_op *op, struct weir_batch *in, uint32_t part, int64_t wm)
{
    const struct aggregate_conf *c = op->conf;
    struct aggregate_state *st = op->state;
    struct weir_state *store = weir_op_state_part(op, part, 0);
    if (!store)
        return 0;
    weir_buf_reset(&st->keys);
    struct sweep_ctx x = {c, &st->keys, wm, INT64_MAX, 0};
    weir_state_foreach(store, collect, &x);
    if (x.rc < 0)
        return x.rc;
    for (size_t off = 0; off < st->keys.len;) {
        uint32_t klen;
        memcpy(&klen, st->keys.data + off, sizeof klen);
        const char *key = (const char *)st->keys.data + off + sizeof klen;
        off += sizeof klen + klen;
        struct value *v = weir_state_get(store, key, klen, wm, NULL);
        if (!v)
            return -ENOMEM;
        for (uint32_t k = 0; k < v->n;) {
            if (due(c, slot_at(c, v, k)) > wm) {
                k++;
                continue;
            }
            int rc = emit_slot(op, in, part, key, klen, slot_at(c, v, k));
            if (rc < 0)
                return rc;
            slot_remove(c, v, k);
        }
        if (v->n == 0) {
            op->keyed->last = NULL; /* the value handed out last may be this one */
            int rc = weir_state_del(store, key, klen);
            if (rc < 0 && rc != -ENOENT)
                return rc;
        }
    }
    st->parts[part].next_due = x.next;
    return 0;
}

/* Adds record i (time t) to its key's windows. */
static int add_record(struct weir_op *op, struct weir_batch *b, uint32_t i, struct part_info *pi,
                      int64_t max)
{
    const struct aggregate_conf *c = op->conf;
    struct value *v = weir_op_state(op, b, i, NULL);
    if (!v)
        return -ENOMEM;
    int64_t t = b->rec[i].ts_ms;
    const float *row = weir_batch_row(b, i);
    int64_t wm = max - c->lateness_ms;
    for (uint32_t k = 0; k < v->n;) { /* the key's due windows go out first: slots stay free */
        if (due(c, slot_at(c, v, k)) > wm) {
            k++;
            continue;
        }
        int rc = emit_slot(op, b, b->rec[i].part, key_of(op, b, i), key_len(op, b, i),
                           slot_at(c, v, k));
        if (rc < 0)
            return rc;
        slot_remove(c, v, k);
    }
    if (c->kind != KIND_SESSION) {
        int64_t first = t >= 0 ? t - t % c->hop_ms : t; /* event times are >= 0 */
        for (int64_t s = first; s > t - c->size_ms; s -= c->hop_ms) {
            struct slot *w = NULL;
            for (uint32_t k = 0; k < v->n && !w; k++)
                w = slot_at(c, v, k)->start == s ? slot_at(c, v, k) : NULL;
            if (!w && v->n == c->slots) /* cannot happen (see the top) */
                continue;
            if (!w)
                w = slot_new(c, v, s, s + c->size_ms);
            acc_add(c, w, row);
            pi->next_due = w->end < pi->next_due ? w->end : pi->next_due;
        }
        v->seen = max;
        return 0;
    }
    struct slot *into = NULL;
    for (uint32_t k = 0; k < v->n;) { /* every session within gap of t joins */
        struct slot *s = slot_at(c, v, k);
        if (t > s->start - c->gap_ms && t < s->end + c->gap_ms) {
            if (!into) {
                into = s;
            } else {
                acc_merge(c, into, s);
                slot_remove(c, v, k);
                continue;
            }
        }
        k++;
    }
    if (!into) {
        if (v->n == c->slots) { /* full: the oldest session goes out early */
            uint32_t old = 0;
            for (uint32_t k = 1; k < v->n; k++)
                old = slot_at(c, v, k)->end < slot_at(c, v, old)->end ? k : old;
            int rc = emit_slot(op, b, b->rec[i].part, key_of(op, b, i), key_len(op, b, i),
                               slot_at(c, v, old));
            if (rc < 0)
                return rc;
            slot_remove(c, v, old);
        }
        into = slot_new(c, v, t, t);
    }
    into->start = t < into->start ? t : into->start;
    into->end = t > into->end ? t : into->end;
    acc_add(c, into, row);
    pi->next_due = due(c, into) < pi->next_due ? due(c, into) : pi->next_due;
    v->seen = max;
    return 0;
}

/* A full store evicts a key to take a new one (at max_keys, at
 * max_state_bytes, or when its table cannot grow within it): when windows are due,
 * they go out first, their keys freeing the room, so that the key pushed
 * out is not one whose windows were complete but not yet written. A sweep
 * walks every key, so it runs for the first new key of a batch that finds
 * the store full, not for each (the batch's own sweep follows at its end). */
static int sweep_if_full(struct weir_op *op, struct weir_batch *b, uint32_t i,
                         struct part_info *pi, int64_t max)
{
    const struct aggregate_conf *c = op->conf;
    uint32_t part = b->rec[i].part;
    int64_t wm = max - c->lateness_ms;
    struct weir_state *store = !pi->swept_early && wm >= pi->next_due
                                   ? weir_op_state_part(op, part, 0)
                                   : NULL;
    if (!store)
        return 0;
    uint32_t klen;
    const void *key = weir_op_state_key(op->keyed, b, i, &klen);
    if (!weir_state_insert_evicts(store, klen) || weir_state_find(store, key, klen))
        return 0; /* a key already kept pushes none out */
    pi->swept_early = 1;
    return sweep(op, b, part, wm);
}

static int aggregate_process(struct weir_op *op, struct weir_batch *b)
{
    const struct aggregate_conf *c = op->conf;
    struct aggregate_state *st = op->state;
    weir_op_state_batch(op);
    for (uint32_t i = 0; i < b->n; i++) {
        struct weir_record *r = &b->rec[i];
        if (!weir_record_live(r))
            continue;
        struct part_info *pi = part_info(st, r->part);
        if (!pi || weir_late_recall(&st->late, op, r->part, newest_seen) < 0)
            return -ENOMEM;
        int64_t wm;
        int late = weir_late_screen(&st->late, op, b, i, c->lateness_ms, c->late == LATE_DEAD,
                                    "aggregate: the record has no event time",
                                    "aggregate: event time behind the watermark (late)", &wm);
        if (late < 0)
            return late;
        if (late || weir_op_replayed(op, r))
            continue; /* a replayed record, late or not: the restored windows counted it */
        pi->touched = 1;
        int64_t max = st->late.max[r->part];
        int rc = sweep_if_full(op, b, i, pi, max);
        rc = rc ?: add_record(op, b, i, pi, max);
        if (rc < 0)
            return rc;
    }
    for (uint32_t p = 0; p < st->nparts; p++) {
        struct part_info *pi = &st->parts[p];
        if (!pi->touched)
            continue;
        pi->touched = 0;
        pi->swept_early = 0;
        int64_t wm = st->late.max[p] - c->lateness_ms; /* a record went in: max was set */
        if (wm >= pi->next_due) {
            int rc = sweep(op, b, p, wm);
            if (rc < 0)
                return rc;
        }
    }
    return send_results(op, b);
}

const struct weir_operator_type weir_op_aggregate = {
    .name = "aggregate",
    .summary = "Tumbling, hopping and session windows per key: one record per window when the "
               "watermark passes its end",
    .options = aggregate_options,
    .conf_size = sizeof(struct aggregate_conf),
    .prepare = aggregate_prepare,
    .init = aggregate_init,
    .process = aggregate_process,
    .partition = aggregate_partition,
    .destroy = aggregate_destroy,
};
