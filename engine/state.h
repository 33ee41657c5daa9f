/* The keyed state store: one hash map per (operator, partition) holding a
 * fixed-size POD value per key, for stateful operators (running z-scores,
 * quantile thresholds, later windows).
 *
 * The map bounds itself (max_keys, max_bytes) by evicting the least recently
 * used entries, or with TTL also entries idle for longer than ttl_ms in the
 * caller's clock. It remembers what changed since the last weir_state_clean()
 * (dirty entries and deleted keys) so a changelog can be written
 * incrementally, and it snapshots to / restores from a self-describing blob
 * for file checkpoints. Not thread-safe: a map belongs to one worker. */
#ifndef WEIR_STATE_H
#define WEIR_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/buf.h"

enum weir_evict { WEIR_EVICT_LRU, WEIR_EVICT_TTL };

struct weir_state_conf {
    uint32_t value_size; /* bytes of each value (POD, no pointers); stored 8-byte aligned */
    uint64_t max_keys;   /* 0: unbounded */
    uint64_t max_bytes;  /* 0: unbounded; counts keys + values + per-entry overhead + the table */
    int evict;           /* enum weir_evict: what goes when a bound is reached, or with TTL also
                            when idle */
    int64_t ttl_ms;      /* TTL (> 0): an entry not touched for ttl_ms (in the caller's clock:
                            event or processing time) is removed by weir_state_expire */
    int no_changelog;    /* 1: no changelog is written of this map, so get does not mark
                            entries dirty (deletions are still remembered until clean) */
};

struct weir_state; /* one map */

/* 0, -ENOMEM, or -EINVAL (evict unknown, value_size over 1 GiB, TTL without
 * ttl_ms > 0, negative ttl_ms). */
int weir_state_new(struct weir_state **out, const struct weir_state_conf *c);
void weir_state_free(struct weir_state *s); /* accepts NULL */

/* Finds key, or inserts it with a zeroed value (*created = 1, else 0; created
 * may be NULL). now_ms is the caller's clock for LRU/TTL: the entry's
 * last-touched time becomes max(its time, now_ms). The entry becomes most
 * recently used and is marked dirty (the caller is about to change it),
 * unless the map was made with no_changelog.
 *
 * Recency: in an LRU map it is the order of calls. In a TTL map it is the
 * last-touched time, ties broken by the order of calls, so expired entries
 * are always the least recent ones; a touch whose now_ms is behind the newest
 * entry's costs a walk over the entries touched since (cheap for a clock
 * with small disorder, as event time behind a watermark).
 *
 * Inserting may evict other entries to stay within max_keys/max_bytes (least
 * recent first), never the returned one; an entry bigger than max_bytes on
 * its own still gets in, alone. get never expires by TTL: call
 * weir_state_expire. The pointer stays valid until the next call that may
 * insert or delete (get/put/del/restore/clear/expire). Returns NULL only on
 * out of memory (then nothing changed). An empty key (klen 0) is valid. */
/* Batch lookups hide memory latency by asking early: prefetch returns the
 * key's hash after asking for its table slot; prefetch_entry (the slot has
 * arrived meanwhile) asks for the entry, and with neighbours for the entries
 * a recency update will write. Hints only: nothing changes. */
uint64_t weir_state_prefetch(const struct weir_state *s, const void *key, uint32_t klen);
void weir_state_prefetch_entry(const struct weir_state *s, uint64_t hash, int neighbours);
void *weir_state_get(struct weir_state *s, const void *key, uint32_t klen, int64_t now_ms,
                     int *created);
/* The value of the entry in hash's (weir_state_prefetch's) first slot when
 * that entry has this hash, else NULL: a hint for fetching a value's parts
 * ahead (another key with the same 64-bit hash would do no harm there). */
const void *weir_state_peek(const struct weir_state *s, uint64_t hash);
/* 1 when inserting a key of klen bytes now would push entries out: under
 * max_keys, under max_bytes, or because the table is due to grow and the
 * bigger one would not fit max_bytes. Nothing changes. */
int weir_state_insert_evicts(const struct weir_state *s, uint32_t klen);
/* Finds without inserting or touching; NULL when absent. */
void *weir_state_find(const struct weir_state *s, const void *key, uint32_t klen);
/* Inserts or overwrites a whole value (restore from a changelog) and touches it
 * as get does; marks it dirty only if mark_dirty (an entry already dirty
 * stays dirty). 0 or -ENOMEM (nothing changed). */
int weir_state_put(struct weir_state *s, const void *key, uint32_t klen, const void *value,
                   int64_t now_ms, int mark_dirty);
/* Removes key: 0, -ENOENT, or -ENOMEM (nothing changed) when the tombstone
 * cannot be recorded. A removal is remembered as a dirty deletion (a
 * changelog tombstone). */
int weir_state_del(struct weir_state *s, const void *key, uint32_t klen);
/* A restore's put: as put without marking, the entry's last-touched time set
 * to touched_ms even when that is earlier (the last record of a key says
 * when it was touched). 0 or -ENOMEM. */
int weir_state_put_at(struct weir_state *s, const void *key, uint32_t klen, const void *value,
                      int64_t touched_ms);
/* TTL maps: removes every entry whose last-touched time < now_ms - ttl_ms
 * (dirty deletions). Returns how many; 0 for LRU maps. Out of memory for
 * tombstones leaves the newest of the expired entries for the next call. */
uint64_t weir_state_expire(struct weir_state *s, int64_t now_ms);
/* A TTL map's newest last-touched time (its owner's clock as it touched
 * it); INT64_MIN when empty or not a TTL map. */
int64_t weir_state_newest_touch(const struct weir_state *s);
void weir_state_clear(struct weir_state *s); /* removes everything, forgets dirt */
/* Takes c's bounds, TTL and changelog marking: entries that the new bounds
 * leave no room for are evicted now (least recently used first, dirty
 * deletions, counted as evictions). -EINVAL when c would change what the
 * entries mean (value size; LRU or TTL), -ENOMEM (nothing changed). */
int weir_state_rebound(struct weir_state *s, const struct weir_state_conf *c);

uint64_t weir_state_count(const struct weir_state *s);   /* keys */
uint64_t weir_state_bytes(const struct weir_state *s);   /* memory held: entries + table,
                                                            what max_bytes bounds */
uint64_t weir_state_evicted(const struct weir_state *s); /* entries removed by bounds or TTL
                                                            since new */
/* Entries the bounds (max_keys, max_bytes; not TTL) evicted since the last
 * call: the ones a caller may want to report, as the map cannot. */
uint64_t weir_state_take_pushed_out(struct weir_state *s);
/* The bounds the last eviction was for (both when one insert evicted for
 * max_keys and then for max_bytes): the count of keys afterwards does not
 * say, as an owner may delete keys. */
#define WEIR_STATE_BY_KEYS  1
#define WEIR_STATE_BY_BYTES 2
int weir_state_pushed_by(const struct weir_state *s);

/* Iteration over every entry, least recently used first. fn returns 0 to go
 * on, nonzero to stop (returned). fn must not modify the map. */
int weir_state_foreach(const struct weir_state *s,
                       int (*fn)(void *ctx, const void *key, uint32_t klen, const void *value),
                       void *ctx);
/* Iteration over what changed since the last weir_state_clean(): each deleted
 * key (evicted, expired or del'd, and not re-inserted since) with value NULL,
 * then each dirty entry with its value; each key once. In a TTL map, and in
 * an LRU map whose every touch marks (one a changelog reads), the entries
 * come least recently used first. Replayed in this order, checkpoint after checkpoint, into a
 * map with the same bounds (weir_state_put_at with the entries' times,
 * weir_state_del), the map ends with the same keys, times and recency: the
 * deletions make room before the puts, so the bounds evict nothing the map
 * kept. */
int weir_state_foreach_dirty(const struct weir_state *s,
                             int (*fn)(void *ctx, const void *key, uint32_t klen,
                                       const void *value),
                             void *ctx);
/* The last-touched time of the entry whose key pointer a foreach or
 * foreach_dirty callback was handed (a live entry's): what a checkpoint
 * keeps for a TTL map. */
int64_t weir_state_touched_at(const void *key);
void weir_state_clean(struct weir_state *s); /* forgets the dirt (after a changelog flush was
                                                acknowledged) */
uint64_t weir_state_dirty_count(const struct weir_state *s); /* entries + deleted keys */
/* Memory held by deleted keys until weir_state_clean(): not part of
 * weir_state_bytes nor bounded by max_bytes, so a map whose dirt is never
 * cleaned grows by one small record per eviction. */
uint64_t weir_state_tombstone_bytes(const struct weir_state *s);

/* Whole-map snapshot (a file checkpoint): appends a self-describing blob to
 * out: magic "WSTA", format version (u32), value_size (u32), count (u64),
 * then per entry, least recently used first: klen (u32), key bytes,
 * last-touched ms (i64), value bytes. Little-endian integers. 0 or -ENOMEM
 * (out unchanged).
 *
 * weir_state_restore() clears s, then loads a blob, recency order included:
 * -EINVAL (s left empty) when the magic, version or value_size does not
 * match, a key repeats, or the blob is truncated/oversized; -ENOMEM (s left
 * empty). Entries come back clean; a blob over this map's bounds loses its
 * least recent entries as evictions. */
int weir_state_snapshot(const struct weir_state *s, struct weir_buf *out);
int weir_state_restore(struct weir_state *s, const void *data, size_t len);

/* Checks every internal invariant (table, lists, counters, bounds): 0 or
 * -EINVAL. O(n): for tests. */
int weir_state_check(const struct weir_state *s);

#endif
