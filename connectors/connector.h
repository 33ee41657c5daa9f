/* Sources and sinks: where records come from and where they go.
 *
 * Like operators, each connector type is a static table of functions plus a
 * table of declared options; an instance belongs to one worker. A source
 * fills batches and hands them to its worker with a ticket; each sink write
 * holds the ticket and releases it when the output is acknowledged (written
 * to the file, or acked by the Kafka broker). When a ticket's last hold is
 * released the source may commit the input it covers: at-least-once. */
#ifndef WEIR_CONNECTOR_H
#define WEIR_CONNECTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/batch.h"
#include "engine/error.h"
#include "engine/expr.h"
#include "engine/option.h"
#include "engine/schema.h"

struct weir_worker;
struct weir_pipeline;
struct weir_diag;
struct weir_durable_type;
struct weir_companion; /* engine/run.h */

/* Acknowledgement counting for the input one batch covers. */
struct weir_ticket {
    uint32_t pending; /* holds not yet released */
    int failed;       /* some output failed: do not commit */
    void (*done)(struct weir_ticket *t); /* the last hold was released */
};

static inline void weir_ticket_hold(struct weir_ticket *t)
{
    t->pending++;
}

static inline void weir_ticket_release(struct weir_ticket *t, int ok)
{
    if (!ok)
        t->failed = 1;
    if (--t->pending == 0 && t->done)
        t->done(t);
}

struct weir_source {
    const struct weir_source_type *type;
    const void *conf;
    void *state;
    struct weir_worker *worker;
    const char *name; /* for dead letters: the file path or topic */
    /* While open() runs for a reload's new source: the source it replaces on
     * this worker (stopped, everything it handed on acknowledged, detached,
     * not yet closed), so that it can go on where that one stopped. NULL
     * otherwise. */
    struct weir_source *prev;
    struct weir_source *retired_next; /* the worker's replaced sources, not yet closed */
    /* Set before stop() when a reload replaces this source (not at
     * shutdown): what must be over before its successor starts (a Kafka
     * source's exactly-once transaction) may end now, off the loop, before
     * the source reports finished, instead of in detach() on the loop. */
    int replacing;
};

struct weir_source_type {
    const char *name;
    const char *summary;
    const struct weir_option *options; /* zero-terminated */
    size_t conf_size;
    int per_worker; /* 1: every worker runs one (Kafka consumers in a group);
                       0: only worker 0 (a file is one partition) */
    int (*prepare)(void *conf, const json_t *raw, struct weir_prepare *p); /* optional */
    /* Optional: checks the source's options against the rest of the loaded
     * pipeline (its sinks), once the source and the sinks loaded without
     * problems (whatever the operators' and sections': every problem is
     * reported in one round); it must not read the operators.
     * Problems go to d; returns their number. */
    int (*check)(const void *conf, const struct weir_pipeline *pl, struct weir_diag *d);
    /* Optional: checks what open() would otherwise wait for outside the
     * process (a Kafka source's brokers and topics), for a reload that
     * replaces the running source with this one: the run calls it on a
     * thread of its own before it asks the workers to take the new pipeline
     * (engine/reload_check.c); it may block, up to the source's own timeout.
     * Returns 0, or -errno with err naming the option by its JSON path
     * ("source.topics[1]: ..."): the reload is not taken and the running
     * pipeline goes on. A reload's open() (prev set) need not check again:
     * it runs on the worker's loop, which never waits for the network. */
    int (*precheck)(const void *conf, struct weir_error *err);
    /* Arms the first reads on the worker's loop. */
    int (*open)(struct weir_source *s, struct weir_error *err);
    /* The worker's backpressure cleared: read again. */
    void (*resume)(struct weir_source *s);
    /* A partition's state finished restoring after weir_worker_partition_assign
     * returned: its records may go now. Optional (sources whose partitions are
     * always ready at once). */
    void (*partition_ready)(struct weir_source *s, uint32_t part);
    /* Nonzero when outputs and state writes join transactions. Optional. */
    int (*transactional)(const void *conf);
    /* 1: its records carry their own event time (Kafka message timestamps). */
    int timestamps;
    /* 1: its records carry a message key ("by": "kafka:key"). */
    int message_keys;
    /* Where keyed state lives durably for this source (a changelog topic), or
     * NULL: file runs keep it in --state-dir. */
    const struct weir_durable_type *durable;
    /* Optional: 1 when a running instance opened with conf can go on with
     * next's options (a reload), reading on where it is; the engine then
     * points its conf at next between two batches. 0 (or absent): a changed
     * source is stopped, closed and opened again. */
    int (*keeps)(const void *conf, const void *next);
    /* Optional: a reload replaced this source, which stop() has finished, and
     * the run goes on: let go now of what others see (commit, leave a
     * consumer group). close() comes once quiet() says so, else when the
     * worker ends; the source's events on the loop may come before it: they
     * find it stopped. */
    void (*detach)(struct weir_source *s);
    /* Optional: 1 when a replaced (stopped, detached) source has nothing left
     * on the worker's loop (no read, poll or timer whose completion would
     * find it), so that close() and freeing it are safe now; the worker asks
     * once per loop turn. Absent: it is closed when the worker ends. */
    int (*quiet)(struct weir_source *s);
    /* Stop reading (signal): finish what is in flight, then report finished. */
    void (*stop)(struct weir_source *s);
    void (*close)(struct weir_source *s); /* everything acknowledged, or a failed open(): free state */
    void (*release)(void *conf);          /* optional */
};

/* when: which records a sink receives. WEIR_WHEN_EXPR: those for which the
 * sink's condition (engine/expr.h) is true, evaluated by the worker over the
 * batch before write() is called. */
enum weir_when { WEIR_WHEN_ALL, WEIR_WHEN_ALERT, WEIR_WHEN_NORMAL, WEIR_WHEN_DEAD, WEIR_WHEN_EXPR };

struct weir_output; /* engine/output.h: how records are written */

struct weir_sink {
    const struct weir_sink_type *type;
    const void *conf;
    void *state;
    struct weir_worker *worker;
    enum weir_when when;
    struct weir_expr_run when_run; /* WEIR_WHEN_EXPR: the worker's scratch columns */
    const double *when_value;      /* WEIR_WHEN_EXPR: the condition for the batch being written */
    const struct weir_output *output;
    void *shared; /* what the run's workers share for this sink (its type's share()), or NULL */
    /* While open() runs for a sink a reload adds or changes: its type's
     * precheck() passed before the workers were asked to take the pipeline,
     * so open() need not ask the network again. 0 otherwise (at the start). */
    int checked;
    /* Another of the pipeline's sinks (or the dead letter) writes the same
     * place (its type's same_target()): "-" twice, say. */
    int destination_shared;
    struct weir_sink *retired_next; /* the worker's removed sinks, not yet closed */
    int detached;                   /* its detach() ran */
};

struct weir_sink_type {
    const char *name;
    const char *summary;
    const struct weir_option *options;
    size_t conf_size;
    int (*prepare)(void *conf, const json_t *raw, struct weir_prepare *p); /* optional */
    /* Once per run, by the first worker whose instances and source opened
     * (a file source's --state-dir state restored with it; a Kafka source's
     * changelog comes later, with its partitions), before it handles a
     * record, and not when the run is already stopping: truncate a file,
     * so that a run that fails to start leaves it alone. Instances and
     * share() open without truncating. Not called by `weir validate`.
     * Optional. */
    int (*setup)(const void *conf, struct weir_error *err);
    /* Optional: whether two confs write to the same place (a file's path).
     * A reload sets up a changed sink again only when no running sink
     * writes there (a file sink's setup truncates what the run wrote). */
    int (*same_target)(const void *a, const void *b);
    /* Optional: when a run has several workers, before they start, makes what
     * their instances of this sink share (one writer for one file, so that
     * their lines cannot interleave); each instance finds it in s->shared.
     * unshare() frees it once every worker has closed its instance. */
    int (*share)(const void *conf, void **shared, struct weir_error *err);
    void (*unshare)(void *shared);
    /* Optional: checks what open() would otherwise wait for outside the
     * process (a Kafka sink's brokers and topic), for a reload that adds or
     * changes this sink: the run calls it on a thread of its own before it
     * asks the workers to take pl, the new pipeline (engine/reload_check.c);
     * it may block, up to the sink's own timeout. path is the sink's JSON
     * path ("sinks[1]", "dead_letter"). Returns 0, or -errno with err naming
     * the option by its JSON path ("sinks[1].topic: ..."): the reload is not
     * taken and the running pipeline goes on. open() then finds s->checked
     * set: it runs on the worker's loop, which never waits for the network. */
    int (*precheck)(const void *conf, const struct weir_pipeline *pl, const char *path,
                    struct weir_error *err);
    int (*open)(struct weir_sink *s, struct weir_error *err);
    /* Writes b's records selected by s->when (weir_sink_wants(s, b, i)). Holds t for
     * each acknowledgement it will give later. Must copy what it keeps: b goes
     * back to the pool after the call. Returns 0 or -errno (fatal). */
    int (*write)(struct weir_sink *s, struct weir_batch *b, struct weir_ticket *t);
    /* Pushes buffered output out (before sleeping, at shutdown). Returns the
     * number of outputs still in flight; 0 when everything is acknowledged. */
    int (*flush)(struct weir_sink *s);
    /* Nonzero while it holds more than it should: the source pauses. */
    int (*busy)(struct weir_sink *s);
    /* Optional: outputs it holds that its transport has not taken yet (a
     * Kafka sink's backlog while the producer's queue is full). An
     * exactly-once commit waits for 0: its offsets cover their inputs. */
    size_t (*backlog)(struct weir_sink *s);
    /* Optional: a reload removed (or replaced) this sink, with nothing of it
     * in flight (the worker drained), after the new sinks and source opened:
     * let go now, off the loop, of what may wait (a Kafka producer's
     * destroy). close() comes once quiet() says so, else when the worker
     * ends. s->shared may be gone by then: a sink with detach() has none.
     * Without detach(), a removed sink is closed at once. */
    void (*detach)(struct weir_sink *s);
    /* Optional (with detach()): 1 once nothing of the detached sink is left
     * on the loop or on another thread, so that close() will not wait. */
    int (*quiet)(struct weir_sink *s);
    void (*close)(struct weir_sink *s); /* also after a failed open(): partial state */
    void (*release)(void *conf); /* optional */
};

/* Whether the sink writes record i of b. Dropped records go nowhere. */
static inline int weir_sink_wants(const struct weir_sink *s, const struct weir_batch *b, uint32_t i)
{
    const struct weir_record *r = &b->rec[i];
    if (s->when == WEIR_WHEN_DEAD)
        return (r->flags & WEIR_REC_DEAD) != 0;
    if (!weir_record_live(r))
        return 0;
    switch (s->when) {
    case WEIR_WHEN_ALERT: return (r->flags & WEIR_REC_ALERT) != 0;
    case WEIR_WHEN_NORMAL: return (r->flags & WEIR_REC_ALERT) == 0;
    case WEIR_WHEN_EXPR: return s->when_value[i] != 0;
    default: return 1;
    }
}

/* A top-level section of the pipeline file that the engine loads and checks
 * like a stage but does not act on: "replay" (connectors/replay.c) is one.
 * Whoever runs the pipeline (the CLI) drives it, e.g. as a companion of the
 * run (engine/run.h). */
struct weir_section_type {
    const char *name;                  /* its top-level key */
    const struct weir_option *options; /* zero-terminated */
    size_t conf_size;
    /* Optional: checks it against the rest of the loaded pipeline. Problems
     * go to d; returns their number. */
    int (*check)(void *conf, const struct weir_pipeline *pl, struct weir_diag *d);
    /* Optional: what runs beside the workers when the pipeline runs, or NULL
     * with err filled. The caller owns it (its release()). */
    struct weir_companion *(*companion)(const void *conf, const struct weir_pipeline *pl,
                                        struct weir_error *err);
};

/* A command a connector adds to the command line ("weir replay ..."). */
struct weir_command {
    const char *name;
    const char *usage; /* "weir replay FILE --brokers HOSTS ..." */
    const char *help;
    int (*main)(int argc, char **argv); /* argv[1] is the command; returns the exit code */
};

const struct weir_source_type *weir_source_find(const char *name);
const struct weir_sink_type *weir_sink_find(const char *name);
const struct weir_source_type *const *weir_source_types(void);
const struct weir_sink_type *const *weir_sink_types(void);
const struct weir_section_type *const *weir_section_types(void); /* NULL-terminated */
const struct weir_command *const *weir_commands(void);             /* NULL-terminated */

#endif
