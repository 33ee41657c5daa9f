/* The replay producer (see replay.h). Not on the record path: plain stdio and
 * a librdkafka producer with its own poll loop, in a thread of its own when it
 * runs beside a pipeline (the companion at the end of this file). */
#include "connectors/replay.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "connectors/csv.h"
#include "connectors/file_list.h"
#include "connectors/kafka_common.h"
#include "engine/buf.h"
#include "engine/jscan.h"
#include "engine/loop.h"
#include "engine/pipeline.h"
#include "engine/run.h"
#include "engine/log.h"

struct replay_state {
    uint64_t acked;
    uint64_t failed;
    char first_error[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct replay_state *st = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        st->acked++;
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        return; /* stopped early: purged on purpose */
    if (st->failed++ == 0)
        snprintf(st->first_error, sizeof st->first_error, "%s", rd_kafka_err2str(m->err));
}

static rd_kafka_t *producer_new(const struct weir_replay_opts *o, struct replay_state *st,
                                struct weir_error *err)
{
    char msg[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "linger.ms", "5", msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "message.timeout.ms", "30000", msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "log_level", "2", msg, sizeof msg)) { /* errors come back as results */
        rd_kafka_conf_destroy(conf);
        weir_error_set(err, -EINVAL, "replay producer: %s", msg);
        return NULL;
    }
    /* a secured cluster: the source's credentials, as its sinks take them */
    if (weir_kafka_props_apply(conf, o->props, 1, "replay producer", err) < 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, msg, sizeof msg); /* owns conf */
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        weir_error_set(err, -EINVAL, "replay producer for %s: %s", o->brokers, msg);
    }
    return rk;
}

/* The message key: the value of the record's top-level member named by
 * --key (the last one, when a name repeats, as extract reads it): a
 * string's text, unescaped, or any other value's JSON text, without the
 * whitespace around it. None when the line is not valid JSON (the
 * consumer's dead-letter sink will say why) or has no such member. Before,
 * the key was found by searching the line for `"NAME":`: it kept the space
 * after the colon (`{"id": 7}` was keyed " 7", not "7", which other
 * producers of the topic would not write) and could match a nested member
 * or a string's text. */
static void find_key(const struct weir_jscan *js, const char *json, size_t len,
                     struct weir_buf *scratch, const char **key, size_t *klen)
{
    struct weir_jval v;
    *key = NULL;
    *klen = 0;
    if (len > UINT32_MAX || weir_jscan_run(js, json, len, &v, NULL) < 0 ||
        v.type == WEIR_JMISSING)
        return;
    if (v.type == WEIR_JSTRING && v.escaped) {
        if (weir_buf_reserve(scratch, v.len) < 0)
            return;
        *klen = weir_jstr_unescape(json + v.off, v.len, scratch->data);
        *key = scratch->data;
        return;
    }
    *key = json + v.off;
    *klen = v.len;
}

/* The top-level member --key names, as a compiled pointer. */
static int key_matcher(const char *field, struct weir_jscan **js, struct weir_error *err)
{
    char *p = weir_jpointer_for(field);
    int rc = p ? weir_jscan_compile(js, (const char *const *)&p, 1, err)
               : weir_error_set(err, -ENOMEM, "out of memory");
    free(p);
    return rc;
}

static int stopping(const struct weir_replay_opts *o)
{
    return o->stop && atomic_load(o->stop);
}

/* Sleeps until the next record is due, in short steps: a stop must not wait
 * for a slow rate's next record. */
static void pace(const struct weir_replay_opts *o, uint64_t sent, uint64_t t0)
{
    if (o->rate <= 0)
        return;
    /* A tiny rate (1e-300/s) puts the next record past 2^64 ns, where the
     * conversion is undefined: ~31 years is as good as never. */
    double wait = (double)sent * 1e9 / o->rate;
    uint64_t due = t0 + (uint64_t)(wait < 1e18 ? wait : 1e18);
    for (uint64_t now = weir_now_ns(); due > now && !stopping(o); now = weir_now_ns()) {
        uint64_t left = due - now < 20000000ull ? due - now : 20000000ull;
        struct timespec ts = {0, (long)left};
        nanosleep(&ts, NULL);
    }
}

/* ---- a bounded lead over the consumers (the embedded cluster) --------------------
 *
 * librdkafka's mock cluster (the embedded one; 2.0.2) keeps at most 5 MiB and
 * 100,000 message sets of each partition: every append drops the oldest
 * message sets beyond that. A consumer that had not fetched them yet finds its
 * offset out of range and jumps to the new start (auto.offset.reset): those
 * records are lost without a word, and a run that stops once every replayed
 * record went through waits for ever. An unpaced replay outruns the consumers
 * (7 MB of 230-byte records were all produced before their first fetch), so
 * there the replay keeps what the consumers have not taken (the workers'
 * records_in) under o->ahead bytes. What they have not taken is counted as the
 * last (sent - taken) records: exact for one partition, an estimate across
 * several (hence a bound well under 5 MiB). */

/* A record's bytes in a message set, at most: its v2 framing (varints, about
 * 20 B) and, when it travels alone, a batch header (61 B), besides key and value. */
#define REPLAY_RECORD_OVERHEAD 96u

/* The lead on the embedded cluster: 2 MiB, well under the 5 MiB it keeps of
 * a partition, and still about 7,000 fraud records (a few ticks' work). */
#define WEIR_REPLAY_EMBEDDED_AHEAD (2u << 20)

struct lead {
    uint64_t *cost; /* cost[i % cap]: record i's bytes, while not taken; NULL: no bound */
    size_t cap;
    uint64_t taken; /* records taken, at most those sent */
    uint64_t bytes; /* the cost of the records sent but not taken */
};

static int lead_init(struct lead *l, const struct weir_replay_opts *o)
{
    memset(l, 0, sizeof *l);
    if (!o->taken)
        return 0;
    /* Each record costs at least the overhead: no more than this many are out
     * at once (one larger than the bound goes alone). */
    l->cap = (size_t)(o->ahead / REPLAY_RECORD_OVERHEAD) + 2;
    l->cost = calloc(l->cap, sizeof *l->cost);
    return l->cost ? 0 : -ENOMEM;
}

/* Waits until a record of this cost may go: the consumers have taken enough,
 * or took everything sent, or a stop. Serves delivery reports meanwhile. */
static void lead_wait(rd_kafka_t *rk, const struct weir_replay_opts *o, struct lead *l,
                      uint64_t sent, uint64_t cost)
{
    if (!l->cost)
        return;
    for (;;) {
        uint64_t taken = atomic_load(o->taken);
        for (; l->taken < taken && l->taken < sent; l->taken++)
            l->bytes -= l->cost[l->taken % l->cap];
        if (l->taken == sent || l->bytes + cost <= o->ahead || stopping(o))
            return;
        rd_kafka_poll(rk, 5);
    }
}

/* Record number `seq` (0-based) was handed to the producer. */
static void lead_sent(struct lead *l, uint64_t seq, uint64_t cost)
{
    if (!l->cost)
        return;
    l->cost[seq % l->cap] = cost;
    l->bytes += cost;
}

/* Returns 0, -ECANCELED when asked to stop while the producer's queue was
 * full, or -EIO. */
static int produce_one(rd_kafka_t *rk, const struct weir_replay_opts *o, const char *v, size_t len,
                       const char *key, size_t klen)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_PARTITION(o->partition >= 0 ? o->partition : RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_VALUE((void *)v, len), RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return -EIO;
        if (stopping(o))
            return -ECANCELED;
        rd_kafka_poll(rk, 50); /* the queue is full: serve delivery reports, then retry */
    }
}

/* Produces the file's lines; *cut is set when a stop ended it before the
 * end of the file (or the limit). */
static int replay_lines(rd_kafka_t *rk, const struct weir_replay_opts *o, struct lead *lead,
                        FILE *in, const char *path, int csv, uint64_t t0, uint64_t *sent_out,
                        int *cut, struct weir_error *err)
{
    struct weir_csv_header h = {0};
    struct weir_buf row = {0}, kbuf = {0};
    struct weir_jscan *js = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t sent = *sent_out, lineno = 0;
    int in_quote = 0; /* the line before ended inside a quoted field */
    int rc = o->key_field ? key_matcher(o->key_field, &js, err) : 0;
    while (rc == 0 && !stopping(o) && (!o->limit || sent < o->limit) &&
           (n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *v = line;
        size_t len = (size_t)n;
        if (lineno == 1 && len >= 3 && memcmp(v, "\xEF\xBB\xBF", 3) == 0)
            v += 3, len -= 3;
        if (csv) {
            const char *why = NULL;
            char reason[160];
            if (lineno == 1) {
                int hr = weir_csv_header_parse(&h, v, len, ',', &why);
                if (hr == -ENOMEM)
                    rc = weir_error_set(err, hr, "out of memory");
                else if (hr < 0)
                    rc = weir_error_set(err, -EINVAL, "%s: line 1: %s", path, why);
                continue;
            }
            /* A bad row is sent as it is: the pipeline's dead-letter sink will
             * say why. So is the rest of a quoted field on the lines after
             * it, which is no row (fields may not span lines). */
            row.len = 0;
            if (in_quote) {
                in_quote = weir_csv_ends_in_quote(v, len, ',', 1);
            } else if (weir_csv_row_to_json(&h, v, len, &row, reason, sizeof reason) == 0) {
                v = row.data;
                len = row.len;
            } else {
                in_quote = weir_csv_ends_in_quote(v, len, ',', 0);
            }
        }
        const char *key = NULL;
        size_t klen = 0;
        if (js)
            find_key(js, v, len, &kbuf, &key, &klen);
        uint64_t cost = len + klen + REPLAY_RECORD_OVERHEAD;
        pace(o, sent, t0);
        lead_wait(rk, o, lead, sent, cost);
        if (stopping(o))
            break;
        int prc = produce_one(rk, o, v, len, key, klen);
        if (prc == -ECANCELED)
            break;
        if (prc < 0)
            rc = weir_error_set(err, -EIO, "replay to topic %s: %s", o->topic,
                                rd_kafka_err2str(rd_kafka_last_error()));
        else
            lead_sent(lead, sent++, cost);
        rd_kafka_poll(rk, 0);
    }
    *sent_out = sent;
    *cut = rc == 0 && stopping(o) && !feof(in) && (!o->limit || sent < o->limit);
    free(line);
    weir_buf_free(&row);
    weir_buf_free(&kbuf);
    weir_jscan_free(js);
    weir_csv_header_free(&h);
    return rc;
}

/* Waits for the delivery reports, up to 60 s, or until asked to stop; then
 * purges what is left (stopped early: those records may or may not have
 * reached the broker, and no one will wait for librdkafka's message timeout
 * to find out). Returns the number of messages left unacknowledged. */
static int settle(rd_kafka_t *rk, const struct weir_replay_opts *o)
{
    uint64_t deadline = weir_now_ns() + 60ull * 1000000000ull;
    while (rd_kafka_outq_len(rk) > 0 && !stopping(o) && weir_now_ns() < deadline)
        rd_kafka_poll(rk, 20);
    int left = rd_kafka_outq_len(rk);
    if (left > 0 && stopping(o)) {
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0); /* their (purged) delivery reports */
    }
    return left;
}

static ssize_t gz_read(void *cookie, char *buf, size_t size)
{
    int n = gzread((gzFile)cookie, buf, (unsigned)(size > 1u << 30 ? 1u << 30 : size));
    return n < 0 ? -1 : n;
}

static int gz_close(void *cookie)
{
    return gzclose((gzFile)cookie) == Z_OK ? 0 : -1;
}

/* A file as a stdio stream: standard input, plain, or gzip (decompressed). */
static FILE *open_input(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdin;
    if (!weir_file_is_gzip(path))
        return fopen(path, "r");
    gzFile gz = gzopen(path, "rb");
    if (!gz)
        return NULL;
    FILE *f = fopencookie(gz, "r", (cookie_io_functions_t){.read = gz_read, .close = gz_close});
    if (!f)
        gzclose(gz);
    return f;
}

/* Produces each file of the list in turn, each CSV with its own header. */
static int replay_files(rd_kafka_t *rk, const struct weir_replay_opts *o, struct lead *lead,
                        const struct weir_file_list *l, uint64_t *sent, int *cut,
                        struct weir_error *err)
{
    int rc = 0;
    size_t i = 0;
    /* paced from the run's start: a file's first record is due 1/rate after
     * the last one before it, however long opening the file took */
    uint64_t t0 = weir_now_ns();
    for (; rc == 0 && !*cut && i < l->n && !stopping(o) && (!o->limit || *sent < o->limit); i++) {
        FILE *in = open_input(l->paths[i]);
        if (!in)
            return weir_error_set(err, -errno, "cannot open %s: %s", l->paths[i], strerror(errno));
        rc = replay_lines(rk, o, lead, in, l->paths[i], weir_file_is_csv(l->paths[i]), t0, sent,
                          cut, err);
        if (in != stdin)
            fclose(in);
    }
    if (rc == 0 && i < l->n && stopping(o))
        *cut = 1; /* stopped between files */
    return rc;
}

int weir_replay_run(const struct weir_replay_opts *o, struct weir_replay_stats *stats,
                    struct weir_error *err)
{
    struct replay_state st = {0};
    struct weir_file_list files;
    struct lead lead;
    char why[512];
    memset(stats, 0, sizeof *stats);
    if (lead_init(&lead, o) < 0)
        return weir_error_set(err, -ENOMEM, "out of memory");
    if (weir_file_list_expand(&files, o->path, why, sizeof why) < 0) {
        free(lead.cost);
        return weir_error_set(err, -ENOENT, "replay: %s", why);
    }
    rd_kafka_t *rk = producer_new(o, &st, err);
    int cut = 0;
    int rc = rk ? replay_files(rk, o, &lead, &files, &stats->sent, &cut, err) : err->code;
    if (rk) {
        int left = settle(rk, o);
        stats->stopped = cut || (left > 0 && stopping(o));
        if (rc == 0 && left > 0 && !stats->stopped)
            rc = weir_error_set(err, -ETIMEDOUT,
                                "replay to topic %s at %s: %d messages not acknowledged after 60 s",
                                o->topic, o->brokers, left);
        if (rc == 0 && st.failed)
            rc = weir_error_set(err, -EIO, "replay to topic %s at %s: %llu messages failed: %s",
                                o->topic, o->brokers, (unsigned long long)st.failed, st.first_error);
        rd_kafka_destroy(rk);
    }
    weir_file_list_free(&files);
    free(lead.cost);
    stats->acked = st.acked;
    return rc;
}

#define RCONF(f) offsetof(struct weir_replay_conf, f)
static const struct weir_option weir_replay_options[] = {
    {"path", WEIR_OPT_STRING, NULL,
     "file to produce (JSON Lines; *.csv: CSV rows as JSON objects; *.gz decompressed), or a glob or "
     "a directory: its data files in name order",
     RCONF(path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"topic", WEIR_OPT_STRING, NULL, "topic to produce to (default: the source's first topic)",
     RCONF(topic), 0, 0, 0, NULL},
    {"rate", WEIR_OPT_NUMBER, "0", "records per second; 0: as fast as the broker takes them",
     RCONF(rate), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"key", WEIR_OPT_STRING, NULL,
     "top-level field used as the message key (a string's text, any other value's JSON text)",
     RCONF(key), 0, 0, 0, NULL},
    {"partition", WEIR_OPT_INT, "-1",
     "produce every record to this partition (one series in order); -1: by key",
     RCONF(partition), WEIR_OPT_RANGE, -1, 1 << 20, NULL},
    {"stop", WEIR_OPT_BOOL, "true",
     "stop the run once every replayed record has gone through the pipeline", RCONF(stop), 0, 0,
     0, NULL},
    {0},
};

/* A replay feeds a Kafka source's topic. */
static int consumed_topic(const struct weir_kafka_source_conf *kc, const char *topic)
{
    for (size_t i = 0; i < kc->topics.n; i++)
        if (strcmp(kc->topics.v[i], topic) == 0)
            return 1;
    return 0;
}

static int replay_check(void *conf, const struct weir_pipeline *pl, struct weir_diag *diag)
{
    const struct weir_replay_conf *rc = conf;
    if (pl->source_type && pl->source_type != &weir_source_kafka) {
        weir_diag_add(diag, "replay", "expected a pipeline with a \"kafka\" source, got a \"%s\" source",
                      pl->source_type->name);
        return 1;
    }
    /* The run would wait for records that never come its way. */
    if (pl->source_type && rc->stop && rc->topic && !consumed_topic(pl->source_conf, rc->topic)) {
        weir_diag_add(diag, "replay.topic", "expected one of the source's topics with \"stop\": "
                      "true (the run stops once the replayed records went through it), got \"%s\", "
                      "which the source does not read", rc->topic);
        return 1;
    }
    /* Started at the end, a partition may begin past what the replay sent. */
    const struct weir_kafka_source_conf *kc = pl->source_type ? pl->source_conf : NULL;
    if (kc && rc->stop && kc->start) {
        weir_diag_add(diag, "source.start", "expected \"earliest\" with a \"replay\" that stops the "
                      "run (\"stop\": true): \"latest\" starts a partition without a committed "
                      "offset after the records already sent, and the run would wait for them for "
                      "ever");
        return 1;
    }
    return 0;
}

/* ---- the companion: a pipeline's "replay", beside the workers ------------------- */

struct replay_job {
    struct weir_companion c;          /* first: what the run holds */
    const struct weir_replay_conf *conf;
    const struct weir_pipeline *pl;
    struct weir_replay_opts o;
    struct weir_kafka_client cl;      /* holds the embedded cluster while the producer lives */
    pthread_t thread;
    int started;                      /* the main thread's: 1 once the thread runs */
    _Atomic int stop;
    _Atomic uint64_t taken;           /* the workers' records_in, every tick */
    _Atomic int ended;                /* the thread is through: rc, err and stats are final */
    int rc;
    struct weir_error err;
    struct weir_replay_stats stats;
};

static void *replay_thread(void *arg)
{
    struct replay_job *job = arg;
    pthread_setname_np(pthread_self(), "weir-replay");
    job->rc = weir_replay_run(&job->o, &job->stats, &job->err);
    /* Here, not in finish(): tearing the embedded cluster down takes librdkafka
     * about a second, and the main thread must keep watching for signals. */
    weir_kafka_client_release(&job->cl);
    atomic_store(&job->ended, 1);
    return NULL;
}

/* The brokers and topic, once the workers are up; on the embedded cluster the
 * job holds a reference, so the cluster outlives the producer even when the
 * workers close first. */
static int job_start(struct replay_job *job, struct weir_error *err)
{
    const struct weir_kafka_source_conf *kc = job->pl->source_conf;
    const char *topic = job->conf->topic ? job->conf->topic : kc->topics.v[0];
    snprintf(job->cl.what, sizeof job->cl.what, "replay");
    int rc = weir_kafka_brokers_resolve(&job->cl, kc->brokers, &topic, 1, err);
    if (rc < 0)
        return rc;
    size_t n = strlen(job->conf->path);
    job->o =
        (struct weir_replay_opts){.brokers = job->cl.brokers,
                                  .topic = topic,
                                  .path = job->conf->path,
                                  .csv = n > 4 && strcasecmp(job->conf->path + n - 4, ".csv") == 0,
                                  .rate = job->conf->rate,
                                  .key_field = job->conf->key,
                                  .partition = (int32_t)job->conf->partition,
                                  .stop = &job->stop,
                                  .props = job->cl.embedded ? NULL : kc->kafka};
    if (job->cl.embedded && consumed_topic(kc, topic)) { /* the mock cluster's 5 MiB: see above */
        job->o.taken = &job->taken;
        job->o.ahead = WEIR_REPLAY_EMBEDDED_AHEAD;
    }
    if (pthread_create(&job->thread, NULL, replay_thread, job) != 0) {
        weir_kafka_client_release(&job->cl);
        return weir_error_set(err, -EAGAIN, "replay: cannot start its thread");
    }
    job->started = 1;
    return 0;
}

static int job_poll(struct weir_companion *c, const struct weir_run_progress *p,
                    struct weir_error *err)
{
    struct replay_job *job = (struct replay_job *)c;
    atomic_store(&job->taken, p->records_in);
    if (!job->started)
        return p->workers_ready ? job_start(job, err) : 0;
    if (!atomic_load(&job->ended))
        return 0;
    if (job->rc < 0)
        return 1; /* finish() reports the error */
    return job->conf->stop && p->records_in >= job->stats.acked;
}

static void job_stop(struct weir_companion *c)
{
    atomic_store(&((struct replay_job *)c)->stop, 1);
}

static int job_ended(struct weir_companion *c)
{
    struct replay_job *job = (struct replay_job *)c;
    return !job->started || atomic_load(&job->ended);
}

static int job_finish(struct weir_companion *c, struct weir_error *err)
{
    struct replay_job *job = (struct replay_job *)c;
    if (job->started)
        pthread_join(job->thread, NULL); /* it has ended: run.c waits for ended() */
    if (job->rc < 0)
        *err = job->err;
    return job->rc;
}

static void job_release(struct weir_companion *c, FILE *summary)
{
    struct replay_job *job = (struct replay_job *)c;
    const char *path = job->conf->path;
    unsigned long long acked = job->stats.acked, sent = job->stats.sent;
    /* Through the log, so that --log-format applies to it as to the run's
     * own summary; summary NULL (--quiet): nothing. */
    if (!summary) {
        /* nothing to say */
    } else if (!job->started) {
        weir_log(WEIR_LOG_INFO, "replay: %s not started (the run ended first)", path);
    } else if (job->rc < 0) {
        weir_log(WEIR_LOG_INFO, "replay: %llu records from %s acknowledged before it failed",
                 acked, path);
    } else if (job->stats.stopped) {
        weir_log(WEIR_LOG_INFO, "replay: stopped early: %llu records from %s acknowledged; %llu "
                 "more were sent and purged unacknowledged, the rest of the file was not sent",
                 acked, path, sent > acked ? sent - acked : 0);
    } else {
        weir_log(WEIR_LOG_INFO, "replay: %llu records from %s produced and acknowledged", acked,
                 path);
    }
    free(job);
}

static struct weir_companion *replay_companion(const void *conf, const struct weir_pipeline *pl,
                                               struct weir_error *err)
{
    struct replay_job *job = calloc(1, sizeof *job);
    if (!job) {
        weir_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    job->c = (struct weir_companion){.poll = job_poll, .stop = job_stop, .ended = job_ended,
                                     .finish = job_finish, .release = job_release};
    job->conf = conf;
    job->pl = pl;
    return &job->c;
}

const struct weir_section_type weir_section_replay = {
    .name = "replay",
    .options = weir_replay_options,
    .conf_size = sizeof(struct weir_replay_conf),
    .check = replay_check,
    .companion = replay_companion,
};

/* ---- weir replay FILE --brokers B --topic T ------------------------------------- */

static int replay_usage(const char *opt, const char *want, const char *got)
{
    fprintf(stderr, "weir: replay: %s expects %s, got \"%s\"\n", opt, want, got);
    return 2;
}

static int replay_main(int argc, char **argv)
{
    struct weir_replay_opts o = {.partition = -1}; /* -1: the partitioner decides, by key */
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--brokers") == 0 && v)
            o.brokers = argv[++i];
        else if (strcmp(a, "--topic") == 0 && v)
            o.topic = argv[++i];
        else if (strcmp(a, "--rate") == 0 && v) {
            /* a typo must not become "as fast as possible" on a real topic */
            char *end;
            o.rate = strtod(argv[++i], &end);
            if (*end || end == v || !(o.rate >= 0 && o.rate <= 1e9))
                return replay_usage("--rate", "records per second from 0 (as fast as "
                                    "possible) to 1e9", v);
        } else if (strcmp(a, "--key") == 0 && v) {
            o.key_field = argv[++i];
        } else if (strcmp(a, "--limit") == 0 && v) {
            char *end;
            o.limit = strtoull(argv[++i], &end, 10);
            if (*end || end == v || v[0] == '-' || o.limit == 0)
                return replay_usage("--limit", "a number of records above 0", v);
        } else if (!o.path && (a[0] != '-' || !a[1]))
            o.path = a;
        else {
            fprintf(stderr, "weir: replay: unexpected argument \"%s\"; try: weir help replay\n", a);
            return 2;
        }
    }
    if (!o.path || !o.brokers || !o.topic) {
        fprintf(stderr, "weir: replay needs FILE, --brokers and --topic; try: weir help replay\n");
        return 2;
    }
    if (strcmp(o.brokers, "embedded") == 0) { /* it lives in the run's process only */
        fprintf(stderr,
                "weir: replay: --brokers embedded: the embedded cluster lives inside one "
                "weir run; give the pipeline a \"replay\" section to feed it (docs/kafka.md)\n");
        return 2;
    }
    size_t n = strlen(o.path);
    o.csv = n > 4 && strcasecmp(o.path + n - 4, ".csv") == 0;
    struct weir_replay_stats st;
    struct weir_error err = {0};
    int rc = weir_replay_run(&o, &st, &err);
    weir_log(WEIR_LOG_INFO, "replay: %llu records acknowledged by %s (topic %s)\n",
            (unsigned long long)st.acked, o.brokers, o.topic);
    if (rc < 0)
        weir_log(WEIR_LOG_ERROR, "replay: %s\n", err.msg);
    return rc < 0 ? 1 : 0;
}

const struct weir_command weir_command_replay = {
    .name = "replay",
    .usage = "weir replay FILE --brokers HOSTS --topic TOPIC [--rate N] [--key FIELD] [--limit N]",
    .help = "Produces every line of FILE (JSON Lines; *.csv: CSV rows as JSON objects; *.gz, a glob or a\n"
            "directory: each data file in name order) to TOPIC and\n"
            "waits until the broker acknowledged them all. --rate: records per second (default: as\n"
            "fast as possible); --key: a top-level field used as the message key; --limit:\n"
            "stop after N records.\n",
    .main = replay_main,
};
