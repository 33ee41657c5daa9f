/* `weir test` on the embedded cluster: the case's input produced to the
 * source's topic once the workers are up, and the sinks' topics read back
 * after the run (see pipeline_test.h). Not on the record path. */
#include "connectors/kafka_common.h"
#include "connectors/pipeline_test.h"
#include "engine/loop.h"
#include "engine/run.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct producer_job {
    struct weir_companion c; /* first: what the run holds */
    const char *topic;
    const json_t *messages;
    double timeout_s;
    uint64_t started_ns; /* produced and acknowledged at this time; 0 before */
    size_t n;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    int *failed = opaque;
    if (m->err)
        *failed = m->err;
}

/* Produces every message and waits for the acknowledgements (a handful of
 * records on an in-process cluster: milliseconds). */
static int produce_all(struct producer_job *job, struct weir_error *err)
{
    char brokers[512], msg[512];
    if (weir_kafka_embedded_bootstraps(brokers, sizeof brokers) < 0)
        return weir_error_set(err, -ENOENT, "weir test: the embedded cluster is not running");
    int failed = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "linger.ms", "0", msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "log_level", "2", msg, sizeof msg)) {
        rd_kafka_conf_destroy(conf);
        return weir_error_set(err, -EINVAL, "weir test producer: %s", msg);
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &failed);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, msg, sizeof msg);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return weir_error_set(err, -EIO, "weir test producer: %s", msg);
    }
    size_t i;
    const json_t *m;
    json_array_foreach(job->messages, i, m) {
        const char *key = json_string_value(json_array_get(m, 0));
        const json_t *value = json_array_get(m, 1);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(job->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY((void *)key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)json_string_value(value), json_string_length(value)),
            RD_KAFKA_V_END);
        if (e)
            failed = e;
    }
    rd_kafka_flush(rk, 10000);
    int left = rd_kafka_outq_len(rk);
    rd_kafka_destroy(rk);
    if (failed || left)
        return weir_error_set(err, -EIO, "weir test: producing the input to topic \"%s\": %s",
                              job->topic,
                              failed ? rd_kafka_err2str(failed) : "not acknowledged in 10 s");
    job->n = json_array_size(job->messages);
    return 0;
}

static int job_poll(struct weir_companion *c, const struct weir_run_progress *p,
                    struct weir_error *err)
{
    struct producer_job *job = (struct producer_job *)c;
    if (!job->started_ns) {
        if (!p->workers_ready)
            return 0;
        int rc = produce_all(job, err);
        job->started_ns = weir_now_ns();
        return rc;
    }
    if (p->records_in >= job->n)
        return 1; /* taken in: the run's stop drains them and flushes the sinks */
    if ((double)(weir_now_ns() - job->started_ns) > job->timeout_s * 1e9)
        return weir_error_set(
            err, -ETIMEDOUT,
            "weir test: %llu of the %zu input records were read from topic \"%s\" "
            "within %.0f s (\"timeout\" in the case sets how long to wait)",
            (unsigned long long)p->records_in, job->n, job->topic, job->timeout_s);
    return 0;
}

static void job_stop(struct weir_companion *c)
{
}

static int job_ended(struct weir_companion *c)
{
    return 1; /* nothing runs in the background */
}

static int job_finish(struct weir_companion *c, struct weir_error *err)
{
    return 0;
}

static void job_release(struct weir_companion *c, FILE *summary)
{
    free(c);
}

struct weir_companion *weir_ptest_producer(const char *topic, const json_t *messages,
                                           double timeout_s, struct weir_error *err)
{
    struct producer_job *job = calloc(1, sizeof *job);
    if (!job) {
        weir_error_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    job->c = (struct weir_companion){.poll = job_poll,
                                     .stop = job_stop,
                                     .ended = job_ended,
                                     .finish = job_finish,
                                     .release = job_release};
    job->topic = topic;
    job->messages = messages;
    job->timeout_s = timeout_s > 0 ? timeout_s : 30;
    return &job->c;
}

/* ---- reading a topic back ------------------------------------------------- */

static rd_kafka_t *reader_new(struct weir_error *err)
{
    char brokers[512], msg[512];
    if (weir_kafka_embedded_bootstraps(brokers, sizeof brokers) < 0) {
        weir_error_set(err, -ENOENT, "weir test: the embedded cluster is not running");
        return NULL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "group.id", "weir-test-reader", msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", msg, sizeof msg) ||
        rd_kafka_conf_set(conf, "log_level", "2", msg, sizeof msg)) {
        rd_kafka_conf_destroy(conf);
        weir_error_set(err, -EINVAL, "weir test reader: %s", msg);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, msg, sizeof msg);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        weir_error_set(err, -EIO, "weir test reader: %s", msg);
    }
    return rk;
}

/* Each partition's messages, up to its high watermark at the start. */
static int read_partitions(rd_kafka_t *rk, const char *topic, int nparts,
                           struct weir_ptest_output *out, struct weir_error *err)
{
    int64_t *high = calloc((size_t)nparts, sizeof *high);
    json_t *parts = json_array(); /* per partition: [value, ...] */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(nparts);
    int rc = 0;
    int64_t want = 0, got = 0;
    for (int i = 0; high && i < nparts && rc == 0; i++) {
        int64_t low;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, topic, i, &low, &high[i], 5000);
        if (e)
            rc = weir_error_set(err, -EIO, "weir test: topic \"%s\" partition %d: %s", topic, i,
                                rd_kafka_err2str(e));
        want += high[i] - low;
        rd_kafka_topic_partition_list_add(l, topic, i)->offset = RD_KAFKA_OFFSET_BEGINNING;
        json_array_append_new(parts, json_array());
    }
    if (!high)
        rc = weir_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0 && want > 0 && rd_kafka_assign(rk, l))
        rc = weir_error_set(err, -EIO, "weir test: cannot assign topic \"%s\"", topic);
    uint64_t deadline = weir_now_ns() + 10000000000ull;
    while (rc == 0 && got < want && weir_now_ns() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err && m->partition >= 0 && m->partition < nparts &&
            m->offset < high[m->partition]) {
            json_array_append_new(json_array_get(parts, (size_t)m->partition),
                                  json_stringn_nocheck(m->payload ? m->payload : "", m->len));
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    if (rc == 0 && got < want)
        rc = weir_error_set(err, -ETIMEDOUT,
                            "weir test: read %lld of the %lld messages of topic \"%s\" "
                            "in 10 s",
                            (long long)got, (long long)want, topic);
    size_t i, j;
    json_t *p, *v;
    json_array_foreach(parts, i, p) {
        json_array_foreach(p, j, v) {
            if (rc == 0)
                rc = weir_ptest_output_add(out, json_string_value(v), json_string_length(v));
        }
    }
    if (want > 0)
        rd_kafka_assign(rk, NULL);
    rd_kafka_topic_partition_list_destroy(l);
    json_decref(parts);
    free(high);
    return rc;
}

int weir_ptest_read_topic(const char *topic, struct weir_ptest_output *out, struct weir_error *err)
{
    rd_kafka_t *rk = reader_new(err);
    if (!rk)
        return err->code;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, 5000) : rd_kafka_last_error();
    int rc = 0;
    if (e)
        rc = weir_error_set(err, -EIO, "weir test: metadata of topic \"%s\": %s", topic,
                            rd_kafka_err2str(e));
    else if (md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0)
        rc = read_partitions(rk, topic, md->topics[0].partition_cnt, out, err);
    /* else: the topic was never made: nothing was written to it */
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
