/* Routing a batch that left the operator chain to the sinks, and counting
 * what the sinks took once they acknowledge it: outputs, dead letters,
 * dropped records, and records demoted to dead letters or unwritable on the
 * way (weir_worker_dead_letter, weir_worker_unwritable). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "engine/worker.h"
#include "engine/worker_internal.h"

/* A record a sink could not take (weir_worker_dead_letter), or whose dead
 * letter could not be written (weir_worker_unwritable). Its topic (the
 * pointer), partition slot and offset name it in its batch: a glob's files
 * share a slot and their offsets (line numbers) repeat, but each file's
 * name is one string. */
struct demoted {
    const char *topic;
    uint32_t part;
    int64_t offset;
    int was_live;    /* routed as an output */
    int lost;        /* unwritable */
};

/* weir_worker_route()'s ticket, which the sinks hold for one batch's outputs. Counting
 * there, once the last output is acknowledged, makes the summary say what
 * the sinks took: a batch that failed counts in neither "out" nor "dead". */
struct weir_route_ticket {
    struct weir_ticket t;
    struct weir_worker *w;
    uint64_t epoch;          /* w->route_epoch when routed (worker.h: let_go) */
    struct weir_ticket *src; /* the source's (or a tie's) ticket, or NULL */
    uint32_t out, dead;      /* as routed */
    uint32_t dropped;        /* filtered out: done, written nowhere */
    struct demoted *dem;     /* (ndem) rare: a linear search is enough */
    uint32_t ndem, capdem;
    struct weir_route_ticket *next; /* free list */
};

static void route_done(struct weir_ticket *t)
{
    struct weir_route_ticket *rt = (struct weir_route_ticket *)t;
    struct weir_worker *w = rt->w;
    if (!t->failed) {
        uint64_t out = rt->out, dead = rt->dead, lost = 0;
        for (uint32_t k = 0; k < rt->ndem; k++) {
            const struct demoted *d = &rt->dem[k];
            if (d->was_live) {
                out--;
                dead++;
            }
            if (d->lost) {
                dead--;
                lost++;
            }
        }
        w->stats.records_out += out;
        w->stats.dead += dead;
        w->stats.unwritable += lost;
        w->stats.dropped += rt->dropped;
    }
    struct weir_ticket *src = rt->src;
    int ok = !t->failed;
    w->routes_out[rt->epoch & 1]--;
    rt->next = w->free_routes;
    w->free_routes = rt;
    if (src)
        weir_ticket_release(src, ok);
}

static struct weir_route_ticket *route_ticket(struct weir_worker *w, struct weir_ticket *src,
                                              uint32_t out, uint32_t dead, uint32_t dropped)
{
    struct weir_route_ticket *rt = w->free_routes;
    if (rt)
        w->free_routes = rt->next;
    else if (!(rt = calloc(1, sizeof *rt)))
        return NULL;
    rt->t = (struct weir_ticket){.pending = 1, .done = route_done}; /* its own hold */
    rt->w = w;
    rt->epoch = w->route_epoch;
    w->routes_out[rt->epoch & 1]++;
    rt->src = src;
    rt->out = out;
    rt->dead = dead;
    rt->dropped = dropped;
    rt->ndem = 0;
    return rt;
}

void weir_worker_route_tickets_free(struct weir_worker *w)
{
    for (struct weir_route_ticket *rt = w->free_routes, *next; rt; rt = next) {
        next = rt->next;
        free(rt->dem);
        free(rt);
    }
    w->free_routes = NULL;
}

/* Notes that r of t's batch was demoted (lost = 0) or is unwritable (1).
 * Without memory for the note the counts stay as routed. */
static void route_demote(struct weir_ticket *t, const struct weir_record *r, int lost)
{
    if (!t || t->done != route_done)
        return; /* not a batch weir_worker_route() handed out: nothing to count */
    struct weir_route_ticket *rt = (struct weir_route_ticket *)t;
    for (uint32_t k = 0; k < rt->ndem; k++) {
        struct demoted *d = &rt->dem[k];
        if (d->topic == r->topic && d->part == r->part && d->offset == r->offset) {
            d->lost |= lost;
            return;
        }
    }
    if (rt->ndem == rt->capdem) {
        uint32_t cap = rt->capdem ? rt->capdem * 2 : 4;
        struct demoted *v = realloc(rt->dem, cap * sizeof *v);
        if (!v)
            return;
        rt->dem = v;
        rt->capdem = cap;
    }
    rt->dem[rt->ndem++] = (struct demoted){
        .topic = r->topic, .part = r->part, .offset = r->offset, .was_live = !lost, .lost = lost};
}

/* 2^32 ms, 49.7 days: a sum of these wraps after 4e9 records, not after
 * 1e7 as with ages of decades (an epoch-0 or a seconds-as-ms timestamp) */
#define AGE_CAP_MS ((int64_t)1 << 32)

static int64_t min_i64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

void weir_worker_route(struct weir_worker *w, struct weir_batch *b)
{
    struct weir_ticket *src = b->source_ctx;
    uint32_t dead = 0, dropped = 0;
    uint64_t alerts = 0;
    int64_t now_ms = weir_wall_ms();
    struct weir_hist *age = &w->m->event_age_ms;
    for (uint32_t i = 0; i < b->n; i++) {
        const struct weir_record *r = &b->rec[i];
        if (r->flags & WEIR_REC_DROPPED) {
            dropped++;
            continue;
        }
        if (!weir_record_live(r)) {
            dead++;
            continue;
        }
        if (r->flags & WEIR_REC_ALERT)
            alerts++;
        if (r->ts_ms >= 0) /* capped: years-old replays would wrap the sum */
            weir_hist_add(age,
                          now_ms > r->ts_ms ? (uint64_t)min_i64(now_ms - r->ts_ms, AGE_CAP_MS) : 0);
    }
    w->stats.alerts += alerts;
    struct weir_route_ticket *rt = route_ticket(w, src, b->n - dead - dropped, dead, dropped);
    struct weir_ticket *t = rt ? &rt->t : src;
    if (!rt) { /* out of memory: count what was routed */
        w->stats.dead += dead;
        w->stats.dropped += dropped;
        w->stats.records_out += b->n - dead - dropped;
    }
    for (size_t k = 0; k < w->nsinks && !w->failed; k++) {
        struct weir_sink *s = w->sinks[k];
        int rc = 0;
        if (s->when == WEIR_WHEN_EXPR && !(s->when_value = weir_expr_eval(&s->when_run, b)))
            rc = -ENOMEM;
        if (rc == 0)
            rc = s->type->write(s, b, t);
        if (rc < 0) {
            struct weir_error e;
            weir_error_set(&e, rc, "sink %s: write failed: %s", s->type->name, strerror(-rc));
            weir_worker_fail(w, &e);
        }
    }
    weir_batch_put(b);
    if (t)
        weir_ticket_release(t, !w->failed);
}

int weir_worker_dead_letter(struct weir_worker *w, const struct weir_record *r, const char *reason,
                            struct weir_ticket *t)
{
    if (w->closing || w->nsinks == 0) /* nsinks 0: a reload could not open them (failing) */
        return -ECANCELED; /* the source is gone: nothing it read can be committed now */
    struct weir_sink *dl = w->sinks[w->nsinks - 1];
    struct weir_batch *b = weir_batch_get(w->pool);
    if (!b)
        return -ENOMEM;
    int i = weir_batch_push(b);
    b->rec[i] = *r;
    weir_batch_kill(b, (uint32_t)i, reason);
    route_demote(t, r, 0); /* first: the write may find it unwritable */
    int rc = dl->type->write(dl, b, t);
    weir_batch_put(b);
    return rc;
}

void weir_worker_unwritable(struct weir_worker *w, const struct weir_record *r, const char *why,
                            struct weir_ticket *t)
{
    route_demote(t, r, 1);
    const char *src = r->topic                      ? r->topic
                      : w->source && w->source->name ? w->source->name
                                                     : "?";
    if (r->partition >= 0)
        weir_log(WEIR_LOG_WARN, "worker %d: unwritable record %s [%d] offset %lld (%s): %s; "
                "acknowledged so that its partition goes on\n", w->id, src, (int)r->partition,
                (long long)r->offset, r->reason ? r->reason : "rejected", why);
    else
        weir_log(WEIR_LOG_WARN, "worker %d: unwritable record %s line %lld (%s): %s; "
                "acknowledged so that the input goes on\n", w->id, src, (long long)r->offset,
                r->reason ? r->reason : "rejected", why);
}
