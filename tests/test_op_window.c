/* Tests for the window operator: every aggregate, sizes, delay, empty values,
 * late records and "by" against a brute-force reference computed here over
 * random streams (many keys, out-of-order and duplicate times, NaN/Inf, empty
 * and absent strings); the bound (max_events) and its truncation flag;
 * snapshot/restore continuity; output names; prepare errors. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "engine/buf.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_window;

#define NREC 4000
#define NAGG 9

static const char *const AGG[NAGG] = {"count", "sum",  "mean",       "min",     "max",
                                      "stddev", "last", "since_last", "distinct"};

/* One input record of a random stream. */
struct rec {
    int64_t ts;
    float x;
    char key[8];  /* "" is a valid key */
    char s[8];    /* distinct's field */
    int s_absent;
    int dead;     /* dead before the operator: must be skipped */
    uint32_t part; /* partition slot: its own keys and watermark */
};

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void make_stream(struct rec *r, size_t n, uint32_t nkeys)
{
    for (size_t i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        /* 100 ms apart on average, on a 250 ms grid (duplicates), up to 4 s back */
        int64_t t = 1000000 + (int64_t)i * 100 - rnd(4000);
        r[i].ts = t - t % 250;
        uint32_t k = rnd(nkeys);
        if (k)
            snprintf(r[i].key, sizeof r[i].key, "k%u", k);
        uint32_t v = rnd(100);
        r[i].x = v < 4 ? NAN : v < 6 ? INFINITY : v < 7 ? -INFINITY : (float)(rnd(20000)) / 7.0f - 900;
        r[i].s_absent = rnd(10) == 0;
        if (rnd(6))
            snprintf(r[i].s, sizeof r[i].s, "s%u", rnd(12));
        r[i].dead = rnd(50) == 0;
    }
}

/* The reference: record i against the accepted records j <= i of its key. */
struct want {
    int late;
    double v[NAGG][3];
};

static double ref_agg(int a, const struct rec *r, const int *acc, size_t i, int64_t lo,
                      int64_t hi, double empty, int keyed)
{
    double n = 0, sum = 0, mn = INFINITY, mx = -INFINITY, cnt = 0, last = 0;
    int64_t last_ts = INT64_MIN;
    size_t last_j = 0;
    const char *seen[NREC];
    size_t nseen = 0;
    /* Records 400 or more before i are over 36 s older than it (see
     * make_stream), beyond every window: the scan starts after them. */
    size_t from = i > 400 ? i - 400 : 0;
    for (size_t j = from; j <= i; j++) {
        if (!acc[j] || (r[j].part != r[i].part || (keyed && strcmp(r[j].key, r[i].key))) || r[j].ts <= lo || r[j].ts > hi)
            continue;
        cnt++;
        if (!r[j].s_absent) {
            size_t k = 0;
            while (k < nseen && strcmp(seen[k], r[j].s))
                k++;
            if (k == nseen)
                seen[nseen++] = r[j].s;
        }
        double x = r[j].x;
        if (!isfinite(x))
            continue;
        n++;
        sum += x;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
        if (r[j].ts >= last_ts) { /* ties: the later arrival */
            last_ts = r[j].ts;
            last = x;
            last_j = j;
        }
    }
    (void)last_j;
    switch (a) {
    case 0: return cnt;
    case 1: return n ? sum : empty;
    case 2: return n ? sum / n : empty;
    case 3: return n ? mn : empty;
    case 4: return n ? mx : empty;
    case 5: {
        if (n < 2)
            return empty;
        double mean = sum / n, ss = 0;
        for (size_t j = from; j <= i; j++)
            if (acc[j] && !(r[j].part != r[i].part || (keyed && strcmp(r[j].key, r[i].key))) && r[j].ts > lo && r[j].ts <= hi &&
                isfinite(r[j].x))
                ss += (r[j].x - mean) * (r[j].x - mean);
        return sqrt(ss / (n - 1));
    }
    case 6: return n ? last : empty;
    case 8: return (double)nseen;
    }
    return NAN;
}

static double ref_since(const struct rec *r, const int *acc, size_t i, double empty, int keyed)
{
    int64_t best = INT64_MIN;
    for (size_t j = 0; j < i; j++)
        if (acc[j] && !(r[j].part != r[i].part || (keyed && strcmp(r[j].key, r[i].key))) && r[j].ts <= r[i].ts &&
            r[j].ts > best)
            best = r[j].ts;
    return best == INT64_MIN ? empty : (double)(r[i].ts - best) / 1000.0;
}

static int same(double got, double want, double rel)
{
    if (isnan(want))
        return isnan(got);
    return fabs(got - want) <= rel * fabs(want) + 1e-3;
}

/* Runs the stream through a window built from conf (sizes 1s, 5s, 20s, every
 * aggregate on x and s) and checks every record against the reference. */
static void run_random(const char *extra, int64_t delay, double empty, int keyed, uint32_t nkeys,
                       int64_t lateness, unsigned mask, uint32_t nparts)
{
    static struct rec r[NREC];
    static int acc[NREC];
    static const int64_t SIZE[3] = {1000, 5000, 20000};
    char conf[2048];
    size_t o = (size_t)snprintf(conf, sizeof conf, "{\"sizes\": [\"1s\", \"5s\", \"20s\"], "
                                                   "\"max_events\": 2048, %s%s\"aggregates\": [",
                                extra, keyed ? "\"by\": \"key\", " : "");
    for (int a = 0, nth = 0; a < NAGG; a++)
        if (mask & (1u << a))
            o += (size_t)snprintf(conf + o, sizeof conf - o, "%s{\"agg\": \"%s\"%s, \"out\": \"o_%s%s\"}",
                              nth++ ? ", " : "", AGG[a],
                              a == 0 || a == 7 ? "" : a == 8 ? ", \"field\": \"s\"" : ", \"field\": \"x\"",
                              AGG[a], a == 7 ? "" : "_{size}");
    snprintf(conf + o, sizeof conf - o, "]}");

    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    p.lateness_ms = lateness;
    int xc = h_feature(&p, "x", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    int kc = weir_schema_string_out(&pr, "key", "k");
    int sc = weir_schema_string_out(&pr, "s", "s");
    if (h_build(&h, &weir_op_window, conf, &p, 1) != 0) {
        fprintf(stderr, "%s\n", h_last_diag(&p));
        CHECK(0);
        return;
    }
    int out[NAGG][3];
    for (int a = 0; a < NAGG; a++)
        for (int k = 0; k < 3; k++) {
            char name[64];
            static const char *const lab[3] = {"1s", "5s", "20s"};
            snprintf(name, sizeof name, "o_%s%s%s", AGG[a], a == 7 ? "" : "_", a == 7 ? "" : lab[k]);
            out[a][k] = weir_schema_find_feature(&p.schema, name);
            CHECK((out[a][k] >= 0) == !!(mask & (1u << a)));
        }
    make_stream(r, NREC, nkeys);
    for (size_t i = 0; i < NREC; i++)
        r[i].part = nparts > 1 ? rnd(nparts) : 0;
    struct weir_batch_pool *pool = h_pool(&p, 64);
    size_t i = 0, bad = 0, late = 0;
    int64_t maxes[4] = {INT64_MIN, INT64_MIN, INT64_MIN, INT64_MIN};
    while (i < NREC) {
        struct weir_batch *b = weir_batch_get(pool);
        size_t first = i, n = 1 + rnd(64);
        for (; i < NREC && i - first < n; i++) {
            int k = h_push_value(b, xc, r[i].x);
            b->rec[k].ts_ms = r[i].ts;
            b->rec[k].part = r[i].part;
            b->S[(size_t)k * b->nstr + kc] = (struct weir_str){r[i].key, (uint32_t)strlen(r[i].key)};
            if (!r[i].s_absent)
                b->S[(size_t)k * b->nstr + sc] = (struct weir_str){r[i].s, (uint32_t)strlen(r[i].s)};
            if (r[i].dead)
                weir_batch_kill(b, (uint32_t)k, "test");
        }
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        for (size_t j = first; j < i; j++) {
            const struct weir_record *rec = &b->rec[j - first];
            float *row = weir_batch_row(b, (uint32_t)(j - first));
            if (r[j].dead) {
                acc[j] = 0;
                CHECK(strcmp(rec->reason, "test") == 0);
                continue;
            }
            int64_t *max = &maxes[r[j].part];
            int is_late = *max != INT64_MIN && r[j].ts < *max - lateness;
            acc[j] = !is_late;
            if (is_late) {
                late++;
                if (!weir_record_live(rec) && strstr(rec->reason, "late"))
                    continue;
                if (bad++ < 5)
                    fprintf(stderr, "record %zu: expected late\n", j);
                continue;
            }
            *max = r[j].ts > *max ? r[j].ts : *max;
            if (!weir_record_live(rec)) {
                if (bad++ < 5)
                    fprintf(stderr, "record %zu: killed (%s)\n", j, rec->reason);
                continue;
            }
            for (int a = 0; a < NAGG; a++)
                for (int k = 0; k < (a == 7 ? 1 : 3) && (mask & (1u << a)); k++) {
                    int64_t hi = r[j].ts - delay;
                    double want = a == 7 ? ref_since(r, acc, j, empty, keyed)
                                         : ref_agg(a, r, acc, j, hi - SIZE[k], hi, empty, keyed);
                    double got = row[out[a][k]];
                    if (!same(got, want, a == 5 ? 1e-4 : 1e-5) && bad++ < 10)
                        fprintf(stderr, "record %zu key '%s' t %lld: %s[%d] = %.9g, want %.9g\n",
                                j, r[j].key, (long long)r[j].ts, AGG[a], k, got, want);
                }
        }
        weir_batch_put(b);
    }
    CHECK(bad == 0);
    CHECK(lateness > 100000 ? late == 0 : late > 10); /* the stream has late records */
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Overflow: a key with more events than max_events keeps the newest, and the
 * records whose windows reach a lost event are flagged. */
static void test_overflow(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int xc = h_feature(&p, "x", 0);
    CHECK(h_build(&h, &weir_op_window,
                  "{\"sizes\": [\"1s\", \"10s\"], \"labels\": [\"A\", \"B\"], \"max_events\": 4, "
                  "\"truncated_out\": \"cut\", \"empty\": 0, \"aggregates\": [{\"agg\": \"count\", "
                  "\"out\": \"n_{size}\"}, {\"agg\": \"sum\", \"field\": \"x\", \"out\": [\"s1\", "
                  "\"s10\"]}]}",
                  &p, 1) == 0);
    int n1 = weir_schema_find_feature(&p.schema, "n_A"), n10 = weir_schema_find_feature(&p.schema, "n_B");
    int s10 = weir_schema_find_feature(&p.schema, "s10"), cut = weir_schema_find_feature(&p.schema, "cut");
    CHECK(n1 >= 0 && n10 >= 0 && s10 >= 0 && cut >= 0);
    struct weir_batch_pool *pool = h_pool(&p, 16);
    struct weir_batch *b = weir_batch_get(pool);
    for (int i = 0; i < 8; i++) { /* 500 ms apart, x = i */
        int k = h_push_value(b, xc, (float)i);
        b->rec[k].ts_ms = 10000 + 500 * i;
    }
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    for (uint32_t i = 0; i < 8; i++) {
        float *row = weir_batch_row(b, i);
        CHECK(row[n1] == 2.0f || (i == 0 && row[n1] == 1.0f));
        CHECK(row[n10] == (float)(i < 4 ? i + 1 : 4)); /* capped at 4 */
        CHECK(row[cut] == (i < 4 ? 0.0f : 1.0f));
        CHECK(row[s10] == (float)(i < 4 ? i * (i + 1) / 2 : 4 * i - 6));
    }
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Running sums (count, sum and mean alone) after a spike leaves: the 5s
 * added beside 1e30 were rounded away with it, and the sums went on at
 * 5 where 50 was due, for as long as the key stayed busy. Counted again
 * once the rounding could show: 50 and 5 from the first record after. */
static void test_spike_leaves(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    int xc = h_feature(&p, "x", 0);
    CHECK(h_build(&h, &weir_op_window,
                  "{\"sizes\": \"10s\", \"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}, "
                  "{\"agg\": \"sum\", \"field\": \"x\", \"out\": \"s\"}, {\"agg\": \"mean\", "
                  "\"field\": \"x\", \"out\": \"m\"}]}",
                  &p, 1) == 0);
    int n = weir_schema_find_feature(&p.schema, "n"), sc = weir_schema_find_feature(&p.schema, "s");
    int m = weir_schema_find_feature(&p.schema, "m");
    struct weir_batch_pool *pool = h_pool(&p, 64);
    struct weir_batch *b = weir_batch_get(pool);
    for (int i = 0; i < 40; i++) /* 1e30 at 1000 s, then a 5 every second */
        b->rec[h_push_value(b, xc, i ? 5.0f : 1e30f)].ts_ms = 1000000 + 1000 * i;
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    for (uint32_t i = 10; i < 40; i++) {
        float *row = weir_batch_row(b, i);
        CHECK(row[n] == 10.0f && row[sc] == 50.0f && row[m] == 5.0f);
    }
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A window operator of conf over feature x ("x"'s column returned), with
 * lateness_ms allowed. */
static int window_of(struct h_pipe *p, struct h_op *h, int64_t lateness_ms, const char *conf)
{
    h_pipe_init(p);
    p->lateness_ms = lateness_ms;
    int xc = h_feature(p, "x", 0);
    CHECK(h_build(h, &weir_op_window, conf, p, 1) == 0);
    return xc;
}

/* late: pass leaves late records alive and untouched, and out of the state. */
static void test_late_pass(void)
{
    struct h_pipe p;
    struct h_op h;
    int xc =
        window_of(&p, &h, 1000,
                  "{\"sizes\": \"1h\", \"late\": \"pass\", \"aggregates\": [{\"agg\": \"count\", "
                  "\"out\": \"n\"}]}");
    int n = weir_schema_find_feature(&p.schema, "n");
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const int64_t ts[] = {5000, 4000, 3999, -1, 4500};
    for (int i = 0; i < 5; i++)
        b->rec[h_push_value(b, xc, 1)].ts_ms = ts[i];
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    float *row[5];
    for (uint32_t i = 0; i < 5; i++) {
        row[i] = weir_batch_row(b, i);
        CHECK(weir_record_live(&b->rec[i]));
    }
    CHECK(row[0][n] == 1 && row[1][n] == 1 && isnan(row[2][n]) && isnan(row[3][n]) && row[4][n] == 2);
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* The watermark comes back with the keys: 15 s after 20 s (lateness 1 s)
 * is late in a restored instance as in the one that saw 20 s. */
static void test_restored_watermark(void)
{
    struct h_pipe p;
    struct h_op a, c;
    int xc =
        window_of(&p, &a, 1000,
                  "{\"sizes\": \"10s\", \"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}]}");
    CHECK(h_clone(&c, &a) == 0);
    int n = weir_schema_find_feature(&p.schema, "n");
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    b->rec[h_push_value(b, xc, 1)].ts_ms = 10000;
    b->rec[h_push_value(b, xc, 1)].ts_ms = 20000;
    CHECK(a.type->process(&a.op, b) == WEIR_OP_CONTINUE);
    weir_batch_put(b);
    CHECK(h_move_state(&a, &c, 0) == 0);
    b = weir_batch_get(pool);
    b->rec[h_push_value(b, xc, 1)].ts_ms = 15000;
    b->rec[h_push_value(b, xc, 1)].ts_ms = 21000;
    CHECK(c.type->process(&c.op, b) == WEIR_OP_CONTINUE);
    CHECK(!weir_record_live(&b->rec[0]) &&
          strcmp(b->rec[0].reason, "window: event time behind the watermark (late)") == 0);
    CHECK(weir_record_live(&b->rec[1]) && weir_batch_row(b, 1)[n] == 2.0f); /* 20 s and 21 s */
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

static int replayed_below_5(void *ctx, uint32_t part, int64_t offset)
{
    (void)ctx, (void)part;
    return offset < 5;
}

/* After an at-least-once restart the records the restored state counted come
 * again (offsets 0 to 4): none is added twice, so the next record's window
 * counts each event once (it counted 40 s twice), and each gets its windows
 * from the state: 38.5 s, behind the restored watermark, too (it had NaN);
 * 10 s and 20 s none, as their events were cut (at 38.5 s) before the
 * restart, not a count of what is left; 30 s none, as it was late the first
 * time (dead-lettered, never kept). */
static void test_replayed(void)
{
    struct h_pipe p;
    struct h_op a, c;
    int xc =
        window_of(&p, &a, 1000,
                  "{\"sizes\": \"10s\", \"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}, "
                  "{\"agg\": \"since_last\", \"out\": \"gap\"}]}");
    CHECK(h_clone(&c, &a) == 0);
    int n = weir_schema_find_feature(&p.schema, "n"),
        gap = weir_schema_find_feature(&p.schema, "gap");
    struct weir_batch_pool *pool = h_pool(&p, 16);
    static const struct weir_op_engine replaying = {.replayed = replayed_below_5};
    const int64_t ts[] = {10000, 20000, 38500, 40000, 30000, 41000};
    struct weir_batch *b = NULL;
    for (int run = 0; run < 2; run++) {
        b = weir_batch_get(pool);
        for (int j = 0; j < (run ? 6 : 5); j++) { /* the same offsets again, and one more */
            int k = h_push_value(b, xc, 1);
            b->rec[k].ts_ms = ts[j];
            b->rec[k].partition = 0;
            b->rec[k].offset = j;
        }
        struct h_op *op = run ? &c : &a;
        CHECK(op->type->process(&op->op, b) == WEIR_OP_CONTINUE);
        if (run)
            break;
        weir_batch_put(b);
        CHECK(h_move_state(&a, &c, 0) == 0);
        c.op.engine = &replaying;
    }
    float *row[6];
    for (uint32_t i = 0; i < 6; i++) {
        CHECK(weir_record_live(&b->rec[i]));
        row[i] = weir_batch_row(b, i);
    }
    CHECK(isnan(row[0][n]) && isnan(row[0][gap]) && isnan(row[1][n]) && isnan(row[1][gap]));
    CHECK(row[2][n] == 1.0f && row[2][gap] == 18.5f); /* as the first time: itself; since 20 s */
    CHECK(row[3][n] == 2.0f && row[3][gap] == 1.5f);  /* (30 s, 40 s]: 38.5 s and itself, once */
    CHECK(isnan(row[4][n]) && isnan(row[4][gap]));    /* late the first time */
    CHECK(row[5][n] == 3.0f && row[5][gap] == 1.0f);  /* 38.5 s, 40 s and 41 s */
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

/* A late record into a full key: its since_last is from the record before
 * it, dropped earlier (it was NaN: the drop that makes room for the late
 * record moved the memory of dropped events past it). */
static void test_late_into_full(void)
{
    struct h_pipe p;
    struct h_op h;
    int xc = window_of(&p, &h, 10000,
                       "{\"sizes\": \"10s\", \"max_events\": 2, \"aggregates\": [{\"agg\": "
                       "\"since_last\", \"out\": \"gap\"}]}");
    int gap = weir_schema_find_feature(&p.schema, "gap");
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const int64_t ts[] = {1000, 5000, 6000, 3000, 500};
    for (int i = 0; i < 5; i++)
        b->rec[h_push_value(b, xc, 1)].ts_ms = ts[i];
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    CHECK(isnan(weir_batch_row(b, 0)[gap]) && weir_batch_row(b, 1)[gap] == 4.0f);
    CHECK(weir_batch_row(b, 2)[gap] == 1.0f);
    CHECK(weir_batch_row(b, 3)[gap] == 2.0f); /* since 1 s, dropped at 6 s */
    CHECK(isnan(weir_batch_row(b, 4)[gap]));  /* nothing before it */
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* A record older than every event of a full key is the oldest: it is the
 * one that goes (it used to push out 10 s, newer than itself, so the record
 * at 15 s had its since_last from 5 s). */
static void test_older_into_full(void)
{
    struct h_pipe p;
    struct h_op h;
    int xc = window_of(&p, &h, 30000,
                       "{\"sizes\": \"10s\", \"max_events\": 3, \"truncated_out\": \"cut\", "
                       "\"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}, "
                       "{\"agg\": \"since_last\", \"out\": \"gap\"}]}");
    int n = weir_schema_find_feature(&p.schema, "n"),
        gap = weir_schema_find_feature(&p.schema, "gap");
    int cut = weir_schema_find_feature(&p.schema, "cut");
    struct weir_batch_pool *pool = h_pool(&p, 8);
    struct weir_batch *b = weir_batch_get(pool);
    const int64_t ts[] = {10000, 20000, 30000, 5000, 15000};
    for (int i = 0; i < 5; i++)
        b->rec[h_push_value(b, xc, 1)].ts_ms = ts[i];
    CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
    float *old = weir_batch_row(b, 3), *row = weir_batch_row(b, 4);
    CHECK(old[n] == 0.0f && isnan(old[gap]) && old[cut] == 1.0f);  /* itself not kept */
    CHECK(row[n] == 1.0f && row[gap] == 5.0f && row[cut] == 1.0f); /* 10 s made room for it */
    weir_batch_put(b);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

/* Half a stream, snapshot, a fresh instance restores and does the rest: the
 * same outputs, bit for bit, as one uninterrupted run. */
static void test_snapshot(void)
{
    static struct rec r[NREC];
    struct h_pipe p;
    struct h_op a, b2, c;
    h_pipe_init(&p);
    p.lateness_ms = 1000000;
    int xc = h_feature(&p, "x", 0);
    const char *conf = "{\"sizes\": [\"2s\", \"30s\"], \"delay\": \"1s\", \"aggregates\": ["
                       "{\"agg\": \"mean\", \"field\": \"x\", \"out\": \"m{size}\"}, "
                       "{\"agg\": \"since_last\", \"out\": \"gap\"}]}";
    CHECK(h_build(&a, &weir_op_window, conf, &p, 1) == 0);
    CHECK(h_clone(&b2, &a) == 0 && h_clone(&c, &a) == 0);
    int m30 = weir_schema_find_feature(&p.schema, "m30s");
    int gap = weir_schema_find_feature(&p.schema, "gap");
    make_stream(r, NREC, 1);
    struct weir_batch_pool *pool = h_pool(&p, 64);
    static float whole[NREC][2], split[NREC][2];
    struct h_op *who[2][2] = {{&a, &a}, {&b2, &c}};
    for (int run = 0; run < 2; run++) {
        for (size_t i = 0; i < NREC; i += 50) {
            struct h_op *op = who[run][i >= NREC / 2];
            if (run == 1 && i == NREC / 2) {
                struct weir_buf buf = {0};
                CHECK(weir_op_snapshot(&b2.op, 0, &buf) == 0);
                CHECK(weir_op_restore(&c.op, 0, buf.data, buf.len) == 0);
                weir_buf_free(&buf);
            }
            struct weir_batch *b = weir_batch_get(pool);
            for (size_t j = i; j < i + 50; j++)
                b->rec[h_push_value(b, xc, r[j].x)].ts_ms = r[j].ts;
            CHECK(op->type->process(&op->op, b) == WEIR_OP_CONTINUE);
            for (size_t j = i; j < i + 50; j++) {
                float (*dst)[2] = run ? split : whole;
                dst[j][0] = weir_batch_row(b, (uint32_t)(j - i))[m30];
                dst[j][1] = weir_batch_row(b, (uint32_t)(j - i))[gap];
            }
            weir_batch_put(b);
        }
    }
    CHECK(memcmp(whole, split, sizeof whole) == 0);
    weir_batch_pool_free(pool);
    h_free_clone(&b2);
    h_free_clone(&c);
    h_free(&a);
    h_pipe_free(&p);
}

/* The handbook's names come out of one template and per-size labels. */
static void test_names(void)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    h_feature(&p, "TX_AMOUNT", 0);
    struct weir_prepare pr = {.schema = &p.schema, .diag = &p.diag, .path = "operators[0]"};
    weir_schema_string_out(&pr, "CUSTOMER_ID", "c");
    CHECK(h_build(&h, &weir_op_window,
                  "{\"by\": \"CUSTOMER_ID\", \"sizes\": [\"1d\", \"7d\", \"30d\"], \"labels\": "
                  "[\"1DAY\", \"7DAY\", \"30DAY\"], \"aggregates\": [{\"agg\": \"count\", \"out\": "
                  "\"{by}_NB_TX_{size}_WINDOW\"}, {\"agg\": \"mean\", \"field\": \"TX_AMOUNT\", "
                  "\"out\": \"{by}_AVG_AMOUNT_{size}_WINDOW\"}, {\"agg\": \"max\", \"field\": "
                  "\"TX_AMOUNT\"}]}",
                  &p, 1) == 0);
    CHECK(weir_schema_find_feature(&p.schema, "CUSTOMER_ID_NB_TX_1DAY_WINDOW") >= 0);
    CHECK(weir_schema_find_feature(&p.schema, "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW") >= 0);
    CHECK(weir_schema_find_feature(&p.schema, "CUSTOMER_ID_NB_TX_30DAY_WINDOW") >= 0);
    CHECK(weir_schema_find_feature(&p.schema, "CUSTOMER_ID_TX_AMOUNT_max_30DAY") >= 0);
    h_free(&h);
    h_pipe_free(&p);
}

static void expect_error(const char *json, const char *want)
{
    h_expect_prepare_error(&weir_op_window, (const char *const[]){"x", NULL}, 1, json, want);
}

static void test_prepare_errors(void)
{
    expect_error("{\"sizes\": [\"1d\", \"1x\"], \"aggregates\": [{\"agg\": \"count\"}]}",
                 "test.json: operators[1].sizes[1]: expected a duration of at least 1ms like "
                 "\"7d\", in whole milliseconds, got \"1x\"");
    expect_error("{\"sizes\": [\"1d\", \"1.5ms\"], \"aggregates\": [{\"agg\": \"count\"}]}",
                 "test.json: operators[1].sizes[1]: expected a duration of at least 1ms like "
                 "\"7d\", in whole milliseconds, got \"1.5ms\"");
    /* a delay read as 0 would put the record in its own delayed window */
    expect_error(
        "{\"sizes\": \"1d\", \"delay\": \"500us\", \"aggregates\": [{\"agg\": \"count\"}]}",
        "test.json: operators[1].delay: expected a whole number of milliseconds (event "
        "times are in ms), got 0.5ms");
    expect_error("{\"sizes\": [\"1d\", \"24h\"], \"aggregates\": [{\"agg\": \"count\"}]}",
                 "test.json: operators[1].sizes[1]: expected a size not listed twice, got \"24h\"");
    expect_error("{\"sizes\": [\"1d\", \"2d\"], \"labels\": \"a\", \"aggregates\": [{\"agg\": "
                 "\"count\"}]}",
                 "test.json: operators[1].labels: expected 2 labels (one per size), got 1");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": [{\"agg\": \"mean\"}]}",
                 "test.json: operators[1].aggregates[0]: expected a \"field\" with \"agg\": \"mean\"");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": [{\"agg\": \"count\", \"field\": \"x\"}]}",
                 "test.json: operators[1].aggregates[0].field: expected no \"field\" with \"agg\": "
                 "\"count\"");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": [{\"agg\": \"avg\", \"field\": \"x\"}]}",
                 "test.json: operators[1].aggregates[0].agg: expected \"count\", \"sum\", "
                 "\"mean\", \"min\", \"max\", \"stddev\", \"last\", \"since_last\" or "
                 "\"distinct\", got \"avg\"");
    expect_error("{\"sizes\": [\"1d\", \"2d\"], \"aggregates\": [{\"agg\": \"count\", \"out\": "
                 "\"n\"}]}",
                 "test.json: operators[1].aggregates[0].out: expected {size} in the template (2 "
                 "sizes), got \"n\"");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": [{\"agg\": \"count\", \"out\": \"n{siz}\"}]}",
                 "test.json: operators[1].aggregates[0].out: expected only {size}, {agg}, {field} "
                 "or {by} in a template, got \"n{siz}\"");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": [{\"agg\": \"count\", \"out\": \"n\"}, "
                 "{\"agg\": \"sum\", \"field\": \"x\", \"out\": [\"n\"]}]}",
                 "test.json: operators[1].aggregates[1].out[0]: expected a name not used twice, "
                 "got \"n\"");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": [{\"agg\": \"distinct\", \"field\": \"x\"}]}",
                 "test.json: operators[1].aggregates[0].field: unknown string field \"x\"; no "
                 "earlier operator writes any");
    expect_error("{\"sizes\": \"1d\", \"empty\": \"0\", \"aggregates\": [{\"agg\": \"count\"}]}",
                 "test.json: operators[1].empty: expected a number or null (NaN), got a string");
    expect_error("{\"sizes\": [], \"aggregates\": [{\"agg\": \"count\"}]}",
                 "test.json: operators[1].sizes: expected a string or a non-empty array of "
                 "strings, got []");
    expect_error("{\"sizes\": \"1d\", \"truncated_out\": \"n\", \"aggregates\": [{\"agg\": "
                 "\"count\", \"out\": \"n\"}]}",
                 "test.json: operators[1].truncated_out: expected a name no aggregate writes, got "
                 "\"n\"");
    expect_error("{\"sizes\": [\"1d\", \"7d\"], \"delay\": \"1h\", \"evict\": \"ttl\", "
                 "\"ttl\": \"7d\", \"aggregates\": [{\"agg\": \"count\", \"out\": \"n{size}\"}]}",
                 "test.json: operators[1].ttl: expected at least delay + the largest size + "
                 "allowed_lateness (608400000 ms): a key that expires sooner loses events its "
                 "windows still count, got 604800000 ms");
    expect_error("{\"sizes\": \"1d\", \"aggregates\": []}",
                 "test.json: operators[1].aggregates: expected a list of 1 to 32 aggregates, got "
                 "an empty list");
}

/* A field read as a number in one configuration and as a string in the
 * next moves where the value's numbers end: the saved state does not
 * restore (its numbers were read as string hashes). */
static void test_layout_strings(void)
{
    struct h_pipe p1, p2;
    struct h_op a, b;
    h_pipe_init(&p1);
    h_pipe_init(&p2);
    h_feature(&p1, "a", 0);
    h_feature(&p1, "b", 0);
    h_feature(&p2, "a", 0);
    struct weir_prepare pr = {.schema = &p2.schema, .diag = &p2.diag, .path = "operators[0]"};
    weir_schema_string_out(&pr, "b", "b");
    CHECK(h_build(&a, &weir_op_window,
                  "{\"sizes\": \"1m\", \"aggregates\": [{\"agg\": \"min\", "
                  "\"field\": \"a\"}, {\"agg\": \"min\", \"field\": \"b\"}]}",
                  &p1, 1) == 0);
    CHECK(h_build(&b, &weir_op_window,
                  "{\"sizes\": \"1m\", \"aggregates\": [{\"agg\": \"min\", "
                  "\"field\": \"a\"}, {\"agg\": \"distinct\", \"field\": \"b\"}]}",
                  &p2, 1) == 0);
    struct weir_buf buf = {0};
    CHECK(weir_op_snapshot(&a.op, 0, &buf) == 0);
    CHECK(weir_op_restore(&b.op, 0, buf.data, buf.len) == -EINVAL);
    weir_buf_free(&buf);
    h_free(&a);
    h_free(&b);
    h_pipe_free(&p1);
    h_pipe_free(&p2);
}

int main(void)
{
    test_layout_strings();
    test_spike_leaves();
    test_restored_watermark();
    test_replayed();
    test_late_into_full();
    test_older_into_full();
    test_prepare_errors();
    test_names();
    test_overflow();
    test_late_pass();
    test_snapshot();
    /* keyed, with late records (2 s allowed lateness; the stream goes 4 s back) */
    const unsigned all = (1u << NAGG) - 1, running = 0x1 | 0x2 | 0x4 | 0x80;
    run_random("", 0, NAN, 1, 40, 2000, all, 1);
    run_random("\"empty\": 0, ", 0, 0, 1, 7, 3000, all, 1);
    run_random("\"delay\": \"2s\", \"empty\": -1, ", 2000, -1, 1, 25, 2500, all, 1);
    /* one state per partition, no late records */
    run_random("\"delay\": \"500ms\", ", 500, NAN, 0, 1, 1000000, all, 1);
    /* count, sum, mean and since_last only: running sums instead of scans */
    run_random("", 0, NAN, 1, 40, 2000, running, 1);
    run_random("\"delay\": \"2s\", \"empty\": 0, ", 2000, 0, 1, 9, 1500, running, 1);
    run_random("\"delay\": \"1s\", ", 1000, NAN, 0, 1, 1000000, running, 1);
    run_random("", 0, NAN, 1, 300, 0, 0x1 | 0x4, 1); /* lateness 0: every step back is late */
    /* three partitions: each its own keys and watermark, both paths */
    run_random("", 0, NAN, 1, 12, 2000, all, 3);
    run_random("\"delay\": \"1s\", ", 1000, NAN, 1, 12, 1500, running, 3);
    return check_summary();
}
