/* cad_ose's state and its learning step (cad_ose_model.c), shared by the
 * operator (cad_ose.c): the algorithm is described there. */
#ifndef WEIR_OPERATORS_CAD_OSE_H
#define WEIR_OPERATORS_CAD_OSE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/operator.h"
#include "engine/opstate.h"

#define OSE_MAX_FIELDS 16
#define OSE_MAX_ACTIVE 16 /* neuron facts a left side can hold */
#define OSE_BAND_FACT 16  /* first band fact; bits use 0..2*bits-1 */
#define OSE_BANDS 16
#define OSE_NONE (-1)
#define ROUND8(n) (((n) + 7) & ~(size_t)7)

struct ose_conf {
    struct weir_strlist fields;
    const char *out;
    int64_t bits, max_left, max_active, rest, range_records, contexts, relearn;
    int scale;        /* 0 linear, 1 log: sign(x) log1p(|x|) before the range */
    double threshold, min, max, range_margin;
    double margin_mad; /* the range widened by this many robust sigmas (1.4826 MAD) */
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[OSE_MAX_FIELDS];
    int out_col;
    int fixed;        /* min and max given: no range period */
    int flag_warmup, explain;
    double explain_above; /* only records scoring at least this are explained */
    int explain_col;        /* string column "<out>_explain", or -1 */
    char explain_name[256]; /* its name: the schema borrows it for the pipeline's life */
    uint32_t buckets; /* left-side hash table size, a power of two >= 2 * contexts */
    uint64_t slot_magic; /* stamp_slot()'s multiplier */
    size_t words; /* of a bitmap over the left sides */
    size_t first_offset, semi_offset, ctx_offset, hash_offset, bits_offset, feature_bytes, bytes;
    uint64_t layout;
};

/* A feature's state: this head, the last range_records values (a ring), the left sides,
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
    float min, max;            /* of every value seen (scaled) */
    uint32_t relearned;        /* times the range was rebuilt (relearn) */
    uint64_t predicted;        /* facts the contexts predicted for this value */
    uint64_t group_sens;       /* the left group: the last value's facts ... */
    uint32_t group_neur[OSE_MAX_ACTIVE]; /* ... and the contexts fed back, sorted stamps */
    uint8_t group_nneur, has_group;
};

/* A left side: facts of a value (a mask) and fed-back contexts (stamps).
 * best_*: its contexts' highest rate came/expected and the union of the
 * right sides at that rate (what it predicts when held), kept from the last
 * time its contexts were counted; stale when a context came or went since. */
struct ose_semi {
    uint64_t sens;
    uint64_t best_right;
    uint32_t best_came, best_expected;
    uint32_t hash;
    int32_t first;   /* its first context; the free list's link when unused */
    int32_t up, down; /* the list of left sides with the same first fed-back context */
    uint8_t used, n, nneur, listed, stale;
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
    float *sorted;   /* range_records values, sorted for margin_mad's median and MAD (else NULL) */
};

/* What a value's explanation needs: the counts behind its score. */
struct ose_why {
    double x, score;
    double lo, width; /* the range it was scored against (relearn may move it after) */
    uint32_t selected, active, proposed, made;
};

/* The head's seen after one more value, with a ring of n values at seen % n:
 * past UINT32_MAX it stays above n and keeps its place in the ring (a
 * count stuck at the top would write one slot forever). */
static inline uint32_t cad_ose_seen_next(uint32_t seen, uint32_t n)
{
    uint64_t next = (uint64_t)seen + 1;
    return (uint32_t)(next <= UINT32_MAX ? next : n + next % n);
}

/* A step or group number after v: past UINT32_MAX it goes on from 1, as 0
 * is what a context made since holds in touched and mark (at a step
 * numbered 0 the contexts it made did not count as proposed, and a score
 * could pass 1). */
static inline uint32_t cad_ose_tick(uint32_t v)
{
    return v == UINT32_MAX ? 1 : v + 1;
}

/* Learns the value's facts cur (one step); returns its raw score. */
double cad_ose_step(const struct ose_model *m, struct ose_scratch *sc, uint64_t cur,
                    struct ose_why *why);

/* A fresh feature: everything free, nothing learned, the first rest silenced. */
void cad_ose_reset(const struct ose_model *m);

#endif
