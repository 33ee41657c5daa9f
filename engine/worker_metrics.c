/* The worker's side of the metrics registry (engine/metrics.h) that is not on
 * the record path: publishing the summary's counters and the partitions'
 * state once per loop turn, and what sources report of their partitions'
 * offsets. The per-batch figures are updated in worker.c, where they are
 * measured. */
#include "engine/worker_internal.h"

/* The summary's counters and the partitions' state, copied where readers on
 * other threads may look (metrics.h): a few stores per loop turn. */
void weir_worker_metrics_publish(struct weir_worker *w)
{
    struct weir_metrics *m = w->m;
    weir_metric_set(&m->records_in, __atomic_load_n(&w->stats.records_in, __ATOMIC_RELAXED));
    weir_metric_set(&m->records_out, w->stats.records_out);
    weir_metric_set(&m->dead, w->stats.dead);
    weir_metric_set(&m->unwritable, w->stats.unwritable);
    weir_metric_set(&m->dropped, w->stats.dropped);
    weir_metric_set(&m->alerts, w->stats.alerts);
    weir_metric_set(&m->batches, w->stats.batches);
    weir_metric_set(&m->inflight, (uint64_t)(w->inflight > 0 ? w->inflight : 0));
    uint64_t assigned = 0, restoring = 0, lag = 0;
    for (uint32_t p = 0; p < w->nparts; p++) {
        const struct weir_partition *wp = &w->parts[p];
        assigned += wp->assigned != 0;
        restoring += wp->assigned && wp->restoring;
        lag += wp->assigned ? wp->lag : 0;
        if (p >= WEIR_METRICS_PARTS)
            continue;
        weir_metrics_part_name(m, p, wp->topic, wp->partition);
        weir_metric_set(&m->part[p].assigned, (uint64_t)wp->assigned);
        weir_metric_set(&m->part[p].restoring, (uint64_t)wp->restoring);
    }
    weir_metric_set(&m->parts_assigned, assigned);
    weir_metric_set(&m->parts_restoring, restoring);
    weir_metric_set(&m->lag, lag);
}

void weir_worker_partition_progress(struct weir_worker *w, uint32_t slot, int64_t position,
                                    int64_t high, int64_t committed)
{
    uint64_t lag = high >= 0 && position >= 0 && high > position ? (uint64_t)(high - position) : 0;
    if (slot < w->nparts)
        w->parts[slot].lag = lag;
    if (slot >= WEIR_METRICS_PARTS)
        return;
    struct weir_part_metrics *pm = &w->m->part[slot];
    weir_metric_set(&pm->position, (uint64_t)position);
    weir_metric_set(&pm->high, (uint64_t)high);
    weir_metric_set(&pm->committed, (uint64_t)committed);
    weir_metric_set(&pm->lag, lag);
}
