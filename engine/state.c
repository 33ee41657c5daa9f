/* The keyed state store (see state.h).
 *
 * An open-addressing table (linear probing, backward-shift deletion, 16-byte
 * slots that keep the hash so that a probe rarely touches an entry) points at
 * individually allocated entries: a header with the intrusive recency and
 * dirty links, the key inline, then the value at the next multiple of 8. A
 * hit costs a hash, a slot, the entry, and a relink at the head of the
 * recency list. A deleted key becomes a tombstone (the entry shrunk to its
 * key) in a second table, where a re-insert finds and drops it, and sits on
 * the same dirty list as dirty entries. An insert reserves everything it may
 * allocate before it changes anything, so running out of memory changes
 * nothing. */
#include "engine/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/state_internal.h"

/* The table ---------------------------------------------------------------- */

static size_t tab_slot_of(const struct table *t, const struct entry *e)
{
    uint64_t mask = t->cap - 1, i = e->hash & mask;
    while (t->slots[i].e != e)
        i = (i + 1) & mask;
    return i;
}

/* Places e in the first free slot of its probe sequence (the caller made room). */
static void tab_put(struct slot *slots, uint64_t cap, struct entry *e)
{
    uint64_t mask = cap - 1, i = e->hash & mask;
    while (slots[i].e)
        i = (i + 1) & mask;
    slots[i].hash = e->hash;
    slots[i].e = e;
}

/* Backward-shift deletion: later slots of the same run move up so that no
 * probe meets a hole before its key; no tombstones in the table itself. */
static void tab_remove_at(struct table *t, uint64_t i)
{
    uint64_t mask = t->cap - 1;
    for (uint64_t j = (i + 1) & mask; t->slots[j].e; j = (j + 1) & mask) {
        uint64_t home = t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].e = NULL;
    t->slots[i].hash = 0;
    t->count--;
}

/* Moves every entry into slots (cap zeroed slots, allocated by the caller). */
static void tab_rehash(struct table *t, struct slot *slots, uint64_t cap)
{
    for (uint64_t i = 0; i < t->cap; i++)
        if (t->slots[i].e)
            tab_put(slots, cap, t->slots[i].e);
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
}

static uint64_t cap_for(uint64_t cap, uint64_t n)
{
    if (!cap)
        cap = TABLE_MIN;
    while (load_max(cap) < n)
        cap *= 2;
    return cap;
}

/* Makes room for n more tombstones: 0 or -ENOMEM (nothing changed). */
static int tombs_reserve(struct weir_state *s, uint64_t n)
{
    if (s->tombs.count + n <= load_max(s->tombs.cap))
        return 0;
    uint64_t cap = cap_for(s->tombs.cap, s->tombs.count + n);
    struct slot *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    tab_rehash(&s->tombs, slots, cap);
    return 0;
}

/* The lists ------------------------------------------------------------------ */

static inline void lru_unlink(struct entry *e)
{
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
}

/* Links e where its recency puts it: at the head, or in a TTL map behind the
 * entries touched later, so that the tail is always the oldest in the
 * caller's clock and expiry never searches. */
static inline void lru_link(struct weir_state *s, struct entry *e)
{
    struct entry *p = &s->lru;
    if (s->ttl)
        while (p->lru_next != &s->lru && p->lru_next->touched_ms > e->touched_ms)
            p = p->lru_next;
    e->lru_prev = p;
    e->lru_next = p->lru_next;
    p->lru_next->lru_prev = e;
    p->lru_next = e;
}

static inline void touch(struct weir_state *s, struct entry *e, int64_t now_ms)
{
    if (now_ms > e->touched_ms)
        e->touched_ms = now_ms;
    if (s->lru.lru_next == e)
        return;
    lru_unlink(e);
    lru_link(s, e);
}

static inline void dirty_link(struct weir_state *s, struct entry *e)
{
    e->flags |= ENTRY_DIRTY;
    e->dirty_prev = &s->dirty;
    e->dirty_next = s->dirty.dirty_next;
    s->dirty.dirty_next->dirty_prev = e;
    s->dirty.dirty_next = e;
    s->ndirty++;
}

static inline void dirty_unlink(struct weir_state *s, struct entry *e)
{
    e->dirty_prev->dirty_next = e->dirty_next;
    e->dirty_next->dirty_prev = e->dirty_prev;
    e->flags &= ~ENTRY_DIRTY;
    s->ndirty--;
}

/* A TTL map's dirty list is kept in the order of the last marks: its
 * recency list is by time, and among equal times only this order says which
 * came last (foreach_dirty writes it; an LRU map's recency list says it). */
static inline void dirty_mark(struct weir_state *s, struct entry *e)
{
    if (e->flags & ENTRY_DIRTY) {
        if (!s->ttl || s->dirty.dirty_next == e)
            return;
        dirty_unlink(s, e);
    }
    dirty_link(s, e);
}

/* Entries' memory. Once a store holds STATE_POOL_AFTER bytes of entries,
 * new entries of at least STATE_POOL_MIN_ENTRY bytes (windows' values) come
 * from huge-page chunks (state_pool.h): each lookup of such an entry in a
 * big store touches its own 4 KiB page, so it would miss the TLB as well as
 * the cache. A small store (most of them: one per operator and partition)
 * stays on malloc and never pins a 2 MiB page; so do small entries, where
 * glibc's 8-byte header matters to the byte accounting. Sizes are what was
 * asked (entry_size, tomb_size): weir_state_bytes counts the same either
 * way, within 16 bytes of a >= 1 KiB entry. */
#define STATE_POOL_AFTER ((uint64_t)4 << 20)
#define STATE_POOL_MIN_ENTRY 1024u

static void *entry_alloc(struct weir_state *s, size_t size)
{
    if (size >= STATE_POOL_MIN_ENTRY && s->entry_bytes >= STATE_POOL_AFTER) {
        void *e = state_pool_alloc(&s->pool, size);
        if (e)
            return e;
    }
    return malloc(size);
}

static void entry_free(struct weir_state *s, struct entry *e, size_t size)
{
    if (s->pool.nchunks && state_pool_owns(&s->pool, e))
        state_pool_free(&s->pool, e, size);
    else
        free(e);
}

/* A copy of e's first small bytes in a smaller block, e given back; NULL
 * (e kept) when there is no memory for it. */
static struct entry *entry_shrink(struct weir_state *s, struct entry *e, size_t full,
                                  size_t small)
{
    if (!(s->pool.nchunks && state_pool_owns(&s->pool, e)))
        return realloc(e, small);
    struct entry *copy = entry_alloc(s, small);
    if (!copy)
        return NULL;
    memcpy(copy, e, small);
    state_pool_free(&s->pool, e, full);
    return copy;
}

/* Turns a live entry into a tombstone. The tombstone table must have room
 * (callers reserve it first), so this cannot fail; giving the value's memory
 * back is a bonus that a failed realloc merely skips. */
static void bury(struct weir_state *s, struct entry *e)
{
    tab_remove_at(&s->live, tab_slot_of(&s->live, e));
    lru_unlink(e);
    if (e->flags & ENTRY_DIRTY)
        dirty_unlink(s, e);
    size_t full = entry_size(s, e->klen), small = sizeof *e + key_room(e->klen);
    s->entry_bytes -= heap_size(full);
    e->flags = ENTRY_TOMB;
    if (heap_size(small) < heap_size(full)) {
        struct entry *shrunk = entry_shrink(s, e, full, small);
        if (shrunk) {
            e = shrunk;
            e->flags |= ENTRY_SHRUNK;
        }
    }
    s->tomb_bytes += heap_size(tomb_size(s, e));
    tab_put(s->tombs.slots, s->tombs.cap, e);
    s->tombs.count++;
    dirty_link(s, e);
}

/* Drops the tombstone in slot i of the tombstone table (its key is back, or
 * it was deleted and never existed as far as the changelog knows). */
static void unbury(struct weir_state *s, uint64_t i)
{
    struct entry *e = s->tombs.slots[i].e;
    tab_remove_at(&s->tombs, i);
    dirty_unlink(s, e);
    s->tomb_bytes -= heap_size(tomb_size(s, e));
    entry_free(s, e, tomb_size(s, e));
}

/* Inserting ----------------------------------------------------------------- */

/* What an insert will do, decided before anything changes. */
struct plan {
    const struct entry *victim; /* the next one to evict: walks from the tail */
    uint64_t nevict;
    uint64_t by_keys;     /* of them, for max_keys */
    uint64_t keys;        /* live keys once done */
    uint64_t entry_bytes; /* entry bytes once done */
};

/* The bounds a plan's evictions are for: WEIR_STATE_BY_*. */
static int plan_bounds(const struct plan *p)
{
    return (p->by_keys ? WEIR_STATE_BY_KEYS : 0) |
           (p->nevict > p->by_keys ? WEIR_STATE_BY_BYTES : 0);
}

static inline uint64_t bytes_with(const struct weir_state *s, uint64_t entry_bytes, uint64_t cap)
{
    return entry_bytes + heap_size(cap * sizeof(struct slot)) + heap_size(sizeof *s);
}

static int plan_evict(const struct weir_state *s, struct plan *p)
{
    if (p->victim == &s->lru)
        return 0; /* nothing left but the newcomer */
    p->entry_bytes -= heap_size(entry_size(s, p->victim->klen));
    p->victim = p->victim->lru_prev;
    p->nevict++;
    p->keys--;
    return 1;
}

/* Picks the victims and the table size. The table doubles only when the
 * bytes bound allows the bigger table; otherwise the insert evicts to stay
 * in the present one, instead of growing and then evicting many to pay for
 * it. */
static uint64_t plan_insert(const struct weir_state *s, size_t esize, struct plan *p)
{
    uint64_t cap = s->live.cap;
    p->victim = s->lru.lru_prev;
    p->nevict = 0;
    p->keys = s->live.count + 1;
    p->entry_bytes = s->entry_bytes + heap_size(esize);
    while (s->max_keys && p->keys > s->max_keys && plan_evict(s, p))
        ;
    p->by_keys = p->nevict;
    if (p->keys > load_max(cap)) {
        if (!s->max_bytes || bytes_with(s, p->entry_bytes, cap * 2) <= s->max_bytes)
            cap *= 2;
        else
            while (p->keys > load_max(cap) && plan_evict(s, p))
                ;
    }
    while (s->max_bytes && bytes_with(s, p->entry_bytes, cap) > s->max_bytes && plan_evict(s, p))
        ;
    return cap;
}

int weir_state_insert_evicts(const struct weir_state *s, uint32_t klen)
{
    struct plan p;
    plan_insert(s, entry_size(s, klen), &p);
    return p.nevict > 0;
}

static struct entry *insert_new(struct weir_state *s, uint64_t h, const void *key, uint32_t klen,
                                int64_t now_ms)
{
    size_t esize = entry_size(s, klen);
    struct plan p;
    uint64_t cap = plan_insert(s, esize, &p);
    uint64_t tomb_cap = s->tombs.cap;
    if (s->tombs.count + p.nevict > load_max(tomb_cap))
        tomb_cap = cap_for(tomb_cap, s->tombs.count + p.nevict);

    struct slot *live = NULL, *tombs = NULL;
    struct entry *e = NULL;
    if (cap != s->live.cap && !(live = calloc(cap, sizeof *live)))
        goto fail;
    if (tomb_cap != s->tombs.cap && !(tombs = calloc(tomb_cap, sizeof *tombs)))
        goto fail;
    if (!(e = entry_alloc(s, esize)))
        goto fail;

    /* Nothing can fail from here on. */
    if (live)
        tab_rehash(&s->live, live, cap);
    if (tombs)
        tab_rehash(&s->tombs, tombs, tomb_cap);
    for (uint64_t i = 0; i < p.nevict; i++)
        bury(s, s->lru.lru_prev);
    s->evicted += p.nevict;
    s->pushed_out += p.nevict;
    if (p.nevict)
        s->pushed_by = plan_bounds(&p);
    if (s->tombs.count) {
        size_t i = tab_find(&s->tombs, h, key, klen);
        if (i != SIZE_MAX)
            unbury(s, i); /* it is a dirty entry now, not a deletion */
    }
    e->hash = h;
    e->touched_ms = now_ms;
    e->klen = klen;
    e->flags = 0;
    if (klen)
        memcpy(entry_key(e), key, klen);
    memset(entry_value(e), 0, s->value_size);
    tab_put(s->live.slots, s->live.cap, e);
    s->live.count++;
    s->entry_bytes += heap_size(esize);
    lru_link(s, e);
    return e;

fail:
    free(live);
    free(tombs);
    return NULL;
}

struct entry *weir_state_upsert(struct weir_state *s, const void *key, uint32_t klen,
                                int64_t now_ms, int *created)
{
    uint64_t h = hash_key(key, klen);
    size_t i = tab_find(&s->live, h, key, klen);
    if (i != SIZE_MAX) {
        struct entry *e = s->live.slots[i].e;
        touch(s, e, now_ms);
        *created = 0;
        return e;
    }
    *created = 1;
    return insert_new(s, h, key, klen, now_ms);
}

/* The API --------------------------------------------------------------------- */

int weir_state_new(struct weir_state **out, const struct weir_state_conf *c)
{
    int rc = -EINVAL;
    struct weir_state *s = NULL;
    if (c->evict != WEIR_EVICT_LRU && c->evict != WEIR_EVICT_TTL)
        goto fail;
    if (c->value_size > VALUE_MAX || c->ttl_ms < 0 || (c->evict == WEIR_EVICT_TTL && !c->ttl_ms))
        goto fail;
    rc = -ENOMEM;
    if (!(s = calloc(1, sizeof *s)))
        goto fail;
    if (!(s->live.slots = calloc(TABLE_MIN, sizeof *s->live.slots)))
        goto fail;
    s->live.cap = TABLE_MIN;
    s->lru.lru_prev = s->lru.lru_next = &s->lru;
    s->dirty.dirty_prev = s->dirty.dirty_next = &s->dirty;
    s->value_size = c->value_size;
    s->max_keys = c->max_keys;
    s->max_bytes = c->max_bytes;
    s->ttl = c->evict == WEIR_EVICT_TTL;
    s->ttl_ms = c->ttl_ms;
    s->no_changelog = c->no_changelog;
    *out = s;
    return 0;

fail:
    weir_state_free(s);
    return rc;
}

void weir_state_free(struct weir_state *s)
{
    if (!s)
        return;
    if (s->live.slots)
        weir_state_clear(s);
    free(s->live.slots);
    free(s->tombs.slots);
    state_pool_release(&s->pool);
    free(s);
}

void *weir_state_get(struct weir_state *s, const void *key, uint32_t klen, int64_t now_ms,
                     int *created)
{
    int c = 0;
    struct entry *e = weir_state_upsert(s, key, klen, now_ms, &c);
    if (created)
        *created = e ? c : 0;
    if (!e)
        return NULL;
    if (!s->no_changelog)
        dirty_mark(s, e);
    return entry_value(e);
}

uint64_t weir_state_prefetch(const struct weir_state *s, const void *key, uint32_t klen)
{
    uint64_t h = hash_key(key, klen);
    if (s->live.cap)
        __builtin_prefetch(&s->live.slots[h & (s->live.cap - 1)]);
    return h;
}

void weir_state_prefetch_entry(const struct weir_state *s, uint64_t h, int neighbours)
{
    if (!s->live.cap)
        return;
    const struct slot *sl = &s->live.slots[h & (s->live.cap - 1)];
    if (!sl->e || sl->hash != h)
        return; /* new, or further along the probe: looked up the slow way */
    if (!neighbours) { /* the header, the key and the start of the value */
        __builtin_prefetch(sl->e, 1);
        __builtin_prefetch((const char *)sl->e + 64, 1);
        __builtin_prefetch((const char *)sl->e + 128, 1);
    } else if (!s->ttl) { /* touch() will relink it at the head of the recency list */
        __builtin_prefetch(sl->e->lru_prev, 1);
        __builtin_prefetch(sl->e->lru_next, 1);
    }
}

const void *weir_state_peek(const struct weir_state *s, uint64_t h)
{
    if (!s->live.cap)
        return NULL;
    const struct slot *sl = &s->live.slots[h & (s->live.cap - 1)];
    return sl->e && sl->hash == h ? entry_value(sl->e) : NULL;
}

void *weir_state_find(const struct weir_state *s, const void *key, uint32_t klen)
{
    size_t i = tab_find(&s->live, hash_key(key, klen), key, klen);
    return i == SIZE_MAX ? NULL : entry_value(s->live.slots[i].e);
}

int weir_state_put(struct weir_state *s, const void *key, uint32_t klen, const void *value,
                   int64_t now_ms, int mark_dirty)
{
    int created;
    struct entry *e = weir_state_upsert(s, key, klen, now_ms, &created);
    if (!e)
        return -ENOMEM;
    if (s->value_size)
        memcpy(entry_value(e), value, s->value_size);
    if (mark_dirty)
        dirty_mark(s, e);
    return 0;
}

int weir_state_put_at(struct weir_state *s, const void *key, uint32_t klen, const void *value,
                      int64_t touched_ms)
{
    int created;
    struct entry *e = weir_state_upsert(s, key, klen, touched_ms, &created);
    if (!e)
        return -ENOMEM;
    if (e->touched_ms != touched_ms) { /* the last record's time, even an earlier one */
        e->touched_ms = touched_ms;
        lru_unlink(e);
        lru_link(s, e);
    }
    if (s->value_size)
        memcpy(entry_value(e), value, s->value_size);
    return 0;
}

int weir_state_del(struct weir_state *s, const void *key, uint32_t klen)
{
    size_t i = tab_find(&s->live, hash_key(key, klen), key, klen);
    if (i == SIZE_MAX)
        return -ENOENT;
    if (tombs_reserve(s, 1) < 0)
        return -ENOMEM;
    bury(s, s->live.slots[i].e);
    return 0;
}

uint64_t weir_state_expire(struct weir_state *s, int64_t now_ms)
{
    if (!s->ttl || now_ms < INT64_MIN + s->ttl_ms)
        return 0;
    int64_t cutoff = now_ms - s->ttl_ms;
    uint64_t n = 0;
    for (const struct entry *e = s->lru.lru_prev; e != &s->lru && e->touched_ms < cutoff;
         e = e->lru_prev)
        n++;
    if (n && tombs_reserve(s, n) < 0)
        n = load_max(s->tombs.cap) - s->tombs.count; /* what fits now; the rest next time */
    for (uint64_t i = 0; i < n; i++)
        bury(s, s->lru.lru_prev);
    s->evicted += n;
    return n;
}

int64_t weir_state_newest_touch(const struct weir_state *s)
{
    return s->ttl && s->lru.lru_next != &s->lru ? s->lru.lru_next->touched_ms : INT64_MIN;
}

void weir_state_clean(struct weir_state *s)
{
    for (struct entry *e = s->dirty.dirty_next, *next; e != &s->dirty; e = next) {
        next = e->dirty_next;
        if (e->flags & ENTRY_TOMB)
            entry_free(s, e, tomb_size(s, e));
        else
            e->flags &= ~ENTRY_DIRTY;
    }
    s->dirty.dirty_prev = s->dirty.dirty_next = &s->dirty;
    s->ndirty = 0;
    /* A burst of evictions should not pin its tombstone table for good. */
    if (s->tombs.cap > TOMB_KEEP) {
        free(s->tombs.slots);
        s->tombs.slots = NULL;
        s->tombs.cap = 0;
    } else if (s->tombs.count) {
        memset(s->tombs.slots, 0, s->tombs.cap * sizeof *s->tombs.slots);
    }
    s->tombs.count = 0;
    s->tomb_bytes = 0;
}

/* New bounds: the table shrinks to what the keys need when the bytes bound
 * asks (as a restart's would), then the least recently used go, as an insert's. */
int weir_state_rebound(struct weir_state *s, const struct weir_state_conf *c)
{
    int ttl = c->evict == WEIR_EVICT_TTL;
    if (c->value_size != s->value_size || ttl != s->ttl || c->ttl_ms < 0 || (s->ttl && !c->ttl_ms))
        return -EINVAL;
    struct plan p = {
        .victim = s->lru.lru_prev, .keys = s->live.count, .entry_bytes = s->entry_bytes};
    uint64_t cap = s->live.cap;
    while (c->max_keys && p.keys > c->max_keys && plan_evict(s, &p))
        ;
    p.by_keys = p.nevict;
    while (c->max_bytes && bytes_with(s, p.entry_bytes, cap) > c->max_bytes) {
        uint64_t need = cap_for(0, p.keys);
        if (need < cap)
            cap = need; /* a smaller table first: it may leave room for every key */
        else if (!plan_evict(s, &p))
            break;
    }
    struct slot *live = NULL;
    if (cap < s->live.cap && !(live = calloc(cap, sizeof *live)))
        return -ENOMEM;
    if (tombs_reserve(s, p.nevict) < 0) {
        free(live);
        return -ENOMEM;
    }
    for (uint64_t i = 0; i < p.nevict; i++)
        bury(s, s->lru.lru_prev);
    if (live)
        tab_rehash(&s->live, live, cap);
    s->evicted += p.nevict;
    s->pushed_out += p.nevict;
    if (p.nevict)
        s->pushed_by = plan_bounds(&p);
    s->max_keys = c->max_keys;
    s->max_bytes = c->max_bytes;
    s->ttl_ms = c->ttl_ms;
    s->no_changelog = c->no_changelog;
    return 0;
}

void weir_state_clear(struct weir_state *s)
{
    weir_state_clean(s);
    for (struct entry *e = s->lru.lru_next, *next; e != &s->lru; e = next) {
        next = e->lru_next;
        entry_free(s, e, entry_size(s, e->klen));
    }
    s->lru.lru_prev = s->lru.lru_next = &s->lru;
    memset(s->live.slots, 0, s->live.cap * sizeof *s->live.slots);
    s->live.count = 0;
    s->entry_bytes = 0;
}

uint64_t weir_state_count(const struct weir_state *s)
{
    return s->live.count;
}

uint64_t weir_state_bytes(const struct weir_state *s)
{
    return bytes_with(s, s->entry_bytes, s->live.cap);
}

uint64_t weir_state_evicted(const struct weir_state *s)
{
    return s->evicted;
}

uint64_t weir_state_take_pushed_out(struct weir_state *s)
{
    uint64_t n = s->pushed_out;
    if (n) /* most calls find none: leave the line clean */
        s->pushed_out = 0;
    return n;
}

int weir_state_pushed_by(const struct weir_state *s)
{
    return s->pushed_by;
}

uint64_t weir_state_dirty_count(const struct weir_state *s)
{
    return s->ndirty;
}

uint64_t weir_state_tombstone_bytes(const struct weir_state *s)
{
    return s->tomb_bytes + (s->tombs.cap ? heap_size(s->tombs.cap * sizeof(struct slot)) : 0);
}

int weir_state_foreach(const struct weir_state *s,
                       int (*fn)(void *ctx, const void *key, uint32_t klen, const void *value),
                       void *ctx)
{
    for (const struct entry *e = s->lru.lru_prev; e != &s->lru; e = e->lru_prev) {
        int rc = fn(ctx, entry_key(e), e->klen, entry_value(e));
        if (rc)
            return rc;
    }
    return 0;
}

/* The least recent of the live dirty entries when they are the most recent
 * entries of an LRU map, as they are when every touch marks (a map a
 * changelog reads): the recency list then gives their order for nothing on
 * the lookup path. NULL otherwise (a TTL map orders by time; a touch that
 * did not mark), or when none is dirty. */
static const struct entry *recent_all_dirty(const struct weir_state *s)
{
    uint64_t n = s->ndirty - s->tombs.count;
    const struct entry *e = &s->lru;
    for (uint64_t k = 0; k < n && !s->ttl; k++) {
        e = e->lru_next;
        if (e == &s->lru || !(e->flags & ENTRY_DIRTY))
            return NULL;
    }
    return n && !s->ttl ? e : NULL;
}

int weir_state_foreach_dirty(const struct weir_state *s,
                             int (*fn)(void *ctx, const void *key, uint32_t klen,
                                       const void *value),
                             void *ctx)
{
    for (const struct entry *e = s->dirty.dirty_next; e != &s->dirty; e = e->dirty_next) {
        int rc = e->flags & ENTRY_TOMB ? fn(ctx, entry_key(e), e->klen, NULL) : 0;
        if (rc)
            return rc;
    }
    const struct entry *last = recent_all_dirty(s);
    for (const struct entry *e = last; e && e != &s->lru; e = e->lru_prev) {
        int rc = fn(ctx, entry_key(e), e->klen, entry_value(e));
        if (rc)
            return rc;
    }
    for (const struct entry *e = s->dirty.dirty_prev; !last && e != &s->dirty; e = e->dirty_prev) {
        int rc = e->flags & ENTRY_TOMB ? 0 : fn(ctx, entry_key(e), e->klen, entry_value(e));
        if (rc)
            return rc;
    }
    return 0;
}

int64_t weir_state_touched_at(const void *key)
{
    return ((const struct entry *)key - 1)->touched_ms;
}
