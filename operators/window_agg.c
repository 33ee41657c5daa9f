/* A sliding window key's events and the aggregates over them (window.h).
 *
 * Events are kept sorted by event time in one flat array per column, oldest
 * first: in-order events append, out-of-order ones shift the newer events up
 * by one, expired ones are cut from the front by moving the front index
 * (head.first); the events move down to the arrays' start only when an
 * append finds no room at the end, so each event is moved about once per
 * (max_events - events kept) appends instead of at every cut.
 * A record's aggregates are recomputed by one backward scan over the events
 * of its longest window, which serves every size at once (smallest window
 * first). Recomputing keeps the sums exact in double (no running sum drifts
 * after removals) and makes min, max, last and distinct as cheap as count.
 * The running sums of count, sum and mean alone (window_running) count the
 * rounding each step makes: once it could show against what the sum holds
 * (a spike left, and the small values added beside it were rounded away
 * with it), the sums are counted again from the events. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "operators/window.h"

static void move_events(void *v, const struct window_shape *s, uint32_t to, uint32_t from,
                        uint32_t n)
{
    int64_t *ts = window_ts(v, s);
    memmove(ts + to, ts + from, n * sizeof *ts);
    for (uint32_t f = 0; f < s->nfields; f++) {
        float *val = window_val(v, s, f);
        memmove(val + to, val + from, n * sizeof *val);
    }
    for (uint32_t k = 0; k < s->nstrs; k++) {
        uint32_t *h = window_hash(v, s, k);
        memmove(h + to, h + from, n * sizeof *h);
    }
}

static void forget_front(struct window_head *h, int64_t ts)
{
    if (!(h->flags & HEAD_GONE) || ts > h->gone_ts)
        h->gone_ts = ts;
    h->flags |= HEAD_GONE;
}

void window_prefetch(const void *v, const struct window_shape *s)
{
    const struct window_head *h = v;
    void *w = (void *)(uintptr_t)v; /* the accessors take a mutable value; nothing is written */
    const int64_t *ts = window_ts(w, s);
    __builtin_prefetch(ts);
    __builtin_prefetch(ts + h->n, 1);
    for (uint32_t f = 0; f < s->nfields; f++)
        __builtin_prefetch(window_val(w, s, f) + h->n, 1);
    if (!s->fast)
        return;
    const struct window_cache *c = window_cache(w);
    for (uint32_t k = 0; c->valid && k < s->nsizes; k++) {
        __builtin_prefetch(ts + c->start[k]);
        for (uint32_t f = 0; f < s->nfields; f++)
            __builtin_prefetch(window_val(w, s, f) + c->start[k]);
    }
}

static void cache_cut(void *v, const struct window_shape *s, uint32_t cut);

void window_prune(void *v, const struct window_shape *s, int64_t horizon)
{
    struct window_head *h = v;
    const int64_t *ts = window_ts(v, s);
    uint32_t cut = 0;
    while (cut < h->n && ts[cut] <= horizon)
        cut++;
    if (cut == 0)
        return;
    forget_front(h, ts[cut - 1]);
    if (s->fast) /* before the front moves: the sums read the events cut */
        cache_cut(v, s, cut);
    h->n -= cut;
    h->first = h->n ? (uint16_t)(h->first + cut) : 0;
}

int64_t window_insert(void *v, const struct window_shape *s, int64_t t, const float *vals,
                      const uint32_t *hashes)
{
    struct window_head *h = v;
    int64_t *ts = window_ts(v, s);
    uint32_t pos = h->n;
    while (pos > 0 && ts[pos - 1] > t) /* usually in order: no step */
        pos--;
    int64_t prev = pos > 0                                     ? ts[pos - 1]
                   : (h->flags & HEAD_GONE) && h->gone_ts <= t ? h->gone_ts
                                                               : WINDOW_NO_PREV;
    if (h->n == s->cap && pos == 0) { /* full, and t older than every event kept: t goes */
        forget_front(h, t);
        if (!(h->flags & HEAD_TRUNC) || t > h->trunc_ts)
            h->trunc_ts = t;
        h->flags |= HEAD_TRUNC;
        return prev;
    }
    if (h->n == s->cap) { /* full: the oldest goes, and windows reaching it are truncated */
        int64_t old = ts[0];
        forget_front(h, old);
        if (!(h->flags & HEAD_TRUNC) || old > h->trunc_ts)
            h->trunc_ts = old;
        h->flags |= HEAD_TRUNC;
        h->first++;
        h->n--;
        pos -= pos > 0;
        if (s->fast)
            window_cache(v)->valid = 0;
    }
    if (h->first + h->n == s->cap) { /* no room at the end: the events go down to 0 */
        uint32_t from = h->first;
        h->first = 0;
        move_events(v, s, 0, from, h->n);
    }
    ts = window_ts(v, s);
    if (pos < h->n)
        move_events(v, s, pos + 1, pos, h->n - pos);
    if (s->fast && pos < window_cache(v)->end)
        window_cache(v)->valid = 0; /* inside the cached windows: rebuild */
    ts[pos] = t;
    for (uint32_t f = 0; f < s->nfields; f++)
        window_val(v, s, f)[pos] = vals[f];
    for (uint32_t k = 0; k < s->nstrs; k++)
        window_hash(v, s, k)[pos] = hashes[k];
    h->n++;
    return prev;
}

/* Adds a hash to the set; 1 when it was not there. */
static int set_add(struct window_set *set, uint32_t hash)
{
    uint32_t i = (hash * 0x9e3779b1u) & set->mask;
    while (set->gen[i] == set->now) {
        if (set->hash[i] == hash)
            return 0;
        i = (i + 1) & set->mask;
    }
    set->gen[i] = set->now;
    set->hash[i] = hash;
    return 1;
}

static void acc_reset(struct window_snap *cur, const struct window_shape *s)
{
    cur->count = 0;
    for (uint32_t k = 0; k < s->nstrs; k++)
        cur->distinct[k] = 0;
    for (uint32_t f = 0; f < s->nfields; f++) {
        struct window_acc *a = &cur->acc[f];
        a->n = a->has_last = 0;
        a->sum = a->mean = a->m2 = 0;
        a->min = INFINITY;
        a->max = -INFINITY;
        a->last = 0;
    }
}

/* Adds events [from, to) of field f: one tight loop per kind of aggregate the
 * operator asked for (sum and count always; min/max, last, variance only when
 * needed), so the common count + mean case is a plain summing loop. */
static void acc_field(struct window_acc *a, const float *val, const struct window_shape *s,
                      uint32_t f, uint32_t from, uint32_t to)
{
    uint32_t n = 0;
    double sum = 0;
    for (uint32_t i = from; i < to; i++) {
        double x = val[i];
        if (isfinite(x)) {
            n++;
            sum += x;
        }
    }
    if (n == 0)
        return;
    a->n += n;
    a->sum += sum;
    if (s->need_minmax & (1u << f))
        for (uint32_t i = from; i < to; i++) {
            double x = val[i];
            if (isfinite(x)) {
                a->min = x < a->min ? x : a->min;
                a->max = x > a->max ? x : a->max;
            }
        }
    if ((s->need_last & (1u << f)) && !a->has_last) /* newest first: the last value */
        for (uint32_t i = to; i-- > from;)
            if (isfinite(val[i])) {
                a->last = val[i];
                a->has_last = 1;
                break;
            }
    if (s->need_m2 & (1u << f)) { /* Welford: stable where a sum of squares cancels */
        uint32_t k = a->n - n;
        for (uint32_t i = from; i < to; i++) {
            double x = val[i];
            if (!isfinite(x))
                continue;
            double d = x - a->mean;
            a->mean += d / ++k;
            a->m2 += d * (x - a->mean);
        }
    }
}

/* Adds events [from, to): the segment one window has beyond the smaller one. */
static void acc_range(struct window_snap *cur, void *v, const struct window_shape *s,
                      uint32_t from, uint32_t to, struct window_set *sets)
{
    if (from >= to)
        return;
    cur->count += to - from;
    for (uint32_t f = 0; f < s->nfields; f++)
        acc_field(&cur->acc[f], window_val(v, s, f), s, f, from, to);
    for (uint32_t k = 0; k < s->nstrs; k++) {
        const uint32_t *hash = window_hash(v, s, k);
        for (uint32_t i = from; i < to; i++)
            if (hash[i])
                cur->distinct[k] += (uint32_t)set_add(&sets[k], hash[i]);
    }
}

void window_scan(void *v, const struct window_shape *s, int64_t hi, const int64_t *lo,
                 uint32_t nwin, struct window_snap *snap, struct window_set *sets)
{
    const struct window_head *h = v;
    const int64_t *ts = window_ts(v, s);
    struct window_snap cur;
    acc_reset(&cur, s);
    for (uint32_t k = 0; k < s->nstrs; k++)
        if (++sets[k].now == 0) { /* generations wrapped: really clear once */
            memset(sets[k].gen, 0, ((size_t)sets[k].mask + 1) * sizeof *sets[k].gen);
            sets[k].now = 1;
        }
    uint32_t end = h->n; /* events [0, end) have ts <= hi */
    while (end > 0 && ts[end - 1] > hi)
        end--;
    uint32_t start = end; /* events [start, end) are in the window so far */
    for (uint32_t w = 0; w < nwin; w++) {
        uint32_t from = start;
        while (from > 0 && ts[from - 1] > lo[w])
            from--;
        acc_range(&cur, v, s, from, start, sets);
        start = from;
        snap[w] = cur;
    }
}

/* The value arrays of a key's fields, found once per record instead of at
 * every event each sum adds or removes. */
struct csum_vals {
    const float *val[WINDOW_MAX_FIELDS];
    uint32_t nfields;
};

static void csum_vals(struct csum_vals *cv, void *v, const struct window_shape *s)
{
    cv->nfields = s->nfields;
    for (uint32_t f = 0; f < s->nfields; f++)
        cv->val[f] = window_val(v, s, f);
}

/* sum += x, counting the rounding it makes (Knuth's two-sum) */
static inline void csum_step(struct window_csum *c, double x)
{
    double s = c->sum + x, xs = s - c->sum;
    double e = (c->sum - (s - xs)) + (x - xs);
    c->sum = s;
    c->err += (float)fabs(e);
}

/* Adds event i's values to one size's sums (one per field). */
static inline void csum_add(const struct csum_vals *cv, struct window_csum *cs, uint32_t i)
{
    for (uint32_t f = 0; f < cv->nfields; f++) {
        double x = cv->val[f][i];
        if (isfinite(x)) {
            csum_step(&cs[f], x);
            cs[f].n++;
        }
    }
}

/* Removes event i's values from one size's sums. */
static inline void csum_remove(const struct csum_vals *cv, struct window_csum *cs, uint32_t i)
{
    for (uint32_t f = 0; f < cv->nfields; f++) {
        double x = cv->val[f][i];
        if (isfinite(x)) {
            csum_step(&cs[f], -x);
            if (--cs[f].n == 0) { /* an empty window sums to exactly 0: no drift carried */
                cs[f].sum = 0;
                cs[f].err = 0;
            }
        }
    }
}

/* Whether the rounding a size's sums made could show in a float output
 * (2^-24) of what they hold now. */
static int csum_drifted(const struct window_csum *cs, uint32_t n)
{
    for (uint32_t f = 0; f < n; f++)
        if (cs[f].err > 0x1p-30 * fabs(cs[f].sum))
            return 1;
    return 0;
}

/* The front's cut events leave the running sums: those still inside a
 * cached window (it was the previous record's, whose windows began earlier)
 * are subtracted, as window_running subtracts events that leave, so that
 * the next record goes on from the sums instead of rescanning every event
 * (most cuts are of such events). Events past the cached end cannot be
 * subtracted: the next record rebuilds. */
static void cache_cut(void *v, const struct window_shape *s, uint32_t cut)
{
    struct window_cache *c = window_cache(v);
    if (!c->valid || cut > c->end) {
        c->valid = 0;
        return;
    }
    struct window_csum *cs = window_csums(v);
    struct csum_vals cv;
    csum_vals(&cv, v, s);
    for (uint32_t k = 0; k < s->nsizes; k++) {
        while (c->start[k] < cut)
            csum_remove(&cv, cs + (size_t)k * s->nfields, c->start[k]++);
        c->start[k] -= cut;
    }
    c->end -= cut;
}

/* Sets the cache from a scan's result for window end hi. */
static void cache_rebuild(void *v, const struct window_shape *s, int64_t hi, const int64_t *lo)
{
    const struct window_head *h = v;
    const int64_t *ts = window_ts(v, s);
    struct window_cache *c = window_cache(v);
    struct window_csum *cs = window_csums(v);
    struct csum_vals cv;
    csum_vals(&cv, v, s);
    uint32_t end = h->n;
    while (end > 0 && ts[end - 1] > hi)
        end--;
    uint32_t start = end;
    memset(cs, 0, (size_t)s->nsizes * s->nfields * sizeof *cs);
    for (uint32_t k = 0; k < s->nsizes; k++) {
        while (start > 0 && ts[start - 1] > lo[k])
            start--;
        c->start[k] = start;
        for (uint32_t i = start; i < end; i++)
            csum_add(&cv, cs + (size_t)k * s->nfields, i);
    }
    /* counted from the events, as a scan counts them: the reference, whose
     * own rounding is no drift (counted, large values that cancel would
     * call for a rebuild at every record while they stay) */
    for (size_t j = 0; j < (size_t)s->nsizes * s->nfields; j++)
        cs[j].err = 0;
    c->hi = hi;
    c->end = end;
    c->valid = 1;
}

void window_running(void *v, const struct window_shape *s, int64_t hi, const int64_t *lo,
                    uint32_t nwin, struct window_snap *snap)
{
    const struct window_head *h = v;
    const int64_t *ts = window_ts(v, s);
    struct window_cache *c = window_cache(v);
    struct window_csum *cs = window_csums(v);
    if (!c->valid || hi < c->hi) {
        cache_rebuild(v, s, hi, lo);
    } else {
        struct csum_vals cv;
        csum_vals(&cv, v, s);
        uint32_t end = c->end;
        while (end < h->n && ts[end] <= hi) /* entered: after every cached window */
            end++;
        for (uint32_t k = 0; k < nwin; k++) {
            struct window_csum *ck = cs + (size_t)k * s->nfields;
            for (uint32_t i = c->end; i < end; i++)
                csum_add(&cv, ck, i);
            while (c->start[k] < end && ts[c->start[k]] <= lo[k]) /* left */
                csum_remove(&cv, ck, c->start[k]++);
        }
        c->end = end;
        c->hi = hi;
        for (uint32_t k = 0; k < nwin; k++)
            if (csum_drifted(cs + (size_t)k * s->nfields, s->nfields)) {
                cache_rebuild(v, s, hi, lo);
                break;
            }
    }
    for (uint32_t k = 0; k < nwin; k++) {
        snap[k].count = c->end - c->start[k];
        for (uint32_t f = 0; f < s->nfields; f++) {
            const struct window_csum *x = &cs[(size_t)k * s->nfields + f];
            snap[k].acc[f].n = x->n;
            snap[k].acc[f].sum = x->sum;
        }
    }
}

uint32_t window_str_hash(const char *p, uint32_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
    h ^= h >> 29; /* fold the high bits in: FNV's low bits mix poorly */
    uint32_t x = (uint32_t)(h ^ (h >> 32));
    return x ? x : 1;
}

int window_set_init(struct window_set *set, uint32_t cap)
{
    uint32_t size = 16;
    while (size < 2 * cap)
        size *= 2;
    set->hash = calloc(size, sizeof *set->hash);
    set->gen = calloc(size, sizeof *set->gen);
    set->mask = size - 1;
    set->now = 0;
    return set->hash && set->gen ? 0 : -1;
}

void window_set_free(struct window_set *set)
{
    free(set->hash);
    free(set->gen);
    set->hash = set->gen = NULL;
}
