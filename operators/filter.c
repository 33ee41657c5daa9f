/* filter: keeps the records for which a condition (engine/expr.h) is true.
 *
 * The others are dropped: acknowledged as done (their input is committed)
 * and written to no sink, counted as "dropped by filters" in the run's
 * summary; or, with "dead_letter": true, sent to the dead-letter sink with
 * the condition as the reason. A comparison with a missing value is false
 * (docs/expressions.md), so `x > 3` does not keep a record without x:
 * write `not exists(x) or x > 3` to keep them. No state. */
#include "engine/expr.h"
#include "engine/operator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct filter_conf {
    const char *keep;
    int dead_letter;
    /* resolved by prepare() */
    struct weir_expr *expr;
    char *reason; /* "not kept by operators[N]: EXPR" */
};

static const struct weir_option filter_options[] = {
    {"keep", WEIR_OPT_STRING, NULL,
     "condition (docs/expressions.md): records for which it is false or missing are dropped",
     offsetof(struct filter_conf, keep), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"dead_letter", WEIR_OPT_BOOL, "false",
     "send the records not kept to the dead-letter sink (reason: the condition) instead of "
     "dropping them",
     offsetof(struct filter_conf, dead_letter), 0, 0, 0, NULL},
    {0},
};

static int filter_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct filter_conf *c = vconf;
    char path[256];
    c->expr = weir_expr_compile_as(c->keep, p, weir_path_key(path, sizeof path, p->path, "keep"),
                                   1u << WEIR_EXPR_BOOL, "a condition (a bool)");
    if (!c->expr)
        return 1;
    size_t len = strlen(c->keep) + strlen(p->path) + 32;
    c->reason = malloc(len);
    if (!c->reason) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    snprintf(c->reason, len, "not kept by %s: %s", p->path, c->keep);
    return 0;
}

static void filter_release(void *vconf)
{
    struct filter_conf *c = vconf;
    weir_expr_free(c->expr);
    free(c->reason);
}

static int filter_init(struct weir_op *op, struct weir_error *err)
{
    const struct filter_conf *c = op->conf;
    struct weir_expr_run *run = calloc(1, sizeof *run);
    if (!run)
        return weir_error_set(err, -ENOMEM, "filter: out of memory");
    weir_expr_run_init(run, c->expr);
    op->state = run;
    return 0;
}

static void filter_destroy(struct weir_op *op)
{
    struct weir_expr_run *run = op->state;
    if (run)
        weir_expr_run_free(run);
    free(run);
    op->state = NULL;
}

static int filter_process(struct weir_op *op, struct weir_batch *b)
{
    const struct filter_conf *c = op->conf;
    const double *keep = weir_expr_eval(op->state, b);
    if (!keep)
        return -ENOMEM;
    for (uint32_t i = 0; i < b->n; i++) {
        if (keep[i] != 0 || !weir_record_live(&b->rec[i]))
            continue;
        if (c->dead_letter)
            weir_batch_kill(b, i, c->reason);
        else
            weir_batch_drop(b, i);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_filter = {
    .name = "filter",
    .reads_declared = 1,
    .summary =
        "Keeps the records for which a condition holds; drops the others or dead-letters them",
    .options = filter_options,
    .conf_size = sizeof(struct filter_conf),
    .prepare = filter_prepare,
    .init = filter_init,
    .process = filter_process,
    .destroy = filter_destroy,
    .release = filter_release,
};
