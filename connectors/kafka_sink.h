/* The Kafka sink's parts (internal to connectors/kafka_sink*.c): its
 * state, and what the files call of each other. kafka_sink.c: options,
 * producing, the backlog, the producer's life, the sink type;
 * kafka_sink_dr.c: delivery reports, and records a topic will not take;
 * kafka_sink_txn.c: the shared transactional producer's transactions. */
#ifndef WEIR_KAFKA_SINK_H
#define WEIR_KAFKA_SINK_H

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "connectors/kafka_common.h"
#include "engine/buf.h"
#include "engine/loop.h"
#include "engine/output.h"
#include "engine/worker.h"

enum { KEY_SOURCE, KEY_NONE };


struct kafka_sink_conf {
    const char *brokers;
    const char *topic;
    int key;
    int headers;
    uint64_t connect_timeout_ns;
    const json_t *kafka;
};

/* A producer: one per sink (at-least-once), or one per worker shared by its
 * Kafka sinks (exactly-once, transactional). */
struct kafka_producer {
    struct weir_kafka_client cl; /* first: the client's opaque */
    struct weir_worker *w;
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    int efd;
    struct weir_event poll_ev;
    int poll_armed;
    int refs;             /* sinks using it */
    int busy_at;          /* messages in the producer's queue past which the source pauses */
    int transactional;
    int in_txn;           /* a transaction is open */
    int must_abort;       /* an output of the open transaction could not be produced */
    uint64_t delivered, failed;
    struct kmsg *free_kmsgs;      /* messages' opaques, for reuse */
    struct kmsg_chunk *kmsg_chunks;
    const rd_kafka_message_t **dr; /* (capdr) one delivery-report event's messages */
    size_t capdr;
    char txn_id[300];
    struct weir_kafka_txn_runner *runner; /* transactional: ends transactions off the loop */
    rd_kafka_conf_t *conf_copy;           /* transactional, until the runner takes it */
    json_t *props;                        /* transactional: the "kafka" properties it was made
                                             with (a reload's sinks join it as it is) */
    struct kafka_sink *sinks;             /* those using it (their topic handles are its) */
    struct weir_kafka_txn_end *ending;    /* the end in progress, or NULL */
    int starting;                         /* a reload's: init_transactions runs on the
                                             runner's thread (start_job); nothing begins */
    struct weir_kafka_txn_end start_job;
    /* A reload removed its last sink: the blocking teardown (the runner's
     * join, rd_kafka_destroy) runs on a thread of its own (kafka_sink_retire.c) */
    pthread_t disposer;
    int disposing;                        /* the thread was started, not yet joined */
    int disposed;                         /* atomic: the thread is through */
    int retired;                          /* detached: its poll is not armed again */
    int poll_cancelled;
    void (*ending_done)(struct weir_kafka_txn_end *e, void *ctx);
    void *ending_ctx;
};

/* A sink's message in flight, its opaque: the ticket it holds, and what its
 * delivery report needs when the topic rejects it for good (the record's
 * coordinates, for a dead letter instead). From the producer's free list:
 * nothing is allocated per message once warm. */
#define KMSG_MAGIC 0x6b6d7367u
struct kmsg {
    uint32_t magic;        /* first, where a weir_ticket has its count: the
                              changelog's messages on a shared producer carry
                              bare tickets (connectors/kafka_changelog.c) */
    uint32_t tries;        /* produced again after its batch was rejected */
    struct weir_sink *s;   /* s->state is NULL once the sink closed */
    struct weir_ticket *t;
    const char *topic;     /* the input's: source names live as long as the source */
    int64_t offset;
    int32_t partition;
    uint32_t part;         /* the worker's partition slot */
    uint32_t kept;         /* the value starts with this many bytes of the input */
    struct kmsg *next;     /* free list */
};

struct kmsg_chunk {
    struct kmsg_chunk *next;
    struct kmsg m[256];
};

/* A message the producer's full queue could not take yet. */
struct backlog_msg {
    char *value;
    size_t len;
    void *key;
    size_t key_len;
    rd_kafka_headers_t *h;
    struct kmsg *k;
};

/* A record whose message a transaction's topic rejected: the transaction
 * aborts and the input is read again, when this sink sends its dead letter
 * instead. A ring: rejections are rare, and each is read again soon (every
 * output looks it up). */
struct poison {
    uint32_t part;
    int64_t offset;
    char reason[200];
};
#define NPOISON 64
/* A record that shared a rejected batch with others (which one is bad,
 * nothing tells): produced again, and taken for a cause after MAX_TRIES
 * rejections, as without transactions; else an invalid batch aborted and
 * came back for ever. Looked up only when a rejection comes; 1,024, so
 * that one transaction's suspects fit. */
struct suspect {
    uint32_t part;
    int64_t offset;
    unsigned tries;
};
#define NSUSPECT 1024

struct kafka_sink {
    struct weir_sink *s;
    const struct kafka_sink_conf *c;
    struct kafka_producer *p;
    rd_kafka_t *rk;       /* p->rk */
    rd_kafka_topic_t *rkt;
    struct weir_buf buf;  /* one message being formatted */
    char what[160];       /* "kafka sink \"out\" (worker 1)" */
    struct backlog_msg *backlog; /* waiting for room in the producer's queue, in order */
    size_t nbacklog, capbacklog, backlog_head;
    size_t max_bytes;     /* the producer's message.max.bytes */
    struct poison poison[NPOISON];
    unsigned npoison;     /* written so far; the ring keeps the last NPOISON */
    struct suspect suspect[NSUSPECT];
    unsigned nsuspect;        /* the same for suspects */
    struct kafka_sink *pnext; /* the producer's list */
    struct kafka_producer *retiring; /* detached as its producer's last sink: being destroyed */
};


const char *ksk_poison_find(const struct kafka_sink *ks, const struct weir_record *r);
int ksk_rejected(rd_kafka_resp_err_t e);
int ksk_rejected_for_good(struct kafka_sink *ks, struct kmsg *k, const char *value, size_t len, const rd_kafka_headers_t *h, const char *why);
rd_kafka_resp_err_t ksk_send_msg(struct kafka_sink *ks, const void *value, size_t len, const void *key, size_t key_len, rd_kafka_headers_t *h, struct kmsg *k);
struct kmsg *ksk_kmsg_new(struct kafka_sink *ks, const struct weir_record *r, struct weir_ticket *t, uint32_t kept);
struct dr_scan;
void ksk_deliver(struct kafka_producer *p, const rd_kafka_message_t *m, struct dr_scan *sc);
void ksk_kmsg_free_all(struct kafka_producer *p);
void ksk_kmsg_put(struct kafka_producer *p, struct kmsg *k);
void ksk_serve(struct kafka_producer *p, int timeout_ms);
void ksk_serve_dr(struct kafka_producer *p, rd_kafka_event_t *ev);
void ksk_producer_replace(struct kafka_producer *p, rd_kafka_t *rk);
void ksk_arm_poll(struct kafka_producer *p);
void ksk_unlink(struct kafka_sink *ks);
void ksk_producer_free(struct kafka_producer *p);
/* kafka_sink_txn.c: a reload's transactional producer starts off the loop */
int ksk_start_async(struct kafka_producer *p, int timeout_ms, struct weir_error *err);
/* kafka_sink_retire.c: a sink a reload removed */
void ksk_detach(struct weir_sink *s);
int ksk_quiet(struct weir_sink *s);
void ksk_disposer_join(struct kafka_producer *p);
/* kafka_sink_check.c: the sink's topic at open (its error names the sink),
 * and a reload's precheck (type->precheck). */
int ksk_check_topic(struct kafka_sink *ks, struct weir_error *err);
int ksk_precheck(const void *conf, const struct weir_pipeline *pl, const char *path,
                 struct weir_error *err);

#endif
