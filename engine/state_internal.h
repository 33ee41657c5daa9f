/* The keyed state store's internals (see state.c), shared by state.c,
 * state_snapshot.c and state_check.c; nothing outside engine/state*.c includes this. */
#ifndef WEIR_STATE_INTERNAL_H
#define WEIR_STATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/state.h"
#include "engine/state_pool.h"

#define ENTRY_DIRTY  0x1u /* on the dirty list */
#define ENTRY_TOMB   0x2u /* a deleted key: in the tombstone table, not on the recency list */
#define ENTRY_SHRUNK 0x4u /* a tombstone whose value's memory was given back */

#define TABLE_MIN    16u   /* slots of a new table */
#define TOMB_KEEP    1024u /* clean() keeps a tombstone table this small, frees a bigger one */
#define VALUE_MAX    (1u << 30)

struct entry {
    struct entry *lru_prev, *lru_next;     /* live entries; sentinel.lru_next: most recent */
    struct entry *dirty_prev, *dirty_next; /* dirty entries and tombstones */
    uint64_t hash;
    int64_t touched_ms;
    uint32_t klen;
    uint32_t flags; /* ENTRY_* */
    /* the key follows, then the value at the next multiple of 8 */
};

struct slot {
    uint64_t hash;
    struct entry *e; /* NULL: empty */
};

struct table {
    struct slot *slots; /* cap slots; NULL while cap is 0 */
    uint64_t cap;       /* a power of two, or 0 */
    uint64_t count;     /* at most load_max(cap), so a probe always ends */
};

struct weir_state {
    struct table live;                /* entries */
    struct table tombs;               /* deleted keys since the last clean() */
    struct entry lru;                 /* sentinel of the recency list */
    struct entry dirty;               /* sentinel of the dirty list */
    uint64_t ndirty, evicted;
    uint64_t pushed_out; /* evicted by the bounds since weir_state_take_pushed_out() */
    int pushed_by;       /* the bounds the last eviction was for: WEIR_STATE_BY_* */
    uint64_t entry_bytes, tomb_bytes; /* heap_size() of each allocation */
    uint64_t max_keys, max_bytes;
    int64_t ttl_ms;
    uint32_t value_size;
    int ttl; /* a TTL map: recency ordered by touched_ms (see state.h) */
    int no_changelog; /* get marks nothing dirty (see state.h) */
    struct state_pool pool; /* entries once the store is big (state_pool.h) */
};

/* What glibc's malloc takes for n bytes (an 8-byte header, 16-byte granules,
 * 32 at least), so that weir_state_bytes is what the process holds rather
 * than what was asked for. */
static inline uint64_t heap_size(uint64_t n)
{
    uint64_t c = (n + 8u + 15u) & ~(uint64_t)15u;
    return c < 32u ? 32u : c;
}

static inline uint64_t load_max(uint64_t cap)
{
    return cap - cap / 4u;
}

static inline size_t key_room(uint32_t klen)
{
    return ((size_t)klen + 7u) & ~(size_t)7u;
}

static inline char *entry_key(const struct entry *e)
{
    return (char *)(e + 1);
}

static inline void *entry_value(const struct entry *e)
{
    return entry_key(e) + key_room(e->klen);
}

static inline size_t entry_size(const struct weir_state *s, uint32_t klen)
{
    return sizeof(struct entry) + key_room(klen) + s->value_size;
}

static inline size_t tomb_size(const struct weir_state *s, const struct entry *e)
{
    return e->flags & ENTRY_SHRUNK ? sizeof *e + key_room(e->klen) : entry_size(s, e->klen);
}

/* Finds key, or inserts it zeroed (*created = 1) and touches it as
 * weir_state_get does, without marking it dirty; NULL on out of memory. */
struct entry *weir_state_upsert(struct weir_state *s, const void *key, uint32_t klen,
                                int64_t now_ms, int *created);

/* Hashing: a wyhash-style multiply-fold. Not persisted, so native byte order. */
#define HASH_P0 0xa0761d6478bd642full
#define HASH_P1 0xe7037ed1a0b428dbull
#define HASH_P2 0x8ebc6af09c88c6e3ull

static inline void mul128(uint64_t *a, uint64_t *b)
{
    __uint128_t r = (__uint128_t)*a * *b;
    *a = (uint64_t)r;
    *b = (uint64_t)(r >> 64);
}

static inline uint64_t mum(uint64_t a, uint64_t b)
{
    mul128(&a, &b);
    return a ^ b;
}

static inline uint64_t rd8(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t rd4(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t hash_key(const void *key, uint32_t len)
{
    const unsigned char *p = key;
    uint64_t seed = HASH_P0, a = 0, b = 0;
    if (len <= 16) {
        if (len >= 4) {
            size_t q = (len >> 3) << 2; /* the reads overlap so that every byte counts */
            a = rd4(p) << 32 | rd4(p + q);
            b = rd4(p + len - 4) << 32 | rd4(p + len - 4 - q);
        } else if (len > 0) {
            a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
        }
    } else {
        size_t i = len;
        for (; i > 16; i -= 16, p += 16)
            seed = mum(rd8(p) ^ HASH_P1, rd8(p + 8) ^ seed);
        a = rd8(p + i - 16);
        b = rd8(p + i - 8);
    }
    a ^= HASH_P1;
    b ^= seed;
    mul128(&a, &b);
    return mum(a ^ HASH_P2 ^ len, b ^ HASH_P1);
}

/* Index of key's slot, or SIZE_MAX. */
static inline size_t tab_find(const struct table *t, uint64_t h, const void *key, uint32_t klen)
{
    if (!t->cap)
        return SIZE_MAX;
    uint64_t mask = t->cap - 1;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        const struct slot *sl = &t->slots[i];
        if (!sl->e)
            return SIZE_MAX;
        if (sl->hash == h && sl->e->klen == klen && weir_equal_short(entry_key(sl->e), key, klen))
            return i;
    }
}

#endif
