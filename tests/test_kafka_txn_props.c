/* exactly_once: a worker's Kafka sinks share one transactional producer,
 * made with the one set of "kafka" properties they give
 * (weir_kafka_txn_props), whichever sink opens it first: a sink without
 * properties does not make it without them. Sinks giving different ones are
 * refused at load (tests/pipelines/bad/80-*). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/pipeline.h"
#include "tests/check.h"

static char dir[] = "/tmp/weir-test-kafka-txn-props.XXXXXX";

static struct weir_pipeline *load(const char *sinks, const char *dead)
{
    char path[256], text[2048];
    snprintf(path, sizeof path, "%s/p.json", dir);
    snprintf(text, sizeof text,
             "{\"name\": \"p\", \"source\": {\"type\": \"kafka\", \"brokers\": \"k:9092\", "
             "\"topics\": [\"in\"], \"guarantee\": \"exactly_once\"}, "
             "\"operators\": [{\"type\": \"extract\", \"fields\": {\"v\": \"/v\"}}], "
             "\"sinks\": [%s], \"dead_letter\": %s}", sinks, dead);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    if (weir_pipeline_load(path, NULL, 0, &pl, &diag) < 0)
        weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    return pl;
}

static const char *prop(const json_t *props, const char *name)
{
    return json_string_value(json_object_get(props, name));
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    /* The first sink gives none, the second some: the producer has them. */
    struct weir_pipeline *pl = load(
        "{\"type\": \"kafka\", \"topic\": \"out\"}, {\"type\": \"kafka\", \"topic\": \"alerts\", "
        "\"when\": \"alert\", \"kafka\": {\"compression.type\": \"zstd\"}}",
        "{\"type\": \"kafka\", \"topic\": \"dead\"}");
    CHECK(pl != NULL);
    if (pl) {
        CHECK_STR(prop(weir_kafka_txn_props(pl), "compression.type"), "zstd");
        weir_pipeline_free(pl);
    }
    /* Only the dead letter gives some: the same. */
    pl = load("{\"type\": \"kafka\", \"topic\": \"out\"}",
              "{\"type\": \"kafka\", \"topic\": \"dead\", \"kafka\": {\"linger.ms\": \"50\"}}");
    CHECK(pl != NULL);
    if (pl) {
        CHECK_STR(prop(weir_kafka_txn_props(pl), "linger.ms"), "50");
        weir_pipeline_free(pl);
    }
    /* The same properties written two ways (5 and "5"): one producer. */
    pl = load("{\"type\": \"kafka\", \"topic\": \"out\", \"kafka\": {\"linger.ms\": 5}}",
              "{\"type\": \"kafka\", \"topic\": \"dead\", \"kafka\": {\"linger.ms\": \"5\"}}");
    CHECK(pl != NULL);
    weir_pipeline_free(pl);
    /* None: weir's defaults. Two that differ: refused. */
    pl = load("{\"type\": \"kafka\", \"topic\": \"out\", \"kafka\": {}}",
              "{\"type\": \"kafka\", \"topic\": \"dead\"}");
    CHECK(pl != NULL && weir_kafka_txn_props(pl) == NULL);
    weir_pipeline_free(pl);
    pl = load("{\"type\": \"kafka\", \"topic\": \"out\", \"kafka\": {\"linger.ms\": \"5\"}}",
              "{\"type\": \"kafka\", \"topic\": \"dead\", \"kafka\": {\"linger.ms\": \"50\"}}");
    CHECK(pl == NULL);
    /* Values of kilobytes (a PEM): compared whole, and applied whole; they
     * were cut to 1,023 bytes (two PEMs alike in their first kilobyte were
     * the same, and one longer failed at rd_kafka_new) */
    static char pa[3000], pb[3000];
    memset(pa, 'A', sizeof pa - 1);
    memcpy(pb, pa, sizeof pb);
    pb[2500] = 'B';
    json_t *a = json_pack("{s:s}", "ssl.ca.pem", pa), *b = json_pack("{s:s}", "ssl.ca.pem", pb);
    CHECK(weir_kafka_props_same(a, a) && !weir_kafka_props_same(a, b));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    struct weir_error err = {0};
    json_t *c =
        json_pack("{s:s, s:b}", "sasl.password", pa, "enable.ssl.certificate.verification", 0);
    CHECK(weir_kafka_props_apply(conf, c, 1, "test", &err) == 0);
    char got[3100] = "";
    size_t n = sizeof got;
    CHECK(rd_kafka_conf_get(conf, "sasl.password", got, &n) == RD_KAFKA_CONF_OK);
    CHECK(strlen(got) == sizeof pa - 1);
    /* a security property of the source the sinks take too */
    n = sizeof got;
    CHECK(rd_kafka_conf_get(conf, "enable.ssl.certificate.verification", got, &n) ==
              RD_KAFKA_CONF_OK &&
          strcmp(got, "false") == 0);
    rd_kafka_conf_destroy(conf);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    char path[300];
    snprintf(path, sizeof path, "%s/p.json", dir);
    unlink(path);
    rmdir(dir);
    return check_summary();
}
