/* A live map's new bounds (a reload's operator keeping its keyed state):
 * what they leave no room for goes at once, oldest first, and the table
 * shrinks with a byte bound so the map keeps what a map made with it keeps. */
#include "engine/state.h"
#include "tests/check.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char *key[] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"};

/* New bounds on a live map (a reload's operator keeping its state): what
 * they leave no room for goes now, oldest first, as dirty deletions; a
 * change of meaning is refused and changes nothing. */
static void test_rebound(void)
{
    struct weir_state *s;
    struct weir_state_conf c = {.value_size = 8, .max_keys = 100};
    CHECK(weir_state_new(&s, &c) == 0);
    for (int k = 0; k < 6; k++)
        *(uint64_t *)weir_state_get(s, key[k], (uint32_t)strlen(key[k]), k, NULL) = (uint64_t)k;
    weir_state_clean(s);
    struct weir_state_conf other = c;
    other.value_size = 16;
    CHECK(weir_state_rebound(s, &other) == -EINVAL);
    other = c;
    other.evict = WEIR_EVICT_TTL;
    other.ttl_ms = 5;
    CHECK(weir_state_rebound(s, &other) == -EINVAL);
    CHECK(weir_state_count(s) == 6 && weir_state_evicted(s) == 0);

    c.max_keys = 4;
    CHECK(weir_state_rebound(s, &c) == 0);
    CHECK(weir_state_count(s) == 4 && weir_state_evicted(s) == 2);
    CHECK(weir_state_take_pushed_out(s) == 2 && weir_state_dirty_count(s) == 2);
    CHECK(weir_state_find(s, key[0], (uint32_t)strlen(key[0])) == NULL); /* the two oldest */
    CHECK(weir_state_find(s, key[1], (uint32_t)strlen(key[1])) == NULL);
    CHECK(*(uint64_t *)weir_state_find(s, key[5], (uint32_t)strlen(key[5])) == 5);
    CHECK(weir_state_check(s) == 0);
    /* the new bound holds on inserts */
    weir_state_get(s, key[6], (uint32_t)strlen(key[6]), 6, NULL);
    CHECK(weir_state_count(s) == 4 && weir_state_evicted(s) == 3);

    c.max_keys = 0; /* unbounded: nothing goes, and the map may grow again */
    CHECK(weir_state_rebound(s, &c) == 0 && weir_state_count(s) == 4);
    weir_state_get(s, key[7], (uint32_t)strlen(key[7]), 7, NULL);
    CHECK(weir_state_count(s) == 5 && weir_state_evicted(s) == 3);
    c.max_bytes = 1; /* room for nothing */
    CHECK(weir_state_rebound(s, &c) == 0 && weir_state_count(s) == 0);
    CHECK(weir_state_evicted(s) == 8 && weir_state_check(s) == 0);
    weir_state_free(s);

    /* Half the bytes of a big map of small keys: its table shrinks with it,
     * so it keeps about what a map made with that bound keeps (the big
     * map's table alone would leave room for half of that), and goes on
     * holding that. */
    struct weir_state *t;
    enum { MANY = 20000 };
    char k8[16];
    c = (struct weir_state_conf){.value_size = 8};
    CHECK(weir_state_new(&s, &c) == 0);
    for (int k = 0; k < MANY; k++)
        weir_state_get(s, k8, (uint32_t)snprintf(k8, sizeof k8, "%d", k), k, NULL);
    c.max_bytes = weir_state_bytes(s) / 2;
    CHECK(weir_state_new(&t, &c) == 0);
    for (int k = 0; k < MANY; k++)
        weir_state_get(t, k8, (uint32_t)snprintf(k8, sizeof k8, "%d", k), k, NULL);
    CHECK(weir_state_rebound(s, &c) == 0 && weir_state_check(s) == 0);
    CHECK(weir_state_bytes(s) <= c.max_bytes);
    CHECK(weir_state_count(s) * 10 >= weir_state_count(t) * 9);
    for (int k = 0; k < MANY; k++)
        weir_state_get(s, k8, (uint32_t)snprintf(k8, sizeof k8, "x%d", k), MANY + k, NULL);
    CHECK(weir_state_count(s) * 10 >= weir_state_count(t) * 9 && weir_state_check(s) == 0);
    printf("rebound to %llu bytes: %llu keys (a map made with it: %llu)\n",
           (unsigned long long)c.max_bytes, (unsigned long long)weir_state_count(s),
           (unsigned long long)weir_state_count(t));
    weir_state_free(s);
    weir_state_free(t);
}

int main(void)
{
    test_rebound();
    return check_summary();
}
