/* `weir check` against librdkafka's mock cluster, in this process: a topic
 * present (its partition count printed), a topic missing, a topic the
 * brokers refuse to describe (authorization), a cluster that is down; a
 * file pipeline; a replay file and an HTTP token file that are not there;
 * an unsafe Kafka property refused. The
 * real-broker side
 * (reachable, missing, unreachable port) is tests/test_weir_check_broker.sh. */
#include "connectors/connector.h"
#include "tests/check.h"

#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/weir-check-test-XXXXXX";

/* Runs `weir check FILE --timeout 2` in this process; its stdout in out. */
static int run_check(const char *file, char *out, size_t size)
{
    const struct weir_command *cmd = NULL;
    for (const struct weir_command *const *k = weir_commands(); *k; k++)
        if (strcmp((*k)->name, "check") == 0)
            cmd = *k;
    if (!cmd)
        return -100;
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    fflush(stdout);
    int saved = dup(1), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    close(fd);
    char *argv[] = {"weir", "check", (char *)file, "--timeout", "2", NULL};
    int rc = cmd->main(5, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, size - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    return rc;
}

static void write_pipeline(const char *file, const char *brokers, const char *src_topic,
                           const char *sink_topic)
{
    FILE *f = fopen(file, "w");
    fprintf(f,
            "{\"name\": \"chk\", \"source\": {\"type\": \"kafka\", \"brokers\": \"%s\", "
            "\"topics\": [\"%s\"]},\n"
            " \"state\": {\"durable\": false},\n"
            " \"operators\": [{\"type\": \"extract\", \"fields\": {\"x\": \"/x\"}}],\n"
            " \"sinks\": [{\"type\": \"kafka\", \"topic\": \"%s\"}],\n"
            " \"dead_letter\": {\"type\": \"file\", \"path\": \"%s/dead.jsonl\"}}\n",
            brokers, src_topic, sink_topic, dir);
    fclose(f);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    char errstr[256], file[128], out[8192];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, 1);
    CHECK(mc != NULL);
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    rd_kafka_mock_topic_create(mc, "present", 3, 1);
    rd_kafka_mock_topic_create(mc, "out", 2, 1);
    rd_kafka_mock_topic_create(mc, "secret", 1, 1);
    rd_kafka_mock_topic_set_error(mc, "secret", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    snprintf(file, sizeof file, "%s/p.json", dir);

    /* Everything there. */
    write_pipeline(file, boot, "present", "out");
    int rc = run_check(file, out, sizeof out);
    CHECK(rc == 0);
    CHECK(strstr(out, "reachable") != NULL);
    CHECK(strstr(out, "ok    source topic \"present\": 3 partitions") != NULL);
    CHECK(strstr(out, "topic \"out\": 2 partitions") != NULL);
    CHECK(strstr(out, ": 0 problems") != NULL);
    /* what metadata cannot show is said, once, as a note (not a problem) */
    /* librdkafka's mock cluster does not take Metadata v8: what could not be
     * asked is said, once, as a note (not a problem); a real broker answers
     * it (test_weir_check_broker.sh, test_kafka_secure.sh) */
    CHECK(strstr(out, "note  kafka: 2 permission checks not made: ") != NULL);
    CHECK(strstr(out, "no answer to Metadata v8") != NULL);
    if (rc != 0)
        fprintf(stderr, "all present:\n%s", out);

    /* A source topic and a sink topic missing: both listed, exit 1.
     * librdkafka 2.0's mock cluster makes any topic a Metadata request names
     * (it answers an old Metadata version, without AllowAutoTopicCreation),
     * so missing topics are its "unknown topic" error here; that the check
     * creates nothing is shown on a real broker (test_weir_check_broker.sh). */
    rd_kafka_mock_topic_set_error(mc, "absent-in", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    rd_kafka_mock_topic_set_error(mc, "absent-out", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    write_pipeline(file, boot, "absent-in", "absent-out");
    rc = run_check(file, out, sizeof out);
    CHECK(rc == 1);
    CHECK(strstr(out, "FAIL  source topic \"absent-in\": does not exist") != NULL);
    CHECK(strstr(out, "FAIL  sinks[0] (kafka) topic \"absent-out\": does not exist") != NULL);
    CHECK(strstr(out, ": 2 problems") != NULL);
    if (rc != 1)
        fprintf(stderr, "missing:\n%s", out);

    /* Authorization refused: said as such. */
    write_pipeline(file, boot, "secret", "out");
    rc = run_check(file, out, sizeof out);
    CHECK(rc == 1);
    CHECK(strstr(out, "source topic \"secret\": not authorized") != NULL);
    if (rc != 1)
        fprintf(stderr, "authorization:\n%s", out);

    /* The cluster gone: one line naming the brokers, within the timeout. */
    char gone[512];
    snprintf(gone, sizeof gone, "%s", boot);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    write_pipeline(file, gone, "present", "out");
    rc = run_check(file, out, sizeof out);
    CHECK(rc == 1);
    char want[600];
    snprintf(want, sizeof want, "FAIL  kafka source: brokers %s unreachable within 2.0 s", gone);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "unreachable (above)") != NULL); /* the sink: not asked twice */
    if (rc != 1)
        fprintf(stderr, "down:\n%s", out);

    /* A file pipeline: its input readable, its sink's directory writable. */
    char csv[128];
    snprintf(csv, sizeof csv, "%s/in.csv", dir);
    FILE *f = fopen(csv, "w");
    fputs("x\n1\n", f);
    fclose(f);
    f = fopen(file, "w");
    fprintf(f,
            "{\"name\": \"chkf\", \"source\": {\"type\": \"file\", \"path\": \"%s\"},\n"
            " \"operators\": [{\"type\": \"extract\", \"fields\": {\"x\": \"/x\"}}],\n"
            " \"sinks\": [{\"type\": \"file\", \"path\": \"%s/out.jsonl\"}, {\"type\": \"file\", "
            "\"path\": \"-\"}]}\n",
            csv, dir);
    fclose(f);
    rc = run_check(file, out, sizeof out);
    CHECK(rc == 0);
    snprintf(want, sizeof want, "ok    file source \"%s\": 1 file readable", csv);
    CHECK(strstr(out, want) != NULL);
    snprintf(want, sizeof want, "ok    sinks[0] (file) \"%s/out.jsonl\": directory %s writable",
             dir, dir);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "ok    sinks[1] (file): standard output") != NULL);
    if (rc != 0)
        fprintf(stderr, "file pipeline:\n%s", out);

    /* What the run opens besides its stages: a replay file that is not
     * there and an HTTP token file that is not there are each a FAIL (the
     * run would stop at its start); "embedded": no broker to ask. */
    f = fopen(file, "w");
    fprintf(f,
            "{\"name\": \"chkr\", \"source\": {\"type\": \"kafka\", \"brokers\": \"embedded\", "
            "\"topics\": [\"t\"]},\n \"replay\": {\"path\": \"%s/absent.jsonl\"},\n"
            " \"http\": {\"listen\": \"0\", \"token_file\": \"%s/absent-token\"},\n"
            " \"operators\": [{\"type\": \"extract\", \"fields\": {\"x\": \"/x\"}}],\n"
            " \"sinks\": [{\"type\": \"file\", \"path\": \"-\"}]}\n", dir, dir);
    fclose(f);
    rc = run_check(file, out, sizeof out);
    CHECK(rc == 1);
    snprintf(want, sizeof want, "FAIL  replay: %s/absent.jsonl: cannot be read", dir);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "FAIL  http.token_file: cannot read the HTTP token file") != NULL);
    if (rc != 1)
        fprintf(stderr, "replay and token:\n%s", out);

    /* An unsafe Kafka property: refused as weir validate refuses it (exit
     * 2), nothing checked. */
    f = fopen(file, "w");
    fprintf(f,
            "{\"name\": \"chku\", \"source\": {\"type\": \"kafka\", \"brokers\": \"127.0.0.1:1\", "
            "\"topics\": [\"t\"], \"kafka\": {\"plugin.library.paths\": \"/tmp/x.so\"}},\n"
            " \"operators\": [{\"type\": \"extract\", \"fields\": {\"x\": \"/x\"}}],\n"
            " \"sinks\": [{\"type\": \"file\", \"path\": \"-\"}]}\n");
    fclose(f);
    rc = run_check(file, out, sizeof out);
    CHECK(rc == 2);
    CHECK(strstr(out, "kafka source") == NULL);

    snprintf(file, sizeof file, "rm -rf %s", dir);
    if (system(file) != 0)
        return 1;
    return check_summary();
}
