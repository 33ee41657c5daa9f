/* What a reload may change (see reload.h). The rule is narrow on purpose:
 * the same stages in the same order and the same columns, only operators'
 * options different. Then each changed operator can be destroyed and made
 * again from its new options between two batches while the source, the sinks,
 * the partitions and every other operator (with its keyed state) go on. */
#include "engine/reload.h"

#include "engine/operator.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* The file minus its operators: what must not change. */
static int same_outside_operators(const json_t *a, const json_t *b, char *why, size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v)
    {
        if (strcmp(key, "operators") == 0)
            continue;
        if (!json_equal(v, json_object_get(b, key))) {
            snprintf(why, cap, "%s changed", key);
            return 0;
        }
    }
    json_object_foreach((json_t *)b, key, v)
    {
        if (strcmp(key, "operators") != 0 && !json_object_get(a, key)) {
            snprintf(why, cap, "%s was added", key);
            return 0;
        }
    }
    return 1;
}

static int same_columns(const struct weir_column *a, const struct weir_column *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || a[i].producer != b[i].producer)
            return 0;
    return 1;
}

int weir_reload_plan(const struct weir_pipeline *running, const struct weir_pipeline *next,
                     uint64_t *changed, char *why, size_t cap)
{
    *changed = 0;
    if (!same_outside_operators(running->root, next->root, why, cap))
        return -1;
    if (running->nops != next->nops) {
        snprintf(why, cap, "operators: %zu operators, was %zu", next->nops, running->nops);
        return -1;
    }
    if (next->nops > 64) {
        snprintf(why, cap, "operators: more than 64");
        return -1;
    }
    const json_t *ja = json_object_get(running->root, "operators");
    const json_t *jb = json_object_get(next->root, "operators");
    for (size_t k = 0; k < next->nops; k++) {
        if (running->ops[k].type != next->ops[k].type) {
            snprintf(why, cap, "operators[%zu]: type \"%s\", was \"%s\"", k,
                     next->ops[k].type->name, running->ops[k].type->name);
            return -1;
        }
        if (json_equal(json_array_get(ja, k), json_array_get(jb, k)))
            continue;
        if (next->ops[k].type->on_timer) {
            snprintf(why, cap,
                     "operators[%zu] (%s) uses timers: swapping it while it runs is not "
                     "supported yet",
                     k, next->ops[k].type->name);
            return -1;
        }
        *changed |= 1ull << k;
    }
    const struct weir_schema *a = &running->schema, *b = &next->schema;
    if (a->nfeat != b->nfeat || a->nstr != b->nstr || !same_columns(a->feat, b->feat, a->nfeat) ||
        !same_columns(a->str, b->str, a->nstr)) {
        snprintf(why, cap, "the operators' output columns changed (names or writers)");
        return -1;
    }
    return *changed ? 1 : 0;
}
