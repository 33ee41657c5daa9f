/* A reload's changed source, checked before the workers take it (reload.h:
 * weir_reload_check_start). A new Kafka source's open used to ask the
 * brokers for its topics' metadata on the worker's loop, after the old
 * source was stopped and the worker drained: with the brokers away, the
 * loop waited up to connect_timeout (3 s for a 3 s outage, measured by
 * bench/reload_stall.sh), and then a missing or unreachable topic failed
 * the worker and stopped the run. The check is the source type's
 * precheck() now, on a thread of its own, while the workers go on with the
 * running pipeline; the reload is sent to them only once it passed, and a
 * failed one leaves the running pipeline as it is.
 *
 * Thread safety: the thread reads only next's source options, which nothing
 * writes once loaded; the check holds next (weir_pipeline_hold) until its
 * caller, after the join, lets go of it. It writes only the check's rc and err, read by the
 * main thread after done (release/acquire) says it is through. */
#include "engine/operator.h"
#include "engine/reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct weir_reload_check {
    pthread_t thread;
    const struct weir_source_type *type;
    const void *conf;
    struct weir_reload_checked reload; /* held for the caller (next: weir_pipeline_hold) */
    int done; /* atomic: the thread is through, rc and err are set */
    int rc;
    struct weir_error err;
};

static void *check_main(void *arg)
{
    struct weir_reload_check *c = arg;
    c->rc = c->type->precheck(c->conf, &c->err);
    __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

int weir_reload_check_start(const struct weir_pipeline *next, struct weir_reload_plan *plan,
                            const char *why, struct weir_reload_check **out,
                            struct weir_error *err)
{
    *out = NULL;
    if (plan->kind != WEIR_RELOAD_SHAPE || plan->source_same || plan->source_kept ||
        !next->source_type->precheck)
        return 0; /* no new source, or one whose open waits for nothing */
    struct weir_reload_check *c = calloc(1, sizeof *c);
    if (!c)
        return weir_error_set(err, -ENOMEM, "out of memory");
    c->type = next->source_type;
    c->conf = next->source_conf;
    c->reload = (struct weir_reload_checked){.next = next, .plan = plan, .why = why};
    int rc = pthread_create(&c->thread, NULL, check_main, c);
    if (rc != 0) {
        free(c);
        return weir_error_set(err, -rc, "cannot start a thread to check the new source");
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
