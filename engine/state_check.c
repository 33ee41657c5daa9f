/* The keyed state store's invariants (weir_state_check, see state.h): every
 * list, table and count agrees with the others. For tests and fuzzers; a
 * walk over the whole store, never on the record path. */
#include <errno.h>

#include "engine/state.h"
#include "engine/state_internal.h"

#define WANT(cond)                                                                                 \
    do {                                                                                           \
        if (!(cond))                                                                               \
            return -EINVAL;                                                                        \
    } while (0)

static int check_table(const struct table *t, int tombs)
{
    uint64_t used = 0;
    WANT(t->count <= load_max(t->cap));
    for (uint64_t i = 0; i < t->cap; i++) {
        const struct entry *e = t->slots[i].e;
        if (!e)
            continue;
        used++;
        WANT(t->slots[i].hash == e->hash && e->hash == hash_key(entry_key(e), e->klen));
        WANT(!!(e->flags & ENTRY_TOMB) == tombs);
        WANT(tab_find(t, e->hash, entry_key(e), e->klen) == i);
    }
    WANT(used == t->count);
    return 0;
}

int weir_state_check(const struct weir_state *s)
{
    uint64_t n = 0, ndirty_live = 0, bytes = 0;
    const struct entry *prev = &s->lru;
    for (const struct entry *e = s->lru.lru_next; e != &s->lru; prev = e, e = e->lru_next) {
        WANT(++n <= s->live.count && e->lru_prev == prev && !(e->flags & ENTRY_TOMB));
        WANT(!s->ttl || prev == &s->lru || prev->touched_ms >= e->touched_ms);
        size_t i = tab_find(&s->live, e->hash, entry_key(e), e->klen);
        WANT(i != SIZE_MAX && s->live.slots[i].e == e);
        bytes += heap_size(entry_size(s, e->klen));
        ndirty_live += !!(e->flags & ENTRY_DIRTY);
    }
    WANT(s->lru.lru_prev == prev && n == s->live.count && bytes == s->entry_bytes);
    WANT(!s->max_keys || n <= s->max_keys);

    uint64_t nd = 0, nt = 0, tbytes = 0;
    prev = &s->dirty;
    for (const struct entry *e = s->dirty.dirty_next; e != &s->dirty;
         prev = e, e = e->dirty_next) {
        WANT(++nd <= s->ndirty && e->dirty_prev == prev && (e->flags & ENTRY_DIRTY));
        size_t live = tab_find(&s->live, e->hash, entry_key(e), e->klen);
        if (e->flags & ENTRY_TOMB) {
            size_t i = tab_find(&s->tombs, e->hash, entry_key(e), e->klen);
            WANT(live == SIZE_MAX && i != SIZE_MAX && s->tombs.slots[i].e == e);
            tbytes += heap_size(tomb_size(s, e));
            nt++;
        } else {
            WANT(live != SIZE_MAX && s->live.slots[live].e == e);
        }
    }
    WANT(s->dirty.dirty_prev == prev && nd == s->ndirty && nd == ndirty_live + nt);
    WANT(nt == s->tombs.count && tbytes == s->tomb_bytes);
    if (check_table(&s->live, 0) < 0 || check_table(&s->tombs, 1) < 0)
        return -EINVAL;
    return 0;
}
