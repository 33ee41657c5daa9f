/* The sliding window's per-key value and its aggregation (window_agg.c),
 * shared by the operator (window.c). Kept apart so that the option handling
 * and the per-key arithmetic each fit in one file.
 *
 * A key's value is plain bytes in the engine's keyed store (no pointers):
 *
 *   struct window_head                      24 bytes
 *   running sums (only when the operator asks for nothing but count, sum,
 *   mean and since_last): struct window_cache + nsizes * nfields csums
 *   int64_t ts[cap]                         event times, ascending (ties in arrival order)
 *   float   val[nfields][cap]               the numeric fields' values (NaN = missing)
 *   uint32_t hash[nstrs][cap]               32-bit hashes of the string fields (0 = absent)
 *
 * so a key costs 24 + cap * (8 + 4 * nfields + 4 * nstrs) bytes (plus
 * 48 + 16 * nsizes * nfields with running sums) plus the store's per-key
 * overhead. */
#ifndef WEIR_OPERATORS_WINDOW_H
#define WEIR_OPERATORS_WINDOW_H

#include <stdint.h>

#define WINDOW_MAX_SIZES 8
#define WINDOW_MAX_FIELDS 8
#define WINDOW_MAX_STRS 4
#define WINDOW_MAX_AGGS 32
#define WINDOW_MAX_EVENTS 65536

enum window_agg_kind {
    AGG_COUNT,
    AGG_SUM,
    AGG_MEAN,
    AGG_MIN,
    AGG_MAX,
    AGG_STDDEV,
    AGG_LAST,
    AGG_SINCE_LAST,
    AGG_DISTINCT,
};

struct window_head {
    uint32_t n;       /* events kept */
    uint16_t flags;   /* HEAD_* */
    uint16_t first;   /* where the oldest event is in the arrays: the front is cut by moving
                         it, and the events are moved down only when the end has no room */
    int64_t gone_ts;  /* newest event removed from the front (pruned or dropped) */
    int64_t trunc_ts; /* newest event dropped because the key was full */
};
#define HEAD_GONE 0x1u  /* gone_ts is set */
#define HEAD_TRUNC 0x2u /* trunc_ts is set */

/* What one scan computes per field over one window. */
struct window_acc {
    uint32_t n; /* finite values */
    uint32_t has_last;
    double sum, mean, m2, min, max, last;
};

/* The aggregates of one window (one size) for one record. */
struct window_snap {
    uint32_t count; /* records, whatever their values */
    uint32_t distinct[WINDOW_MAX_STRS];
    struct window_acc acc[WINDOW_MAX_FIELDS];
};

/* The shape of a key's value and what a scan must compute. */
struct window_shape {
    uint32_t cap;     /* max_events */
    uint32_t nfields; /* numeric fields stored */
    uint32_t nstrs;   /* string fields stored (for distinct) */
    uint32_t need_m2;     /* bit f: field f needs the variance (stddev) */
    uint32_t need_minmax; /* bit f: field f needs min or max */
    uint32_t need_last;   /* bit f: field f needs its newest value */
    uint32_t nsizes;
    uint32_t fast;        /* running sums kept (count/sum/mean only) */
};

/* Running sums of the windows of the key's last record, so that the next
 * record in time order only adds the events that entered and subtracts
 * those that left instead of scanning them all. valid = 0 (out-of-order
 * insert, overflow, a step back in time) makes the next record rebuild it
 * with a scan. */
struct window_cache {
    int64_t hi;       /* the window end the sums are for */
    uint32_t valid;
    uint32_t end;     /* events [0, end) have ts <= hi */
    uint32_t start[WINDOW_MAX_SIZES]; /* by size, smallest first: first event > lo */
};

struct window_csum {
    double sum;
    uint32_t n; /* finite values */
    float err;  /* the rounding the sum's steps made since it was exact (0 in older state) */
};

static inline size_t window_cache_bytes(const struct window_shape *s)
{
    return s->fast ? sizeof(struct window_cache) +
                         (size_t)s->nsizes * s->nfields * sizeof(struct window_csum)
                   : 0;
}

/* A generation-stamped hash set for distinct counts: cleared in O(1). */
struct window_set {
    uint32_t *hash;
    uint32_t *gen;
    uint32_t mask;
    uint32_t now;
};

static inline uint32_t window_value_size(const struct window_shape *s)
{
    return (uint32_t)(sizeof(struct window_head) + window_cache_bytes(s) +
                      (uint64_t)s->cap * (8u + 4u * s->nfields + 4u * s->nstrs));
}

static inline struct window_cache *window_cache(void *v)
{
    return (struct window_cache *)((char *)v + sizeof(struct window_head));
}

static inline struct window_csum *window_csums(void *v)
{
    return (struct window_csum *)((char *)v + sizeof(struct window_head) +
                                  sizeof(struct window_cache));
}

/* The arrays as stored; the accessors below start at the oldest event, so
 * that index i is the i-th event kept wherever the front is. */
static inline int64_t *window_ts_base(void *v, const struct window_shape *s)
{
    return (int64_t *)((char *)v + sizeof(struct window_head) + window_cache_bytes(s));
}

static inline uint32_t window_first(const void *v)
{
    return ((const struct window_head *)v)->first;
}

static inline int64_t *window_ts(void *v, const struct window_shape *s)
{
    return window_ts_base(v, s) + window_first(v);
}

static inline float *window_val(void *v, const struct window_shape *s, uint32_t f)
{
    return (float *)(window_ts_base(v, s) + s->cap) + (size_t)f * s->cap + window_first(v);
}

static inline uint32_t *window_hash(void *v, const struct window_shape *s, uint32_t k)
{
    return (uint32_t *)((float *)(window_ts_base(v, s) + s->cap) + (size_t)s->nfields * s->cap) +
           (size_t)k * s->cap + window_first(v);
}

/* Asks for the parts of a key's value the next record will read: the front
 * (pruning), the end (the insert) and, with running sums, each window's
 * start. A hint: nothing changes. */
void window_prefetch(const void *v, const struct window_shape *s);

/* Removes the events with ts <= horizon from the front. */
void window_prune(void *v, const struct window_shape *s, int64_t horizon);
/* Inserts an event after every event with ts <= its ts; when the key is
 * full the oldest event is dropped first (remembered in trunc_ts), which is
 * the one being inserted when it is older than every event kept. Returns
 * the ts of the key's event before it, found before that drop (which would
 * hide it from a late ts), or gone_ts when the events before it are gone;
 * WINDOW_NO_PREV when there was none. */
#define WINDOW_NO_PREV INT64_MIN
int64_t window_insert(void *v, const struct window_shape *s, int64_t ts, const float *vals,
                      const uint32_t *hashes);
/* Scans backwards from the last event with ts <= hi and fills snap[k] for the
 * windows (lo[k], hi], lo ascending-sorted descending (largest lo first:
 * smallest window first). */
void window_scan(void *v, const struct window_shape *s, int64_t hi, const int64_t *lo,
                 uint32_t nwin, struct window_snap *snap, struct window_set *set);
/* The same as window_scan for count/sum/mean (s->fast), from the running
 * sums when the key's records come in time order. */
void window_running(void *v, const struct window_shape *s, int64_t hi, const int64_t *lo,
                    uint32_t nwin, struct window_snap *snap);
/* 32-bit hash of a string's bytes, never 0 (0 means absent). */
uint32_t window_str_hash(const char *p, uint32_t len);

int window_set_init(struct window_set *set, uint32_t cap);
void window_set_free(struct window_set *set);

#endif
