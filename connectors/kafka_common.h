/* What the Kafka source and sink share: the pass-through of librdkafka
 * properties (checked when the pipeline loads, applied when a client is
 * created), one-line error text for start-up failures (which brokers, which
 * topic, what librdkafka said), the process-wide embedded mock cluster, and
 * the hook a source uses to serve its worker's producers' delivery reports
 * while a partition is being revoked. */
#ifndef WEIR_KAFKA_COMMON_H
#define WEIR_KAFKA_COMMON_H

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "engine/error.h"

struct weir_worker;
struct weir_loop;

/* Partitions of each topic on the embedded cluster. */
#define WEIR_KAFKA_EMBEDDED_PARTITIONS 4
struct weir_pipeline;

extern const struct weir_source_type weir_source_kafka;
extern const struct weir_sink_type weir_sink_kafka;

/* The Kafka source's options (filled by its option table). The sink reads it
 * to take the source's brokers and security properties by default. */
struct weir_kafka_source_conf {
    const char *brokers;          /* "host:port,..." or "embedded" */
    struct weir_strlist topics;
    const char *group;            /* NULL: "weir-" + the pipeline's name */
    int format;                   /* 0: json */
    int start;                    /* 0: earliest, 1: latest (auto.offset.reset) */
    int64_t max_inflight_records; /* read but not yet acknowledged: pause past this */
    int64_t max_inflight_bytes;
    uint64_t connect_timeout_ns;  /* start-up metadata check */
    uint64_t drain_timeout_ns;    /* revocation: wait for outputs this long */
    const json_t *kafka;          /* librdkafka properties, borrowed from the pipeline */
    int guarantee;                /* WEIR_KAFKA_AT_LEAST_ONCE or WEIR_KAFKA_EXACTLY_ONCE */
    uint64_t commit_interval_ns;  /* exactly-once: commit the open transaction this often */
    int64_t commit_records;       /* ... or once it covers this many input records */
    const char *transactional_id; /* exactly-once: prefix of the producers' transactional.id */
    uint64_t checkpoint_interval_ns; /* at-least-once with state: save changed state this often */
    const char *instance_id;      /* static membership: group.instance.id "<this>-<worker>"; NULL: dynamic */
};

enum { WEIR_KAFKA_AT_LEAST_ONCE, WEIR_KAFKA_EXACTLY_ONCE };

/* Per client (one consumer or producer): names it in messages and keeps the
 * last error librdkafka reported, for the start-up error line. It is the
 * client's opaque, first member of the source's or sink's state. */
struct weir_kafka_client {
    char what[160];      /* "kafka source (worker 0)", "kafka sink \"out\" (worker 1)" */
    char brokers[512];   /* resolved bootstrap servers, for messages */
    char last_err[512];  /* last error_cb reason, "" when none */
    int last_code;       /* its rd_kafka_resp_err_t */
    int fatal;           /* a fatal error was reported: the owner fails the worker */
    int started;         /* past the start-up checks: errors are warnings from now on */
    uint64_t warned_ns;  /* last warning printed (rate limit) */
    int embedded;        /* holds a reference on the embedded cluster */
};

/* prepare(): checks that props is an object of librdkafka properties that
 * rd_kafka_conf_set accepts, none of them in reserved (NULL-terminated pairs:
 * property, the weir option to use instead). Problems go to p->diag under
 * "<p->path>.kafka.<name>". Returns the number of problems. */
int weir_kafka_props_check(const json_t *props, const char *const *reserved,
                           struct weir_prepare *p);

/* Sets one property; a failure fills err with librdkafka's words. */
int weir_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value,
                        const char *what, struct weir_error *err);
/* Applies every property of props (may be NULL). With security_only, only
 * security.*, sasl.* and ssl.* properties (a sink inheriting the source's). */
int weir_kafka_props_apply(rd_kafka_conf_t *conf, const json_t *props, int security_only,
                           const char *what, struct weir_error *err);

/* Offset resets (offset_reset_line's) weir has warned of in this process;
 * also weir_kafka_offset_resets_total on /metrics and a clause of the exit
 * summary once there is one. */
uint64_t weir_kafka_offset_resets(void);

/* A librdkafka log line (syslog level, facility fac) that reports an offset
 * reset after an error such as "offset out of range": records skipped
 * unread. Writes weir's warning for it into out and returns 1; otherwise 0. */
int weir_kafka_offset_reset_line(int level, const char *fac, const char *text, char *out,
                                 size_t size);

/* Installs weir's error and log handling on conf with cl as the opaque. */
void weir_kafka_conf_common(rd_kafka_conf_t *conf, struct weir_kafka_client *cl);

/* A metadata-only client (a consumer handle that never subscribes, no
 * auto-creation, no commits) with the properties the run's client would
 * have: security (security.*, sasl.*, ssl.* only) then props. For `weir
 * check` and a reload's check of a new source. NULL with err set. */
rd_kafka_t *weir_kafka_metadata_client(struct weir_kafka_client *cl, const char *brokers,
                                        const json_t *security, const json_t *props,
                                        struct weir_error *err);

/* A look at topics before anything opens (a reload's new source or sink):
 * a metadata client as the run's would be, each topic asked for in turn.
 * Returns 0, or < 0 with err as weir_kafka_check_topics' and *bad the index
 * of the topic at fault (ntopics when no client could be made). */
int weir_kafka_precheck_topics(const char *what, const char *brokers, const json_t *security,
                               const json_t *props, const char *const *topics, size_t ntopics,
                               uint64_t timeout_ns, size_t *bad, struct weir_error *err);

/* Resolves brokers into cl->brokers: "embedded" starts (or shares) the
 * process's mock cluster and creates the topics on it. */
int weir_kafka_brokers_resolve(struct weir_kafka_client *cl, const char *brokers,
                               const char *const *topics, size_t ntopics, struct weir_error *err);
/* The embedded cluster's bootstrap servers, once some client started it.
 * Returns 0, or -ENOENT when no embedded cluster runs in this process. */
int weir_kafka_embedded_bootstraps(char *out, size_t size);
/* Creates topic name with partitions partitions on the embedded cluster (for
 * the changelog, whose partition count follows the source's). Returns 0,
 * -ENOENT when no embedded cluster runs, or -EIO (librdkafka refused). */
int weir_kafka_embedded_topic_create(const char *name, int partitions);
/* Drops the client's reference on the embedded cluster, if it holds one. */
void weir_kafka_client_release(struct weir_kafka_client *cl);

/* Start-up check: asks the brokers for each topic's metadata within
 * timeout_ms. Fails with one line naming the brokers, the topic and
 * librdkafka's reason: unreachable (-EHOSTUNREACH), no such topic (-ENOENT),
 * authentication or authorization (-EACCES). */
int weir_kafka_check_topics(rd_kafka_t *rk, struct weir_kafka_client *cl,
                            const char *const *topics, size_t ntopics, uint64_t timeout_ns,
                            struct weir_error *err);

/* A runtime error is fatal (fail the worker) rather than retried. */
int weir_kafka_error_fatal(rd_kafka_resp_err_t code);
/* Prints "weir: warning: WHAT: brokers B: TEXT" at most every 30 s per client. */
void weir_kafka_warn(struct weir_kafka_client *cl, const char *text);


/* The Kafka source's options when pl's source is Kafka, else NULL. */
const struct weir_kafka_source_conf *weir_kafka_source_conf_of(const struct weir_pipeline *pl);
/* Worker w's transactional.id: "<transactional_id>-<w>", where the source's
 * transactional_id defaults to "<group>-<hostname>". */
/* librdkafka's transport error text, with its "might be caused by incorrect
 * security.protocol ..." guess replaced by what is likely (a broker
 * restarting or going away); other texts come back as they are. */
const char *weir_kafka_transport_reason(const char *reason, char *buf, size_t size);
/* An authentication failure's text, with a hint added when the mechanism is
 * SCRAM-* and librdkafka (version as rd_kafka_version()) is older than 2.6.1:
 * those build a client-final-message that Kafka 4.0 and later reject as
 * invalid credentials (librdkafka#4895). Other cases come back as they are. */
const char *weir_kafka_auth_reason(const char *reason, const char *mechanism, int version,
                                   char *buf, size_t size);

/* The list of partitions in one report line ("in[2] at 12 (...), in[5] ..."):
 * a fixed buffer that never drops a name without a word. A piece that does
 * not fit, and every piece after it, is counted instead, and the text ends
 * with " and N more". Room for the ending is kept free. */
#define WEIR_KAFKA_NAMES_SIZE 600
struct weir_kafka_names {
    char text[WEIR_KAFKA_NAMES_SIZE];
    size_t len;  /* of text */
    size_t more; /* the pieces left out */
};
/* Appends one piece (printf-style), preceded by sep unless it is the first. */
void weir_kafka_names_add(struct weir_kafka_names *b, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The text: close appended when a piece was (e.g. "]"), then " and N more". */
const char *weir_kafka_names_end(struct weir_kafka_names *b, const char *close);

void weir_kafka_transactional_id(const struct weir_pipeline *pl, int w, char *out, size_t size);
/* A Kafka sink's own "brokers" (NULL: the source's), for the exactly-once check. */
const char *weir_kafka_sink_brokers(const void *sink_conf);
/* A Kafka sink's "kafka" properties (may be NULL). */
const json_t *weir_kafka_sink_props(const void *sink_conf);
/* Two "kafka" objects (or NULL: none) give librdkafka the same properties:
 * the same names, each value the same text (5 and "5" alike). */
int weir_kafka_props_same(const json_t *a, const json_t *b);
/* exactly_once: the properties of the worker's one transactional producer:
 * the first that pl's Kafka sinks give (sinks in order, then the dead
 * letter; the load refused others), or NULL. _from: that sink's index
 * (nsinks: the dead letter), or -1. */
const json_t *weir_kafka_txn_props(const struct weir_pipeline *pl);
int weir_kafka_txn_props_from(const struct weir_pipeline *pl);
/* The properties a Kafka sink's producer is made with: the transactional
 * producer's under exactly-once, else the sink's own ("kafka", may be NULL). */
const json_t *weir_kafka_sink_producer_props(const struct weir_pipeline *pl, const json_t *own);

/* Exactly-once: weir's default transaction.timeout.ms for its transactional
 * producers (librdkafka's is 60 s). After a process dies, its open
 * transaction holds back read_committed readers of every partition it wrote
 * until the broker aborts it, this long after it began (plus up to the
 * broker's abort scan interval, 10 s by default); a restart of the same
 * process fences it at once. A sink's "kafka" properties override it. The
 * source's commit_interval must stay below half of it. */
#define WEIR_KAFKA_TXN_TIMEOUT_MS 10000
/* props' "transaction.timeout.ms" in ms, or the default when it is absent
 * or not a positive number (props_check reports that). */
double weir_kafka_txn_timeout_ms(const json_t *props);

/* Exactly-once (kafka_sink.c, kafka_txn.c). The Kafka sinks of a worker
 * share one transactional producer, found through the worker's shared
 * objects under WEIR_KAFKA_TXN_SHARED; the source drives its transactions.
 * Beginning one is local; ending one waits for the brokers and so runs on
 * the producer's transaction thread. */
#define WEIR_KAFKA_TXN_SHARED "kafka.txn"
struct weir_kafka_txn;
/* The worker's transactional producer, or NULL (at-least-once). */
struct weir_kafka_txn *weir_kafka_txn_of(struct weir_worker *w);
/* Its librdkafka handle, for other writers that join its transactions (the
 * changelog, kafka_changelog.c). Owned by the sinks. */
rd_kafka_t *weir_kafka_txn_rk(struct weir_kafka_txn *t);
/* Begins a transaction unless one is open. Returns 1 when it began one, 0
 * when one was open, or -errno (fatal, err filled). */
int weir_kafka_txn_begin(struct weir_kafka_txn *t, struct weir_error *err);
int weir_kafka_txn_is_open(const struct weir_kafka_txn *t);
/* A reload's new producer is still initializing transactions, on its
 * transaction thread: none can begin yet (kafka_sink_txn.c). */
int weir_kafka_txn_starting(const struct weir_kafka_txn *t);
/* Serves its delivery reports (events) for up to timeout_ms. */
void weir_kafka_txn_serve(struct weir_kafka_txn *t, int timeout_ms);

/* Ending the open transaction: commit (offsets with the consumer's group
 * metadata first) or abort. */
struct weir_kafka_txn_end {
    int abort;                                /* abort (the worker failed) instead of commit */
    int abort_rewind;                         /* abort, then rewind (rc -EAGAIN) as after an
                                                 abortable error */
    rd_kafka_t *consumer;                     /* group metadata; rewound after an abort */
    rd_kafka_topic_partition_list_t *offsets; /* the caller's; may be NULL */
    int timeout_ms;
    int start_latest;                         /* rewind: partitions without a committed offset */
    rd_kafka_topic_partition_list_t *started; /* rewind: the partitions whose fetch had started
                                                 (the caller's; NULL: all); only they are
                                                 sought, see weir_kafka_rewind_seeks */
    int recover;                              /* a fenced producer may be re-created (set by
                                                 weir_kafka_txn_end, never at close) */
    int init;                                 /* not an end: init_transactions (a reload's
                                                 new producer, kafka_sink_txn.c) */
    /* Results, for done(): */
    int rc;  /* 0; -EAGAIN: the commit had to abort, and `rewound` (the caller frees
                it) is the assignment with the committed offsets it reads from now
                (those in `started` were sought there); other -errno: fatal, msg says why */
    rd_kafka_topic_partition_list_t *rewound;
    rd_kafka_t *replacement; /* fenced: the new producer (same transactional.id, transactions
                                initialized) that the loop swaps in; rc is then -EAGAIN */
    int replaced;            /* ... and it was swapped in: the transaction was abandoned */
    char msg[600];
    void (*done)(struct weir_kafka_txn_end *e, void *ctx); /* on the worker's loop */
    void *ctx;
};
/* Starts ending the transaction; e->done runs on the loop when it is over.
 * -EBUSY while another end runs. Nothing is open: done is called at once. */
int weir_kafka_txn_end(struct weir_kafka_txn *t, struct weir_kafka_txn_end *e);
/* The same, on the calling thread, for a worker whose loop has stopped: it
 * serves the producer's delivery reports itself first. */
void weir_kafka_txn_end_now(struct weir_kafka_txn *t, struct weir_kafka_txn_end *e);
/* The loop has stopped with an end handed over (weir_kafka_txn_end) still
 * out: waits for it on the calling thread and settles the producer's side.
 * Returns the end, whose done() is not run: the caller settles its own
 * side, on this thread; NULL when none was out. */
struct weir_kafka_txn_end *weir_kafka_txn_end_wait(struct weir_kafka_txn *t);
/* The producer was fenced (a fatal error: another producer with its
 * transactional.id initialized transactions). The source's next transaction
 * end re-creates it in place (kafka_txn.c), bounded. */
int weir_kafka_txn_fenced(struct weir_kafka_txn *t);
/* An output of the open transaction could not be produced (it had become
 * abortable): its end must abort and rewind, not commit. */
int weir_kafka_txn_must_abort(const struct weir_kafka_txn *t);
/* rk's fatal error, if any, is a fencing one. */
int weir_kafka_fenced(rd_kafka_t *rk);

/* After an abort: of the assigned partitions with their committed offsets,
 * those to seek back there, each at its committed offset or, without one,
 * at its offset in started (the assignment's first record), or else at the
 * start rule. Only partitions in started (NULL: all): a partition
 * whose fetch has not started yet delivered nothing and will start at its
 * committed offset anyway (an exactly-once assignment names no offset),
 * and a seek then would take a newer version than its queued fetch start,
 * which librdkafka (2.0.2) drops as outdated: the partition would not be
 * read until its next assignment (kafka_fetch_start.c). */
rd_kafka_topic_partition_list_t *
weir_kafka_rewind_seeks(const rd_kafka_topic_partition_list_t *committed,
                        const rd_kafka_topic_partition_list_t *started, int start_latest);

/* kafka_txn.c: the thread that runs the blocking calls. */
struct weir_kafka_txn_runner;
/* conf (taken, may be NULL): a copy of the producer's, to re-create it when
 * it is fenced. */
int weir_kafka_txn_runner_new(struct weir_kafka_txn_runner **out, rd_kafka_t *rk,
                              rd_kafka_conf_t *conf, struct weir_loop *loop, const char *what,
                              const char *brokers, struct weir_error *err);
/* On the loop, no job running: the runner drives new_rk from now on and
 * destroys the old producer on its own thread. */
void weir_kafka_txn_runner_swap(struct weir_kafka_txn_runner *r, rd_kafka_t *new_rk);
int weir_kafka_txn_runner_submit(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e);
int weir_kafka_txn_runner_busy(struct weir_kafka_txn_runner *r);
void weir_kafka_txn_runner_run_here(struct weir_kafka_txn_runner *r, struct weir_kafka_txn_end *e,
                                    void (*serve)(void *ctx, int timeout_ms), void *ctx);
struct weir_kafka_txn_end *weir_kafka_txn_runner_wait(struct weir_kafka_txn_runner *r,
                                                      void (*serve)(void *ctx, int timeout_ms),
                                                      void *ctx);
void weir_kafka_txn_runner_free(struct weir_kafka_txn_runner *r);

/* The changelog's start-up check (kafka_changelog_topic.c; blocks up to
 * timeout_ns per request): topic name exists, compacted, with at least as
 * many partitions as the widest of topics, else it is created so (CreateTopics
 * with cleanup.policy=compact and the broker's default replication factor; on
 * the embedded cluster, directly). Workers of a process take turns. Returns
 * its partition count, or -errno with one line in err naming the brokers, the
 * topic and librdkafka's or the broker's reason. */
int weir_kafka_changelog_topic(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *name,
                               const char *const *topics, size_t ntopics, uint64_t timeout_ns,
                               struct weir_error *err);

/* Whether changelog topic name's cleanup.policy includes compact (under
 * "delete" alone retention would drop state that nothing writes again), by
 * DescribeConfigs: 0 yes; -EINVAL no, with err saying what to do; 1 the
 * brokers would not say (no DescribeConfigs permission), err saying why. */
int weir_kafka_changelog_compacted(rd_kafka_t *rk, struct weir_kafka_client *cl, const char *name,
                                   int timeout_ms, struct weir_error *err);

/* A message's timestamp as a record's event time: -1 (none) when the
 * message has none or one past WEIR_TS_MAX_MS (a producer's Long.MAX_VALUE
 * as a sentinel), whose window ends would overflow. */
static inline int64_t weir_kafka_event_time(int64_t ts)
{
    return ts >= 0 && ts <= (int64_t)WEIR_TS_MAX_MS ? ts : -1;
}

#endif
