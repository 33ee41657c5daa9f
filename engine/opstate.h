/* Per-(operator, partition) keyed state for stateful operators.
 *
 * An operator declares the size of its value per key in init() and asks for
 * a record's value with weir_op_state(): the engine keeps one bounded store
 * (engine/state.h) per partition slot, keyed by the operator's "by" field (a
 * string column, or the Kafka message key), or one value per partition
 * without "by". So results depend only on each partition's (or key's) own
 * records, never on how partitions interleave in a worker. Snapshots carry a
 * magic, a version and the operator's layout hash, so a blob written by a
 * differently configured operator is refused. */
#ifndef WEIR_OPSTATE_H
#define WEIR_OPSTATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/buf.h"
#include "engine/operator.h"
#include "engine/state.h"

#define WEIR_BY_NONE (-1)
#define WEIR_BY_KAFKA_KEY (-2)
#define WEIR_BY_KAFKA_KEY_NAME "kafka:key"

/* The state options every stateful operator declares; embed in its conf and
 * list WEIR_STATE_OPTION_ROWS in its option table. */
struct weir_state_opts {
    const char *by;      /* string field, "kafka:key", or NULL: one state per partition */
    int64_t max_keys;    /* per partition */
    int64_t max_bytes;   /* per partition */
    int evict;           /* enum weir_evict */
    uint64_t ttl_ns;
    int by_col;          /* resolved by weir_state_opts_prepare */
};

#define WEIR_STATE_OPTION_ROWS(type, m)                                                           \
    {"by", WEIR_OPT_STRING, NULL,                                                                 \
     "keep one state per value of this string field, or per Kafka message key with \"" \
     WEIR_BY_KAFKA_KEY_NAME "\" (default: one state per partition)",                             \
     offsetof(type, m.by), 0, 0, 0, NULL},                                                       \
    {"max_keys", WEIR_OPT_INT, "1000000",                                                         \
     "keys kept per partition; past it the \"evict\" rule removes one",                          \
     offsetof(type, m.max_keys), WEIR_OPT_RANGE, 1, 1e12, NULL},                                  \
    {"max_state_bytes", WEIR_OPT_INT, "268435456",                                                \
     "bytes of keyed state kept per partition (keys, values, overhead)",                         \
     offsetof(type, m.max_bytes), WEIR_OPT_RANGE, 4096, 1e15, NULL},                              \
    {"evict", WEIR_OPT_ENUM, "\"lru\"",                                                           \
     "when a bound is reached: lru drops the least recently updated key; ttl also drops keys "   \
     "idle for \"ttl\" (in the event time of the records that reach the operator, or "         \
     "arrival time without one)",                                                                \
     offsetof(type, m.evict), 0, 0, 0, "lru|ttl"},                                                \
    {"ttl", WEIR_OPT_DURATION, "\"24h\"", "evict ttl: how long an idle key is kept",              \
     offsetof(type, m.ttl_ns), 0, 0, 0, NULL}

/* Resolves "by" (a string column an earlier operator writes, or the Kafka
 * key) and checks the options' combinations. Returns the number of problems. */
int weir_state_opts_prepare(struct weir_state_opts *o, const json_t *raw, struct weir_prepare *p);
/* With "evict": "ttl", a ttl under need_ms (what: what it must cover) is a
 * problem: a key would expire while it still means something (why). */
int weir_state_ttl_covers(const struct weir_state_opts *o, int64_t need_ms, const char *what,
                          const char *why, struct weir_prepare *p);

struct weir_op_state {
    struct weir_state_conf conf;
    uint64_t layout;      /* what a value means: a snapshot fits only the same layout */
    uint64_t layout_unnamed; /* the same, as builds before 2026-12-04 saved it */
    int by_col;
    struct weir_state **parts; /* (nparts) by partition slot; NULL until used */
    uint32_t nparts;
    /* The last value handed out in this batch: consecutive records of one
     * partition and key (always, without "by") skip the lookup. Reset by
     * weir_op_state_batch: a store may change between batches. */
    void *last;
    uint32_t last_part;
    const void *last_key;
    uint32_t last_klen;
    int64_t last_ts;      /* the record time it was touched at (TTL: a later one touches again) */
    uint64_t *hashes;     /* weir_op_state_prefetch's, per record of the batch */
    uint32_t hashes_cap;
    const struct weir_batch *ahead; /* the batch hashes are for (NULL: none) */
    uint32_t ahead_n;               /* its records then */
    int full_said; /* the worker has warned that a bound evicts this operator's keys */
};

/* Whether state saved under layout means what this operator's does. State
 * saved before 2026-12-04 named neither its "by" field nor the fields named
 * with weir_op_state_learns: it is still read, so an upgrade keeps every
 * key's state. */
static inline int weir_op_state_fits(const struct weir_op_state *ks, uint64_t saved)
{
    return saved == ks->layout || saved == ks->layout_unnamed;
}

/* From init(): the operator keeps value_size bytes per key (zeroed when a key
 * is new). layout: a hash of everything that gives a value its meaning. */
int weir_op_state_declare(struct weir_op *op, const struct weir_state_opts *o, uint32_t value_size,
                          uint64_t layout);
/* After weir_op_state_declare: the state learns from field `name`, so
 * state learnt from another field is not restored (nor kept by a reload). */
void weir_op_state_learns(struct weir_op *op, const char *name);
/* Call at the start of process(): values handed out before are not reused. */
static inline void weir_op_state_batch(struct weir_op *op)
{
    if (op->keyed)
        op->keyed->last = NULL;
}
/* The lookup itself, when record r's key is not the one before. */
void *weir_op_state_miss(struct weir_op *op, const struct weir_batch *b, uint32_t i,
                         const void *key, uint32_t klen, int *created);

/* Record i's value (created zeroed when new; *created says so when not
 * NULL), or NULL when out of memory. Inline: on the record path, most
 * records (all of them without "by") hit the value handed out before. */
static inline const void *weir_op_state_key(const struct weir_op_state *ks, const struct weir_batch *b,
                                             uint32_t i, uint32_t *klen)
{
    const struct weir_record *r = &b->rec[i];
    *klen = 0;
    if (ks->by_col >= 0) {
        const struct weir_str *v = &b->S[(size_t)i * b->nstr + (size_t)ks->by_col];
        if (v->p) {
            *klen = v->len;
            return v->p;
        }
    } else if (ks->by_col == WEIR_BY_KAFKA_KEY && r->key) {
        *klen = r->key_len;
        return r->key;
    }
    return "";
}

static inline void *weir_op_state(struct weir_op *op, const struct weir_batch *b, uint32_t i,
                                  int *created)
{
    struct weir_op_state *ks = op->keyed;
    const struct weir_record *r = &b->rec[i];
    uint32_t klen;
    const void *key = weir_op_state_key(ks, b, i, &klen);
    if (ks->last && ks->last_part == r->part && ks->last_klen == klen &&
        (ks->conf.evict != WEIR_EVICT_TTL || r->ts_ms <= ks->last_ts) &&
        (klen == 0 || memcmp(ks->last_key, key, klen) == 0)) {
        if (created)
            *created = 0;
        return ks->last; /* already touched and marked dirty in this batch */
    }
    return weir_op_state_miss(op, b, i, key, klen, created);
}

/* The engine calls it before a keyed operator's process(): the batch's keys
 * are hashed and their slots fetched into the cache; then each lookup asks
 * for the entries of the records a few places ahead (and for the recency
 * list neighbours a touch will write), so that the lookups overlap their
 * memory latency instead of paying it one record at a time. Asking just
 * ahead rather than for the whole batch at once keeps what was fetched
 * from being pushed out of the cache by the records in between. */
void weir_op_state_prefetch(struct weir_op *op, const struct weir_batch *b);

/* Record i's value as it is now, when the engine's prefetch hashed the
 * batch and the key is found at once; else NULL. Nothing is touched: for
 * an operator that fetches parts of a value a few records ahead. */
const void *weir_op_state_peek(const struct weir_op *op, const struct weir_batch *b, uint32_t i);

/* The store of a partition slot (created when create), or NULL. */
struct weir_state *weir_op_state_part(struct weir_op *op, uint32_t part, int create);

/* Record i's value when its key is held, neither created nor touched, else
 * NULL: for a record the state counted already (weir_op_replayed). */
static inline void *weir_op_state_find(struct weir_op *op, const struct weir_batch *b, uint32_t i)
{
    uint32_t klen;
    const void *key = weir_op_state_key(op->keyed, b, i, &klen);
    struct weir_state *s = weir_op_state_part(op, b->rec[i].part, 0);
    return s ? weir_state_find(s, key, klen) : NULL;
}
void weir_op_state_drop(struct weir_op *op, uint32_t part);
void weir_op_state_free(struct weir_op *op);

/* A whole partition's state as a blob, and back (-EINVAL when it does not fit). */
int weir_op_snapshot(struct weir_op *op, uint32_t part, struct weir_buf *out);
int weir_op_restore(struct weir_op *op, uint32_t part, const void *data, size_t len);

/* FNV-1a over a string, chained: for layout hashes. */
uint64_t weir_hash_str(uint64_t h, const char *s);
uint64_t weir_hash_u64(uint64_t h, uint64_t v);
#define WEIR_HASH_SEED 0xcbf29ce484222325ull

#endif
