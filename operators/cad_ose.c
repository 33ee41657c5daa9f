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
 * A value outside it adds one "band" fact, floor(q / 2^bits) (clamped to
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
 * CAD OSE's memory grows without bound. Here a key holds at most `contexts`
 * contexts (and as many left sides); a new one, when full, replaces one
 * found by a clock hand that skips contexts used since it last passed
 * (second chance). A context fed back as a fact is named by a stamp, so a
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
 * learned one, `flag_warmup` false leaves the range period unflagged (in an
 * ensemble, so threshold still alerts on the other scorers), and `explain`
 * (default true) writes "<out>_explain" for a record that scores: the
 * value's step against the range and the counts behind its score. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/scorer.h"

#define OSE_MAX_FIELDS 16
#define OSE_MAX_ACTIVE 16 /* neuron facts a left side can hold */
#define OSE_BAND_FACT 16  /* first band fact; bits use 0..2*bits-1 */
#define OSE_BANDS 16
#define OSE_NONE (-1)
#define ROUND8(n) (((n) + 7) & ~(size_t)7)

struct ose_conf {
    struct weir_strlist fields;
    const char *out;
    int64_t bits, max_left, max_active, rest, range_records, contexts;
    double threshold, min, max, range_margin;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[OSE_MAX_FIELDS];
    int out_col;
    int fixed;        /* min and max given: no range period */
    int flag_warmup, explain;
    int explain_col;        /* string column "<out>_explain", or -1 */
    char explain_name[256]; /* its name: the schema borrows it for the pipeline's life */
    uint32_t buckets; /* left-side hash table size, a power of two >= 2 * contexts */
    uint64_t slot_magic; /* stamp_slot()'s multiplier */
    size_t words; /* of a bitmap over the left sides */
    size_t first_offset, semi_offset, ctx_offset, hash_offset, bits_offset, feature_bytes, bytes;
    uint64_t layout;
};

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
    {"max_active", WEIR_OPT_INT, "15",
     "active contexts fed back as facts (maxActiveNeuronsNum)",
     offsetof(struct ose_conf, max_active), WEIR_OPT_RANGE, 1, OSE_MAX_ACTIVE, NULL},
    {"threshold", WEIR_OPT_NUMBER, "0.75",
     "a raw score at or above it silences the next rest values (baseThreshold)",
     offsetof(struct ose_conf, threshold), WEIR_OPT_RANGE, 0, 1, NULL},
    {"rest", WEIR_OPT_INT, "150",
     "values silenced after a raw score >= threshold, and at the start (restPeriod)",
     offsetof(struct ose_conf, rest), WEIR_OPT_RANGE, 0, 1000000, NULL},
    {"range_records", WEIR_OPT_INT, "150",
     "first values of a key that give min and max (not scored; replayed once the range is fixed)",
     offsetof(struct ose_conf, range_records), WEIR_OPT_RANGE, 2, 65536, NULL},
    {"range_margin", WEIR_OPT_NUMBER, "0",
     "the learned range is widened by this fraction of its span on each side",
     offsetof(struct ose_conf, range_margin), WEIR_OPT_RANGE, 0, 100, NULL},
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
     "contexts kept per feature (and as many left sides): 152 bytes each with the hash table; "
     "the default keeps a key under the 1 MB of a Kafka state changelog record",
     offsetof(struct ose_conf, contexts), WEIR_OPT_RANGE, 16, 1 << 20, NULL},
    {"explain", WEIR_OPT_BOOL, "true",
     "write the string field out + \"_explain\" for a record that scores: each scoring "
     "feature's value, its step against the range, how many selected contexts failed and "
     "proposed ones were new (threshold quotes it when this score fires)",
     offsetof(struct ose_conf, explain), 0, 0, 0, NULL},
    WEIR_STATE_OPTION_ROWS(struct ose_conf, state),
    {0},
};

/* A feature's state: this head, the range period's values, the left sides,
 * the contexts, the left sides' hash table, two bitmaps over the left sides
 * (those wholly in the left group; those with a zero-level context).
 *
 * Cost. A step needs only the left sides the group holds entirely (the
 * selected ones, and the prediction) and, when the zero-level context is
 * new, those with a zero-level context (the only ones a partly held left
 * side proposes from). A left side holding fed-back contexts is listed
 * under its first (smallest stamp), one holding none under the head: the
 * wholly held ones are in the lists of the group's contexts. The selected
 * ones are the last prediction's (its bitmap): the step's first context,
 * made before them, cannot change which, except by replacing a context of
 * the group, which still counts for that step (`gone`). Visiting the
 * candidates in slot order keeps the proposals, and so every score, as a
 * walk over all left sides would have them. */
struct ose_head {
    uint32_t seen;             /* values seen */
    uint32_t step;             /* values learned: marks what a step touched */
    uint32_t group_id;         /* bumps when the left group changes */
    uint32_t quiet;            /* values still silenced */
    uint32_t hand;             /* the clock's position */
    int32_t free_semi, free_ctx;
    uint32_t stamp_gen;        /* bumps each time a context is made */
    int32_t pure;              /* left sides without fed-back contexts: list head */
    uint32_t gone;             /* a context of the group the step's first replaced, or none */
    double lo, width;          /* the range: step 0's lower edge, the step; width 0 before */
    float min, max;
    uint64_t predicted;        /* facts the contexts predicted for this value */
    uint64_t group_sens;       /* the left group: the last value's facts ... */
    uint32_t group_neur[OSE_MAX_ACTIVE]; /* ... and the contexts fed back, sorted stamps */
    uint8_t group_nneur, has_group;
};

/* A left side: facts of a value (a mask) and fed-back contexts (stamps). */
struct ose_semi {
    uint64_t sens;
    uint32_t hash;
    int32_t first;   /* its first context; the free list's link when unused */
    int32_t up, down; /* the list of left sides with the same first fed-back context */
    uint8_t used, n, nneur, listed;
    uint32_t neur[OSE_MAX_ACTIVE];
};

struct ose_ctx {
    uint64_t right;
    uint32_t stamp;      /* its name as a fact: generation * contexts + slot */
    int32_t left, next;  /* its left side; the next context of that side (or free) */
    uint32_t expected, came, active; /* right facts expected, right facts come, times active */
    uint32_t touched;    /* step it was last made or proposed in */
    uint32_t mark;       /* group_id while it is fed back in the left group */
    int32_t semis;       /* left sides whose first fed-back context it is: list head */
    uint8_t used, zero, ref, nright; /* nright: facts in right */
};

/* A proposed context (facts, not slots: making one may replace others). */
struct ose_pot {
    uint64_t sens, right;
    uint8_t nneur;
    uint32_t neur[OSE_MAX_ACTIVE];
};

struct ose_model {
    const struct ose_conf *c;
    struct ose_head *h;
    struct ose_semi *semi;
    struct ose_ctx *ctx;
    int32_t *bucket;
    uint64_t *full, *zero; /* bitmaps over the left sides */
};

struct ose_scratch {
    struct ose_pot *pot;
    uint64_t *visit; /* the left sides a step visits */
};

/* What a value's explanation needs: the counts behind its score. */
struct ose_why {
    double x, score;
    uint32_t selected, active, proposed, made;
};

static int ose_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct ose_conf *c = vconf;
    char ip[256];
    int bad = weir_schema_features_in(p, raw, "fields", &c->fields, OSE_MAX_FIELDS, c->in_col);
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
    int has_min = json_object_get(raw, "min") != NULL, has_max = json_object_get(raw, "max") != NULL;
    c->fixed = has_min && has_max;
    if (has_min != has_max || (c->fixed && !(c->min <= c->max))) {
        weir_path_key(ip, sizeof ip, p->path, has_min ? "max" : "min");
        weir_diag_add(p->diag, ip, "expected min and max together, min <= max");
        bad++;
    }
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
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, "cad_ose/2");
    for (size_t k = 0; k < c->fields.n; k++)
        h = weir_hash_str(h, c->fields.v[k]);
    int64_t shape[] = {c->bits, c->max_left, c->max_active, c->rest, c->range_records,
                       c->contexts};
    for (size_t k = 0; k < sizeof shape / sizeof *shape; k++)
        h = weir_hash_u64(h, (uint64_t)shape[k]);
    h = weir_hash_u64(h, (uint64_t)(c->threshold * 1e9));
    h = weir_hash_u64(h, (uint64_t)(c->range_margin * 1e9));
    c->layout = weir_hash_u64(h, c->fixed ? (uint64_t)(c->min * 1e6) ^ (uint64_t)(c->max * 1e9) : 0);
    return bad;
}

static int ose_init(struct weir_op *op, struct weir_error *err)
{
    const struct ose_conf *c = op->conf;
    struct ose_scratch *s = calloc(1, sizeof *s);
    if (s) {
        s->pot = calloc((size_t)c->contexts + 1, sizeof *s->pot);
        s->visit = calloc(c->words, sizeof *s->visit);
    }
    if (!s || !s->pot || !s->visit) {
        if (s) {
            free(s->pot);
            free(s->visit);
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
    }
    free(s);
    op->state = NULL;
}

/* ---- left sides: a hash table over their facts --------------------------- */

/* A stamp's slot, stamp % contexts, without a division (Lemire's fastmod,
 * exact for 32-bit operands): the steps look up thousands of stamps. */
static inline uint32_t stamp_slot(const struct ose_conf *c, uint32_t stamp)
{
    uint64_t low = c->slot_magic * stamp;
    return (uint32_t)(((__uint128_t)low * (uint64_t)c->contexts) >> 64);
}

/* Facts are few (a value has bits + 1 at most): cheaper than a call to
 * libgcc's popcount where the target has no instruction for it. */
static inline int facts_count(uint64_t facts)
{
    int k = 0;
    for (; facts; facts &= facts - 1)
        k++;
    return k;
}

static uint32_t facts_hash(uint64_t sens, const uint32_t *neur, int nneur)
{
    uint64_t h = weir_hash_u64(WEIR_HASH_SEED, sens);
    for (int k = 0; k < nneur; k++)
        h = weir_hash_u64(h, neur[k]);
    return (uint32_t)(h >> 32);
}

static int32_t *semi_bucket(const struct ose_model *m, uint64_t sens, const uint32_t *neur,
                            int nneur, uint32_t hash)
{
    uint32_t mask = m->c->buckets - 1;
    for (uint32_t b = hash & mask;; b = (b + 1) & mask) {
        int32_t i = m->bucket[b];
        if (i == OSE_NONE)
            return &m->bucket[b];
        const struct ose_semi *s = &m->semi[i];
        if (s->hash == hash && s->sens == sens && s->nneur == nneur &&
            memcmp(s->neur, neur, (size_t)nneur * sizeof *neur) == 0)
            return &m->bucket[b];
    }
}

/* Removes bucket b, moving later entries of its run back (linear probing). */
static void bucket_delete(const struct ose_model *m, uint32_t b)
{
    uint32_t mask = m->c->buckets - 1;
    for (uint32_t j = (b + 1) & mask; m->bucket[j] != OSE_NONE; j = (j + 1) & mask) {
        uint32_t home = m->semi[m->bucket[j]].hash & mask;
        if (((j - home) & mask) >= ((j - b) & mask)) { /* home not in (b, j]: may move to b */
            m->bucket[b] = m->bucket[j];
            b = j;
        }
    }
    m->bucket[b] = OSE_NONE;
}

#define BIT_SET(v, i) ((v)[(uint32_t)(i) / 64] |= 1ull << ((uint32_t)(i) % 64))
#define BIT_CLEAR(v, i) ((v)[(uint32_t)(i) / 64] &= ~(1ull << ((uint32_t)(i) % 64)))
#define BIT_TEST(v, i) (((v)[(uint32_t)(i) / 64] >> ((uint32_t)(i) % 64)) & 1)

/* The list a left side belongs in: its first fed-back context's, or the head's. */
static int32_t *list_head(const struct ose_model *m, const struct ose_semi *s)
{
    return s->nneur ? &m->ctx[stamp_slot(m->c, s->neur[0])].semis : &m->h->pure;
}

/* Lists left side i, unless its first fed-back context is gone (it can never
 * be held entirely again). */
static void list_add(const struct ose_model *m, int32_t i)
{
    struct ose_semi *s = &m->semi[i];
    const struct ose_ctx *x = &m->ctx[s->nneur ? stamp_slot(m->c, s->neur[0]) : 0];
    s->up = s->down = OSE_NONE;
    s->listed = !s->nneur || (x->used && x->stamp == s->neur[0]);
    if (!s->listed)
        return;
    int32_t *head = list_head(m, s);
    s->down = *head;
    if (*head != OSE_NONE)
        m->semi[*head].up = i;
    *head = i;
}

static void list_remove(const struct ose_model *m, int32_t i)
{
    struct ose_semi *s = &m->semi[i];
    if (!s->listed)
        return;
    if (s->up != OSE_NONE)
        m->semi[s->up].down = s->down;
    else
        *list_head(m, s) = s->down;
    if (s->down != OSE_NONE)
        m->semi[s->down].up = s->up;
    s->listed = 0;
}

static void semi_free(const struct ose_model *m, int32_t i)
{
    struct ose_semi *s = &m->semi[i];
    int32_t *slot = semi_bucket(m, s->sens, s->neur, s->nneur, s->hash);
    bucket_delete(m, (uint32_t)(slot - m->bucket));
    list_remove(m, i);
    BIT_CLEAR(m->full, i);
    BIT_CLEAR(m->zero, i);
    s->used = 0;
    s->first = m->h->free_semi;
    m->h->free_semi = i;
}

/* ---- contexts --------------------------------------------------------------- */

/* Frees one context (the clock's choice): unlinked from its left side, which
 * goes too when it has no context left. */
static void ctx_evict(const struct ose_model *m)
{
    struct ose_head *h = m->h;
    uint32_t n = (uint32_t)m->c->contexts;
    struct ose_ctx *x = NULL;
    for (uint32_t tries = 0; tries < 3 * n; tries++, h->hand = h->hand + 1 < n ? h->hand + 1 : 0) {
        x = &m->ctx[h->hand];
        if (tries < 2 * n && (x->ref || x->touched == h->step)) {
            x->ref = 0;
            continue;
        }
        break;
    }
    int32_t i = (int32_t)h->hand;
    h->hand = h->hand + 1 < n ? h->hand + 1 : 0;
    if (x->mark == h->group_id)
        h->gone = x->stamp;
    for (int32_t j = x->semis, next; j != OSE_NONE; j = next) { /* never held again */
        next = m->semi[j].down;
        m->semi[j].listed = 0;
    }
    int zero = 0;
    for (int32_t *link = &m->semi[x->left].first; *link != OSE_NONE;) {
        if (*link == i) {
            *link = x->next;
            continue;
        }
        zero |= m->ctx[*link].zero;
        link = &m->ctx[*link].next;
    }
    if (m->semi[x->left].first == OSE_NONE)
        semi_free(m, x->left);
    else if (!zero)
        BIT_CLEAR(m->zero, x->left);
    x->used = 0;
    x->next = h->free_ctx;
    h->free_ctx = i;
}

/* Finds or makes the context (left facts, right); *made says which. */
static int32_t ctx_get(const struct ose_model *m, uint64_t sens, const uint32_t *neur, int nneur,
                       uint64_t right, int *made)
{
    struct ose_head *h = m->h;
    uint32_t hash = facts_hash(sens, neur, nneur);
    int32_t *slot = semi_bucket(m, sens, neur, nneur, hash);
    *made = 0;
    if (*slot != OSE_NONE)
        for (int32_t j = m->semi[*slot].first; j != OSE_NONE; j = m->ctx[j].next)
            if (m->ctx[j].right == right)
                return j;
    if (h->free_ctx == OSE_NONE) {
        ctx_evict(m); /* may free the left side found above */
        slot = semi_bucket(m, sens, neur, nneur, hash);
    }
    int32_t si = *slot;
    if (si == OSE_NONE) {
        si = h->free_semi;
        struct ose_semi *s = &m->semi[si];
        h->free_semi = s->first;
        *s = (struct ose_semi){.sens = sens, .hash = hash, .first = OSE_NONE, .used = 1,
                               .nneur = (uint8_t)nneur};
        s->n = (uint8_t)(facts_count(sens) + nneur);
        memcpy(s->neur, neur, (size_t)nneur * sizeof *neur);
        *slot = si;
        list_add(m, si);
    }
    int32_t ci = h->free_ctx;
    struct ose_ctx *x = &m->ctx[ci];
    h->free_ctx = x->next;
    /* generations wrap before generation * contexts + slot would: a stamp's
     * slot stays stamp % contexts for any size */
    h->stamp_gen = (h->stamp_gen + 1) % (UINT32_MAX / (uint32_t)m->c->contexts);
    *x = (struct ose_ctx){.right = right, .left = si, .next = m->semi[si].first, .used = 1,
                          .ref = 1, .semis = OSE_NONE, .nright = (uint8_t)facts_count(right), .stamp = h->stamp_gen * (uint32_t)m->c->contexts +
                                             (uint32_t)ci};
    m->semi[si].first = ci;
    *made = 1;
    return ci;
}

/* Is the context named by stamp in the left group? */
static int in_group(const struct ose_model *m, uint32_t stamp)
{
    const struct ose_ctx *x = &m->ctx[stamp_slot(m->c, stamp)];
    return x->used && x->stamp == stamp && x->mark == m->h->group_id;
}

/* The facts of s the left group holds (sorted as s's). */
static int semi_cross(const struct ose_model *m, const struct ose_semi *s, uint32_t *neur,
                      int *nneur)
{
    int k = 0;
    for (int j = 0; j < s->nneur; j++)
        if (in_group(m, s->neur[j])) {
            if (neur)
                neur[k] = s->neur[j];
            k++;
        }
    if (nneur)
        *nneur = k;
    return facts_count(s->sens & m->h->group_sens) + k;
}

/* ---- one step ---------------------------------------------------------------- */

struct ose_top {
    int n;
    int32_t id[OSE_MAX_ACTIVE];
};

/* Keeps the max_active most often active contexts (older first on ties). */
static void top_add(const struct ose_model *m, struct ose_top *t, int32_t ci)
{
    const struct ose_ctx *x = &m->ctx[ci];
    int k = t->n < m->c->max_active ? t->n++ : (int)m->c->max_active;
    for (; k > 0; k--) {
        const struct ose_ctx *y = &m->ctx[t->id[k - 1]];
        if (y->active > x->active || (y->active == x->active && y->stamp < x->stamp))
            break;
        if (k < m->c->max_active)
            t->id[k] = t->id[k - 1];
    }
    if (k < m->c->max_active)
        t->id[k] = ci;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Facts of s in the left group as the last step left it: with the context
 * of the group the step's first context replaced (gone). */
static int semi_cross_then(const struct ose_model *m, const struct ose_semi *s)
{
    int k = facts_count(s->sens & m->h->group_sens);
    for (int j = 0; j < s->nneur; j++)
        k += s->neur[j] == m->h->gone || in_group(m, s->neur[j]);
    return k;
}

/* The left sides step 2 visits, in v: the selected ones and, when the
 * zero-level context is new, those with one a partly held side proposes
 * from (0 < facts held <= max_left). */
/* Does the left group hold s entirely? Its first fed-back context is known in it. */
static int semi_held(const struct ose_model *m, const struct ose_semi *s)
{
    if (s->sens & ~m->h->group_sens)
        return 0;
    for (int j = 1; j < s->nneur; j++)
        if (!in_group(m, s->neur[j]))
            return 0;
    return 1;
}

static void right_candidates(const struct ose_model *m, uint64_t *v, int proposing)
{
    for (size_t w = 0; w < m->c->words; w++) {
        v[w] = m->full[w];
        for (uint64_t b = proposing ? m->zero[w] & ~m->full[w] : 0; b; b &= b - 1) {
            int32_t i = (int32_t)(w * 64) + __builtin_ctzll(b);
            int k = m->semi[i].used ? semi_cross_then(m, &m->semi[i]) : 0;
            if (k > 0 && k <= m->c->max_left)
                v[w] |= 1ull << (i % 64);
        }
    }
}

/* Steps 2 and 3: selected and active contexts against the value's facts,
 * proposals when new_id >= 0 (the zero-level context just made), the new
 * left group. Returns active/selected; *npot gets the proposals' count. */
static double ose_right(const struct ose_model *m, struct ose_scratch *sc, uint64_t cur,
                        int32_t new_id, size_t *npot, struct ose_why *why)
{
    const struct ose_conf *c = m->c;
    struct ose_top top = {0};
    uint32_t selected = 0, active = 0;
    *npot = 0;
    right_candidates(m, sc->visit, new_id >= 0);
    for (size_t w = 0; w < c->words; w++)
        for (uint64_t b = sc->visit[w]; b; b &= b - 1) {
            int32_t i = (int32_t)(w * 64) + __builtin_ctzll(b);
            const struct ose_semi *s = &m->semi[i];
            if (!s->used || !s->n) /* n 0: no fact held, never selected */
                continue;
            int full = (int)BIT_TEST(m->full, i), cross_ok = !full || s->n <= c->max_left;
            for (int32_t j = s->first; j != OSE_NONE; j = m->ctx[j].next) {
                struct ose_ctx *x = &m->ctx[j];
                if (j == new_id || (!full && !x->zero))
                    continue;
                uint32_t rn = x->nright;
                uint32_t rc = (uint32_t)facts_count(x->right & cur);
                int propose = rc > 0;
                if (full) {
                    selected++;
                    x->ref = 1;
                    x->expected += rn;
                    x->came += rc;
                    if (rc && rc == rn) {
                        x->active++;
                        active++;
                        top_add(m, &top, j);
                        propose = 0;
                    }
                    if (x->expected > UINT32_MAX / 2) { /* keep the rate, not the magnitude */
                        x->expected /= 2;
                        x->came /= 2;
                    }
                }
                if (propose && x->zero && new_id >= 0 && cross_ok && *npot < (size_t)c->contexts) {
                    struct ose_pot *q = &sc->pot[(*npot)++];
                    int nn;
                    q->sens = s->sens & m->h->group_sens;
                    q->right = x->right & cur;
                    semi_cross(m, s, q->neur, &nn);
                    q->nneur = (uint8_t)nn;
                }
            }
        }
    struct ose_head *h = m->h;
    h->group_id++;
    h->group_sens = cur;
    h->group_nneur = (uint8_t)top.n;
    for (int k = 0; k < top.n; k++) {
        m->ctx[top.id[k]].mark = h->group_id;
        h->group_neur[k] = m->ctx[top.id[k]].stamp;
    }
    qsort(h->group_neur, (size_t)top.n, sizeof *h->group_neur, cmp_u32);
    h->has_group = 1;
    why->selected = selected;
    why->active = active;
    return selected ? (double)active / selected : 0;
}


/* Step 4's second half: the left sides the new group holds entirely (the
 * next step's selected ones, m->full) and the predicted facts: the right
 * sides of their highest-rate contexts. Those listed under the group's
 * contexts or the head are the only candidates. */
static void ose_left(const struct ose_model *m)
{
    const struct ose_head *h = m->h;
    double best = 0;
    uint64_t predicted = 0;
    memset(m->full, 0, m->c->words * sizeof *m->full);
    for (int k = -1; k < h->group_nneur; k++) {
        if (k >= 0 && !in_group(m, h->group_neur[k]))
            continue;
        int32_t i = k < 0 ? h->pure : m->ctx[stamp_slot(m->c, h->group_neur[k])].semis;
        for (; i != OSE_NONE; i = m->semi[i].down) {
            const struct ose_semi *s = &m->semi[i];
            if (!semi_held(m, s))
                continue;
            BIT_SET(m->full, i);
            for (int32_t j = m->semi[i].first; j != OSE_NONE; j = m->ctx[j].next) {
                const struct ose_ctx *x = &m->ctx[j];
                double w = x->expected ? (double)x->came / x->expected : 0;
                if (w > best) {
                    best = w;
                    predicted = x->right;
                } else if (w == best) {
                    predicted |= x->right;
                }
            }
        }
    }
    m->h->predicted = predicted;
}

/* Learns the value's facts cur; returns its raw score. */
static double ose_step(const struct ose_model *m, struct ose_scratch *sc, uint64_t cur,
                       struct ose_why *why)
{
    struct ose_head *h = m->h;
    int missed = (cur & ~h->predicted) != 0;
    int32_t new_id = OSE_NONE;
    uint32_t proposed = 0, made_n = 0;
    int made;
    h->step++;
    h->gone = UINT32_MAX; /* no stamp: generations wrap before it */
    if (h->has_group) { /* step 1: the zero-level context */
        int32_t z = ctx_get(m, h->group_sens, h->group_neur, h->group_nneur, cur, &made);
        m->ctx[z].zero = 1;
        BIT_SET(m->zero, m->ctx[z].left);
        m->ctx[z].touched = h->step;
        new_id = made ? z : OSE_NONE;
        proposed = 1;
        made_n = (uint32_t)made;
    }
    size_t npot;
    double sel_active = ose_right(m, sc, cur, new_id, &npot, why);
    for (size_t k = 0; k < npot; k++) { /* step 4: the proposals, each counted once */
        const struct ose_pot *q = &sc->pot[k];
        int32_t j = ctx_get(m, q->sens, q->neur, q->nneur, q->right, &made);
        proposed += m->ctx[j].touched != h->step;
        made_n += (uint32_t)made;
        m->ctx[j].touched = h->step;
    }
    ose_left(m);
    double added = new_id >= 0 && proposed ? (double)made_n / proposed : 0;
    why->proposed = proposed;
    why->made = made_n;
    return missed ? (1 - sel_active + added) / 2 : 0;
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

/* A fresh feature: everything free, nothing learned, the first rest silenced. */
static void model_reset(const struct ose_model *m)
{
    int32_t n = (int32_t)m->c->contexts;
    for (int32_t i = 0; i < n; i++) {
        m->semi[i] = (struct ose_semi){.first = i + 1 < n ? i + 1 : OSE_NONE};
        m->ctx[i] = (struct ose_ctx){.next = i + 1 < n ? i + 1 : OSE_NONE, .semis = OSE_NONE};
    }
    for (uint32_t b = 0; b < m->c->buckets; b++)
        m->bucket[b] = OSE_NONE;
    memset(m->full, 0, 2 * m->c->words * sizeof *m->full);
    m->h->pure = OSE_NONE;
    m->h->free_semi = m->h->free_ctx = 0;
    m->h->quiet = (uint32_t)m->c->rest;
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

/* One value of one feature: the range period (*warm set), or its score. */
static double ose_value(const struct ose_conf *c, struct ose_scratch *sc, unsigned char *feature,
                        double x, int *warm, struct ose_why *why)
{
    struct ose_model m = model_of(c, feature);
    struct ose_head *h = m.h;
    float *first = (float *)(feature + c->first_offset);
    double score = 0;
    *warm = 0;
    if (!h->seen)
        model_reset(&m);
    if (c->fixed) {
        if (!h->seen)
            set_range(c, h, c->min, c->max);
        score = rest_gate(c, h, ose_step(&m, sc, value_facts(c, h, x), why));
    } else if (h->seen < (uint32_t)c->range_records) {
        h->min = h->seen ? fminf(h->min, (float)x) : (float)x;
        h->max = h->seen ? fmaxf(h->max, (float)x) : (float)x;
        first[h->seen] = (float)x;
        *warm = 1;
        if (h->seen + 1 == (uint32_t)c->range_records) {
            double wide = c->range_margin * ((double)h->max - (double)h->min);
            set_range(c, h, h->min - wide, h->max + wide);
            for (int64_t i = 0; i < c->range_records; i++)
                rest_gate(c, h, ose_step(&m, sc, value_facts(c, h, first[i]), why));
        }
    } else {
        score = rest_gate(c, h, ose_step(&m, sc, value_facts(c, h, x), why));
    }
    h->seen += h->seen < UINT32_MAX;
    why->x = x;
    why->score = score;
    return score;
}

/* ---- explanations ------------------------------------------------------------ */

/* "cpu=98 in 96.2..99.1, above the range 40.5..92.3: 7 of 9 selected
 * contexts failed, 4 of 5 proposed new": one scoring feature. */
static size_t explain_feature(const struct ose_conf *c, const struct ose_head *h,
                              const char *name, const struct ose_why *w, char *buf, size_t size,
                              size_t len)
{
    double q = floor((w->x - h->lo) / h->width), hi = h->lo + h->width * ((1 << c->bits) - 1);
    int n = snprintf(buf + len, size - len, "%s=%.6g in %.4g..%.4g", name, w->x,
                     h->lo + q * h->width, h->lo + (q + 1) * h->width);
    len += n > 0 ? (size_t)n : 0;
    if (len < size && (w->x < h->lo || w->x > hi)) {
        n = snprintf(buf + len, size - len, ", %s the range %.4g..%.4g",
                     w->x < h->lo ? "below" : "above", h->lo, hi);
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
                           const unsigned char *state, const struct ose_why *why)
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
        const struct ose_head *h = (const struct ose_head *)(state + top * c->feature_bytes);
        len = explain_feature(c, h, c->fields.v[top], &why[top], text, sizeof text, len);
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
        struct ose_why why[OSE_MAX_FIELDS];
        for (size_t k = 0; k < c->fields.n; k++) {
            double x = row[c->in_col[k]];
            why[k].score = 0;
            if (!isfinite(x))
                continue;
            int warm;
            double s = ose_value(c, scratch, state + k * c->feature_bytes, x, &warm, &why[k]);
            if (warm && c->flag_warmup)
                b->rec[i].flags |= WEIR_REC_WARMUP;
            best = s > best ? s : best;
        }
        row[c->out_col] = (float)best;
        if (c->explain_col >= 0) {
            b->S[(size_t)i * b->nstr + c->explain_col] = (struct weir_str){NULL, 0};
            if (best > 0)
                explain_record(c, b, i, state, why);
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_cad_ose = {
    .name = "cad_ose",
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
