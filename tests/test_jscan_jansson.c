/* Cross-check of engine/jscan against jansson on generated and mutated
 * records: both must accept and reject the same records and find the same
 * values, apart from the differences listed below.
 *
 * Known, intended differences from jansson (2.14), shown in
 * test_jansson_differences; the cross-check allows them and nothing else:
 *  - jansson rejects integers beyond int64 ("too big integer") and reals
 *    beyond double ("real number overflow"); RFC 8259 allows them and
 *    weir_jscan_run accepts them (weir_jnum_parse then says -ERANGE).
 *  - jansson rejects \u0000 in object keys; weir accepts it (the pointer
 *    compares decoded bytes).
 *  - jansson nests up to 2048 levels, weir up to 64 (tested separately).
 *  - jansson skips one NUL byte right after a number or a literal (its lexer
 *    loses a pushed-back NUL): it accepts "[1\0]"; weir rejects any NUL
 *    outside strings, as RFC 8259 does.
 * The cross-check calls jansson with JSON_DECODE_ANY (scalars at top level),
 * JSON_ALLOW_NUL (\u0000 in string values), both of which RFC 8259 allows,
 * and JSON_DECODE_INT_AS_REAL (so big integers do not mask later errors). */
#include "engine/jscan.h"
#include "tests/jscan_test_util.h"
#include "tests/check.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- cross-check against jansson ----------------------------------------- */

struct gen {
    char *p;
    size_t n, cap;
};

static void g_put(struct gen *g, const char *s, size_t n)
{
    if (g->n + n + 1 > g->cap) {
        g->cap = (g->n + n + 1) * 2;
        g->p = realloc(g->p, g->cap);
    }
    memcpy(g->p + g->n, s, n);
    g->n += n;
}

static void g_str(struct gen *g, const char *s)
{
    g_put(g, s, strlen(s));
}

static void g_ws(struct gen *g)
{
    static const char *ws[] = {"", "", "", " ", "\n", " \t", "\r\n  "};
    g_str(g, ws[rndn(7)]);
}

static const char *key_vocab[] = {"a", "b", "c", "x/y", "m~n", "caf\xC3\xA9", "", "0", "1", "id"};

/* in_key: no \u0000, which jansson refuses in keys (and would then not
 * look at the rest of the record). */
static void g_string_body(struct gen *g, int in_key)
{
    static const char *pieces[] = {
        "a",
        "b",
        "hello",
        " ",
        "\\n",
        "\\\"",
        "\\\\",
        "\\/",
        "\\u00e9",
        "\\ud83d\\ude00",
        "\xC3\xA9",
        "\xE2\x82\xAC",
        "\xF0\x9F\x98\x80",
        "0123456789abcdef",
        "\\t",
        "\\u0000",
        "\x7F",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    };
    for (int k = (int)rndn(6); k > 0; k--) {
        const char *piece = pieces[rndn(sizeof pieces / sizeof *pieces)];
        g_str(g, in_key && strcmp(piece, "\\u0000") == 0 ? "\\u0001" : piece);
    }
}

static void g_key(struct gen *g)
{
    g_str(g, "\"");
    unsigned r = rndn(12);
    if (r < 10) {
        const char *k = key_vocab[r];
        if (r == 0 && rndn(3) == 0)
            g_str(g, "\\u0061"); /* "a", escaped */
        else if (r == 3 && rndn(2))
            g_str(g, "x\\/y");
        else
            g_str(g, k);
    } else {
        g_string_body(g, 1);
    }
    g_str(g, "\"");
}

static void g_value(struct gen *g, int depth)
{
    unsigned r = rndn(depth < 5 ? 10 : 6);
    char num[80];
    switch (r) {
    case 0: g_str(g, "null"); break;
    case 1: g_str(g, rndn(2) ? "true" : "false"); break;
    case 2:
    case 3: g_put(g, num, (size_t)random_decimal(num, 250)); break;
    case 4:
    case 5:
        g_str(g, "\"");
        g_string_body(g, 0);
        g_str(g, "\"");
        break;
    case 6:
    case 7: {
        g_str(g, "{");
        int n = (int)rndn(5);
        for (int i = 0; i < n; i++) {
            if (i)
                g_str(g, ",");
            g_ws(g);
            g_key(g);
            g_ws(g);
            g_str(g, ":");
            g_ws(g);
            g_value(g, depth + 1);
            g_ws(g);
        }
        g_str(g, "}");
        break;
    }
    default: {
        g_str(g, "[");
        int n = (int)rndn(5);
        for (int i = 0; i < n; i++) {
            if (i)
                g_str(g, ",");
            g_ws(g);
            g_value(g, depth + 1);
            g_ws(g);
        }
        g_str(g, "]");
        break;
    }
    }
}

static void mutate(struct gen *g)
{
    static const char interesting[] = "\"\\{}[],:0-.eE+ \x01\x80\xC3\xED\xF0\xFFuntf1";
    size_t pos = g->n ? rndn((unsigned)g->n) : 0;
    switch (rndn(5)) {
    case 0: /* delete */
        if (g->n) {
            memmove(g->p + pos, g->p + pos + 1, g->n - pos - 1);
            g->n--;
        }
        break;
    case 1: { /* insert */
        char c = interesting[rndn(sizeof interesting - 1)];
        g_put(g, " ", 1);
        memmove(g->p + pos + 1, g->p + pos, g->n - 1 - pos);
        g->p[pos] = c;
        break;
    }
    case 2: /* replace */
        if (g->n)
            g->p[pos] = rndn(4) ? interesting[rndn(sizeof interesting - 1)] : (char)rndn(256);
        break;
    case 3: /* truncate */ g->n = pos; break;
    default: /* swap two bytes */
        if (g->n > 1) {
            size_t q = rndn((unsigned)g->n);
            char t = g->p[pos];
            g->p[pos] = g->p[q];
            g->p[q] = t;
        }
        break;
    }
}

/* Resolves an RFC 6901 pointer on a jansson tree. */
static json_t *j_resolve(json_t *root, const char *ptr)
{
    json_t *cur = root;
    const char *p = ptr;
    char seg[256];
    while (cur && *p == '/') {
        const char *e = strchr(p + 1, '/');
        size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1), k = 0;
        for (size_t i = 0; i < n; i++) {
            if (p[1 + i] == '~') {
                seg[k++] = p[2 + i] == '0' ? '~' : '/';
                i++;
            } else {
                seg[k++] = p[1 + i];
            }
        }
        seg[k] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_getn(cur, seg, k);
        } else if (json_is_array(cur)) {
            int canon = k > 0 && (seg[0] != '0' || k == 1);
            for (size_t i = 0; i < k; i++)
                canon &= seg[i] >= '0' && seg[i] <= '9';
            cur = canon && k < 10 ? json_array_get(cur, (size_t)atol(seg)) : NULL;
        } else {
            cur = NULL;
        }
        p += 1 + n;
    }
    return cur;
}

static int j_agrees(const char *rec, const struct weir_jval *v, json_t *j)
{
    if (!j)
        return v->type == WEIR_JMISSING;
    switch (json_typeof(j)) {
    case JSON_NULL: return v->type == WEIR_JNULL;
    case JSON_TRUE: return v->type == WEIR_JTRUE;
    case JSON_FALSE: return v->type == WEIR_JFALSE;
    case JSON_INTEGER:
    case JSON_REAL: {
        double d;
        if (v->type != WEIR_JNUMBER || weir_jval_number(rec, v, &d) != 0)
            return 0;
        return d == json_number_value(j);
    }
    case JSON_STRING: {
        if (v->type != WEIR_JSTRING)
            return 0;
        char *buf = malloc(v->len + 1);
        size_t n = weir_jstr_unescape(rec + v->off, v->len, buf);
        int ok = n == json_string_length(j) && memcmp(buf, json_string_value(j), n) == 0;
        free(buf);
        return ok;
    }
    case JSON_OBJECT:
    case JSON_ARRAY: {
        if (v->type != (json_is_object(j) ? WEIR_JOBJECT : WEIR_JARRAY))
            return 0;
        json_error_t e;
        json_t *sub = json_loadb(rec + v->off, v->len,
                                 JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &e);
        int ok = sub && json_equal(sub, j);
        json_decref(sub);
        return ok;
    }
    }
    return 0;
}

static void test_jansson_differences(void)
{
    static const char *texts[] = {"[123456789012345678901234]", "[-9223372036854775809]", "[1e999]",
                                  "{\"a\\u0000b\":1}"};
    struct weir_jscan *s = compile((const char *[]){"/0"}, 1);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        json_error_t jerr;
        struct weir_jval v[1];
        json_t *j = json_loadb(texts[i], strlen(texts[i]), JSON_ALLOW_NUL, &jerr);
        CHECK(j == NULL);
        CHECK(run(s, texts[i], v, NULL) == 0);
        json_decref(j);
    }
    struct weir_jval v[1];
    double d;
    CHECK(run(s, texts[2], v, NULL) == 0 && weir_jval_number(texts[2], v, &d) == -ERANGE);
    /* jansson's NUL quirk */
    json_error_t jerr;
    json_t *j = json_loadb("[1\0]", 4, JSON_DECODE_ANY, &jerr);
    CHECK(j != NULL);
    json_decref(j);
    struct weir_jscan_fail f;
    CHECK(weir_jscan_run(s, "[1\0]", 4, v, &f) == -EINVAL);
    CHECK_STR(f.reason, "expected ',' or ']' in array");
    CHECK(f.offset == 2);
    weir_jscan_free(s);
}

/* Whether weir's rejection at off is only jansson's NUL quirk: a NUL right
 * after a number or literal, without which weir accepts the record. */
static int nul_skipped_by_jansson(const struct weir_jscan *s, const struct gen *g, size_t off)
{
    if (off == 0 || off >= g->n || g->p[off] != '\0' || !strchr("0123456789el", g->p[off - 1]))
        return 0;
    char *copy = malloc(g->n);
    memcpy(copy, g->p, off);
    memcpy(copy + off, g->p + off + 1, g->n - off - 1);
    struct weir_jval v[16];
    int rc = weir_jscan_run(s, copy, g->n - 1, v, NULL);
    free(copy);
    return rc == 0;
}

static void test_jansson_crosscheck(void)
{
    const char *ptrs[] = {"",      "/a",           "/b", "/a/b", "/a/0", "/b/1", "/c/a/b", "/x~1y",
                          "/m~0n", "/caf\xC3\xA9", "/",  "/0",   "/1/a", "/a/-", "/id"};
    enum { N = sizeof ptrs / sizeof *ptrs };
    struct weir_jscan *s = compile(ptrs, N);
    struct gen g = {0};
    long accepted = 0, rejected = 0, disagree = 0, value_bad = 0, found = 0;
    long nul_key = 0, overflow = 0, nul_after = 0;
    for (int i = 0; i < 200000; i++) {
        g.n = 0;
        g_ws(&g);
        g_value(&g, 0);
        g_ws(&g);
        if (i % 2)
            for (int m = 1 + (int)rndn(2); m > 0; m--)
                mutate(&g);
        struct weir_jval v[N];
        struct weir_jscan_fail f = {0, NULL};
        int rc = weir_jscan_run(s, g.p, g.n, v, &f);
        json_error_t jerr;
        json_t *j =
            json_loadb(g.p, g.n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
        if ((rc == 0) != (j != NULL)) {
            if (rc == 0 && strstr(jerr.text, "real number overflow")) {
                overflow++;
            } else if (rc == 0 && strstr(jerr.text, "NUL byte in object key")) {
                nul_key++;
            } else if (rc != 0 && nul_skipped_by_jansson(s, &g, f.offset)) {
                nul_after++;
            } else if (disagree++ < 10) {
                fprintf(stderr, "disagree: weir %s (%s @%zu), jansson %s (%s): [%.*s]\n",
                        rc ? "rejects" : "accepts", rc ? f.reason : "", f.offset,
                        j ? "accepts" : "rejects", j ? "" : jerr.text, (int)g.n, g.p);
            }
        } else if (rc == 0) {
            accepted++;
            for (int k = 0; k < N; k++) {
                json_t *jv = j_resolve(j, ptrs[k]);
                found += jv != NULL;
                if (!j_agrees(g.p, &v[k], jv) && value_bad++ < 10)
                    fprintf(stderr, "value of %s differs (type %d): [%.*s]\n", ptrs[k], v[k].type,
                            (int)g.n, g.p);
            }
        } else {
            rejected++;
        }
        json_decref(j);
    }
    printf("jansson cross-check: %ld both accept (%ld pointer hits), %ld both reject, "
           "documented differences: %ld \\u0000 in keys, %ld real overflows, %ld NULs "
           "after a token; %ld disagreements, %ld value mismatches\n",
           accepted, found, rejected, nul_key, overflow, nul_after, disagree, value_bad);
    CHECK(disagree == 0);
    CHECK(value_bad == 0);
    CHECK(accepted > 50000 && rejected > 20000 && found > 50000); /* the test tests something */
    free(g.p);
    weir_jscan_free(s);
}

int main(void)
{
    test_jansson_differences();
    test_jansson_crosscheck();
    return check_summary();
}
