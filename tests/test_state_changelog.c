/* A map's changelog, as the worker writes it (weir_state_foreach_dirty after
 * each checkpoint, then clean), replayed into a fresh map with the same
 * bounds (weir_state_put_at with each entry's time, weir_state_del): the map
 * comes back with the same keys, values, last-touched times and recency,
 * with or without compaction (only each key's last record), and the bounds
 * evict nothing on the way; and so after every checkpoint (what a crash
 * there restores), not only at the end. Random operations with fixed
 * seeds over bounded, TTL and unbounded maps.
 *
 * Why: a full map evicts on nearly every insert. Written newest first, a
 * checkpoint's puts came before the tombstone of the key the last of them
 * evicted, so a replay evicted a key the map had kept, and TTL maps got
 * their keys back as touched at 0 (expired at the next sweep). */
#include "engine/state.h"
#include "tests/check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 24
#define LOG_MAX 200000

struct rec {
    char key[32];
    uint32_t klen;
    int del;
    uint64_t value;
    int64_t touched;
};

static struct rec logv[LOG_MAX];
static size_t nlog;
static uint64_t rng;

static uint64_t rnd(uint64_t n) /* [0, n) */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (rng * 0x2545f4914f6cdd1dull) % n;
}

static int log_entry(void *ctx, const void *key, uint32_t klen, const void *value)
{
    (void)ctx;
    if (nlog == LOG_MAX || klen > sizeof logv[0].key)
        return -1;
    struct rec *r = &logv[nlog++];
    memcpy(r->key, key, klen);
    r->klen = klen;
    r->del = value == NULL;
    r->value = 0;
    if (value)
        memcpy(&r->value, value, sizeof r->value);
    r->touched = value ? weir_state_touched_at(key) : 0;
    return 0;
}

/* What a map holds, least recent first: "key=value@touched," each. */
static int dump_entry(void *ctx, const void *key, uint32_t klen, const void *value)
{
    char *out = ctx;
    uint64_t v;
    memcpy(&v, value, sizeof v);
    size_t n = strlen(out);
    snprintf(out + n, 8192 - n, "%.*s=%llu@%lld,", (int)klen, (const char *)key,
             (unsigned long long)v, (long long)weir_state_touched_at(key));
    return 0;
}

static void dump(const struct weir_state *s, char *out)
{
    out[0] = 0;
    weir_state_foreach(s, dump_entry, out);
}

/* Replays log[from, nlog) (each key's last record only when compacted) into
 * t. */
static int replay_into(struct weir_state *t, size_t from, int compacted)
{
    int bad = 0;
    for (size_t i = from; i < nlog; i++) {
        const struct rec *r = &logv[i];
        int later = 0;
        for (size_t j = i + 1; compacted && j < nlog && !later; j++)
            later = logv[j].klen == r->klen && memcmp(logv[j].key, r->key, r->klen) == 0;
        if (later)
            continue;
        if (r->del)
            weir_state_del(t, r->key, r->klen); /* -ENOENT: never written, or compacted */
        else
            bad += weir_state_put_at(t, r->key, r->klen, &r->value, r->touched) != 0;
    }
    return bad + (weir_state_check(t) != 0);
}

/* The whole log into a fresh map; the dump of what it holds goes to out. */
static int replay(const struct weir_state_conf *c, int compacted, char *out, uint64_t *evicted)
{
    struct weir_state *t;
    if (weir_state_new(&t, c) != 0)
        return -1;
    int bad = replay_into(t, 0, compacted);
    dump(t, out);
    *evicted = weir_state_evicted(t);
    weir_state_free(t);
    return bad;
}

static void run(const char *name, struct weir_state_conf c, uint64_t seed, int nops)
{
    static char live[8192], back[8192], packed[8192], shadow_dump[8192];
    rng = seed;
    nlog = 0;
    struct weir_state *s, *shadow; /* shadow: what a crash after each checkpoint restores */
    CHECK(weir_state_new(&s, &c) == 0);
    CHECK(weir_state_new(&shadow, &c) == 0);
    int diverged = 0;
    int64_t clock = 1000;
    uint64_t counter = 0;
    int bad = 0;
    for (int op = 0; op < nops; op++) {
        char key[32]; /* lengths 2 to 23: entries of several sizes */
        int id = (int)rnd(NKEYS);
        uint32_t klen = (uint32_t)snprintf(key, sizeof key, "k%d%.*s", id, id % 8 * 3,
                                           "xxxxxxxxxxxxxxxxxxxxxxxx");
        clock += (int64_t)rnd(3);
        int64_t now = rnd(10) < 2 ? clock - (int64_t)rnd(20) : clock; /* out of order */
        uint64_t r = rnd(100);
        if (r < 80) {
            uint64_t *v = weir_state_get(s, key, klen, now, NULL);
            bad += v == NULL;
            if (v)
                *v = ++counter;
        } else if (r < 88) {
            weir_state_del(s, key, klen);
        } else if (r < 92) {
            weir_state_expire(s, clock);
        } else if (r < 94) {
            uint64_t v = ++counter;
            bad += weir_state_put(s, key, klen, &v, now, 1) != 0;
        } else { /* a checkpoint, and what it restores */
            size_t from = nlog;
            bad += weir_state_foreach_dirty(s, log_entry, NULL) != 0;
            weir_state_clean(s);
            bad += replay_into(shadow, from, 0);
            dump(s, live);
            dump(shadow, shadow_dump);
            diverged += strcmp(live, shadow_dump) != 0;
        }
    }
    bad += weir_state_foreach_dirty(s, log_entry, NULL) != 0;
    weir_state_clean(s);
    bad += weir_state_check(s) != 0;
    dump(s, live);
    uint64_t ev_full = 0, ev_packed = 0;
    bad += replay(&c, 0, back, &ev_full);
    bad += replay(&c, 1, packed, &ev_packed);
    CHECK(bad == 0);
    CHECK(diverged == 0 && weir_state_evicted(shadow) == 0);
    CHECK_STR(back, live);
    CHECK_STR(packed, live);
    CHECK(ev_full == 0 && ev_packed == 0);
    printf("%s: %zu changelog records, %llu keys, %llu evicted live\n", name, nlog,
           (unsigned long long)weir_state_count(s), (unsigned long long)weir_state_evicted(s));
    if (diverged)
        fprintf(stderr, "%s: the restore differed after %d checkpoints\n", name, diverged);
    weir_state_free(s);
    weir_state_free(shadow);
}

int main(void)
{
    for (uint64_t seed = 1; seed <= 4; seed++) {
        uint64_t sd = seed * 0x9e3779b97f4a7c15ull;
        run("max_keys 8", (struct weir_state_conf){.value_size = 8, .max_keys = 8}, sd, 4000);
        run("max_keys 1", (struct weir_state_conf){.value_size = 8, .max_keys = 1}, sd, 2000);
        run("max_bytes 1200", (struct weir_state_conf){.value_size = 8, .max_bytes = 1200}, sd,
            4000);
        /* room for more keys than a 16-slot table takes: it grows, or evicts */
        run("max_bytes 2600", (struct weir_state_conf){.value_size = 8, .max_bytes = 2600}, sd,
            4000);
        run("ttl 40, max_keys 8",
            (struct weir_state_conf){.value_size = 8, .max_keys = 8, .evict = WEIR_EVICT_TTL,
                                     .ttl_ms = 40},
            sd, 4000);
        run("unbounded", (struct weir_state_conf){.value_size = 8}, sd, 2000);
    }
    return check_summary();
}
