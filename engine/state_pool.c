/* Huge-page chunks for state entries; see state_pool.h. */
#include "engine/state_pool.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static size_t class_size(size_t size)
{
    return (size + 15u) & ~(size_t)15u;
}

static struct state_pool_class *class_of(struct state_pool *p, size_t size, int add)
{
    for (uint32_t k = 0; k < p->nclasses; k++)
        if (p->classes[k].size == size)
            return &p->classes[k];
    if (!add)
        return NULL;
    if (p->nclasses == p->classes_cap) {
        uint32_t cap = p->classes_cap ? 2 * p->classes_cap : 4;
        struct state_pool_class *grown = realloc(p->classes, cap * sizeof *grown);
        if (!grown)
            return NULL;
        p->classes = grown;
        p->classes_cap = cap;
    }
    p->classes[p->nclasses] = (struct state_pool_class){.size = size};
    return &p->classes[p->nclasses++];
}

/* A fresh chunk, 2 MiB aligned (mapped twice as big, the rest unmapped),
 * advised as huge pages where the kernel takes the advice. */
static char *chunk_map(void)
{
    size_t want = 2 * STATE_POOL_CHUNK;
    char *raw = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uintptr_t at = ((uintptr_t)raw + STATE_POOL_CHUNK - 1) & ~(uintptr_t)(STATE_POOL_CHUNK - 1);
    char *base = (char *)at;
    if (base > raw)
        munmap(raw, (size_t)(base - raw));
    char *tail = base + STATE_POOL_CHUNK;
    if (raw + want > tail)
        munmap(tail, (size_t)(raw + want - tail));
#ifdef MADV_HUGEPAGE
    (void)madvise(base, STATE_POOL_CHUNK, MADV_HUGEPAGE); /* advice: ignored where refused */
#endif
    return base;
}

static int chunk_add(struct state_pool *p)
{
    if (p->nchunks == p->chunks_cap) {
        uint32_t cap = p->chunks_cap ? 2 * p->chunks_cap : 8;
        char **grown = realloc(p->chunks, cap * sizeof *grown);
        if (!grown)
            return -1;
        p->chunks = grown;
        p->chunks_cap = cap;
    }
    char *c = chunk_map();
    if (!c)
        return -1;
    uint32_t i = p->nchunks;
    while (i > 0 && (uintptr_t)p->chunks[i - 1] > (uintptr_t)c) {
        p->chunks[i] = p->chunks[i - 1];
        i--;
    }
    p->chunks[i] = c;
    p->nchunks++;
    p->mapped += STATE_POOL_CHUNK;
    p->bump = c;
    p->bump_end = c + STATE_POOL_CHUNK;
    return 0;
}

void *state_pool_alloc(struct state_pool *p, size_t size)
{
    if (size == 0 || size > STATE_POOL_MAX_ALLOC)
        return NULL;
    size = class_size(size);
    struct state_pool_class *c = class_of(p, size, 1);
    if (!c)
        return NULL;
    if (c->free) {
        void *out = c->free;
        memcpy(&c->free, out, sizeof c->free);
        return out;
    }
    if ((size_t)(p->bump_end - p->bump) < size && chunk_add(p) < 0)
        return NULL;
    void *out = p->bump;
    p->bump += size;
    return out;
}

void state_pool_free(struct state_pool *p, void *ptr, size_t size)
{
    struct state_pool_class *c = class_of(p, class_size(size), 0);
    if (!c) /* cannot be: ptr came from this class */
        return;
    memcpy(ptr, &c->free, sizeof c->free);
    c->free = ptr;
}

int state_pool_owns(const struct state_pool *p, const void *ptr)
{
    uintptr_t base = (uintptr_t)ptr & ~(uintptr_t)(STATE_POOL_CHUNK - 1);
    uint32_t lo = 0, hi = p->nchunks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uintptr_t at = (uintptr_t)p->chunks[mid];
        if (at == base)
            return 1;
        if (at < base)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void state_pool_release(struct state_pool *p)
{
    for (uint32_t k = 0; k < p->nchunks; k++)
        munmap(p->chunks[k], STATE_POOL_CHUNK);
    free(p->chunks);
    free(p->classes);
    memset(p, 0, sizeof *p);
}
