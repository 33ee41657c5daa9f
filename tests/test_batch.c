/* Batches: shape and alignment of the feature matrix, push limits, NaN
 * clearing, arena stability across blocks and reuse without growth. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/batch.h"
#include "tests/check.h"

static void test_shape(void)
{
    struct weir_batch_pool *pool;
    CHECK(weir_batch_pool_new(&pool, 8, 3, 2) == 0);
    struct weir_batch *b = weir_batch_get(pool);
    CHECK(b != NULL);
    CHECK(b->cap == 8 && b->nfeat == 3 && b->stride == 16 && b->nstr == 2);
    CHECK(((uintptr_t)b->X % 64) == 0);
    for (int i = 0; i < 8; i++)
        CHECK(weir_batch_push(b) == i);
    CHECK(weir_batch_push(b) == -1); /* full */
    CHECK(isnan(weir_batch_row(b, 7)[2]));
    CHECK(((uintptr_t)weir_batch_row(b, 1) % 64) == 0); /* every row starts on a cache line */
    CHECK(b->rec[3].partition == -1 && b->rec[3].ts_ms == -1);
    weir_batch_row(b, 0)[0] = 1.5f;
    b->rec[0].flags = WEIR_REC_ALERT;
    weir_batch_kill(b, 1, "bad");
    CHECK(!weir_record_live(&b->rec[1]) && strcmp(b->rec[1].reason, "bad") == 0);
    weir_batch_drop(b, 2); /* dropped: not live, not dead */
    CHECK(!weir_record_live(&b->rec[2]) && b->rec[2].flags == WEIR_REC_DROPPED);
    weir_batch_kill(b, 2, "later"); /* a dead letter is not also dropped */
    CHECK(b->rec[2].flags == WEIR_REC_DEAD);
    weir_batch_put(b);
    struct weir_batch *again = weir_batch_get(pool);
    CHECK(again == b); /* pooled, not reallocated */
    CHECK(again->n == 0);
    CHECK(weir_batch_push(again) == 0);
    CHECK(isnan(weir_batch_row(again, 0)[0]) && again->rec[0].flags == 0);
    weir_batch_put(again);
    weir_batch_pool_free(pool);
}

static void test_arena(void)
{
    struct weir_arena a = {.block_size = 1024};
    char *first = weir_arena_strdup(&a, "abc", 3);
    char *ptrs[200];
    for (int i = 0; i < 200; i++) {
        ptrs[i] = weir_arena_alloc(&a, 100); /* spans many blocks */
        memset(ptrs[i], i, 100);
    }
    char *huge = weir_arena_alloc(&a, 1 << 20); /* bigger than a block */
    CHECK(huge != NULL);
    memset(huge, 7, 1 << 20);
    CHECK_STR(first, "abc"); /* earlier allocations never move */
    int intact = 1;
    for (int i = 0; i < 200; i++)
        intact &= (unsigned char)ptrs[i][99] == (unsigned char)i;
    CHECK(intact);
    CHECK(((uintptr_t)ptrs[5] % 16) == 0);
    weir_arena_reset(&a);
    char *after = weir_arena_alloc(&a, 100);
    CHECK(after != NULL);
    weir_arena_free(&a);
}

/* One batch's worth of records: sizes from a fixed cycle (so that the pool
 * reaches a steady state), now and then one larger than an arena block. */
static void fill(struct weir_batch *b, unsigned seed)
{
    static char bytes[300 * 1024];
    unsigned n = 1 + seed % b->cap;
    for (unsigned i = 0; i < n; i++) {
        int r = weir_batch_push(b);
        unsigned len = (seed * 31u + i * 17u) % 3000u;
        if ((seed + i) % 97u == 0)
            len = sizeof bytes; /* gets a block of its own, freed on reset */
        b->rec[r].value = weir_arena_strdup(&b->arena, bytes, len);
        b->rec[r].value_len = len;
        weir_batch_row(b, (uint32_t)r)[0] = (float)len;
    }
}

/* get/fill/put many times, one to three batches out at once (as a worker
 * whose operators hold batches): after warm-up the pool holds exactly as many
 * bytes after every round. */
static void test_reuse_does_not_grow(void)
{
    struct weir_batch_pool *pool;
    CHECK(weir_batch_pool_new(&pool, 256, 5, 2) == 0);
    size_t warm = 0, min = (size_t)-1, max = 0;
    int all_filled = 1;
    for (unsigned round = 0; round < 6000; round++) {
        struct weir_batch *b[3];
        unsigned k = 1 + round % 3;
        for (unsigned j = 0; j < k; j++) {
            b[j] = weir_batch_get(pool);
            if (!b[j]) {
                all_filled = 0;
                k = j;
                break;
            }
            fill(b[j], (round % 12) * 3 + j);
        }
        for (unsigned j = 0; j < k; j++)
            weir_batch_put(b[j]);
        size_t bytes = weir_batch_pool_bytes(pool);
        if (round == 1000)
            warm = bytes;
        if (round >= 1000) {
            min = bytes < min ? bytes : min;
            max = bytes > max ? bytes : max;
        }
    }
    CHECK(all_filled);
    CHECK(warm > 0);
    CHECK(min == warm && max == warm);
    if (min != warm || max != warm)
        fprintf(stderr, "pool bytes after warm-up: %zu, then between %zu and %zu\n", warm, min, max);
    /* An arena alone: the same allocations after every reset reuse its blocks. */
    struct weir_arena a = {.block_size = 4096};
    size_t arena_warm = 0, arena_now = 0;
    for (int round = 0; round < 10000; round++) {
        for (int i = 0; i < 50; i++)
            weir_arena_alloc(&a, (size_t)(i * 37 % 900) + 1);
        if (round % 50 == 0)
            weir_arena_alloc(&a, 10000); /* oversized: freed again on reset */
        arena_now = weir_arena_bytes(&a);
        weir_arena_reset(&a);
        if (round == 100)
            arena_warm = weir_arena_bytes(&a);
    }
    CHECK(arena_warm > 0 && weir_arena_bytes(&a) == arena_warm);
    CHECK(arena_now > 0);
    weir_arena_free(&a);
    CHECK(weir_arena_bytes(&a) == 0);
    weir_batch_pool_free(pool);
}

int main(void)
{
    test_shape();
    test_arena();
    test_reuse_does_not_grow();
    return check_summary();
}
