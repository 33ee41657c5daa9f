/* Loading and validating a pipeline file (see pipeline.h). Validation runs to
 * the end and reports every problem, each with the file, the JSON path and
 * what was expected; nothing runs unless the whole file is valid. */
#include "engine/pipeline.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "engine/expand.h"
#include "engine/override.h"
#include "engine/sink_fields.h"

struct top_conf {
    const char *name;
    struct weir_strlist features;
    const json_t *source, *operators, *sinks, *dead_letter, *replay, *state, *http, *reload;
    uint64_t lateness_ns;
};

struct state_conf {
    const char *changelog;
    int durable;
};

static const struct weir_option state_options[] = {
    {"durable", WEIR_OPT_BOOL, "true",
     "restore keyed state when a partition is assigned and save it (Kafka: what changes, to a "
     "changelog topic; file runs: the whole store at the end, to --state-dir); false keeps state "
     "in memory for the run only",
     offsetof(struct state_conf, durable), 0, 0, 0, NULL},
    {"changelog", WEIR_OPT_STRING, NULL,
     "Kafka source: the compacted changelog topic (default \"weir-\" + name + \"-changelog\"); "
     "created when missing", offsetof(struct state_conf, changelog), 0, 0, 0, NULL},
    {0},
};

static const struct weir_option top_options[] = {
    {"name", WEIR_OPT_STRING, NULL, "pipeline name (headers, metrics, consumer group default)",
     offsetof(struct top_conf, name), 0, 0, 0, NULL},
    {"features", WEIR_OPT_STRINGS, NULL,
     "optional: the feature columns, in order; operators may only write these",
     offsetof(struct top_conf, features), 0, 0, 0, NULL},
    {"source", WEIR_OPT_JSON, NULL, "where records come from (an object with \"type\")",
     offsetof(struct top_conf, source), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"operators", WEIR_OPT_JSON, NULL, "the chain of operators, in order",
     offsetof(struct top_conf, operators), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"sinks", WEIR_OPT_JSON, NULL, "where results go (objects with \"type\")",
     offsetof(struct top_conf, sinks), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"dead_letter", WEIR_OPT_JSON, NULL,
     "where rejected records go, with their reason (default: standard error)",
     offsetof(struct top_conf, dead_letter), 0, 0, 0, NULL},
    {"replay", WEIR_OPT_JSON, NULL,
     "optional: produce a data file into the Kafka source's topic when the run starts "
     "(checked and run by connectors/replay.c)",
     offsetof(struct top_conf, replay), 0, 0, 0, NULL},
    {"http", WEIR_OPT_JSON, NULL,
     "optional: serve /metrics, /healthz, /readyz and a status page while the pipeline runs "
     "(see \"http\" below; docs/operations.md)",
     offsetof(struct top_conf, http), 0, 0, 0, NULL},
    {"reload", WEIR_OPT_JSON, NULL,
     "optional: reload the pipeline when this file changes (see \"reload\" below; "
     "docs/operations.md)",
     offsetof(struct top_conf, reload), 0, 0, 0, NULL},
    {"allowed_lateness", WEIR_OPT_DURATION, "\"0s\"",
     "event time: each partition's watermark is its largest event time minus this (needs "
     "records with an event time)",
     offsetof(struct top_conf, lateness_ns), 0, 0, 0, NULL},
    {"state", WEIR_OPT_JSON, NULL,
     "where stateful operators' keyed state is kept (see \"state\" below)",
     offsetof(struct top_conf, state), 0, 0, 0, NULL},
    {0},
};

struct source_common {
    int64_t max_records;
};

const struct weir_option weir_source_common_options[] = {
    {"type", WEIR_OPT_STRING, NULL, "the source type", 0, WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"max_records", WEIR_OPT_INT, "1024", "records per batch",
     offsetof(struct source_common, max_records), WEIR_OPT_RANGE, 1, 1 << 20, NULL},
    {0},
};

struct sink_common {
    const char *type; /* the table's "type" row fills offset 0 */
    const char *when;
    struct weir_strlist fields, exclude;
};

const struct weir_option weir_sink_common_options[] = {
    {"type", WEIR_OPT_STRING, NULL, "the sink type", 0, WEIR_OPT_REQUIRED, 0, 0, NULL},
    /* No default in the table: a string default would be stored into the
     * sink's object and then look like an unknown key to the type's table. */
    {"when", WEIR_OPT_STRING, NULL,
     "which records: all (the default), alert (alerts only), normal (no alert), or a condition "
     "over the record's fields (docs/expressions.md), e.g. \"amount > 100 and country != 'FR'\"",
     offsetof(struct sink_common, when), 0, 0, 0, NULL},
    {"fields", WEIR_OPT_STRINGS, NULL,
     "keep only these fields, of the input object and the computed ones alike ('*' and '?' are "
     "wildcards: \"V*\"); default: the whole input, every feature an operator other than "
     "extract writes, strings operators show, and \"alert\"",
     offsetof(struct sink_common, fields), 0, 0, 0, NULL},
    {"exclude", WEIR_OPT_STRINGS, NULL,
     "drop these fields (wildcards too), of the input and the computed ones alike; beats "
     "\"fields\" (labels: [\"TX_FRAUD*\"])",
     offsetof(struct sink_common, exclude), 0, 0, 0, NULL},
    {0},
};

/* Every key of obj, NULL-terminated: as an ignore list it turns apply()'s
 * unknown-key check off, for weir_options_check_unknown to do it once over
 * the common table and the type's table together. */
static void keys_of(const json_t *obj, const char **out, size_t cap)
{
    const char *key;
    json_t *v;
    size_t k = 0;
    json_object_foreach((json_t *)obj, key, v) {
        if (k + 1 < cap)
            out[k++] = key;
    }
    out[k] = NULL;
}

/* The "type" of a stage: present, a string, and a known name. */
static const char *stage_type(const json_t *obj, const char *path, const char *what,
                              const char *const *known, size_t nknown, struct weir_diag *d)
{
    char kp[256];
    const json_t *t = json_is_object(obj) ? json_object_get(obj, "type") : NULL;
    if (!json_is_object(obj)) {
        weir_diag_add(d, path, "expected an object with a \"type\"");
        return NULL;
    }
    if (!t) {
        weir_diag_add(d, path, "missing required option \"type\"");
        return NULL;
    }
    if (!json_is_string(t)) {
        char got[64];
        char *text = json_dumps(t, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf(got, sizeof got, "%s", text ? text : "?");
        free(text);
        weir_diag_add(d, weir_path_key(kp, sizeof kp, path, "type"), "expected a string, got %s", got);
        return NULL;
    }
    const char *name = json_string_value(t);
    for (size_t i = 0; i < nknown; i++)
        if (strcmp(known[i], name) == 0)
            return name;
    const char *close = weir_did_you_mean(name, known, nknown);
    char list[512] = "";
    for (size_t i = 0, o = 0; i < nknown && o < sizeof list - 2; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", known[i]);
    if (close)
        weir_diag_add(d, weir_path_key(kp, sizeof kp, path, "type"),
                      "unknown %s type \"%s\" (did you mean \"%s\"?)", what, name, close);
    else
        weir_diag_add(d, weir_path_key(kp, sizeof kp, path, "type"),
                      "unknown %s type \"%s\"; expected one of: %s", what, name, list);
    return NULL;
}

/* Keeps obj, a stage the loader made up, in pl->made for the pipeline's
 * lifetime; returns it (borrowed), or NULL when out of memory. Takes obj in
 * either case (jansson drops it when the append fails). */
static json_t *keep_made(struct weir_pipeline *pl, json_t *obj)
{
    if (!pl->made)
        pl->made = json_array();
    return json_array_append_new(pl->made, obj) == 0 ? obj : NULL;
}

static int load_source(struct weir_pipeline *pl, const json_t *obj, struct weir_prepare *p)
{
    const char *names[32];
    size_t n = 0;
    for (const struct weir_source_type *const *t = weir_source_types(); *t && n < 32; t++)
        names[n++] = (*t)->name;
    const char *name = stage_type(obj, "source", "source", names, n, p->diag);
    if (!name)
        return 1;
    pl->source_type = weir_source_find(name);
    pl->source_conf = calloc(1, pl->source_type->conf_size);
    if (!pl->source_conf) {
        weir_diag_add(p->diag, "source", "out of memory");
        return 1;
    }
    struct source_common common = {0};
    /* Unknown keys are checked once against both tables; then each table
     * fills its own struct and ignores every other key. */
    const char *keys[64];
    keys_of(obj, keys, 64);
    const struct weir_option *tables[] = {weir_source_common_options, pl->source_type->options};
    int bad = weir_options_check_unknown(tables, 2, obj, p->diag, "source");
    bad += weir_options_apply(weir_source_common_options, obj, &common, keys, p->diag, "source");
    pl->max_records = (uint32_t)common.max_records;
    bad += weir_options_apply(pl->source_type->options, obj, pl->source_conf, keys, p->diag,
                              "source");
    p->path = "source";
    p->schema->event_time = pl->source_type->timestamps;
    p->schema->message_keys = pl->source_type->message_keys;
    if (!bad && pl->source_type->prepare)
        bad = pl->source_type->prepare(pl->source_conf, obj, p);
    return bad;
}

static int load_op(struct weir_stage_op *st, const json_t *obj, struct weir_prepare *p)
{
    const char *names[64];
    size_t n = 0;
    for (const struct weir_operator_type *const *t = weir_operator_types(); *t && n < 64; t++)
        names[n++] = (*t)->name;
    const char *name = stage_type(obj, p->path, "operator", names, n, p->diag);
    if (!name)
        return 1;
    st->type = weir_operator_find(name);
    st->conf = calloc(1, st->type->conf_size ? st->type->conf_size : 1);
    if (!st->conf) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    static const char *const ignore[] = {"type", NULL};
    int bad = weir_options_apply(st->type->options, obj, st->conf, ignore, p->diag, p->path);
    p->schema->reads = 0;
    if (!bad && st->type->prepare)
        bad = st->type->prepare(st->conf, obj, p);
    st->read_deps = p->schema->reads;
    weir_schema_op_prepared(p->schema, p->op_index, st->type->reads_declared);
    return bad;
}

/* The first operator must validate records as JSON objects: without an extract
 * there, weir adds an empty one (it only validates). */
static int add_implicit_extract(struct weir_pipeline *pl, struct weir_prepare *p)
{
    p->path = "operators (implicit extract)";
    p->op_index = 0;
    json_t *obj = keep_made(pl, json_pack("{s:s, s:{}}", "type", "extract", "fields"));
    if (!obj) {
        weir_diag_add(p->diag, p->path, "out of memory");
        return 1;
    }
    return load_op(&pl->ops[0], obj, p);
}

static int load_ops(struct weir_pipeline *pl, const json_t *arr, struct weir_prepare *p)
{
    if (!json_is_array(arr)) {
        weir_diag_add(p->diag, "operators", "expected an array of operator objects");
        return 1;
    }
    size_t n = json_array_size(arr);
    const json_t *first = json_array_get(arr, 0);
    const json_t *t0 = json_is_object(first) ? json_object_get(first, "type") : NULL;
    int implicit = !(json_is_string(t0) && strcmp(json_string_value(t0), "extract") == 0);
    pl->ops = calloc(n + (size_t)implicit + 1, sizeof *pl->ops);
    if (!pl->ops) {
        weir_diag_add(p->diag, "operators", "out of memory");
        return 1;
    }
    pl->nops = n + (size_t)implicit;
    int bad = implicit ? add_implicit_extract(pl, p) : 0;
    char path[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "operators[%zu]", i);
        p->path = path;
        p->op_index = (int)i;
        struct weir_stage_op *st = &pl->ops[i + (size_t)implicit];
        int obad = load_op(st, json_array_get(arr, i), p);
        bad += obad;
        p->upstream_bad |= obad > 0;
        if (obad && p->nfailed++ < WEIR_FAILED_MAX)
            p->failed[p->nfailed - 1] = (struct weir_failed_op){
                (int)i, json_array_get(arr, i), st->type ? st->type->options : NULL};
    }
    return bad;
}

/* "when": a fixed choice, or a condition compiled against every column. */
static int sink_when(struct weir_stage_sink *st, const char *when, struct weir_prepare *p,
                     const char *path)
{
    static const char *const fixed[] = {"all", "alert", "normal"};
    static const enum weir_when value[] = {WEIR_WHEN_ALL, WEIR_WHEN_ALERT, WEIR_WHEN_NORMAL};
    char wp[256];
    weir_path_key(wp, sizeof wp, path, "when");
    for (size_t k = 0; k < 3; k++) {
        if (strcmp(when, fixed[k]) == 0) {
            st->when = value[k];
            return 0;
        }
    }
    /* A lone word that names no column is a misspelt choice, not a condition. */
    size_t n = strspn(when, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
    int column = weir_schema_find_feature(p->schema, when) >= 0;
    for (uint32_t k = 0; k < p->schema->nstr && !column; k++)
        column = strcmp(p->schema->str[k].name, when) == 0;
    if (when[n] == '\0' && !column && strcmp(when, "true") != 0 && strcmp(when, "false") != 0) {
        weir_diag_add(p->diag, wp, "expected \"all\", \"alert\", \"normal\" or a condition, got \"%s\"",
                      when);
        return 1;
    }
    st->when_expr = weir_expr_compile_as(when, p, wp, 1u << WEIR_EXPR_BOOL, "a condition (a bool)");
    if (!st->when_expr)
        return 1;
    st->when = WEIR_WHEN_EXPR;
    return 0;
}

static int load_sink(struct weir_pipeline *pl, struct weir_stage_sink *st, const json_t *obj,
                     const char *path, struct weir_prepare *p, int dead)
{
    const char *names[32];
    size_t n = 0;
    for (const struct weir_sink_type *const *t = weir_sink_types(); *t && n < 32; t++)
        names[n++] = (*t)->name;
    const char *name = stage_type(obj, path, "sink", names, n, p->diag);
    if (!name)
        return 1;
    st->type = weir_sink_find(name);
    st->conf = calloc(1, st->type->conf_size);
    if (!st->conf) {
        weir_diag_add(p->diag, path, "out of memory");
        return 1;
    }
    struct sink_common common = {0};
    const char *keys[64];
    keys_of(obj, keys, 64);
    static const struct weir_option dead_common[] = {
        {"type", WEIR_OPT_STRING, NULL, "the sink type", 0, WEIR_OPT_REQUIRED, 0, 0, NULL},
        {0},
    };
    const struct weir_option *tables[] = {dead ? dead_common : weir_sink_common_options,
                                          st->type->options};
    int bad = weir_options_check_unknown(tables, 2, obj, p->diag, path);
    /* Every problem at once: the type's checks run when its options were
     * read, the projection's when the common ones were, whatever else. */
    int bad_common =
        dead ? 0 : weir_options_apply(weir_sink_common_options, obj, &common, keys, p->diag, path);
    int bad_type = weir_options_apply(st->type->options, obj, st->conf, keys, p->diag, path);
    bad += bad_common + bad_type;
    p->path = path;
    p->op_index = -1;
    st->when = WEIR_WHEN_DEAD;
    if (!dead)
        bad += sink_when(st, common.when ? common.when : "all", p, path);
    if (!bad_type && st->type->prepare)
        bad += st->type->prepare(st->conf, obj, p);
    if (!bad_common && !dead)
        bad += weir_sink_fields_resolve(st, &common.fields, &common.exclude, &pl->schema, p->diag,
                                        path, p);
    if (!bad && !dead && weir_output_keys(&st->output) < 0) {
        weir_diag_add(p->diag, path, "out of memory");
        bad++;
    }
    weir_options_release(weir_sink_common_options, &common);
    return bad;
}

static int load_dead(struct weir_pipeline *pl, const json_t *dead, struct weir_prepare *p)
{
    if (!dead) { /* nothing is dropped silently: rejects go to standard error by default */
        dead = keep_made(
            pl, json_pack("{s:s, s:s, s:b}", "type", "file", "path", "/dev/stderr", "append", 1));
        if (!dead) {
            weir_diag_add(p->diag, "dead_letter", "out of memory");
            return 1;
        }
    }
    return load_sink(pl, &pl->dead, dead, "dead_letter", p, 1);
}

static int load_sinks(struct weir_pipeline *pl, const json_t *arr, const json_t *dead,
                      struct weir_prepare *p)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        weir_diag_add(p->diag, "sinks", "expected a non-empty array of sink objects");
        return 1 + (dead ? load_dead(pl, dead, p) : 0); /* its problems too, at once */
    }
    pl->sinks = calloc(json_array_size(arr), sizeof *pl->sinks);
    if (!pl->sinks) {
        weir_diag_add(p->diag, "sinks", "out of memory");
        return 1;
    }
    pl->nsinks = json_array_size(arr);
    int bad = 0;
    char path[64];
    for (size_t i = 0; i < pl->nsinks; i++) {
        snprintf(path, sizeof path, "sinks[%zu]", i);
        bad += load_sink(pl, &pl->sinks[i], json_array_get(arr, i), path, p, 0);
    }
    return bad + load_dead(pl, dead, p);
}

static int declare_features(struct weir_pipeline *pl, const struct weir_strlist *f,
                            struct weir_diag *d)
{
    int bad = 0;
    char ip[64];
    uint32_t n = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (!f->v[i])
            continue; /* not a string: reported already */
        size_t j = 0;
        while (j < i && !(f->v[j] && strcmp(f->v[i], f->v[j]) == 0))
            j++;
        if (j < i) {
            weir_diag_add(d, weir_path_index(ip, sizeof ip, "features", i),
                          "duplicate feature \"%s\"", f->v[i]);
            bad++;
            continue;
        }
        if (n == WEIR_SCHEMA_MAX) {
            weir_diag_add(d, "features", "expected at most %d features, got %zu", WEIR_SCHEMA_MAX,
                          f->n);
            bad++;
            break;
        }
        pl->schema.feat[n].name = f->v[i];
        pl->schema.feat[n++].producer = -1;
    }
    pl->schema.nfeat = n;
    pl->schema.declared = f->n > 0;
    return bad;
}

/* Top-level sections the connectors declare ("replay"): loaded and checked
 * like a stage, acted on by whoever runs the pipeline. */
static int load_sections(struct weir_pipeline *pl, struct weir_diag *d)
{
    static const char *const none[] = {NULL};
    const struct weir_section_type *const *types = weir_section_types();
    size_t n = 0;
    while (types[n])
        n++;
    pl->sections = calloc(n ? n : 1, sizeof *pl->sections);
    if (!pl->sections) {
        weir_diag_add(d, "", "out of memory");
        return 1;
    }
    int bad = 0;
    for (size_t k = 0; k < n; k++) {
        const json_t *obj = json_object_get(pl->root, types[k]->name);
        if (!obj)
            continue;
        struct weir_stage_section *st = &pl->sections[pl->nsections++];
        st->type = types[k];
        if (!(st->conf = calloc(1, types[k]->conf_size ? types[k]->conf_size : 1))) {
            weir_diag_add(d, types[k]->name, "out of memory");
            return bad + 1;
        }
        int b = weir_options_apply(types[k]->options, obj, st->conf, none, d, types[k]->name);
        if (!b && types[k]->check)
            b = types[k]->check(st->conf, pl, d);
        bad += b;
    }
    return bad;
}

int weir_pipeline_file_op(const struct weir_pipeline *pl, size_t k)
{
    size_t in_file = json_array_size(json_object_get(pl->root, "operators"));
    size_t made = pl->nops > in_file ? pl->nops - in_file : 0;
    return (int)k - (int)made;
}

const char *weir_pipeline_op_path(const struct weir_pipeline *pl, size_t k, char *buf, size_t n)
{
    int at = weir_pipeline_file_op(pl, k);
    if (at < 0)
        snprintf(buf, n, "operators (implicit extract)");
    else
        snprintf(buf, n, "operators[%d]", at);
    return buf;
}

const void *weir_pipeline_section(const struct weir_pipeline *pl, const char *name)
{
    for (size_t k = 0; k < pl->nsections; k++)
        if (strcmp(pl->sections[k].type->name, name) == 0)
            return pl->sections[k].conf;
    return NULL;
}

static int load_state(struct weir_pipeline *pl, const json_t *obj, struct weir_diag *d)
{
    static const char *const none[] = {NULL};
    struct state_conf sc = {0};
    pl->state_durable = 1;
    if (!obj) {
        snprintf(pl->state_topic_buf, sizeof pl->state_topic_buf, "weir-%s-changelog", pl->name);
        pl->state_topic = pl->state_topic_buf;
        return 0;
    }
    if (!json_is_object(obj)) {
        weir_diag_add(d, "state", "expected an object");
        return 1;
    }
    int bad = weir_options_apply(state_options, obj, &sc, none, d, "state");
    pl->state_durable = sc.durable;
    if (sc.changelog)
        snprintf(pl->state_topic_buf, sizeof pl->state_topic_buf, "%s", sc.changelog);
    else
        snprintf(pl->state_topic_buf, sizeof pl->state_topic_buf, "weir-%s-changelog", pl->name);
    pl->state_topic = pl->state_topic_buf;
    weir_options_release(state_options, &sc);
    return bad;
}

const struct weir_option *weir_pipeline_state_options(void)
{
    return state_options;
}

const struct weir_option *weir_pipeline_top_options(void)
{
    return top_options;
}

/* Whether an operator's "fields" object has a key with a wildcard (extract's
 * "V*"): only then does a JSON Lines source sample its first records at load. */
static int wants_input_names(const json_t *ops)
{
    size_t i;
    const json_t *op;
    json_array_foreach(ops, i, op) {
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)json_object_get(op, "fields"), key, v) {
            if (strchr(key, '*') || strchr(key, '?'))
                return 1;
        }
    }
    return 0;
}

static const char *const kafka_state_only[] = {"changelog", NULL};

static int load_root(struct weir_pipeline *pl, const struct weir_load_opts *o,
                     struct weir_diag *d)
{
    struct top_conf top = {0};
    static const char *const none[] = {NULL};
    /* `weir validate` over a folder's *.json meets the test files there:
     * one line that says what they are, not five about a missing pipeline */
    if (json_object_get(pl->root, "tests") && json_object_get(pl->root, "pipeline") &&
        !json_object_get(pl->root, "source")) {
        weir_diag_add(d, "",
                      "a test file (\"pipeline\" and \"tests\"), not a pipeline: run "
                      "it with `weir test`");
        return 1;
    }
    /* Problems at the top level do not stop the stages from being checked:
     * every problem is reported in one go. */
    int bad = weir_options_apply(top_options, pl->root, &top, none, d, "");
    pl->name = top.name ? top.name : "weir";
    pl->lateness_ns = top.lateness_ns;
    bad += load_state(pl, top.state, d);
    bad += declare_features(pl, &top.features, d);
    struct weir_prepare p = {.schema = &pl->schema, .diag = d, .path = "", .op_index = -1,
                             .file = pl->file, .sets = o->sets, .nsets = o->nsets,
                             .allow_unsafe_kafka = o->allow_unsafe_kafka,
                             .models_optional = o->models_optional,
                             .lateness_ms = (int64_t)(top.lateness_ns / 1000000u),
                             .wants_input_names = wants_input_names(top.operators)};
    /* Until a source says what its records carry, nothing is known: the
     * operators say nothing of it (it would be a consequence). */
    pl->schema.event_time = pl->schema.message_keys = 1;
    /* The source's check() compares it with the sinks: it runs once both
     * loaded, whatever else is wrong, so that its problems come in this
     * round too, not after the others are mended. */
    int ends_bad = top.source ? load_source(pl, top.source, &p) : 1;
    bad += ends_bad;
    if (pl->source_type && !pl->source_type->durable && json_is_object(top.state))
        bad += weir_options_only_with(top.state, state_options, kafka_state_only, 0,
                                      "a Kafka source (a file run keeps keyed state in "
                                      "--state-dir)", d, "state");
    if (top.operators)
        bad += load_ops(pl, top.operators, &p);
    else
        p.upstream_bad = 1; /* the sinks' fields cannot be checked */
    p.path = "";
    if (top.lateness_ns && !p.upstream_bad) /* the source's event time, or an extract's */
        bad += weir_schema_event_time(&p, "allowed_lateness", "there is no watermark to hold back");
    if (top.sinks) {
        int b = load_sinks(pl, top.sinks, top.dead_letter, &p);
        bad += b;
        ends_bad += b;
    } else {
        ends_bad++;
        bad += top.dead_letter ? load_dead(pl, top.dead_letter, &p) : 0; /* its problems too */
    }
    bad += load_sections(pl, d);
    if (!ends_bad && pl->source_type && pl->source_type->check)
        bad += pl->source_type->check(pl->source_conf, pl, d);
    weir_options_release(top_options, &top);
    return bad;
}

/* --replay PATH, on the text each load reads (a reload's, each file
 * validate is given, standard input's): the replay options it has stay. */
static int replay_shorthand(json_t *root, const char *path, struct weir_diag *d)
{
    json_t *replay = json_object_get(root, "replay"), *v = json_string(path);
    int rc = !v ? -1
             : json_is_object(replay)
                 ? json_object_set_new(replay, "path", v)
                 : json_object_set_new(root, "replay", json_pack("{s:o}", "path", v));
    if (rc == 0)
        return 0;
    weir_diag_add(d, "--replay", "expected a path in UTF-8 text, got \"%s\"", path);
    return 1;
}

int weir_pipeline_load(const char *file, const struct weir_override *sets, size_t nsets,
                       struct weir_pipeline **out, struct weir_diag *diag)
{
    struct weir_load_opts o = {.sets = sets, .nsets = nsets};
    return weir_pipeline_load_opts(file, &o, out, diag);
}

int weir_pipeline_load_opts(const char *file, const struct weir_load_opts *o,
                            struct weir_pipeline **out, struct weir_diag *diag)
{
    static const struct weir_load_opts defaults = {0};
    o = o ? o : &defaults;
    struct weir_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl)
        return -ENOMEM;
    pl->file = strdup(file);
    if (!pl->file) {
        free(pl);
        return -ENOMEM;
    }
    diag->file = file; /* not pl->file: the caller may add to diag after a failure freed pl */
    struct stat st;
    if (!o->text && stat(file, &st) == 0 && S_ISDIR(st.st_mode)) { /* jansson: "near end of file" */
        weir_diag_add(diag, "",
                      "cannot read the file: it is a directory (a pipeline is a JSON "
                      "file)");
        weir_pipeline_free(pl);
        return -EISDIR;
    }
    json_error_t jerr;
    pl->root = o->text ? json_loadb(o->text, o->len, JSON_REJECT_DUPLICATES, &jerr)
                       : json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!pl->root) {
        int rc = json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM
                 : jerr.line < 0 && jerr.position == 0              ? -ENOENT
                                                                    : -EINVAL;
        if (rc == -ENOMEM)
            weir_diag_add(diag, "", "out of memory reading the file");
        else if (rc == -ENOENT)
            weir_diag_add(diag, "", "cannot read the file: %s", jerr.text);
        else
            weir_diag_add(diag, "", "line %d, column %d: invalid JSON: %s", jerr.line, jerr.column,
                          jerr.text);
        weir_pipeline_free(pl);
        return rc;
    }
    if (!json_is_object(pl->root)) {
        weir_diag_add(diag, "", "expected a JSON object at the top level");
        weir_pipeline_free(pl);
        return -EINVAL;
    }
    int bad = 0;
    const char *not_kafka = o->embedded ? weir_override_embedded(pl->root) : NULL;
    if (not_kafka) {
        weir_diag_add(diag, "source.type",
                      "--embedded is for a Kafka source (\"kafka\"), got \"%s\"", not_kafka);
        bad++;
    }
    if (o->replay_path)
        bad += replay_shorthand(pl->root, o->replay_path, diag);
    /* A --set that did not apply or a ${VAR} that is not set leaves its
     * value as the file wrote it: the rest is still checked, every problem
     * said in one go, with what follows from those values muted. */
    for (size_t i = 0; i < o->nsets; i++)
        if (weir_override_apply(pl->root, &o->sets[i], diag)) {
            weir_diag_mute(diag, o->sets[i].path);
            bad++;
        }
    bad += weir_expand_strings(pl->root, pl->file, o->sets, o->nsets, diag);
    bad += load_root(pl, o, diag);
    if (bad) {
        weir_pipeline_free(pl);
        return -EINVAL;
    }
    *out = pl;
    return 0;
}

static void free_stage(const struct weir_option *opts, void (*release)(void *), void *conf)
{
    if (!conf)
        return;
    if (release)
        release(conf);
    weir_options_release(opts, conf);
    free(conf);
}

void weir_pipeline_free(struct weir_pipeline *pl)
{
    if (!pl)
        return;
    if (pl->source_type)
        free_stage(pl->source_type->options, pl->source_type->release, pl->source_conf);
    for (size_t i = 0; i < pl->nops; i++)
        if (pl->ops[i].type)
            free_stage(pl->ops[i].type->options, pl->ops[i].type->release, pl->ops[i].conf);
    free(pl->ops);
    for (size_t i = 0; i <= pl->nsinks; i++) {
        struct weir_stage_sink *st = i < pl->nsinks ? &pl->sinks[i] : &pl->dead;
        if (st->type)
            free_stage(st->type->options, st->type->release, st->conf);
        weir_output_free(&st->output);
        weir_expr_free(st->when_expr);
    }
    free(pl->sinks);
    json_decref(pl->made);
    for (size_t i = 0; i < pl->nsections; i++)
        free_stage(pl->sections[i].type->options, NULL, pl->sections[i].conf);
    free(pl->sections);
    for (uint32_t k = 0; k < pl->schema.ninput; k++)
        free(pl->schema.input[k]);
    free(pl->schema.input);
    json_decref(pl->root);
    free(pl->file);
    free(pl);
}
