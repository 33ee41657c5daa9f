/* Expressions: the recursive-descent parser and the type checker (see
 * expr.h; tokens and messages are expr_lex.c, the evaluator expr_eval.c, the
 * language docs/expressions.md).
 *
 * Precedence, loosest first: or; and; not; comparisons and `in` (which do
 * not chain); + -; * / %; unary -; literals, fields, calls, parentheses.
 * Types are checked as each node is built, so a message can name the
 * operator and the column of the operand that is wrong. The first problem
 * stops the parse: later ones are often its consequences. */
#include "engine/expr.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/expr_internal.h"
#include "engine/option.h"

#define EXPR_MAX_DEPTH  200
#define EXPR_MAX_ARGS   16
#define EXPR_MAX_NODES  1000 /* each node is a scratch column of a batch's capacity */
#define EVENT_TIME_NAME "event_time"

/* ---- nodes -------------------------------------------------------------- */

static int32_t node(struct parser *P, int op, int type, uint32_t pos, int32_t a, int32_t b,
                    int32_t c)
{
    struct weir_expr *e = P->e;
    if (e->n == EXPR_MAX_NODES) {
        expr_error(P, pos, "expected an expression of at most %d operations, got more",
                   EXPR_MAX_NODES);
        return -1;
    }
    if (e->n == e->cap) {
        uint32_t cap = e->cap ? e->cap * 2 : 16;
        struct expr_node *v = realloc(e->nodes, cap * sizeof *v);
        if (!v) {
            expr_error(P, pos, "out of memory");
            return -1;
        }
        e->nodes = v;
        e->cap = cap;
    }
    e->nodes[e->n] = (struct expr_node){
        .op = (uint8_t)op, .type = (uint8_t)type, .a = a, .b = b, .c = c, .col = -1, .pos = pos};
    return (int32_t)e->n++;
}

static int type_of(const struct parser *P, int32_t n)
{
    return P->e->nodes[n].type;
}

/* Checks operand n of operator op ("after '+'", "before '+'"). */
static int want_type(struct parser *P, int32_t n, int type, const char *where, const char *op)
{
    if (n < 0)
        return -1;
    if (type_of(P, n) == type)
        return 0;
    expr_error(P, P->e->nodes[n].pos, "expected %s %s '%s', got %s", expr_type_desc(type), where,
               op, expr_type_desc(type_of(P, n)));
    return -1;
}

static void set_want(struct parser *P, const char *want, const char *after)
{
    P->want = want;
    P->after = after;
}

/* ---- grammar ------------------------------------------------------------ */

static int32_t parse_or(struct parser *P);
static int32_t parse_unary(struct parser *P);
static int32_t parse_call(struct parser *P, const char *name, uint32_t pos);

static int32_t parse_field(struct parser *P)
{
    const struct weir_schema *sc = P->p->schema;
    const char *name = P->tok.name;
    uint32_t pos = P->tok.pos;
    for (uint32_t k = 0; k < sc->nfeat; k++) {
        if (strcmp(sc->feat[k].name, name) != 0)
            continue;
        if (sc->feat[k].producer < 0) {
            char hint[256];
            if (weir_schema_upstream(P->p, name, hint, sizeof hint))
                P->failed = 1; /* its writer may be an operator that failed, and said so */
            expr_error(P, pos, "feature \"%s\" is not written by any earlier operator%s", name,
                       hint);
            return -1;
        }
        int32_t n = node(P, X_FEAT, WEIR_EXPR_NUMBER, pos, -1, -1, -1);
        if (n >= 0)
            P->e->nodes[n].col = (int32_t)k;
        expr_next(P);
        return n;
    }
    for (uint32_t k = 0; k < sc->nstr; k++) {
        if (strcmp(sc->str[k].name, name) != 0 || sc->str[k].producer < 0)
            continue;
        int32_t n = node(P, X_STR, WEIR_EXPR_STRING, pos, -1, -1, -1);
        if (n >= 0)
            P->e->nodes[n].col = (int32_t)k;
        expr_next(P);
        return n;
    }
    if (strcmp(name, EVENT_TIME_NAME) == 0) {
        expr_next(P);
        return node(P, X_EVENT_TIME, WEIR_EXPR_NUMBER, pos, -1, -1, -1);
    }
    char hint[256];
    /* the operator that would write it failed, and said so */
    if (weir_schema_upstream(P->p, name, hint, sizeof hint)) {
        P->failed = 1;
        return -1;
    }
    const char *names[WEIR_SCHEMA_MAX * 2 + 1];
    size_t k = 0;
    for (uint32_t i = 0; i < sc->nfeat; i++)
        if (sc->feat[i].producer >= 0)
            names[k++] = sc->feat[i].name;
    for (uint32_t i = 0; i < sc->nstr; i++)
        if (sc->str[i].producer >= 0)
            names[k++] = sc->str[i].name;
    names[k++] = EVENT_TIME_NAME;
    const char *close = weir_did_you_mean(name, names, k);
    if (close)
        expr_error(P, pos, "unknown field \"%s\" (did you mean \"%s\"?)%s", name, close, hint);
    else
        expr_error(P, pos, "unknown field \"%s\" (a record's event time is %s)%s", name,
                   EVENT_TIME_NAME, hint); /* extract's timestamp field has no column */
    return -1;
}

static int32_t parse_primary(struct parser *P)
{
    struct token *t = &P->tok;
    char got[300];
    if (t->kind == T_NUM || expr_is_word(P, "true") || expr_is_word(P, "false")) {
        int num = t->kind == T_NUM;
        int32_t n = node(P, X_CONST, num ? WEIR_EXPR_NUMBER : WEIR_EXPR_BOOL, t->pos, -1, -1, -1);
        if (n >= 0)
            P->e->nodes[n].k = num ? t->num : expr_is_word(P, "true");
        expr_next(P);
        return n;
    }
    if (t->kind == T_STR) {
        int32_t n = node(P, X_STR, WEIR_EXPR_STRING, t->pos, -1, -1, -1);
        if (n >= 0)
            P->e->nodes[n].lit = t->str;
        expr_next(P);
        return n;
    }
    if (expr_is_op(P, "(")) {
        uint32_t open = t->pos;
        if (++P->depth > EXPR_MAX_DEPTH) {
            expr_error(P, open, "expected at most %d nested parentheses or operators, got more",
                       EXPR_MAX_DEPTH);
            return -1;
        }
        expr_next(P);
        set_want(P, "an expression", "'('");
        int32_t n = parse_or(P);
        P->depth--;
        if (n < 0)
            return -1;
        if (!expr_is_op(P, ")")) {
            expr_error(P, t->pos, "expected ')' to close the '(' at column %u, got %s",
                       expr_column_of(P->s, open), expr_tok_desc(P, t, got, sizeof got));
            return -1;
        }
        P->e->nodes[n].pos = open;
        expr_next(P);
        return n;
    }
    int keyword = expr_is_word(P, "and") || expr_is_word(P, "or") || expr_is_word(P, "not") ||
                  expr_is_word(P, "in");
    if ((t->kind == T_NAME && !keyword) || t->kind == T_QNAME) {
        if (t->kind == T_NAME) {
            uint32_t save = P->at;
            while (isspace((unsigned char)P->s[save]))
                save++;
            if (P->s[save] == '(') {
                char name[sizeof t->name];
                uint32_t pos = t->pos;
                memcpy(name, t->name, sizeof name);
                expr_next(P); /* the '(' */
                return parse_call(P, name, pos);
            }
        }
        return parse_field(P);
    }
    expr_error(P, t->pos, "expected %s%s%s, got %s", P->want, P->after ? " after " : "",
               P->after ? P->after : "", expr_tok_desc(P, t, got, sizeof got));
    return -1;
}

/* A prefix operator (the current token, name): its operand, parsed by
 * self so that prefixes nest, must be of the type the result has. */
static int32_t parse_prefix(struct parser *P, const char *name, const char *want,
                            const char *quoted, enum weir_expr_type type, int xop,
                            int32_t (*self)(struct parser *))
{
    uint32_t pos = P->tok.pos;
    if (++P->depth > EXPR_MAX_DEPTH) {
        expr_error(P, pos, "expected at most %d nested parentheses or operators, got more",
                   EXPR_MAX_DEPTH);
        return -1;
    }
    expr_next(P);
    set_want(P, want, quoted);
    int32_t a = self(P);
    P->depth--;
    if (want_type(P, a, type, "after", name) < 0)
        return -1;
    return node(P, xop, type, pos, a, -1, -1);
}

static int32_t parse_unary(struct parser *P)
{
    if (!expr_is_op(P, "-"))
        return parse_primary(P);
    return parse_prefix(P, "-", "a number", "'-'", WEIR_EXPR_NUMBER, X_NEG, parse_unary);
}

/* Left-associative arithmetic: ops[k] builds xops[k]. */
static int32_t parse_arith(struct parser *P, const char *const *ops, const int *xops, size_t nops,
                           int32_t (*operand)(struct parser *))
{
    int32_t l = operand(P);
    for (;;) {
        if (l < 0)
            return -1;
        size_t k = 0;
        while (k < nops && !expr_is_op(P, ops[k]))
            k++;
        if (k == nops)
            return l;
        char after[8];
        snprintf(after, sizeof after, "'%s'", ops[k]);
        expr_next(P);
        set_want(P, "a number", after);
        int32_t r = operand(P);
        if (want_type(P, l, WEIR_EXPR_NUMBER, "before", ops[k]) < 0 ||
            want_type(P, r, WEIR_EXPR_NUMBER, "after", ops[k]) < 0)
            return -1;
        l = node(P, xops[k], WEIR_EXPR_NUMBER, P->e->nodes[l].pos, l, r, -1);
    }
}

static int32_t parse_term(struct parser *P)
{
    static const char *const ops[] = {"*", "/", "%"};
    static const int xops[] = {X_MUL, X_DIV, X_MOD};
    return parse_arith(P, ops, xops, 3, parse_unary);
}

static int32_t parse_sum(struct parser *P)
{
    static const char *const ops[] = {"+", "-"};
    static const int xops[] = {X_ADD, X_SUB};
    return parse_arith(P, ops, xops, 2, parse_term);
}

/* A feature holds a float: a number written beside one (compared with it,
 * or in its `in` list) is rounded to float too, so that `x == 0.1` and
 * `x <= 0.1` hold for the 0.1 a record carried (the double 0.1 is not the
 * float 0.1 read back, which is larger). */
static double at_feature_precision(const struct parser *P, int32_t other, double v)
{
    /* not a number a float cannot hold: 1e300 as a float is an infinity
     * (`x <= 1e300` kept infinite x), 1e-46 is 0. Up to half a float step
     * (2^103) above FLT_MAX rounds to FLT_MAX, as a record's 3.4028235e38
     * (FLT_MAX as weir writes it) was read. */
    if (P->e->nodes[other].op != X_FEAT || !(fabs(v) < (double)FLT_MAX + 0x1p103))
        return v;
    float f = (float)v;
    return f == 0 && v != 0 ? v : (double)f;
}

static void round_literal(struct parser *P, int32_t lit, int32_t other)
{
    struct expr_node *x = &P->e->nodes[lit];
    if (x->op == X_NEG && P->e->nodes[x->a].op == X_CONST)
        x = &P->e->nodes[x->a]; /* -0.1: the literal is 0.1 */
    if (x->op == X_CONST && x->type == WEIR_EXPR_NUMBER)
        x->k = at_feature_precision(P, other, x->k);
}

/* `l in [a, b, ...]`: literals of l's type. */
static int32_t parse_in(struct parser *P, int32_t l, int negate)
{
    struct weir_expr *e = P->e;
    char got[300];
    int type = type_of(P, l);
    if (type == WEIR_EXPR_BOOL) {
        expr_error(P, e->nodes[l].pos, "expected a number or a string before 'in', got a bool");
        return -1;
    }
    if (!expr_is_op(P, "[")) {
        expr_error(P, P->tok.pos, "expected '[' after 'in', got %s",
                   expr_tok_desc(P, &P->tok, got, sizeof got));
        return -1;
    }
    expr_next(P);
    uint32_t first = type == WEIR_EXPR_NUMBER ? e->nnums : e->nstrs, count = 0;
    while (!expr_is_op(P, "]")) {
        if (count > 0) {
            if (!expr_is_op(P, ",")) {
                expr_error(P, P->tok.pos, "expected ',' or ']' in the list, got %s",
                           expr_tok_desc(P, &P->tok, got, sizeof got));
                return -1;
            }
            expr_next(P);
        }
        int neg = type == WEIR_EXPR_NUMBER && expr_is_op(P, "-");
        if (neg)
            expr_next(P);
        if (type == WEIR_EXPR_NUMBER && P->tok.kind == T_NUM) {
            e->nums[e->nnums++] = at_feature_precision(P, l, neg ? -P->tok.num : P->tok.num);
        } else if (type == WEIR_EXPR_STRING && P->tok.kind == T_STR) {
            e->strs[e->nstrs++] = P->tok.str;
        } else {
            expr_error(P, P->tok.pos, "expected %s in the list, got %s", expr_type_desc(type),
                       expr_tok_desc(P, &P->tok, got, sizeof got));
            return -1;
        }
        count++;
        expr_next(P);
    }
    expr_next(P);
    int op = type == WEIR_EXPR_NUMBER ? (negate ? X_NOT_IN_NUM : X_IN_NUM)
                                      : (negate ? X_NOT_IN_STR : X_IN_STR);
    int32_t n = node(P, op, WEIR_EXPR_BOOL, e->nodes[l].pos, l, -1, -1);
    if (n < 0)
        return -1;
    if (type == WEIR_EXPR_NUMBER)
        e->nodes[n].nums = e->nums + first; /* fixed: nums never moves */
    else
        e->nodes[n].strs = e->strs + first;
    e->nodes[n].nlist = count;
    return n;
}

static int cmp_op(const struct parser *P)
{
    static const char *const ops[] = {"<", "<=", ">", ">=", "==", "!="};
    for (int k = 0; k < 6; k++)
        if (expr_is_op(P, ops[k]))
            return X_LT + k;
    return -1;
}

/* n, or -1 (said) when a comparison follows the one just parsed. */
static int32_t no_chain(struct parser *P, int32_t n)
{
    char got[300];
    if (n >= 0 && cmp_op(P) >= 0) {
        expr_error(P, P->tok.pos, "expected 'and' between two comparisons, got %s",
                   expr_tok_desc(P, &P->tok, got, sizeof got));
        return -1;
    }
    return n;
}

static int32_t parse_cmp(struct parser *P)
{
    int32_t l = parse_sum(P);
    if (l < 0)
        return -1;
    uint32_t pos = P->tok.pos;
    if (expr_is_word(P, "in")) {
        expr_next(P);
        return no_chain(P, parse_in(P, l, 0));
    }
    if (expr_is_word(P, "not")) { /* `not in`, or a mistake */
        uint32_t save = P->at;
        struct token keep = P->tok;
        expr_next(P);
        if (expr_is_word(P, "in")) {
            expr_next(P);
            return no_chain(P, parse_in(P, l, 1));
        }
        P->at = save;
        P->tok = keep;
    }
    if (expr_is_op(P, "=")) {
        expr_error(P, pos, "expected '==' to compare, got '='");
        return -1;
    }
    int op = cmp_op(P);
    if (op < 0)
        return l;
    char opname[4], quoted[8];
    snprintf(opname, sizeof opname, "%s", P->tok.name);
    snprintf(quoted, sizeof quoted, "'%s'", opname);
    expr_next(P);
    set_want(P, "a value", quoted);
    int32_t r = parse_sum(P);
    if (r < 0)
        return -1;
    int lt = type_of(P, l), rt = type_of(P, r);
    int eq = op == X_EQ || op == X_NE;
    if (!eq && want_type(P, l, WEIR_EXPR_NUMBER, "before", opname) < 0)
        return -1;
    if (want_type(P, r, lt, "after", opname) < 0)
        return -1;
    if (no_chain(P, 0) < 0)
        return -1;
    if (lt == WEIR_EXPR_STRING && rt == WEIR_EXPR_STRING)
        op = op == X_EQ ? X_STR_EQ : X_STR_NE;
    round_literal(P, l, r);
    round_literal(P, r, l);
    return node(P, op, WEIR_EXPR_BOOL, P->e->nodes[l].pos, l, r, -1);
}

static int32_t parse_not(struct parser *P)
{
    if (!expr_is_word(P, "not"))
        return parse_cmp(P);
    return parse_prefix(P, "not", "a condition", "'not'", WEIR_EXPR_BOOL, X_NOT, parse_not);
}

static int32_t parse_logic(struct parser *P, const char *word, int xop,
                           int32_t (*operand)(struct parser *))
{
    int32_t l = operand(P);
    char after[8];
    snprintf(after, sizeof after, "'%s'", word);
    while (l >= 0 && expr_is_word(P, word)) {
        expr_next(P);
        set_want(P, "a condition", after);
        int32_t r = operand(P);
        if (want_type(P, l, WEIR_EXPR_BOOL, "before", word) < 0 ||
            want_type(P, r, WEIR_EXPR_BOOL, "after", word) < 0)
            return -1;
        l = node(P, xop, WEIR_EXPR_BOOL, P->e->nodes[l].pos, l, r, -1);
    }
    return l;
}

static int32_t parse_and(struct parser *P)
{
    return parse_logic(P, "and", X_AND, parse_not);
}

static int32_t parse_or(struct parser *P)
{
    return parse_logic(P, "or", X_OR, parse_and);
}

/* ---- function calls ----------------------------------------------------- */

struct func {
    const char *name;
    int op;
    int nargs;  /* -2: two or more */
    int result; /* -1: the type of argument 2 (if) */
};

static const struct func funcs[] = {
    {"log", X_LOG, 1, WEIR_EXPR_NUMBER},          {"log1p", X_LOG1P, 1, WEIR_EXPR_NUMBER},
    {"exp", X_EXP, 1, WEIR_EXPR_NUMBER},          {"sqrt", X_SQRT, 1, WEIR_EXPR_NUMBER},
    {"abs", X_ABS, 1, WEIR_EXPR_NUMBER},          {"is_nan", X_IS_NAN, 1, WEIR_EXPR_BOOL},
    {"hour_of_day", X_HOUR, 1, WEIR_EXPR_NUMBER}, {"day_of_week", X_DOW, 1, WEIR_EXPR_NUMBER},
    {"min", X_MIN, -2, WEIR_EXPR_NUMBER},         {"max", X_MAX, -2, WEIR_EXPR_NUMBER},
    {"clip", X_CLIP, 3, WEIR_EXPR_NUMBER},        {"if", X_IF, 3, -1},
    {"exists", X_EXISTS_FEAT, 1, WEIR_EXPR_BOOL},
};
#define NFUNCS (sizeof funcs / sizeof funcs[0])

/* exists(field): a bare name, not an expression. */
static int32_t parse_exists(struct parser *P, uint32_t pos)
{
    char got[300];
    set_want(P, "a field name", "'exists('");
    if (P->tok.kind != T_NAME && P->tok.kind != T_QNAME) {
        expr_error(P, P->tok.pos, "expected a field name in exists(), got %s",
                   expr_tok_desc(P, &P->tok, got, sizeof got));
        return -1;
    }
    uint32_t after = P->at; /* a call here would read as an unknown field of its name */
    while (isspace((unsigned char)P->s[after]))
        after++;
    if (P->tok.kind == T_NAME && P->s[after] == '(') {
        expr_error(P, P->tok.pos, "expected a field name in exists(), got a call to %s(): "
                   "exists() asks whether a record has a field (is_nan() tests a value)",
                   P->tok.name);
        return -1;
    }
    int32_t f = parse_field(P);
    if (f < 0)
        return -1;
    if (!expr_is_op(P, ")")) {
        expr_error(P, P->tok.pos, "expected ')' after the field name in exists(), got %s",
                   expr_tok_desc(P, &P->tok, got, sizeof got));
        return -1;
    }
    expr_next(P);
    int fop = P->e->nodes[f].op, col = P->e->nodes[f].col; /* node() may move the array */
    int op = fop == X_FEAT ? X_EXISTS_FEAT : fop == X_STR ? X_EXISTS_STR : X_EXISTS_TS;
    int32_t n = node(P, op, WEIR_EXPR_BOOL, pos, -1, -1, -1);
    if (n >= 0)
        P->e->nodes[n].col = col;
    return n;
}

static const struct func *find_func(struct parser *P, const char *name, uint32_t pos)
{
    for (size_t k = 0; k < NFUNCS; k++)
        if (strcmp(funcs[k].name, name) == 0)
            return &funcs[k];
    const char *names[NFUNCS];
    for (size_t k = 0; k < NFUNCS; k++)
        names[k] = funcs[k].name;
    const char *close = weir_did_you_mean(name, names, NFUNCS);
    if (close)
        expr_error(P, pos, "unknown function \"%s\" (did you mean \"%s\"?)", name, close);
    else
        expr_error(P, pos,
                   "unknown function \"%s\"; expected one of: log, log1p, exp, sqrt, abs, min, "
                   "max, clip, if, exists, is_nan, hour_of_day, day_of_week",
                   name);
    return NULL;
}

static int parse_args_in(struct parser *P, const char *name, int32_t *args);

/* The arguments of a call (its name at pos), after its '(' (the current
 * token). A call nests as a parenthesis does (depth: the stack, not only
 * the nodes, is bounded). */
static int parse_args(struct parser *P, const char *name, uint32_t pos, int32_t *args)
{
    if (++P->depth > EXPR_MAX_DEPTH) {
        expr_error(P, pos, "expected at most %d nested parentheses or operators, got more",
                   EXPR_MAX_DEPTH);
        return -1;
    }
    int n = parse_args_in(P, name, args);
    P->depth--;
    return n;
}

static int parse_args_in(struct parser *P, const char *name, int32_t *args)
{
    char got[300], after[300];
    int n = 0;
    if (expr_is_op(P, ")")) {
        expr_next(P);
        return 0;
    }
    for (;;) {
        snprintf(after, sizeof after, n ? "',' in %s()" : "'%s('", name);
        set_want(P, "an argument", after);
        int32_t a = parse_or(P);
        if (a < 0)
            return -1;
        if (n == EXPR_MAX_ARGS) {
            expr_error(P, P->e->nodes[a].pos, "expected at most %d arguments in %s(), got more",
                       EXPR_MAX_ARGS, name);
            return -1;
        }
        args[n++] = a;
        if (expr_is_op(P, ")")) {
            expr_next(P);
            return n;
        }
        if (!expr_is_op(P, ",")) {
            expr_error(P, P->tok.pos, "expected ',' or ')' in %s(), got %s", name,
                       expr_tok_desc(P, &P->tok, got, sizeof got));
            return -1;
        }
        expr_next(P);
    }
}

static int arg_type(struct parser *P, const char *name, int32_t a, int k, int type)
{
    if (type_of(P, a) == type)
        return 0;
    expr_error(P, P->e->nodes[a].pos, "expected %s as argument %d of %s(), got %s",
               expr_type_desc(type), k, name, expr_type_desc(type_of(P, a)));
    return -1;
}

static int32_t parse_call(struct parser *P, const char *name, uint32_t pos)
{
    const struct func *f = find_func(P, name, pos);
    if (!f)
        return -1;
    expr_next(P); /* past '(' */
    if (f->op == X_EXISTS_FEAT)
        return parse_exists(P, pos);
    int32_t args[EXPR_MAX_ARGS] = {0}; /* (-O3 cannot see that n checks them) */
    int n = parse_args(P, name, pos, args);
    if (n < 0)
        return -1;
    if ((f->nargs >= 0 && n != f->nargs) || (f->nargs == -2 && n < 2)) {
        expr_error(P, pos, "expected %s%d argument%s for %s(), got %d",
                   f->nargs == -2 ? "at least " : "", f->nargs == -2 ? 2 : f->nargs,
                   f->nargs == 1 ? "" : "s", name, n);
        return -1;
    }
    if (f->op == X_IF) {
        int t = type_of(P, args[1]);
        if (arg_type(P, name, args[0], 1, WEIR_EXPR_BOOL) < 0)
            return -1;
        if (t == WEIR_EXPR_STRING) {
            expr_error(P, P->e->nodes[args[1]].pos,
                       "expected a number or a bool as argument 2 of if(), "
                       "got a string");
            return -1;
        }
        if (arg_type(P, name, args[2], 3, t) < 0)
            return -1;
        return node(P, X_IF, t, pos, args[0], args[1], args[2]);
    }
    for (int k = 0; k < n; k++)
        if (arg_type(P, name, args[k], k + 1, WEIR_EXPR_NUMBER) < 0)
            return -1;
    if (f->nargs == -2) { /* min(a, b, c) = min(min(a, b), c) */
        int32_t l = args[0];
        for (int k = 1; k < n && l >= 0; k++)
            l = node(P, f->op, WEIR_EXPR_NUMBER, pos, l, args[k], -1);
        return l;
    }
    return node(P, f->op, f->result, pos, args[0], n > 1 ? args[1] : -1, n > 2 ? args[2] : -1);
}

/* ---- the whole expression ----------------------------------------------- */

void weir_expr_free(struct weir_expr *e)
{
    if (!e)
        return;
    free(e->text);
    free(e->nodes);
    free(e->strbuf);
    free(e->nums);
    free(e->strs);
    free(e);
}

struct weir_expr *weir_expr_compile(const char *text, struct weir_prepare *p, const char *path)
{
    size_t len = strlen(text);
    struct weir_expr *e = calloc(1, sizeof *e);
    if (e) {
        e->text = strdup(text);
        e->strbuf = malloc(2 * len + 2);               /* a lookahead may lex a string twice */
        e->nums = malloc((len + 1) * sizeof *e->nums); /* a list item takes a byte at least */
        e->strs = malloc((len + 1) * sizeof *e->strs);
    }
    if (!e || !e->text || !e->strbuf || !e->nums || !e->strs) {
        weir_diag_add(p->diag, path, "out of memory");
        weir_expr_free(e);
        return NULL;
    }
    struct parser P = {.e = e, .s = e->text, .p = p, .path = path};
    expr_next(&P);
    set_want(&P, "an expression", NULL);
    int32_t root = P.failed ? -1 : parse_or(&P);
    char got[300];
    if (root >= 0 && P.tok.kind != T_END)
        expr_error(&P, P.tok.pos, "expected an operator or the end of the expression, got %s",
                   expr_tok_desc(&P, &P.tok, got, sizeof got));
    if (P.failed || root < 0) {
        weir_expr_free(e);
        return NULL;
    }
    e->result = root;
    return e;
}

struct weir_expr *weir_expr_compile_as(const char *text, struct weir_prepare *p, const char *path,
                                       unsigned mask, const char *what)
{
    struct weir_expr *e = weir_expr_compile(text, p, path);
    if (e && !(mask & (1u << weir_expr_result_type(e)))) {
        weir_diag_add(p->diag, path, "column %u: expected %s, got %s",
                      expr_column_of(e->text, e->nodes[e->result].pos), what,
                      expr_type_desc(weir_expr_result_type(e)));
        weir_expr_free(e);
        return NULL;
    }
    return e;
}

enum weir_expr_type weir_expr_result_type(const struct weir_expr *e)
{
    return (enum weir_expr_type)e->nodes[e->result].type;
}

const char *weir_expr_text(const struct weir_expr *e)
{
    return e->text;
}
