/* The Kafka source's configuration: its options, what its "kafka"
 * properties may not set, the checks made when a pipeline loads
 * (exactly-once needs every sink to be a Kafka sink on the source's brokers,
 * and a commit interval well inside the transaction timeout), and the check
 * of a reload's new source on its brokers (precheck). The consumer itself
 * is kafka_source.c. */
#include "connectors/kafka_sink.h"
#include "connectors/kafka_source.h"

#define CONF(f) offsetof(struct weir_kafka_source_conf, f)
const struct weir_option weir_kafka_source_options[] = {
    {"brokers", WEIR_OPT_STRING, NULL,
     "bootstrap servers \"host:port,...\", or \"embedded\" for librdkafka's in-process mock cluster",
     CONF(brokers), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"topics", WEIR_OPT_STRINGS, NULL, "topics to consume (they must exist)", CONF(topics),
     WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"group", WEIR_OPT_STRING, NULL, "consumer group (default: \"weir-\" + the pipeline's name)",
     CONF(group), 0, 0, 0, NULL},
    {"format", WEIR_OPT_ENUM, "\"json\"", "message values: json (one JSON object per message)",
     CONF(format), 0, 0, 0, "json"},
    {"start", WEIR_OPT_ENUM, "\"earliest\"",
     "where a partition without a committed offset starts (auto.offset.reset)", CONF(start), 0, 0, 0,
     "earliest|latest"},
    {"max_inflight_records", WEIR_OPT_INT, "100000",
     "pause the partitions past this many records read but not yet acknowledged by every sink",
     CONF(max_inflight_records), WEIR_OPT_RANGE, 1, 1e9, NULL},
    {"max_inflight_bytes", WEIR_OPT_INT, "268435456",
     "pause the partitions past this many value bytes read but not yet acknowledged",
     CONF(max_inflight_bytes), WEIR_OPT_RANGE, 1024, 1e12, NULL},
    {"connect_timeout", WEIR_OPT_DURATION, "\"10s\"",
     "at start, and for a reload's new source (off the workers' loops): how long to wait for the "
     "brokers and the topics' metadata before failing",
     CONF(connect_timeout_ns), 0, 0, 0, NULL},
    {"drain_timeout", WEIR_OPT_DURATION, "\"10s\"",
     "on revocation: how long to wait for the revoked partitions' outputs to be acknowledged",
     CONF(drain_timeout_ns), 0, 0, 0, NULL},
    {"kafka", WEIR_OPT_JSON, NULL, "librdkafka consumer properties, passed through (docs/kafka.md)",
     CONF(kafka), 0, 0, 0, NULL},
    {"guarantee", WEIR_OPT_ENUM, "\"at_least_once\"",
     "at_least_once: offsets committed after the outputs are acknowledged; exactly_once: outputs "
     "and offsets in Kafka transactions (every sink must be kafka, on the source's brokers)",
     CONF(guarantee), 0, 0, 0, "at_least_once|exactly_once"},
    {"commit_interval", WEIR_OPT_DURATION, "\"100ms\"",
     "exactly_once: commit the open transaction this often (outputs become visible to "
     "read_committed consumers then); below half of the producer's transaction.timeout.ms (weir's "
     "default 10 s)", CONF(commit_interval_ns), 0, 0, 0, NULL},
    {"commit_records", WEIR_OPT_INT, "10000",
     "exactly_once: commit sooner once the transaction covers this many input records",
     CONF(commit_records), WEIR_OPT_RANGE, 1, 1e9, NULL},
    {"transactional_id", WEIR_OPT_STRING, NULL,
     "exactly_once: worker N's producer uses transactional.id \"<this>-N\" (default: the group, "
     "then the host name); distinct per process when several run on one host",
     CONF(transactional_id), 0, 0, 0, NULL},
    {"instance_id", WEIR_OPT_STRING, NULL,
     "static group membership: worker N joins as group.instance.id \"<this>-N\", so a restarted "
     "process takes its partitions back at once, without a rebalance; a stable name per process "
     "(a pod or host name), distinct among the group's processes (default: dynamic membership)",
     CONF(instance_id), 0, 0, 0, NULL},
    {"checkpoint_interval", WEIR_OPT_DURATION, "\"1s\"",
     "at_least_once with stateful operators: save the changed keyed state to the changelog this "
     "often; offsets are committed only up to the last saved state (exactly_once saves it in every "
     "transaction)", CONF(checkpoint_interval_ns), 0, 0, 0, NULL},
    {0},
};

/* property, what to use instead */
static const char *const reserved_props[] = {
    "bootstrap.servers", "use the source's \"brokers\"",
    "metadata.broker.list", "use the source's \"brokers\"",
    "group.id", "use the source's \"group\"",
    "enable.auto.offset.store", "weir stores an offset only after its outputs are acknowledged",
    "auto.offset.reset", "use the source's \"start\"",
    "group.instance.id", "use the source's \"instance_id\"",
    NULL, NULL,
};

int weir_kafka_source_prepare(void *conf, const json_t *raw, struct weir_prepare *p)
{
    struct weir_kafka_source_conf *c = conf;
    char kp[256];
    int bad = 0;
    if (c->topics.n == 0) {
        weir_diag_add(p->diag, weir_path_key(kp, sizeof kp, p->path, "topics"),
                      "expected at least one topic");
        bad++;
    }
    if (c->brokers && !c->brokers[0]) {
        weir_diag_add(p->diag, weir_path_key(kp, sizeof kp, p->path, "brokers"),
                      "expected \"host:port,...\" or \"embedded\", got \"\"");
        bad++;
    }
    /* said at load (weir validate, weir check), not only when the consumer
     * opens (kafka_source.c: read_consumer_conf, which stays for what the
     * file cannot show) */
    const json_t *stats = json_object_get(c->kafka, "statistics.interval.ms");
    if ((json_is_integer(stats) && json_integer_value(stats) == 0) ||
        (json_is_string(stats) && strcmp(json_string_value(stats), "0") == 0)) {
        snprintf(kp, sizeof kp, "%s%skafka.statistics.interval.ms", p->path, p->path[0] ? "." : "");
        weir_diag_add(p->diag, kp,
                      "expected a number of milliseconds above 0: the source "
                      "needs librdkafka's statistics to tell when a partition's fetch has "
                      "started (docs/kafka.md)");
        bad++;
    }
    return bad + weir_kafka_props_check(c->kafka, reserved_props, p);
}

/* The JSON path of the pipeline's k-th sink; k == nsinks is the dead letter. */
static void sink_path(char *buf, size_t len, const struct weir_pipeline *pl, size_t k)
{
    if (k < pl->nsinks)
        snprintf(buf, len, "sinks[%zu]", k);
    else
        snprintf(buf, len, "dead_letter");
}

/* exactly_once: a transaction commits every commit_interval; it must end
 * well before the broker aborts it (transaction.timeout.ms of the worker's
 * one producer: the Kafka sinks' properties, else weir's default). */
static int check_txn_timeout(const struct weir_kafka_source_conf *c, const struct weir_pipeline *pl,
                             struct weir_diag *d)
{
    int any = 0;
    for (size_t k = 0; k <= pl->nsinks; k++)
        any |= (k < pl->nsinks ? &pl->sinks[k] : &pl->dead)->type == &weir_sink_kafka;
    if (!any)
        return 0; /* no Kafka sink: check() says so */
    const json_t *props = weir_kafka_txn_props(pl);
    char from[128] = "weir's default: no Kafka sink sets it";
    if (json_object_get(props, "transaction.timeout.ms")) {
        char where[32];
        sink_path(where, sizeof where, pl, (size_t)weir_kafka_txn_props_from(pl));
        snprintf(from, sizeof from, "%s.kafka.transaction.timeout.ms", where);
    }
    double limit = weir_kafka_txn_timeout_ms(props);
    double interval_ms = (double)c->commit_interval_ns / 1e6;
    if (interval_ms < limit / 2)
        return 0;
    weir_diag_add(d, "source.commit_interval",
                  "expected less than half of transaction.timeout.ms (%.0f ms, %s), got %.0f ms: "
                  "the broker aborts a transaction open longer than that",
                  limit, from, interval_ms);
    return 1;
}

/* exactly_once: a worker's Kafka sinks share one transactional producer,
 * made with the one set of properties they give (weir_kafka_txn_props): a
 * sink that gives none takes it as it is, one that gives others would be
 * ignored without a word. */
static int same_producer(const struct weir_pipeline *pl, size_t k, struct weir_diag *d)
{
    const struct weir_stage_sink *b = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
    const json_t *pb = weir_kafka_sink_props(b->conf);
    int first = weir_kafka_txn_props_from(pl);
    if (!pb || json_object_size(pb) == 0 || first == (int)k ||
        weir_kafka_props_same(weir_kafka_txn_props(pl), pb))
        return 0;
    char path[64], at[80], was[64];
    sink_path(path, sizeof path, pl, k);
    snprintf(at, sizeof at, "%s.kafka", path);
    sink_path(was, sizeof was, pl, (size_t)first);
    weir_diag_add(d, at, "expected the same \"kafka\" properties as %s.kafka, or none: with "
                  "\"guarantee\": \"exactly_once\" a worker's Kafka sinks%s share one "
                  "transactional producer, and one set of properties", was,
                  k < pl->nsinks ? "" : " and the dead letter");
    return 1;
}

/* exactly_once: every output must join the worker's transaction, so every
 * sink, the dead letter included, is a Kafka sink on the source's brokers. */
int weir_kafka_source_check(const void *conf, const struct weir_pipeline *pl, struct weir_diag *d)
{
    const struct weir_kafka_source_conf *c = conf;
    /* Given without the guarantee they are for, they would leave the user
     * believing in one the run does not give. */
    static const char *const eos_only[] = {"commit_interval", "commit_records",
                                           "transactional_id", NULL};
    static const char *const checkpoint[] = {"checkpoint_interval", NULL};
    const json_t *raw = json_object_get(pl->root, "source");
    int bad = 0;
    if (c->guarantee != WEIR_KAFKA_EXACTLY_ONCE)
        return weir_options_only_with(raw, weir_kafka_source_options, eos_only, 0,
                                      "\"guarantee\": \"exactly_once\"", d, "source") +
               weir_options_only_with(raw, weir_kafka_source_options, checkpoint,
                                      pl->state_durable, "durable keyed state (\"state\": "
                                      "{\"durable\": true}, the default)", d, "source");
    /* exactly_once saves state in every transaction */
    bad += weir_options_only_with(raw, weir_kafka_source_options, checkpoint, 0,
                                  "\"guarantee\": \"at_least_once\" (exactly_once saves keyed "
                                  "state in every transaction)", d, "source");
    bad += check_txn_timeout(c, pl, d);
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        char path[64];
        sink_path(path, sizeof path, pl, k);
        const char *b = st->type == &weir_sink_kafka ? weir_kafka_sink_brokers(st->conf) : NULL;
        if (st->type != &weir_sink_kafka) {
            weir_diag_add(d, path, "a %s sink can't join a Kafka transaction: with the source's "
                          "\"guarantee\": \"exactly_once\", every sink%s must be a kafka sink%s",
                          st->type->name, k < pl->nsinks ? "" : " (the dead letter too)",
                          k < pl->nsinks || json_object_get(pl->root, "dead_letter")
                              ? "" : "; rejects go to standard error unless \"dead_letter\" says "
                                     "otherwise");
            bad++;
        } else if (b && strcmp(b, c->brokers) != 0) {
            weir_diag_add(d, path, "brokers \"%s\" differ from the source's \"%s\": with "
                          "\"guarantee\": \"exactly_once\", outputs and input offsets commit in "
                          "one transaction, on one cluster", b, c->brokers);
            bad++;
        } else {
            bad += same_producer(pl, k, d);
        }
    }
    return bad;
}

/* A reload replaces the running source with this one: its topics are asked
 * for here, on the run's check thread (engine/reload_check.c), not by the
 * new consumers' open() on the workers' loops, which waited up to
 * connect_timeout there when the brokers were away. The client is
 * `weir check`'s (weir_kafka_metadata_client) with the source's properties,
 * security included. The embedded cluster's open() creates the topics. */
int weir_kafka_source_precheck(const void *conf, struct weir_error *err)
{
    const struct weir_kafka_source_conf *c = conf;
    if (strcmp(c->brokers, "embedded") == 0)
        return 0;
    size_t bad;
    int rc = weir_kafka_precheck_topics("kafka source", c->brokers, NULL, c->kafka,
                                        c->topics.v, c->topics.n,
                                        c->connect_timeout_ns, &bad, err);
    if (rc < 0 && bad < c->topics.n)
        weir_error_prefix(err, "source.topics[%zu]", bad);
    else if (rc < 0)
        weir_error_prefix(err, "source");
    return rc;
}
