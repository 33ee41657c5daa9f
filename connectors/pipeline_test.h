/* `weir test`: a pipeline's unit tests, run through the real source and sink
 * code (docs/operations.md, "Testing a pipeline"). The pieces the command
 * (pipeline_test.c) shares with its case runner (pipeline_test_case.c) and
 * its Kafka side (pipeline_test_kafka.c). */
#ifndef WEIR_PIPELINE_TEST_H
#define WEIR_PIPELINE_TEST_H

#include "connectors/pipeline_test_match.h"
#include "engine/error.h"

#include <jansson.h>

struct weir_companion;

/* A case's "set" holds at most this many overrides. */
#define WEIR_PTEST_MAX_SETS 64

/* One test case, checked (pipeline_test.c) before any runs. */
struct weir_ptest_case {
    const char *name;
    const json_t *obj;      /* the case's object in the test file */
    const char *input_file; /* resolved beside the test file, or NULL */
    double tolerance;
    int allow_unsafe_kafka;
};

/* What a case's run wrote, per sink of the pipeline (in order), then its
 * dead letters; and the run's alert count. */
struct weir_ptest_result {
    struct weir_ptest_output *sinks; /* nsinks */
    size_t nsinks;
    struct weir_ptest_output dead;
    unsigned long long alerts, records_in;
};

/* Runs c against the pipeline file (root: its JSON, untouched) in a
 * temporary directory: the file source reads the case's input from a file
 * there, file sinks write there, Kafka sources and sinks use the embedded
 * cluster. Returns 0 with res filled, or -errno with err saying why the case
 * could not run (an invalid pipeline with the case's "set": its problems are
 * in err). */
int weir_ptest_case_run(const char *pipeline_file, const json_t *root,
                        const struct weir_ptest_case *c, struct weir_ptest_result *res,
                        struct weir_error *err);
void weir_ptest_result_free(struct weir_ptest_result *r);

/* Kafka (pipeline_test_kafka.c). A companion of the run that produces
 * messages (an array of [key, value] string pairs, borrowed) to topic on the
 * embedded cluster once the workers are up, and ends the run when the
 * workers have taken them all in (or fails it after timeout_s). */
struct weir_companion *weir_ptest_producer(const char *topic, const json_t *messages,
                                           double timeout_s, struct weir_error *err);
/* Reads every message of topic on the embedded cluster, partition by
 * partition, into out. Returns 0 or -errno with err filled. */
int weir_ptest_read_topic(const char *topic, struct weir_ptest_output *out, struct weir_error *err);

#endif
