/* window: sliding per-key aggregates by event time.
 *
 * Every record is enriched with the aggregates of its key as of its own event
 * time t (pandas' `rolling("7d")` semantics): for each size w the window is
 * (t - w, t], this record included, over the key's records that arrived
 * before it (out-of-order ones too, once they arrived). With `delay` d the
 * window is (t - d - w, t - d] and the record itself is not in it (labels
 * known only after d: the handbook's terminal fraud ratio).
 *
 * Aggregates: count (records), sum, mean, min, max, stddev (sample, n - 1),
 * last (the newest value in the window), distinct (values of a string field)
 * and since_last (seconds since the key's previous record at or before t; one
 * value, whatever the sizes). Value aggregates skip NaN and infinite values;
 * a window without a value gives `empty` (NaN by default; count and distinct
 * give 0).
 *
 * Distinct counts 32-bit hashes of the values: exact unless two values of one
 * window collide, which happens with probability about n^2 / 2^33 for n
 * values (1e-5 at n = 300).
 *
 * State per key (window.h): the key's events sorted by time, at most
 * `max_events` of them, in the engine's keyed store (bounded by max_keys /
 * max_state_bytes, durable with the store). Events no future window can reach
 * (older than the partition's watermark minus delay minus the largest size)
 * are cut. With only count, sum, mean and since_last asked for, the value
 * also holds running sums of the last record's windows: the next record in
 * time order adds the events that entered and subtracts those that left
 * (an empty window resets its sum to exactly 0, and rounding that could
 * show is counted away, window_agg.c); anything else (an
 * out-of-order insert inside them, an overflow, a step back) rebuilds them
 * with one scan. A key with more events than fit loses its oldest: the windows of
 * later records that reach back past a lost event count only what was kept,
 * and `truncated_out` (when set) marks those records with 1.
 *
 * Late records: the watermark here is the largest event time of the
 * partition's records before this one minus the pipeline's allowed_lateness;
 * a record behind it (or without an event time) goes to the dead-letter sink
 * (`late: dead`) or on untouched, outputs NaN and state unchanged (`pass`).
 * After a restart or a move the watermark starts from the restored keys'
 * newest event.
 *
 * A replayed record (read again after an at-least-once restart, its event
 * counted by the restored state) is not added again, late or not: its
 * windows are read from what its key holds, so the state counts each event
 * once and the record gets the figures of its first pass (plus any event of
 * its key that came after it with a time at or before its own). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/late.h"
#include "operators/window.h"

enum window_late { LATE_DEAD, LATE_PASS };

static const char *const agg_names[] = {"count", "sum",        "mean",    "min",     "max",
                                        "stddev", "last", "since_last", "distinct"};

struct window_aggregate {
    int kind;     /* enum window_agg_kind */
    int slot;     /* stored field (or string, for distinct); -1 for count, since_last */
    int out_col[WINDOW_MAX_SIZES]; /* by size as the user listed them; [0] for since_last */
};

struct window_conf {
    struct weir_strlist sizes;
    struct weir_strlist labels;
    uint64_t delay_ns;
    const json_t *aggregates;
    const json_t *empty;
    int64_t max_events;
    int late; /* enum window_late */
    const char *truncated_out;
    struct weir_state_opts state;
    /* resolved by prepare() */
    uint32_t nsizes;
    int64_t size_ms[WINDOW_MAX_SIZES];
    uint32_t order[WINDOW_MAX_SIZES]; /* sizes ascending: order[k] is a user index */
    int64_t delay_ms, lateness_ms, reach_ms; /* reach: delay + largest size */
    double empty_value;
    struct window_shape shape;
    int field_col[WINDOW_MAX_FIELDS];
    int str_col[WINDOW_MAX_STRS];
    uint32_t naggs;
    struct window_aggregate agg[WINDOW_MAX_AGGS];
    int trunc_col;
    uint64_t layout;
};

static const struct weir_option window_options[] = {
    {"sizes", WEIR_OPT_STRINGS, NULL,
     "window lengths, e.g. [\"1d\", \"7d\", \"30d\"] (ms, s, m, h, d; at most 8)",
     offsetof(struct window_conf, sizes), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"labels", WEIR_OPT_STRINGS, NULL,
     "what {size} becomes in output names, one per size (default: the size as written)",
     offsetof(struct window_conf, labels), 0, 0, 0, NULL},
    {"delay", WEIR_OPT_DURATION, "\"0s\"",
     "windows end this long before the record: (t - delay - size, t - delay], record excluded",
     offsetof(struct window_conf, delay_ns), 0, 0, 0, NULL},
    {"aggregates", WEIR_OPT_JSON, NULL,
     "list of {\"agg\": count|sum|mean|min|max|stddev|last|since_last|distinct, \"field\": "
     "feature (a string field for distinct), \"out\": one name per size, or a template with "
     "{size} {agg} {field} {by} (default \"{by}_{field}_{agg}_{size}\")}",
     offsetof(struct window_conf, aggregates), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"empty", WEIR_OPT_JSON, "null",
     "value of sum/mean/min/max/stddev/last/since_last over a window with no value: a number, or "
     "null for NaN (count and distinct give 0)",
     offsetof(struct window_conf, empty), 0, 0, 0, NULL},
    {"max_events", WEIR_OPT_INT, "256",
     "events kept per key (its longest window plus allowed lateness must fit; past it the "
     "oldest go); a key costs 24 + max_events * (8 + 4 per numeric field + 4 per distinct field) "
     "bytes (+ running sums)",
     offsetof(struct window_conf, max_events), WEIR_OPT_RANGE, 1, WINDOW_MAX_EVENTS, NULL},
    {"late", WEIR_OPT_ENUM, "\"dead\"",
     "records behind the watermark or without an event time: dead (dead-letter sink with a "
     "reason) or pass (on untouched: outputs NaN, state unchanged)",
     offsetof(struct window_conf, late), 0, 0, 0, "dead|pass"},
    {"truncated_out", WEIR_OPT_STRING, NULL,
     "feature set to 1 when a window of the record lost events to max_events, else 0",
     offsetof(struct window_conf, truncated_out), 0, 0, 0, NULL},
    WEIR_STATE_OPTION_ROWS(struct window_conf, state),
    {0},
};

/* One element of "aggregates", through its own table (its checks and messages). */
struct agg_spec {
    int agg;
    const char *field;
    const json_t *out;
};

static const struct weir_option agg_options[] = {
    {"agg", WEIR_OPT_ENUM, NULL, "aggregate", offsetof(struct agg_spec, agg), WEIR_OPT_REQUIRED,
     0, 0, "count|sum|mean|min|max|stddev|last|since_last|distinct"},
    {"field", WEIR_OPT_STRING, NULL, "input", offsetof(struct agg_spec, field), 0, 0, 0, NULL},
    {"out", WEIR_OPT_JSON, NULL, "names", offsetof(struct agg_spec, out), 0, 0, 0, NULL},
    {0},
};

/* ---- prepare: sizes ------------------------------------------------------ */

static int prepare_sizes(struct window_conf *c, const json_t *raw, struct weir_prepare *p)
{
    char path[256], kp[256];
    weir_path_key(kp, sizeof kp, p->path, "sizes");
    if (c->sizes.n == 0 || c->sizes.n > WINDOW_MAX_SIZES) {
        weir_diag_add(p->diag, kp, "expected 1 to %d sizes, got %zu", WINDOW_MAX_SIZES,
                      c->sizes.n);
        return 1;
    }
    c->nsizes = (uint32_t)c->sizes.n;
    for (uint32_t i = 0; i < c->nsizes; i++) {
        uint64_t ns = 0;
        const char *at = json_is_string(json_object_get(raw, "sizes"))
                             ? kp
                             : weir_path_index(path, sizeof path, kp, i);
        if (weir_duration_parse(c->sizes.v[i], &ns) < 0 || ns < 1000000u ||
            weir_duration_whole_ms(ns, &c->size_ms[i]) < 0) {
            weir_diag_add(p->diag, at,
                          "expected a duration of at least 1ms like \"7d\", in whole milliseconds, "
                          "got \"%s\"",
                          c->sizes.v[i]);
            return 1;
        }
        for (uint32_t j = 0; j < i; j++)
            if (c->size_ms[j] == c->size_ms[i]) {
                weir_diag_add(p->diag, at, "expected a size not listed twice, got \"%s\"",
                              c->sizes.v[i]);
                return 1;
            }
        uint32_t k = i; /* insertion sort of the order, ascending */
        while (k > 0 && c->size_ms[c->order[k - 1]] > c->size_ms[i]) {
            c->order[k] = c->order[k - 1];
            k--;
        }
        c->order[k] = i;
    }
    if (c->labels.n && c->labels.n != c->sizes.n) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "labels"),
                      "expected %zu labels (one per size), got %zu", c->sizes.n, c->labels.n);
        return 1;
    }
    if (weir_late_whole_ms(p, "delay", c->delay_ns, &c->delay_ms))
        return 1;
    c->reach_ms = c->delay_ms + c->size_ms[c->order[c->nsizes - 1]];
    c->lateness_ms = p->lateness_ms;
    return 0;
}

static int prepare_empty(struct window_conf *c, struct weir_prepare *p)
{
    char path[256];
    if (json_is_null(c->empty)) {
        c->empty_value = NAN;
        return 0;
    }
    if (json_is_number(c->empty)) {
        c->empty_value = json_number_value(c->empty);
        return 0;
    }
    weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "empty"),
                  "expected a number or null (NaN), got %s",
                  json_is_string(c->empty) ? "a string" : "another JSON type");
    return 1;
}

/* ---- prepare: aggregates and their names --------------------------------- */

/* The stored slot of a field (numeric, or string for distinct), added when new. */
static int field_slot(struct window_conf *c, const char *name, int is_str, const char *path,
                      struct weir_prepare *p)
{
    int col = is_str ? weir_schema_string_in(p, name, path) : weir_schema_feature_in(p, name, path);
    if (col < 0)
        return -1;
    int *cols = is_str ? c->str_col : c->field_col;
    uint32_t *n = is_str ? &c->shape.nstrs : &c->shape.nfields;
    uint32_t max = is_str ? WINDOW_MAX_STRS : WINDOW_MAX_FIELDS;
    for (uint32_t i = 0; i < *n; i++)
        if (cols[i] == col)
            return (int)i;
    if (*n == max) {
        weir_diag_add(p->diag, path, "expected at most %u distinct %s per window, got more",
                      max, is_str ? "string fields" : "fields");
        return -1;
    }
    cols[*n] = col;
    return (int)(*n)++;
}

/* Expands a template's placeholders into buf; an error text on failure. */
static const char *expand(char *buf, size_t size, const char *tmpl, const char *label,
                          const char *agg, const char *field, const char *by)
{
    size_t o = 0;
    for (const char *s = tmpl; *s; s++) {
        const char *put = NULL;
        size_t skip = 0;
        if (*s == '{') {
            static const char *const keys[] = {"{size}", "{agg}", "{field}", "{by}"};
            const char *vals[] = {label, agg, field, by};
            for (int k = 0; k < 4 && !put; k++)
                if (strncmp(s, keys[k], strlen(keys[k])) == 0) {
                    put = vals[k];
                    skip = strlen(keys[k]) - 1;
                }
            if (!put)
                return "expected only {size}, {agg}, {field} or {by} in a template";
        }
        size_t len = put ? strlen(put) : 1;
        if (o + len + 1 > size)
            return "expected a name under 256 bytes";
        memcpy(buf + o, put ? put : s, len);
        o += len;
        s += skip;
    }
    buf[o] = '\0';
    return NULL;
}

/* Turns "out" (absent, a template or a list) into a list of names stored in
 * the aggregate's JSON (the pipeline owns it, so the schema may borrow). */
static int out_names(struct window_conf *c, json_t *obj, const struct agg_spec *a,
                     uint32_t nnames, const char *path, struct weir_prepare *p)
{
    char at[256], name[256];
    weir_path_key(at, sizeof at, path, "out");
    if (json_is_array(a->out)) {
        if (json_array_size(a->out) != nnames) {
            weir_diag_add(p->diag, at, "expected %u name%s (one per size), got %zu", nnames,
                          nnames == 1 ? "" : "s", json_array_size(a->out));
            return 1;
        }
        for (uint32_t i = 0; i < nnames; i++)
            if (!json_is_string(json_array_get(a->out, i)) ||
                !json_string_length(json_array_get(a->out, i))) {
                weir_diag_add(p->diag, at, "expected non-empty strings");
                return 1;
            }
        return 0;
    }
    if (a->out && (!json_is_string(a->out) || !json_string_length(a->out))) {
        weir_diag_add(p->diag, at, "expected a template string or a list of names");
        return 1;
    }
    const char *tmpl = a->out ? json_string_value(a->out)
                       : a->agg == AGG_SINCE_LAST ? "{by}_{agg}"
                       : a->field                  ? "{by}_{field}_{agg}_{size}"
                                                   : "{by}_{agg}_{size}";
    int has_size = strstr(tmpl, "{size}") != NULL;
    if (nnames > 1 && !has_size) {
        weir_diag_add(p->diag, at, "expected {size} in the template (%u sizes), got \"%s\"",
                      nnames, tmpl);
        return 1;
    }
    if (a->agg == AGG_SINCE_LAST && has_size) {
        weir_diag_add(p->diag, at, "expected no {size} (since_last has one value), got \"%s\"",
                      tmpl);
        return 1;
    }
    json_t *arr = json_array();
    for (uint32_t i = 0; arr && i < nnames; i++) {
        const char *label = c->labels.n ? c->labels.v[i] : c->sizes.v[i];
        const char *err = expand(name, sizeof name, tmpl, label, agg_names[a->agg],
                                 a->field ? a->field : "", c->state.by ? c->state.by : "all");
        if (err) {
            weir_diag_add(p->diag, at, "%s, got \"%s\"", err, tmpl);
            json_decref(arr);
            return 1;
        }
        if (json_array_append_new(arr, json_string(name)) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr || json_object_set_new(obj, "out", arr) < 0) {
        weir_diag_add(p->diag, at, "out of memory");
        return 1;
    }
    return 0;
}

static int prepare_one(struct window_conf *c, json_t *obj, const char *path,
                       struct weir_prepare *p)
{
    static const char *const none[] = {NULL};
    struct agg_spec a = {0};
    char at[256];
    if (!json_is_object(obj)) {
        weir_diag_add(p->diag, path, "expected an object like {\"agg\": \"mean\", \"field\": "
                                     "\"amount\"}");
        return 1;
    }
    if (weir_options_apply(agg_options, obj, &a, none, p->diag, path))
        return 1;
    struct window_aggregate *g = &c->agg[c->naggs++];
    g->kind = a.agg;
    g->slot = -1;
    weir_path_key(at, sizeof at, path, "field");
    int wants_field = a.agg != AGG_COUNT && a.agg != AGG_SINCE_LAST;
    if (wants_field != (a.field != NULL)) {
        weir_diag_add(p->diag, wants_field ? path : at, "expected %s with \"agg\": \"%s\"",
                      wants_field ? "a \"field\"" : "no \"field\"", agg_names[a.agg]);
        return 1;
    }
    if (a.field && (g->slot = field_slot(c, a.field, a.agg == AGG_DISTINCT, at, p)) < 0)
        return 1;
    if (a.agg == AGG_STDDEV)
        c->shape.need_m2 |= 1u << g->slot;
    if (a.agg == AGG_MIN || a.agg == AGG_MAX)
        c->shape.need_minmax |= 1u << g->slot;
    if (a.agg == AGG_LAST)
        c->shape.need_last |= 1u << g->slot;
    uint32_t nnames = a.agg == AGG_SINCE_LAST ? 1 : c->nsizes;
    if (out_names(c, obj, &a, nnames, path, p))
        return 1;
    const json_t *names = json_object_get(obj, "out");
    weir_path_key(at, sizeof at, path, "out");
    for (uint32_t i = 0; i < nnames; i++) {
        char ip[256];
        g->out_col[i] = weir_schema_feature_out(p, json_string_value(json_array_get(names, i)),
                                                weir_path_index(ip, sizeof ip, at, i), 1);
        if (g->out_col[i] < 0)
            return 1;
        for (uint32_t k = 0; k + 1 < c->naggs; k++)
            for (uint32_t j = 0; j < WINDOW_MAX_SIZES; j++)
                if (c->agg[k].out_col[j] == g->out_col[i]) {
                    weir_diag_add(p->diag, ip, "expected a name not used twice, got \"%s\"",
                                  json_string_value(json_array_get(names, i)));
                    return 1;
                }
        for (uint32_t j = 0; j < i; j++)
            if (g->out_col[j] == g->out_col[i]) {
                weir_diag_add(p->diag, ip, "expected a name not used twice, got \"%s\"",
                              json_string_value(json_array_get(names, i)));
                return 1;
            }
    }
    for (uint32_t i = nnames; i < WINDOW_MAX_SIZES; i++)
        g->out_col[i] = -1;
    return 0;
}

static int prepare_aggregates(struct window_conf *c, struct weir_prepare *p)
{
    char kp[256], path[256];
    weir_path_key(kp, sizeof kp, p->path, "aggregates");
    size_t n = json_array_size(c->aggregates);
    if (!json_is_array(c->aggregates) || n == 0 || n > WINDOW_MAX_AGGS) {
        weir_diag_add(p->diag, kp, "expected a list of 1 to %d aggregates, got %s", WINDOW_MAX_AGGS,
                      !json_is_array(c->aggregates) ? "no list"
                      : n                           ? "more"
                                                    : "an empty list");
        return 1;
    }
    int bad = 0;
    for (size_t i = 0; i < n && !bad; i++)
        bad += prepare_one(c, json_array_get(c->aggregates, i),
                           weir_path_index(path, sizeof path, kp, i), p);
    return bad;
}

static int window_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct window_conf *c = vconf;
    char path[256];
    c->trunc_col = -1;
    int bad = prepare_sizes(c, raw, p);
    bad += prepare_empty(c, p);
    bad += weir_state_opts_prepare(&c->state, raw, p);
    bad += weir_schema_event_time(p, NULL, "no record enters a window (\"late\": \"dead\" "
                                  "dead-letters every record, \"pass\" lets each through)");
    if (bad)
        return bad;
    c->shape.cap = (uint32_t)c->max_events;
    c->shape.nsizes = c->nsizes;
    bad += prepare_aggregates(c, p);
    c->shape.fast = c->shape.nstrs == 0 && c->shape.need_m2 == 0 && c->shape.need_minmax == 0 &&
                    c->shape.need_last == 0;
    if (!bad && c->truncated_out) {
        weir_path_key(path, sizeof path, p->path, "truncated_out");
        bad += (c->trunc_col = weir_schema_feature_out(p, c->truncated_out, path, 1)) < 0;
        for (uint32_t k = 0; k < c->naggs && c->trunc_col >= 0; k++)
            for (uint32_t j = 0; j < WINDOW_MAX_SIZES; j++)
                if (c->agg[k].out_col[j] == c->trunc_col) {
                    weir_diag_add(p->diag, path, "expected a name no aggregate writes, got \"%s\"",
                                  c->truncated_out);
                    c->trunc_col = -1;
                    bad++;
                    break;
                }
    }
    bad += weir_state_ttl_covers(&c->state, c->reach_ms + c->lateness_ms,
                                 "delay + the largest size + allowed_lateness",
                                 "a key that expires sooner loses events its windows still count",
                                 p);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "window");
    h = weir_hash_u64(h, c->shape.cap);
    h = weir_hash_u64(h, (uint64_t)c->reach_ms);
    h = weir_hash_u64(h, c->shape.fast); /* running sums of these sizes in the value */
    for (uint32_t k = 0; c->shape.fast && k < c->nsizes; k++)
        h = weir_hash_u64(h, (uint64_t)c->size_ms[c->order[k]]);
    h = weir_hash_u64(h, (uint64_t)c->delay_ms);
    for (uint32_t f = 0; f < c->shape.nfields && !bad; f++)
        h = weir_hash_str(h, p->schema->feat[c->field_col[f]].name);
    for (uint32_t k = 0; k < c->shape.nstrs && !bad; k++)
        h = weir_hash_str(h, p->schema->str[c->str_col[k]].name);
    if (c->shape.nstrs) /* where the numbers end: a field that became a string moves the bound */
        h = weir_hash_u64(h, (uint64_t)c->shape.nfields << 32 | c->shape.nstrs);
    c->layout = h;
    return bad;
}

/* ---- per worker ---------------------------------------------------------- */

struct window_state {
    struct weir_late late; /* the largest event time seen, by partition slot */
    struct window_set sets[WINDOW_MAX_STRS];
};

static int window_init(struct weir_op *op, struct weir_error *err)
{
    const struct window_conf *c = op->conf;
    struct window_state *st = calloc(1, sizeof *st);
    if (!st)
        return weir_error_set(err, -ENOMEM, "window: out of memory");
    op->state = st;
    for (uint32_t k = 0; k < c->shape.nstrs; k++)
        if (window_set_init(&st->sets[k], c->shape.cap) < 0)
            return weir_error_set(err, -ENOMEM, "window: out of memory");
    if (weir_op_state_declare(op, &c->state, window_value_size(&c->shape), c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "window: out of memory");
    return 0;
}

static void window_destroy(struct weir_op *op)
{
    struct window_state *st = op->state;
    if (!st)
        return;
    for (uint32_t k = 0; k < WINDOW_MAX_STRS; k++)
        window_set_free(&st->sets[k]);
    weir_late_free(&st->late);
    free(st);
    op->state = NULL;
}

static void window_partition(struct weir_op *op, uint32_t part, int assigned)
{
    struct window_state *st = op->state;
    (void)assigned;
    if (st)
        weir_late_reset(&st->late, part); /* recalled from the keys before its next record */
}

/* A key's newest event, kept or gone: the keys bring the watermark back. */
static int64_t newest_event(const void *vconf, const void *value)
{
    const struct window_shape *shape = &((const struct window_conf *)vconf)->shape;
    const struct window_head *h = value;
    int64_t t = INT64_MIN;
    if (h->n && (uint64_t)h->first + h->n <= shape->cap)
        t = window_ts((void *)(uintptr_t)value, shape)[h->n - 1];
    if ((h->flags & HEAD_GONE) && h->gone_ts > t)
        t = h->gone_ts;
    if ((h->flags & HEAD_TRUNC) && h->trunc_ts > t)
        t = h->trunc_ts;
    return t;
}

static double agg_value(const struct window_conf *c, const struct window_aggregate *g,
                        const struct window_snap *s)
{
    if (g->kind == AGG_COUNT)
        return s->count;
    if (g->kind == AGG_DISTINCT)
        return s->distinct[g->slot];
    const struct window_acc *a = &s->acc[g->slot];
    if (a->n == 0)
        return c->empty_value;
    switch (g->kind) {
    case AGG_SUM: return a->sum;
    case AGG_MEAN: return a->sum / a->n;
    case AGG_MIN: return a->min;
    case AGG_MAX: return a->max;
    case AGG_LAST: return a->last;
    case AGG_STDDEV: return a->n > 1 ? sqrt(a->m2 / (a->n - 1)) : c->empty_value;
    default: return c->empty_value;
    }
}

static void write_outputs(const struct window_conf *c, float *row, const struct window_snap *snap,
                          double since)
{
    for (uint32_t a = 0; a < c->naggs; a++) {
        const struct window_aggregate *g = &c->agg[a];
        if (g->kind == AGG_SINCE_LAST) {
            row[g->out_col[0]] = (float)since;
            continue;
        }
        for (uint32_t k = 0; k < c->nsizes; k++) /* snap[k] is the k-th smallest size */
            row[g->out_col[c->order[k]]] = (float)agg_value(c, g, &snap[k]);
    }
}

/* Adds record i to its key and writes its aggregates. */
static int window_record(struct weir_op *op, struct weir_batch *b, uint32_t i, int64_t wm)
{
    const struct window_conf *c = op->conf;
    struct window_state *st = op->state;
    const struct window_shape *s = &c->shape;
    void *v = weir_op_state(op, b, i, NULL);
    if (!v)
        return -ENOMEM;
    int64_t t = b->rec[i].ts_ms;
    float *row = weir_batch_row(b, i);
    if (wm != INT64_MIN) /* event times are >= 0: no overflow */
        window_prune(v, s, wm - c->reach_ms);
    float vals[WINDOW_MAX_FIELDS];
    uint32_t hashes[WINDOW_MAX_STRS];
    for (uint32_t f = 0; f < s->nfields; f++)
        vals[f] = row[c->field_col[f]];
    for (uint32_t k = 0; k < s->nstrs; k++) {
        const struct weir_str *str = &b->S[(size_t)i * b->nstr + (size_t)c->str_col[k]];
        hashes[k] = str->p ? window_str_hash(str->p, str->len) : 0;
    }
    int64_t prev = window_insert(v, s, t, vals, hashes); /* the record before t */
    double since = prev == WINDOW_NO_PREV ? c->empty_value : (double)(t - prev) / 1000.0;
    int64_t lo[WINDOW_MAX_SIZES];
    int64_t hi = t - c->delay_ms;
    for (uint32_t k = 0; k < c->nsizes; k++)
        lo[k] = hi - c->size_ms[c->order[k]];
    struct window_snap snap[WINDOW_MAX_SIZES];
    if (s->fast)
        window_running(v, s, hi, lo, c->nsizes, snap);
    else
        window_scan(v, s, hi, lo, c->nsizes, snap, st->sets);
    write_outputs(c, row, snap, since);
    if (c->trunc_col >= 0) {
        const struct window_head *h = v;
        row[c->trunc_col] = (h->flags & HEAD_TRUNC) && h->trunc_ts > lo[c->nsizes - 1] ? 1.0f
                                                                                         : 0.0f;
    }
    return 0;
}

/* Record i, replayed: its windows from its key's events as they are, the
 * record's own among them (the first pass added it), nothing changed. What
 * the key no longer holds cannot be counted again: a window reaching back
 * past an event removed since (cut once no later window needed it) gets no
 * figures, nor does the record when its own event is gone or was never kept
 * (late the first time), as for a late record. */
static void window_replayed(struct weir_op *op, struct weir_batch *b, uint32_t i)
{
    const struct window_conf *c = op->conf;
    const struct window_shape *s = &c->shape;
    const struct window_head *h = weir_op_state_find(op, b, i);
    int64_t t = b->rec[i].ts_ms;
    if (!h || ((h->flags & HEAD_GONE) && h->gone_ts >= t))
        return;
    void *v = (void *)(uintptr_t)h;
    int64_t hi = t - c->delay_ms, lo[WINDOW_MAX_SIZES];
    for (uint32_t k = 0; k < c->nsizes; k++)
        lo[k] = hi - c->size_ms[c->order[k]];
    const int64_t *ts = window_ts(v, s);
    uint32_t end = h->n; /* the events at or before t: the last is the record's own */
    while (end > 0 && ts[end - 1] > t)
        end--;
    if (end == 0 || ts[end - 1] != t)
        return; /* not kept the first time (late): none now either */
    struct window_snap snap[WINDOW_MAX_SIZES];
    window_scan(v, s, hi, lo, c->nsizes, snap, ((struct window_state *)op->state)->sets);
    int64_t prev = end >= 2                                                ? ts[end - 2]
                   : end == 1 && (h->flags & HEAD_GONE) && h->gone_ts <= t ? h->gone_ts
                                                                           : WINDOW_NO_PREV;
    double since = prev == WINDOW_NO_PREV ? c->empty_value : (double)(t - prev) / 1000.0;
    float *row = weir_batch_row(b, i);
    write_outputs(c, row, snap, since);
    for (uint32_t k = 0; k < c->nsizes; k++) /* lo descends: from the first short, all are */
        for (uint32_t a = 0; (h->flags & HEAD_GONE) && h->gone_ts > lo[k] && a < c->naggs; a++)
            if (c->agg[a].kind != AGG_SINCE_LAST)
                row[c->agg[a].out_col[c->order[k]]] = NAN;
    if (c->trunc_col >= 0)
        row[c->trunc_col] =
            (h->flags & HEAD_TRUNC) && h->trunc_ts > lo[c->nsizes - 1] ? 1.0f : 0.0f;
}

/* How many records ahead a key's value is asked for (its entry was asked
 * for further ahead by the engine, see weir_op_state_prefetch). */
#define WINDOW_AHEAD 8u

static int window_process(struct weir_op *op, struct weir_batch *b)
{
    const struct window_conf *c = op->conf;
    struct window_state *st = op->state;
    weir_op_state_batch(op);
    for (uint32_t i = 0; i < b->n; i++) {
        struct weir_record *r = &b->rec[i];
        if (!weir_record_live(r))
            continue;
        if (weir_late_recall(&st->late, op, r->part, newest_event) < 0)
            return -ENOMEM;
        if (r->ts_ms >= 0 && weir_op_replayed(op, r)) {
            window_replayed(op, b, i);
            continue;
        }
        int64_t wm;
        int late = weir_late_screen(&st->late, op, b, i, c->lateness_ms, c->late == LATE_DEAD,
                                    "window: the record has no event time",
                                    "window: event time behind the watermark (late)", &wm);
        if (late < 0)
            return late;
        if (late)
            continue;
        const void *ahead = weir_op_state_peek(op, b, i + WINDOW_AHEAD);
        if (ahead)
            window_prefetch(ahead, &c->shape);
        int rc = window_record(op, b, i, wm);
        if (rc < 0)
            return rc;
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_window = {
    .name = "window",
    .summary = "Sliding per-key aggregates by event time (count, sum, mean, min, max, stddev, "
               "last, since_last, distinct; delayed windows)",
    .options = window_options,
    .conf_size = sizeof(struct window_conf),
    .prepare = window_prepare,
    .init = window_init,
    .process = window_process,
    .partition = window_partition,
    .destroy = window_destroy,
};
