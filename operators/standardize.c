/* standardize: turns raw features into z-scores, learning online.
 *
 * For each input feature it keeps a running mean and variance and writes
 * z = (x - mean) / max(std, min_std) to an output feature. It never reads
 * ahead: a record's z uses the statistics of the records BEFORE it, and only
 * then is the record added (NAB's reference detectors were handed each
 * series' range in advance; weir's are not). Two estimators:
 *
 *  - "running": Welford's algorithm over everything seen; the variance is the
 *    sample variance M2 / (n - 1) (0 while n < 2).
 *  - "ewm": exponentially weighted mean and variance with weight `alpha` on
 *    the newest record (Finch, "Incremental calculation of weighted mean and
 *    variance", 2009): mean += a*d; var = (1-a)*(var + a*d^2) with
 *    a = max(alpha, 1/n) for the n-th record. Old records fade, so the
 *    scale follows drifting series. Until 1/alpha records a is 1/n, which
 *    makes the two the plain mean and (population) variance so far: with a
 *    fixed alpha from the start the variance began at 0 and the mean at the
 *    first value, and after a warm-up of 30 at alpha 0.01 the variance was
 *    a quarter of the spread's (a tenth of ordinary records past |z| 3).
 *
 * Until `warmup` records, and at least two (one value has no spread), have
 * been added the output is 0 (no evidence either way, so downstream scores
 * stay low) and the record is flagged WEIR_REC_WARMUP, so a threshold
 * neither alerts on it nor learns from it.
 * A NaN or infinite input is a missing value: the output is NaN and the
 * statistics are left alone.
 *
 * State is kept per partition, and per key with "by" (engine/opstate.h), in
 * double precision: the engine restores it when a partition is assigned and
 * saves what changed. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"

enum standardize_mode { MODE_RUNNING, MODE_EWM };

struct standardize_conf {
    struct weir_strlist fields; /* input features */
    struct weir_strlist out;    /* output features, one per input */
    int mode;                   /* enum standardize_mode */
    double alpha;               /* ewm: weight of the newest record */
    int64_t warmup;             /* records added before z is emitted */
    double min_std;             /* floor under the standard deviation */
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX];
    int out_col[WEIR_SCHEMA_MAX];
    uint64_t layout; /* hash of the input names: a snapshot fits only the same inputs */
};

static const struct weir_option standardize_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "input features", offsetof(struct standardize_conf, fields),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"out", WEIR_OPT_STRINGS, NULL, "output features, one per input (default: each input + \"_z\")",
     offsetof(struct standardize_conf, out), 0, 0, 0, NULL},
    {"mode", WEIR_OPT_ENUM, "\"running\"",
     "running: mean/variance of everything seen (Welford); ewm: exponentially weighted",
     offsetof(struct standardize_conf, mode), 0, 0, 0, "running|ewm"},
    {"alpha", WEIR_OPT_NUMBER, "0.01", "ewm: weight of the newest record",
     offsetof(struct standardize_conf, alpha), WEIR_OPT_RANGE | WEIR_OPT_MIN_OPEN, 0, 1, NULL},
    {"warmup", WEIR_OPT_INT, "30",
     "records seen before z-scores are emitted (0 until then; 1 acts as 2: one value has no "
     "spread)",
     offsetof(struct standardize_conf, warmup), WEIR_OPT_RANGE, 1, INFINITY, NULL},
    {"min_std", WEIR_OPT_NUMBER, "1e-9", "floor under the standard deviation",
     offsetof(struct standardize_conf, min_std), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    WEIR_STATE_OPTION_ROWS(struct standardize_conf, state),
    {0},
};

/* ---- prepare ------------------------------------------------------------- */

/* Default outputs "<input>_z" are stored in the pipeline's JSON (as option
 * defaults are), so the schema can borrow their names for as long as the
 * pipeline lives. */
static int default_outputs(struct standardize_conf *c, const json_t *raw)
{
    json_t *arr = json_array();
    c->out.v = calloc(c->fields.n, sizeof *c->out.v);
    if (!arr || !c->out.v) {
        json_decref(arr);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->fields.n; i++) {
        /* whole, however long the input's name (a name[256] lost its _z) */
        if (json_array_append_new(arr, json_sprintf("%s_z", c->fields.v[i])) < 0) {
            json_decref(arr);
            return -ENOMEM;
        }
    }
    if (json_object_set_new((json_t *)raw, "out", arr) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < c->fields.n; i++)
        c->out.v[i] = json_string_value(json_array_get(arr, i));
    c->out.n = c->fields.n;
    return 0;
}

/* The path of element i of a STRINGS option, which may have been one string. */
static const char *list_path(char *buf, size_t size, const struct weir_prepare *p,
                             const json_t *raw, const char *key, size_t i)
{
    char kp[256];
    weir_path_key(kp, sizeof kp, p->path, key);
    if (json_is_string(json_object_get(raw, key)))
        return weir_path_key(buf, size, p->path, key);
    return weir_path_index(buf, size, kp, i);
}

static int check_options(struct standardize_conf *c, const json_t *raw, struct weir_prepare *p)
{
    char path[256];
    if (c->fields.n > WEIR_SCHEMA_MAX) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "fields"),
                      "expected at most %d features, got %zu", WEIR_SCHEMA_MAX, c->fields.n);
        return 1;
    }
    if (c->mode != MODE_EWM && json_object_get(raw, "alpha")) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "alpha"),
                      "expected only with \"mode\": \"ewm\", got \"mode\": \"running\"");
        return 1;
    }
    if (c->out.n == 0 && default_outputs(c, raw) < 0) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    if (c->out.n != c->fields.n) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "out"),
                      "expected %zu name%s (one per field), got %zu", c->fields.n,
                      c->fields.n == 1 ? "" : "s", c->out.n);
        return 1;
    }
    return 0;
}

static int standardize_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct standardize_conf *c = vconf;
    char path[256];
    int bad = check_options(c, raw, p);
    if (bad)
        return bad;
    bad += weir_state_opts_prepare(&c->state, raw, p);
    c->layout = weir_hash_str(WEIR_HASH_SEED, "standardize");
    c->layout = weir_hash_u64(c->layout, (uint64_t)c->mode);
    for (size_t i = 0; i < c->fields.n; i++) {
        c->layout = weir_hash_str(c->layout, c->fields.v[i]);
        c->in_col[i] = weir_schema_feature_in(p, c->fields.v[i],
                                              list_path(path, sizeof path, p, raw, "fields", i));
        bad += c->in_col[i] < 0;
    }
    for (size_t i = 0; i < c->out.n; i++) {
        list_path(path, sizeof path, p, raw, "out", i);
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->out.v[i], c->out.v[j]) == 0) {
                weir_diag_add(p->diag, path, "expected a name not used twice, got \"%s\"",
                              c->out.v[i]);
                return bad + 1;
            }
        }
        c->out_col[i] = weir_schema_feature_out(p, c->out.v[i], path, /*emit*/ 1);
        bad += c->out_col[i] < 0;
        weir_schema_feature_from(p, c->out_col[i], c->in_col[i]); /* each from its own */
    }
    return bad;
}

/* ---- per-worker state, process ------------------------------------------ */

struct standardize_stat {
    uint64_t n;  /* records added */
    double mean;
    double m2;   /* running: sum of squared deviations; ewm: the variance itself */
};

static int standardize_init(struct weir_op *op, struct weir_error *err)
{
    const struct standardize_conf *c = op->conf;
    if (weir_op_state_declare(op, &c->state,
                              (uint32_t)(c->fields.n * sizeof(struct standardize_stat)),
                              c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "standardize: out of memory");
    return 0;
}

static double stat_std(const struct standardize_conf *c, const struct standardize_stat *s)
{
    double var;
    if (c->mode == MODE_EWM)
        var = s->m2;
    else
        var = s->n > 1 ? s->m2 / (double)(s->n - 1) : 0.0;
    double sd = var > 0 ? sqrt(var) : 0.0;
    return sd < c->min_std ? c->min_std : sd;
}

static int stat_warming(const struct standardize_conf *c, const struct standardize_stat *s)
{
    return s->n < (uint64_t)c->warmup || s->n < 2;
}

/* The z of x against the statistics so far (before x is added). */
static double stat_z(const struct standardize_conf *c, const struct standardize_stat *s, double x)
{
    if (stat_warming(c, s))
        return 0.0;
    double d = x - s->mean;
    if (d == 0)
        return 0.0; /* also covers min_std = 0 on a constant series: no 0/0 */
    return d / stat_std(c, s);
}

static void stat_add(const struct standardize_conf *c, struct standardize_stat *s, double x)
{
    if (c->mode == MODE_EWM) {
        s->n++;
        double a = 1.0 / (double)s->n, d = x - s->mean;
        a = a > c->alpha ? a : c->alpha;
        s->mean += a * d;
        s->m2 = (1.0 - a) * (s->m2 + a * d * d);
        return;
    }
    s->n++;
    double d = x - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (x - s->mean);
}

static int standardize_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct standardize_conf *c = op->conf;
    size_t nfields = c->fields.n;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        struct standardize_stat *stat = weir_op_state(op, b, i, NULL);
        if (!stat)
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        for (size_t k = 0; k < nfields; k++) {
            double x = row[c->in_col[k]];
            if (!isfinite(x)) {
                row[c->out_col[k]] = NAN;
                continue;
            }
            if (stat_warming(c, &stat[k]))
                weir_record_warming(&b->rec[i], c->out_col[k]); /* its 0 is no evidence downstream */
            row[c->out_col[k]] = (float)stat_z(c, &stat[k], x);
            stat_add(c, &stat[k], x);
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_standardize = {
    .name = "standardize",
    .reads_declared = 1,
    .summary = "Online z-scores of features (running or exponentially weighted)",
    .options = standardize_options,
    .conf_size = sizeof(struct standardize_conf),
    .prepare = standardize_prepare,
    .init = standardize_init,
    .process = standardize_process,
};
