/* What the scorers' explanations share: operators/scorer_explain.h. */
#include "operators/scorer_explain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8cut.h"
#include "engine/diag.h"

int scorer_explain_out(struct weir_prepare *p, const char *out, char *name, size_t cap)
{
    char ip[256];
    weir_path_key(ip, sizeof ip, p->path, "explain");
    if ((size_t)snprintf(name, cap, "%s_explain", out) >= cap) {
        weir_diag_add(p->diag, ip, "expected an \"out\" under %zu bytes with \"explain\"",
                      cap - sizeof "_explain" + 1);
        return -1;
    }
    return weir_schema_string_out(p, name, ip);
}
int scorer_written_before(const struct weir_prepare *p, const char *name, const char *suffix)
{
    char small[300];
    size_t n = strlen(name) + strlen(suffix) + 1; /* names have no bound */
    char *buf = n <= sizeof small ? small : malloc(n);
    if (!buf)
        return -1; /* a range not quoted: the explanation is still right */
    snprintf(buf, n, "%s%s", name, suffix);
    int col = weir_schema_find_feature(p->schema, buf);
    if (buf != small)
        free(buf);
    int by = col >= 0 ? p->schema->feat[col].producer : -1;
    return by >= 0 && by < p->op_index ? col : -1;
}

int scorer_explain_column(struct scorer_explain *e, const char *out, struct weir_prepare *p)
{
    e->col = scorer_explain_out(p, out, e->name, sizeof e->name);
    if (e->col >= 0)
        p->schema->str[e->col].emit = 1; /* in output records, as the score is */
    return e->col;
}

int scorer_explain_bounded(struct weir_prepare *p, double steps, const char *config,
                           const char *formula, const char *ways)
{
    if (steps <= SCORER_EXPLAIN_MAX_STEPS)
        return 0;
    char path[256];
    weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "explain"),
                  "expected at most %.0e steps to explain a record, and %s may take %.2g (%s): %s",
                  SCORER_EXPLAIN_MAX_STEPS, config, steps, formula, ways);
    return 1;
}

int scorer_explain_prepare(struct scorer_explain *e, const json_t *raw,
                           const struct weir_option *options, const struct weir_strlist *fields,
                           const char *out, struct weir_prepare *p)
{
    static const char *const explain_opts[] = {"explain_k", "explain_above", NULL};
    e->col = -1;
    int bad = weir_options_only_with(raw, options, explain_opts, e->on, "\"explain\": true",
                                     p->diag, p->path);
    if (!e->on || fields->n > WEIR_SCHEMA_MAX)
        return bad;
    for (size_t k = 0; k < fields->n; k++) {
        e->lo_col[k] = scorer_written_before(p, fields->v[k], "_lo");
        e->hi_col[k] = scorer_written_before(p, fields->v[k], "_hi");
    }
    e->above_f = (float)e->above;
    return bad + (scorer_explain_column(e, out, p) < 0);
}

/* ", name=value +share[ note n][ expected lo..hi]" (": " before the first):
 * input k of a's record. */
static size_t one_input(const struct scorer_account *a, size_t k, int first, char *buf, size_t size,
                        size_t len)
{
    const struct scorer_explain *e = a->e;
    float value = a->row[a->in_col[k]];
    char text[32];
    if (a->imputed ? !isfinite(value) : isnan(value))
        snprintf(text, sizeof text, "missing");
    else
        snprintf(text, sizeof text, "%.6g", value);
    len += (size_t)snprintf(buf + len, size - len, "%s %s=%s %+.6g", first ? ":" : ",", a->name[k],
                            text, a->share[k]);
    if (len < size && a->note)
        len += (size_t)snprintf(buf + len, size - len, " %s %.6g", a->note, a->note_value[k]);
    if (len < size && a->note && a->note_hi)
        len += (size_t)snprintf(buf + len, size - len, "..%.6g", a->note_hi[k]);
    if (len < size && e->lo_col[k] >= 0 && e->hi_col[k] >= 0) {
        float lo = a->row[e->lo_col[k]], hi = a->row[e->hi_col[k]];
        if (!isnan(lo) && !isnan(hi))
            len += (size_t)snprintf(buf + len, size - len, " expected %.6g..%.6g", lo, hi);
    }
    return len;
}

/* The input not yet used whose share, times sign, is the largest above 0
 * (marked used), or n. */
static size_t next_input(const struct scorer_account *a, unsigned char *used)
{
    size_t top = a->n;
    for (size_t k = 0; k < a->n; k++) {
        double v = a->sign * a->share[k];
        if (!used[k] && v > 0 && (top == a->n || v > a->sign * a->share[top]))
            top = k;
    }
    if (top < a->n)
        used[top] = 1;
    return top;
}

/* The text's length once written: a text cut at size ends at a whole
 * character with "..." (snprintf cut it anywhere, a name's UTF-8 sequence
 * too, and a sink then wrote U+FFFD or the broken bytes). */
static size_t account_end(char *buf, size_t size, size_t len)
{
    if (len < size)
        return len;
    if (size < 4)
        return size - 1;
    size_t n = weir_utf8_whole(buf, size - 4);
    memcpy(buf + n, "...", 4);
    return n + 3;
}

size_t scorer_explain_account(const struct scorer_account *a, char *buf, size_t size, size_t len)
{
    unsigned char used[WEIR_SCHEMA_MAX] = {0};
    size_t shown = 0;
    double rest = 0;
    if (a->n > WEIR_SCHEMA_MAX) /* no operator has more inputs */
        return account_end(buf, size, len);
    for (int64_t n = 0; n < a->e->k && len < size; n++) {
        size_t k = next_input(a, used);
        if (k == a->n)
            break;
        len = one_input(a, k, shown++ == 0, buf, size, len);
    }
    for (size_t k = 0; k < a->n; k++)
        rest += used[k] ? 0 : a->share[k];
    if (len < size && shown < a->n) {
        if (!shown)
            len += (size_t)snprintf(buf + len, size - len, ": none %s it", a->verb);
        if (len < size)
            len += (size_t)snprintf(buf + len, size - len, "; the other %zu %+.6g", a->n - shown,
                                    rest);
    }
    return account_end(buf, size, len);
}

void scorer_explain_set(struct weir_batch *b, uint32_t i, int col, const char *text, size_t len)
{
    char *kept = text ? weir_arena_strdup(&b->arena, text, len) : NULL;
    b->S[(size_t)i * b->nstr + (size_t)col] = (struct weir_str){kept, kept ? (uint32_t)len : 0};
}
