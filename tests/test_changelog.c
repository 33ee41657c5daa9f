/* Tests for the Kafka changelog back end of durable state
 * (connectors/kafka_changelog.c), on the embedded cluster; with
 * WEIR_CHANGELOG_BROKERS=host:port the same checks run against real brokers
 * (tests/test_changelog_broker.sh creates the topics they expect: "in" with 4
 * partitions, "in2" with 2, "out", "cl-small" with 2), plus two more when
 * named: WEIR_CHANGELOG_DELETE_TOPIC (an existing topic that isn't compacted),
 * WEIR_CHANGELOG_COMPACT_DELETE_TOPIC (compact,delete: retention deletes too)
 * and WEIR_CHANGELOG_COLLIDE_TOPIC (a name the broker refuses to create).
 *
 *   - open creates the changelog with the source's partition count, and
 *     refuses an existing one with fewer partitions (or, on real brokers, one
 *     that isn't compacted);
 *   - at-least-once writes hold the ticket until delivered, also past a full
 *     producer queue (150,000 writes without running the loop);
 *   - restores, several at once and two source topics on one changelog
 *     partition, give back the last value of each key, without tombstoned
 *     keys or the other topic's entries; an empty partition completes;
 *   - cancel stops the callbacks, a waiting restore can be cancelled, and the
 *     partition is read again correctly afterwards;
 *   - the state survives close and a new open;
 *   - two workers opening at once on a new topic: one creates it, both open;
 *   - exactly-once: writes join the worker's transaction; a committed one is
 *     restored (read_committed), an aborted one is not. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/durable.h"
#include "engine/loop.h"
#include "engine/pipeline.h"
#include "engine/worker.h"
#include "tests/check.h"

#define NPARTS 64   /* the engine's part ids used here */
#define BULK 150000 /* more than queue.buffering.max.messages (100000) */
#define BULK_KEYS 1000

static const char *brokers = "embedded";
static int embedded = 1;

/* ---- what restores hand back: (part, key) -> value ---------------------- */

struct slot {
    uint32_t part;
    char *key;
    char *value; /* NULL: deleted */
};
#define MAP_SLOTS 16384
static struct slot map[MAP_SLOTS];

static struct {
    int calls, rc, entries;
} rs[NPARTS];

static size_t map_find(uint32_t part, const char *key, size_t klen)
{
    uint64_t h = 1469598103934665603ull ^ part;
    for (size_t i = 0; i < klen; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    size_t i = h % MAP_SLOTS;
    while (map[i].key && !(map[i].part == part && strlen(map[i].key) == klen &&
                           memcmp(map[i].key, key, klen) == 0))
        i = (i + 1) % MAP_SLOTS;
    return i;
}

static int on_entry(struct weir_durable *d, uint32_t part, const void *key, uint32_t klen,
                    const void *value, uint32_t vlen)
{
    size_t i = map_find(part, key, klen);
    if (!map[i].key) {
        map[i].part = part;
        map[i].key = strndup(key, klen);
    }
    free(map[i].value);
    map[i].value = value ? strndup(value, vlen) : NULL;
    rs[part].entries++;
    return 0;
}

static void on_restored(struct weir_durable *d, uint32_t part, int rc)
{
    rs[part].calls++;
    rs[part].rc = rc;
}

/* The live value of key in part's map, or NULL. */
static const char *got(uint32_t part, const char *key)
{
    size_t i = map_find(part, key, strlen(key));
    return map[i].key ? map[i].value : NULL;
}

/* Live keys in part's map. */
static int live(uint32_t part)
{
    int n = 0;
    for (size_t i = 0; i < MAP_SLOTS; i++)
        n += map[i].key && map[i].part == part && map[i].value;
    return n;
}

static void map_clear(void)
{
    for (size_t i = 0; i < MAP_SLOTS; i++) {
        free(map[i].key);
        free(map[i].value);
    }
    memset(map, 0, sizeof map);
    memset(rs, 0, sizeof rs);
}

/* ---- the loop ----------------------------------------------------------- */

static struct weir_event wake;
static int wake_armed;
static void on_wake(struct weir_event *ev, int res)
{
    wake_armed = 0;
}

/* Runs the loop until *flag is nonzero or secs pass (a timer keeps each step
 * short). Returns *flag. */
static int run_until(struct weir_loop *loop, const int *flag, double secs)
{
    uint64_t deadline = weir_now_ns() + (uint64_t)(secs * 1e9);
    wake.done = on_wake;
    while (!*flag && weir_now_ns() < deadline) {
        if (!wake_armed && weir_loop_timer(loop, 10 * 1000000ull, &wake) == 0)
            wake_armed = 1;
        weir_loop_step(loop, 0);
    }
    return *flag;
}

/* Runs until restore part ended. */
static int run_restored(struct weir_loop *loop, uint32_t part, double secs)
{
    return run_until(loop, &rs[part].calls, secs);
}

/* ---- tickets ------------------------------------------------------------ */

static int ticket_done;
static void on_ticket_done(struct weir_ticket *t)
{
    ticket_done = 1;
}

static void ticket_init(struct weir_ticket *t)
{
    *t = (struct weir_ticket){.pending = 1, .done = on_ticket_done}; /* our own hold */
    ticket_done = 0;
}

/* ---- set-up --------------------------------------------------------------- */

static char dir[] = "/tmp/weir-test-changelog.XXXXXX";

static struct weir_pipeline *load(const char *name, int eos)
{
    char path[256], json[2048];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    snprintf(json, sizeof json,
             "{\"name\": \"%s\",\n"
             " \"source\": {\"type\": \"kafka\", \"brokers\": \"%s\", \"topics\": [\"in\", \"in2\"],"
             " \"connect_timeout\": \"20s\"%s},\n"
             " \"operators\": [],\n"
             " \"sinks\": [{\"type\": \"kafka\", \"topic\": \"out\"}]%s}\n",
             name, brokers, eos ? ", \"guarantee\": \"exactly_once\"" : "",
             eos ? ",\n \"dead_letter\": {\"type\": \"kafka\", \"topic\": \"out\"}" : "");
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(json, f);
    fclose(f);
    struct weir_pipeline *pl = NULL;
    struct weir_diag diag = {0};
    int rc = weir_pipeline_load(path, NULL, 0, &pl, &diag);
    if (rc < 0)
        weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    return rc < 0 ? NULL : pl;
}

static void durable_init(struct weir_durable *d, struct weir_worker *w, const char *topic, int eos)
{
    *d = (struct weir_durable){.type = &weir_durable_kafka, .w = w, .loop = w->loop, .where = topic,
                               .exactly_once = eos, .entry = on_entry, .restored = on_restored};
}

/* Partitions of topic on the brokers (a throw-away client), or -1. */
static int partitions_of(const char *topic)
{
    char boot[512], errstr[256];
    if (embedded ? weir_kafka_embedded_bootstraps(boot, sizeof boot) < 0
                 : snprintf(boot, sizeof boot, "%s", brokers) < 0)
        return -1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", boot, errstr, sizeof errstr);
    rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        return -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == 0) {
        n = md->topic_cnt == 1 && !md->topics[0].err ? md->topics[0].partition_cnt : -1;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return n;
}

static int wr(struct weir_durable *d, const char *topic, int32_t p, const char *key,
              const char *value, struct weir_ticket *t)
{
    return d->type->write(d, topic, p, key, (uint32_t)strlen(key), value,
                          value ? (uint32_t)strlen(value) : 0, t);
}

/* ---- at-least-once -------------------------------------------------------- */

/* Partition 0: "in" a=1 b=2 a=3 c=4 b=(deleted) a=5, "in2" a=x d=y.
 * Partition 1: "in" e=6 f=7 e=(deleted), "in2" e=zz. Partition 2: nothing. */
static void write_small(struct weir_durable *d, struct weir_ticket *t)
{
    CHECK(wr(d, "in", 0, "a", "1", t) == 0);
    CHECK(wr(d, "in2", 0, "a", "x", t) == 0);
    CHECK(wr(d, "in", 0, "b", "2", t) == 0);
    CHECK(wr(d, "in", 0, "a", "3", t) == 0);
    CHECK(wr(d, "in", 1, "e", "6", t) == 0);
    CHECK(wr(d, "in", 0, "c", "4", t) == 0);
    CHECK(wr(d, "in", 0, "b", NULL, t) == 0);
    CHECK(wr(d, "in2", 1, "e", "zz", t) == 0);
    CHECK(wr(d, "in", 1, "f", "7", t) == 0);
    CHECK(wr(d, "in", 0, "a", "5", t) == 0);
    CHECK(wr(d, "in2", 0, "d", "y", t) == 0);
    CHECK(wr(d, "in", 1, "e", NULL, t) == 0);
}

static void check_small(uint32_t p0, uint32_t p1, uint32_t p2, uint32_t q0)
{
    CHECK(rs[p0].calls == 1 && rs[p0].rc == 0);
    CHECK_STR(got(p0, "a"), "5");
    CHECK(got(p0, "b") == NULL);
    CHECK_STR(got(p0, "c"), "4");
    CHECK(got(p0, "d") == NULL); /* in2's */
    CHECK(live(p0) == 2);
    CHECK(rs[p1].calls == 1 && rs[p1].rc == 0);
    CHECK(got(p1, "e") == NULL);
    CHECK_STR(got(p1, "f"), "7");
    CHECK(live(p1) == 1);
    CHECK(rs[p2].calls == 1 && rs[p2].rc == 0 && rs[p2].entries == 0);
    if (q0) {
        CHECK(rs[q0].calls == 1 && rs[q0].rc == 0);
        CHECK_STR(got(q0, "a"), "x");
        CHECK_STR(got(q0, "d"), "y");
        CHECK(live(q0) == 2);
    }
}

static void check_bulk(uint32_t part)
{
    char key[32], want[32];
    int bad = 0;
    CHECK(rs[part].calls == 1 && rs[part].rc == 0);
    CHECK(got(part, "k0") == NULL); /* deleted last */
    for (int j = 1; j < BULK_KEYS; j++) {
        snprintf(key, sizeof key, "k%d", j);
        snprintf(want, sizeof want, "v%d", BULK - BULK_KEYS + j);
        const char *g = got(part, key);
        bad += !g || strcmp(g, want) != 0;
    }
    CHECK(bad == 0);
    CHECK(live(part) == BULK_KEYS - 1);
}

static void test_at_least_once(struct weir_loop *loop, struct weir_loop *loop2,
                               const struct weir_pipeline *pl)
{
    struct weir_worker w = {.id = 0, .nworkers = 1, .pl = pl, .loop = loop};
    struct weir_worker w2 = {.id = 0, .nworkers = 1, .pl = pl, .loop = loop2};
    struct weir_durable d;
    struct weir_error err = {0};
    struct weir_ticket t;
    durable_init(&d, &w, "cl-alo", 0);
    int rc = d.type->open(&d, &err);
    CHECK(rc == 0);
    if (rc < 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        d.type->close(&d);
        return;
    }
    CHECK(partitions_of("cl-alo") == 4); /* "in": 4, "in2": 4 embedded, 2 on the broker */

    /* Writes: the ticket is done once every write is delivered. */
    ticket_init(&t);
    write_small(&d, &t);
    CHECK(wr(&d, "in", 4, "x", "1", &t) == -ERANGE); /* no changelog partition 4 */
    weir_ticket_release(&t, 1);
    CHECK(run_until(loop, &ticket_done, 30));
    CHECK(!t.failed);

    /* More than the producer's queue holds, without serving the loop. */
    ticket_init(&t);
    char key[32], val[32];
    int wfail = 0;
    for (int i = 0; i < BULK; i++) {
        snprintf(key, sizeof key, "k%d", i % BULK_KEYS);
        snprintf(val, sizeof val, "v%d", i);
        wfail += wr(&d, "in", 3, key, val, &t) != 0;
    }
    wfail += wr(&d, "in", 3, "k0", NULL, &t) != 0;
    CHECK(wfail == 0); /* past the queue's limit, writes wait in the back end's FIFO */
    weir_ticket_release(&t, 1);
    CHECK(run_until(loop, &ticket_done, 120));
    CHECK(!t.failed);

    /* Restores, four at once: (in2, 0) waits for (in, 0) and reads it again. */
    map_clear();
    CHECK(d.type->restore(&d, 1, "in", 0) == 0);
    CHECK(d.type->restore(&d, 2, "in", 1) == 0);
    CHECK(d.type->restore(&d, 3, "in", 2) == 0);
    CHECK(d.type->restore(&d, 4, "in2", 0) == 0);
    CHECK(d.type->restore(&d, 9, "in", 99) == -ERANGE);
    for (uint32_t p = 1; p <= 4; p++)
        CHECK(run_restored(loop, p, 30));
    check_small(1, 2, 3, 4);

    CHECK(d.type->restore(&d, 5, "in", 3) == 0);
    CHECK(run_restored(loop, 5, 60));
    check_bulk(5);

    /* Cancel before anything was read: no callback ever comes. */
    CHECK(d.type->restore(&d, 8, "in", 3) == 0);
    d.type->cancel(&d, 8);
    int none = 0;
    run_until(loop, &none, 0.3);
    CHECK(rs[8].calls == 0 && rs[8].entries == 0);

    /* Cancel mid-read: no more callbacks; a new restore reads it all again.
     * (When the read is done before the test gets to cancel it, as under a
     * slow sanitizer it can be, only the second half is checked.) */
    CHECK(d.type->restore(&d, 6, "in", 3) == 0);
    int some = 0;
    uint64_t deadline = weir_now_ns() + 30 * 1000000000ull;
    while (rs[6].entries < 1000 && rs[6].calls == 0 && weir_now_ns() < deadline) {
        some = 0;
        run_until(loop, &some, 0.005);
    }
    CHECK(rs[6].entries > 0);
    int finished_first = rs[6].calls != 0;
    if (finished_first)
        fprintf(stderr, "  the restore ended before the cancel: mid-read cancel not exercised\n");
    d.type->cancel(&d, 6);
    int seen = rs[6].entries, calls = rs[6].calls;
    CHECK(d.type->restore(&d, 7, "in", 3) == 0);
    CHECK(run_restored(loop, 7, 60));
    check_bulk(7);
    CHECK(rs[6].calls == calls && rs[6].entries == seen);

    /* Cancel a restore that waits for its partition. */
    CHECK(d.type->restore(&d, 10, "in", 0) == 0);
    CHECK(d.type->restore(&d, 11, "in2", 0) == 0);
    d.type->cancel(&d, 11);
    CHECK(run_restored(loop, 10, 30));
    some = 0;
    run_until(loop, &some, 0.3);
    CHECK(rs[10].rc == 0 && rs[11].calls == 0 && rs[11].entries == 0);
    CHECK_STR(got(10, "a"), "5");

    /* Too few partitions: a second changelog with 2. */
    if (embedded)
        CHECK(weir_kafka_embedded_topic_create("cl-small", 2) == 0);
    struct weir_durable d2;
    durable_init(&d2, &w, "cl-small", 0);
    rc = d2.type->open(&d2, &err);
    CHECK(rc == -EINVAL);
    CHECK(strstr(err.msg, "changelog topic \"cl-small\" on brokers ") != NULL);
    CHECK(strstr(err.msg, "has 2 partitions; the source topic \"in\" has 4") != NULL);
    printf("  too few partitions: %s\n", err.msg);
    d2.type->close(&d2);

    /* Not compacted (real brokers only: the mock doesn't describe configs). */
    const char *del = getenv("WEIR_CHANGELOG_DELETE_TOPIC");
    if (!embedded && del) {
        durable_init(&d2, &w, del, 0);
        rc = d2.type->open(&d2, &err);
        CHECK(rc == -EINVAL && strstr(err.msg, "cleanup.policy=delete") != NULL);
        printf("  not compacted: %s\n", err.msg);
        d2.type->close(&d2);
    }
    const char *cdel = getenv("WEIR_CHANGELOG_COMPACT_DELETE_TOPIC");
    if (!embedded && cdel) { /* compacted, and retention deletes idle keys' state too */
        durable_init(&d2, &w, cdel, 0);
        rc = d2.type->open(&d2, &err);
        CHECK(rc == -EINVAL && strstr(err.msg, "retention would delete the state of keys") != NULL);
        printf("  compacted and deleted: %s\n", err.msg);
        d2.type->close(&d2);
    }

    /* A creation the broker refuses: one line with its reason. */
    const char *col = getenv("WEIR_CHANGELOG_COLLIDE_TOPIC");
    if (!embedded && col) {
        durable_init(&d2, &w, col, 0);
        rc = d2.type->open(&d2, &err);
        CHECK(rc == -EIO && strstr(err.msg, "cannot create the changelog topic") != NULL);
        printf("  refused: %s\n", err.msg);
        d2.type->close(&d2);
    }

    /* The state outlives the instance (the embedded cluster lives on while
     * another client holds it: d2 opens before d closes; on its own loop). */
    durable_init(&d2, &w2, "cl-alo", 0);
    CHECK(d2.type->open(&d2, &err) == 0);
    d.type->close(&d);
    if (d2.state) {
        CHECK(d2.type->restore(&d2, 12, "in", 0) == 0);
        CHECK(d2.type->restore(&d2, 13, "in", 1) == 0);
        CHECK(d2.type->restore(&d2, 14, "in", 2) == 0);
        for (uint32_t p = 12; p <= 14; p++)
            CHECK(run_restored(loop2, p, 30));
        check_small(12, 13, 14, 0);
    }
    d2.type->close(&d2);
}

/* ---- two workers at once ---------------------------------------------------- */

struct opener {
    struct weir_worker w;
    struct weir_durable d;
    struct weir_error err;
    int rc;
};

static void *open_thread(void *arg)
{
    struct opener *o = arg;
    o->rc = o->d.type->open(&o->d, &o->err);
    return NULL;
}

static void test_concurrent_open(const struct weir_pipeline *pl)
{
    struct opener o[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        memset(&o[i], 0, sizeof o[i]);
        o[i].w = (struct weir_worker){.id = i, .nworkers = 2, .pl = pl};
        CHECK(weir_loop_new(&o[i].w.loop, 64, &o[i].err) == 0);
        durable_init(&o[i].d, &o[i].w, "cl-two", 0);
    }
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, open_thread, &o[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(o[i].rc == 0);
        if (o[i].rc < 0)
            fprintf(stderr, "worker %d: %s\n", i, o[i].err.msg);
    }
    CHECK(partitions_of("cl-two") == 4);
    for (int i = 0; i < 2; i++) {
        o[i].d.type->close(&o[i].d);
        weir_loop_free(o[i].w.loop);
    }
}

/* ---- exactly-once --------------------------------------------------------- */

/* Commits (or aborts) the open transaction on this thread, as a source does
 * at close. */
static char txn_msg[600];
static int txn_finish(struct weir_kafka_txn *txn, int abort)
{
    struct weir_kafka_txn_end e = {.abort = abort, .timeout_ms = 10000};
    weir_kafka_txn_end_now(txn, &e);
    snprintf(txn_msg, sizeof txn_msg, "%s", e.msg);
    if (e.rc < 0)
        fprintf(stderr, "transaction end: %s\n", e.msg);
    return e.rc;
}

static void test_exactly_once(struct weir_loop *loop, const struct weir_pipeline *pl)
{
    struct weir_worker w = {.id = 0, .nworkers = 1, .pl = pl, .loop = loop};
    struct weir_sink sink = {.type = &weir_sink_kafka, .conf = pl->sinks[0].conf, .worker = &w,
                             .when = WEIR_WHEN_ALL, .output = &pl->sinks[0].output};
    struct weir_durable d;
    struct weir_error err = {0};
    struct weir_sink *sinkp = &sink;
    w.sinks = &sinkp;
    w.nsinks = 1;
    durable_init(&d, &w, "cl-eos", 1);
    int rc = sink.type->open(&sink, &err);
    CHECK(rc == 0);
    if (rc == 0 && (rc = d.type->open(&d, &err)) < 0)
        CHECK(rc == 0);
    if (rc < 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        goto out;
    }
    struct weir_kafka_txn *txn = weir_kafka_txn_of(&w);
    CHECK(txn != NULL);
    CHECK(weir_kafka_txn_begin(txn, &err) == 1);
    write_small(&d, NULL);
    CHECK(txn_finish(txn, 0) == 0);
    /* An aborted transaction's entries are not restored. */
    CHECK(weir_kafka_txn_begin(txn, &err) == 1);
    CHECK(wr(&d, "in", 0, "a", "aborted", NULL) == 0);
    CHECK(wr(&d, "in", 0, "z", "aborted", NULL) == 0);
    CHECK(wr(&d, "in", 1, "f", NULL, NULL) == 0);
    if (txn_finish(txn, 1) < 0 && strstr(txn_msg, "invalid state")) {
        /* librdkafka 2.0.2 sometimes gets INVALID_TXN_STATE from a real broker
         * for an abort right after begin + produce (confluentinc/librdkafka
         * issue 4849, open); the producer is then fatally failed (weir's worker
         * would stop and restart). Not this back end's doing: skip the rest. */
        fprintf(stderr, "  abort hit librdkafka issue 4849 (INVALID_TXN_STATE): rest skipped\n");
        goto out;
    }
    CHECK(!txn_msg[0]);
    /* A write between transactions begins one (committed here). */
    CHECK(!weir_kafka_txn_is_open(txn));
    CHECK(wr(&d, "in", 0, "c", "4", NULL) == 0);
    CHECK(weir_kafka_txn_is_open(txn));
    CHECK(txn_finish(txn, 0) == 0);

    map_clear();
    CHECK(d.type->restore(&d, 1, "in", 0) == 0);
    CHECK(d.type->restore(&d, 2, "in", 1) == 0);
    CHECK(d.type->restore(&d, 3, "in", 2) == 0);
    CHECK(d.type->restore(&d, 4, "in2", 0) == 0);
    for (uint32_t p = 1; p <= 4; p++)
        CHECK(run_restored(loop, p, 30));
    check_small(1, 2, 3, 4); /* the mock cluster filters aborted messages too */
out:
    d.type->close(&d);
    sink.type->close(&sink);
}

int main(void)
{
    const char *b = getenv("WEIR_CHANGELOG_BROKERS");
    if (b && b[0]) {
        brokers = b;
        embedded = 0;
    }
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* A loop per instance's life: events armed by a closed back end would
     * call into freed memory (the engine closes it when its loop is done). */
    struct weir_loop *loop = NULL, *loop2 = NULL, *loop3 = NULL;
    struct weir_error err = {0};
    if (weir_loop_new(&loop, 256, &err) < 0 || weir_loop_new(&loop2, 256, &err) < 0 ||
        weir_loop_new(&loop3, 256, &err) < 0) {
        printf("skipped: %s\n", err.msg);
        return 77;
    }
    struct weir_pipeline *alo = load("cl-alo", 0), *eos = load("cl-eos", 1);
    CHECK(alo && eos);
    if (alo && eos) {
        printf("at-least-once (%s)\n", brokers);
        test_at_least_once(loop, loop2, alo);
        printf("two workers open at once (%s)\n", brokers);
        test_concurrent_open(alo);
        printf("exactly-once (%s)\n", brokers);
        test_exactly_once(loop3, eos);
    }
    weir_pipeline_free(alo);
    weir_pipeline_free(eos);
    weir_loop_free(loop);
    weir_loop_free(loop2);
    weir_loop_free(loop3);
    map_clear();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
