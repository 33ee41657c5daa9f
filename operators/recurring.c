/* recurring: passes on the highest of its `scores`, or 0 when the record
 * only repeats what its key did at the same time one period before: a
 * daily job that lifts CPU at 03:00, 03:40 the next day, 03:10 the day
 * after.
 *
 *     {"type": "recurring", "fields": ["cpu"], "season": "1d", "tolerance": "1h",
 *      "scores": ["deviation_score", "forecast_score"], "out": "baseline_score"}
 *
 * A seasonal profile does not absorb such a job when its start jitters by
 * more than a phase: it lands in a different phase each day and the
 * baseline scorers (a window, a season, a forecast) flag it every day.
 * Here, per key and field, each phase of the period (`buckets` of them)
 * remembers the highest and lowest value of each of the last `periods` + 1
 * periods that visited it. A value x rises when it is above the field's
 * center (a mean over about `window` values). The rise is a repeat when,
 * within +-`tolerance` of the same time 1 .. `periods` periods before (in
 * whole phases: every phase that overlaps that span, so up to a phase
 * more), the key saw a value above the center too, and x is at most
 * `ratio` times as far from the center as the highest of those (drops
 * alike, with "side"). A record is silenced (out = 0) when some field
 * repeats and none rises (or drops) anew; otherwise out is the max of
 * `scores`. So a job the size of yesterday's at about yesterday's time
 * passes quietly, while a rise more than half again as high, the same rise at
 * another hour, or the first day of a job still scores. What is lost:
 * within the tolerance, a value that the job covers yesterday is silenced
 * today even when it has another cause; and when the job does not come, a
 * scorer's "the peak is missing" on an ordinary value above the center is
 * silenced too (the same hour yesterday held such values).
 *
 * Scorers that judge a value by its context rather than by a baseline
 * (cad_ose, cad) should stay outside, combined after it by `score`.
 * Records without an event time, and NaN fields, are never silenced
 * (NaN fields are not learned). Nothing is read ahead: a record is judged
 * before it is learned. Cost per field and record: periods * (periods + 1)
 * * (2 * tolerance / phase + 2) slots looked at at most (18 by default); state
 * 16 + 16 * (periods + 1) * buckets bytes per field and key (3 kB by
 * default). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/diag.h"
#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/late.h"
#include "operators/warm_mean.h"

enum recurring_side { SIDE_UP, SIDE_DOWN, SIDE_BOTH };

struct recurring_conf {
    struct weir_strlist fields, scores;
    const char *out;
    uint64_t season_ns, tolerance_ns;
    int64_t buckets, periods, window;
    double ratio;
    int side;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX], score_col[WEIR_SCHEMA_MAX];
    int out_col;
    int64_t season_ms, tolerance_ms;
    size_t slots;                           /* periods kept per phase: periods + 1 */
    size_t field_bytes;                     /* a field's state: its rec_head, then its phases */
    uint64_t layout;
};

/* A phase's extremes in one period. */
struct rec_slot {
    float hi, lo;
    int64_t period; /* INT64_MIN: never visited */
};

struct rec_head {
    double center; /* mean of the first `window` values, then weighted over about as many */
    uint64_t n;
};

static const struct weir_option recurring_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL,
     "the features whose values are compared with the period before",
     offsetof(struct recurring_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"scores", WEIR_OPT_STRINGS, NULL, "the scores passed on (their max) unless the record recurs",
     offsetof(struct recurring_conf, scores), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, "\"novel_score\"",
     "output: the max of scores, or 0 when the record repeats the period before",
     offsetof(struct recurring_conf, out), 0, 0, 0, NULL},
    {"season", WEIR_OPT_DURATION, "\"1d\"", "the period compared with",
     offsetof(struct recurring_conf, season_ns), 0, 0, 0, NULL},
    {"tolerance", WEIR_OPT_DURATION, "\"1h\"",
     "how far from the same time a period before a value still counts (less than half the "
     "season)",
     offsetof(struct recurring_conf, tolerance_ns), 0, 0, 0, NULL},
    {"buckets", WEIR_OPT_INT, "96", "phases per period (96: 15 minutes of a day)",
     offsetof(struct recurring_conf, buckets), WEIR_OPT_RANGE, 2, 10080, NULL},
    {"periods", WEIR_OPT_INT, "1", "how many periods back a repeat may come from",
     offsetof(struct recurring_conf, periods), WEIR_OPT_RANGE, 1, 7, NULL},
    {"ratio", WEIR_OPT_NUMBER, "1.5",
     "a rise repeats when at most this many times as far from the center as the period before's",
     offsetof(struct recurring_conf, ratio), WEIR_OPT_RANGE, 1, 1e6, NULL},
    {"side", WEIR_OPT_ENUM, "\"up\"", "which excursions can repeat: up (rises), down, both",
     offsetof(struct recurring_conf, side), 0, 0, 0, "up|down|both"},
    {"window", WEIR_OPT_INT, "2048", "values the center (a mean) is taken over",
     offsetof(struct recurring_conf, window), WEIR_OPT_RANGE, 1, 1e9, NULL},
    WEIR_STATE_OPTION_ROWS(struct recurring_conf, state),
    {0},
};

static int recurring_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct recurring_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, WEIR_SCHEMA_MAX, c->in_col);
    bad += weir_schema_features_in(p, "scores", &c->scores, WEIR_SCHEMA_MAX, c->score_col);
    if (c->fields.n > WEIR_SCHEMA_MAX || c->scores.n > WEIR_SCHEMA_MAX)
        return bad + 1;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    bad += weir_schema_event_time(p, NULL, "no time of day is known: it never silences");
    c->out_col =
        weir_schema_feature_out(p, c->out, weir_path_key(ip, sizeof ip, p->path, "out"), 1);
    bad += c->out_col < 0;
    if (weir_late_whole_ms(p, "season", c->season_ns, &c->season_ms) +
        weir_late_whole_ms(p, "tolerance", c->tolerance_ns, &c->tolerance_ms))
        return bad + 1;
    if (c->season_ms < c->buckets) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "season"),
                      "expected a period of at least buckets (%lld) ms, got %lld ms",
                      (long long)c->buckets, (long long)c->season_ms);
        return bad + 1;
    }
    if (2 * c->tolerance_ms >= c->season_ms) {
        weir_diag_add(p->diag, weir_path_key(ip, sizeof ip, p->path, "tolerance"),
                      "expected less than half the season (%lld ms), got %lld ms",
                      (long long)c->season_ms, (long long)c->tolerance_ms);
        bad++;
    }
    bad += weir_state_ttl_covers(
        &c->state, c->periods * c->season_ms + c->tolerance_ms, "periods x season + tolerance",
        "a key that expires sooner forgets the periods it compares with", p);
    c->slots = (size_t)c->periods + 1;
    c->field_bytes =
        sizeof(struct rec_head) + c->slots * (size_t)c->buckets * sizeof(struct rec_slot);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "recurring/1");
    for (size_t k = 0; k < c->fields.n; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    h = weir_hash_u64(weir_hash_u64(h, (uint64_t)c->buckets), (uint64_t)c->season_ms);
    c->layout = weir_hash_u64(h, c->slots);
    return bad;
}

static int recurring_init(struct weir_op *op, struct weir_error *err)
{
    const struct recurring_conf *c = op->conf;
    size_t bytes = c->fields.n * c->field_bytes;
    if (bytes > UINT32_MAX || weir_op_state_declare(op, &c->state, (uint32_t)bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "recurring: out of memory");
    return 0;
}

static size_t phase_of(const struct recurring_conf *c, int64_t ts)
{
    return (size_t)(ts % c->season_ms * c->buckets / c->season_ms);
}

/* The extremes seen in the phases that overlap +-tolerance of ts, 1 ..
 * periods periods before (walked by phase index, from the one that holds
 * the earliest instant to the one that holds the latest: no phase is
 * missed when the tolerance is no whole number of phases); returns 0 when
 * none were. */
static int envelope(const struct recurring_conf *c, const struct rec_slot *ph, int64_t ts,
                    double *hi, double *lo)
{
    int found = 0;
    for (int64_t back = 1; back <= c->periods; back++) {
        int64_t from = ts - back * c->season_ms - c->tolerance_ms;
        int64_t to = ts - back * c->season_ms + c->tolerance_ms;
        if (to < 0)
            continue;
        from = from < 0 ? 0 : from;
        int64_t period = from / c->season_ms, last = to / c->season_ms;
        size_t q = phase_of(c, from), q_last = phase_of(c, to);
        for (;;) {
            const struct rec_slot *s = &ph[c->slots * q];
            for (size_t z = 0; z < c->slots; z++)
                if (s[z].period == period) {
                    *hi = found && *hi > s[z].hi ? *hi : s[z].hi;
                    *lo = found && *lo < s[z].lo ? *lo : s[z].lo;
                    found = 1;
                }
            if (period == last && q == q_last)
                break;
            if (++q == (size_t)c->buckets) {
                q = 0;
                period++;
            }
        }
    }
    return found;
}

/* Adds x at ts to its phase's extremes for ts's period. The periods
 * kept are the newest seen, newest first; a late record's period goes in
 * its place among them, or is not kept when older than all of them. One
 * record far ahead in time holds a slot until time reaches it: the
 * phase keeps working with one period fewer. */
static void learn(const struct recurring_conf *c, struct rec_slot *ph, int64_t ts, float x)
{
    struct rec_slot *s = &ph[c->slots * phase_of(c, ts)];
    int64_t period = ts / c->season_ms;
    size_t z = 0;
    while (z < c->slots && s[z].period > period)
        z++;
    if (z == c->slots)
        return;
    if (s[z].period == period) {
        s[z].hi = x > s[z].hi ? x : s[z].hi;
        s[z].lo = x < s[z].lo ? x : s[z].lo;
        return;
    }
    memmove(s + z + 1, s + z, (c->slots - 1 - z) * sizeof *s);
    s[z] = (struct rec_slot){x, x, period};
}

/* 1: x repeats an excursion of the period before; -1: it is a new one;
 * 0: neither (not away from the center on a watched side). */
static int judge(const struct recurring_conf *c, const struct rec_head *h,
                 const struct rec_slot *ph, int64_t ts, double x)
{
    double hi, lo, m = h->center;
    int up = x > m && c->side != SIDE_DOWN, down = x < m && c->side != SIDE_UP;
    if (!h->n || !(up || down))
        return 0;
    if (!envelope(c, ph, ts, &hi, &lo))
        return -1;
    if (up)
        return hi > m && x - m <= c->ratio * (hi - m) ? 1 : -1;
    return lo < m && m - x <= c->ratio * (m - lo) ? 1 : -1;
}

static void learn_center(const struct recurring_conf *c, struct rec_head *h, double x)
{
    h->center += (x - h->center) / warm_mean_span(h->n, c->window);
    h->n++;
}

static int recurring_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct recurring_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        float *row = weir_batch_row(b, i);
        double best = 0;
        for (size_t k = 0; k < c->scores.n; k++) {
            double s = row[c->score_col[k]];
            best = s > best ? s : best; /* NaN (missing) passes nothing on */
        }
        int64_t ts = b->rec[i].ts_ms;
        int repeats = 0, anew = 0;
        if (ts >= 0) {
            unsigned char *state = weir_op_state(op, b, i, NULL);
            if (!state)
                return -ENOMEM;
            for (size_t k = 0; k < c->fields.n; k++, state += c->field_bytes) {
                double x = row[c->in_col[k]];
                if (!isfinite(x))
                    continue;
                struct rec_head *h = (struct rec_head *)state;
                struct rec_slot *ph = (struct rec_slot *)(state + sizeof *h);
                if (!h->n)
                    for (size_t q = 0; q < c->slots * (size_t)c->buckets; q++)
                        ph[q].period = INT64_MIN;
                int v = judge(c, h, ph, ts, x);
                repeats += v > 0;
                anew += v < 0;
                learn(c, ph, ts, (float)x);
                learn_center(c, h, x);
            }
        }
        row[c->out_col] = repeats && !anew ? 0.0f : (float)best;
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_recurring = {
    .name = "recurring",
    .reads_declared = 1,
    .summary = "Passes on the max of some scores, or 0 when the record repeats what its key did "
               "at about the same time one period before (a daily job that jitters)",
    .options = recurring_options,
    .conf_size = sizeof(struct recurring_conf),
    .prepare = recurring_prepare,
    .init = recurring_init,
    .process = recurring_process,
};
