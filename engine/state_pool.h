/* Memory for the keyed state store's entries once a store is big: 2 MiB
 * chunks aligned to 2 MiB and advised as transparent huge pages, so that a
 * lookup into tens of megabytes of window values costs a cache miss and not
 * also a TLB miss and a page walk (measured: see docs/benchmarks.md). Only
 * engine/state*.c includes this.
 *
 * Entries are carved from the chunks by size class (their size rounded up
 * to 16 bytes); a freed entry goes on its class's free list and is reused
 * by the next entry of that class. Chunks go back to the system only when
 * the pool is released. Where the system gives no chunk (mmap fails) the
 * allocation fails, and the store falls back to malloc. */
#ifndef WEIR_STATE_POOL_H
#define WEIR_STATE_POOL_H

#include <stddef.h>
#include <stdint.h>

#define STATE_POOL_CHUNK ((size_t)2 << 20)
#define STATE_POOL_MAX_ALLOC ((size_t)256 << 10) /* bigger entries: malloc */

struct state_pool_class {
    size_t size;
    void *free; /* a list through the first word of each free block */
};

struct state_pool {
    char **chunks; /* the chunks' bases, sorted by address */
    uint32_t nchunks, chunks_cap;
    char *bump, *bump_end; /* the unused part of the newest chunk */
    struct state_pool_class *classes;
    uint32_t nclasses, classes_cap;
    uint64_t mapped; /* bytes of chunks */
};

/* size bytes (1..STATE_POOL_MAX_ALLOC) from the pool, 16-byte aligned, or
 * NULL (no chunk to be had, or no memory for the pool's own lists). */
void *state_pool_alloc(struct state_pool *p, size_t size);

/* Gives back ptr, which state_pool_alloc returned for size bytes. */
void state_pool_free(struct state_pool *p, void *ptr, size_t size);

/* Whether ptr lies in one of the pool's chunks. */
int state_pool_owns(const struct state_pool *p, const void *ptr);

/* Unmaps every chunk and frees the lists; the pool is empty again. */
void state_pool_release(struct state_pool *p);

#endif
