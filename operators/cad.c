/* cad: a contextual anomaly detector after the idea of Smirnov's CAD OSE
 * (NAB's "context_ose"): values become discrete facts, contexts learned
 * online say which facts follow which, and a value scores by how much of
 * what it brings no learned context expected. Our own formulation, bounded
 * and per key; not a port.
 *
 * Bins. The first `range_records` values of a key (per feature) give the
 * range: [min - m*span, max + m*span] (m = range_margin) is cut into `bins`
 * equal bins. Nothing is read ahead (NAB hands its detectors each file's
 * min and max; weir cannot): these values score 0, are flagged
 * WEIR_REC_WARMUP, and are kept so the contexts learn from them once the
 * range is fixed. Later values outside the range get bins of the same
 * width beyond it (a new bin is a fact never seen, so it scores high), up
 * to 4 ranges out on either side, where they share the last bin. The
 * range's top edge is in its last bin (with range_margin 0 the range
 * period's max lies on it). A constant range period v takes s = max(|v|, 1)
 * as its span above v: [v - m*s, v + (1 + m)*s], room for a count that sits
 * at 0 to rise.
 *
 * Facts. A value in bin b is the fact b at level 0 and floor(b / 2^r) at
 * each coarser level r < `levels` (2^r bins merged): an unexpected value
 * within an expected coarse band differs from one outside every band.
 *
 * Contexts. At each level r and for k = 1..`order`, the last k values' facts
 * at that level are a left side; the right sides are the facts at level r
 * that have followed it, with counts (at most 6 per left side, the rarest
 * replaced). A context is (left side, right fact); its weight is how often
 * the right fact followed among the left side's occurrences.
 *
 * Score of x (bin b), from the contexts learned before it:
 *   - "selected": left sides that match the history and have been seen;
 *     "active": those whose right facts include x's fact at their level;
 *   - x is "predicted" when one of the heaviest selected contexts (the
 *     highest weight among all of them) has x's fine fact (level 0) as its
 *     right side: then the score is 0;
 *   - else score = (1 - active/selected + new/keys) / 2, where keys =
 *     levels * (orders with enough history) and new = keys - active, the
 *     (left side, fact) pairs not seen before (1 with nothing selected).
 * CAD OSE's score has the same two halves (selected contexts that failed,
 * potential new contexts that were new); its contexts are intersections of
 * fact sets grown without bound, with active contexts fed back as facts;
 * ours are the explicit histories of orders 1..order, in a fixed table.
 *
 * Then x is learned: every left side gains an occurrence and x's fact as a
 * follower. The table holds `contexts` left sides per feature, found by
 * hash (8 probes); a new one replaces the least seen of its probes, so the
 * state is bounded: 56 + 4 * range_records + 32 * contexts bytes per
 * feature (rounded), plus the hold ring. "side": "up" keeps a score only
 * for a value above the one before (down: below); the record's score is the
 * max over features; "hold" as deviation's. A NaN or infinite value is
 * missing: not scored, not learned.
 *
 * Explanations ("explain", default true). A record whose score (after side
 * and hold) is above 0 gets the string "<out>_explain", which threshold
 * quotes when this score fires: for each feature that scored (highest
 * first, at most 3), its value, its bin, where it lies against the learned
 * range, and what the longest seen history of bins (level 0) was followed
 * by, so the text says what was new instead of a range that holds the
 * value. Built from copies taken before the value is learned, and only for
 * records that score: the score itself does not depend on it. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/hold.h"
#include "operators/scorer.h"

#define ROUND8(n) (((n) + 7) & ~(size_t)7)
#define CAD_FOLLOWERS 6
#define CAD_PROBES 8
#define CAD_MAX_ORDER 8
#define CAD_MAX_LEVELS 8
#define CAD_MAX_FIELDS 16
#define CAD_EXPLAIN_FIELDS 3

enum cad_side { CAD_BOTH, CAD_UP, CAD_DOWN };

struct cad_conf {
    struct weir_strlist fields;
    const char *out;
    int side;
    int64_t bins, levels, order, range_records, contexts, hold;
    double range_margin;
    int explain;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[CAD_MAX_FIELDS];
    int out_col;
    int explain_col;        /* string column "<out>_explain", or -1 */
    char explain_name[256]; /* its name: the schema borrows it for the pipeline's life */
    size_t first_offset, table_offset, feature_bytes, hold_offset, bytes;
    uint64_t layout;
};

static const struct weir_option cad_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features", offsetof(struct cad_conf, fields),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRING, "\"anomaly_score\"", "output score in [0,1]: max over the features",
     offsetof(struct cad_conf, out), 0, 0, 0, NULL},
    {"side", WEIR_OPT_ENUM, "\"both\"",
     "which values may score: both, up (above the value before), down (below it)",
     offsetof(struct cad_conf, side), 0, 0, 0, "both|up|down"},
    {"bins", WEIR_OPT_INT, "8", "bins across the range learned from the first range_records values",
     offsetof(struct cad_conf, bins), WEIR_OPT_RANGE, 2, 1024, NULL},
    {"levels", WEIR_OPT_INT, "3",
     "resolutions of facts: level r merges 2^r bins (1: the bins alone)",
     offsetof(struct cad_conf, levels), WEIR_OPT_RANGE, 1, CAD_MAX_LEVELS, NULL},
    {"order", WEIR_OPT_INT, "3", "longest history a context looks back on, in values",
     offsetof(struct cad_conf, order), WEIR_OPT_RANGE, 1, CAD_MAX_ORDER, NULL},
    {"range_records", WEIR_OPT_INT, "150",
     "first values of a key that give the range (not scored; learned once it is fixed)",
     offsetof(struct cad_conf, range_records), WEIR_OPT_RANGE, 2, 4096, NULL},
    {"range_margin", WEIR_OPT_NUMBER, "0.1",
     "the range is widened by this fraction of its span on each side",
     offsetof(struct cad_conf, range_margin), WEIR_OPT_RANGE, 0, 100, NULL},
    {"contexts", WEIR_OPT_INT, "1024", "left sides kept per feature (32 bytes each)",
     offsetof(struct cad_conf, contexts), WEIR_OPT_RANGE, 16, 65536, NULL},
    {"explain", WEIR_OPT_BOOL, "true",
     "write the string field out + \"_explain\" for a record that scores: each scoring "
     "feature's value, bin and what its history of bins was followed by (threshold quotes it "
     "when this score fires)",
     offsetof(struct cad_conf, explain), 0, 0, 0, NULL},
    WEIR_HOLD_OPTION_ROW(struct cad_conf, hold),
    WEIR_STATE_OPTION_ROWS(struct cad_conf, state),
    {0},
};

/* One feature's state: this head, the range period's values, the table. */
struct cad_head {
    uint32_t seen;   /* values seen */
    uint32_t hist_n; /* valid entries of hist */
    double lo, width; /* bin 0's lower edge and the bin width; width 0 in the range period */
    float min, max, prev;
    int16_t hist[CAD_MAX_ORDER]; /* the last bins, newest first */
};

/* A left side: the hash of (level, order, facts), 0 when free. */
struct cad_slot {
    uint32_t key;
    uint16_t seen, n;
    int16_t fact[CAD_FOLLOWERS];
    uint16_t count[CAD_FOLLOWERS];
};

static int cad_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct cad_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, CAD_MAX_FIELDS, c->in_col);
    if (c->fields.n > CAD_MAX_FIELDS)
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
    c->first_offset = ROUND8(sizeof(struct cad_head));
    c->table_offset = c->first_offset + ROUND8((size_t)c->range_records * sizeof(float));
    c->feature_bytes = c->table_offset + (size_t)c->contexts * sizeof(struct cad_slot);
    c->hold_offset = c->feature_bytes * c->fields.n;
    c->bytes = c->hold_offset + weir_hold_bytes(c->hold);
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "cad/1");
    for (size_t k = 0; k < c->fields.n; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    int64_t shape[] = {c->bins, c->levels, c->order, c->range_records, c->contexts, c->hold};
    for (size_t k = 0; k < sizeof shape / sizeof *shape; k++)
        h = weir_hash_u64(h, (uint64_t)shape[k]);
    c->layout = weir_hash_u64(h, (uint64_t)(c->range_margin * 1e9));
    return bad;
}

static int cad_init(struct weir_op *op, struct weir_error *err)
{
    const struct cad_conf *c = op->conf;
    if (weir_op_state_declare(op, &c->state, (uint32_t)c->bytes, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "cad: out of memory");
    return 0;
}

/* floor(b / 2^r) for any sign of b. */
static int level_fact(int b, int r)
{
    return b >= 0 ? b >> r : -((-b - 1) >> r) - 1;
}

static int bin_of(const struct cad_conf *c, const struct cad_head *h, double x)
{
    double q = floor((x - h->lo) / h->width);
    double lim = 4.0 * (double)c->bins;
    if (q == (double)c->bins && x - h->lo <= h->width * (double)c->bins * (1 + 1e-9))
        q = (double)c->bins - 1; /* the top edge (and a rounding below it) */
    if (isnan(q)) /* a range of infinite span (values near FLT_MAX) */
        q = 0;
    q = q < -lim ? -lim : q > (double)c->bins - 1 + lim ? (double)c->bins - 1 + lim : q;
    return (int)q;
}

/* The range from the range period's values (a constant one: span max(|v|, 1)). */
static void fix_range(const struct cad_conf *c, struct cad_head *h)
{
    double span = (double)h->max - (double)h->min;
    if (!(span > 0))
        span = fabs((double)h->min) > 1 ? fabs((double)h->min) : 1;
    h->lo = (double)h->min - c->range_margin * span;
    h->width = span * (1 + 2 * c->range_margin) / (double)c->bins;
}

/* The left sides' keys for the current history: keys[r * order + k - 1]
 * for level r and order k; returns how many orders the history allows. */
static int left_keys(const struct cad_conf *c, const struct cad_head *h, uint32_t *keys)
{
    int orders = (int)(h->hist_n < (uint32_t)c->order ? h->hist_n : (uint32_t)c->order);
    for (int r = 0; r < c->levels; r++) {
        uint64_t hash = weir_hash_u64(WEIR_HASH_SEED, (uint64_t)r);
        for (int k = 0; k < orders; k++) {
            hash = weir_hash_u64(hash, (uint64_t)(uint32_t)level_fact(h->hist[k], r));
            keys[r * c->order + k] = (uint32_t)(hash >> 32) | 1u;
        }
    }
    return orders;
}

static struct cad_slot *find_slot(const struct cad_conf *c, struct cad_slot *table, uint32_t key)
{
    for (uint32_t q = 0; q < CAD_PROBES; q++) {
        struct cad_slot *s = &table[(key + q) % (uint32_t)c->contexts];
        if (s->key == key)
            return s;
    }
    return NULL;
}

/* key's slot, made (in place of the least seen of its probes) if absent. */
static struct cad_slot *take_slot(const struct cad_conf *c, struct cad_slot *table, uint32_t key)
{
    struct cad_slot *s = find_slot(c, table, key), *victim = NULL;
    if (s)
        return s;
    for (uint32_t q = 0; q < CAD_PROBES; q++) {
        s = &table[(key + q) % (uint32_t)c->contexts];
        if (!s->key) {
            victim = s;
            break;
        }
        if (!victim || s->seen < victim->seen)
            victim = s;
    }
    memset(victim, 0, sizeof *victim);
    victim->key = key;
    return victim;
}

/* Adds fact as a follower of s (the rarest replaced when full); counts
 * halve before they overflow. */
static void learn_follower(struct cad_slot *s, int fact)
{
    if (s->seen == UINT16_MAX) {
        s->seen /= 2;
        for (int j = 0; j < s->n; j++)
            s->count[j] = (uint16_t)((s->count[j] + 1) / 2);
    }
    s->seen++;
    int rare = 0;
    for (int j = 0; j < s->n; j++) {
        if (s->fact[j] == fact) {
            s->count[j] += s->count[j] < s->seen;
            return;
        }
        rare = s->count[j] < s->count[rare] ? j : rare;
    }
    int j = s->n < CAD_FOLLOWERS ? s->n++ : rare;
    s->fact[j] = (int16_t)fact;
    s->count[j] = 1;
}

static int followed_by(const struct cad_slot *s, int fact)
{
    for (int j = 0; j < s->n; j++)
        if (s->fact[j] == fact)
            return j;
    return -1;
}

/* What an explanation of one value needs, copied before the value is learned. */
struct cad_why {
    double x, score;
    int bin, orders, active, nkeys;
    int order;            /* of the longest seen history at level 0; 0: none seen */
    int16_t hist[CAD_MAX_ORDER];
    struct cad_slot seen; /* that history's left side */
};

/* Scores bin b against the contexts (score only when want_score), then
 * learns it and moves the history on; why (when not NULL) gets what an
 * explanation of a score above 0 needs. */
static double cad_step(const struct cad_conf *c, struct cad_head *h, struct cad_slot *table, int b,
                       int want_score, struct cad_why *why)
{
    uint32_t keys[CAD_MAX_LEVELS * CAD_MAX_ORDER];
    int orders = left_keys(c, h, keys), nkeys = orders * (int)c->levels;
    double score = 0;
    if (want_score && nkeys) {
        int selected = 0, active = 0, predicted = 0, longest = 0;
        const struct cad_slot *longest_slot = NULL;
        double heaviest = 0;
        for (int r = 0; r < c->levels; r++)
            for (int k = 0; k < orders; k++) {
                const struct cad_slot *s = find_slot(c, table, keys[r * c->order + k]);
                if (!s || !s->seen)
                    continue;
                if (r == 0) {
                    longest = k + 1;
                    longest_slot = s;
                }
                selected++;
                int j = followed_by(s, level_fact(b, r));
                active += j >= 0;
                for (int q = 0; q < s->n; q++) {
                    double w = (double)s->count[q] / (double)s->seen;
                    if (w > heaviest + 1e-12)
                        predicted = 0;
                    if (w >= heaviest - 1e-12) {
                        heaviest = w > heaviest ? w : heaviest;
                        predicted |= r == 0 && q == j;
                    }
                }
            }
        if (!predicted)
            score = 0.5 * (1 - (selected ? (double)active / selected : 0) +
                           (double)(nkeys - active) / nkeys);
        if (why && score > 0) {
            *why = (struct cad_why){.bin = b, .orders = orders, .active = active,
                                    .nkeys = nkeys, .order = longest};
            memcpy(why->hist, h->hist, sizeof why->hist);
            if (longest_slot)
                why->seen = *longest_slot;
        }
    }
    for (int r = 0; r < c->levels; r++)
        for (int k = 0; k < orders; k++)
            learn_follower(take_slot(c, table, keys[r * c->order + k]), level_fact(b, r));
    memmove(h->hist + 1, h->hist, (CAD_MAX_ORDER - 1) * sizeof *h->hist);
    h->hist[0] = (int16_t)b;
    h->hist_n += h->hist_n < CAD_MAX_ORDER;
    return score;
}

/* One value of one feature: the range period, or a score (why->score and
 * why->x are set; the rest when the score is above 0). */
static double cad_value(const struct cad_conf *c, unsigned char *feature, double x, int *warm,
                        struct cad_why *why)
{
    struct cad_head *h = (struct cad_head *)feature;
    float *first = (float *)(feature + c->first_offset);
    struct cad_slot *table = (struct cad_slot *)(feature + c->table_offset);
    double score = 0;
    *warm = 0;
    if (h->seen < (uint32_t)c->range_records) {
        h->min = h->seen ? fminf(h->min, (float)x) : (float)x;
        h->max = h->seen ? fmaxf(h->max, (float)x) : (float)x;
        first[h->seen] = (float)x;
        *warm = 1;
        if (h->seen + 1 == (uint32_t)c->range_records) {
            fix_range(c, h);
            for (int64_t i = 0; i < c->range_records; i++)
                cad_step(c, h, table, bin_of(c, h, first[i]), 0, NULL);
        }
    } else {
        score = cad_step(c, h, table, bin_of(c, h, x), 1, why);
        if ((c->side == CAD_UP && !(x > h->prev)) || (c->side == CAD_DOWN && !(x < h->prev)))
            score = 0;
    }
    why->x = x;
    why->score = score;
    h->prev = (float)x;
    h->seen += h->seen < UINT32_MAX;
    return score;
}

/* ---- explanations --------------------------------------------------------- */

/* printf into buf at len; returns the new length, at most size - 1. */
__attribute__((format(printf, 4, 5))) static size_t append(char *buf, size_t size, size_t len,
                                                           const char *fmt, ...)
{
    if (len + 1 >= size)
        return len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
    len += n > 0 ? (size_t)n : 0;
    return len < size ? len : size - 1;
}

/* Bin b's values, "lo..hi"; the last bins out on either side are open
 * ("-inf..hi", "lo..inf"). */
static size_t append_bin(const struct cad_conf *c, const struct cad_head *h, int b, char *buf,
                         size_t size, size_t len)
{
    double lim = 4.0 * (double)c->bins, lo = h->lo + (double)b * h->width, hi = lo + h->width;
    lo = b <= -lim ? -INFINITY : lo;
    hi = b >= (double)c->bins - 1 + lim ? INFINITY : hi;
    return append(buf, size, len, "%.4g..%.4g", lo, hi);
}

/* What followed the history (followers by count, at most 3): " (followed 12
 * times: 10 by 85.9..89.2, 2 by 89.2..92.5)". */
static size_t append_followers(const struct cad_conf *c, const struct cad_head *h,
                               const struct cad_slot *s, char *buf, size_t size, size_t len)
{
    unsigned char used[CAD_FOLLOWERS] = {0};
    len = s->seen == 1 ? append(buf, size, len, " (followed once:")
                       : append(buf, size, len, " (followed %u times:", (unsigned)s->seen);
    for (int n = 0; n < s->n; n++) {
        int top = -1;
        for (int j = 0; j < s->n; j++)
            if (!used[j] && (top < 0 || s->count[j] > s->count[top]))
                top = j;
        used[top] = 1;
        if (n == 3) {
            len = append(buf, size, len, ", ...");
            break;
        }
        len = append(buf, size, len, "%s %u by ", n ? "," : "", (unsigned)s->count[top]);
        len = append_bin(c, h, s->fact[top], buf, size, len);
    }
    return append(buf, size, len, ")");
}

/* "cpu=98 in 95.8..99.2: never after 80.1..84.2, 84.2..88.4 (followed 12
 * times: ...); new to 6 of 6 contexts": what one feature's value brought. */
static size_t append_feature(const struct cad_conf *c, const struct cad_head *h, const char *name,
                             const struct cad_why *w, char *buf, size_t size, size_t len)
{
    len = append(buf, size, len, "%s=%.6g in ", name, w->x);
    len = append_bin(c, h, w->bin, buf, size, len);
    if (w->bin < 0 || w->bin >= c->bins)
        len = append(buf, size, len, ", %s the learned range %.4g..%.4g",
                     w->bin < 0 ? "below" : "above", h->lo,
                     h->lo + (double)c->bins * h->width);
    if (!w->order) {
        len = append(buf, size, len, ": nothing had followed the value before it (in ");
        len = append_bin(c, h, w->hist[0], buf, size, len);
        len = append(buf, size, len, ")");
    } else {
        int j = followed_by(&w->seen, w->bin);
        if (j < 0)
            len = append(buf, size, len, ": never after ");
        else
            len = append(buf, size, len, ": %u of %u times after ", (unsigned)w->seen.count[j],
                         (unsigned)w->seen.seen);
        for (int q = w->order - 1; q >= 0; q--) {
            len = append_bin(c, h, w->hist[q], buf, size, len);
            len = q ? append(buf, size, len, ", ") : len;
        }
        len = append_followers(c, h, &w->seen, buf, size, len);
    }
    return append(buf, size, len, "; new to %d of %d contexts", w->nkeys - w->active, w->nkeys);
}

/* The record's explanation: its scoring features, highest score first. */
static void explain_record(const struct cad_conf *c, struct weir_batch *b, uint32_t i,
                           const unsigned char *state, const struct cad_why *why)
{
    char text[1024];
    size_t len = 0;
    unsigned char used[CAD_MAX_FIELDS] = {0};
    for (int n = 0; n < CAD_EXPLAIN_FIELDS; n++) {
        int top = -1;
        for (size_t k = 0; k < c->fields.n; k++)
            if (!used[k] && why[k].score > 0 && (top < 0 || why[k].score > why[top].score))
                top = (int)k;
        if (top < 0)
            break;
        used[top] = 1;
        len = n ? append(text, sizeof text, len, "; ") : len;
        const struct cad_head *h = (const struct cad_head *)(state + top * c->feature_bytes);
        len = append_feature(c, h, c->fields.v[top], &why[top], text, sizeof text, len);
    }
    char *s = len ? weir_arena_strdup(&b->arena, text, len) : NULL;
    if (s) /* out of memory: the score stands without its explanation */
        b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){s, (uint32_t)len};
}

/* ---- process ----------------------------------------------------------------- */

static int cad_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct cad_conf *c = op->conf;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        unsigned char *state = weir_op_state(op, b, i, NULL);
        if (!state)
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        double best = 0;
        struct scorer_warm tally = {0};
        struct cad_why why[CAD_MAX_FIELDS];
        for (size_t k = 0; k < c->fields.n; k++) {
            double x = row[c->in_col[k]];
            why[k].score = 0;
            if (!isfinite(x))
                continue;
            int warm;
            double s = cad_value(c, state + k * c->feature_bytes, x, &warm, &why[k]);
            scorer_warm_add(&tally, warm);
            best = s > best ? s : best;
        }
        if (scorer_warm_flagged(&tally)) /* a warm feature's score is evidence */
            weir_record_warming(&b->rec[i], c->out_col);
        if (c->hold)
            best = weir_hold_gate(state + c->hold_offset, c->hold, best);
        row[c->out_col] = (float)best;
        if (c->explain_col >= 0) {
            b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){NULL, 0};
            if (best > 0)
                explain_record(c, b, i, state, why);
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_cad = {
    .name = "cad",
    .reads_declared = 1,
    .summary = "Contextual anomaly detector (after CAD OSE): binned values, contexts of recent "
               "values learned online, score = how little of a value the contexts expected",
    .options = cad_options,
    .conf_size = sizeof(struct cad_conf),
    .prepare = cad_prepare,
    .init = cad_init,
    .process = cad_process,
};
