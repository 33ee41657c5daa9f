/* cad_ose: CAD OSE's formulation (Smirnov's Contextual Anomaly Detector,
 * Open Source Edition, NAB's "context_ose"), written for weir from the
 * published description and bounded per key. `cad` (cad.c) is our own
 * variant of the idea; this one follows the published algorithm step by
 * step, with these differences, each forced by streaming:
 *
 * Range. CAD OSE is handed each file's min and max and cuts the range into
 * 2^bits - 1 steps (bits = numNormValueBits, 3). weir cannot read ahead:
 * the first `range_records` values of a key give min and max; they score 0,
 * are flagged WEIR_REC_WARMUP and are then replayed through the detector
 * (as CAD OSE would have seen them). A value's step index q = floor((x -
 * min) / step); its facts are, for each of the `bits` low bits of q, (bit
 * position, bit value): CAD OSE's facts for every value inside the range.
 * A value below it, or a whole step or more above it (the top step reaches
 * a step beyond max), adds one "band" fact, floor(q / 2^bits) (clamped to
 * +-16), where CAD OSE would have had more bits.
 *
 * Contexts. A context is (left facts, right facts), counting how many right
 * facts it expected, how many came and how often all came. Each step:
 *   1. the previous step's left group (its facts plus the active contexts
 *      fed back as facts) and this value's facts make the zero-level
 *      context, made if new;
 *   2. every context whose left side the group held entirely is
 *      "selected"; those whose right side the value holds entirely are
 *      "active". When the zero-level context was new, contexts whose sides
 *      partly match propose the intersections as new contexts (left side
 *      of at most `max_left` facts);
 *   3. the `max_active` most often active contexts become facts: with the
 *      value's facts they are the new left group;
 *   4. the proposed contexts are made; then the contexts wholly inside the
 *      new group with the highest rate (right facts come / expected) give
 *      the predicted facts of the next value.
 * CAD OSE walks every context for steps 2 and 4; here a step visits only
 * the left sides it needs (cad_ose_model.c, the state in cad_ose.h), with
 * the same results. CAD OSE's memory grows without bound. Here a key holds
 * at most `contexts` contexts (and as many left sides); a new one, when
 * full, replaces one found by a clock hand that skips contexts used since
 * it last passed (second chance). A context fed back as a fact is named by a stamp, so a
 * left side naming a replaced context can no longer be matched.
 *
 * Score. A value whose facts were all predicted scores 0; else (1 -
 * active/selected + new/proposed) / 2, the new half only when the
 * zero-level context was new. Output: CAD OSE reports a raw score only when
 * no raw score in the `rest` values before it reached `threshold`
 * (baseThreshold 0.75), and nothing in its first `rest` values; NAB sets
 * rest to a fifth of the probation period: 150 for a series of 5000 values
 * or more, our default (weir does not know a stream's length). NaN and
 * infinite values are missing: not scored, not learned. The record's score
 * is the max over its features.
 *
 * Options beyond CAD OSE's: `min` and `max` give the range in advance (no
 * range period; e.g. 0..100 for a percentage), `range_margin` widens a
 * learned one by a fraction of its span, `margin_mad` by robust sigmas
 * (1.4826 MAD) of the last range_records values, which one outlier among
 * them does not inflate as it inflates the span, `relearn` K lets a value
 * beyond the learned range (after it scores) rebuild it, at most K times per
 * key: the range becomes that of every value seen so far (widened as
 * before), the closest a stream comes to CAD OSE's range, which holds the
 * file's excursions; the contexts,
 * cut by the old steps, are cleared and the last range_records values (kept
 * in a ring) replayed, with the rest period as at the start. `scale` log
 * cuts the steps in sign(x) log1p(|x|) (skewed metrics: counts, bytes).
 * `flag_warmup` false leaves the range period unflagged (in an
 * ensemble, so threshold still alerts on the other scorers), and `explain`
 * (default true) writes "<out>_explain" for a record that scores (at least
 * `explain_above`): the value's step against the range and the counts
 * behind its score. Most records score a little (a share of new contexts),
 * and formatting their text was 4-15% of the flagship's instructions, while
 * threshold quotes it only when it fires: explain_above spares that. */
#include "operators/cad_ose.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "operators/robust.h"
#include "operators/scorer.h"

static const struct weir_option ose_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features", offsetof(struct ose_conf, fields),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, "\"anomaly_score\"", "output score in [0,1]: max over the features",
     offsetof(struct ose_conf, out), 0, 0, 0, NULL},
    {"bits", WEIR_OPT_INT, "3",
     "a value is its step in 2^bits - 1 steps across the range, as bits (numNormValueBits)",
     offsetof(struct ose_conf, bits), WEIR_OPT_RANGE, 1, 8, NULL},
    {"max_left", WEIR_OPT_INT, "7",
     "largest left side a proposed context may have (maxLeftSemiContextsLenght)",
     offsetof(struct ose_conf, max_left), WEIR_OPT_RANGE, 1, 64, NULL},
    {"max_active", WEIR_OPT_INT, "15", "active contexts fed back as facts (maxActiveNeuronsNum)",
     offsetof(struct ose_conf, max_active), WEIR_OPT_RANGE, 1, OSE_MAX_ACTIVE, NULL},
    {"threshold", WEIR_OPT_NUMBER, "0.75",
     "a raw score at or above it silences the next rest values (baseThreshold)",
     offsetof(struct ose_conf, threshold), WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN, 0, 1, NULL},
    {"rest", WEIR_OPT_INT, "150",
     "values silenced after a raw score >= threshold, and at the start (restPeriod)",
     offsetof(struct ose_conf, rest), WEIR_OPT_RANGE, 0, 1000000, NULL},
    {"range_records", WEIR_OPT_INT, "150",
     "first values of a key that give min and max (not scored; replayed once the range is fixed)",
     offsetof(struct ose_conf, range_records), WEIR_OPT_RANGE, 2, 65536, NULL},
    {"range_margin", WEIR_OPT_NUMBER, "0",
     "the learned range is widened by this fraction of its span on each side",
     offsetof(struct ose_conf, range_margin), WEIR_OPT_RANGE, 0, 100, NULL},
    {"margin_mad", WEIR_OPT_NUMBER, "0",
     "the learned range is widened on each side by this many robust sigmas (1.4826 x the "
     "median absolute deviation) of the last range_records values, besides range_margin",
     offsetof(struct ose_conf, margin_mad), WEIR_OPT_RANGE, 0, 1000, NULL},
    {"relearn", WEIR_OPT_INT, "0",
     "times a key may rebuild its learned range: a value beyond it, once scored, widens the "
     "range to every value seen (then range_margin and margin_mad), clears the contexts and "
     "replays the last range_records values",
     offsetof(struct ose_conf, relearn), WEIR_OPT_RANGE, 0, 1000000, NULL},
    {"scale", WEIR_OPT_ENUM, "\"linear\"",
     "linear, or log: steps of sign(x) log1p(|x|) (for skewed metrics: counts, bytes)",
     offsetof(struct ose_conf, scale), 0, 0, 0, "linear|log"},
    {"flag_warmup", WEIR_OPT_BOOL, "true",
     "flag the range period's records WEIR_REC_WARMUP (threshold then skips them, whatever "
     "other scorers say: false in an ensemble)",
     offsetof(struct ose_conf, flag_warmup), 0, 0, 0, NULL},
    {"min", WEIR_OPT_NUMBER, NULL,
     "with max: the range known in advance (e.g. 0 and 100 for a percentage): no range period",
     offsetof(struct ose_conf, min), 0, 0, 0, NULL},
    {"max", WEIR_OPT_NUMBER, NULL, "with min: the range known in advance",
     offsetof(struct ose_conf, max), 0, 0, 0, NULL},
    {"contexts", WEIR_OPT_INT, "4096",
     "contexts kept per feature (and as many left sides): 168 bytes each with the hash table; "
     "the default keeps a one-field key under the 1 MB of a Kafka state changelog record",
     offsetof(struct ose_conf, contexts), WEIR_OPT_RANGE, 16, 1 << 20, NULL},
    {"explain", WEIR_OPT_BOOL, "true",
     "write the string field out + \"_explain\" for a record that scores: each scoring "
     "feature's value, its step against the range, how many selected contexts failed and "
     "proposed ones were new (threshold quotes it when this score fires)",
     offsetof(struct ose_conf, explain), 0, 0, 0, NULL},
    {"explain_above", WEIR_OPT_NUMBER, "0",
     "with explain: only a record scoring at least this gets the text (most records score a "
     "little; keep it at or below the threshold that quotes it)",
     offsetof(struct ose_conf, explain_above), WEIR_OPT_RANGE, 0, 1, NULL},
    WEIR_STATE_OPTION_ROWS(struct ose_conf, state),
    {0},
};

static int ose_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct ose_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, OSE_MAX_FIELDS, c->in_col);
    if (c->fields.n > OSE_MAX_FIELDS)
        return bad;
    weir_path_key(ip, sizeof ip, p->path, "out");
    c->out_col = weir_schema_feature_out(p, c->out, ip, 1);
    bad += c->out_col < 0;
    c->explain_col = -1;
    if (c->explain) {
        c->explain_col = scorer_explain_out(p, c->out, c->explain_name, sizeof c->explain_name);
        bad += c->explain_col < 0;
    }
    bad += weir_state_opts_prepare(&c->state, raw, p);
    int has_min = json_object_get(raw, "min") != NULL,
        has_max = json_object_get(raw, "max") != NULL;
    c->fixed = has_min && has_max;
    if (has_min != has_max || (c->fixed && !(c->min <= c->max))) {
        weir_path_key(ip, sizeof ip, p->path, has_min ? "max" : "min");
        weir_diag_add(p->diag, ip, "expected min and max together, min <= max");
        bad++;
    }
    /* they shape a range learnt from the values: with a fixed one, silently nothing */
    static const char *const learnt_opts[] = {"range_records", "range_margin", "margin_mad",
                                              "relearn",       "flag_warmup",  NULL};
    bad += weir_options_only_with(raw, ose_options, learnt_opts, !c->fixed,
                                  "a range learnt from the values (no \"min\" and \"max\")",
                                  p->diag, p->path);
    c->slot_magic = UINT64_MAX / (uint64_t)c->contexts + 1;
    c->buckets = 2;
    while (c->buckets < 2 * (uint32_t)c->contexts)
        c->buckets *= 2;
    size_t n = (size_t)c->contexts;
    c->first_offset = ROUND8(sizeof(struct ose_head));
    c->semi_offset = c->first_offset + ROUND8((size_t)c->range_records * sizeof(float));
    c->ctx_offset = c->semi_offset + n * sizeof(struct ose_semi);
    c->hash_offset = c->ctx_offset + n * sizeof(struct ose_ctx);
    c->bits_offset = c->hash_offset + c->buckets * sizeof(int32_t);
    c->words = (n + 63) / 64;
    c->feature_bytes = ROUND8(c->bits_offset + 2 * c->words * sizeof(uint64_t));
    c->bytes = c->feature_bytes * c->fields.n;
    if (c->bytes > UINT32_MAX) {
        weir_path_key(ip, sizeof ip, p->path, "contexts");
        weir_diag_add(p->diag, ip, "expected state under 4 GiB per key, got %zu bytes", c->bytes);
        bad++;
    }
    /* 4: left sides keep their best rate */
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "cad_ose/4");
    for (size_t k = 0; k < c->fields.n; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    int64_t shape[] = {c->bits, c->max_left, c->max_active, c->rest, c->range_records,
                       c->contexts, c->relearn, c->scale};
    for (size_t k = 0; k < sizeof shape / sizeof *shape; k++)
        h = weir_hash_u64(h, (uint64_t)shape[k]);
    h = weir_hash_u64(h, (uint64_t)(c->threshold * 1e9));
    h = weir_hash_u64(h, (uint64_t)(c->range_margin * 1e9));
    if (c->margin_mad > 0) /* off: the layout of the state saved before the option */
        h = weir_hash_u64(h, (uint64_t)(c->margin_mad * 1e9));
    uint64_t lo_bits = 0, hi_bits = 0; /* the range's bits: (uint64_t) of a negative is undefined */
    if (c->fixed) {
        memcpy(&lo_bits, &c->min, sizeof lo_bits);
        memcpy(&hi_bits, &c->max, sizeof hi_bits);
    }
    c->layout =
        weir_hash_u64(weir_hash_u64(weir_hash_u64(h, (uint64_t)c->fixed), lo_bits), hi_bits);
    return bad;
}

static int ose_init(struct weir_op *op, struct weir_error *err)
{
    const struct ose_conf *c = op->conf;
    struct ose_scratch *s = calloc(1, sizeof *s);
    if (s) {
        s->pot = calloc((size_t)c->contexts + 1, sizeof *s->pot);
        s->visit = calloc(c->words, sizeof *s->visit);
        if (c->margin_mad > 0)
            s->sorted = calloc((size_t)c->range_records, sizeof *s->sorted);
    }
    if (!s || !s->pot || !s->visit || (c->margin_mad > 0 && !s->sorted)) {
        if (s) {
            free(s->pot);
            free(s->visit);
            free(s->sorted);
        }
        free(s);
        return weir_error_set(err, -ENOMEM, "cad_ose: out of memory");
    }
    op->state = s;
    if (weir_op_state_declare(op, &c->state, (uint32_t)c->bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "cad_ose: out of memory");
    return 0;
}

static void ose_destroy(struct weir_op *op)
{
    struct ose_scratch *s = op->state;
    if (s) {
        free(s->pot);
        free(s->visit);
        free(s->sorted);
    }
    free(s);
    op->state = NULL;
}

/* ---- values ------------------------------------------------------------------ */

/* The facts of x: the low bits of its step index, and its band when outside
 * the range. */
static uint64_t value_facts(const struct ose_conf *c, const struct ose_head *h, double x)
{
    double q = floor((x - h->lo) / h->width);
    double steps = (double)(1 << c->bits), band = floor(q / steps);
    if (isnan(q)) /* a range of infinite span (values near FLT_MAX) */
        q = band = 0;
    else if (isinf(q)) /* far beyond a range of a tiny span */
        band = q, q = 0;
    band = band < -OSE_BANDS ? -OSE_BANDS : band > OSE_BANDS ? OSE_BANDS : band;
    int64_t low = (int64_t)(q - floor(q / steps) * steps);
    uint64_t facts = 0;
    for (int k = 0; k < c->bits; k++)
        facts |= 1ull << (2 * k + ((low >> k) & 1));
    if (band > 0)
        facts |= 1ull << (OSE_BAND_FACT + (int)band - 1);
    else if (band < 0)
        facts |= 1ull << (OSE_BAND_FACT + OSE_BANDS + (int)-band - 1);
    return facts;
}

static struct ose_model model_of(const struct ose_conf *c, unsigned char *feature)
{
    return (struct ose_model){
        .c = c,
        .h = (struct ose_head *)feature,
        .semi = (struct ose_semi *)(feature + c->semi_offset),
        .ctx = (struct ose_ctx *)(feature + c->ctx_offset),
        .bucket = (int32_t *)(feature + c->hash_offset),
        .full = (uint64_t *)(feature + c->bits_offset),
        .zero = (uint64_t *)(feature + c->bits_offset) + c->words,
    };
}

/* The raw score through the rest period: silenced while a raw score at or
 * above threshold lies within the last rest values. */
static double rest_gate(const struct ose_conf *c, struct ose_head *h, double raw)
{
    double out = h->quiet ? 0 : raw;
    if (raw >= c->threshold)
        h->quiet = (uint32_t)c->rest;
    else if (h->quiet)
        h->quiet--;
    return out;
}

static void set_range(const struct ose_conf *c, struct ose_head *h, double min, double max)
{
    double span = max - min, steps = (double)(1 << c->bits) - 1;
    h->lo = min;
    h->width = (span > 0 ? span : steps) / steps; /* CAD OSE's rule for a flat range */
}

static int float_order(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* 1.4826 x the median absolute deviation of the ring's values (the last
 * range_records): a spread one outlier in them does not inflate, as it
 * inflates max - min. Sorts into the worker's scratch. */
static double robust_sigma(const struct ose_conf *c, struct ose_scratch *sc, const float *ring)
{
    uint32_t n = (uint32_t)c->range_records;
    memcpy(sc->sorted, ring, n * sizeof *ring);
    qsort(sc->sorted, n, sizeof *sc->sorted, float_order);
    return 1.4826 * weir_sorted_mad(sc->sorted, n, weir_sorted_median(sc->sorted, n));
}

/* The range of every value seen, widened on each side by range_margin of its
 * span and margin_mad robust sigmas of the ring's values. */
static void learned_range(const struct ose_conf *c, struct ose_head *h, struct ose_scratch *sc,
                          const float *ring)
{
    double wide = c->range_margin * ((double)h->max - (double)h->min);
    if (c->margin_mad > 0)
        wide += c->margin_mad * robust_sigma(c, sc, ring);
    set_range(c, h, h->min - wide, h->max + wide);
}

/* The value the steps cut: x, or on the log scale sign(x) log1p(|x|), which
 * spreads a skewed metric's usual values over more steps. */
static double scaled(const struct ose_conf *c, double x)
{
    return c->scale ? copysign(log1p(fabs(x)), x) : x;
}

static double unscaled(const struct ose_conf *c, double y)
{
    return c->scale ? copysign(expm1(fabs(y)), y) : y;
}

/* Learns the last range_records values (the ring, oldest first) from a fresh
 * model: the end of the range period, and each relearn. Their scores go
 * through the rest period but are not output. */
static void replay(const struct ose_model *m, struct ose_scratch *sc, const float *ring)
{
    const struct ose_conf *c = m->c;
    uint32_t n = (uint32_t)c->range_records, next = (uint32_t)(((uint64_t)m->h->seen + 1) % n);
    struct ose_why why;
    for (uint32_t i = 0; i < n; i++)
        rest_gate(c, m->h, cad_ose_step(m, sc, value_facts(c, m->h, ring[(next + i) % n]), &why));
}

/* relearn: a value beyond the learned range rebuilds it from every value
 * seen, as a range read ahead would hold the excursion; the contexts, cut
 * by the old steps, start over from the ring. */
static void relearn(const struct ose_model *m, struct ose_scratch *sc, const float *ring)
{
    struct ose_head *h = m->h, keep = *h;
    *h = (struct ose_head){.seen = keep.seen, .min = keep.min, .max = keep.max,
                           .relearned = keep.relearned + 1};
    cad_ose_reset(m);
    learned_range(m->c, h, sc, ring);
    replay(m, sc, ring);
}

/* -1 below the range lo .. lo + width * (2^bits - 1), 1 above, else 0;
 * counted in steps, with a little room: the top, recomputed, can round
 * below the max it came from (0..30.5 gives 30.499999999999996), and the
 * max would then be beyond the range it set. */
static int outside(const struct ose_conf *c, double lo, double width, double y)
{
    double q = (y - lo) / width;
    return q < 0 ? -1 : q > (double)((1 << c->bits) - 1) + 1e-9 ? 1 : 0;
}

/* One value of one feature: the range period (*warm set), or its score. */
static double ose_value(const struct ose_conf *c, struct ose_scratch *sc, unsigned char *feature,
                        double x, int *warm, struct ose_why *why)
{
    struct ose_model m = model_of(c, feature);
    struct ose_head *h = m.h;
    float *ring = (float *)(feature + c->first_offset);
    /* rounded as the ring, min and max keep it, so the range's edges are
     * inside the range on the log scale too */
    double score = 0, y = (float)scaled(c, x);
    uint32_t n = (uint32_t)c->range_records;
    *warm = 0;
    if (!h->seen)
        cad_ose_reset(&m);
    if (c->fixed && !h->seen) /* rounded as values are, so that min and max are inside */
        set_range(c, h, scorer_as_float(scaled(c, c->min)), scorer_as_float(scaled(c, c->max)));
    why->lo = h->lo; /* before relearn moves it */
    why->width = h->width;
    if (c->fixed) {
        score = rest_gate(c, h, cad_ose_step(&m, sc, value_facts(c, h, y), why));
    } else {
        h->min = h->seen ? fminf(h->min, (float)y) : (float)y;
        h->max = h->seen ? fmaxf(h->max, (float)y) : (float)y;
        ring[h->seen % n] = (float)y;
        if (h->seen < n) {
            *warm = 1;
            if (h->seen + 1 == n) {
                learned_range(c, h, sc, ring);
                replay(&m, sc, ring);
            }
        } else {
            score = rest_gate(c, h, cad_ose_step(&m, sc, value_facts(c, h, y), why));
            if (h->relearned < (uint64_t)c->relearn && outside(c, h->lo, h->width, y))
                relearn(&m, sc, ring);
        }
    }
    h->seen = cad_ose_seen_next(h->seen, n);
    why->x = x;
    why->score = score;
    return score;
}

/* ---- explanations ------------------------------------------------------------ */

/* "cpu=98 in 96.2..99.1, above the range 40.5..92.3: 7 of 9 selected
 * contexts failed, 4 of 5 proposed new": one scoring feature. */
static size_t explain_feature(const struct ose_conf *c, const char *name,
                              const struct ose_why *w, char *buf, size_t size, size_t len)
{
    double y = (float)scaled(c, w->x), q = floor((y - w->lo) / w->width);
    double hi = w->lo + w->width * ((1 << c->bits) - 1);
    int side = outside(c, w->lo, w->width, y);
    int n = snprintf(buf + len, size - len, "%s=%.6g in %.4g..%.4g", name, w->x,
                     unscaled(c, w->lo + q * w->width), unscaled(c, w->lo + (q + 1) * w->width));
    len += n > 0 ? (size_t)n : 0;
    if (len < size && side) {
        n = snprintf(buf + len, size - len, ", %s the range %.4g..%.4g",
                     side < 0 ? "below" : "above", unscaled(c, w->lo), unscaled(c, hi));
        len += n > 0 ? (size_t)n : 0;
    }
    if (len < size) {
        n = snprintf(buf + len, size - len, ": %u of %u selected contexts failed",
                     w->selected - w->active, w->selected);
        len += n > 0 ? (size_t)n : 0;
    }
    if (len < size && w->made) {
        n = snprintf(buf + len, size - len, ", %u of %u proposed new", w->made, w->proposed);
        len += n > 0 ? (size_t)n : 0;
    }
    return len < size ? len : size - 1;
}

/* The record's explanation: its scoring features, highest score first (at most 3). */
static void explain_record(const struct ose_conf *c, struct weir_batch *b, uint32_t i,
                           const struct ose_why *why)
{
    char text[1024];
    size_t len = 0;
    unsigned char used[OSE_MAX_FIELDS] = {0};
    for (int n = 0; n < 3; n++) {
        int top = -1;
        for (size_t k = 0; k < c->fields.n; k++)
            if (!used[k] && why[k].score > 0 && (top < 0 || why[k].score > why[top].score))
                top = (int)k;
        if (top < 0)
            break;
        used[top] = 1;
        if (n && len + 2 < sizeof text) {
            memcpy(text + len, "; ", 2);
            len += 2;
        }
        len = explain_feature(c, c->fields.v[top], &why[top], text, sizeof text, len);
    }
    char *s = len ? weir_arena_strdup(&b->arena, text, len) : NULL;
    if (s) /* out of memory: the score stands without its explanation */
        b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){s, (uint32_t)len};
}

static int ose_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct ose_conf *c = op->conf;
    struct ose_scratch *scratch = op->state;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        unsigned char *state = weir_op_state(op, b, i, NULL);
        if (!state)
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        double best = 0;
        struct scorer_warm tally = {0};
        struct ose_why why[OSE_MAX_FIELDS];
        for (size_t k = 0; k < c->fields.n; k++) {
            double x = row[c->in_col[k]];
            why[k].score = 0;
            if (!isfinite(x))
                continue;
            int warm;
            double s = ose_value(c, scratch, state + k * c->feature_bytes, x, &warm, &why[k]);
            scorer_warm_add(&tally, warm);
            best = s > best ? s : best;
        }
        if (c->flag_warmup && scorer_warm_flagged(&tally)) /* a warm feature's score is evidence */
            weir_record_warming(&b->rec[i], c->out_col);
        row[c->out_col] = (float)best;
        if (c->explain_col >= 0) {
            b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){NULL, 0};
            if (best > 0 && best >= c->explain_above)
                explain_record(c, b, i, why);
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_cad_ose = {
    .name = "cad_ose",
    .reads_declared = 1,
    .summary = "CAD OSE's contextual anomaly detector (NAB's context_ose), bounded per key: "
               "value bits as facts, contexts of facts and fed-back contexts learned online, "
               "score = the share of selected contexts that failed and of proposed ones new",
    .options = ose_options,
    .conf_size = sizeof(struct ose_conf),
    .prepare = ose_prepare,
    .init = ose_init,
    .process = ose_process,
    .destroy = ose_destroy,
};
