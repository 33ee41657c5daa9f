/* calibrate: a score as the share of the key's recent scores it exceeds.
 *
 *   {"type": "calibrate", "fields": ["deviation_score", "cad_ose_score"], "window": 1000}
 *
 * writes deviation_score_cal and cad_ose_score_cal (the suffix is an
 * option): for each input, the share of the key's last `window` scores of
 * that input that were lower than this one, in [0,1]. Scorers map their
 * evidence onto [0,1] each in its own way (a z through erf or a ratio, a
 * share of failed contexts, a path length), so 0.9 from one is not 0.9 from
 * another, nor from the same scorer on another series; 0.99 here means
 * "higher than 99% of this key's recent scores" whatever the scorer, so one
 * threshold, or an ensemble's max, compares like with like. A score above
 * all of them is 1.0: the window bounds the resolution (1/window).
 *
 * Learned online, never ahead: a score is ranked against the scores before
 * it, then added. Until a key holds `warmup` scores of an input its output
 * is 0 and the record is flagged WEIR_REC_WARMUP (no evidence either way).
 * A score whose scorer upstream is still warming up on the record (its 0 is
 * no evidence) is ranked but not learned, as threshold does; a NaN or
 * infinite score is missing: NaN out, not learned.
 *
 * State per key and input: the window's scores in arrival order (a ring)
 * and sorted, so a rank is a binary search and a score in and the oldest
 * out are one memmove of at most the window. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/robust.h"

#define CALIBRATE_NAME_MAX 160
#define CALIBRATE_WINDOW_MAX 65536

struct calibrate_conf {
    struct weir_strlist fields;
    const char *suffix;
    int64_t window, warmup;
    struct weir_state_opts state;
    /* resolved by prepare() */
    int in_col[WEIR_SCHEMA_MAX], out_col[WEIR_SCHEMA_MAX];
    uint64_t in_deps[WEIR_SCHEMA_MAX]; /* the features each input comes from */
    char out[WEIR_SCHEMA_MAX][CALIBRATE_NAME_MAX]; /* the schema borrows these */
    uint64_t layout;
};

static const struct weir_option calibrate_options[] = {
    {"fields", WEIR_OPT_STRINGS, NULL, "scores to calibrate (each writes FIELD + suffix)",
     offsetof(struct calibrate_conf, fields), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"suffix", WEIR_OPT_STRING, "\"_cal\"", "appended to each input's name to name its output",
     offsetof(struct calibrate_conf, suffix), 0, 0, 0, NULL},
    {"window", WEIR_OPT_INT, "1000", "the key's last scores a score is ranked against",
     offsetof(struct calibrate_conf, window), WEIR_OPT_RANGE, 1, CALIBRATE_WINDOW_MAX, NULL},
    {"warmup", WEIR_OPT_INT, "100",
     "scores a key holds before its outputs are ranks (0 until then); at most window (the default "
     "is lowered to a shorter window)",
     offsetof(struct calibrate_conf, warmup), WEIR_OPT_RANGE, 1, CALIBRATE_WINDOW_MAX, NULL},
    WEIR_STATE_OPTION_ROWS(struct calibrate_conf, state),
    {0},
};

static int calibrate_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct calibrate_conf *c = vconf;
    char path[256];
    int bad = weir_schema_features_in(p, "fields", &c->fields, WEIR_SCHEMA_MAX / 2, c->in_col);
    if (c->fields.n > WEIR_SCHEMA_MAX / 2)
        return bad;
    for (size_t k = 0; k < c->fields.n; k++)
        c->in_deps[k] = weir_schema_feature_deps(p->schema, c->in_col[k]);
    if (!json_object_get(raw, "warmup") && c->warmup > c->window)
        c->warmup = c->window; /* the default, not the user's: a short window is no error */
    if (c->warmup > c->window) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "warmup"),
                      "expected at most \"window\" (%lld), got %lld", (long long)c->window,
                      (long long)c->warmup);
        bad++;
    }
    bad += weir_state_opts_prepare(&c->state, raw, p);
    c->layout = weir_hash_str(WEIR_HASH_SEED, "calibrate");
    c->layout = weir_hash_u64(c->layout, (uint64_t)c->window);
    weir_path_key(path, sizeof path, p->path, "suffix");
    for (size_t k = 0; k < c->fields.n; k++) {
        c->layout = weir_hash_str(c->layout, c->fields.v[k]);
        int len = snprintf(c->out[k], sizeof c->out[k], "%s%s", c->fields.v[k], c->suffix);
        if (len < 0 || (size_t)len >= sizeof c->out[k]) {
            weir_diag_add(p->diag, path, "expected a suffix giving names under %d bytes",
                          CALIBRATE_NAME_MAX);
            return bad + 1;
        }
        c->out_col[k] = weir_schema_feature_out(p, c->out[k], path, /*emit*/ 1);
        bad += c->out_col[k] < 0;
        weir_schema_feature_from(p, c->out_col[k], c->in_col[k]); /* each from its own */
    }
    return bad;
}

/* One input's state: n scores held (at most window), the ring slot the next
 * one goes to once full, then float ring[window] and float sorted[window]. */
struct cal_head {
    uint32_t n, next;
};

static size_t cal_size(const struct calibrate_conf *c)
{
    return sizeof(struct cal_head) + 2 * (size_t)c->window * sizeof(float);
}

static int calibrate_init(struct weir_op *op, struct weir_error *err)
{
    const struct calibrate_conf *c = op->conf;
    if (weir_op_state_declare(op, &c->state, (uint32_t)(c->fields.n * cal_size(c)), c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "calibrate: out of memory");
    return 0;
}

/* x into the window; once full, the oldest score out (in one move). */
static void cal_add(struct cal_head *h, float *ring, float *sorted, uint32_t window, float x)
{
    if (h->n < window) {
        weir_sorted_insert(sorted, h->n, x);
        ring[h->n++] = x;
        return;
    }
    weir_sorted_replace(sorted, h->n, ring[h->next], x);
    ring[h->next] = x;
    h->next = h->next + 1 == window ? 0 : h->next + 1;
}

static int calibrate_process(struct weir_op *op, struct weir_batch *b)
{
    weir_op_state_batch(op);
    const struct calibrate_conf *c = op->conf;
    uint32_t window = (uint32_t)c->window;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_record_live(&b->rec[i]))
            continue;
        unsigned char *st = weir_op_state(op, b, i, NULL);
        if (!st)
            return -ENOMEM;
        float *row = weir_batch_row(b, i);
        uint64_t arrived = b->rec[i].warm_cols; /* the scores warming up before this one */
        for (size_t k = 0; k < c->fields.n; k++, st += cal_size(c)) {
            struct cal_head *h = (struct cal_head *)st;
            float *ring = (float *)(h + 1), *sorted = ring + window, x = row[c->in_col[k]];
            if (!isfinite(x)) {
                row[c->out_col[k]] = NAN;
                continue;
            }
            if (h->n < (uint32_t)c->warmup) {
                row[c->out_col[k]] = 0.0f;
                weir_record_warming(&b->rec[i], c->out_col[k]);
            } else {
                uint32_t lower = weir_sorted_lower_bound(sorted, h->n, x);
                row[c->out_col[k]] = (float)((double)lower / h->n);
            }
            if (!(arrived & c->in_deps[k]))
                cal_add(h, ring, sorted, window, x);
        }
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_calibrate = {
    .name = "calibrate",
    .reads_declared = 1,
    .summary = "A score as the share of the key's recent scores it exceeds, in [0,1]: scores of "
               "different scorers and series on one scale",
    .options = calibrate_options,
    .conf_size = sizeof(struct calibrate_conf),
    .prepare = calibrate_prepare,
    .init = calibrate_init,
    .process = calibrate_process,
};
