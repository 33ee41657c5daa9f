/* Tests for the dedup operator against a brute-force reference: a record is a
 * duplicate when an earlier record of its key that went through is less than
 * `within` away in event time. Random streams with many keys, absent and
 * empty keys (never duplicates), out-of-order and equal times, late records;
 * the Kafka key;
 * snapshot/restore; prepare errors. */
#include <errno.h>
#include <stdlib.h>

#include "engine/buf.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_dedup;

#define NREC 5000

struct rec {
    int64_t ts;
    char key[8];
    int absent; /* no key */
    int dead;   /* dead before dedup */
};

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void make_stream(struct rec *r, size_t n, uint32_t nkeys, int64_t disorder)
{
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        int64_t t = 100000 + (int64_t)i * 40 - rnd((uint32_t)disorder + 1);
        r[i].ts = t - t % 20; /* equal times happen */
        uint32_t k = rnd(nkeys);
        if (k)
            snprintf(r[i].key, sizeof r[i].key, "k%u", k); /* k == 0: "", no key either */
        r[i].absent = rnd(25) == 0;
        r[i].dead = rnd(60) == 0;
    }
}

/* 0 kept, 1 duplicate, 2 late (the reference's verdict for record i). */
static int verdict(const struct rec *r, const int *kept, size_t i, int64_t within, int64_t *max,
                   int64_t lateness)
{
    if (*max != INT64_MIN && r[i].ts < *max - lateness)
        return 2;
    if (r[i].absent || !r[i].key[0]) /* checked, but it moves nothing */
        return 0;
    *max = r[i].ts > *max ? r[i].ts : *max;
    for (size_t j = 0; j < i; j++) {
        if (!kept[j] || r[j].absent || !r[j].key[0] || strcmp(r[j].key, r[i].key))
            continue;
        int64_t d = r[i].ts > r[j].ts ? r[i].ts - r[j].ts : r[j].ts - r[i].ts;
        if (d < within)
            return 1;
    }
    return 0;
}

static void run_random(int64_t within, int64_t lateness, uint32_t nkeys, int64_t disorder,
                       int kafka_key)
{
    static struct rec r[NREC];
    static int kept[NREC];
    char conf[256];
    snprintf(conf, sizeof conf,
             "{\"by\": \"%s\", \"within\": %lld, \"duplicates\": \"dead\", \"max_keys\": 100000}",
             kafka_key ? "kafka:key" : "key", (long long)within);
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    p.lateness_ms = lateness;
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int kc = weir_schema_string_out(&pr, "key", "k");
    if (h_build(&h, &weir_op_dedup, conf, &p, 1) != 0) {
        fprintf(stderr, "%s\n", h_last_diag(&p));
        CHECK(0);
        return;
    }
    make_stream(r, NREC, nkeys, disorder);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    int64_t max = INT64_MIN;
    size_t i = 0, bad = 0, count[3] = {0};
    while (i < NREC) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = i, n = 1 + rnd(64);
        for (; i < NREC && i - first < n; i++) {
            int k = weir_batch_push(b);
            b->rec[k].ts_ms = r[i].ts;
            if (!r[i].absent) {
                if (kafka_key) {
                    b->rec[k].key = r[i].key;
                    b->rec[k].key_len = (uint32_t)strlen(r[i].key);
                } else {
                    b->S[(size_t)k * b->nstr + kc] =
                        (struct weir_str){r[i].key, (uint32_t)strlen(r[i].key)};
                }
            }
            if (r[i].dead)
                weir_batch_kill(b, (uint32_t)k, "test");
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < i; j++) {
            const struct weir_record *rec = &b->rec[j - first];
            kept[j] = 0;
            if (r[j].dead) {
                CHECK(strcmp(rec->reason, "test") == 0);
                continue;
            }
            int v = verdict(r, kept, j, within, &max, lateness);
            count[v]++;
            kept[j] = v == 0;
            const char *want = v == 0 ? NULL : v == 1 ? "dedup: duplicate key"
                                                      : "dedup: event time behind the watermark (late)";
            int ok = want ? !weir_record_live(rec) && strcmp(rec->reason, want) == 0
                          : weir_record_live(rec);
            if (!ok && bad++ < 5)
                fprintf(stderr, "record %zu key '%s'%s t %lld: got %s, want %s\n", j, r[j].key,
                        r[j].absent ? " (absent)" : "", (long long)r[j].ts,
                        weir_record_live(rec) ? "kept" : rec->reason, want ? want : "kept");
        }
        weir_batch_put(b);
    }
    CHECK(bad == 0);
    printf("within %lld lateness %lld: %zu kept, %zu duplicates, %zu late\n", (long long)within,
           (long long)lateness, count[0], count[1], count[2]);
    CHECK(count[0] > 100 && count[1] > 100); /* both verdicts are exercised */
    CHECK(lateness >= disorder ? count[2] == 0 : count[2] > 10);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* The state survives a snapshot: a fresh instance restored from it rejects
 * the same key within the TTL, and late records as late. */
static void test_snapshot(void)
{
    struct h_pipe p;
    struct h_op a, c;
    h_pipe_init(&p);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int kc = weir_schema_string_out(&pr, "key", "k");
    CHECK(h_build(&a, &weir_op_dedup, "{\"by\": \"key\", \"within\": \"1m\", \"duplicates\": \"dead\"}",
                  &p, 1) == 0);
    CHECK(h_clone(&c, &a) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    int k = weir_batch_push(b);
    b->rec[k].ts_ms = 1000;
    b->S[(size_t)k * b->nstr + kc] = (struct weir_str){"card", 4};
    CHECK(a.type->process(&a.op, b) == WEIR_OP_CONTINUE && weir_record_live(&b->rec[0]));
    weir_batch_put(b);
    CHECK(h_move_state(&a, &c, 0) == 0);
    b = weir_batch_get(pool);
    /* and its watermark: a record behind the time kept (allowed_lateness 0)
     * is late after the restore as before it, not let through */
    const int64_t ts[] = {500, 60999, 61000};
    for (int j = 0; j < 3; j++) {
        k = weir_batch_push(b);
        b->rec[k].ts_ms = ts[j];
        b->S[(size_t)k * b->nstr + kc] = j ? (struct weir_str){"card", 4} : (struct weir_str){"van", 3};
    }
    CHECK(c.type->process(&c.op, b) == WEIR_OP_CONTINUE);
    CHECK(!weir_record_live(&b->rec[0]) &&
          strcmp(b->rec[0].reason, "dedup: event time behind the watermark (late)") == 0);
    CHECK(!weir_record_live(&b->rec[1]) && weir_record_live(&b->rec[2]));
    weir_batch_put(b);
    /* a duplicate moved the watermark: after a restore it still has (only
     * the kept 61000 came back; 70000 was a duplicate, a minute at most) */
    b = weir_batch_get(pool);
    k = weir_batch_push(b);
    b->rec[k].ts_ms = 70000;
    b->S[(size_t)k * b->nstr + kc] = (struct weir_str){"card", 4};
    CHECK(c.type->process(&c.op, b) == WEIR_OP_CONTINUE && !weir_record_live(&b->rec[0]));
    weir_batch_put(b);
    struct h_op d;
    CHECK(h_clone(&d, &a) == 0 && h_move_state(&c, &d, 0) == 0);
    b = weir_batch_get(pool);
    k = weir_batch_push(b);
    b->rec[k].ts_ms = 65000; /* behind 70000, not behind 61000 */
    b->S[(size_t)k * b->nstr + kc] = (struct weir_str){"van", 3};
    CHECK(d.type->process(&d.op, b) == WEIR_OP_CONTINUE);
    CHECK(!weir_record_live(&b->rec[0]) && b->rec[0].reason &&
          strcmp(b->rec[0].reason, "dedup: event time behind the watermark (late)") == 0);
    weir_batch_put(b);
    h_free_clone(&d);
    weir_batch_pool_free(pool);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

/* The default action drops a duplicate: acknowledged, not a dead letter. */
static void test_drop(void)
{
    struct h_pipe p;
    struct h_op a;
    h_pipe_init(&p);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int kc = weir_schema_string_out(&pr, "key", "k");
    CHECK(h_build(&a, &weir_op_dedup, "{\"by\": \"key\", \"within\": \"1m\"}", &p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const int64_t ts[] = {1000, 2000, 70000};
    for (int j = 0; j < 3; j++) {
        int k = weir_batch_push(b);
        b->rec[k].ts_ms = ts[j];
        b->S[(size_t)k * b->nstr + kc] = (struct weir_str){"card", 4};
    }
    CHECK(a.type->process(&a.op, b) == WEIR_OP_CONTINUE);
    CHECK(weir_record_live(&b->rec[0]) && weir_record_live(&b->rec[2]));
    CHECK((b->rec[1].flags & WEIR_REC_DROPPED) && !(b->rec[1].flags & WEIR_REC_DEAD));
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&a);
    h_pipe_free(&p);
}

/* After an at-least-once restart the records below what the restored state
 * covered come again: the state counted them already, so none is a
 * duplicate of itself or late against it (it went to the dead letters as
 * one); records past it are judged as always. */
static int replayed_below_3(void *ctx, uint32_t part, int64_t offset)
{
    (void)ctx, (void)part;
    return offset < 3;
}

static void test_replayed(void)
{
    struct h_pipe p;
    struct h_op a;
    h_pipe_init(&p);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int kc = weir_schema_string_out(&pr, "key", "k");
    CHECK(h_build(&a, &weir_op_dedup,
                  "{\"by\": \"key\", \"within\": \"1m\", "
                  "\"duplicates\": \"dead\"}",
                  &p, 1) == 0);
    struct weir_batch_pool *pool = h_pool(&p, 8);
    static const struct weir_op_engine replaying = {.replayed = replayed_below_3};
    /* the last: a record an operator made (no partition, offset 0), no replay */
    const int64_t ts[] = {1000, 5000, 9000, 1000, 5000, 9000, 9500, 9600};
    const char *keys[] = {"a", "b", "c", "a", "b", "c", "c", "b"};
    const int64_t offsets[] = {0, 1, 2, 0, 1, 2, 3, 0};
    for (int round = 0; round < 2; round++) { /* the first run, then after the restart */
        struct weir_batch *b = weir_batch_get(pool);
        for (int j = round * 3; j < (round ? 8 : 3); j++) {
            int k = weir_batch_push(b);
            b->rec[k].ts_ms = ts[j];
            b->rec[k].offset = offsets[j];
            b->rec[k].partition = j < 7 ? 0 : -1;
            b->S[(size_t)k * b->nstr + kc] = (struct weir_str){keys[j], 1};
        }
        a.op.engine = round ? &replaying : NULL;
        CHECK(a.type->process(&a.op, b) == WEIR_OP_CONTINUE);
        for (uint32_t i = 0; i < 3; i++)
            CHECK(weir_record_live(&b->rec[i])); /* first seen, then replays */
        for (uint32_t i = 3; round && i < 5; i++)
            CHECK(!weir_record_live(&b->rec[i]) &&
                  strcmp(b->rec[i].reason, "dedup: duplicate key") == 0);
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&a);
    h_pipe_free(&p);
}

static void test_prepare_errors(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    CHECK(h_prepare(&h, &weir_op_dedup, "{\"within\": \"1m\"}", &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[1]: expected \"by\": the key to deduplicate "
                               "on (a string field or \"kafka:key\")");
    h_free(&h);
    p.lateness_ms = 3600000;
    CHECK(h_prepare(&h, &weir_op_dedup, "{\"by\": \"kafka:key\", \"within\": \"10s\"}", &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[1].within: expected at least "
                               "allowed_lateness / 62 (58065 ms), got 10000 ms");
    h_free(&h);
    p.lateness_ms = 60000; /* a record a minute behind the newest is still checked */
    CHECK(h_prepare(&h, &weir_op_dedup,
                    "{\"by\": \"kafka:key\", \"within\": \"2h\", \"evict\": \"ttl\", \"ttl\": \"2h\"}",
                    &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[1].ttl: expected at least \"within\" + "
                               "allowed_lateness (7260000 ms): a key that expires sooner forgets "
                               "records before their duplicates come, got 7200000 ms");
    h_free(&h);
    p.lateness_ms = 0;
    CHECK(h_prepare(&h, &weir_op_dedup, "{\"by\": \"kafka:key\", \"within\": \"2500us\"}", &p, 1) >
          0);
    CHECK_STR(h_last_diag(&p), "test.json: operators[1].within: expected a whole number of "
                               "milliseconds (event times are in ms), got 2.5ms");
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_prepare_errors();
    test_snapshot();
    test_drop();
    test_replayed();
    run_random(1000, 0, 40, 300, 0);        /* lateness 0: every step back is late */
    run_random(700, 2000, 30, 1500, 0);     /* out of order within the lateness */
    run_random(3000, 400, 60, 1000, 1);     /* Kafka key, some late */
    run_random(5000, 100000, 5, 3000, 0);   /* long TTL, never late */
    return check_summary();
}
