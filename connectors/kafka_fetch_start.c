/* The Kafka source's pauses and resumes after an assignment, held back
 * until the partition's fetch has started.
 *
 * A pause or resume takes a new version of the partition, and librdkafka
 * (2.0.2) drops any older operation on it still queued, the assignment's
 * fetch start among them (librdkafka#2190). That start is made by
 * librdkafka's thread once the committed offsets are fetched
 * (rd_kafka_toppar_op_fetch_start: it takes its version, then queues), so a
 * pause or resume from the loop that takes its version between the two is
 * served first and the partition is never fetched, with no error, until its
 * next assignment (tests/test_kafka_fetch_start.sh: the resume after a
 * durable state's restore, 1501 of 2000 records). A seek does not restart
 * such a partition (librdkafka refuses states before "offset-query" with
 * __STATE), and a repairing assign() could cross a rebalance.
 *
 * So the pauses and resumes that can only come after rd_kafka_assign() (the
 * one before it, ks_pause_unready, is always older than the start) are
 * applied at once only to partitions whose start was served; for the others
 * the wanted state is kept (the latest wins) and applied when the start is
 * seen served: a record of the partition is delivered, or librdkafka's
 * statistics, made after the assignment, show its fetch_state past "none",
 * "stopping" and "stopped" (a start served while paused moves it on too:
 * "active", seen with tests/log_delay.c). The statistics come through the
 * consumer queue (rd_kafka_poll_set_consumer), served by ks_drain's consume
 * on the loop; they are parsed only while a partition waits to be seen
 * started.
 *
 * An earlier assignment's fetch is not taken for this one's: a new fetch
 * start is made only after every fetch stop of an earlier assignment was
 * served (the assignment's pending partitions wait for them), a subscribed
 * consumer's new assignment comes after its unassign completed, and
 * statistics carry their making time ("ts", rd_clock(): CLOCK_MONOTONIC in
 * µs, as weir_now_ns()): those made before the assignment are ignored. The
 * embedded cluster assigns once per consumer. */
#include "connectors/kafka_source.h"
#include "engine/log.h"

#include <jansson.h>

static void apply(struct kafka_source *ks, rd_kafka_topic_partition_list_t *l, int pause)
{
    if (!l->cnt)
        return;
    if (pause)
        rd_kafka_pause_partitions(ks->rk, l);
    else
        rd_kafka_resume_partitions(ks->rk, l);
}

void ks_set_paused(struct kafka_source *ks, const rd_kafka_topic_partition_list_t *l, int pause)
{
    rd_kafka_topic_partition_list_t *now = rd_kafka_topic_partition_list_new(l->cnt ? l->cnt : 1);
    for (int i = 0; i < l->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        struct kpart *p = ks_part_find(ks, e->topic, e->partition);
        if (p && p->assigned && !p->started) {
            if (ks->debug && p->want_pause != pause)
                weir_log(WEIR_LOG_DEBUG, "%s: %s [%d]: %s deferred: its fetch has not started\n",
                         ks->cl.what, p->topic, (int)p->partition, pause ? "pause" : "resume");
            p->want_pause = pause;
        } else {
            rd_kafka_topic_partition_list_add(now, e->topic, e->partition);
        }
    }
    apply(ks, now, pause);
    rd_kafka_topic_partition_list_destroy(now);
}

void ks_part_started(struct kafka_source *ks, struct kpart *p, const char *how)
{
    p->started = 1;
    if (p->want_pause < 0)
        return;
    int pause = p->want_pause;
    p->want_pause = -1;
    if (ks->debug)
        weir_log(WEIR_LOG_DEBUG, "%s: %s [%d]: fetch started (%s): its deferred %s now\n",
                 ks->cl.what, p->topic, (int)p->partition, how, pause ? "pause" : "resume");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    apply(ks, l, pause);
    rd_kafka_topic_partition_list_destroy(l);
}

static int fetch_started(const char *state)
{
    return state && (strcmp(state, "active") == 0 || strcmp(state, "offset-query") == 0 ||
                     strcmp(state, "offset-wait") == 0);
}

int ks_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct kafka_source *ks = opaque;
    (void)rk;
    if (ks->closing || ks->closer_state == KS_CLOSER_RUNNING)
        return 0; /* maybe the closer thread's: the partitions are the loop's */
    size_t waiting = 0;
    for (size_t i = 0; i < ks->nparts; i++)
        waiting += ks->parts[i]->assigned && !ks->parts[i]->started;
    if (!waiting)
        return 0;
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *topics = json_object_get(root, "topics");
    uint64_t made_ns = (uint64_t)json_integer_value(json_object_get(root, "ts")) * 1000;
    for (size_t i = 0; i < ks->nparts && topics; i++) {
        struct kpart *p = ks->parts[i];
        if (!p->assigned || p->started || made_ns < p->assigned_ns)
            continue;
        char key[16];
        snprintf(key, sizeof key, "%d", (int)p->partition);
        json_t *parts = json_object_get(json_object_get(topics, p->topic), "partitions");
        json_t *state = json_object_get(json_object_get(parts, key), "fetch_state");
        if (fetch_started(json_string_value(state)))
            ks_part_started(ks, p, json_string_value(state));
    }
    json_decref(root);
    return 0; /* librdkafka frees json */
}
