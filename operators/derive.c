/* derive: new features computed from expressions (engine/expr.h).
 *
 * "fields" is an object of NAME: EXPRESSION, in order: each expression may
 * use the fields before it (they are written before the next one is
 * evaluated), and each writes the feature NAME: a number, or 1/0 for a
 * condition. Expressions are compiled when the pipeline loads; a record's
 * missing inputs give NaN (docs/expressions.md). No state. */
#include "engine/expr.h"
#include "engine/operator.h"

#include <errno.h>
#include <stdlib.h>

struct derive_conf {
    const json_t *fields; /* {"name": "expression", ...} */
    /* resolved by prepare() */
    size_t n;
    struct weir_expr *expr[WEIR_SCHEMA_MAX];
    int out_col[WEIR_SCHEMA_MAX];
};

static const struct weir_option derive_options[] = {
    {"fields", WEIR_OPT_JSON, NULL,
     "object of NAME: EXPRESSION (docs/expressions.md), in order; each writes feature NAME (a "
     "number, or 1/0 for a condition) and may use the ones before it",
     offsetof(struct derive_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {0},
};

static int derive_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct derive_conf *c = vconf;
    char path[512];
    weir_path_key(path, sizeof path, p->path, "fields");
    if (!json_is_object(c->fields) || json_object_size(c->fields) == 0 ||
        json_object_size(c->fields) > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, path, "expected an object of 1 to %d \"name\": \"expression\" pairs",
                      WEIR_SCHEMA_MAX);
        return 1;
    }
    const char *name;
    json_t *v;
    int bad = 0;
    json_object_foreach((json_t *)c->fields, name, v)
    {
        char fp[512];
        weir_path_key(fp, sizeof fp, path, name);
        if (!json_is_string(v)) {
            weir_diag_add(p->diag, fp, "expected an expression (a string), got %s",
                          json_is_number(v) ? "a number" : "another JSON type");
            bad++;
            continue;
        }
        struct weir_expr *e = weir_expr_compile_as(
            json_string_value(v), p, fp, (1u << WEIR_EXPR_NUMBER) | (1u << WEIR_EXPR_BOOL),
            "a number or a condition");
        if (!e) { /* its name still exists for the fields after it: no second error */
            bad++;
            weir_schema_feature_out(p, name, fp, 1);
            continue;
        }
        c->expr[c->n] = e;
        c->out_col[c->n++] = weir_schema_feature_out(p, name, fp, /*emit*/ 1);
        bad += c->out_col[c->n - 1] < 0;
    }
    return bad;
}

static void derive_release(void *vconf)
{
    struct derive_conf *c = vconf;
    for (size_t k = 0; k < c->n; k++)
        weir_expr_free(c->expr[k]);
}

static int derive_init(struct weir_op *op, struct weir_error *err)
{
    const struct derive_conf *c = op->conf;
    struct weir_expr_run *runs = calloc(c->n, sizeof *runs);
    if (!runs)
        return weir_error_set(err, -ENOMEM, "derive: out of memory");
    for (size_t k = 0; k < c->n; k++)
        weir_expr_run_init(&runs[k], c->expr[k]);
    op->state = runs;
    return 0;
}

static void derive_destroy(struct weir_op *op)
{
    const struct derive_conf *c = op->conf;
    struct weir_expr_run *runs = op->state;
    for (size_t k = 0; runs && k < c->n; k++)
        weir_expr_run_free(&runs[k]);
    free(runs);
    op->state = NULL;
}

static int derive_process(struct weir_op *op, struct weir_batch *b)
{
    const struct derive_conf *c = op->conf;
    struct weir_expr_run *runs = op->state;
    for (size_t k = 0; k < c->n; k++) {
        const double *v = weir_expr_eval(&runs[k], b);
        if (!v)
            return -ENOMEM;
        int col = c->out_col[k];
        for (uint32_t i = 0; i < b->n; i++)
            if (weir_record_live(&b->rec[i]))
                weir_batch_row(b, i)[col] = (float)v[i];
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_derive = {
    .name = "derive",
    .summary = "New features from expressions (arithmetic, conditions, functions of event time)",
    .options = derive_options,
    .conf_size = sizeof(struct derive_conf),
    .prepare = derive_prepare,
    .init = derive_init,
    .process = derive_process,
    .destroy = derive_destroy,
    .release = derive_release,
};
