/* What the scorers' explanations share. Every scorer that explains its own
 * score writes it in the string "<out>_explain", which threshold quotes
 * when the score fires (scorer_explain_out). An input's expected range is
 * quoted when an earlier operator writes f_lo and f_hi
 * (scorer_written_before; threshold also quotes f_z). And the scorers
 * that account for a score by its inputs, `model` (TreeSHAP values, an
 * autoencoder's error shares), `iforest` (Shapley shares of the path
 * length) and `hstrees` (of the mass), share their options ("explain",
 * "explain_k", "explain_above"),
 * their resolution at prepare and the text:
 *
 *   <header>: f=v +share[ note n or lo..hi][ expected lo..hi], ...; the other N +rest
 *
 * Shared by operators, not part of the engine. */
#ifndef WEIR_OPERATORS_SCORER_EXPLAIN_H
#define WEIR_OPERATORS_SCORER_EXPLAIN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/operator.h"
#include "engine/option.h"
#include "engine/schema.h"

/* The string feature "<out>_explain" in which a scorer explains its own
 * score for threshold to quote (operators/threshold.c); name (cap bytes,
 * borrowed by the schema for the pipeline's life) receives it. Returns its
 * column, or -1 with the problem reported under the operator's "explain". */
int scorer_explain_out(struct weir_prepare *p, const char *out, char *name, size_t cap);

/* The feature name + suffix (an input's "_lo", "_hi", "_z") when an operator
 * before this one writes it, else -1. Only quoted in explanations, not read
 * for a score: not declared as a read (lineage). */
int scorer_written_before(const struct weir_prepare *p, const char *name, const char *suffix);

/* The "explain" options of a scorer that accounts for its score by its
 * inputs, and what scorer_explain_prepare resolves. */
struct scorer_explain {
    int on;
    int64_t k;    /* inputs listed at most */
    double above; /* only a record scoring at least this gets the text */
    /* resolved by scorer_explain_prepare() */
    float above_f; /* scores are floats: compared as threshold compares */
    int col;       /* the string out + "_explain", or -1 */
    char name[256];
    int lo_col[WEIR_SCHEMA_MAX], hi_col[WEIR_SCHEMA_MAX]; /* f_lo, f_hi written before, or -1 */
};

/* The option rows of struct scorer_explain m inside the conf struct `type`:
 * what the text lists (help), and explain_above's default, flags, bounds
 * and help. */
/* clang-format off */
#define SCORER_EXPLAIN_OPTION_ROWS(type, m, help, above_default, above_flags, above_lo,          \
                                   above_hi, above_help)                                          \
    {"explain", WEIR_OPT_BOOL, "false",                                                           \
     "write the string field out + \"_explain\" for a record scoring at least explain_above: "   \
     "the explain_k inputs that " help,                                                           \
     offsetof(type, m.on), 0, 0, 0, NULL},                                                        \
    {"explain_k", WEIR_OPT_INT, "3", "with explain: inputs listed", offsetof(type, m.k),          \
     WEIR_OPT_RANGE, 1, 16, NULL},                                                                \
    {"explain_above", WEIR_OPT_NUMBER, above_default,                                             \
     "with explain: only a record scoring at least " above_help, offsetof(type, m.above),         \
     above_flags, above_lo, above_hi, NULL}
/* clang-format on */

/* explain_k and explain_above only with "explain": true (options: the
 * operator's table); with it, the inputs' ranges written upstream (fields:
 * the inputs, at most WEIR_SCHEMA_MAX as the schema's features are; more
 * are never explained) and the column "<out>_explain", written to output
 * records as the score is. Returns the problems. */
int scorer_explain_prepare(struct scorer_explain *e, const json_t *raw,
                           const struct weir_option *options, const struct weir_strlist *fields,
                           const char *out, struct weir_prepare *p);

/* Registers the column "<out>_explain" alone (e->col; -1 reported), for an
 * operator that only says what it would write (a model not yet trained). */
int scorer_explain_column(struct scorer_explain *e, const char *out, struct weir_prepare *p);

/* The most steps (weir_trees_shap_steps) a tree scorer's account
 * (TreeSHAP over its trees) may take one record, so that one alert's text
 * does not hold the worker's loop for long: 15 to 52 instructions a step
 * where measured, so some 0.15 to 0.52 billion instructions, a twentieth
 * to a sixth of a second (docs/models.md). scorer_explain_bounded: 0 when steps is within
 * it, else 1 with the problem under the operator's "explain": that config
 * (its trees, their size) may take steps (formula): the ways out. */
#define SCORER_EXPLAIN_MAX_STEPS 1e7
int scorer_explain_bounded(struct weir_prepare *p, double steps, const char *config,
                           const char *formula, const char *ways);

/* One record's account of its score by its n inputs. */
struct scorer_account {
    const struct scorer_explain *e;
    const char *const *name; /* the inputs' names */
    const int *in_col;       /* their columns in row */
    size_t n;
    const float *row;
    const double *share; /* each input's part of the score (n) */
    int sign;            /* 1: inputs listed from the largest share; -1: from the most negative */
    const char *note;    /* quoted after each listed input with note_value[k], or NULL */
    const float *note_value;
    const float *note_hi; /* or NULL; else the note is a range: note_value[k]..note_hi[k] */
    const char *verb;     /* what the listed inputs did: "raised", "shortened", "lowered" */
    int imputed;          /* a non-finite input was imputed (a dense model): "missing", as NaN */
};

/* Appends to buf (len bytes so far) the explain_k inputs whose share has
 * a's sign, largest first, each with its value ("missing" for NaN, and for
 * ±Inf when a->imputed), the note and "expected lo..hi" when written
 * upstream; then the others' sum:
 * "; the other N +r", or ": none <verb> it; the other N +r" when no share
 * has the sign. Returns the length (cut short at size - 1). */
size_t scorer_explain_account(const struct scorer_account *a, char *buf, size_t size, size_t len);

/* Record i's text (len bytes; NULL: none) into the string column col, in
 * the batch's arena. Out of memory: none, and the score stands. */
void scorer_explain_set(struct weir_batch *b, uint32_t i, int col, const char *text, size_t len);

#endif
