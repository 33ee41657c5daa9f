/* Tests for engine/state_pool.c (huge-page chunks for state entries) and
 * for the state store once its entries come from it.
 *
 * The pool alone: random allocations and frees of mixed sizes against a
 * list of what is live; every block 16-byte aligned, inside a 2 MiB-aligned
 * chunk the pool owns, filled with its own pattern and found intact when
 * freed (no two blocks overlap); a freed block is the next one of its size;
 * sizes beyond the limit are refused; release unmaps everything.
 *
 * The store past the size where the pool takes over (4 MiB of entries):
 * random get/put/del with an LRU bound that evicts, clean() that frees the
 * tombstones (shrunk ones too), a snapshot and restore, clear — checked
 * against a brute-force array of every key's expected value, with
 * weir_state_check's invariants and weir_state_bytes equal to the same
 * accounting as malloc'd entries (what was asked, rounded as glibc does). */
#include "engine/state.h"
#include "engine/state_internal.h"
#include "engine/buf.h"
#include "tests/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPLITMIX_SEED 0x853C49E6748FEA9Bull
#include "tests/splitmix.h"

struct block {
    unsigned char *p;
    size_t size;
    unsigned char tag;
};

static int intact(const struct block *b)
{
    for (size_t i = 0; i < b->size; i++)
        if (b->p[i] != (unsigned char)(b->tag + i))
            return 0;
    return 1;
}

static void test_pool_random(void)
{
    static const size_t sizes[] = {1, 8, 24, 40, 56, 100, 3000, 3008, 3016, 65536, 256 << 10};
    enum { NOPS = 60000, MAXLIVE = 4000 };
    static struct block live[MAXLIVE];
    size_t nlive = 0;
    struct state_pool pool = {0};
    int bad_align = 0, bad_owner = 0, bad_data = 0, bad_reuse = 0;
    for (int op = 0; op < NOPS; op++) {
        if (nlive < MAXLIVE && (nlive == 0 || rnd() % 3 != 0)) {
            size_t size = sizes[rnd() % (sizeof sizes / sizeof *sizes)];
            unsigned char *p = state_pool_alloc(&pool, size);
            CHECK(p != NULL);
            if (!p)
                break;
            bad_align += ((uintptr_t)p & 15u) != 0;
            bad_owner += !state_pool_owns(&pool, p) || !state_pool_owns(&pool, p + size - 1);
            struct block *b = &live[nlive++];
            *b = (struct block){p, size, (unsigned char)rnd()};
            for (size_t i = 0; i < size; i++)
                p[i] = (unsigned char)(b->tag + i);
        } else {
            size_t k = rnd() % nlive;
            struct block b = live[k];
            live[k] = live[--nlive];
            bad_data += !intact(&b);
            state_pool_free(&pool, b.p, b.size);
            /* LIFO: the next block of that size is the one just freed */
            if (rnd() % 4 == 0) {
                bad_reuse += state_pool_alloc(&pool, b.size) != b.p;
                state_pool_free(&pool, b.p, b.size);
            }
        }
    }
    for (size_t k = 0; k < nlive; k++)
        bad_data += !intact(&live[k]);
    CHECK(bad_align == 0 && bad_owner == 0 && bad_data == 0 && bad_reuse == 0);
    CHECK(pool.nchunks > 1); /* the test went past one chunk */
    for (uint32_t k = 0; k < pool.nchunks; k++)
        CHECK(((uintptr_t)pool.chunks[k] & (STATE_POOL_CHUNK - 1)) == 0);
    for (uint32_t k = 1; k < pool.nchunks; k++)
        CHECK((uintptr_t)pool.chunks[k - 1] < (uintptr_t)pool.chunks[k]);
    CHECK(pool.mapped == (uint64_t)pool.nchunks * STATE_POOL_CHUNK);
    /* Sizes 16 apart share nothing: 40 and 56 are different classes. */
    CHECK(pool.nclasses >= 8);
    CHECK(state_pool_alloc(&pool, (256 << 10) + 1) == NULL);
    CHECK(state_pool_alloc(&pool, 0) == NULL);
    int on_stack = 0;
    void *heap = malloc(64);
    CHECK(!state_pool_owns(&pool, &on_stack) && !state_pool_owns(&pool, heap));
    free(heap);
    state_pool_release(&pool);
    CHECK(pool.nchunks == 0 && pool.chunks == NULL && pool.mapped == 0);
    CHECK(!state_pool_owns(&pool, &on_stack));
}

/* ---- the store on the pool ---------------------------------------------- */

#define VSIZE 4000u
#define NKEYS 6000u

struct ref {
    int present;
    uint32_t stamp; /* the value is VSIZE / 4 copies of stamp */
};

static void key_of(uint32_t k, char *key, uint32_t *klen)
{
    /* lengths 1..20: several entry and tombstone size classes */
    *klen = (uint32_t)snprintf(key, 32, "%0*u", (int)(1 + k % 20), k);
}

static int value_is(const void *v, uint32_t stamp)
{
    const uint32_t *w = v;
    for (uint32_t i = 0; i < VSIZE / 4; i++)
        if (w[i] != stamp)
            return 0;
    return 1;
}

struct walk {
    const struct ref *ref;
    uint64_t seen;
    int bad;
};

static int walk_one(void *ctx, const void *key, uint32_t klen, const void *value)
{
    struct walk *w = ctx;
    char buf[32];
    memcpy(buf, key, klen);
    buf[klen] = '\0';
    uint32_t k = (uint32_t)strtoul(buf, NULL, 10);
    w->seen++;
    w->bad += k >= NKEYS || !w->ref[k].present || !value_is(value, w->ref[k].stamp);
    return 0;
}

static void check_against(struct weir_state *s, const struct ref *ref)
{
    uint64_t n = 0;
    for (uint32_t k = 0; k < NKEYS; k++)
        n += ref[k].present;
    struct walk w = {ref, 0, 0};
    CHECK(weir_state_foreach(s, walk_one, &w) == 0);
    CHECK(w.bad == 0 && w.seen == n && weir_state_count(s) == n);
    CHECK(weir_state_check(s) == 0);
}

static void test_store_on_pool(void)
{
    const uint64_t max_keys = NKEYS * 3 / 4; /* evictions happen */
    struct weir_state_conf conf = {.value_size = VSIZE, .max_keys = max_keys,
                                   .evict = WEIR_EVICT_LRU};
    struct weir_state *s = NULL;
    CHECK(weir_state_new(&s, &conf) == 0);
    static struct ref ref[NKEYS];
    static uint32_t lru[NKEYS]; /* keys, least recent first (brute force) */
    uint32_t nlru = 0;
    uint32_t value[VSIZE / 4];
    int bad = 0;
    for (int op = 0; op < 40000; op++) {
        uint32_t k = (uint32_t)(rnd() % NKEYS), klen;
        char key[32];
        key_of(k, key, &klen);
        unsigned what = (unsigned)(rnd() % 10);
        for (uint32_t i = 0; i < nlru; i++)
            if (lru[i] == k) {
                memmove(lru + i, lru + i + 1, (nlru - i - 1) * sizeof *lru);
                nlru--;
                break;
            }
        if (what == 0) {
            int rc = weir_state_del(s, key, klen);
            bad += rc != (ref[k].present ? 0 : -ENOENT);
            ref[k].present = 0;
            continue;
        }
        uint32_t stamp = (uint32_t)rnd();
        if (what < 5) {
            int created = -1;
            uint32_t *v = weir_state_get(s, key, klen, op, &created);
            CHECK(v != NULL);
            bad += created != !ref[k].present;
            bad += ref[k].present ? !value_is(v, ref[k].stamp) : !value_is(v, 0);
            for (uint32_t i = 0; i < VSIZE / 4; i++)
                v[i] = stamp;
        } else {
            for (uint32_t i = 0; i < VSIZE / 4; i++)
                value[i] = stamp;
            CHECK(weir_state_put(s, key, klen, value, op, 1) == 0);
        }
        ref[k] = (struct ref){1, stamp};
        lru[nlru++] = k;
        if (nlru > max_keys) { /* the least recent goes */
            ref[lru[0]].present = 0;
            memmove(lru, lru + 1, (nlru - 1) * sizeof *lru);
            nlru--;
        }
        if (op % 5000 == 4999) {
            check_against(s, ref);
            weir_state_clean(s); /* frees tombstones, some from the pool */
        }
    }
    CHECK(bad == 0);
    CHECK(s->pool.nchunks > 0); /* the store went past 4 MiB: the pool served it */
    check_against(s, ref);
    CHECK(weir_state_evicted(s) > 0);

    /* Snapshot into a fresh store, back into this one after a clear. */
    struct weir_buf snap = {0};
    CHECK(weir_state_snapshot(s, &snap) == 0);
    struct weir_state *t = NULL;
    CHECK(weir_state_new(&t, &conf) == 0);
    CHECK(weir_state_restore(t, snap.data, snap.len) == 0);
    check_against(t, ref);
    CHECK(weir_state_bytes(t) == weir_state_bytes(s));
    weir_state_clear(s);
    CHECK(weir_state_count(s) == 0 && weir_state_check(s) == 0);
    CHECK(weir_state_restore(s, snap.data, snap.len) == 0);
    check_against(s, ref);
    weir_buf_free(&snap);
    weir_state_free(t);
    weir_state_free(s);
}

int main(void)
{
    test_pool_random();
    test_store_on_pool();
    return check_summary();
}
