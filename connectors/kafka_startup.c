/* Start-up: the workers of one process join their consumer group before any
 * of them consumes (issue 8, item 4).
 *
 * Each worker has a consumer of its own in the group. They subscribe at
 * about the same time, but not at once: the first JoinGroup can complete
 * alone (a broker with group.initial.rebalance.delay.ms=0, or a group that
 * is not empty), so one worker takes every partition, starts on the
 * backlog, and the next worker's join revokes them a heartbeat later. With
 * a slow sink that revocation cannot drain within drain_timeout, and the
 * records in flight are read again by the next owner: duplicates in a run
 * where nothing failed.
 *
 * So a worker holds its first assignments paused (messages that were
 * already fetched wait, in order, as while a partition's state is restored)
 * until every worker of the process has had one, empty ones included, or
 * until connect_timeout has passed since its own first assignment. A
 * revocation while held has nothing in flight: it completes at once. The
 * worker that completes the set wakes the others through their eventfds;
 * each releases itself on its own loop (kafka_source.c, ks_hold_check).
 *
 * The registry is process-wide, keyed by group, counted by the sources
 * that opened. */
#include <pthread.h>

#include "connectors/kafka_source.h"
#include "engine/log.h"

struct ks_startup {
    char group[256];
    int nworkers;
    int members;  /* sources of this group that opened and have not closed */
    int assigned; /* workers that had a first assignment */
    int released;
    int *efds;    /* (nworkers) each worker's eventfd, -1 when none */
    struct ks_startup *next;
};

static pthread_mutex_t startup_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ks_startup *startups;

int ks_startup_join(struct kafka_source *ks)
{
    const struct weir_worker *w = ks->s->worker;
    if (w->nworkers <= 1 || w->id < 0 || w->id >= w->nworkers)
        return 0; /* nothing to wait for */
    pthread_mutex_lock(&startup_lock);
    struct ks_startup *su = startups;
    while (su && (strcmp(su->group, ks->group) != 0 || su->nworkers != w->nworkers))
        su = su->next;
    if (!su) {
        if (!(su = calloc(1, sizeof *su)) || !(su->efds = malloc(w->nworkers * sizeof *su->efds))) {
            free(su);
            pthread_mutex_unlock(&startup_lock);
            return -ENOMEM;
        }
        snprintf(su->group, sizeof su->group, "%s", ks->group);
        su->nworkers = w->nworkers;
        for (int i = 0; i < w->nworkers; i++)
            su->efds[i] = -1;
        su->next = startups;
        startups = su;
    }
    su->members++;
    su->efds[w->id] = ks->efd;
    ks->su = su;
    ks->held = !su->released;
    pthread_mutex_unlock(&startup_lock);
    return 0;
}

/* From the rebalance callback, for every assignment; only the first counts. */
void ks_startup_assigned(struct kafka_source *ks)
{
    struct ks_startup *su = ks->su;
    if (!su || ks->su_counted)
        return;
    ks->su_counted = 1;
    ks->held_since = weir_now_ns();
    pthread_mutex_lock(&startup_lock);
    if (++su->assigned >= su->nworkers && !su->released) {
        su->released = 1;
        static const uint64_t one = 1;
        for (int i = 0; i < su->nworkers; i++)
            if (su->efds[i] >= 0 && write(su->efds[i], &one, sizeof one) < 0) {
                /* saturated: a wake-up is pending anyway */
            }
    }
    if (su->released)
        ks->held = 0;
    pthread_mutex_unlock(&startup_lock);
}

int ks_startup_released(struct kafka_source *ks)
{
    if (!ks->su)
        return 1;
    pthread_mutex_lock(&startup_lock);
    int r = ks->su->released;
    pthread_mutex_unlock(&startup_lock);
    return r;
}

void ks_startup_leave(struct kafka_source *ks)
{
    struct ks_startup *su = ks->su;
    if (!su)
        return;
    ks->su = NULL;
    pthread_mutex_lock(&startup_lock);
    if (su->efds[ks->s->worker->id] == ks->efd) /* not a reload's successor's, joined since */
        su->efds[ks->s->worker->id] = -1;
    if (--su->members == 0) {
        struct ks_startup **pp = &startups;
        while (*pp != su)
            pp = &(*pp)->next;
        *pp = su->next;
        free(su->efds);
        free(su);
    }
    pthread_mutex_unlock(&startup_lock);
}
