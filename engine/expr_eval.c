/* Expressions: column-at-a-time evaluation of the compiled nodes (see
 * expr.h). Node k writes scratch column k for the whole batch; each node is
 * one tight loop with its operator decided once, outside the loop.
 *
 * NaN rules (docs/expressions.md): arithmetic and functions propagate NaN
 * (min, max and clip too, unlike fmin/fmax); comparisons with a NaN operand
 * are false, `!=` included; bools are never NaN. */
#include "engine/expr.h"
#include "engine/expr_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_HOUR 3600000.0
#define MS_PER_DAY  86400000.0

void weir_expr_run_init(struct weir_expr_run *r, const struct weir_expr *e)
{
    memset(r, 0, sizeof *r);
    r->e = e;
}

void weir_expr_run_free(struct weir_expr_run *r)
{
    free(r->regs);
    r->regs = NULL;
    r->cap = 0;
}

/* Floored modulo, as in Python: the result has the sign of the divisor. */
static double floor_mod(double a, double m)
{
    double r = fmod(a, m);
    if (r != 0 && ((r < 0) != (m < 0)))
        r += m;
    return r;
}

/* Event time in ms since the epoch (UTC) → hour 0..23, day 0..6 (Monday 0).
 * Whole milliseconds within ±2^62 (every real time) take integer
 * arithmetic, several times faster than fmod; the rest floor in double. */
#define MS_INT_LIMIT 4.6e18

static int64_t floor_div_i64(int64_t a, int64_t m)
{
    int64_t q = a / m;
    return q - (a % m != 0 && a < 0);
}

static double hour_of_day(double ms)
{
    if (!isfinite(ms))
        return NAN;
    if (fabs(ms) < MS_INT_LIMIT) {
        int64_t t = (int64_t)floor(ms);
        int64_t in_day = t - floor_div_i64(t, 86400000) * 86400000;
        return (double)(in_day / 3600000);
    }
    return floor(floor_mod(ms, MS_PER_DAY) / MS_PER_HOUR);
}

static double day_of_week(double ms)
{
    if (!isfinite(ms))
        return NAN;
    if (fabs(ms) < MS_INT_LIMIT) {
        int64_t d = floor_div_i64((int64_t)floor(ms), 86400000) + 3; /* 1970-01-01: Thursday */
        return (double)(d - floor_div_i64(d, 7) * 7);
    }
    return floor_mod(floor(ms / MS_PER_DAY) + 3.0, 7.0);
}

static int str_equal(const struct weir_str *a, const struct weir_str *b)
{
    return a->p && b->p && a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The string operand node of record i: a column's field, or the literal. */
static inline const struct weir_str *str_of(const struct expr_node *x, const struct weir_batch *b,
                                            uint32_t i)
{
    if (x->col < 0)
        return &x->lit;
    return &b->S[(size_t)i * b->nstr + (size_t)x->col];
}

static int grow(struct weir_expr_run *r, uint32_t cap)
{
    const struct weir_expr *e = r->e;
    double *regs = malloc((size_t)e->n * cap * sizeof *regs);
    if (!regs)
        return -1;
    free(r->regs);
    r->regs = regs;
    r->cap = cap;
    for (uint32_t k = 0; k < e->n; k++) /* constants are written once */
        if (e->nodes[k].op == X_CONST)
            for (uint32_t i = 0; i < cap; i++)
                regs[(size_t)k * cap + i] = e->nodes[k].k;
    return 0;
}

#define LOOP(expr)                                                                                 \
    for (uint32_t i = 0; i < n; i++)                                                               \
        out[i] = (expr);                                                                           \
    break

static void eval_strings(const struct expr_node *x, const struct expr_node *nodes,
                         const struct weir_batch *b, double *out)
{
    uint32_t n = b->n;
    /* exists(s) has no operand node (a is -1) */
    const struct expr_node *sa = x->op == X_EXISTS_STR ? NULL : &nodes[x->a];
    switch (x->op) {
    case X_STR_EQ: LOOP(str_equal(str_of(sa, b, i), str_of(&nodes[x->b], b, i)));
    case X_STR_NE: {
        const struct expr_node *sb = &nodes[x->b];
        for (uint32_t i = 0; i < n; i++) {
            const struct weir_str *u = str_of(sa, b, i), *v = str_of(sb, b, i);
            out[i] = u->p && v->p && !str_equal(u, v); /* absent: false, as NaN is */
        }
        break;
    }
    case X_IN_STR:
    case X_NOT_IN_STR:
        for (uint32_t i = 0; i < n; i++) {
            const struct weir_str *u = str_of(sa, b, i);
            int hit = 0;
            for (uint32_t k = 0; k < x->nlist && !hit; k++)
                hit = str_equal(u, &x->strs[k]);
            out[i] = x->op == X_IN_STR ? hit : u->p && !hit; /* absent: false, as NaN is */
        }
        break;
    case X_EXISTS_STR: LOOP(b->S[(size_t)i * b->nstr + (size_t)x->col].p != NULL);
    }
}

static void eval_node(const struct expr_node *x, const struct expr_node *nodes, double *regs,
                      uint32_t cap, const struct weir_batch *b, double *out)
{
    uint32_t n = b->n;
    const double *A = x->a >= 0 ? regs + (size_t)x->a * cap : NULL;
    const double *B = x->b >= 0 ? regs + (size_t)x->b * cap : NULL;
    const double *C = x->c >= 0 ? regs + (size_t)x->c * cap : NULL;
    switch (x->op) {
    case X_CONST:
    case X_STR: break;
    case X_FEAT: LOOP(b->X[(size_t)i * b->stride + (size_t)x->col]);
    case X_EVENT_TIME: LOOP(b->rec[i].ts_ms < 0 ? NAN : (double)b->rec[i].ts_ms);
    case X_NEG: LOOP(-A[i]);
    case X_NOT: LOOP(A[i] == 0);
    case X_ADD: LOOP(A[i] + B[i]);
    case X_SUB: LOOP(A[i] - B[i]);
    case X_MUL: LOOP(A[i] * B[i]);
    case X_DIV: LOOP(A[i] / B[i]);
    case X_MOD: LOOP(floor_mod(A[i], B[i]));
    case X_LT: LOOP(A[i] < B[i]);
    case X_LE: LOOP(A[i] <= B[i]);
    case X_GT: LOOP(A[i] > B[i]);
    case X_GE: LOOP(A[i] >= B[i]);
    case X_EQ: LOOP(A[i] == B[i]);
    case X_NE: LOOP(A[i] != B[i] && !isnan(A[i]) && !isnan(B[i]));
    case X_AND: LOOP(A[i] != 0 && B[i] != 0);
    case X_OR: LOOP(A[i] != 0 || B[i] != 0);
    case X_IN_NUM:
    case X_NOT_IN_NUM:
        for (uint32_t i = 0; i < n; i++) {
            int hit = 0;
            for (uint32_t k = 0; k < x->nlist && !hit; k++)
                hit = A[i] == x->nums[k];
            out[i] = x->op == X_IN_NUM ? hit : !isnan(A[i]) && !hit;
        }
        break;
    case X_STR_EQ:
    case X_STR_NE:
    case X_IN_STR:
    case X_NOT_IN_STR:
    case X_EXISTS_STR: eval_strings(x, nodes, b, out); break;
    case X_EXISTS_FEAT: LOOP(!isnan(b->X[(size_t)i * b->stride + (size_t)x->col]));
    case X_EXISTS_TS: LOOP(b->rec[i].ts_ms >= 0);
    case X_LOG: LOOP(log(A[i]));
    case X_LOG1P: LOOP(log1p(A[i]));
    case X_EXP: LOOP(exp(A[i]));
    case X_SQRT: LOOP(sqrt(A[i]));
    case X_ABS: LOOP(fabs(A[i]));
    case X_IS_NAN: LOOP(isnan(A[i]));
    case X_HOUR: LOOP(hour_of_day(A[i]));
    case X_DOW: LOOP(day_of_week(A[i]));
    case X_MIN: LOOP(isnan(A[i]) || isnan(B[i]) ? NAN : A[i] < B[i] ? A[i] : B[i]);
    case X_MAX: LOOP(isnan(A[i]) || isnan(B[i]) ? NAN : A[i] > B[i] ? A[i] : B[i]);
    case X_CLIP:
        LOOP(isnan(A[i]) || isnan(B[i]) || isnan(C[i]) ? NAN
             : A[i] < B[i]                             ? B[i]
             : A[i] > C[i]                             ? C[i]
                                                       : A[i]);
    case X_IF: LOOP(A[i] != 0 ? B[i] : C[i]);
    }
}

const double *weir_expr_eval(struct weir_expr_run *r, const struct weir_batch *b)
{
    const struct weir_expr *e = r->e;
    if (b->cap > r->cap && grow(r, b->cap) < 0)
        return NULL;
    for (uint32_t k = 0; k < e->n; k++)
        eval_node(&e->nodes[k], e->nodes, r->regs, r->cap, b, r->regs + (size_t)k * r->cap);
    return r->regs + (size_t)e->result * r->cap;
}
