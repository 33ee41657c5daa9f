/* The keyed state store's internals (see state.c), shared by state.c and
 * state_snapshot.c; nothing outside engine/state*.c includes this. */
#ifndef WEIR_STATE_INTERNAL_H
#define WEIR_STATE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

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

#endif
