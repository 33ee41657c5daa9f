/* cad_ose's learning step over a feature's state (cad_ose.h): the left
 * sides' hash table and lists, the contexts and their clock, one step. The
 * algorithm is described in cad_ose.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "operators/cad_ose.h"

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
    m->semi[x->left].stale = 1;
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
                          .ref = 1, .semis = OSE_NONE, .nright = (uint8_t)facts_count(right),
                          .stamp = h->stamp_gen * (uint32_t)m->c->contexts + (uint32_t)ci};
    m->semi[si].first = ci;
    m->semi[si].stale = 1;
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

/* ---- rates ------------------------------------------------------------------ */

/* The highest rate came/expected seen (0 for a context never expected) and
 * the union of the right sides at it. Rates are compared by cross-
 * multiplying (both terms under 2^31 once halved: no overflow), not by
 * dividing: exact, and the same order and ties as doubles' while expected
 * stays under 2^26 (distinct rates then differ by more than a double's
 * rounding). */
struct ose_best {
    uint64_t came, expected, right;
};

static inline void best_add(struct ose_best *b, uint64_t came, uint64_t expected, uint64_t right)
{
    if (!expected) {
        came = 0;
        expected = 1;
    }
    uint64_t w = came * b->expected, best = b->came * expected;
    if (w > best) {
        *b = (struct ose_best){came, expected, right};
    } else if (w == best) {
        b->right |= right;
    }
}

/* Left side s's best, counted again from its contexts when stale. */
static void semi_best(const struct ose_model *m, struct ose_semi *s)
{
    if (!s->stale)
        return;
    struct ose_best b = {0, 1, 0};
    for (int32_t j = s->first; j != OSE_NONE; j = m->ctx[j].next)
        best_add(&b, m->ctx[j].came, m->ctx[j].expected, m->ctx[j].right);
    s->best_came = (uint32_t)b.came;
    s->best_expected = (uint32_t)b.expected;
    s->best_right = b.right;
    s->stale = 0;
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
            struct ose_semi *s = &m->semi[i];
            if (!s->used || !s->n) /* n 0: no fact held, never selected */
                continue;
            int full = (int)BIT_TEST(m->full, i), cross_ok = !full || s->n <= c->max_left;
            struct ose_best best = {0, 1, 0}; /* a selected side's, counted as it goes */
            for (int32_t j = s->first; j != OSE_NONE; j = m->ctx[j].next) {
                struct ose_ctx *x = &m->ctx[j];
                if (j == new_id || (!full && !x->zero)) {
                    if (full)
                        best_add(&best, x->came, x->expected, x->right);
                    continue;
                }
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
                    best_add(&best, x->came, x->expected, x->right);
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
            if (full) {
                s->best_came = (uint32_t)best.came;
                s->best_expected = (uint32_t)best.expected;
                s->best_right = best.right;
                s->stale = 0;
            }
        }
    struct ose_head *h = m->h;
    h->group_id = cad_ose_tick(h->group_id);
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
    struct ose_best best = {0, 1, 0};
    memset(m->full, 0, m->c->words * sizeof *m->full);
    for (int k = -1; k < h->group_nneur; k++) {
        if (k >= 0 && !in_group(m, h->group_neur[k]))
            continue;
        int32_t i = k < 0 ? h->pure : m->ctx[stamp_slot(m->c, h->group_neur[k])].semis;
        for (; i != OSE_NONE; i = m->semi[i].down) {
            struct ose_semi *s = &m->semi[i];
            if (!semi_held(m, s))
                continue;
            BIT_SET(m->full, i);
            /* its contexts' best, as a walk over them would find it: the
             * highest rate, and the union at it (the order does not matter) */
            semi_best(m, s);
            best_add(&best, s->best_came, s->best_expected, s->best_right);
        }
    }
    m->h->predicted = best.right;
}

double cad_ose_step(const struct ose_model *m, struct ose_scratch *sc, uint64_t cur,
                    struct ose_why *why)
{
    struct ose_head *h = m->h;
    int missed = (cur & ~h->predicted) != 0;
    int32_t new_id = OSE_NONE;
    uint32_t proposed = 0, made_n = 0;
    int made;
    h->step = cad_ose_tick(h->step);
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

void cad_ose_reset(const struct ose_model *m)
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
