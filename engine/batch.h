/* The batch: the unit of work on the record path.
 *
 * Up to cap records, each with its source coordinates, key, timestamp and raw
 * value, plus one row of a dense float feature matrix X (cap x stride,
 * row-major, 64-byte aligned) so that inference is one GEMM per batch, and a
 * row of string fields S (cap x nstr). Batches come from a pool and keep their
 * memory between uses: the hot path does not call malloc once the pool is warm. */
#ifndef WEIR_BATCH_H
#define WEIR_BATCH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* Record flags. */
/* The latest event time a record may carry, in epoch ms: a window's end
 * (time + a size of up to 36500 days) still fits int64_t (~9.22e18). */
#define WEIR_TS_MAX_MS 9.2e18

#define WEIR_REC_ALERT 0x01u /* a threshold marked it */
#define WEIR_REC_DEAD 0x02u  /* failed; goes to the dead-letter sink with reason */
#define WEIR_REC_DROPPED 0x04u /* filtered out: acknowledged as done, written to no sink */
#define WEIR_REC_WARMUP 0x08u /* a scorer upstream is still warming up: its score is no evidence */

/* Bytes that stay put until the arena is reset: blocks are chained, never moved. */
struct weir_arena_block;
struct weir_arena {
    struct weir_arena_block *head; /* block being filled */
    struct weir_arena_block *free; /* blocks kept for reuse after a reset */
    size_t block_size;
};

void *weir_arena_alloc(struct weir_arena *a, size_t len); /* NULL when out of memory */
char *weir_arena_strdup(struct weir_arena *a, const char *s, size_t len); /* NUL-terminated */
void weir_arena_reset(struct weir_arena *a);  /* keeps the blocks */
void weir_arena_free(struct weir_arena *a);
/* Bytes of the blocks the arena holds, in use or kept for reuse (tests). */
size_t weir_arena_bytes(const struct weir_arena *a);

struct weir_str {
    const char *p; /* NULL when the field is absent */
    uint32_t len;
};

/* Where one top-level member of a record's JSON object lies in its value,
 * as the source that wrote the object knows it. The key's bytes need no
 * unescaping (a source lists members only then); type is enum weir_jtype
 * (engine/jscan.h): null, number or string, val_off/val_len as a
 * weir_jval's (a string's bytes between its quotes, still escaped). */
struct weir_member {
    uint32_t key_off, key_len;
    uint32_t val_off, val_len;
    uint8_t type, escaped;
};

/* A record's members, in order, when its source wrote the JSON object
 * itself (a CSV row): operators may read them instead of scanning value.
 * Equal shapes mean equal keys in the same order (a hash of the keys), so
 * what was worked out from one record's keys holds for the next. Whoever
 * rewrites a record's value sets its members to NULL. */
struct weir_members {
    uint64_t shape;
    uint32_t n;
    struct weir_member m[];
};

struct weir_record {
    const char *value;   /* raw bytes as received (a JSON object for file and Kafka sources) */
    uint32_t value_len;
    uint32_t key_len;
    const char *key;     /* Kafka key, or NULL */
    int64_t ts_ms;       /* event time in ms since the epoch, or -1 */
    int64_t offset;      /* Kafka offset, or the 1-based line number for file sources */
    const char *topic;   /* Kafka topic, or the source's name (a file path) */
    int32_t partition;   /* -1 for file sources */
    uint32_t part;       /* the worker's partition slot (state, watermark); 0 for files */
    uint32_t flags;      /* WEIR_REC_* */
    uint64_t warm_cols;  /* the scores still warming up on it: bit c % 64 for feature c
                          * (weir_record_warming), against a score's lineage (schema.h) */
    const char *reason;  /* why it is dead (static or arena string) */
    const struct weir_members *members; /* value's members as its source wrote them, or NULL */
};

/* A scorer still warming up on r: the score it wrote in feature col is no
 * evidence there. */
static inline void weir_record_warming(struct weir_record *r, int col)
{
    r->flags |= WEIR_REC_WARMUP;
    r->warm_cols |= 1ull << ((unsigned)col & 63u);
}

struct weir_batch_pool;

struct weir_batch {
    uint32_t n;       /* records in use */
    uint32_t cap;     /* records allocated */
    uint32_t nfeat;   /* feature columns in use */
    uint32_t stride;  /* floats per row of X: nfeat rounded up to 16 (64 bytes) */
    uint32_t nstr;    /* string fields per record */
    float *X;         /* (cap, stride) row-major, 64-byte aligned; NaN = missing */
    struct weir_str *S; /* (cap, nstr) */
    struct weir_record *rec; /* (cap) */
    struct weir_arena arena; /* record bytes owned by the batch; reset on release */
    int source_id;    /* which source filled it (for acknowledgements) */
    void *source_ctx; /* source's per-batch state (offset tracking) */
    struct weir_batch *next; /* pool free list / hand-off queues */
    struct weir_batch_pool *pool;
};

static inline float *weir_batch_row(struct weir_batch *b, uint32_t i)
{
    return b->X + (size_t)i * b->stride;
}

/* Live: neither dead nor dropped; operators and sinks see only live records. */
static inline int weir_record_live(const struct weir_record *r)
{
    return !(r->flags & (WEIR_REC_DEAD | WEIR_REC_DROPPED));
}

/* Drops record i: no later operator or sink sees it, and it counts as done
 * (its input is committed), not as a dead letter. */
static inline void weir_batch_drop(struct weir_batch *b, uint32_t i)
{
    b->rec[i].flags |= WEIR_REC_DROPPED;
}

/* Marks record i dead with a reason (static string or arena copy). A dead
 * letter is never also dropped: it goes to the dead-letter sink. */
static inline void weir_batch_kill(struct weir_batch *b, uint32_t i, const char *reason)
{
    b->rec[i].flags = (b->rec[i].flags | WEIR_REC_DEAD) & ~WEIR_REC_DROPPED;
    b->rec[i].reason = reason;
}

/* Who provides the feature matrices' memory (an operator may, e.g. pinned
 * host memory for GPU copies). alloc returns size bytes aligned to 64. */
struct weir_batch_mem {
    void *(*alloc)(void *ctx, size_t size);
    void (*free)(void *ctx, void *p);
    void *ctx;
};

/* A pool of batches of identical shape, owned by one worker. */
int weir_batch_pool_new(struct weir_batch_pool **out, uint32_t cap, uint32_t nfeat,
                        uint32_t nstr);
void weir_batch_pool_free(struct weir_batch_pool *pool);
/* Changes where new batches' matrices come from; -EBUSY once a batch exists.
 * mem must outlive the pool. */
int weir_batch_pool_set_mem(struct weir_batch_pool *pool, const struct weir_batch_mem *mem);
/* Batches handed out and not yet put back. */
unsigned weir_batch_pool_outstanding(const struct weir_batch_pool *pool);
/* Returns an empty batch (n = 0, X filled with NaN) or NULL when out of memory. */
struct weir_batch *weir_batch_get(struct weir_batch_pool *pool);
/* Returns the batch to its pool; its arena is reset. */
void weir_batch_put(struct weir_batch *b);
/* Bytes held by the pool's idle batches: their matrices, records and arena
 * blocks. Constant once the pool is warm (tests check that reuse does not
 * grow memory). */
size_t weir_batch_pool_bytes(const struct weir_batch_pool *pool);
/* Appends a record slot; returns its index, or -1 when the batch is full. */
int weir_batch_push(struct weir_batch *b);
/* Takes back the slot the last push gave, half made (its value could not
 * be copied): a batch flushed on a failing worker's way out must not carry
 * a record whose length has no bytes behind it. */
static inline void weir_batch_unpush(struct weir_batch *b)
{
    b->n--;
}

#endif
