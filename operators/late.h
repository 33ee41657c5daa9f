/* Late records for operators that judge each record against the event times
 * seen before it in its partition (window, dedup, aggregate): the engine's
 * watermark already includes the batch being processed, so it cannot say
 * whether a record of that batch came late. A record is late when it has
 * no event time or its time is behind the largest time seen in its
 * partition minus the pipeline's allowed lateness; after an assignment the
 * largest time starts from what the operator's restored keys hold. Shared by operators, not
 * part of the engine. */
#ifndef WEIR_OPERATORS_LATE_H
#define WEIR_OPERATORS_LATE_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "engine/batch.h"
#include "engine/diag.h"
#include "engine/opstate.h"
#include "engine/option.h"

/* A duration option in event-time milliseconds: 1 with a diagnostic at
 * key when ns is not a whole number of them (a "500us" delay read as 0
 * would put a record in its own delayed window), else 0 with *ms set. */
static inline int weir_late_whole_ms(struct weir_prepare *p, const char *key, uint64_t ns,
                                     int64_t *ms)
{
    char path[256];
    if (weir_duration_whole_ms(ns, ms) == 0)
        return 0;
    weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, key),
                  "expected a whole number of milliseconds (event times are in ms), got %gms",
                  (double)ns / 1e6);
    return 1;
}

struct weir_late {
    int64_t *max; /* by partition slot: the largest event time seen, or INT64_MIN */
    unsigned char *recalled; /* by slot: weir_late_recall_due has been asked */
    uint32_t nparts;
};

static inline void weir_late_free(struct weir_late *l)
{
    free(l->max);
    free(l->recalled);
    l->max = NULL;
    l->recalled = NULL;
    l->nparts = 0;
}

/* A partition was assigned or revoked: its history starts again. */
static inline void weir_late_reset(struct weir_late *l, uint32_t part)
{
    if (part < l->nparts) {
        l->max[part] = INT64_MIN;
        l->recalled[part] = 0;
    }
}

static inline int weir_late_grow(struct weir_late *l, uint32_t part)
{
    if (part < l->nparts)
        return 0;
    uint32_t n = part + 8;
    int64_t *m = realloc(l->max, n * sizeof *m);
    if (m)
        l->max = m;
    unsigned char *r = m ? realloc(l->recalled, n) : NULL;
    if (!r)
        return -ENOMEM;
    l->recalled = r;
    for (uint32_t i = l->nparts; i < n; i++) {
        m[i] = INT64_MIN;
        r[i] = 0;
    }
    l->nparts = n;
    return 0;
}

/* The newest event time a key's value holds, or INT64_MIN. */
typedef int64_t (*weir_late_newest_fn)(const void *conf, const void *value);

struct weir_late_recall {
    weir_late_newest_fn newest;
    const void *conf;
    int64_t max;
};

static inline int weir_late_recall_one(void *ctx, const void *key, uint32_t klen,
                                       const void *value)
{
    (void)key, (void)klen;
    struct weir_late_recall *r = ctx;
    int64_t t = r->newest(r->conf, value);
    r->max = t > r->max ? t : r->max;
    return 0;
}

/* Once per assignment of part, before its first record: the largest time
 * starts from the newest one op's restored keys hold (a lower bound: keys
 * evicted since took theirs along), so a record that was late before a
 * restart, a move or a reload is late after it. 0 or -ENOMEM. */
static inline int weir_late_recall(struct weir_late *l, struct weir_op *op, uint32_t part,
                                   weir_late_newest_fn newest)
{
    if (weir_late_grow(l, part) < 0)
        return -ENOMEM;
    if (l->recalled[part])
        return 0;
    l->recalled[part] = 1;
    struct weir_state *store = weir_op_state_part(op, part, 0);
    struct weir_late_recall r = {newest, op->conf, INT64_MIN};
    if (store)
        weir_state_foreach(store, weir_late_recall_one, &r);
    if (r.max > l->max[part])
        l->max[part] = r.max;
    return 0;
}

/* 1 when the record at ts in part is late (why says which way), 0 when it is
 * on time (then *wm is its partition's watermark after it), -ENOMEM. */
static inline int weir_late_check(struct weir_late *l, uint32_t part, int64_t ts, int64_t lateness,
                                  int64_t *wm, int *no_time)
{
    if (weir_late_grow(l, part) < 0)
        return -ENOMEM;
    int64_t *max = &l->max[part];
    *no_time = ts < 0;
    if (ts < 0 || (*max != INT64_MIN && ts < *max - lateness))
        return 1;
    if (ts > *max)
        *max = ts;
    *wm = *max - lateness;
    return 0;
}

/* weir_late_check for record i of b, dead-lettered with no_time_why or
 * late_why when dead is set: 1 when it is late (the caller leaves it), 0 when
 * it is on time (*wm as above), -ENOMEM. A record the restored state counted
 * already (weir_op_replayed: read again after an at-least-once restart) is
 * behind that state's newest time without having come late: it is left as a
 * late one is (its windows were counted with it), but never dead-lettered. */
static inline int weir_late_screen(struct weir_late *l, struct weir_op *op, struct weir_batch *b,
                                   uint32_t i, int64_t lateness, int dead, const char *no_time_why,
                                   const char *late_why, int64_t *wm)
{
    const struct weir_record *r = &b->rec[i];
    int no_time;
    int late = weir_late_check(l, r->part, r->ts_ms, lateness, wm, &no_time);
    if (late > 0 && !no_time && weir_op_replayed(op, r))
        return 1;
    if (late > 0 && dead)
        weir_batch_kill(b, i, no_time ? no_time_why : late_why);
    return late;
}

#endif
