/* The replay producer: feeds a data file (JSON Lines, or CSV turned into JSON
 * objects) into a Kafka topic, as fast as possible or at a fixed rate. It is
 * how the embedded demo gets data into its in-process cluster, and what tests
 * and benchmarks use to produce input without a JVM. */
#ifndef WEIR_REPLAY_H
#define WEIR_REPLAY_H

#include <stdint.h>

#include "engine/error.h"

struct weir_replay_opts {
    const char *brokers;
    const char *topic;
    const char *path;      /* "-" for standard input */
    int csv;               /* 1: CSV with a header line; 0: one JSON record per line */
    double rate;           /* records per second; 0: as fast as the broker takes them */
    const char *key_field; /* CSV column or top-level JSON key used as the message key, or NULL */
    uint64_t limit;        /* stop after this many records; 0: the whole file */
};

/* Produces every line and waits for all delivery reports. Returns 0, or -errno
 * with err naming the file, broker or topic. *produced counts acknowledged
 * messages. */
int weir_replay_run(const struct weir_replay_opts *o, uint64_t *produced, struct weir_error *err);

#endif
