/* impute: fills missing feature values.
 *
 * A value is missing when it is NaN or infinite (as in standardize: an
 * infinity is a broken reading, not evidence). For each input feature the
 * operator writes NAME + suffix: the value itself when present, otherwise
 *   - "constant": `value`;
 *   - "last": the last present value of the same key (per partition, or per
 *     "by" key) seen BEFORE this record;
 *   - "mean": the running mean of the present values of the key seen before
 *     it (Welford's update, in double).
 * With no history yet, "last" and "mean" write `value` when given, else NaN.
 * Present values update the state; missing ones do not. Keyed state
 * (engine/opstate.h) is restored and saved by the engine like standardize's. */
#include "engine/operator.h"
#include "engine/opstate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMPUTE_NAME_MAX 160

enum impute_method { IMPUTE_CONSTANT, IMPUTE_LAST, IMPUTE_MEAN };

struct impute_conf {
    struct weir_strlist fields;
    int method; /* enum impute_method */
    double value;
    const char *suffix;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int has_value;
    int in_col[WEIR_SCHEMA_MAX], out_col[WEIR_SCHEMA_MAX];
    char out[WEIR_SCHEMA_MAX][IMPUTE_NAME_MAX]; /* the schema borrows these */
    uint64_t layout;
};

static const struct weir_option impute_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features; each writes NAME + suffix",
     offsetof(struct impute_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"method", WEIR_OPT_ENUM, "\"constant\"",
     "what replaces a missing (NaN or infinite) value: constant (value), last (the key's last "
     "present value), mean (the running mean of the key's present values)",
     offsetof(struct impute_conf, method), 0, 0, 0, "constant|last|mean"},
    {"value", WEIR_OPT_NUMBER, NULL,
     "constant: the replacement (required); last, mean: used while a key has no history (default: "
     "NaN)",
     offsetof(struct impute_conf, value), 0, 0, 0, NULL},
    {"suffix", WEIR_OPT_STRING, "\"_imputed\"", "appended to each input's name to name its output",
     offsetof(struct impute_conf, suffix), 0, 0, 0, NULL},
    WEIR_STATE_OPTION_ROWS(struct impute_conf, state),
    {0},
};

static const char *list_path(char *buf, size_t size, const struct weir_prepare *p,
                             const json_t *raw, size_t i)
{
    char kp[256];
    weir_path_key(kp, sizeof kp, p->path, "fields");
    if (json_is_string(json_object_get(raw, "fields")))
        return weir_path_key(buf, size, p->path, "fields");
    return weir_path_index(buf, size, kp, i);
}

static int impute_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct impute_conf *c = vconf;
    char path[512];
    int bad = 0;
    c->has_value = json_object_get(raw, "value") != NULL;
    if (c->method == IMPUTE_CONSTANT && !c->has_value) {
        weir_diag_add(p->diag, p->path,
                      "expected \"value\" with \"method\": \"constant\", got none");
        bad++;
    }
    if (c->has_value && isinf((float)c->value)) { /* as extract's numbers */
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "value"),
                      "expected a number of magnitude at most 3.4e38 (features are 32-bit "
                      "floats), got %g",
                      c->value);
        bad++;
    }
    static const char *const keyed_only[] = {"by", "max_keys", "max_state_bytes", "evict", "ttl"};
    for (size_t k = 0; c->method == IMPUTE_CONSTANT && k < sizeof keyed_only / sizeof *keyed_only; k++)
        if (json_object_get(raw, keyed_only[k])) { /* no state: said, not ignored */
            weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, keyed_only[k]),
                          "expected only with \"method\": \"last\" or \"mean\", got \"constant\"");
            bad++;
        }
    if (c->fields.n > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "fields"),
                      "expected at most %d features, got %zu", WEIR_SCHEMA_MAX, c->fields.n);
        return bad + 1;
    }
    if (c->method != IMPUTE_CONSTANT)
        bad += weir_state_opts_prepare(&c->state, raw, p);
    c->layout = weir_hash_u64(weir_hash_str(WEIR_HASH_SEED, "impute"), (uint64_t)c->method);
    for (size_t k = 0; k < c->fields.n; k++) {
        list_path(path, sizeof path, p, raw, k);
        c->layout = weir_hash_str(c->layout, c->fields.v[k]);
        c->in_col[k] = weir_schema_feature_in(p, c->fields.v[k], path);
        bad += c->in_col[k] < 0;
        if ((size_t)snprintf(c->out[k], IMPUTE_NAME_MAX, "%s%s", c->fields.v[k], c->suffix) >=
            IMPUTE_NAME_MAX) {
            weir_diag_add(p->diag, path, "expected a name under %d bytes with its suffix",
                          IMPUTE_NAME_MAX);
            bad++;
            continue;
        }
        c->out_col[k] = weir_schema_feature_out(p, c->out[k], path, /*emit*/ 1);
        bad += c->out_col[k] < 0;
    }
    return bad;
}

/* Per key and field: the last present value and the running mean. */
struct impute_stat {
    uint64_t n; /* present values seen */
    double last;
    double mean;
};

static int impute_keeps_state(const void *conf)
{
    return ((const struct impute_conf *)conf)->method != IMPUTE_CONSTANT;
}

static int impute_init(struct weir_op *op, struct weir_error *err)
{
    const struct impute_conf *c = op->conf;
    if (c->method == IMPUTE_CONSTANT)
        return 0;
    if (weir_op_state_declare(op, &c->state, (uint32_t)(c->fields.n * sizeof(struct impute_stat)),
                              c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "impute: out of memory");
    return 0;
}

static double fill(const struct impute_conf *c, const struct impute_stat *s)
{
    if (c->method == IMPUTE_CONSTANT)
        return c->value;
    if (s->n == 0)
        return c->has_value ? c->value : NAN;
    return c->method == IMPUTE_LAST ? s->last : s->mean;
}

static int impute_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct impute_conf *c = op->conf;
    static const struct impute_stat none[1];
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        struct impute_stat *st = NULL;
        if (c->method != IMPUTE_CONSTANT && !(st = weir_op_state(op, b, i, NULL)))
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        for (size_t k = 0; k < c->fields.n; k++) {
            double x = row[c->in_col[k]];
            if (!isfinite(x)) {
                row[c->out_col[k]] = (float)fill(c, st ? &st[k] : none);
                continue;
            }
            row[c->out_col[k]] = (float)x;
            if (st) {
                st[k].n++;
                st[k].last = x;
                st[k].mean += (x - st[k].mean) / (double)st[k].n;
            }
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_impute = {
    .name = "impute",
    .reads_declared = 1,
    .summary = "Fills missing values: a constant, or per key the last value or the running mean",
    .options = impute_options,
    .conf_size = sizeof(struct impute_conf),
    .prepare = impute_prepare,
    .init = impute_init,
    .process = impute_process,
    .keeps_state = impute_keeps_state,
};
