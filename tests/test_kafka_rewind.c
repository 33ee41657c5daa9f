/* After an aborted transaction the source's partitions go back to their
 * committed offsets (connectors/kafka_txn.c). A partition whose fetch had
 * not started yet is left alone: it read nothing and starts at its committed
 * offset anyway, and a seek would take a newer version than its queued fetch
 * start, which librdkafka (2.0.2) then drops, so the partition would not be
 * read until its next assignment (connectors/kafka_fetch_start.c). */
#include <librdkafka/rdkafka.h>

#include "connectors/kafka_common.h"
#include "tests/check.h"

static rd_kafka_topic_partition_t *find(const rd_kafka_topic_partition_list_t *l, const char *topic,
                                        int32_t partition)
{
    return rd_kafka_topic_partition_list_find(l, topic, partition);
}

/* Partitions 0-3 of "in": 0 and 1 committed, 2 and 3 never. */
static rd_kafka_topic_partition_list_t *committed(void)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(l, "in", 0)->offset = 120;
    rd_kafka_topic_partition_list_add(l, "in", 1)->offset = 0;
    rd_kafka_topic_partition_list_add(l, "in", 2)->offset = RD_KAFKA_OFFSET_INVALID;
    rd_kafka_topic_partition_list_add(l, "in", 3)->offset = RD_KAFKA_OFFSET_INVALID;
    return l;
}

static void test_started_only(void)
{
    rd_kafka_topic_partition_list_t *c = committed();
    rd_kafka_topic_partition_list_t *started = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(started, "in", 1);
    rd_kafka_topic_partition_list_add(started, "in", 3);
    rd_kafka_topic_partition_list_add(started, "other", 0); /* not assigned any more */
    rd_kafka_topic_partition_list_t *seek = weir_kafka_rewind_seeks(c, started, 0);
    CHECK(seek->cnt == 2);
    CHECK(!find(seek, "in", 0) && !find(seek, "in", 2) && !find(seek, "other", 0));
    CHECK(find(seek, "in", 1) && find(seek, "in", 1)->offset == 0);
    CHECK(find(seek, "in", 3) && find(seek, "in", 3)->offset == RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_topic_partition_list_destroy(seek);

    seek = weir_kafka_rewind_seeks(c, started, 1); /* "start": "latest" */
    CHECK(find(seek, "in", 3) && find(seek, "in", 3)->offset == RD_KAFKA_OFFSET_END);
    rd_kafka_topic_partition_list_destroy(seek);

    /* without a committed offset, where the assignment's first record was:
     * "latest" sought the end, past the records its aborted transaction had
     * read; the committed offset wins when there is one */
    find(started, "in", 3)->offset = 4000;
    find(started, "in", 1)->offset = 7;
    seek = weir_kafka_rewind_seeks(c, started, 1);
    CHECK(find(seek, "in", 3) && find(seek, "in", 3)->offset == 4000);
    CHECK(find(seek, "in", 1) && find(seek, "in", 1)->offset == 0);
    rd_kafka_topic_partition_list_destroy(seek);

    /* none started (an abort right after an assignment): nothing to seek */
    rd_kafka_topic_partition_list_t *none = rd_kafka_topic_partition_list_new(1);
    seek = weir_kafka_rewind_seeks(c, none, 0);
    CHECK(seek->cnt == 0);
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(none);
    rd_kafka_topic_partition_list_destroy(started);
    rd_kafka_topic_partition_list_destroy(c);
}

static void test_all(void)
{
    rd_kafka_topic_partition_list_t *c = committed();
    rd_kafka_topic_partition_list_t *seek = weir_kafka_rewind_seeks(c, NULL, 0);
    CHECK(seek->cnt == 4);
    CHECK(find(seek, "in", 0) && find(seek, "in", 0)->offset == 120);
    CHECK(find(seek, "in", 2) && find(seek, "in", 2)->offset == RD_KAFKA_OFFSET_BEGINNING);
    rd_kafka_topic_partition_list_destroy(seek);
    rd_kafka_topic_partition_list_destroy(c);
}

int main(void)
{
    test_started_only();
    test_all();
    return check_summary();
}
