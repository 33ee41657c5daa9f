/* The keyed state store against a brute-force model (arrays) over random
 * operations with fixed seeds: recency and eviction order, TTL expiry with
 * out-of-order clocks, byte bounds, dirty sets, snapshot round trips; then
 * corrupted blobs and out-of-memory at every
 * allocation (this binary is linked with --wrap=malloc,calloc,realloc). */
#include "engine/state.h"
#include "tests/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Fault injection: the allocation numbered fault_at (from 1) fails. */
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long fault_at; /* 0: off */
static int fault_hit;

static int fault_now(void)
{
    if (fault_at && --fault_at == 0) {
        fault_hit = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return fault_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fault_now() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return fault_now() ? NULL : __real_realloc(p, n);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(uint64_t n) /* [0, n) */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (rng * 0x2545f4914f6cdd1dull) % n;
}

/* The key pool: the empty key, NULs, prefixes of each other, three 64 KB keys
 * that differ in one byte, and random binary keys. */
#define NKEYS  240
#define LONGK  65536u
#define VMAX   64
#define KINDEX 1024

struct key {
    unsigned char *p;
    uint32_t len;
};
static struct key keys[NKEYS];
static int key_index[KINDEX]; /* open addressing over key ids, -1 empty */

/* FNV-1a over the first and last 32 bytes: enough to tell the pool apart. */
static uint32_t key_hash(const void *p, uint32_t len)
{
    const unsigned char *c = p;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < len; i = i == 31 && len > 64 ? len - 32 : i + 1)
        h = (h ^ c[i]) * 16777619u;
    return h ^ len;
}

static int key_id(const void *p, uint32_t len)
{
    for (uint32_t i = key_hash(p, len) % KINDEX;; i = (i + 1) % KINDEX) {
        int id = key_index[i];
        if (id < 0 || (keys[id].len == len && (!len || memcmp(keys[id].p, p, len) == 0)))
            return id;
    }
}

static void keys_make(void)
{
    static const char *fixed[] = {"", "\0", "\0\0", "ab", "ab\0", "a"};
    static const uint32_t fixed_len[] = {0, 1, 2, 2, 3, 1};
    memset(key_index, -1, sizeof key_index);
    for (int id = 0; id < NKEYS; id++) {
        struct key *k = &keys[id];
        if (id < 6) {
            k->len = fixed_len[id];
            k->p = malloc(k->len + 1);
            memcpy(k->p, fixed[id], k->len);
        } else if (id < 9) {
            k->len = LONGK;
            k->p = malloc(LONGK);
            memset(k->p, 'x', LONGK);
            k->p[id == 8 ? 0 : LONGK - 1] = (unsigned char)id;
        } else {
            do {
                k->len = 1 + (uint32_t)rnd(40);
                free(k->p);
                k->p = malloc(k->len);
                for (uint32_t i = 0; i < k->len; i++)
                    k->p[i] = rnd(3) ? (unsigned char)rnd(256) : 0;
            } while (key_id(k->p, k->len) >= 0);
        }
        uint32_t i = key_hash(k->p, k->len) % KINDEX;
        while (key_index[i] >= 0)
            i = (i + 1) % KINDEX;
        key_index[i] = id;
    }
}

/* The model ------------------------------------------------------------------ */

struct model {
    struct weir_state_conf c;
    int live[NKEYS], dirty[NKEYS], tomb[NKEYS];
    int64_t touched[NKEYS];
    uint64_t seq[NKEYS], clock, count, evicted;
    unsigned char val[NKEYS][VMAX];
};

static const struct model *sort_model;

/* Less recent first: the order of calls, or in a TTL map the touched time first. */
static int m_cmp(const void *a, const void *b)
{
    const struct model *m = sort_model;
    int x = *(const int *)a, y = *(const int *)b;
    if (m->c.evict == WEIR_EVICT_TTL && m->touched[x] != m->touched[y])
        return m->touched[x] < m->touched[y] ? -1 : 1;
    return m->seq[x] < m->seq[y] ? -1 : m->seq[x] > m->seq[y];
}

static int m_order(const struct model *m, int *order)
{
    int n = 0;
    for (int k = 0; k < NKEYS; k++)
        if (m->live[k])
            order[n++] = k;
    sort_model = m;
    qsort(order, n, sizeof *order, m_cmp);
    return n;
}

static void m_remove(struct model *m, int k)
{
    m->live[k] = m->dirty[k] = 0;
    m->tomb[k] = 1;
    m->count--;
}

/* Returns created. nevict: how many least recent entries an insert evicts. */
static int m_upsert(struct model *m, int k, int64_t now, uint64_t nevict)
{
    if (m->live[k]) {
        if (now > m->touched[k])
            m->touched[k] = now;
        m->seq[k] = ++m->clock;
        return 0;
    }
    int order[NKEYS];
    m_order(m, order);
    for (uint64_t i = 0; i < nevict; i++)
        m_remove(m, order[i]);
    m->evicted += nevict;
    m->live[k] = 1;
    m->tomb[k] = m->dirty[k] = 0;
    m->touched[k] = now;
    m->seq[k] = ++m->clock;
    memset(m->val[k], 0, VMAX);
    m->count++;
    return 1;
}

static void m_clean(struct model *m)
{
    memset(m->dirty, 0, sizeof m->dirty);
    memset(m->tomb, 0, sizeof m->tomb);
}

struct vctx {
    const struct model *m;
    int order[NKEYS], n, i, bad, seen[NKEYS];
};

static int each_cb(void *ctx, const void *key, uint32_t klen, const void *value)
{
    struct vctx *v = ctx;
    int id = key_id(key, klen);
    if (v->i >= v->n || id != v->order[v->i] || memcmp(value, v->m->val[id], v->m->c.value_size))
        v->bad++;
    v->i++;
    return 0;
}

static int dirty_cb(void *ctx, const void *key, uint32_t klen, const void *value)
{
    struct vctx *v = ctx;
    const struct model *m = v->m;
    int id = key_id(key, klen);
    if (id < 0 || v->seen[id]++)
        v->bad++;
    else if (!value)
        v->bad += !m->tomb[id] || m->live[id];
    else
        v->bad += !m->live[id] || !m->dirty[id] || memcmp(value, m->val[id], m->c.value_size);
    v->i++;
    return 0;
}

/* Everything the map says against the model; 1 when it all agrees. */
static int agrees(const struct model *m, const struct weir_state *s)
{
    static struct vctx v;
    memset(&v, 0, sizeof v);
    v.m = m;
    v.n = m_order(m, v.order);
    weir_state_foreach(s, each_cb, &v);
    int ok = weir_state_check(s) == 0 && weir_state_count(s) == m->count && v.n == (int)m->count &&
             v.i == v.n && !v.bad && weir_state_evicted(s) == m->evicted;
    v.i = 0;
    weir_state_foreach_dirty(s, dirty_cb, &v);
    int nd = 0;
    for (int k = 0; k < NKEYS; k++)
        nd += m->dirty[k] || m->tomb[k];
    ok &= !v.bad && v.i == nd && weir_state_dirty_count(s) == (uint64_t)nd;
    return ok;
}

/* Random operations on one configuration against the model. */
static void run_random(const char *name, struct weir_state_conf c, int nops, uint64_t seed)
{
    static struct model m;
    memset(&m, 0, sizeof m);
    m.c = c;
    rng = seed;
    struct weir_state *s;
    CHECK(weir_state_new(&s, &c) == 0);
    int ttl = c.evict == WEIR_EVICT_TTL, bad = 0, over = 0, created;
    int64_t base = 1000;
    uint64_t nexpired = 0, nevicted_ins = 0;
    unsigned char val[VMAX];
    for (int op = 0; op < nops && !bad; op++) {
        base += (int64_t)rnd(4);
        int64_t now = rnd(10) < 3 ? base - (int64_t)rnd(40) : base; /* out of order */
        int k = (int)rnd(NKEYS), r = (int)rnd(100);
        const struct key *key = &keys[k];
        if (r < 75) { /* get, or put */
            int put = r >= 55, mark = (int)rnd(2);
            for (uint32_t i = 0; i < c.value_size; i++)
                val[i] = (unsigned char)rnd(256);
            uint64_t ev0 = weir_state_evicted(s);
            unsigned char *p = NULL;
            if (put) {
                bad += weir_state_put(s, key->p, key->len, val, now, mark) != 0;
            } else {
                p = weir_state_get(s, key->p, key->len, now, &created);
                bad += p == NULL || (uintptr_t)p % 8 != 0;
            }
            uint64_t nev = weir_state_evicted(s) - ev0;
            if (!c.max_bytes) /* without a byte bound the model knows the count */
                bad += nev != (!m.live[k] && c.max_keys && m.count + 1 > c.max_keys);
            if (nev && (!c.max_bytes || !c.max_keys)) /* one bound: it is the one said */
                bad += weir_state_pushed_by(s) !=
                       (c.max_keys ? WEIR_STATE_BY_KEYS : WEIR_STATE_BY_BYTES);
            else if (nev) /* both: at least one, and max_keys only when it was reached */
                bad +=
                    !weir_state_pushed_by(s) || ((weir_state_pushed_by(s) & WEIR_STATE_BY_KEYS) &&
                                                 !(m.count + !m.live[k] > c.max_keys));
            nevicted_ins += nev;
            bad += weir_state_take_pushed_out(s) != nev; /* the bounds' evictions, each once */
            int mc = m_upsert(&m, k, now, nev);
            if (put) {
                memcpy(m.val[k], val, c.value_size);
                m.dirty[k] |= mark;
            } else {
                bad += created != mc;
                bad += memcmp(p, m.val[k], c.value_size) != 0; /* zeroed, or kept */
                memcpy(p, val, c.value_size);
                memcpy(m.val[k], val, c.value_size);
                m.dirty[k] = 1;
            }
            over += c.max_bytes && weir_state_bytes(s) > c.max_bytes;
        } else if (r < 85) {
            int rc = weir_state_del(s, key->p, key->len);
            bad += rc != (m.live[k] ? 0 : -ENOENT);
            if (m.live[k])
                m_remove(&m, k);
        } else if (r < 90) {
            int64_t cutoff = now - c.ttl_ms;
            uint64_t want = 0;
            for (int j = 0; j < NKEYS; j++)
                if (ttl && m.live[j] && m.touched[j] < cutoff) {
                    m_remove(&m, j);
                    want++;
                }
            m.evicted += want;
            nexpired += want;
            bad += weir_state_expire(s, now) != want;
            bad += weir_state_take_pushed_out(s) != 0; /* TTL is not a bound */
        } else if (r < 93) {
            weir_state_clean(s);
            m_clean(&m);
        } else if (r < 95) { /* snapshot round trip, twice the same bytes */
            struct weir_buf b = {0}, b2 = {0};
            bad += weir_state_snapshot(s, &b) != 0;
            bad += weir_state_restore(s, b.data, b.len) != 0;
            bad += weir_state_snapshot(s, &b2) != 0;
            bad += b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0;
            m_clean(&m);
            if (!c.max_bytes) { /* a fresh map has the same contents */
                struct weir_state *t;
                CHECK(weir_state_new(&t, &c) == 0);
                weir_buf_reset(&b2);
                bad += weir_state_restore(t, b.data, b.len) != 0;
                bad += weir_state_snapshot(t, &b2) != 0;
                bad += b.len != b2.len || memcmp(b.data, b2.data, b.len) != 0;
                bad += weir_state_dirty_count(t) != 0;
                weir_state_free(t);
            }
            weir_buf_free(&b);
            weir_buf_free(&b2);
        } else {
            const unsigned char *p = weir_state_find(s, key->p, key->len);
            bad += m.live[k] ? !p || memcmp(p, m.val[k], c.value_size) : p != NULL;
        }
        if (!agrees(&m, s)) {
            fprintf(stderr, "%s: disagrees after op %d (r %d, key %d)\n", name, op, r, k);
            bad++;
        }
    }
    CHECK(bad == 0);
    CHECK(over == 0);
    printf("%s: %d ops, %llu keys left, %llu evicted on insert, %llu expired\n", name, nops,
           (unsigned long long)m.count, (unsigned long long)nevicted_ins,
           (unsigned long long)nexpired);
    weir_state_free(s);
}

static void test_random(void)
{
    run_random("lru max_keys", (struct weir_state_conf){.value_size = 24, .max_keys = 50}, 20000,
               1);
    run_random("lru unbounded", (struct weir_state_conf){.value_size = 8}, 20000, 2);
    run_random("ttl max_keys",
               (struct weir_state_conf){
                   .value_size = 16, .max_keys = 80, .evict = WEIR_EVICT_TTL, .ttl_ms = 100},
               20000, 3);
    run_random("lru max_bytes", (struct weir_state_conf){.value_size = 40, .max_bytes = 160000},
               20000, 4);
    run_random("lru max_keys and max_bytes",
               (struct weir_state_conf){.value_size = 40, .max_keys = 150, .max_bytes = 90000},
               20000, 6);
    run_random("ttl max_bytes value 0",
               (struct weir_state_conf){.max_bytes = 150000, .evict = WEIR_EVICT_TTL, .ttl_ms = 50},
               20000, 5);
}

/* Small cases by hand --------------------------------------------------------- */

static int collect_cb(void *ctx, const void *key, uint32_t klen, const void *value)
{
    char *out = ctx;
    strncat(out, key, klen);
    strcat(out, value ? "," : "-,");
    return 0;
}

static int stop_cb(void *ctx, const void *key, uint32_t klen, const void *value)
{
    *(int *)ctx = (int)klen;
    return 7;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Keys in recency order, or the dirty ones ("k," changed, "k-," deleted) sorted. */
static const char *order_of(const struct weir_state *s, int dirty)
{
    static char out[256];
    out[0] = '\0';
    if (dirty) {
        weir_state_foreach_dirty(s, collect_cb, out);
        size_t n = strlen(out);
        char *items[64], buf[256];
        int k = 0;
        for (char *save, *t = strtok_r(out, ",", &save); t; t = strtok_r(NULL, ",", &save))
            items[k++] = t;
        qsort(items, k, sizeof *items, cmp_str);
        buf[0] = '\0';
        for (int i = 0; i < k; i++)
            strcat(strcat(buf, items[i]), ",");
        memcpy(out, buf, n + 1);
    } else {
        weir_state_foreach(s, collect_cb, out);
    }
    return out;
}

static void test_by_hand(void)
{
    struct weir_state *s;
    struct weir_state_conf c = {.value_size = 8, .max_keys = 3};
    CHECK(weir_state_new(&s, &(struct weir_state_conf){.evict = 7}) == -EINVAL);
    CHECK(weir_state_new(&s, &(struct weir_state_conf){.evict = WEIR_EVICT_TTL}) == -EINVAL);
    CHECK(weir_state_new(&s, &(struct weir_state_conf){.ttl_ms = -1}) == -EINVAL);
    CHECK(weir_state_new(&s, &(struct weir_state_conf){.value_size = 1u << 31}) == -EINVAL);
    weir_state_free(NULL);

    /* LRU: a touch saves b from eviction; the evicted key is a tombstone. */
    CHECK(weir_state_new(&s, &c) == 0);
    int created = -1;
    uint64_t *v = weir_state_get(s, "a", 1, 0, &created);
    CHECK(v && *v == 0 && created == 1 && ((uintptr_t)v % 8) == 0);
    *v = 42;
    weir_state_get(s, "b", 1, 0, NULL);
    weir_state_get(s, "c", 1, 0, NULL);
    v = weir_state_get(s, "a", 1, 0, &created);
    CHECK(created == 0 && *v == 42);
    CHECK_STR(order_of(s, 0), "b,c,a,");
    CHECK(weir_state_foreach(s, stop_cb, &created) == 7 && created == 1); /* stops at once */
    weir_state_clean(s);
    weir_state_get(s, "d", 1, 0, NULL);
    CHECK_STR(order_of(s, 0), "c,a,d,");
    CHECK_STR(order_of(s, 1), "b-,d,");
    CHECK(weir_state_evicted(s) == 1 && weir_state_dirty_count(s) == 2);
    CHECK(weir_state_find(s, "b", 1) == NULL);
    weir_state_get(s, "b", 1, 0, NULL); /* back: a dirty entry, no longer a tombstone */
    CHECK_STR(order_of(s, 1), "b,c-,d,");
    CHECK(weir_state_del(s, "zz", 2) == -ENOENT);
    CHECK(weir_state_del(s, "b", 1) == 0);
    CHECK(weir_state_count(s) == 2 && weir_state_evicted(s) == 2); /* del is no eviction */
    CHECK(weir_state_check(s) == 0);
    weir_state_clear(s);
    CHECK(weir_state_count(s) == 0 && weir_state_dirty_count(s) == 0);
    CHECK(weir_state_expire(s, INT64_MAX) == 0);
    weir_state_free(s);

    /* TTL: recency by the caller's clock; a late touch does not go back in time. */
    c = (struct weir_state_conf){.value_size = 8, .evict = WEIR_EVICT_TTL, .ttl_ms = 100};
    CHECK(weir_state_new(&s, &c) == 0);
    weir_state_get(s, "a", 1, 1000, NULL);
    weir_state_get(s, "b", 1, 1050, NULL);
    weir_state_get(s, "c", 1, 990, NULL);  /* late: goes behind a */
    weir_state_get(s, "b", 1, 900, NULL);  /* stays at 1050 */
    weir_state_get(s, "d", 1, 1000, NULL); /* same time as a, later call */
    CHECK_STR(order_of(s, 0), "c,a,d,b,");
    weir_state_clean(s);
    CHECK(weir_state_expire(s, 1090) == 0);
    CHECK(weir_state_expire(s, 1095) == 1); /* c: 990 < 995 */
    CHECK(weir_state_expire(s, 1100) == 0); /* 1000 is not < 1000 */
    CHECK(weir_state_expire(s, 1101) == 2);
    CHECK_STR(order_of(s, 0), "b,");
    CHECK(weir_state_evicted(s) == 3 && weir_state_dirty_count(s) == 3);
    CHECK(weir_state_expire(s, INT64_MIN) == 0);
    weir_state_free(s);

    /* An entry too big for max_bytes alone still gets in, alone. */
    c = (struct weir_state_conf){.value_size = 8, .max_bytes = 2000};
    CHECK(weir_state_new(&s, &c) == 0);
    weir_state_get(s, "a", 1, 0, NULL);
    CHECK(weir_state_bytes(s) <= 2000);
    CHECK(weir_state_get(s, keys[6].p, keys[6].len, 0, NULL) != NULL);
    CHECK(weir_state_count(s) == 1 && weir_state_find(s, "a", 1) == NULL);
    CHECK(weir_state_get(s, "b", 1, 0, NULL) != NULL);
    CHECK(weir_state_count(s) == 1 && weir_state_bytes(s) <= 2000);
    CHECK(weir_state_tombstone_bytes(s) > 0);
    weir_state_free(s);
}

/* A map no changelog reads: lookups mark nothing dirty; an eviction is
 * still remembered (until clean), and the invariants hold. */
static void test_no_changelog(void)
{
    struct weir_state *s;
    struct weir_state_conf c = {.value_size = 8, .max_keys = 2, .no_changelog = 1};
    CHECK(weir_state_new(&s, &c) == 0);
    uint64_t *v = weir_state_get(s, "a", 1, 0, NULL);
    *v = 7;
    weir_state_get(s, "b", 1, 0, NULL);
    CHECK(weir_state_dirty_count(s) == 0 && weir_state_count(s) == 2);
    weir_state_get(s, "c", 1, 0, NULL); /* evicts a */
    CHECK(weir_state_dirty_count(s) == 1 && weir_state_evicted(s) == 1);
    CHECK_STR(order_of(s, 1), "a-,");
    CHECK(weir_state_check(s) == 0);
    weir_state_clean(s);
    CHECK(weir_state_dirty_count(s) == 0 && weir_state_check(s) == 0);
    weir_state_free(s);
}

/* Blobs: every truncation, every corruption, wrong value_size, oversized. */
static void test_blobs(void)
{
    struct weir_state *s, *t, *other;
    struct weir_state_conf c = {.value_size = 12};
    CHECK(weir_state_new(&s, &c) == 0);
    CHECK(weir_state_new(&t, &c) == 0);
    CHECK(weir_state_new(&other, &(struct weir_state_conf){.value_size = 16}) == 0);
    for (int k = 0; k < 12; k++)
        if (k < 6 || k > 8)
            memset(weir_state_get(s, keys[k].p, keys[k].len, k * 7 - 30, NULL), k, 12);
    struct weir_buf b = {0}, b2 = {0};
    CHECK(weir_state_snapshot(s, &b) == 0);
    CHECK(memcmp(b.data, "WSTA\1\0\0\0\14\0\0\0\11\0\0\0\0\0\0\0", 20) == 0);
    CHECK(weir_state_restore(t, b.data, b.len) == 0 && weir_state_count(t) == 9);
    CHECK(weir_state_snapshot(t, &b2) == 0 && b2.len == b.len);
    CHECK(memcmp(b.data, b2.data, b.len) == 0);
    CHECK(weir_state_dirty_count(t) == 0 && weir_state_check(t) == 0);
    CHECK(weir_state_restore(other, b.data, b.len) == -EINVAL);

    int bad = 0;
    for (size_t len = 0; len < b.len; len++) {
        weir_state_get(t, "x", 1, 0, NULL); /* restore must empty it */
        bad += weir_state_restore(t, b.data, len) != -EINVAL || weir_state_count(t) != 0;
        bad += weir_state_dirty_count(t) != 0 || weir_state_check(t) != 0;
    }
    CHECK(bad == 0);
    CHECK(weir_buf_append(&b, "", 1) == 0);
    CHECK(weir_state_restore(t, b.data, b.len) == -EINVAL && weir_state_count(t) == 0);
    b.len--;
    /* Flip each byte: a header or length byte gives -EINVAL, a value byte a
     * different map; either way consistent and leak-free. */
    bad = 0;
    int rejected = 0;
    for (size_t i = 0; i < b.len; i++) {
        b.data[i] ^= 0x5a;
        int rc = weir_state_restore(t, b.data, b.len);
        bad += (rc != 0 && rc != -EINVAL) || weir_state_check(t) != 0;
        bad += rc != 0 && weir_state_count(t) != 0;
        rejected += rc != 0;
        b.data[i] ^= 0x5a;
        if (i < 20)
            bad += rc != -EINVAL; /* magic, version, value_size, count */
    }
    CHECK(bad == 0);
    CHECK(rejected > 20);
    /* The same key twice is not a blob we wrote. */
    weir_state_clear(s);
    weir_state_get(s, "k", 1, 0, NULL);
    weir_buf_reset(&b);
    CHECK(weir_state_snapshot(s, &b) == 0);
    size_t one = b.len - 20;
    CHECK(weir_buf_append(&b, b.data + 20, one) == 0);
    b.data[12] = 2;
    CHECK(weir_state_restore(t, b.data, b.len) == -EINVAL && weir_state_count(t) == 0);
    b.data[12] = (char)0xff; /* a count the bytes cannot hold */
    CHECK(weir_state_restore(t, b.data, b.len) == -EINVAL);
    CHECK(weir_state_restore(t, NULL, 0) == -EINVAL);
    weir_buf_free(&b);
    weir_buf_free(&b2);
    weir_state_free(s);
    weir_state_free(t);
    weir_state_free(other);
}

/* Out of memory at every allocation ------------------------------------------ */

#define OOM_VSIZE 24
static struct weir_buf oom_blob;

static int describe_cb(void *ctx, const void *key, uint32_t klen, const void *value)
{
    struct weir_buf *b = ctx;
    weir_buf_append(b, &klen, sizeof klen);
    weir_buf_append(b, key, klen);
    weir_buf_append(b, value ? "v" : "t", 1);
    if (value)
        weir_buf_append(b, value, OOM_VSIZE);
    return 0;
}

/* Contents, recency, touched times, dirt and counters, as bytes to compare. */
static void describe(const struct weir_state *s, struct weir_buf *b)
{
    weir_buf_reset(b);
    weir_state_snapshot(s, b);
    weir_state_foreach_dirty(s, describe_cb, b);
    uint64_t n[4] = {weir_state_count(s), weir_state_evicted(s), weir_state_dirty_count(s),
                     weir_state_bytes(s)};
    weir_buf_append(b, n, sizeof n);
}

static int same(const struct weir_buf *a, const struct weir_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void put_keys(struct weir_state *s, const char *prefix, int n, int del)
{
    char k[16];
    for (int i = 0; i < n; i++) {
        int len = snprintf(k, sizeof k, "%s%d", prefix, i);
        memset(weir_state_get(s, k, (uint32_t)len, i, NULL), i, OOM_VSIZE);
        if (del)
            weir_state_del(s, k, (uint32_t)len);
    }
}

/* 12 keys: the table is at its load limit; k12 is a tombstone. */
static void build_full_table(struct weir_state **s)
{
    weir_state_new(s, &(struct weir_state_conf){.value_size = OOM_VSIZE});
    memset(weir_state_get(*s, "k12", 3, 0, NULL), 1, OOM_VSIZE);
    weir_state_del(*s, "k12", 3);
    put_keys(*s, "k", 12, 0);
}

/* max_keys 12 reached, 12 tombstones (that table at its load limit too). */
static void build_bounded(struct weir_state **s)
{
    weir_state_new(s, &(struct weir_state_conf){.value_size = OOM_VSIZE, .max_keys = 12});
    put_keys(*s, "d", 12, 1);
    put_keys(*s, "k", 12, 0);
}

/* TTL 10 ms, 30 keys touched at 0..29. */
static void build_ttl(struct weir_state **s)
{
    weir_state_new(s, &(struct weir_state_conf){
                          .value_size = OOM_VSIZE, .evict = WEIR_EVICT_TTL, .ttl_ms = 10});
    put_keys(*s, "t", 30, 0);
}

static int op_get_k12(struct weir_state *s)
{
    int created = -1;
    void *v = weir_state_get(s, "k12", 3, 5, &created);
    return v && created == 1 ? 0 : !v && created == 0 ? -ENOMEM : -EIO;
}

static int op_get_d5(struct weir_state *s)
{
    return weir_state_get(s, "d5", 2, 50, NULL) ? 0 : -ENOMEM;
}

static int op_put_d5(struct weir_state *s)
{
    static const char v[OOM_VSIZE] = "restored";
    return weir_state_put(s, "d5", 2, v, 50, 0);
}

static int op_del_k3(struct weir_state *s)
{
    return weir_state_del(s, "k3", 2);
}

static int op_expire(struct weir_state *s)
{
    weir_state_expire(s, 30); /* touched < 20: 20 of them, maybe fewer when out of memory */
    return weir_state_count(s) == 10 ? 0 : -ENOMEM;
}

static int op_restore(struct weir_state *s)
{
    return weir_state_restore(s, oom_blob.data, oom_blob.len);
}

static int op_snapshot(struct weir_state *s)
{
    struct weir_buf b = {0};
    int rc = weir_state_snapshot(s, &b);
    int ok = rc == 0 ? b.len > 20 : b.len == 0;
    weir_buf_free(&b);
    return ok ? rc : -EIO;
}

enum { OOM_EMPTIES = 1, OOM_PARTIAL = 2 };

/* For N = 1, 2, ... until no allocation fails: the N-th allocation of op
 * fails; op must then report -ENOMEM and leave the map as it was (or empty,
 * or partly done), consistent, and able to finish the job when retried. */
static void oom_case(const char *name, void (*build)(struct weir_state **),
                     int (*op)(struct weir_state *), int flags)
{
    struct weir_state *s;
    struct weir_buf want = {0}, before = {0}, got = {0};
    build(&s);
    CHECK(op(s) == 0);
    describe(s, &want);
    weir_state_free(s);
    int bad = 0, errors = 0;
    long n;
    for (n = 1; n < 100000; n++) {
        build(&s);
        describe(s, &before);
        fault_hit = 0;
        fault_at = n;
        int rc = op(s);
        fault_at = 0;
        bad += weir_state_check(s) != 0;
        describe(s, &got);
        if (rc == 0) {
            bad += !same(&got, &want);
        } else {
            errors++;
            bad += rc != -ENOMEM;
            if (flags & OOM_EMPTIES)
                bad += weir_state_count(s) != 0 || weir_state_dirty_count(s) != 0;
            else if (!(flags & OOM_PARTIAL))
                bad += !same(&got, &before);
            bad += op(s) != 0;
            describe(s, &got);
            if (flags & OOM_EMPTIES) /* what a failed restore evicted stays counted */
                memcpy(got.data + got.len - 24, want.data + want.len - 24, 8);
            bad += !same(&got, &want);
        }
        weir_state_free(s);
        if (!fault_hit)
            break;
    }
    if (bad)
        fprintf(stderr, "out of memory in %s: %d disagreements\n", name, bad);
    CHECK(bad == 0);
    CHECK(errors > 0);
    printf("out of memory in %s: %ld allocations, %d failed cleanly\n", name, n - 1, errors);
    weir_buf_free(&want);
    weir_buf_free(&before);
    weir_buf_free(&got);
}

static void test_oom(void)
{
    struct weir_state *s;
    int bad = 0;
    long n;
    for (n = 1;; n++) {
        fault_hit = 0;
        fault_at = n;
        int rc = weir_state_new(&s, &(struct weir_state_conf){.value_size = 8});
        fault_at = 0;
        bad += rc != (fault_hit ? -ENOMEM : 0);
        if (!fault_hit)
            break;
    }
    weir_state_free(s);
    CHECK(bad == 0 && n == 3);

    CHECK(weir_state_new(&s, &(struct weir_state_conf){.value_size = OOM_VSIZE}) == 0);
    put_keys(s, "r", 100, 0);
    CHECK(weir_state_snapshot(s, &oom_blob) == 0);
    weir_state_free(s);

    oom_case("get (table grows, tombstone dropped)", build_full_table, op_get_k12, 0);
    oom_case("get (evicts, tombstone table grows)", build_bounded, op_get_d5, 0);
    oom_case("put", build_bounded, op_put_d5, 0);
    oom_case("del", build_bounded, op_del_k3, 0);
    oom_case("expire", build_ttl, op_expire, OOM_PARTIAL);
    oom_case("restore (table grows)", build_full_table, op_restore, OOM_EMPTIES);
    oom_case("restore (over max_keys)", build_bounded, op_restore, OOM_EMPTIES);
    oom_case("snapshot", build_bounded, op_snapshot, 0);
    weir_buf_free(&oom_blob);
}

int main(void)
{
    keys_make();
    test_by_hand();
    test_no_changelog();
    test_blobs();
    test_random();
    test_oom();
    for (int k = 0; k < NKEYS; k++)
        free(keys[k].p);
    return check_summary();
}
