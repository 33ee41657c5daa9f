/* Expressions: the lexer and the parse's messages (see expr.h, expr.c).
 * Tokens: numbers (digits, '.', exponent; no sign, no "inf"), strings in
 * single or double quotes with backslash escapes, names ([A-Za-z_][\w.]*,
 * or anything in backquotes), and operators. A column in a message counts
 * characters, not UTF-8 bytes. */
#include "engine/diag.h"
#include "engine/expr.h"
#include "engine/expr_internal.h"
#include "engine/jscan.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- messages ----------------------------------------------------------- */

unsigned expr_column_of(const char *s, uint32_t pos)
{
    unsigned col = 1;
    for (uint32_t i = 0; i < pos && s[i]; i++)
        col += ((unsigned char)s[i] & 0xC0) != 0x80; /* characters, not UTF-8 bytes */
    return col;
}

void expr_error(struct parser *P, uint32_t pos, const char *fmt, ...)
{
    if (P->failed)
        return;
    P->failed = 1;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    weir_diag_add(P->p->diag, P->path, "column %u: %s", expr_column_of(P->s, pos), msg);
}

/* The code point of a non-ASCII character, named beside it: a no-break
 * space pasted from a web page prints like a space. -1: not one. */
static long code_point(const char *p, uint32_t len)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t n = weir_utf8_seqlen(p, len);
    if (n < 2 || n != len)
        return -1;
    long cp = u[0] & (0x7F >> n);
    for (size_t k = 1; k < n; k++)
        cp = cp << 6 | (u[k] & 0x3F);
    return cp;
}

const char *expr_tok_desc(const struct parser *P, const struct token *t, char *buf, size_t size)
{
    switch (t->kind) {
    case T_END: return "the end of the expression";
    case T_STR: return "a string";
    case T_NAME:
    case T_OP: snprintf(buf, size, "'%s'", t->name); return buf;
    case T_QNAME: snprintf(buf, size, "`%s`", t->name); return buf;
    default: {
        long cp = t->kind == T_BAD ? code_point(P->s + t->pos, t->len) : -1;
        if (cp >= 0)
            snprintf(buf, size, "'%.*s' (U+%04lX)", (int)t->len, P->s + t->pos, cp);
        else
            snprintf(buf, size, "'%.*s'", (int)(t->len > 40 ? 40 : t->len), P->s + t->pos);
        return buf;
    }
    }
}

const char *expr_type_desc(int type)
{
    return type == WEIR_EXPR_NUMBER ? "a number" : type == WEIR_EXPR_BOOL ? "a bool" : "a string";
}

const char *weir_expr_type_name(enum weir_expr_type t)
{
    return t == WEIR_EXPR_NUMBER ? "number" : t == WEIR_EXPR_BOOL ? "bool" : "string";
}

/* ---- lexer -------------------------------------------------------------- */

static void lex_number(struct parser *P, struct token *t)
{
    const char *s = P->s;
    uint32_t i = P->at;
    while (isdigit((unsigned char)s[i]))
        i++;
    if (s[i] == '.')
        for (i++; isdigit((unsigned char)s[i]); i++) {
        }
    if ((s[i] == 'e' || s[i] == 'E') &&
        (isdigit((unsigned char)s[i + 1]) ||
         ((s[i + 1] == '+' || s[i + 1] == '-') && isdigit((unsigned char)s[i + 2])))) {
        for (i += 2; isdigit((unsigned char)s[i]); i++) {
        }
    }
    t->kind = T_NUM;
    /* only digits, '.', exponent (no "inf", no hex); read as JSON numbers
     * are: whatever the length, and with '.' whatever the process's locale.
     * Too large: +Inf. */
    if (weir_jnum_parse(s + P->at, i - P->at, &t->num) == -ENOMEM)
        expr_error(P, t->pos, "out of memory");
    P->at = i;
}

static void lex_string(struct parser *P, struct token *t)
{
    const char *s = P->s;
    char quote = s[P->at];
    struct weir_expr *e = P->e;
    char *out = e->strbuf + e->strused;
    uint32_t n = 0, i = P->at + 1;
    for (; s[i] && s[i] != quote; i++) {
        char c = s[i];
        if (c == '\\' && s[i + 1]) {
            c = s[++i];
            /* '\r' read as "r" would compare unequal to everything, silently */
            if (!strchr("'\"\\nt", c)) {
                t->kind = T_BAD;
                expr_error(P, i - 1,
                           "expected one of the escapes \\' \\\" \\\\ \\n \\t, got \\%.*s",
                           (int)weir_utf8_seqlen(s + i, strlen(s + i)), s + i);
                P->at = i + 1;
                return;
            }
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
        }
        out[n++] = c;
    }
    if (!s[i]) {
        t->kind = T_BAD;
        expr_error(P, t->pos,
                   "expected a closing %c for the string that starts here, got the end of "
                   "the expression",
                   quote);
        P->at = i;
        return;
    }
    out[n] = '\0';
    e->strused += n + 1;
    t->kind = T_STR;
    t->str = (struct weir_str){.p = out, .len = n};
    P->at = i + 1;
}

static void lex_name(struct parser *P, struct token *t)
{
    const char *s = P->s;
    uint32_t i = P->at, start = i, end;
    if (s[i] == '`') {
        start = ++i;
        while (s[i] && s[i] != '`')
            i++;
        if (!s[i]) {
            t->kind = T_BAD;
            expr_error(P, t->pos,
                       "expected a closing ` for the name that starts here, got the end of "
                       "the expression");
            P->at = i;
            return;
        }
        end = i++;
        t->kind = T_QNAME;
    } else {
        while (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.')
            i++;
        end = i;
        t->kind = T_NAME;
    }
    if (end - start >= sizeof t->name) {
        t->kind = T_BAD;
        expr_error(P, t->pos, "expected a name of at most %zu bytes, got %u", sizeof t->name - 1,
                   end - start);
    } else {
        memcpy(t->name, s + start, end - start);
        t->name[end - start] = '\0';
    }
    P->at = i;
}

void expr_next(struct parser *P)
{
    const char *s = P->s;
    struct token *t = &P->tok;
    while (isspace((unsigned char)s[P->at]))
        P->at++;
    memset(t, 0, offsetof(struct token, name) + 1);
    t->pos = P->at;
    char c = s[P->at];
    if (!c) {
        t->kind = T_END;
    } else if (isdigit((unsigned char)c) || (c == '.' && isdigit((unsigned char)s[P->at + 1]))) {
        lex_number(P, t);
    } else if (c == '"' || c == '\'') {
        lex_string(P, t);
    } else if (isalpha((unsigned char)c) || c == '_' || c == '`') {
        lex_name(P, t);
    } else {
        static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">", "+", "-", "*",
                                          "/",  "%",  "(",  ")",  "[", "]", ",", "="};
        t->kind = T_BAD;
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            size_t n = strlen(ops[k]);
            if (strncmp(s + P->at, ops[k], n) == 0) {
                t->kind = T_OP;
                memcpy(t->name, ops[k], n + 1);
                P->at += (uint32_t)n;
                break;
            }
        }
        if (t->kind == T_BAD) /* one character, all its UTF-8 bytes */
            for (P->at++; ((unsigned char)s[P->at] & 0xC0) == 0x80; P->at++) {
            }
    }
    t->len = P->at - t->pos;
}

int expr_is_op(const struct parser *P, const char *op)
{
    return P->tok.kind == T_OP && strcmp(P->tok.name, op) == 0;
}

int expr_is_word(const struct parser *P, const char *w)
{
    return P->tok.kind == T_NAME && strcmp(P->tok.name, w) == 0;
}
