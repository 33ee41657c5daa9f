/* Batches: shape and alignment of the feature matrix, push limits, NaN
 * clearing, arena stability across blocks and reuse without growth. */
#include <math.h>
#include <stdint.h>
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

int main(void)
{
    test_shape();
    test_arena();
    return check_summary();
}
