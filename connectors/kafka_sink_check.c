/* The Kafka sink's topic checks (see kafka_sink.h): at start, and before a
 * reload hands a new sink to the workers. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "connectors/kafka_sink.h"

/* Whether c's topic exists, asked through weir check's client with the
 * producer's brokers and properties (the sink's own; exactly_once: the
 * worker's one producer's; or the source's brokers and security ones): a
 * consumer that never subscribes, since a producer's Metadata request lets
 * the brokers create a missing topic (auto.create.topics.enable, Kafka's
 * default), and a misspelled topic was made and written to. 1: no brokers
 * to ask (none: open() says so; the embedded cluster's open() makes it). */
static int ask_topic(const struct kafka_sink_conf *c, const struct weir_pipeline *pl,
                     const char *what, size_t *bad, struct weir_error *err)
{
    const struct weir_kafka_source_conf *src = weir_kafka_source_conf_of(pl);
    const char *brokers = c->brokers ? c->brokers : src ? src->brokers : NULL;
    *bad = SIZE_MAX;
    if (!brokers || strcmp(brokers, "embedded") == 0)
        return 1;
    return weir_kafka_precheck_topics(what, brokers, c->brokers ? NULL : src->kafka,
                                      weir_kafka_sink_producer_props(pl, c->kafka), &c->topic, 1,
                                      c->connect_timeout_ns, bad, err);
}

/* At start, on the worker's loop (the brokers are waited for there, up to
 * connect_timeout, before the run goes on); the embedded cluster's on the
 * producer, named as this sink. */
int ksk_check_topic(struct kafka_sink *ks, struct weir_error *err)
{
    size_t bad;
    int rc = ask_topic(ks->c, ks->s->worker->pl, ks->what, &bad, err);
    if (rc <= 0)
        return rc;
    char what[sizeof ks->p->cl.what];
    snprintf(what, sizeof what, "%s", ks->p->cl.what);
    snprintf(ks->p->cl.what, sizeof ks->p->cl.what, "%s", ks->what);
    rc = weir_kafka_check_topics(ks->rk, &ks->p->cl, &ks->c->topic, 1, ks->c->connect_timeout_ns,
                                 err);
    snprintf(ks->p->cl.what, sizeof ks->p->cl.what, "%s", what);
    return rc;
}

/* A reload adds or changes this sink: its topic is asked for here, on the
 * run's check thread (engine/reload_check.c), not by open() on the workers'
 * loops, which waited up to connect_timeout there when the brokers were
 * away. */
int ksk_precheck(const void *conf, const struct weir_pipeline *pl, const char *path,
                 struct weir_error *err)
{
    size_t bad;
    int rc = ask_topic(conf, pl, "kafka sink", &bad, err);
    if (rc < 0)
        weir_error_prefix(err, bad == 0 ? "%s.topic" : "%s", path);
    return rc < 0 ? rc : 0;
}
