/* A consumer whose position the brokers no longer hold (deleted by
 * retention, truncated) is reset by librdkafka to auto.offset.reset and
 * skips records it never read; librdkafka logs that as a warning, which
 * weir's log level used to drop. Now weir prints it as its own warning,
 * naming the client, the partition and the offset (connectors/kafka_common.c,
 * on_log), whatever librdkafka's other lines are set to; a group's first
 * start (no committed offset, a debug line) stays quiet.
 * On the embedded cluster: librdkafka's mock keeps only a partition's last
 * 5 MiB, so a consumer assigned at offset 0 after 7 MiB were produced is
 * out of range, as after retention on a real broker. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/error.h"
#include "engine/metrics.h"
#include "tests/check.h"

#define TOPIC "reset-me"
#define RECORDS 700
#define RECORD_BYTES 10000

static void test_line(void)
{
    char out[1024];
    CHECK(weir_kafka_offset_reset_line(4, "OFFSET",
                                       "[thrd:main]: in [0]: offset reset (at offset 12, broker 1) to offset "
                                       "BEGINNING: fetch failed due to requested offset not "
                                       "available on the broker: Broker: Offset out of range",
                                       out, sizeof out) == 1);
    const char *want = "in [0]: offset reset (at offset 12";
    CHECK(strncmp(out, want, strlen(want)) == 0);
    CHECK(strstr(out, "never read by this pipeline") != NULL);
    /* the first start of a group: a debug line, nothing lost */
    CHECK(weir_kafka_offset_reset_line(7, "OFFSET",
                                       "in [0]: offset reset (at offset INVALID, broker 1) to "
                                       "offset BEGINNING: no previously committed offset "
                                       "available: Local: No offset stored",
                                       out, sizeof out) == 0);
    CHECK(weir_kafka_offset_reset_line(4, "FAIL", "offset reset (at offset 1", out, sizeof out) ==
          0);
    CHECK(weir_kafka_offset_reset_line(4, "OFFSET", "committed offset 3", out, sizeof out) == 0);
}

static rd_kafka_t *client(rd_kafka_type_t type, struct weir_kafka_client *cl)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    weir_kafka_conf_common(conf, cl);
    rd_kafka_conf_set(conf, "bootstrap.servers", cl->brokers, errstr, sizeof errstr);
    if (type == RD_KAFKA_CONSUMER) {
        rd_kafka_conf_set(conf, "group.id", "reset-group", errstr, sizeof errstr);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, sizeof errstr);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr);
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static void produce(struct weir_kafka_client *cl)
{
    static char value[RECORD_BYTES];
    memset(value, 'x', sizeof value);
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, cl);
    CHECK(rk != NULL);
    if (!rk)
        return;
    for (int i = 0; i < RECORDS; i++) {
        rd_kafka_resp_err_t e;
        while ((e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
                                      RD_KAFKA_V_VALUE(value, sizeof value),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        CHECK(e == RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    CHECK(rd_kafka_flush(rk, 30000) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);
}

/* Consumes from offset (RD_KAFKA_OFFSET_STORED: the group's) until a record
 * arrives; returns the first record's offset, or -1. */
static int64_t first_offset(struct weir_kafka_client *cl, int64_t offset)
{
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, cl);
    CHECK(rk != NULL);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, TOPIC, 0)->offset = offset;
    CHECK(rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t first = -1;
    for (int i = 0; i < 300 && first < 0; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m && !m->err)
            first = m->offset;
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return first;
}

/* What weir printed on stderr while fn ran. */
static void captured(char *out, size_t size, int64_t (*fn)(struct weir_kafka_client *, int64_t),
                     struct weir_kafka_client *cl, int64_t offset, int64_t *result)
{
    fflush(stderr);
    FILE *f = tmpfile();
    int saved = dup(2);
    dup2(fileno(f), 2);
    *result = fn(cl, offset);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = 0;
    fclose(f);
}

static void test_consumer(void)
{
    struct weir_kafka_client cl = {.what = "kafka source (test)"};
    struct weir_error err = {0};
    const char *topics[] = {TOPIC};
    CHECK(weir_kafka_brokers_resolve(&cl, "embedded", topics, 1, &err) == 0);
    produce(&cl);

    static char text[65536];
    int64_t first;
    /* the group has no committed offset: a reset, but nothing skipped */
    captured(text, sizeof text, first_offset, &cl, RD_KAFKA_OFFSET_STORED, &first);
    CHECK(first > 0); /* the mock kept only the last 5 MiB */
    CHECK(strstr(text, "offset reset") == NULL);
    char notes[512];
    weir_metrics_summary_notes(notes, sizeof notes);
    CHECK(weir_kafka_offset_resets() == 0);
    CHECK(strcmp(notes, "") == 0);

    /* offset 0 is gone: records 0 .. first-1 skipped unread, and said so */
    captured(text, sizeof text, first_offset, &cl, 0, &first);
    CHECK(first > 0);
    const char *w = strstr(text, "weir: warning: kafka source (test): " TOPIC " [0]: offset reset "
                                 "(at offset 0");
    CHECK(w != NULL);
    CHECK(w && strstr(w, "never read by this pipeline") != NULL);
    CHECK(strstr(text, "librdkafka") == NULL); /* no other librdkafka line came through */
    if (!w)
        fprintf(stderr, "stderr was: %s\n", text);
    /* counted: /metrics and the exit summary say it after the line is gone */
    CHECK(weir_kafka_offset_resets() == 1);
    weir_metrics_summary_notes(notes, sizeof notes);
    CHECK(strcmp(notes, ", 1 Kafka offset reset (records skipped unread: see the warning)") == 0);
    struct weir_metrics_registry reg = {0};
    struct weir_buf prom = {0};
    CHECK(weir_metrics_prometheus(&reg, &prom) == 0);
    CHECK(prom.data && memmem(prom.data, prom.len, "\nweir_kafka_offset_resets_total 1\n", 34));
    weir_buf_free(&prom);
    weir_kafka_client_release(&cl);
}

int main(void)
{
    test_line();
    test_consumer();
    return check_summary();
}
