/* The inside of expressions: the compiled form, shared by the compiler
 * (expr.c) and the evaluator (expr_eval.c), and the parser's state, shared
 * by the grammar (expr.c) and the lexer (expr_lex.c). Nodes are created
 * children first, so their array is already in evaluation order: node k
 * writes scratch column k. */
#ifndef WEIR_EXPR_INTERNAL_H
#define WEIR_EXPR_INTERNAL_H

#include "engine/batch.h"
#include "engine/expr.h"
#include "engine/schema.h"

#include <stdint.h>

enum expr_op {
    X_CONST,      /* k (numbers and bools): filled once per scratch allocation */
    X_FEAT,       /* feature column col */
    X_EVENT_TIME, /* rec->ts_ms, NaN when < 0 */
    X_STR,        /* a string operand (field or literal): not evaluated itself */
    X_NEG,
    X_NOT,
    X_ADD,
    X_SUB,
    X_MUL,
    X_DIV,
    X_MOD,
    X_LT,
    X_LE,
    X_GT,
    X_GE,
    X_EQ,
    X_NE,
    X_AND,
    X_OR,
    X_IN_NUM,     /* a in nums[0..nlist) */
    X_NOT_IN_NUM, /* a not in nums: false when a is NaN, as != is */
    X_STR_EQ,
    X_STR_NE,     /* string nodes a and b */
    X_IN_STR,     /* string node a in strs[0..nlist) */
    X_NOT_IN_STR, /* a not in strs: false when a is absent */
    X_EXISTS_FEAT,
    X_EXISTS_STR,
    X_EXISTS_TS,
    X_LOG,
    X_LOG1P,
    X_EXP,
    X_SQRT,
    X_ABS,
    X_IS_NAN,
    X_HOUR,
    X_DOW,
    X_MIN,
    X_MAX,
    X_CLIP,
    X_IF,
};

struct expr_node {
    uint8_t op;          /* enum expr_op */
    uint8_t type;        /* enum weir_expr_type */
    int32_t a, b, c;     /* operand nodes, -1 when unused */
    int32_t col;         /* X_FEAT, X_EXISTS_*: the column; X_STR: the string column or -1 */
    double k;            /* X_CONST */
    struct weir_str lit; /* X_STR with col -1: the literal (in the expression's buffer) */
    const double *nums;  /* X_IN_NUM */
    const struct weir_str *strs; /* X_IN_STR */
    uint32_t nlist;
    uint32_t pos; /* byte offset in the text, for messages */
};

struct weir_expr {
    char *text; /* owned copy */
    struct expr_node *nodes;
    uint32_t n, cap;
    int32_t result; /* the root node */
    char *strbuf;   /* unescaped string literals */
    size_t strused;
    double *nums; /* in-list values */
    struct weir_str *strs;
    uint32_t nnums, nstrs;
};

/* ---- the parser's state (expr.c: grammar and types; expr_lex.c: tokens and messages) ---- */

enum tok_kind { T_END, T_NUM, T_STR, T_NAME, T_QNAME, T_OP, T_BAD };

struct token {
    int kind;
    uint32_t pos, len; /* bytes of the text it spans */
    double num;
    struct weir_str str; /* T_STR: unescaped, in the expression's buffer */
    char name[256];      /* T_NAME, T_QNAME; T_OP: the operator */
};

struct parser {
    struct weir_expr *e;
    const char *s;
    uint32_t at; /* next byte to lex */
    struct token tok;
    struct weir_prepare *p;
    const char *path;
    int failed;
    int depth;
    const char *want, *after; /* what the next operand should be, for messages */
};

unsigned expr_column_of(const char *s, uint32_t pos); /* 1-based, in characters */
/* Reports the first problem of a parse: "PATH: column C: message". */
void expr_error(struct parser *P, uint32_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *expr_tok_desc(const struct parser *P, const struct token *t, char *buf, size_t size);
const char *expr_type_desc(int type); /* "a number" */
void expr_next(struct parser *P);     /* lexes the next token into P->tok */
int expr_is_op(const struct parser *P, const char *op);
int expr_is_word(const struct parser *P, const char *w);

#endif
