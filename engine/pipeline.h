/* A loaded, validated pipeline: the parsed file, the resolved columns, and
 * each stage's type and filled config. Read-only once loaded; every worker
 * builds its own instances from it. */
#ifndef WEIR_PIPELINE_H
#define WEIR_PIPELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "connectors/connector.h"
#include "engine/diag.h"
#include "engine/expr.h"
#include "engine/operator.h"
#include "engine/output.h"
#include "engine/schema.h"

struct weir_stage_op {
    const struct weir_operator_type *type;
    void *conf;
    uint64_t read_deps; /* the lineage of the features it read (schema.h): its conf may hold
                           it, so a reload keeps its instance only when it is the same */
};

struct weir_stage_sink {
    const struct weir_sink_type *type;
    void *conf;
    enum weir_when when;
    struct weir_expr *when_expr; /* WEIR_WHEN_EXPR: the condition (engine/expr.h) */
    struct weir_output output;
};

/* A top-level section the engine carries but does not act on ("replay"). */
struct weir_stage_section {
    const struct weir_section_type *type;
    void *conf; /* filled by the type's option table */
};

struct weir_pipeline {
    json_t *root;     /* the file's JSON with --set overrides applied; owns all strings */
    char *file;       /* path as given, for messages */
    const char *name;
    struct weir_schema schema;
    const struct weir_source_type *source_type;
    void *source_conf;
    uint32_t max_records; /* records per batch */
    struct weir_stage_op *ops;
    size_t nops;
    struct weir_stage_sink *sinks;
    size_t nsinks;
    struct weir_stage_sink dead; /* the dead-letter sink */
    uint64_t lateness_ns;  /* "allowed_lateness": watermark = largest event time - this */
    int state_durable;     /* "state.durable": keyed state is restored and saved */
    const char *state_topic; /* "state.changelog": the Kafka changelog topic */
    char state_topic_buf[300];
    const char *state_dir; /* --state-dir: file runs keep their state here (set by the CLI) */
    int keyed_at_start;    /* the run's first version kept keyed state, so its durable store
                              was opened (set by the CLI, carried by reloads) */
    /* Stages the loader made up (the implicit extract, the default dead
     * letter), kept apart from root so that no key of the file can reach
     * them; owns their strings. */
    json_t *made;
    struct weir_stage_section *sections; /* the registered sections present in the file */
    size_t nsections;
    /* What still runs from this version during a reload-taking run
     * (engine/run.c): workers' operator instances, sinks and sources made
     * from it, the workers running it, the run's current version. Changed
     * with weir_pipeline_hold/let_go only (atomic, any thread); the run
     * frees a replaced version at 0. */
    int users;
};

/* One more (or one less) user of pl; NULL does nothing. let_go's release
 * pairs with the acquire of weir_pipeline_users on the thread that frees. */
static inline void weir_pipeline_hold(const struct weir_pipeline *pl)
{
    if (pl)
        __atomic_add_fetch(&((struct weir_pipeline *)pl)->users, 1, __ATOMIC_RELAXED);
}
static inline void weir_pipeline_let_go(const struct weir_pipeline *pl)
{
    if (pl)
        __atomic_sub_fetch(&((struct weir_pipeline *)pl)->users, 1, __ATOMIC_RELEASE);
}
static inline int weir_pipeline_users(const struct weir_pipeline *pl)
{
    return __atomic_load_n(&pl->users, __ATOMIC_ACQUIRE);
}

/* One --set PATH=VALUE override: VALUE is JSON when it parses as JSON,
 * otherwise a string. */
struct weir_override {
    const char *path; /* "operators[2].quantile" */
    const char *value;
};

/* Loads and validates file. Every problem goes to diag (named by file and JSON
 * path); returns 0, or -EINVAL when diag holds problems, or -errno when the
 * file cannot be read (-ENOMEM: out of memory, maybe without a message). On
 * success *out is owned by the caller. */
int weir_pipeline_load(const char *file, const struct weir_override *sets, size_t nsets,
                       struct weir_pipeline **out, struct weir_diag *diag);

struct weir_load_opts {
    const struct weir_override *sets; /* --set overrides, applied in order */
    size_t nsets;
    /* Accept Kafka properties that load a library or run a command
     * (connectors/kafka_unsafe.h): --allow-unsafe-kafka-properties. Even
     * then, loading never hands them to librdkafka. */
    int allow_unsafe_kafka;
    /* --embedded: the source, and sinks with brokers of their own, use the
     * embedded cluster (weir_override_embedded), before the overrides. */
    int embedded;
    /* --replay PATH: the file's "replay" gets this path (its other options
     * kept), or is {"path": PATH} when it has none; before the overrides. */
    const char *replay_path;
    /* weir features / fit: a model operator whose model file is not there
     * yet (the first training) prepares from its "features", never to run. */
    int models_optional;
    /* The file's contents when they do not come from the file (tests,
     * fuzzing): file only names them in messages. NULL: read file. */
    const char *text;
    size_t len;
};

/* weir_pipeline_load with every choice spelled out; o may be NULL. */
int weir_pipeline_load_opts(const char *file, const struct weir_load_opts *o,
                            struct weir_pipeline **out, struct weir_diag *diag);
void weir_pipeline_free(struct weir_pipeline *pl);
/* The first operator that keeps keyed state, as its init() will decide
 * (the type's state options and keeps_state()), or -1. */
int weir_pipeline_keyed_op(const struct weir_pipeline *pl);
/* The option tables of the top level and of "state" (for the reference). */
const struct weir_option *weir_pipeline_top_options(void);
const struct weir_option *weir_pipeline_state_options(void);
/* The filled conf of the top-level section `name` ("replay"), or NULL when
 * the file has none. */
const void *weir_pipeline_section(const struct weir_pipeline *pl, const char *name);
/* Operator k's index in the file's "operators" (pl->ops may begin with an
 * implicit extract the file does not have: -1 for it), for messages. */
int weir_pipeline_file_op(const struct weir_pipeline *pl, size_t k);
/* "operators[N]" with N the file's index, or "operators (implicit extract)",
 * into buf; returns buf. */
const char *weir_pipeline_op_path(const struct weir_pipeline *pl, size_t k, char *buf, size_t n);

#endif
