/* The replay producer: feeds a data file (JSON Lines, or CSV turned into JSON
 * objects) into a Kafka topic, as fast as possible or at a fixed rate. It is
 * how the embedded demo gets data into its in-process cluster, and what tests
 * and benchmarks use to produce input without a JVM. */
#ifndef WEIR_REPLAY_H
#define WEIR_REPLAY_H

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
};

/* A pipeline's "replay" object: feed a file into the Kafka source's topic when
 * the run starts (the embedded demo; tests). Filled by weir_replay_options. */
struct weir_replay_conf {
    const char *path;
    const char *topic;     /* default: the source's first topic */
    double rate;
    const char *key;
    int64_t partition;     /* -1: by key, or spread by the partitioner */
    int stop;              /* stop the run once every replayed record went through */
};

extern const struct weir_option weir_replay_options[];

struct weir_pipeline;
/* Checks that the pipeline's source can be replayed into (a Kafka source);
 * returns the number of problems added to diag. */
int weir_replay_prepare(struct weir_replay_conf *rc, const struct weir_pipeline *pl,
                        struct weir_diag *diag);
/* The brokers and topic to replay into, once the workers have started (the
 * embedded cluster's address is known only then). Returns 0 or -errno. */
int weir_replay_target(const struct weir_pipeline *pl, char *brokers, size_t size,
                       const char **topic, struct weir_error *err);

/* Produces every line and waits for all delivery reports. Returns 0, or -errno
 * with err naming the file, broker or topic. *produced counts acknowledged
 * messages. */
int weir_replay_run(const struct weir_replay_opts *o, uint64_t *produced, struct weir_error *err);

#endif
