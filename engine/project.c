/* Sink projections (see project.h). */
#include "engine/project.h"

#include "engine/batch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* JSON's whitespace is all below '!': one compare for the usual byte. */
static inline uint32_t skip_ws(const char *t, uint32_t len, uint32_t i)
{
    while (i < len && (unsigned char)t[i] <= ' ' &&
           (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
        i++;
    return i;
}

/* Whether any byte of v is a quote or a backslash (the classic "has a zero
 * byte" test on v XOR each of them). */
static inline uint64_t quote_or_backslash(uint64_t v)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = v ^ (ones * '"'), b = v ^ (ones * '\\');
    return ((q - ones) & ~q & highs) | ((b - ones) & ~b & highs);
}

static const unsigned char string_stop[256] = {['"'] = 1, ['\\'] = 1};

/* i at an opening quote; returns the index after the closing one. Eight
 * bytes at a time: the lowest flagged byte of quote_or_backslash() is the
 * first quote or backslash (borrows only flag bytes above a real one). */
static inline uint32_t skip_string(const char *t, uint32_t len, uint32_t i, int *escaped)
{
    for (i++; i < len;) {
        uint64_t v, m;
        while (i + 8 <= len) {
            memcpy(&v, t + i, 8);
            if ((m = quote_or_backslash(v))) {
                i += (uint32_t)__builtin_ctzll(m) / 8;
                goto found;
            }
            i += 8;
        }
        while (i < len && !string_stop[(unsigned char)t[i]])
            i++;
        if (i >= len)
            break;
    found:
        if (t[i] == '"')
            return i + 1;
        *escaped = 1;
        i += 2; /* the backslash and the byte it escapes */
    }
    return len;
}

/* Bytes that end a number or a literal: , } ] and JSON's whitespace. */
static const unsigned char ends_scalar[256] = {
    [','] = 1, ['}'] = 1, [']'] = 1, [' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1,
};

static uint32_t skip_value(const char *t, uint32_t len, uint32_t i)
{
    int esc = 0;
    if (i >= len)
        return len;
    if (t[i] == '"')
        return skip_string(t, len, i, &esc);
    if (t[i] == '{' || t[i] == '[') {
        int depth = 0;
        while (i < len) {
            char c = t[i];
            if (c == '"') {
                i = skip_string(t, len, i, &esc);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return len;
    }
    while (i < len && !ends_scalar[(unsigned char)t[i]])
        i++;
    return i;
}

/* Whitespace between tokens is rare in records: each skip is tried only
 * when the byte there could be whitespace. */
#define SKIP_WS(t, len, i) ((i) < (len) && (unsigned char)(t)[i] <= ' ' ? skip_ws(t, len, i) : (i))

int weir_jobject_next(const char *t, uint32_t len, uint32_t *pos, struct weir_jmember *m)
{
    uint32_t i = *pos;
    if (i == 0) {
        i = SKIP_WS(t, len, 0);
        if (i >= len || t[i] != '{')
            return 0;
        i++;
    }
    i = SKIP_WS(t, len, i);
    if (i < len && t[i] == ',') {
        i++;
        i = SKIP_WS(t, len, i);
    }
    if (i >= len || t[i] != '"')
        return 0;
    m->key_escaped = 0;
    m->key_off = i + 1;
    uint32_t end = skip_string(t, len, i, &m->key_escaped);
    m->key_len = end - 1 - m->key_off;
    i = SKIP_WS(t, len, end);
    if (i < len && t[i] == ':')
        i++;
    i = SKIP_WS(t, len, i);
    m->val_off = i;
    i = skip_value(t, len, i);
    m->val_len = i - m->val_off;
    *pos = i;
    return 1;
}

int weir_glob_is_pattern(const char *p)
{
    return strchr(p, '*') || strchr(p, '?');
}

/* The end of the UTF-8 character that starts at s[i]: '?' and '*' step
 * over characters (a name's "é" is one), not bytes. */
static size_t char_end(const char *s, size_t n, size_t i)
{
    for (i++; i < n && ((unsigned char)s[i] & 0xC0) == 0x80; i++)
        ;
    return i;
}

/* Iterative matching with one backtrack point: linear for the patterns
 * people write ("V*", "*_id", "TX_?RAUD*"). */
int weir_glob_match(const char *p, const char *s, size_t n)
{
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;
    while (i < n) {
        if (*p == '?') {
            p++;
            i = char_end(s, n, i);
        } else if (*p && *p != '*' && *p == s[i]) {
            p++;
            i++;
        } else if (*p == '*') {
            star = ++p;
            star_i = i;
        } else if (star) {
            p = star;
            i = star_i = char_end(s, n, star_i);
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

/* Field names are short and compared in full after a hit: the length and
 * the first and last eight bytes hash well enough, in a few cycles. */
static uint32_t hash(const char *s, uint32_t len)
{
    uint64_t a = 0, b = 0;
    memcpy(&a, s, len < 8 ? len : 8);
    if (len > 8)
        memcpy(&b, s + len - 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull) ^ len) * 0xBF58476D1CE4E5B9ull;
    return (uint32_t)(h >> 32);
}

static struct weir_proj_entry *slot(const struct weir_projection *pj, const char *s, uint32_t len)
{
    uint32_t k = hash(s, len) & pj->mask;
    while (pj->tab[k].name &&
           !(pj->tab[k].len == len && memcmp(pj->tab[k].name, s, len) == 0))
        k = (k + 1) & pj->mask;
    return &pj->tab[k];
}

/* Adds name with action unless it is there already (the first word wins). */
static void add(struct weir_projection *pj, const char *name, int32_t action)
{
    uint32_t len = (uint32_t)strlen(name);
    struct weir_proj_entry *e = slot(pj, name, len);
    if (e->name)
        return;
    e->name = name;
    e->len = len;
    e->action = action;
}

static int globs(const char *const *v, size_t n, const char ***out, size_t *nout)
{
    *nout = 0;
    *out = calloc(n ? n : 1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    for (size_t k = 0; k < n; k++)
        if (weir_glob_is_pattern(v[k]))
            (*out)[(*nout)++] = v[k];
    return 0;
}

int weir_projection_build(struct weir_projection *pj, const char *const *keep, size_t nkeep,
                          const char *const *drop, size_t ndrop, const char *const *appended,
                          size_t nappended)
{
    memset(pj, 0, sizeof *pj);
    size_t n = nkeep + ndrop + nappended, size = 16;
    while (size < 2 * n)
        size *= 2;
    pj->tab = calloc(size, sizeof *pj->tab);
    pj->mask = (uint32_t)size - 1;
    if (!pj->tab || globs(keep, nkeep, &pj->keep_globs, &pj->nkeep_globs) < 0 ||
        globs(drop, ndrop, &pj->drop_globs, &pj->ndrop_globs) < 0) {
        weir_projection_free(pj);
        return -ENOMEM;
    }
    static _Atomic uint64_t ids;
    pj->id = atomic_fetch_add(&ids, 1) + 1;
    pj->has_keep = nkeep > 0;
    /* An appended field replaces its namesake first; then exclude beats
     * fields, so "fields": ["V*"], "exclude": ["V1"] drops V1. */
    for (size_t k = 0; k < nappended; k++)
        add(pj, appended[k], (int32_t)k);
    for (size_t k = 0; k < ndrop; k++)
        if (!weir_glob_is_pattern(drop[k]))
            add(pj, drop[k], WEIR_PROJ_DROP);
    for (size_t k = 0; k < nkeep; k++)
        if (!weir_glob_is_pattern(keep[k]))
            add(pj, keep[k], WEIR_PROJ_KEEP);
    return 0;
}

void weir_projection_free(struct weir_projection *pj)
{
    free(pj->tab);
    free(pj->keep_globs);
    free(pj->drop_globs);
    memset(pj, 0, sizeof *pj);
}

static int any_glob(const char *const *g, size_t n, const char *key, uint32_t len)
{
    for (size_t k = 0; k < n; k++)
        if (weir_glob_match(g[k], key, len))
            return 1;
    return 0;
}

int32_t weir_projection_decide(const struct weir_projection *pj, const char *key, uint32_t len)
{
    const struct weir_proj_entry *e = slot(pj, key, len);
    if (e->name && e->action != WEIR_PROJ_KEEP)
        return e->action;
    if (any_glob(pj->drop_globs, pj->ndrop_globs, key, len))
        return WEIR_PROJ_DROP;
    if (e->name || !pj->has_keep || any_glob(pj->keep_globs, pj->nkeep_globs, key, len))
        return WEIR_PROJ_KEEP;
    return WEIR_PROJ_DROP;
}

/* Records of one stream nearly always have the same keys in the same order
 * (a CSV source's always): each thread remembers, per projection (by id, never
 * reused), the key and decision at each position of the last record, so a
 * record usually costs one short memcmp per key. */
#define CACHE_PROJECTIONS 4
#define CACHE_KEYS 64
#define CACHE_KEY_MAX 48

struct decide_cache {
    uint64_t id;
    uint8_t len[CACHE_KEYS]; /* 0xff: empty */
    int32_t act[CACHE_KEYS];
    char key[CACHE_KEYS][CACHE_KEY_MAX];
    uint64_t shape;                /* of the members member_act is for; 0: none */
    int32_t member_act[CACHE_KEYS]; /* by member of records of that shape */
};

static _Thread_local struct decide_cache caches[CACHE_PROJECTIONS];
static _Thread_local unsigned cache_next;

static struct decide_cache *cache_for(uint64_t id)
{
    for (unsigned k = 0; k < CACHE_PROJECTIONS; k++)
        if (caches[k].id == id)
            return &caches[k];
    struct decide_cache *c = &caches[cache_next++ % CACHE_PROJECTIONS];
    c->id = id;
    c->shape = 0;
    memset(c->len, 0xff, sizeof c->len);
    return c;
}

int32_t weir_projection_decide_nth(const struct weir_projection *pj, uint32_t nth,
                                   const char *key, uint32_t len)
{
    if (nth >= CACHE_KEYS || len >= CACHE_KEY_MAX)
        return weir_projection_decide(pj, key, len);
    struct decide_cache *c = cache_for(pj->id);
    if (c->len[nth] == len && memcmp(c->key[nth], key, len) == 0)
        return c->act[nth];
    int32_t act = weir_projection_decide(pj, key, len);
    c->len[nth] = (uint8_t)len;
    memcpy(c->key[nth], key, len);
    c->act[nth] = act;
    return act;
}

const int32_t *weir_projection_decide_members(const struct weir_projection *pj,
                                              const char *value, const struct weir_members *ms)
{
    if (!ms->shape || ms->n > CACHE_KEYS)
        return NULL;
    struct decide_cache *c = cache_for(pj->id);
    if (c->shape != ms->shape) {
        for (uint32_t k = 0; k < ms->n; k++) /* a listed member's key needs no unescaping */
            c->member_act[k] = weir_projection_decide(pj, value + ms->m[k].key_off,
                                                      ms->m[k].key_len);
        c->shape = ms->shape;
    }
    return c->member_act;
}
