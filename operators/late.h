/* Late records for operators that judge each record against the event times
 * seen before it in its partition (window, dedup): the engine's watermark
 * already includes the batch being processed, so it cannot say whether a
 * record of that batch came late. A record is late when it has no event time
 * or its time is behind the largest time seen in its partition minus the
 * pipeline's allowed lateness. Shared by operators, not part of the engine. */
#ifndef WEIR_OPERATORS_LATE_H
#define WEIR_OPERATORS_LATE_H

#include "engine/batch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

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

/* 1 once per assignment of part, before its first record: the time for an
 * operator whose keyed state remembers event times to hand the largest it
 * restored to weir_late_recall (so a record that was late before a restart
 * is late after it), 0 after, -ENOMEM. */
static inline int weir_late_recall_due(struct weir_late *l, uint32_t part)
{
    if (weir_late_grow(l, part) < 0)
        return -ENOMEM;
    if (l->recalled[part])
        return 0;
    l->recalled[part] = 1;
    return 1;
}

static inline void weir_late_recall(struct weir_late *l, uint32_t part, int64_t ts)
{
    if (part < l->nparts && ts > l->max[part])
        l->max[part] = ts;
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
 * it is on time (*wm as above), -ENOMEM. */
static inline int weir_late_screen(struct weir_late *l, struct weir_batch *b, uint32_t i,
                                   int64_t lateness, int dead, const char *no_time_why,
                                   const char *late_why, int64_t *wm)
{
    const struct weir_record *r = &b->rec[i];
    int no_time;
    int late = weir_late_check(l, r->part, r->ts_ms, lateness, wm, &no_time);
    if (late > 0 && dead)
        weir_batch_kill(b, i, no_time ? no_time_why : late_why);
    return late;
}

#endif
