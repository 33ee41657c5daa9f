/* flatline: scores a feature that stops changing: a stuck sensor, a frozen
 * counter, a feed that repeats its last value. The residual scorers miss
 * this: an ordinary value repeated is close to what they expect.
 *
 * Per key and feature it follows the current run: the values since the
 * first one that each later value equals within `tolerance` (absolute, of
 * that first value; 0: exactly), and how long the run has lasted by event
 * time, from its first value to this one. A run of at least `min_values`
 * values that has lasted d scores
 *
 *     score = 1 - (ref / d)^2   when d > ref, else 0
 *     ref   = max(min_duration, the longest run of at least min_values
 *                values that ended within `memory` (14d), of the last 16)
 *
 * so 0.75 at twice the reference, 0.89 at three times, 0.99 at ten: it
 * rises while the sensor stays stuck (and rounds to 1.0 in a float beyond
 * about 5800 times). A metric that sits at 0 every night learns its nights; a stuck
 * episode, once finished, raises the reference for `memory`, or until 16
 * later runs replaced it. A run scores only when it started once the
 * key's feature had been seen for `warmup` (1d): runs that start earlier
 * are learned, not scored, so a daily flat stretch is seen whole first,
 * even when the stream starts inside one. A feature that has never
 * changed since its first value does not score (a constant is no stuck
 * sensor until it is seen to move). The records are not flagged
 * WEIR_REC_WARMUP meanwhile, since a 0 here is no guess (and a flag would
 * mute the other scorers of an ensemble). Time between values counts into
 * the run, so a source that reports only on change looks stuck, and a
 * source that goes silent does not score at all.
 *
 * Event time is trusted as it comes: a record older than the current run's
 * first value is late and skipped (it neither ends nor extends the run);
 * the run's length is measured to the record at hand, so one record far
 * ahead in time with the run's value scores alone and, unless it is the
 * run's last, is not remembered. One far ahead with another value ends the
 * run and starts one of its own; when a later record is more than
 * min_duration earlier than it, but not earlier than the ended run's last
 * value, that one record was ahead of time (a clock gone wrong) and is
 * undone: the ended run resumes as it was (unremembered), or the key
 * starts afresh if it was the first (its warm-up then counts from that
 * later record, however old). Two such records in a row are trusted: the
 * key's records are then late until time reaches them.
 * Records without an event time and NaN or infinite values are skipped:
 * not scored, and they neither extend nor end a run. The record's
 * score (`out`) is the max over features; with `explain` (default true) a
 * record that scores also gets "<out>_explain", which threshold quotes:
 * the top feature, the value it is stuck at, for how long, and the
 * reference (formatted for every record that scores). Cost O(16) per value
 * (the reference); state 344 bytes per feature and key. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8cut.h"
#include "engine/diag.h"
#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/late.h"
#include "operators/scorer.h"

enum { FLAT_MEMORY = 16 }; /* finished runs remembered */

struct flatline_conf {
    struct weir_strlist fields;
    const char *out;
    double tolerance;
    int64_t min_values;
    uint64_t min_duration_ns, warmup_ns, memory_ns;
    int explain;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int out_col, explain_col;
    int64_t min_duration_ms, warmup_ms, memory_ms;
    uint64_t layout;
    char explain_name[256];
};

/* One feature's run and memory, per key. */
struct flat_feature {
    int64_t since_ms;             /* the key's first value of this feature */
    int64_t start_ms, last_ms;    /* the current run's first and last value */
    int64_t done_ms[FLAT_MEMORY]; /* durations of the last finished runs */
    int64_t done_at[FLAT_MEMORY]; /* the event time each ended */
    float first;                  /* the run's first value, which the others equal */
    uint32_t values;              /* in the current run; 0: no value yet */
    uint16_t done_head;
    uint8_t done_n;
    uint8_t changed; /* the feature has changed since the key's first value */
    /* The run the current one ended, as it was, to resume it when the
     * current run turns out to be one record ahead of time (flat_undo). */
    struct flat_prev {
        int64_t start_ms, last_ms;
        int64_t lost_ms, lost_at; /* the remembered run its push overwrote */
        float first;
        uint32_t values;   /* 0: the current run is the key's first */
        uint8_t valid;     /* set when a run starts by a change; cleared by an undo */
        uint8_t pushed;    /* it was remembered (done_*) */
        uint8_t overwrote; /* and its push overwrote lost_* (the memory was full) */
        uint8_t changed;   /* the feature's changed flag before it ended */
    } prev;
};

static const struct weir_option flatline_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features", offsetof(struct flatline_conf, fields),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, "\"flatline_score\"",
     "output score in [0,1]: 1 - (ref/d)^2 for a run lasting d beyond the reference ref; max "
     "over the features",
     offsetof(struct flatline_conf, out), 0, 0, 0, NULL},
    {"tolerance", WEIR_OPT_NUMBER, "0",
     "a value within this (absolute) of the run's first value continues the run",
     offsetof(struct flatline_conf, tolerance), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"min_values", WEIR_OPT_INT, "3", "values a run needs before it scores or is remembered",
     offsetof(struct flatline_conf, min_values), WEIR_OPT_RANGE, 2, 1e9, NULL},
    {"min_duration", WEIR_OPT_DURATION, "\"1h\"",
     "the least reference (above 0): a run scores once it lasts longer than this and than the "
     "longest remembered run",
     offsetof(struct flatline_conf, min_duration_ns), 0, 0, 0, NULL},
    {"memory", WEIR_OPT_DURATION, "\"14d\"",
     "how long a finished run is remembered (event time; at most the last 16 are)",
     offsetof(struct flatline_conf, memory_ns), 0, 0, 0, NULL},
    {"warmup", WEIR_OPT_DURATION, "\"1d\"",
     "event time a key's feature is seen before a run that starts then may score; runs that "
     "start earlier are learned (a daily flat stretch is seen whole first)",
     offsetof(struct flatline_conf, warmup_ns), 0, 0, 0, NULL},
    {"explain", WEIR_OPT_BOOL, "true",
     "write the string field out + \"_explain\" for a record that scores: the feature, its "
     "value, how long it has been stuck and the reference, which threshold quotes",
     offsetof(struct flatline_conf, explain), 0, 0, 0, NULL},
    WEIR_STATE_OPTION_ROWS(struct flatline_conf, state),
    {0},
};

static int flatline_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct flatline_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, WEIR_SCHEMA_MAX, c->in_col);
    if (c->fields.n > WEIR_SCHEMA_MAX)
        return bad;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    bad += weir_schema_event_time(p, NULL,
                                  "no run of equal values has a duration: it never scores");
    c->out_col = weir_schema_feature_out(p, c->out, weir_path_key(ip, sizeof ip, p->path, "out"),
                                         1);
    bad += c->out_col < 0;
    c->explain_col = -1;
    if (c->explain) {
        c->explain_col = scorer_explain_out(p, c->out, c->explain_name, sizeof c->explain_name);
        bad += c->explain_col < 0;
    }
    /* event times are in ms: "500us" was cut to 0 (no warm-up) unsaid */
    if (weir_late_whole_ms(p, "min_duration", c->min_duration_ns, &c->min_duration_ms) +
        weir_late_whole_ms(p, "warmup", c->warmup_ns, &c->warmup_ms) +
        weir_late_whole_ms(p, "memory", c->memory_ns, &c->memory_ms))
        return bad + 1;
    if (c->min_duration_ms < 1) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "min_duration"),
                      "expected a duration of at least 1ms, got %.6gms",
                      (double)c->min_duration_ns / 1e6);
        bad++;
    }
    bad += weir_state_ttl_covers(
        &c->state, c->memory_ms > c->warmup_ms ? c->memory_ms : c->warmup_ms, "memory (and warmup)",
        "a key that expires sooner forgets its runs and warms up again", p);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "flatline/3");
    for (size_t k = 0; k < c->fields.n; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    c->layout = h;
    return bad;
}

static int flatline_init(struct weir_op *op, struct weir_error *err)
{
    const struct flatline_conf *c = op->conf;
    size_t bytes = c->fields.n * sizeof(struct flat_feature);
    if (weir_op_state_declare(op, &c->state, (uint32_t)bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "flatline: out of memory");
    return 0;
}

/* The reference a run is measured against at ts: min_duration, or the
 * longest run that ended within `memory` before ts, when longer. */
static int64_t flat_reference(const struct flatline_conf *c, const struct flat_feature *f,
                              int64_t ts)
{
    int64_t ref = c->min_duration_ms;
    for (uint32_t j = 0; j < f->done_n; j++)
        if (f->done_ms[j] > ref && ts - f->done_at[j] <= c->memory_ms)
            ref = f->done_ms[j];
    return ref;
}

/* Ends the current run (remembered if it had min_values values) and starts
 * one at x; the run as it was goes to f->prev. */
static void flat_restart(const struct flatline_conf *c, struct flat_feature *f, float x,
                         int64_t ts)
{
    struct flat_prev *p = &f->prev;
    *p = (struct flat_prev){.start_ms = f->start_ms, .last_ms = f->values ? f->last_ms : INT64_MIN,
                            .first = f->first, .values = f->values, .valid = 1,
                            .changed = f->changed};
    f->changed |= f->values > 0; /* a run ends: the feature moved */
    if (f->values >= (uint64_t)c->min_values) {
        p->pushed = 1;
        p->overwrote = f->done_n == FLAT_MEMORY;
        p->lost_ms = f->done_ms[f->done_head];
        p->lost_at = f->done_at[f->done_head];
        f->done_ms[f->done_head] = f->last_ms - f->start_ms;
        f->done_at[f->done_head] = f->last_ms;
        f->done_head = (uint16_t)((f->done_head + 1) % FLAT_MEMORY);
        f->done_n = (uint8_t)(f->done_n + (f->done_n < FLAT_MEMORY));
    }
    f->first = x;
    f->values = 1;
    f->start_ms = f->last_ms = ts;
}

/* The current run is one record ahead in time of a record that comes after
 * the run before it ended: that record was far ahead (a clock gone wrong)
 * and is undone: the run before it resumes as it was, unremembered, or the
 * key starts afresh when it was the key's first. One level only. */
static void flat_undo(struct flat_feature *f)
{
    struct flat_prev *p = &f->prev;
    if (p->pushed) {
        f->done_head = (uint16_t)((f->done_head + FLAT_MEMORY - 1) % FLAT_MEMORY);
        f->done_ms[f->done_head] = p->lost_ms;
        f->done_at[f->done_head] = p->lost_at;
        f->done_n = (uint8_t)(f->done_n - !p->overwrote);
    }
    f->start_ms = p->start_ms;
    f->last_ms = p->last_ms;
    f->first = p->first;
    f->values = p->values;
    f->changed = p->changed;
    p->valid = 0;
}

/* Adds x at ts to f's run; returns its score and the reference in *ref. */
static double flat_step(const struct flatline_conf *c, struct flat_feature *f, float x,
                        int64_t ts, int64_t *ref)
{
    if (f->values && ts < f->start_ms) {
        /* late, from before the run: it neither ends nor extends it;
         * unless the run is one record more than min_duration ahead and
         * this one comes after the run before it: then that record was
         * ahead of time (a change followed by a record a little out of
         * order is no such thing) */
        if (f->values > 1 || !f->prev.valid || ts < f->prev.last_ms ||
            f->start_ms - ts <= c->min_duration_ms)
            return 0;
        flat_undo(f); /* no values left when it was the key's first */
    }
    if (!f->values) {
        f->since_ms = ts;
        flat_restart(c, f, x, ts);
        return 0;
    }
    if (!(fabs((double)x - f->first) <= c->tolerance)) {
        flat_restart(c, f, x, ts);
        return 0;
    }
    f->values += f->values < UINT32_MAX;
    f->last_ms = ts; /* not the latest seen: one record far ahead must not stretch the run */
    /* constant since the first value: nothing says it should move; a run
     * that started in the warm-up is learned whole, not scored */
    if (!f->changed || f->values < (uint64_t)c->min_values ||
        f->start_ms - f->since_ms < c->warmup_ms)
        return 0;
    int64_t d = ts - f->start_ms;
    *ref = flat_reference(c, f, ts);
    double q = (double)*ref / (double)d;
    return d > *ref ? 1.0 - q * q : 0.0;
}

/* A duration as a person reads it: "45s", "40m", "12.5h", "3.2d". */
static void flat_duration(char *buf, size_t cap, int64_t ms)
{
    double s = (double)ms / 1000.0;
    if (s < 60)
        snprintf(buf, cap, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, cap, "%.0fm", s / 60);
    else if (s < 172800)
        snprintf(buf, cap, "%.1fh", s / 3600);
    else
        snprintf(buf, cap, "%.1fd", s / 86400);
}

static void flat_explain(const struct flatline_conf *c, struct weir_batch *b, uint32_t i,
                         size_t k, const struct flat_feature *f, int64_t ref)
{
    char text[512], d[32], r[32];
    flat_duration(d, sizeof d, f->last_ms - f->start_ms);
    flat_duration(r, sizeof r, ref);
    int len = snprintf(text, sizeof text, "%s stuck at %.6g for %s (%u values; reference %s)",
                       c->fields.v[k], (double)f->first, d, f->values, r);
    size_t n = len < 0 ? 0
               : (size_t)len < sizeof text
                   ? (size_t)len
                   : weir_utf8_whole(text, sizeof text - 1); /* no half character */
    char *s = n ? weir_arena_strdup(&b->arena, text, n) : NULL;
    if (s) /* out of memory: the score stands without its explanation */
        b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){s, (uint32_t)n};
}

static int flatline_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct flatline_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        int64_t ts = b->rec[i].ts_ms, top_ref = 0;
        double best = 0;
        size_t top = 0;
        row[c->out_col] = 0;
        if (c->explain_col >= 0)
            b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){NULL, 0};
        if (ts < 0) /* no event time: nothing to measure a run by */
            continue;
        struct flat_feature *f = weir_op_state(op, b, i, NULL);
        if (!f)
            return -ENOMEM;
        for (size_t k = 0; k < c->fields.n; k++) {
            float x = row[c->in_col[k]];
            int64_t ref = 0;
            if (!isfinite(x))
                continue;
            double s = flat_step(c, &f[k], x, ts, &ref);
            if (s > best) {
                best = s;
                top = k;
                top_ref = ref;
            }
        }
        row[c->out_col] = (float)best;
        if (best > 0 && c->explain_col >= 0)
            flat_explain(c, b, i, top, &f[top], top_ref);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_flatline = {
    .name = "flatline",
    .reads_declared = 1,
    .summary = "Scores a feature that stops changing (a stuck sensor, a frozen counter) by how "
               "long its run of equal values lasts against the longest the key has shown",
    .options = flatline_options,
    .conf_size = sizeof(struct flatline_conf),
    .prepare = flatline_prepare,
    .init = flatline_init,
    .process = flatline_process,
};
