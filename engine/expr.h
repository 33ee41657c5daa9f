/* Expressions: a small typed language over a record's columns, for derive,
 * filter and sink "when" (docs/expressions.md has the grammar, types,
 * functions and NaN rules).
 *
 * An expression is parsed, type-checked and compiled once, when the
 * pipeline loads: field names are resolved to columns there, and a mistake
 * is reported through the pipeline's diagnostics as "PATH: column C: ..."
 * (C counts characters of the expression text from 1). The compiled form is
 * a short list of instructions, each one loop over a batch writing one
 * scratch column of doubles, so evaluation is column-at-a-time with no
 * name look-up and no malloc per record (weir_expr_eval allocates only when
 * it first sees a batch capacity larger than before).
 *
 * Types: number (double; feature columns are float, read as double), bool
 * (0 or 1 in a column) and string (a string column or a literal; only
 * compared, never computed). A missing feature is NaN and NaN propagates
 * through arithmetic and functions; every comparison with a NaN operand is
 * false (`!=` included); `not` of such a comparison is true. */
#ifndef WEIR_EXPR_H
#define WEIR_EXPR_H

#include "engine/batch.h"
#include "engine/schema.h"

#include <stddef.h>
#include <stdint.h>

enum weir_expr_type { WEIR_EXPR_NUMBER, WEIR_EXPR_BOOL, WEIR_EXPR_STRING };

/* The compiled expression: read-only once compiled, shared by workers. */
struct weir_expr;

/* Compiles text against the columns written so far (p->schema, as
 * weir_schema_feature_in sees them; every column for a sink, op_index -1).
 * The built-in name `event_time` is the record's event time in ms (NaN when
 * it has none) unless a column has that name. Problems are added to p->diag
 * at path ("operators[3].keep: column 14: expected ..., got ..."); returns
 * the compiled expression, or NULL (a message was added, except when
 * weir_schema_upstream hides an unknown field, or out of memory). */
struct weir_expr *weir_expr_compile(const char *text, struct weir_prepare *p, const char *path);
/* weir_expr_compile, and the result must be one of the types in mask (bits
 * 1 << WEIR_EXPR_*): otherwise "column C: expected WHAT, got a number" (C:
 * where the expression starts) is
 * added and NULL returned. what: "a condition (a bool)". */
struct weir_expr *weir_expr_compile_as(const char *text, struct weir_prepare *p, const char *path,
                                       unsigned mask, const char *what);
void weir_expr_free(struct weir_expr *e);
enum weir_expr_type weir_expr_result_type(const struct weir_expr *e);
const char *weir_expr_text(const struct weir_expr *e);
/* "number", "bool", "string" */
const char *weir_expr_type_name(enum weir_expr_type t);

/* A worker's scratch columns for one expression. Zero-initialise; free with
 * weir_expr_run_free. */
struct weir_expr_run {
    const struct weir_expr *e;
    double *regs; /* (nregs, cap) */
    uint32_t cap; /* records per column */
};

void weir_expr_run_init(struct weir_expr_run *r, const struct weir_expr *e);
void weir_expr_run_free(struct weir_expr_run *r);
/* Evaluates the expression for records [0, b->n) of b (dead ones too: their
 * values are meaningless but harmless). Returns the result column (a number,
 * or 0/1 for a bool), valid until the next call, or NULL when out of memory. */
const double *weir_expr_eval(struct weir_expr_run *r, const struct weir_batch *b);

#endif
