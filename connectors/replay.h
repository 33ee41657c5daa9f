/* The replay producer: feeds a data file (JSON Lines, or CSV turned into JSON
 * objects) into a Kafka topic, as fast as possible or at a fixed rate. It is
 * how the embedded demo gets data into its in-process cluster, and what tests
 * and benchmarks use to produce input without a JVM.
 *
 * It is a test-data loader, not a pipeline stage: stopped early (a signal, the
 * run ending), it produces nothing more, purges what librdkafka still holds
 * (those records may or may not have reached the broker) and leaves the rest
 * of the file unread. It never waits out librdkafka's message timeout.
 *
 * A pipeline's "replay" section runs it beside the workers, as a companion of
 * the run (engine/run.h); `weir replay` runs it alone. */
#ifndef WEIR_REPLAY_H
#define WEIR_REPLAY_H

#include <stdatomic.h>
#include <stdint.h>

#include "engine/diag.h"
#include "engine/error.h"
#include "engine/option.h"

struct weir_replay_opts {
    const char *brokers;
    const char *topic;
    const char *path;      /* "-" for standard input */
    int csv;               /* 1: CSV with a header line; 0: one JSON record per line */
    double rate;           /* records per second; 0: as fast as the broker takes them */
    const char *key_field; /* CSV column or top-level JSON key used as the message key, or NULL */
    uint64_t limit;        /* stop after this many records; 0: the whole file */
    int32_t partition;     /* a fixed partition, or -1 for the partitioner (by key) */
    const _Atomic int *stop; /* becomes nonzero: stop early (see above); may be NULL */
    /* Records the consumers have taken so far, or NULL: then the replay keeps
     * what they have not taken under `ahead` bytes (the embedded cluster keeps
     * only the last 5 MiB of a partition; see replay.c). */
    const _Atomic uint64_t *taken;
    uint64_t ahead;
    /* librdkafka properties whose security.*, sasl.* and ssl.* the producer
     * takes (the source's, for a pipeline's replay section), or NULL */
    const struct json_t *props;
};

struct weir_replay_stats {
    uint64_t sent;    /* records handed to the producer */
    uint64_t acked;   /* acknowledged by the broker */
    int stopped;      /* stopped early: the rest was purged or never read */
};

/* A pipeline's "replay" object: feed a file into the Kafka source's topic when
 * the run starts (the embedded demo; tests). Filled by its option table. */
struct weir_replay_conf {
    const char *path;
    const char *topic;     /* default: the source's first topic */
    double rate;
    const char *key;
    int64_t partition;     /* -1: by key, or spread by the partitioner */
    int stop;              /* stop the run once every replayed record went through */
};

/* Produces every line and waits for all delivery reports, or stops early
 * when *o->stop becomes nonzero (then returns 0 with st->stopped set).
 * Returns 0, or -errno with err naming the file, broker or topic. */
int weir_replay_run(const struct weir_replay_opts *o, struct weir_replay_stats *st,
                    struct weir_error *err);

#endif
