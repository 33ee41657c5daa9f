/* Durable operator state: where the keyed state of stateful operators
 * survives the process and follows its partition. Two back ends implement
 * this interface: a Kafka changelog topic (connectors/kafka_changelog.c,
 * compacted, written in the exactly-once transaction when there is one) and a
 * state directory for file runs (engine/state_dir.c).
 *
 * The engine encodes entries; a back end stores opaque (key, value) pairs per
 * source partition (topic, partition) and gives them back in order, the last
 * value of a key winning and an empty value (vlen 0 with value NULL) deleting
 * it. */
#ifndef WEIR_DURABLE_H
#define WEIR_DURABLE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/error.h"

struct weir_worker;
struct weir_ticket;
struct weir_durable;

struct weir_durable_type {
    const char *name;
    /* Per worker, after the sinks opened and before the source opens. */
    int (*open)(struct weir_durable *d, struct weir_error *err);
    /* Reads the saved state of (topic, partition) and hands each entry to
     * d->entry(d, part, ...), then calls d->restored(d, part, rc) once. May
     * complete later, from the loop; must not block it. Returns 0 or -errno
     * (then nothing will be called). */
    int (*restore)(struct weir_durable *d, uint32_t part, const char *topic, int32_t partition);
    /* The partition was revoked while its restore was still running. */
    void (*cancel)(struct weir_durable *d, uint32_t part);
    /* Saves one entry (value NULL, vlen 0: a deletion). Holds t (when not
     * NULL) until the entry is durable and releases it then, with ok = 0 on
     * failure. Under exactly-once the write joins the open transaction. */
    int (*write)(struct weir_durable *d, const char *topic, int32_t partition, const void *key,
                 uint32_t klen, const void *value, uint32_t vlen, struct weir_ticket *t);
    /* Everything written so far goes out now (files: written and renamed in
     * place). Returns 0 or -errno. Optional. */
    int (*sync)(struct weir_durable *d, struct weir_error *err);
    void (*close)(struct weir_durable *d); /* also after a failed open */
    /* 1: the state is saved whole at the end of a run that went well
     * (weir_worker_state_final), never as changes: the engine keeps no
     * record of what changed (it would only grow, by a tombstone per key
     * evicted or expired, for the whole run). */
    int whole;
};

struct weir_durable {
    const struct weir_durable_type *type;
    struct weir_worker *w;   /* back ends use w->loop, w->pl and w->id only */
    struct weir_loop *loop;  /* the worker's loop */
    const char *where;       /* changelog topic or state directory (set by the engine) */
    int exactly_once;        /* writes join the worker's Kafka transaction */
    void *state;             /* the back end's */
    /* Set by the engine: */
    int (*entry)(struct weir_durable *d, uint32_t part, const void *key, uint32_t klen,
                 const void *value, uint32_t vlen);
    void (*restored)(struct weir_durable *d, uint32_t part, int rc);
};

extern const struct weir_durable_type weir_durable_dir;
extern const struct weir_durable_type weir_durable_kafka;

/* Creates the state directory when missing and locks the pipeline's state
 * in it for this process: a file descriptor to keep open for the run
 * (closing it lets go), or -errno (-EBUSY: another run holds it, said in
 * err). */
int weir_state_dir_claim(const char *dir, const char *pipeline, struct weir_error *err);

/* 1 when dir holds a file an older weir saved a Kafka partition's state in
 * ("<topic>.<partition>.state"; its name in name), else 0. */
int weir_state_dir_older_kafka(const char *dir, char *name, size_t cap);

#endif
