/* What a reload changes (see reload.h). Two ways to take it:
 *   - OPTIONS: the same stages in the same order and the same columns, only
 *     operators' options different. Each changed operator is destroyed and
 *     made again between two batches; everything else goes on.
 *   - SHAPE: operators added, removed or reordered, columns changed, sinks or
 *     the source changed. The worker drains (every output acknowledged, so
 *     every input is committed), then rebuilds what changed: equal operators
 *     keep their keyed state, equal sinks their open writer, an equal source
 *     goes on reading (a Kafka consumer keeps its group membership).
 * What the workers cannot rebuild while running needs a restart: the batch
 * size, lateness, durable state, HTTP, the replay, a source of another kind. */
#include "engine/reload.h"

#include "engine/operator.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Top-level keys a running pipeline can take new values of. */
static int reloadable_key(const char *key)
{
    static const char *const keys[] = {"operators", "sinks", "dead_letter", "source", "name",
                                       "reload", NULL};
    for (size_t i = 0; keys[i]; i++)
        if (strcmp(key, keys[i]) == 0)
            return 1;
    return 0;
}

static int same_fixed_keys(const json_t *a, const json_t *b, char *why, size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v)
    {
        if (!reloadable_key(key) && !json_equal(v, json_object_get(b, key))) {
            snprintf(why, cap, "%s %s", key, json_object_get(b, key) ? "changed" : "was removed");
            return 0;
        }
    }
    json_object_foreach((json_t *)b, key, v)
    {
        if (!reloadable_key(key) && !json_object_get(a, key)) {
            snprintf(why, cap, "%s was added", key);
            return 0;
        }
    }
    return 1;
}

const json_t *weir_reload_op_json(const struct weir_pipeline *pl, size_t k)
{
    const json_t *arr = json_object_get(pl->root, "operators");
    size_t n = json_array_size(arr);
    if (pl->nops == n + 1) /* an implicit extract first: the loader's own */
        return k == 0 ? json_array_get(pl->made, 0) : json_array_get(arr, k - 1);
    return json_array_get(arr, k);
}

static const json_t *sink_json(const struct weir_pipeline *pl, size_t k)
{
    if (k < pl->nsinks)
        return json_array_get(json_object_get(pl->root, "sinks"), k);
    const json_t *d = json_object_get(pl->root, "dead_letter");
    return d ? d : NULL; /* NULL: the loader's default (stderr) */
}

static int same_cols(const struct weir_column *a, const struct weir_column *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].producer != b[i].producer)
            return 0;
    return 1;
}

static int same_schema(const struct weir_schema *a, const struct weir_schema *b)
{
    return a->nfeat == b->nfeat && a->nstr == b->nstr && same_cols(a->feat, b->feat, a->nfeat) &&
           same_cols(a->str, b->str, a->nstr);
}

/* OPTIONS when it qualifies: 1, with plan->changed; 0 when it does not. */
static int plan_options(const struct weir_pipeline *running, const struct weir_pipeline *next,
                        struct weir_reload_plan *plan)
{
    if (running->nops != next->nops || !plan->same_columns || !plan->source_same)
        return 0;
    for (size_t k = 0; k <= next->nsinks; k++)
        if (plan->sink_from[k] != (int)k)
            return 0;
    if (running->nsinks != next->nsinks)
        return 0;
    for (size_t k = 0; k < next->nops; k++) {
        if (running->ops[k].type != next->ops[k].type)
            return 0;
        if (json_equal(weir_reload_op_json(running, k), weir_reload_op_json(next, k)) &&
            !((plan->relineaged >> k) & 1))
            continue;
        if (next->ops[k].type->on_timer)
            return 0; /* its armed timers name the instance: the SHAPE checks say why */
        plan->changed |= 1ull << k;
    }
    return 1;
}

/* Pairs each new stage with the first unused equal old one. */
static void match(const json_t *(*get)(const struct weir_pipeline *, size_t),
                  const struct weir_pipeline *a, size_t na, const struct weir_pipeline *b,
                  size_t nb, int *from)
{
    uint64_t used[2] = {0, 0};
    for (size_t k = 0; k < nb; k++) {
        from[k] = -1;
        /* the same position first: an unchanged pipeline maps onto itself */
        for (size_t pass = 0; pass < 2 && from[k] < 0; pass++)
            for (size_t j = pass ? 0 : k; j < na && (pass || j == k); j++) {
                if ((used[j / 64] >> (j % 64)) & 1)
                    continue;
                const json_t *x = get(a, j), *y = get(b, k);
                if ((x == y) || (x && y && json_equal(x, y))) {
                    from[k] = (int)j;
                    used[j / 64] |= 1ull << (j % 64);
                    break;
                }
            }
    }
}

static int source_transactional(const struct weir_pipeline *pl)
{
    return pl->source_type->transactional && pl->source_type->transactional(pl->source_conf);
}

/* Keyed state read back at the start and saved: a state directory or a
 * changelog topic (engine/worker_state.c). */
static int durable_in_use(const struct weir_pipeline *pl)
{
    return pl->state_durable && (pl->state_dir || pl->source_type->durable);
}

/* Durable entries exist: a run that never kept keyed state saves none (its
 * store is not opened), so its source and operators may move freely. */
static int durable_entries(const struct weir_pipeline *pl)
{
    return durable_in_use(pl) && (pl->keyed_at_start || weir_pipeline_keyed_op(pl) >= 0);
}

int weir_reload_plan(const struct weir_pipeline *running, const struct weir_pipeline *next,
                     struct weir_reload_plan *plan, char *why, size_t cap)
{
    memset(plan, 0, sizeof *plan);
    const struct weir_reload_section *rs = weir_pipeline_section(next, "reload");
    plan->watch = rs && rs->watch;
    if (!same_fixed_keys(running->root, next->root, why, cap))
        return -1;
    if (next->nops > WEIR_RELOAD_MAX_OPS || running->nops > WEIR_RELOAD_MAX_OPS ||
        next->nsinks >= WEIR_RELOAD_MAX_OPS || running->nsinks >= WEIR_RELOAD_MAX_OPS) {
        snprintf(why, cap, "more than %d operators or sinks", WEIR_RELOAD_MAX_OPS);
        return -1;
    }
    /* Where durable state is read and saved is opened at the start, and
     * only for a pipeline that keeps some: it would never save this. */
    int first_keyed = weir_pipeline_keyed_op(next);
    if (durable_in_use(running) && first_keyed >= 0 && weir_pipeline_keyed_op(running) < 0 &&
        !running->keyed_at_start) {
        snprintf(why, cap,
                 "operators[%d] (%s) keeps keyed state and the running pipeline keeps "
                 "none: where it is saved opens at the start",
                 weir_pipeline_file_op(next, (size_t)first_keyed),
                 next->ops[first_keyed].type->name);
        return -1;
    }
    plan->same_columns = same_schema(&running->schema, &next->schema);
    plan->source_same = json_equal(json_object_get(running->root, "source"),
                                   json_object_get(next->root, "source"));
    match(weir_reload_op_json, running, running->nops, next, next->nops, plan->op_from);
    plan->relineaged = 0;
    for (size_t k = 0; k < next->nops && k < 64; k++) {
        int j = plan->op_from[k];
        if (j >= 0 && running->ops[j].read_deps != next->ops[k].read_deps)
            plan->relineaged |= 1ull << k;
    }
    match(sink_json, running, running->nsinks + 1, next, next->nsinks + 1, plan->sink_from);
    /* Outputs join the source's transactions or not (a Kafka source's
     * guarantee): no sink goes on with the producer of the other kind. */
    if (source_transactional(running) != source_transactional(next))
        for (size_t k = 0; k <= next->nsinks; k++)
            plan->sink_from[k] = -1;
    if (plan_options(running, next, plan))
        return plan->changed ? WEIR_RELOAD_OPTIONS : WEIR_RELOAD_NONE;
    plan->changed = 0;
    if (!plan->source_same && running->source_type == next->source_type &&
        next->source_type->keeps &&
        next->source_type->keeps(running->source_conf, next->source_conf))
        plan->source_kept = 1;
    if (!plan->source_same && !plan->source_kept) {
        if (running->source_type->per_worker != next->source_type->per_worker) {
            snprintf(why, cap, "source: \"%s\" runs %s, \"%s\" did not", next->source_type->name,
                     next->source_type->per_worker ? "on every worker" : "on one worker",
                     running->source_type->name);
            return -1;
        }
        if (durable_entries(running)) {
            snprintf(why, cap, "source changed while keyed state is durable (its entries follow "
                     "the source's partitions)");
            return -1;
        }
    }
    /* Durable entries name their operator by position: kept operators stay
     * where they were, new ones come after them. */
    for (size_t k = 0; k < next->nops && durable_entries(running); k++) {
        int j = plan->op_from[k];
        if (j >= 0 && j != (int)k) {
            snprintf(why, cap,
                     "operators[%d]: was operators[%d]; keyed state is durable and its "
                     "entries name operators by position: keep operators in their places",
                     weir_pipeline_file_op(next, k), weir_pipeline_file_op(running, (size_t)j));
            return -1;
        }
    }
    /* An operator with timers stays the same instance at the same place:
     * its armed timers name it. */
    for (size_t j = 0; j < running->nops; j++) {
        if (!running->ops[j].type->on_timer)
            continue;
        int kept = plan->same_columns && j < next->nops && plan->op_from[j] == (int)j &&
                   !((plan->relineaged >> j) & 1); /* else made again (rebuild_ops) */
        if (!kept) {
            snprintf(why, cap,
                     "operators[%d] (%s) uses timers: it can only stay unchanged in its "
                     "place with the same columns",
                     weir_pipeline_file_op(running, j), running->ops[j].type->name);
            return -1;
        }
    }
    return WEIR_RELOAD_SHAPE;
}

/* ---- the pipeline's "reload" section ------------------------------------------ */

static const struct weir_option reload_options[] = {
    {"watch", WEIR_OPT_BOOL, "false",
     "reload when the pipeline file changes, as SIGHUP does (inotify on its directory, so that "
     "editors' rename-over writes count; --watch on the command line does the same)",
     offsetof(struct weir_reload_section, watch), 0, 0, 0, NULL},
    {0},
};

const struct weir_section_type weir_section_reload = {
    .name = "reload",
    .options = reload_options,
    .conf_size = sizeof(struct weir_reload_section),
};
