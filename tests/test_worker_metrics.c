/* The worker's published totals (engine/worker_metrics.c) count every
 * partition slot, those past the WEIR_METRICS_PARTS that have series of
 * their own too: a worker with 300 partitions, one restoring in slot 290,
 * is not ready (/readyz said ready: slots from 256 were not looked at), and
 * slot 280's lag is in the total. */
#include <stdlib.h>
#include <string.h>

#include "engine/metrics.h"
#include "engine/worker_internal.h"
#include "tests/check.h"

int main(void)
{
    static struct weir_metrics m;
    struct weir_worker *w = calloc(1, sizeof *w);
    CHECK(w != NULL);
    w->m = &m;
    w->nparts = 300;
    w->parts = calloc(w->nparts, sizeof *w->parts);
    char topic[] = "t";
    for (uint32_t p = 0; p < w->nparts; p++)
        w->parts[p] =
            (struct weir_partition){.topic = topic, .partition = (int32_t)p, .assigned = 1};
    w->parts[290].restoring = 1;
    weir_worker_partition_progress(w, 280, 100, 150, 100);
    weir_worker_partition_progress(w, 3, 10, 12, 10);
    weir_worker_metrics_publish(w);
    m.up = 1;
    struct weir_metrics_registry r = {.workers = &m, .n = 1};
    struct weir_metrics_totals t;
    weir_metrics_totals(&r, &t);
    CHECK(t.parts_assigned == 300 && t.parts_restoring == 1 && t.lag == 52);
    CHECK(weir_metrics_ready(&r) == 0);
    w->parts[290].restoring = 0;
    w->parts[3].assigned = 0; /* revoked: its lag is not ours */
    weir_worker_metrics_publish(w);
    weir_metrics_totals(&r, &t);
    CHECK(t.parts_assigned == 299 && t.lag == 50 && weir_metrics_ready(&r) == 1);
    free(w->parts);
    free(w);
    return check_summary();
}
