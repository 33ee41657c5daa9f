/* The Kafka source's parts (internal to connectors/kafka_source*.c and
 * kafka_partitions.c): its state, and what the files call of each other.
 * kafka_source.c: options, tickets, batches, the loop side, the source type;
 * kafka_partitions.c: partitions, offsets, checkpoints, rebalances;
 * kafka_source_txn.c: exactly-once transactions;
 * kafka_source_close.c: leaving the group, off the loop after a reload. */
#ifndef WEIR_KAFKA_SOURCE_H
#define WEIR_KAFKA_SOURCE_H

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/loop.h"
#include "engine/pipeline.h"
#include "engine/worker.h"

#define TICK_NS (500ull * 1000000ull) /* safety-net drain; keeps max.poll.interval.ms happy */
#define PAUSE_AFTER_NS (1000ull * 1000000ull) /* over the in-flight bounds this long: pause */

struct kpart;

/* One batch's records of one partition. Lives in the partition's FIFO and in
 * the ticket's list; freed when both are through with it. */
struct kseg {
    struct kpart *part;  /* NULL once the partition was revoked */
    int64_t next_offset; /* the batch's last offset of this partition + 1 */
    int done;            /* the ticket finished well */
    int tdone;           /* the ticket let go of it */
    struct kseg *next;   /* FIFO order (= dispatch order) or free list */
    struct kseg *tnext;  /* the ticket's list */
};

struct kpart {
    char *topic;
    int32_t partition;
    int assigned;
    int revoking;    /* being revoked: records that still arrive are dropped */
    uint32_t slot;   /* the worker's partition slot */
    int ready;       /* its state is restored: records may go */
    rd_kafka_message_t **waiting; /* fetched while restoring, in order */
    size_t nwaiting, capwaiting;
    struct kseg *head, *tail;
    int64_t next; /* past the last record taken (-1: none yet) */
    int64_t sent; /* exactly-once: the offset the last committed transaction holds (-1: unknown) */
    int64_t acked;   /* at-least-once: past the acknowledged prefix (-1: none) */
    int64_t safe;    /* with durable state: past the records the saved state covers (-1: none) */
    int64_t covered; /* ... the same for the checkpoint in flight */
    int64_t stored;  /* the offset last stored for commit */
    int64_t committed; /* the last commit the brokers confirmed (-1: none seen; -2: unknown) */
    uint64_t behind_since; /* stored ahead of committed since (ns), 0 when not */
    int lost; /* its assignment was lost with records acknowledged (the brokers checked at close) */
    int64_t revoke_at; /* the offset its revocation committed, the answer not yet seen (-1: none) */
    int64_t named;     /* the offset last named in a line as not committed (-1: none) */
    int release_slot; /* revoked by the closer thread: close() releases its slot on the loop */
    int started;      /* this assignment's fetch start was served (kafka_fetch_start.c) */
    int64_t first;    /* the first record this assignment took (-1: none yet): an abort
                         rewinds a partition without a committed offset there */
    int want_pause;   /* a pause (1) or resume (0) held back until then, or -1 */
    uint64_t assigned_ns; /* when it was assigned (weir_now_ns) */
};

struct kticket {
    struct weir_ticket t;
    struct kafka_source *ks;    /* NULL once the source closed */
    rd_kafka_message_t **msgs;  /* (cap) kept until the ticket is done */
    uint32_t nmsgs;
    uint64_t bytes;
    struct kseg *segs;
    struct kticket *next, *prev; /* live list, or free list (next) */
};

/* A checkpoint's ticket, held by the state changelog until it is written.
 * Apart from the source: a source closed while one is out (the worker
 * ending) orphans it (ks NULL), and the changelog's release at its own close
 * frees it instead of calling into a freed source. */
struct kckpt {
    struct weir_ticket t;
    struct kafka_source *ks;
    int marked; /* the entries were acknowledged, and what they cover written after them */
};

struct kafka_source {
    struct weir_kafka_client cl; /* first: the clients' opaque */
    struct weir_source *s;
    const struct weir_kafka_source_conf *c;
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;
    int efd;
    int subscribed;
    struct weir_event poll_ev, tick_ev;
    int poll_armed, tick_armed;
    int poll_cancelled, tick_cancelled; /* replaced: a cancel is on its way */
    uint32_t cap;                /* records per batch */
    rd_kafka_message_t **scratch; /* (cap) */
    struct weir_batch *batch;    /* being filled */
    struct kticket *bt;          /* its ticket */
    struct kpart **parts;
    size_t nparts, partcap;
    struct kpart *last;          /* look-up cache */
    struct kticket *live, *free_tickets;
    struct kseg *free_segs;
    uint64_t inflight_records, inflight_bytes;
    uint64_t throttled_since; /* over the in-flight bounds since (ns), or 0 */
    uint64_t wait_since;      /* the worker asked us to pause since (ns), or 0 */
    int kpaused;     /* partitions paused: over the bounds, or told to wait, for PAUSE_AFTER_NS */
    int wait_resume; /* the worker asked us to pause */
    int draining, stopping, finished, closing;
    int debug;       /* librdkafka's "debug" is set: weir's own debug lines too */
    uint64_t commit_retry_ns; /* three auto.commit.interval.ms: a partition behind longer is
                                 committed again (kafka_commit.c) */
    int replaced; /* a reload detached it: quiet(), then close() */
    int left; /* the last commit made, out of the group (ks_leave) */
    char group[256];
    struct weir_kafka_txn *txn;  /* exactly-once: the worker's transactional producer */
    struct weir_event txn_ev;    /* commit_interval timer, armed while a transaction is open */
    int txn_armed, committing;
    uint64_t txn_records;        /* dispatched into the open transaction */
    struct weir_quiesce txn_q;   /* operators empty before a commit */
    struct weir_kafka_txn_end txn_end; /* the end in progress */
    int txn_abandon;             /* the assignment was lost: the next end aborts and rewinds */
    int revoking;                /* a revocation waits for its outputs or its commit */
    rd_kafka_topic_partition_list_t *revoked; /* what it revokes */
    uint64_t revoke_deadline;    /* at-least-once: give up waiting for outputs then (ns) */
    int revoke_flushing;         /* revoke_begin() is sending the batch being filled on */
    struct weir_quiesce revoke_q;
    int durable;                 /* the worker saves keyed state (changelog) */
    struct kckpt *ckpt;          /* at-least-once: the checkpoint in flight, or NULL */
    struct weir_quiesce ckpt_q;
    int ckpt_busy;
    int ckpt_holding;            /* ks_drain() waits, as for a busy sink, until the
                                  * checkpoint's state is taken: its outputs are being
                                  * acknowledged */
    uint64_t ckpt_last;          /* when the last checkpoint began (ns) */
    int ckpt_final;              /* at stop: 1 the last checkpoint runs, 2 it is done */
    int ckpt_again;              /* at stop: one was in flight, the last one follows it */
    char commit_err[256];        /* the last commit failure's reason */
    char fetch_err[128];         /* why the brokers' offsets are unknown at close, or "" */
    struct ks_startup *su;       /* the process's workers of this group (kafka_startup.c) */
    int held;                    /* assignments held paused until every worker has one */
    int su_counted;              /* this worker's first assignment was counted */
    uint64_t held_since;         /* its first assignment (ns), for the bound on holding */
    struct ks_fence *fence;      /* exactly-once: fences members that left (kafka_fence.c) */
    int txn_ended;               /* replaced: its transaction ended at detach, on the loop */
    rd_kafka_topic_partition_list_t *handoff; /* replaced, assigned: where its successor starts */
    int closer_state;            /* KS_CLOSER_*: a replaced consumer closing off the loop */
    int closer_done;             /* (atomic) the closer thread is through */
    int failed_then;             /* the worker's failure when the closer started */
    pthread_t closer;
};

enum { KS_CLOSER_NONE, KS_CLOSER_RUNNING, KS_CLOSER_JOINED };

/* The worker's failure, as code the closer thread also runs may read it:
 * while the closer owns the consumer, as it was when the closer started
 * (the loop may set it meanwhile; kafka_source_close.c). */
static inline int ks_worker_failed(const struct kafka_source *ks)
{
    return ks->closer_state == KS_CLOSER_RUNNING ? ks->failed_then : ks->s->worker->failed;
}



/* kafka_source.c: tickets, batches, the loop side */
void ks_fail(struct kafka_source *ks, int code, const char *fmt, const char *a, const char *b);
void ks_flush_batch(struct kafka_source *ks);
void ks_take(struct kafka_source *ks, rd_kafka_message_t *m); /* takes ownership of m */
void ks_drain(struct kafka_source *ks);
void ks_finish(struct kafka_source *ks);
void ks_wake_self(struct kafka_source *ks);
void ks_check_bounds(struct kafka_source *ks);

/* kafka_partitions.c: partitions, offsets, checkpoints, rebalances */
struct kpart *ks_part_find(struct kafka_source *ks, const char *topic, int32_t partition);
void ks_part_advance(struct kafka_source *ks, struct kpart *p);
size_t ks_part_orphan(struct kafka_source *ks, struct kpart *p);
void ks_seg_free(struct kafka_source *ks, struct kseg *g);
void ks_waiting_drop(struct kpart *p);
void ks_pause_all(struct kafka_source *ks, int pause);
void ks_unpause(struct kafka_source *ks);
void ks_parts_assigned(struct kafka_source *ks, rd_kafka_topic_partition_list_t *l);
/* One log line for an assignment or revocation: "assigned 2 partition(s): t[0,2]". */
void ks_log_partitions(const struct kafka_source *ks, const char *what,
                       const rd_kafka_topic_partition_list_t *l);
/* Before an assignment: its unready partitions (all: every one) paused, the
 * others resumed; what librdkafka did not know yet is paused after it. */
rd_kafka_topic_partition_list_t *ks_pause_unready(struct kafka_source *ks,
                                                  const rd_kafka_topic_partition_list_t *l,
                                                  int all);
void ks_pause_late(struct kafka_source *ks, rd_kafka_topic_partition_list_t *late);
void ks_partition_ready(struct weir_source *s, uint32_t slot);
void ks_ckpt_maybe(struct kafka_source *ks);
int ks_ckpt_final(struct kafka_source *ks);
void ks_ckpt_covered(struct kafka_source *ks);
void ks_revoke_check(struct kafka_source *ks);
void ks_revoke_finish(struct kafka_source *ks);
void ks_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
                     void *opaque);

/* kafka_startup.c: the workers of a process join before any consumes */
struct ks_startup;
int ks_startup_join(struct kafka_source *ks); /* at open: ks->held until released */
void ks_startup_assigned(struct kafka_source *ks);
int ks_startup_released(struct kafka_source *ks);
void ks_startup_leave(struct kafka_source *ks);
void ks_hold_check(struct kafka_source *ks); /* kafka_partitions.c: release when it is time */

/* kafka_fetch_start.c: a pause or resume after an assignment waits for the
 * partition's fetch start to be served */
void ks_set_paused(struct kafka_source *ks, const rd_kafka_topic_partition_list_t *l, int pause);
void ks_part_started(struct kafka_source *ks, struct kpart *p, const char *how);
int ks_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque);

/* kafka_commit.c: at-least-once commits tracked, retried, checked at exit */
void ks_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *l,
                  void *opaque);
void ks_commit_retry(struct kafka_source *ks);
void ks_commit_final(struct kafka_source *ks);
void ks_commit_unanswered(struct kafka_source *ks); /* after the consumer closed */

/* kafka_source_close.c: the last commit and out of the group; a replaced
 * consumer does both on a closer thread of its own */
void ks_leave(struct kafka_source *ks, int replaced);
void ks_consumer_destroy(struct kafka_source *ks);
int ks_closer_start(struct kafka_source *ks);
int ks_closer_joined(struct kafka_source *ks, int wait);

/* kafka_source_txn.c: exactly-once */
int ks_transactional(const void *conf);
int ks_txn_begin(struct kafka_source *ks);
void ks_txn_commit(struct kafka_source *ks);
void ks_txn_commit_now(struct kafka_source *ks);
void ks_txn_ended(struct weir_kafka_txn_end *e, void *ctx);
void ks_on_txn_timer(struct weir_event *ev, int res);
void ks_txn_check_fenced(struct kafka_source *ks); /* fenced: an end re-creates the producer */
void ks_txn_abandon(struct kafka_source *ks); /* lost partitions' outputs must not commit */

/* kafka_fence.c: exactly-once, the producers of members that left are fenced */
struct ks_fence;
void ks_fence_client_id(const char *tid, char *out, size_t size); /* the consumer's client.id */
int ks_fence_start(struct kafka_source *ks, const char *own_tid); /* after subscribe */
void ks_fence_check(struct kafka_source *ks); /* on each assignment: lists the group, off the loop */
void ks_fence_stop(struct kafka_source *ks);  /* before the consumer is destroyed */

/* kafka_source_conf.c: the options table and the load-time checks. */
extern const struct weir_option weir_kafka_source_options[];
int weir_kafka_source_prepare(void *conf, const json_t *raw, struct weir_prepare *p);
int weir_kafka_source_check(const void *conf, const struct weir_pipeline *pl, struct weir_diag *d);
/* A reload's new source: its topics on its brokers, from a metadata-only
 * client, off the workers' loops (connector.h: precheck). */
int weir_kafka_source_precheck(const void *conf, struct weir_error *err);

#endif
