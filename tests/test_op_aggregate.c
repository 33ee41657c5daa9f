/* Tests for the aggregate operator (tumbling, hopping and session windows):
 * through a stand-in engine that collects the records it emits, random
 * streams (many keys, out-of-order and equal times, NaN, late records) are
 * checked against a brute-force reference: every window whose end the final
 * watermark reached is written exactly once with the aggregates of all its
 * non-late records, and no other window is; plus prepare errors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_aggregate;

#define NREC 3000
#define MAXOUT 20000

struct rec {
    int64_t ts;
    float x;
    char key[8];
    int accepted;
};

struct result {
    char key[8];
    char start[32];
    int64_t start_ms, end_ms;
    float v[6]; /* count sum mean min max stddev */
    int matched;
};

static struct result got[MAXOUT];
static size_t ngot;
static struct weir_batch_pool *pool;
static int cols[6];

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void fmt_time(char *buf, size_t size, int64_t ms)
{
    int64_t frac = ms % 1000 < 0 ? ms % 1000 + 1000 : ms % 1000;
    time_t sec = (time_t)((ms - frac) / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)frac);
}

/* The stand-in engine. */
static struct weir_batch *fake_new(void *ctx)
{
    (void)ctx;
    return weir_batch_get(pool);
}

static void fake_emit(void *ctx, struct weir_op *op, struct weir_batch *b)
{
    (void)ctx;
    (void)op;
    for (uint32_t i = 0; i < b->n && ngot < MAXOUT; i++) {
        struct result *r = &got[ngot++];
        memset(r, 0, sizeof *r);
        json_t *j = json_loadb(b->rec[i].value, b->rec[i].value_len, 0, NULL);
        CHECK(j != NULL);
        snprintf(r->key, sizeof r->key, "%s", json_string_value(json_object_get(j, "key")));
        snprintf(r->start, sizeof r->start, "%s", json_string_value(json_object_get(j, "window_start")));
        char end[32];
        r->end_ms = b->rec[i].ts_ms + 1;
        fmt_time(end, sizeof end, r->end_ms);
        CHECK(strcmp(json_string_value(json_object_get(j, "window_end")), end) == 0);
        CHECK(b->rec[i].key_len == strlen(r->key) && memcmp(b->rec[i].key, r->key, b->rec[i].key_len) == 0);
        json_decref(j);
        for (int k = 0; k < 6; k++)
            r->v[k] = weir_batch_row(b, i)[cols[k]];
    }
    weir_batch_put(b);
}

static int fake_tie(void *ctx, struct weir_batch *out, struct weir_batch *in)
{
    (void)ctx;
    CHECK(out != in && in->n > 0);
    return 0;
}

static const struct weir_op_engine ENGINE = {.batch_new = fake_new, .emit = fake_emit, .tie = fake_tie};

/* Aggregates of the accepted records of key in [lo, hi). */
static void ref_window(const struct rec *r, const char *key, int64_t lo, int64_t hi, double *v)
{
    double n = 0, cnt = 0, sum = 0, mn = INFINITY, mx = -INFINITY;
    for (size_t j = 0; j < NREC; j++) {
        if (!r[j].accepted || strcmp(r[j].key, key) || r[j].ts < lo || r[j].ts >= hi)
            continue;
        cnt++;
        if (!isfinite(r[j].x))
            continue;
        n++;
        sum += r[j].x;
        mn = r[j].x < mn ? r[j].x : mn;
        mx = r[j].x > mx ? r[j].x : mx;
    }
    double mean = n ? sum / n : NAN, ss = 0;
    for (size_t j = 0; j < NREC; j++)
        if (r[j].accepted && !strcmp(r[j].key, key) && r[j].ts >= lo && r[j].ts < hi && isfinite(r[j].x))
            ss += (r[j].x - mean) * (r[j].x - mean);
    v[0] = cnt;
    v[1] = n ? sum : NAN;
    v[2] = mean;
    v[3] = n ? mn : NAN;
    v[4] = n ? mx : NAN;
    v[5] = n > 1 ? sqrt(ss / (n - 1)) : NAN;
}

static int same(double g, double w)
{
    return isnan(w) ? isnan(g) : fabs(g - w) <= 1e-4 * fabs(w) + 1e-3;
}

/* Finds the emitted window (key, lo) and checks it against the reference. */
static int expect_window(const struct rec *r, const char *key, int64_t lo, int64_t hi, int64_t end)
{
    char start[32];
    fmt_time(start, sizeof start, lo);
    double want[6];
    ref_window(r, key, lo, hi, want);
    for (size_t k = 0; k < ngot; k++) {
        struct result *g = &got[k];
        if (strcmp(g->key, key) || strcmp(g->start, start))
            continue;
        int ok = !g->matched && g->end_ms == end;
        for (int a = 0; a < 6; a++)
            ok &= same(g->v[a], want[a]);
        if (!ok)
            fprintf(stderr, "window %s %s: end %lld (want %lld), count %g (want %g), sum %g (want "
                    "%g)%s\n", key, start, (long long)g->end_ms, (long long)end, g->v[0], want[0],
                    g->v[1], want[1], g->matched ? ", twice" : "");
        g->matched++;
        return ok;
    }
    fprintf(stderr, "window %s %s (end %lld): not written\n", key, start, (long long)end);
    return 0;
}

static int cmp_ts(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* An aggregate of conf's opening (the rest: a count written as "n") over
 * feature x, through the stand-in engine; returns x's column. */
static int build_counting(struct h_pipe *p, struct h_op *h, const char *conf)
{
    char json[512];
    snprintf(json, sizeof json, "%s, \"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}]}",
             conf);
    h_pipe_init(p);
    int xc = h_feature(p, "x", 0);
    CHECK(h_build(h, &weir_op_aggregate, json, p, 1) == 0);
    for (int k = 0; k < 6; k++)
        cols[k] = weir_schema_find_feature(&p->schema, "n");
    h->op.engine = &ENGINE;
    pool = h_pool(p, 8);
    ngot = 0;
    return xc;
}

/* A hopping window that began before 1970 (100 ms, size 3 s, hop 1.5 s)
 * is written with its start as a time, not "23:59:59.-500". */
static void test_start_before_epoch(void)
{
    struct h_pipe p;
    struct h_op h;
    int xc = build_counting(&p, &h,
                            "{\"kind\": \"hopping\", \"by\": \"kafka:key\", \"size\": \"3s\", "
                            "\"hop\": \"1500ms\"");
    struct weir_batch *b = weir_batch_get(pool);
    for (int i = 0; i < 2; i++) {
        int k = h_push_value(b, xc, 1);
        b->rec[k].ts_ms = i ? 60000 : 100;
        b->rec[k].key = "k";
        b->rec[k].key_len = 1;
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    weir_batch_put(b);
    int before = 0, at = 0;
    for (size_t k = 0; k < ngot; k++) {
        before += strcmp(got[k].start, "1969-12-31T23:59:58.500Z") == 0;
        at += strcmp(got[k].start, "1970-01-01T00:00:00.000Z") == 0;
    }
    CHECK(ngot == 2 && before == 1 && at == 1);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static int replayed_below_2(void *ctx, uint32_t part, int64_t offset)
{
    (void)ctx, (void)part;
    return offset < 2;
}

/* After an at-least-once restart the records the restored windows counted
 * (offsets 0 and 1) come again: neither is added again, the one at the
 * restored watermark included (it was: a count of 3 for 2 records). */
static void test_replayed(void)
{
    struct h_pipe p;
    struct h_op a, c;
    int xc =
        build_counting(&p, &a, "{\"kind\": \"tumbling\", \"by\": \"kafka:key\", \"size\": \"10s\"");
    CHECK(h_clone(&c, &a) == 0);
    static const struct weir_op_engine replaying = {
        .batch_new = fake_new, .emit = fake_emit, .tie = fake_tie, .replayed = replayed_below_2};
    const int64_t ts[] = {1000, 5000, 1000, 5000, 12000}, offset[] = {0, 1, 0, 1, 2};
    for (int run = 0; run < 2; run++) {
        struct weir_batch *b = weir_batch_get(pool);
        for (int j = run * 2; j < (run ? 5 : 2); j++) {
            int k = h_push_value(b, xc, 1);
            b->rec[k].ts_ms = ts[j];
            b->rec[k].partition = 0;
            b->rec[k].offset = offset[j];
            b->rec[k].key = "k";
            b->rec[k].key_len = 1;
        }
        struct h_op *op = run ? &c : &a;
        CHECK(op->type->process(&op->op, b) == WEIR_OP_CONTINUE);
        for (uint32_t i = 0; i < b->n; i++)
            CHECK(weir_record_live(&b->rec[i])); /* input goes on, replays too */
        weir_batch_put(b);
        if (!run) {
            CHECK(ngot == 0 && h_move_state(&a, &c, 0) == 0);
            c.op.engine = &replaying;
        }
    }
    CHECK(ngot == 1 && strcmp(got[0].start, "1970-01-01T00:00:00.000Z") == 0 && got[0].v[0] == 2);
    weir_batch_pool_free(pool);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

static int cmp_char(const void *a, const void *b)
{
    return *(const char *)a - *(const char *)b;
}

/* Under max_keys, windows that are complete go out before a new key
 * pushes their key out, and a key whose windows all went out gives its
 * place up: tumbling 10 s, max_keys 3, keys A B (t 0, 1), X (12: A's and
 * B's windows written), Y Z (13, 14: X's open window kept), W (100: X's,
 * Y's and Z's written before W needs room). Every window is written, and
 * only W is left in the store. */
static void test_bound_keeps_open_windows(void)
{
    struct h_pipe p;
    struct h_op h;
    int xc = build_counting(&p, &h,
                            "{\"kind\": \"tumbling\", \"by\": \"kafka:key\", \"size\": \"10s\", "
                            "\"max_keys\": 3");
    static const struct {
        const char *key;
        int64_t ts;
        int batch;
    } in[] = {{"A", 0, 0}, {"B", 1000, 0}, {"X", 12000, 1}, {"Y", 13000, 2}, {"Z", 14000, 2},
              {"W", 100000, 3}};
    for (int batch = 0, i = 0; batch < 4; batch++) {
        struct weir_batch *b = weir_batch_get(pool);
        for (; i < 6 && in[i].batch == batch; i++) {
            int k = h_push_value(b, xc, 1);
            b->rec[k].ts_ms = in[i].ts;
            b->rec[k].key = in[i].key;
            b->rec[k].key_len = 1;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        weir_batch_put(b);
    }
    char keys[8] = "";
    for (size_t k = 0; k < ngot && k < 7; k++)
        keys[k] = got[k].key[0];
    qsort(keys, strlen(keys), 1, cmp_char);
    printf("bound: windows of %s written\n", keys);
    CHECK(ngot == 5 && strcmp(keys, "ABXYZ") == 0);
    CHECK(weir_state_count(weir_op_state_part(&h.op, 0, 0)) == 1);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A store bounded by max_state_bytes whose table cannot grow within it
 * evicts a key for each new one while bytes are still left: its due
 * windows are written first there too (they were pushed out unwritten).
 * Tried over bounds that put the table's growth at every point. */
static void test_bytes_bound_writes_due_windows(void)
{
    enum { KEYS = 600 };
    static char names[KEYS + 1][8];
    size_t lost = 0, runs = 0, evicting = 0;
    for (uint32_t bound = 8192; bound <= 40960; bound += 256, runs++) {
        struct h_pipe p;
        struct h_op h;
        char conf[160];
        snprintf(conf, sizeof conf,
                 "{\"kind\": \"tumbling\", \"by\": \"kafka:key\", \"size\": \"10s\", "
                 "\"max_state_bytes\": %u",
                 bound);
        int xc = build_counting(&p, &h, conf);
        weir_batch_pool_free(pool);
        pool = h_pool(&p, KEYS + 1);
        struct weir_batch *b = weir_batch_get(pool);
        for (int i = 0; i < KEYS; i++) { /* one window each, [0, 10 s) */
            int k = h_push_value(b, xc, 1);
            snprintf(names[i], sizeof names[i], "k%d", i);
            b->rec[k].ts_ms = i;
            b->rec[k].key = names[i];
            b->rec[k].key_len = (uint32_t)strlen(names[i]);
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        weir_batch_put(b);
        struct weir_state *store = weir_op_state_part(&h.op, 0, 0);
        uint64_t kept = weir_state_count(store), evicted = weir_state_evicted(store);
        evicting += evicted > 0;
        b = weir_batch_get(pool); /* a new key past the windows' end: all due */
        int k = h_push_value(b, xc, 1);
        snprintf(names[KEYS], sizeof names[KEYS], "new");
        b->rec[k].ts_ms = 20000;
        b->rec[k].key = names[KEYS];
        b->rec[k].key_len = 3;
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        weir_batch_put(b);
        lost += ngot != kept || weir_state_evicted(store) != evicted;
        weir_batch_pool_free(pool);
        h_free(&h);
        h_pipe_free(&p);
    }
    printf("bytes bound: %zu of %zu bounds evicted while filling, %zu lost due windows\n", evicting,
           runs, lost);
    CHECK(evicting == runs && lost == 0);
}

/* kind 0 tumbling, 1 hopping, 2 session. */
static void run_random(int kind, int64_t size, int64_t hop, int64_t lateness, uint32_t nkeys)
{
    static struct rec r[NREC];
    char conf[1024];
    const char *aggs = "\"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}, {\"agg\": \"sum\", "
                       "\"field\": \"x\", \"out\": \"s\"}, {\"agg\": \"mean\", \"field\": \"x\", "
                       "\"out\": \"m\"}, {\"agg\": \"min\", \"field\": \"x\", \"out\": \"lo\"}, "
                       "{\"agg\": \"max\", \"field\": \"x\", \"out\": \"hi\"}, {\"agg\": "
                       "\"stddev\", \"field\": \"x\", \"out\": \"sd\"}]";
    if (kind == 0)
        snprintf(conf, sizeof conf, "{\"kind\": \"tumbling\", \"by\": \"kafka:key\", \"size\": %lld, %s}",
                 (long long)size, aggs);
    else if (kind == 1)
        snprintf(conf, sizeof conf, "{\"kind\": \"hopping\", \"by\": \"kafka:key\", \"size\": %lld, "
                 "\"hop\": %lld, %s}", (long long)size, (long long)hop, aggs);
    else
        snprintf(conf, sizeof conf, "{\"kind\": \"session\", \"by\": \"kafka:key\", \"gap\": %lld, "
                 "\"max_sessions\": 64, %s}", (long long)size, aggs);
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    p.lateness_ms = lateness;
    int xc = h_feature(&p, "x", 0);
    if (h_build(&h, &weir_op_aggregate, conf, &p, 1) != 0) {
        fprintf(stderr, "%s\n", h_last_diag(&p));
        CHECK(0);
        return;
    }
    static const char *const names[6] = {"n", "s", "m", "lo", "hi", "sd"};
    for (int k = 0; k < 6; k++)
        cols[k] = weir_schema_find_feature(&p.schema, names[k]);
    h.op.engine = &ENGINE;
    pool = h_pool(&p, 64);
    ngot = 0;
    int64_t max = INT64_MIN;
    size_t late = 0;
    for (size_t i = 0; i < NREC;) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = i, n = 1 + rnd(64);
        for (; i < NREC && i - first < n; i++) {
            int64_t t = 1000000 + (int64_t)i * 100 - rnd(3000);
            r[i].ts = t - t % 250;
            snprintf(r[i].key, sizeof r[i].key, "k%u", rnd(nkeys));
            r[i].x = rnd(40) == 0 ? NAN : (float)rnd(10000) / 8.0f - 300;
            int k = h_push_value(b, xc, r[i].x);
            b->rec[k].ts_ms = r[i].ts;
            b->rec[k].key = r[i].key;
            b->rec[k].key_len = (uint32_t)strlen(r[i].key);
            r[i].accepted = max == INT64_MIN || r[i].ts >= max - lateness;
            late += !r[i].accepted;
            max = r[i].accepted && r[i].ts > max ? r[i].ts : max;
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < i; j++)
            CHECK(weir_record_live(&b->rec[j - first]) == r[j].accepted);
        weir_batch_put(b);
    }
    int64_t wm = max - lateness;
    size_t want = 0, bad = 0;
    for (uint32_t k = 0; k < nkeys; k++) {
        char key[8];
        snprintf(key, sizeof key, "k%u", k);
        int64_t ts[NREC];
        size_t n = 0;
        for (size_t j = 0; j < NREC; j++)
            if (r[j].accepted && !strcmp(r[j].key, key))
                ts[n++] = r[j].ts;
        qsort(ts, n, sizeof *ts, cmp_ts);
        if (kind == 2) {
            for (size_t a = 0, b2; a < n; a = b2) {
                for (b2 = a + 1; b2 < n && ts[b2] - ts[b2 - 1] < size; b2++)
                    ;
                int64_t end = ts[b2 - 1] + size;
                if (end <= wm) {
                    want++;
                    bad += !expect_window(r, key, ts[a], ts[b2 - 1] + 1, end);
                }
            }
            continue;
        }
        int64_t step = kind == 0 ? size : hop;
        int64_t done = INT64_MIN; /* the largest window start checked */
        for (size_t a = 0; a < n; a++) { /* every window start that holds a record, once */
            int64_t top = ts[a] - ts[a] % step, s = top;
            while (s - step > ts[a] - size)
                s -= step;
            for (; s <= top; s += step) {
                if (s <= done)
                    continue;
                done = s;
                if (s + size <= wm) {
                    want++;
                    bad += !expect_window(r, key, s, s + size, s + size);
                }
            }
        }
    }
    size_t unmatched = 0;
    for (size_t k = 0; k < ngot; k++)
        unmatched += got[k].matched != 1;
    printf("kind %d: %zu windows written, %zu expected, %zu late records\n", kind, ngot, want, late);
    CHECK(bad == 0 && unmatched == 0 && ngot == want && want > 20);
    CHECK(lateness >= 3000 || late > 10);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_aggregate, (const char *const[]){"x", NULL}, 1, json, want);
}

/* The same with the pipeline's allowed_lateness. */
static void expect_error_lateness(const char *json, int64_t lateness_ms, const char *want)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    p.lateness_ms = lateness_ms;
    h_feature(&p, "x", 0);
    CHECK(h_prepare(&h, &weir_op_aggregate, json, &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), want);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_prepare_errors(void)
{
    const char *agg = "\"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}]";
    char j[256];
    snprintf(j, sizeof j, "{\"kind\": \"tumbling\", %s}", agg);
    expect_error(j, "test.json: operators[1].size: expected a \"size\" of at least 1ms");
    snprintf(j, sizeof j, "{\"kind\": \"tumbling\", \"size\": \"1500us\", %s}", agg);
    expect_error(j, "test.json: operators[1].size: expected a whole number of milliseconds (event "
                    "times are in ms), got 1.5ms");
    snprintf(j, sizeof j, "{\"kind\": \"hopping\", \"size\": \"1m\", %s}", agg);
    expect_error(j, "test.json: operators[1].hop: expected a \"hop\" with \"kind\": \"hopping\"");
    snprintf(j, sizeof j, "{\"kind\": \"hopping\", \"size\": \"1m\", \"hop\": \"2m\", %s}", agg);
    expect_error(j, "test.json: operators[1].hop: expected a duration of at least 1ms and at most "
                    "\"size\"");
    snprintf(j, sizeof j, "{\"kind\": \"hopping\", \"size\": \"1h\", \"hop\": \"1s\", %s}", agg);
    expect_error(j, "test.json: operators[1].hop: expected at most 64 open windows per key ((size + "
                    "allowed_lateness) / hop + 1)");
    snprintf(j, sizeof j, "{\"kind\": \"tumbling\", \"size\": \"1h\", %s}", agg);
    expect_error_lateness(j, 3 * 86400000LL,
                          "test.json: operators[1].size: expected at most 64 open windows "
                          "per key ((size + allowed_lateness) / size + 1: a larger size or a "
                          "shorter allowed_lateness)");
    snprintf(j, sizeof j, "{\"kind\": \"session\", \"size\": \"1m\", %s}", agg);
    expect_error(j, "test.json: operators[1].size: expected no \"size\" with \"kind\": \"session\" "
                    "(it has \"gap\")");
    snprintf(j, sizeof j, "{\"kind\": \"tumbling\", \"size\": \"1m\", \"gap\": \"1m\", %s}", agg);
    expect_error(j, "test.json: operators[1].gap: expected \"gap\" only with \"kind\": \"session\"");
    snprintf(j, sizeof j, "{\"kind\": \"tumbling\", \"size\": \"1m\", \"max_sessions\": 8, %s}",
             agg);
    expect_error(j, "test.json: operators[1].max_sessions: expected \"max_sessions\" only with "
                    "\"kind\": \"session\"");
    expect_error("{\"kind\": \"tumbling\", \"size\": \"1m\", \"aggregates\": [{\"agg\": \"sum\", "
                 "\"out\": \"s\"}]}",
                 "test.json: operators[1].aggregates[0]: expected a \"field\" with \"agg\": \"sum\"");
    /* a key expired with its window open lost the window, unwritten and unsaid */
    snprintf(j, sizeof j, "{\"kind\": \"tumbling\", \"size\": \"2d\", \"evict\": \"ttl\", %s}", agg);
    expect_error(j, "test.json: operators[1].ttl: expected at least size + allowed_lateness "
                    "(172800000 ms): a key that expires sooner loses windows not yet written, got "
                    "86400000 ms");
    snprintf(j, sizeof j, "{\"kind\": \"session\", \"gap\": \"2h\", \"evict\": \"ttl\", "
             "\"ttl\": \"2h\", %s}", agg);
    struct h_pipe p; /* as long as the gap: enough */
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "x", 0);
    CHECK(h_prepare(&h, &weir_op_aggregate, j, &p, 1) == 0);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_prepare_errors();
    test_start_before_epoch();
    test_bound_keeps_open_windows();
    test_replayed();
    test_bytes_bound_writes_due_windows();
    run_random(0, 2000, 0, 1500, 15);   /* tumbling 2 s */
    run_random(0, 700, 0, 0, 40);       /* tumbling, lateness 0: many late */
    run_random(1, 3000, 1000, 2000, 12); /* hopping 3 s every 1 s */
    run_random(1, 1000, 250, 500, 30);
    run_random(2, 900, 0, 2500, 25);    /* sessions, gap 0.9 s */
    run_random(2, 3000, 0, 1000, 60);
    return check_summary();
}
