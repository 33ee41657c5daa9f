/* Keyed, per-partition operator state (engine/opstate.h) through real
 * operators: a stateful operator's output for a record depends only on the
 * earlier records of its own key (with "by") or its own partition (without),
 * whatever the interleaving; the key bound evicts; snapshots move a
 * partition's state to a fresh instance; configurations that give values
 * another meaning refuse each other's snapshots. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/buf.h"
#include "engine/opstate.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_standardize;
extern const struct weir_operator_type weir_op_threshold;

enum { NREC = 20000, NKEY = 37, NPART = 3 };

struct rec {
    int key;
    uint32_t part;
    float v;
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static const char *key_name(int k, char *buf, size_t size)
{
    snprintf(buf, size, "host-%d", k);
    return buf;
}

/* Runs recs through h in batches of 64: string column `host` (or the Kafka
 * key when kafka_key) carries the key, rec.part the partition. */
static void run(struct h_op *h, struct weir_batch_pool *pool, int in, int host, int outc,
                const struct rec *r, size_t n, float *out, int kafka_key)
{
    size_t k = 0;
    char name[32];
    while (k < n) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = k;
        while (k < n && b->n < b->cap) {
            int i = h_push_value(b, in, r[k].v);
            const char *s = key_name(r[k].key, name, sizeof name);
            char *copy = weir_arena_strdup(&b->arena, s, strlen(s));
            if (kafka_key) {
                b->rec[i].key = copy;
                b->rec[i].key_len = (uint32_t)strlen(s);
            } else if (host >= 0) {
                b->S[(size_t)i * b->nstr + (size_t)host] = (struct weir_str){copy, (uint32_t)strlen(s)};
            }
            b->rec[i].part = r[k].part;
            k++;
        }
        CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < k; j++)
            out[j] = weir_batch_row(b, (uint32_t)(j - first))[outc];
        weir_batch_put(b);
    }
}

struct setup {
    struct h_pipe p;
    int in, host, outc;
};

static void setup_init(struct setup *s)
{
    h_pipe_init(&s->p);
    s->in = h_feature(&s->p, "v", 0);
    struct weir_prepare pr = {.schema = &s->p.schema, .diag = &s->p.diag, .path = "operators[0]"};
    s->host = weir_schema_string_out(&pr, "host", "operators[0]");
}

/* Each key (or partition) alone, in order, through a fresh instance without
 * "by": the reference the keyed run must equal bit for bit. */
static void reference(const char *conf, const struct rec *r, size_t n, int by_part, float *want)
{
    struct rec *one = malloc(n * sizeof *one);
    size_t *idx = malloc(n * sizeof *idx);
    float *got = malloc(n * sizeof *got);
    int groups = by_part ? NPART : NKEY;
    for (int g = 0; g < groups; g++) {
        struct setup st, *s = &st;
        setup_init(s);
        struct weir_batch_pool *pool = h_pool(&s->p, 64);
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if ((by_part ? (int)r[i].part : r[i].key) != g)
                continue;
            one[m] = r[i];
            one[m].part = 0;
            idx[m++] = i;
        }
        struct h_op h;
        CHECK(h_build(&h, &weir_op_standardize, conf, &s->p, 1) == 0);
        run(&h, pool, s->in, -1, weir_schema_find_feature(&s->p.schema, "v_z"), one, m, got, 0);
        for (size_t j = 0; j < m; j++)
            want[idx[j]] = got[j];
        h_free(&h);
        weir_batch_pool_free(pool);
        h_pipe_free(&s->p);
    }
    free(one);
    free(idx);
    free(got);
}

static struct rec *make_records(void)
{
    struct rec *r = malloc(NREC * sizeof *r);
    for (size_t i = 0; i < NREC; i++) {
        r[i].key = (int)(rnd() % NKEY);
        r[i].part = rnd() % NPART;
        /* each key has its own level, so mixing keys would show */
        r[i].v = (float)(r[i].key * 10 + (int)(rnd() % 1000) / 100.0);
    }
    return r;
}

static void test_by_key(int kafka_key)
{
    struct setup s;
    setup_init(&s);
    struct rec *r = make_records();
    float *got = malloc(NREC * sizeof *got), *want = malloc(NREC * sizeof *want);
    struct h_op h;
    const char *conf = kafka_key ? "{\"fields\":\"v\",\"by\":\"kafka:key\",\"warmup\":3}"
                                 : "{\"fields\":\"v\",\"by\":\"host\",\"warmup\":3}";
    CHECK(h_build(&h, &weir_op_standardize, conf, &s.p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&s.p, 64);
    int outc = weir_schema_find_feature(&s.p.schema, "v_z");
    /* All records in one partition: the key alone decides the state. */
    for (size_t i = 0; i < NREC; i++)
        r[i].part = 0;
    run(&h, pool, s.in, s.host, outc, r, NREC, got, kafka_key);
    reference("{\"fields\":\"v\",\"warmup\":3}", r, NREC, 0, want);
    CHECK(memcmp(got, want, NREC * sizeof *got) == 0);
    CHECK(weir_state_count(weir_op_state_part(&h.op, 0, 0)) == NKEY);
    weir_batch_pool_free(pool);
    h_free(&h);
    free(r);
    free(got);
    free(want);
    h_pipe_free(&s.p);
}

static void test_by_partition(void)
{
    struct setup s;
    setup_init(&s);
    struct rec *r = make_records();
    float *got = malloc(NREC * sizeof *got), *want = malloc(NREC * sizeof *want);
    struct h_op h;
    CHECK(h_build(&h, &weir_op_standardize, "{\"fields\":\"v\",\"warmup\":3}", &s.p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&s.p, 64);
    run(&h, pool, s.in, -1, weir_schema_find_feature(&s.p.schema, "v_z"), r, NREC, got, 0);
    reference("{\"fields\":\"v\",\"warmup\":3}", r, NREC, 1, want);
    CHECK(memcmp(got, want, NREC * sizeof *got) == 0);

    /* Partition 1's state moves to a fresh instance and goes on there. */
    struct weir_buf buf = {0};
    struct h_op c;
    CHECK(h_clone(&c, &h) == 0);
    CHECK(weir_op_snapshot(&h.op, 1, &buf) == 0);
    CHECK(weir_op_restore(&c.op, 1, buf.data, buf.len) == 0);
    struct rec more[3] = {{5, 1, 77.0f}, {5, 1, 78.0f}, {5, 1, 79.0f}};
    float a[3], b[3];
    run(&h, pool, s.in, -1, weir_schema_find_feature(&s.p.schema, "v_z"), more, 3, a, 0);
    run(&c, pool, s.in, -1, weir_schema_find_feature(&s.p.schema, "v_z"), more, 3, b, 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    /* A dropped partition starts afresh: warmup gives 0 again. */
    weir_op_state_drop(&h.op, 1);
    run(&h, pool, s.in, -1, weir_schema_find_feature(&s.p.schema, "v_z"), more, 1, a, 0);
    CHECK(a[0] == 0.0f);
    weir_buf_free(&buf);
    weir_batch_pool_free(pool);
    h_free_clone(&c);
    h_free(&h);
    free(r);
    free(got);
    free(want);
    h_pipe_free(&s.p);
}

/* A TTL key's records next to each other in a batch each touch it: the
 * key lives ttl from its last record (the lookup skipped for the second
 * record of a key left it touched at the first: gone 50 s early). */
static void test_ttl_touch(void)
{
    struct setup s;
    setup_init(&s);
    struct h_op h;
    CHECK(h_build(&h, &weir_op_standardize,
                  "{\"fields\":\"v\",\"by\":\"host\",\"evict\":\"ttl\",\"ttl\":\"60s\"}", &s.p,
                  1) == 0);
    struct weir_batch_pool *pool = h_pool(&s.p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    static const char *const keys[] = {"a", "a", "b"};
    static const int64_t ts[] = {0, 50000, 70000};
    for (int k = 0; k < 3; k++) {
        int i = h_push_value(b, s.in, 1.0f);
        b->rec[i].ts_ms = ts[k];
        b->S[(size_t)i * b->nstr + (size_t)s.host] = (struct weir_str){keys[k], 1};
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    weir_batch_put(b);
    struct weir_state *st = weir_op_state_part(&h.op, 0, 0);
    CHECK(st && weir_state_expire(st, 70000) == 0 && weir_state_count(st) == 2);
    CHECK(st && weir_state_expire(st, 110001) == 1 && weir_state_count(st) == 1);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&s.p);
}

/* max_keys bounds each partition's keys; the least recently updated goes. */
static void test_eviction(void)
{
    struct setup s;
    setup_init(&s);
    struct h_op h;
    CHECK(h_build(&h, &weir_op_standardize,
                  "{\"fields\":\"v\",\"by\":\"host\",\"warmup\":1,\"max_keys\":10}", &s.p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&s.p, 64);
    int outc = weir_schema_find_feature(&s.p.schema, "v_z");
    struct rec r[40];
    float out[40];
    for (int i = 0; i < 40; i++)
        r[i] = (struct rec){i % 20, 0, (float)i};
    run(&h, pool, s.in, s.host, outc, r, 40, out, 0);
    struct weir_state *st = weir_op_state_part(&h.op, 0, 0);
    CHECK(weir_state_count(st) == 10);
    CHECK(weir_state_evicted(st) == 30); /* 20 keys cycling through 10 slots, twice */
    for (int i = 20; i < 40; i++)
        CHECK(out[i] == 0.0f); /* each came back evicted: first record of its key again */
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&s.p);
}

static void expect_error(const char *json, const char *want)
{
    static const char *const feats[] = {"v", NULL};
    h_expect_prepare_error(&weir_op_standardize, feats, 1, json, want);
}

/* Threshold per key: each key learns its own quantile; a snapshot from a
 * different quantile, or of another score, is refused. */
static void test_threshold_keys(void)
{
    struct setup s;
    setup_init(&s);
    h_feature(&s.p, "score", 0);
    struct h_op a, b;
    CHECK(h_build(&a, &weir_op_threshold,
                  "{\"score\":\"score\",\"quantile\":0.9,\"warmup\":5,\"by\":\"host\"}", &s.p, 1) == 0);
    CHECK(h_build(&b, &weir_op_threshold,
                  "{\"score\":\"score\",\"quantile\":0.95,\"warmup\":5,\"by\":\"host\"}", &s.p, 2) == 0);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&a.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&b.op, 0, buf.data, buf.len) == -EINVAL);
    CHECK(weir_op_restore(&a.op, 0, buf.data, buf.len) == 0);
    /* nor is one that learnt another score's quantile */
    struct setup s2;
    setup_init(&s2);
    h_feature(&s2.p, "score2", 0);
    struct h_op c;
    CHECK(h_build(&c, &weir_op_threshold,
                  "{\"score\":\"score2\",\"quantile\":0.9,\"warmup\":5,\"by\":\"host\"}",
                  &s2.p, 1) == 0);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == -EINVAL);
    h_free(&c);
    h_pipe_free(&s2.p);
    weir_buf_free(&buf);
    h_free(&a);
    h_free(&b);
    h_pipe_free(&s.p);
}

/* The "by" field is part of the layout: state keyed by hosts is refused by
 * an operator keyed by the Kafka key (the names could look alike). State
 * saved before the layout named it is still read, so an upgrade keeps it. */
static void test_by_in_layout(void)
{
    struct setup s[3];
    struct h_op a, b, c;
    for (int i = 0; i < 3; i++)
        setup_init(&s[i]);
    CHECK(h_build(&a, &weir_op_standardize, "{\"fields\":\"v\",\"by\":\"host\"}", &s[0].p, 1) ==
          0);
    CHECK(h_build(&b, &weir_op_standardize, "{\"fields\":\"v\",\"by\":\"kafka:key\"}", &s[1].p,
                  1) == 0);
    CHECK(h_build(&c, &weir_op_standardize, "{\"fields\":\"v\"}", &s[2].p, 1) == 0);
    CHECK(a.op.keyed->layout != b.op.keyed->layout);
    CHECK(a.op.keyed->layout_unnamed == b.op.keyed->layout_unnamed);
    CHECK(c.op.keyed->layout_unnamed == a.op.keyed->layout_unnamed);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&a.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&b.op, 0, buf.data, buf.len) == -EINVAL);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == -EINVAL);
    CHECK(weir_op_restore(&a.op, 0, buf.data, buf.len) == 0);
    /* state kept per partition is no key's: "" would be records without it */
    weir_buf_reset(&buf);
    CHECK(weir_op_snapshot(&c.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&a.op, 0, buf.data, buf.len) == -EINVAL);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
    uint64_t before = a.op.keyed->layout_unnamed; /* as an older build wrote it */
    memcpy((char *)buf.data + 8, &before, sizeof before);
    CHECK(weir_op_restore(&b.op, 0, buf.data, buf.len) == 0);
    CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
    weir_buf_free(&buf);
    h_free(&a);
    h_free(&b);
    h_free(&c);
    for (int i = 0; i < 3; i++)
        h_pipe_free(&s[i].p);
}

int main(void)
{
    test_ttl_touch();
    test_by_key(0);
    test_by_key(1);
    test_by_partition();
    test_by_in_layout();
    test_eviction();
    test_threshold_keys();
    expect_error("{\"fields\":\"v\",\"by\":\"hots\"}",
                 "test.json: operators[1].by: unknown string field \"hots\"; no earlier operator writes any");
    expect_error("{\"fields\":\"v\",\"ttl\":\"1h\"}",
                 "test.json: operators[1].ttl: expected only with \"evict\": \"ttl\", got \"evict\": \"lru\"");
    return check_summary();
}
