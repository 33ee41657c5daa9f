/* A harness for operator tests: builds an operator the way the pipeline
 * loader does (options table, then the type's prepare against a real schema,
 * then init per worker) and feeds it batches from a real pool, so the tests
 * exercise the same code paths as a running pipeline without a loop, a
 * source or a sink. Header-only; each test binary includes it once. */
#ifndef WEIR_TEST_OP_HARNESS_H
#define WEIR_TEST_OP_HARNESS_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/buf.h"
#include "engine/diag.h"
#include "engine/error.h"
#include "engine/operator.h"
#include "engine/opstate.h"
#include "engine/option.h"
#include "engine/schema.h"

/* One operator built from JSON text. */
struct h_op {
    const struct weir_operator_type *type;
    json_t *raw;       /* owns the strings the conf and schema borrow */
    void *conf;
    struct weir_op op;
    int problems;      /* from options + prepare */
    int ready;         /* init succeeded */
};

/* A pipeline's shared parts: the columns and the diagnostics. */
struct h_pipe {
    struct weir_schema schema;
    struct weir_diag diag;
    int64_t lateness_ms; /* the pipeline's allowed_lateness, as prepare() sees it */
    int models_optional; /* prepared as weir features / fit do (engine/schema.h) */
};

static inline void h_pipe_init(struct h_pipe *p)
{
    memset(p, 0, sizeof *p);
    p->diag.file = "test.json";
    p->schema.event_time = 1; /* the records carry event times (h_build's callers set them) */
    p->schema.message_keys = 1; /* and may carry keys, as a Kafka source's */
}

static inline void h_pipe_free(struct h_pipe *p)
{
    weir_diag_free(&p->diag);
}

/* The last diagnostic, or "" when there is none. */
static inline const char *h_last_diag(const struct h_pipe *p)
{
    return p->diag.n ? p->diag.msgs[p->diag.n - 1] : "";
}

/* Declares feature `name` as written by a pretend operator at op_index (as
 * if a source or an earlier operator produced it). name must outlive p. */
static inline int h_feature(struct h_pipe *p, const char *name, int op_index)
{
    struct weir_prepare pr = {.schema = &p->schema, .diag = &p->diag, .path = "operators[0]",
                              .op_index = op_index};
    return weir_schema_feature_out(&pr, name, "operators[0]", 0);
}

/* Parses json, applies the type's option table and runs its prepare at
 * "operators[op_index]". Returns the number of problems (0 = ready for init). */
static inline int h_prepare(struct h_op *h, const struct weir_operator_type *type,
                            const char *json, struct h_pipe *p, int op_index)
{
    static const char *const ignore[] = {"type", NULL};
    char path[64];
    json_error_t jerr;
    memset(h, 0, sizeof *h);
    h->type = type;
    h->raw = json_loads(json, 0, &jerr);
    if (!h->raw) {
        fprintf(stderr, "test JSON does not parse: %s: %s\n", json, jerr.text);
        return h->problems = 1;
    }
    h->conf = calloc(1, type->conf_size);
    snprintf(path, sizeof path, "operators[%d]", op_index);
    h->problems = weir_options_apply(type->options, h->raw, h->conf, ignore, &p->diag, path);
    if (h->problems == 0) {
        struct weir_prepare pr = {.schema = &p->schema,
                                  .diag = &p->diag,
                                  .path = path,
                                  .op_index = op_index,
                                  .lateness_ms = p->lateness_ms,
                                  .models_optional = p->models_optional};
        h->problems = type->prepare(h->conf, h->raw, &pr);
    }
    h->op.type = type;
    h->op.conf = h->conf;
    h->op.index = op_index;
    return h->problems;
}

/* prepare + init; returns 0 when the operator is ready to process. */
static inline int h_build(struct h_op *h, const struct weir_operator_type *type,
                          const char *json, struct h_pipe *p, int op_index)
{
    if (h_prepare(h, type, json, p, op_index))
        return -1;
    struct weir_error err = {0};
    if (type->init && type->init(&h->op, &err) < 0) {
        fprintf(stderr, "init failed: %s\n", err.msg);
        return -1;
    }
    h->ready = 1;
    return 0;
}

/* A second worker's instance of an already prepared operator. */
static inline int h_clone(struct h_op *dst, const struct h_op *src)
{
    struct weir_error err = {0};
    memset(dst, 0, sizeof *dst);
    dst->type = src->type;
    dst->op = src->op;
    dst->op.state = NULL;
    dst->op.keyed = NULL;
    if (src->type->init && src->type->init(&dst->op, &err) < 0)
        return -1;
    dst->ready = 1;
    return 0;
}

static inline void h_free(struct h_op *h)
{
    if (h->ready && h->type->destroy)
        h->type->destroy(&h->op);
    weir_op_state_free(&h->op);
    if (h->conf) {
        if (h->type->release)
            h->type->release(h->conf);
        weir_options_release(h->type->options, h->conf);
        free(h->conf);
    }
    json_decref(h->raw);
    memset(h, 0, sizeof *h);
}

/* Frees an instance made by h_clone (the conf belongs to the original). */
static inline void h_free_clone(struct h_op *h)
{
    if (h->ready && h->type->destroy)
        h->type->destroy(&h->op);
    weir_op_state_free(&h->op);
    memset(h, 0, sizeof *h);
}

/* Moves partition part's keyed state from one instance to another through
 * a snapshot, as a restart or a rebalance does; 0 or -1. */
static inline int h_move_state(struct h_op *from, struct h_op *to, uint32_t part)
{
    struct weir_buf buf = {0};
    int rc = weir_op_snapshot(&from->op, part, &buf) == 0 &&
                     weir_op_restore(&to->op, part, buf.data, buf.len) == 0
                 ? 0
                 : -1;
    weir_buf_free(&buf);
    return rc;
}

static inline struct weir_batch_pool *h_pool(const struct h_pipe *p, uint32_t cap)
{
    struct weir_batch_pool *pool = NULL;
    if (weir_batch_pool_new(&pool, cap, p->schema.nfeat, p->schema.nstr) < 0)
        return NULL;
    return pool;
}

/* Appends a record whose raw value is a copy of text; returns its index. */
static inline int h_push_json(struct weir_batch *b, const char *text)
{
    int i = weir_batch_push(b);
    if (i < 0)
        return -1;
    size_t len = strlen(text);
    b->rec[i].value = weir_arena_strdup(&b->arena, text, len);
    b->rec[i].value_len = (uint32_t)len;
    b->rec[i].offset = i + 1;
    return i;
}

/* Appends a record with feature col set to v; returns its index. */
static inline int h_push_value(struct weir_batch *b, int col, float v)
{
    int i = weir_batch_push(b);
    if (i >= 0)
        weir_batch_row(b, (uint32_t)i)[col] = v;
    return i;
}

/* The string field col of record i as a NUL-terminated copy in buf. */
static inline const char *h_str(struct weir_batch *b, uint32_t i, int col, char *buf,
                                size_t size)
{
    const struct weir_str *s = &b->S[(size_t)i * b->nstr + col];
    if (!s->p)
        return NULL;
    snprintf(buf, size, "%.*s", (int)s->len, s->p);
    return buf;
}

/* Prepares type from json at operators[op_index], after the NULL-terminated
 * features were written by earlier operators, and checks that it fails with
 * exactly the diagnostic want, or (want NULL) that it succeeds. */
static inline void h_expect_prepare_error(const struct weir_operator_type *type,
                                          const char *const *features, int op_index,
                                          const char *json, const char *want)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    for (size_t i = 0; features && features[i]; i++)
        h_feature(&p, features[i], 0);
    int rc = h_prepare(&h, type, json, &p, op_index);
    if (want) {
        CHECK(rc > 0);
        CHECK_STR(h_last_diag(&p), want);
    } else {
        CHECK(rc == 0);
        if (rc)
            fprintf(stderr, "  refused: %s\n", h_last_diag(&p));
    }
    h_free(&h);
    h_pipe_free(&p);
}

#endif
