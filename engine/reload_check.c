/* A reload's changed source and new sinks, checked before the workers take
 * them (reload.h: weir_reload_check_start). A new Kafka source's open used
 * to ask the brokers for its topics' metadata on the worker's loop, after
 * the old source was stopped and the worker drained: with the brokers away,
 * the loop waited up to connect_timeout (3 s for a 3 s outage, measured by
 * bench/reload_stall.sh), and then a missing or unreachable topic failed
 * the worker and stopped the run. A Kafka sink's open did the same for its
 * topic. The checks are the stage types' precheck() now, one after the
 * other on a thread of their own, while the workers go on with the running
 * pipeline; the reload is sent to them only once every check passed, and a
 * failed one leaves the running pipeline as it is.
 *
 * Thread safety: the thread reads only next's source and sink options,
 * which nothing writes once loaded; the check holds next (weir_pipeline_hold)
 * until its caller, after the join, lets go of it. It writes only the check's
 * rc and err and the plan's sink_checked, read by the main thread after done
 * (release/acquire) says it is through and the join. */
#include "engine/operator.h"
#include "engine/reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct weir_reload_check {
    pthread_t thread;
    const struct weir_source_type *type; /* the new source's, or NULL: it is not checked */
    const void *conf;
    struct weir_reload_checked reload; /* held for the caller (next: weir_pipeline_hold) */
    int done; /* atomic: the thread is through, rc and err are set */
    int rc;
    struct weir_error err;
};

static const struct weir_stage_sink *stage_sink(const struct weir_pipeline *pl, size_t k)
{
    return k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
}

/* Sink k of next needs a check: the reload adds or changes it (a kept one
 * goes on with its open writer), and its type has a precheck(). */
static int sink_to_check(const struct weir_pipeline *next, const struct weir_reload_plan *plan,
                         size_t k)
{
    return plan->sink_from[k] < 0 && stage_sink(next, k)->type->precheck;
}

static int check_sinks(struct weir_reload_check *c)
{
    const struct weir_pipeline *next = c->reload.next;
    struct weir_reload_plan *plan = c->reload.plan;
    for (size_t k = 0; k <= next->nsinks; k++) {
        if (!sink_to_check(next, plan, k))
            continue;
        const struct weir_stage_sink *st = stage_sink(next, k);
        char path[32];
        if (k < next->nsinks)
            snprintf(path, sizeof path, "sinks[%zu]", k);
        else
            snprintf(path, sizeof path, "dead_letter");
        int rc = st->type->precheck(st->conf, next, path, &c->err);
        if (rc < 0)
            return rc;
        plan->sink_checked[k] = 1;
    }
    return 0;
}

static void *check_main(void *arg)
{
    struct weir_reload_check *c = arg;
    pthread_setname_np(pthread_self(), "weir-reload");
    int rc = c->type ? c->type->precheck(c->conf, &c->err) : 0;
    if (rc == 0)
        rc = check_sinks(c);
    c->rc = rc;
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

int weir_reload_check_start(const struct weir_pipeline *next, struct weir_reload_plan *plan,
                            const char *why, struct weir_reload_check **out,
                            struct weir_error *err)
{
    *out = NULL;
    if (plan->kind != WEIR_RELOAD_SHAPE)
        return 0; /* the same sinks and source */
    int source = !plan->source_same && !plan->source_kept && next->source_type->precheck;
    int sinks = 0;
    for (size_t k = 0; k <= next->nsinks; k++)
        sinks += sink_to_check(next, plan, k);
    if (!source && !sinks)
        return 0; /* nothing new whose open waits for anything */
    struct weir_reload_check *c = calloc(1, sizeof *c);
    if (!c)
        return weir_error_set(err, -ENOMEM, "out of memory");
    c->type = source ? next->source_type : NULL;
    c->conf = next->source_conf;
    c->reload = (struct weir_reload_checked){.next = next, .plan = plan, .why = why};
    int rc = pthread_create(&c->thread, NULL, check_main, c);
    if (rc != 0) {
        free(c);
        return weir_error_set(err, -rc, "cannot start a thread to check the new %s",
                              source ? "source" : "sinks");
    }
    weir_pipeline_hold(next);
    *out = c;
    return 0;
}

int weir_reload_check_done(struct weir_reload_check *c, int wait, struct weir_reload_checked *out,
                           struct weir_error *err)
{
    if (!wait && !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE))
        return 1;
    pthread_join(c->thread, NULL);
    *out = c->reload;
    int rc = c->rc;
    if (rc < 0)
        *err = c->err;
    free(c);
    return rc < 0 ? rc : 0;
}
