/* The replay producer (see replay.h). Not on the record path: plain stdio and
 * a librdkafka producer with its own poll loop. */
#include "connectors/replay.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/csv.h"
#include "connectors/kafka_common.h"
#include "engine/pipeline.h"
#include "engine/buf.h"
#include "engine/loop.h"

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
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, msg, sizeof msg); /* owns conf */
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        weir_error_set(err, -EINVAL, "replay producer for %s: %s", o->brokers, msg);
    }
    return rk;
}

/* The key: a top-level string or number field of the JSON object, found by a
 * plain search for "name": (good enough for a replay tool; not the record path). */
static void find_key(const char *json, size_t len, const char *field, const char **key, size_t *klen)
{
    *key = NULL;
    *klen = 0;
    char pat[160];
    int n = snprintf(pat, sizeof pat, "\"%s\":", field);
    const char *p = memmem(json, len, pat, (size_t)n);
    if (!p)
        return;
    p += n;
    const char *end = json + len;
    if (p < end && *p == '"') {
        const char *q = memchr(p + 1, '"', (size_t)(end - p - 1));
        if (q) {
            *key = p + 1;
            *klen = (size_t)(q - p - 1);
        }
        return;
    }
    const char *q = p;
    while (q < end && *q != ',' && *q != '}')
        q++;
    *key = p;
    *klen = (size_t)(q - p);
}

static void pace(const struct weir_replay_opts *o, uint64_t sent, uint64_t t0)
{
    if (o->rate <= 0)
        return;
    /* A tiny rate (1e-300/s) puts the next record past 2^64 ns, where the
     * conversion is undefined: ~31 years is as good as never. */
    double wait = (double)sent * 1e9 / o->rate;
    uint64_t due = t0 + (uint64_t)(wait < 1e18 ? wait : 1e18);
    uint64_t now = weir_now_ns();
    if (due > now) {
        struct timespec ts = {(time_t)((due - now) / 1000000000ull), (long)((due - now) % 1000000000ull)};
        nanosleep(&ts, NULL);
    }
}

static int produce_one(rd_kafka_t *rk, const struct weir_replay_opts *o, const char *v, size_t len)
{
    const char *key = NULL;
    size_t klen = 0;
    if (o->key_field)
        find_key(v, len, o->key_field, &key, &klen);
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_PARTITION(o->partition >= 0 ? o->partition : RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_VALUE((void *)v, len), RD_KAFKA_V_KEY((void *)key, klen), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return -EIO;
        rd_kafka_poll(rk, 50); /* the queue is full: serve delivery reports, then retry */
    }
}

static int replay_lines(rd_kafka_t *rk, const struct weir_replay_opts *o, FILE *in,
                        struct replay_state *st, struct weir_error *err)
{
    struct weir_csv_header h = {0};
    struct weir_buf row = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t sent = 0, lineno = 0, t0 = weir_now_ns();
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, in)) >= 0 && (!o->limit || sent < o->limit)) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        const char *v = line;
        size_t len = (size_t)n;
        if (lineno == 1 && len >= 3 && memcmp(v, "\xEF\xBB\xBF", 3) == 0)
            v += 3, len -= 3;
        if (o->csv) {
            const char *why = NULL;
            char reason[160];
            if (lineno == 1) {
                if (weir_csv_header_parse(&h, v, len, ',', &why) < 0)
                    rc = weir_error_set(err, -EINVAL, "%s: line 1: %s", o->path, why);
                continue;
            }
            row.len = 0;
            if (weir_csv_row_to_json(&h, v, len, &row, reason, sizeof reason) == 0) {
                v = row.data;
                len = row.len;
            } /* a bad row is sent as it is: the pipeline's dead-letter sink will say why */
        }
        pace(o, sent, t0);
        if (produce_one(rk, o, v, len) < 0)
            rc = weir_error_set(err, -EIO, "replay to topic %s: %s", o->topic,
                                rd_kafka_err2str(rd_kafka_last_error()));
        sent++;
        rd_kafka_poll(rk, 0);
    }
    free(line);
    weir_buf_free(&row);
    weir_csv_header_free(&h);
    return rc;
}

int weir_replay_run(const struct weir_replay_opts *o, uint64_t *produced, struct weir_error *err)
{
    struct replay_state st = {0};
    *produced = 0;
    FILE *in = strcmp(o->path, "-") == 0 ? stdin : fopen(o->path, "r");
    if (!in)
        return weir_error_set(err, -errno, "cannot open %s: %s", o->path, strerror(errno));
    rd_kafka_t *rk = producer_new(o, &st, err);
    int rc = rk ? replay_lines(rk, o, in, &st, err) : err->code;
    if (rk) {
        rd_kafka_flush(rk, 60000);
        if (rc == 0 && rd_kafka_outq_len(rk) > 0)
            rc = weir_error_set(err, -ETIMEDOUT,
                                "replay to topic %s at %s: %d messages not acknowledged after 60 s",
                                o->topic, o->brokers, rd_kafka_outq_len(rk));
        if (rc == 0 && st.failed)
            rc = weir_error_set(err, -EIO, "replay to topic %s at %s: %llu messages failed: %s",
                                o->topic, o->brokers, (unsigned long long)st.failed, st.first_error);
        rd_kafka_destroy(rk);
    }
    if (in != stdin)
        fclose(in);
    *produced = st.acked;
    return rc;
}

#define RCONF(f) offsetof(struct weir_replay_conf, f)
const struct weir_option weir_replay_options[] = {
    {"path", WEIR_OPT_STRING, NULL, "file to produce (JSON Lines; *.csv: CSV rows as JSON objects)",
     RCONF(path), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"topic", WEIR_OPT_STRING, NULL, "topic to produce to (default: the source's first topic)",
     RCONF(topic), 0, 0, 0, NULL},
    {"rate", WEIR_OPT_NUMBER, "0", "records per second; 0: as fast as the broker takes them",
     RCONF(rate), WEIR_OPT_RANGE, 0, INFINITY, NULL},
    {"key", WEIR_OPT_STRING, NULL, "top-level field used as the message key", RCONF(key), 0, 0, 0,
     NULL},
    {"partition", WEIR_OPT_INT, "-1",
     "produce every record to this partition (one series in order); -1: by key",
     RCONF(partition), WEIR_OPT_RANGE, -1, 1 << 20, NULL},
    {"stop", WEIR_OPT_BOOL, "true",
     "stop the run once every replayed record has gone through the pipeline", RCONF(stop), 0, 0,
     0, NULL},
    {0},
};

int weir_replay_prepare(struct weir_replay_conf *rc, const struct weir_pipeline *pl,
                        struct weir_diag *diag)
{
    if (pl->source_type && pl->source_type != &weir_source_kafka) {
        weir_diag_add(diag, "replay", "expected a pipeline with a \"kafka\" source, got a \"%s\" source",
                      pl->source_type->name);
        return 1;
    }
    return 0;
}

int weir_replay_target(const struct weir_pipeline *pl, char *brokers, size_t size,
                       const char **topic, struct weir_error *err)
{
    const struct weir_kafka_source_conf *kc = pl->source_conf;
    *topic = pl->replay->topic ? pl->replay->topic : kc->topics.v[0];
    if (strcmp(kc->brokers, "embedded") != 0) {
        snprintf(brokers, size, "%s", kc->brokers);
        return 0;
    }
    if (weir_kafka_embedded_bootstraps(brokers, size) < 0)
        return weir_error_set(err, -ENOENT, "replay: the embedded Kafka cluster is not running");
    return 0;
}
