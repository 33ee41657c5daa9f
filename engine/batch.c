/* Batches, their pool and their arena (see batch.h). */
#include "engine/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct weir_arena_block {
    struct weir_arena_block *next;
    size_t used, size;
    _Alignas(16) char data[];
};

#define ARENA_DEFAULT_BLOCK (256u * 1024u)

static struct weir_arena_block *block_new(size_t size)
{
    struct weir_arena_block *blk = malloc(sizeof *blk + size);
    if (blk) {
        blk->next = NULL;
        blk->used = 0;
        blk->size = size;
    }
    return blk;
}

/* Takes a kept block that fits, or makes one. Oversized records get a block of
 * their own so one huge line does not make every block huge. */
static struct weir_arena_block *block_for(struct weir_arena *a, size_t len)
{
    size_t want = a->block_size ? a->block_size : ARENA_DEFAULT_BLOCK;
    for (struct weir_arena_block **p = &a->free; *p; p = &(*p)->next) {
        if ((*p)->size >= len) {
            struct weir_arena_block *blk = *p;
            *p = blk->next;
            blk->used = 0;
            return blk;
        }
    }
    return block_new(len > want ? len : want);
}

void *weir_arena_alloc(struct weir_arena *a, size_t len)
{
    size_t aligned = (len + 15u) & ~(size_t)15u;
    struct weir_arena_block *h = a->head;
    if (!h || h->size - h->used < aligned) {
        h = block_for(a, aligned);
        if (!h)
            return NULL;
        h->next = a->head;
        a->head = h;
    }
    void *p = h->data + h->used;
    h->used += aligned;
    return p;
}

char *weir_arena_strdup(struct weir_arena *a, const char *s, size_t len)
{
    char *p = weir_arena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

/* Keeps regular blocks for reuse; frees oversized ones so memory returns after a spike. */
void weir_arena_reset(struct weir_arena *a)
{
    size_t want = a->block_size ? a->block_size : ARENA_DEFAULT_BLOCK;
    struct weir_arena_block *blk = a->head;
    while (blk) {
        struct weir_arena_block *next = blk->next;
        if (blk->size > want) {
            free(blk);
        } else {
            blk->used = 0;
            blk->next = a->free;
            a->free = blk;
        }
        blk = next;
    }
    a->head = NULL;
}

void weir_arena_free(struct weir_arena *a)
{
    weir_arena_reset(a);
    for (struct weir_arena_block *blk = a->free, *next; blk; blk = next) {
        next = blk->next;
        free(blk);
    }
    a->free = NULL;
}

size_t weir_arena_bytes(const struct weir_arena *a)
{
    size_t n = 0;
    for (const struct weir_arena_block *blk = a->head; blk; blk = blk->next)
        n += sizeof *blk + blk->size;
    for (const struct weir_arena_block *blk = a->free; blk; blk = blk->next)
        n += sizeof *blk + blk->size;
    return n;
}

struct weir_batch_pool {
    uint32_t cap, nfeat, nstr;
    struct weir_batch *free_list;
    unsigned outstanding; /* batches handed out and not yet put back */
    unsigned created;     /* batches allocated so far */
    const struct weir_batch_mem *mem; /* NULL: aligned_alloc */
};

int weir_batch_pool_set_mem(struct weir_batch_pool *pool, const struct weir_batch_mem *mem)
{
    if (pool->created)
        return -EBUSY;
    pool->mem = mem;
    return 0;
}

unsigned weir_batch_pool_outstanding(const struct weir_batch_pool *pool)
{
    return pool->outstanding;
}

int weir_batch_pool_new(struct weir_batch_pool **out, uint32_t cap, uint32_t nfeat,
                        uint32_t nstr)
{
    struct weir_batch_pool *pool = calloc(1, sizeof *pool);
    if (!pool)
        return -12; /* -ENOMEM */
    pool->cap = cap ? cap : 1;
    pool->nfeat = nfeat;
    pool->nstr = nstr;
    *out = pool;
    return 0;
}

static void batch_destroy(struct weir_batch *b)
{
    const struct weir_batch_mem *m = b->pool->mem;
    if (m && b->X)
        m->free(m->ctx, b->X);
    else
        free(b->X);
    free(b->S);
    free(b->rec);
    weir_arena_free(&b->arena);
    free(b);
}

void weir_batch_pool_free(struct weir_batch_pool *pool)
{
    if (!pool)
        return;
    for (struct weir_batch *b = pool->free_list, *next; b; b = next) {
        next = b->next;
        batch_destroy(b);
    }
    free(pool);
}

static struct weir_batch *batch_create(struct weir_batch_pool *pool)
{
    struct weir_batch *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->cap = pool->cap;
    b->nfeat = pool->nfeat;
    b->stride = (pool->nfeat + 15u) & ~15u;
    if (b->stride == 0)
        b->stride = 16;
    b->nstr = pool->nstr;
    size_t xsize = (size_t)b->cap * b->stride * sizeof(float);
    b->pool = pool;
    b->X = pool->mem ? pool->mem->alloc(pool->mem->ctx, xsize) : aligned_alloc(64, xsize);
    b->S = calloc((size_t)b->cap * (b->nstr ? b->nstr : 1), sizeof *b->S);
    b->rec = calloc(b->cap, sizeof *b->rec);
    if (!b->X || !b->S || !b->rec) {
        batch_destroy(b);
        return NULL;
    }
    pool->created++;
    return b;
}

struct weir_batch *weir_batch_get(struct weir_batch_pool *pool)
{
    struct weir_batch *b = pool->free_list;
    if (b)
        pool->free_list = b->next;
    else if (!(b = batch_create(pool)))
        return NULL;
    b->next = NULL;
    b->n = 0;
    b->source_id = -1;
    b->source_ctx = NULL;
    pool->outstanding++;
    return b;
}

void weir_batch_put(struct weir_batch *b)
{
    if (!b)
        return;
    weir_arena_reset(&b->arena);
    b->next = b->pool->free_list;
    b->pool->free_list = b;
    b->pool->outstanding--;
}

size_t weir_batch_pool_bytes(const struct weir_batch_pool *pool)
{
    size_t n = 0;
    for (const struct weir_batch *b = pool->free_list; b; b = b->next)
        n += sizeof *b + (size_t)b->cap * b->stride * sizeof(float) +
             (size_t)b->cap * (b->nstr ? b->nstr : 1) * sizeof *b->S + b->cap * sizeof *b->rec +
             weir_arena_bytes(&b->arena);
    return n;
}

/* Rows are cleared to NaN as they are taken, so a batch costs only what it uses. */
int weir_batch_push(struct weir_batch *b)
{
    if (b->n >= b->cap)
        return -1;
    uint32_t i = b->n++;
    float *row = weir_batch_row(b, i);
    for (uint32_t j = 0; j < b->nfeat; j++)
        row[j] = NAN;
    memset(&b->S[(size_t)i * b->nstr], 0, b->nstr * sizeof *b->S);
    memset(&b->rec[i], 0, sizeof b->rec[i]);
    b->rec[i].ts_ms = -1;
    b->rec[i].partition = -1;
    return (int)i;
}
