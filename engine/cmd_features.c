/* weir features PIPELINE --out FILE: see engine/features.h.
 *
 * The pipeline is loaded whole (so that every option, --set and model file is
 * checked as `weir run` checks it); then, for the run only, its operator
 * chain ends before the first operator that serves a model file weir fit
 * trains (a `model` operator, an iforest with "model": the type's
 * model_inputs, engine/operator.h) and its sinks are replaced by
 * the CSV writer below (the dead-letter sink by a counter). Everything is put
 * back before the pipeline is freed. One worker: records come out in the
 * order the source read them, run after run. */
#include "engine/features.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/connector.h"
#include "engine/buf.h"
#include "engine/jsonw.h"
#include "engine/override.h"
#include "engine/run.h"

struct column {
    const char *name;
    int is_string; /* a string field (labels only) */
    int idx;
};

/* The state of the replacement sinks (one worker: no locking). */
struct csv_out {
    FILE *f;
    struct column *col; /* labels first, then features */
    size_t ncol;
    int64_t until_ms;
    struct weir_buf line;
    struct weir_features_result *res;
};

static void put_csv_string(struct weir_buf *b, const char *p, size_t n)
{
    int quote = n == 0 ? 0 : memchr(p, ',', n) || memchr(p, '"', n) || memchr(p, '\n', n) ||
                                  memchr(p, '\r', n);
    if (!quote) {
        weir_buf_append(b, p, n);
        return;
    }
    weir_buf_append(b, "\"", 1);
    for (size_t k = 0; k < n; k++) {
        if (p[k] == '"')
            weir_buf_append(b, "\"", 1);
        weir_buf_append(b, p + k, 1);
    }
    weir_buf_append(b, "\"", 1);
}

/* The float the pipeline holds, written so that it reads back exactly; NaN
 * (missing) is an empty field, infinities are inf and -inf. */
static void put_value(struct weir_buf *b, float v)
{
    if (isnan(v))
        return;
    if (isinf(v))
        weir_buf_append(b, v > 0 ? "inf" : "-inf", v > 0 ? 3 : 4);
    else
        weir_jsonw_double(b, v);
}

static int csv_open(struct weir_sink *s, struct weir_error *err)
{
    s->state = (void *)s->conf;
    return 0;
}

/* ", N without an event time, which --until cannot place": a pipeline
 * without one writes nothing under --until, and must say why. */
static const char *untimed_clause(const struct weir_features_result *r)
{
    static char clause[96];
    clause[0] = 0;
    if (r->untimed)
        snprintf(clause, sizeof clause, "; %llu without an event time, which --until cannot place",
                 (unsigned long long)r->untimed);
    return clause;
}

static int csv_write(struct weir_sink *s, struct weir_batch *b, struct weir_ticket *t)
{
    struct csv_out *o = s->state;
    for (uint32_t i = 0; i < b->n; i++) {
        if (!weir_sink_wants(s, b, i))
            continue;
        int64_t ts = b->rec[i].ts_ms;
        if (o->until_ms != INT64_MAX && (ts < 0 || ts >= o->until_ms)) {
            if (ts < 0)
                o->res->untimed++;
            else
                o->res->late++;
            continue;
        }
        struct weir_buf *l = &o->line;
        weir_buf_reset(l);
        if (ts >= 0) {
            char num[24];
            weir_buf_append(l, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)ts));
        }
        const float *x = b->X + (size_t)i * b->stride;
        for (size_t k = 0; k < o->ncol; k++) {
            weir_buf_append(l, ",", 1);
            const struct column *c = &o->col[k];
            if (!c->is_string) {
                put_value(l, x[c->idx]);
                continue;
            }
            const struct weir_str *v = &b->S[(size_t)i * b->nstr + (size_t)c->idx];
            if (v->p)
                put_csv_string(l, v->p, v->len);
        }
        if (weir_buf_append(l, "\n", 1) < 0)
            return -ENOMEM;
        if (fwrite(l->data, 1, l->len, o->f) != l->len)
            return -EIO;
        o->res->rows++;
    }
    return 0;
}

static int csv_flush(struct weir_sink *s)
{
    return 0; /* written synchronously: nothing in flight */
}

static void csv_close(struct weir_sink *s)
{
}

static int dead_write(struct weir_sink *s, struct weir_batch *b, struct weir_ticket *t)
{
    struct csv_out *o = s->state;
    for (uint32_t i = 0; i < b->n; i++)
        o->res->dead += weir_sink_wants(s, b, i) != 0;
    return 0;
}

static const struct weir_sink_type csv_sink = {
    .name = "features-csv", .open = csv_open, .write = csv_write, .flush = csv_flush,
    .close = csv_close};
static const struct weir_sink_type dead_counter = {
    .name = "features-dead", .open = csv_open, .write = dead_write, .flush = csv_flush,
    .close = csv_close};

/* ---- choosing the columns ------------------------------------------------- */

/* Whether operators[k] serves a model file weir fit trains (a `model`
 * operator, an iforest with "model"): its inputs, else -1. */
static int model_inputs(const struct weir_pipeline *pl, size_t k, const int **col)
{
    const struct weir_operator_type *t = pl->ops[k].type;
    return t->model_inputs ? t->model_inputs(pl->ops[k].conf, col) : -1;
}

/* The cut: the first operator of type `scorer` that serves a model, else the
 * first that serves one, else none (nops). */
static size_t first_model(const struct weir_pipeline *pl, const char *scorer)
{
    const int *col;
    for (size_t k = 0; scorer && k < pl->nops; k++)
        if (strcmp(pl->ops[k].type->name, scorer) == 0 && model_inputs(pl, k, &col) >= 0)
            return k;
    for (size_t k = 0; k < pl->nops; k++)
        if (model_inputs(pl, k, &col) >= 0)
            return k;
    return pl->nops;
}

static int add_feature(const struct weir_pipeline *pl, size_t cut, const char *name,
                       struct column *c, struct weir_error *err)
{
    int idx = weir_schema_find_feature(&pl->schema, name);
    if (idx < 0)
        return weir_error_set(err, -EINVAL, "%s computes no numeric feature \"%s\"", pl->file,
                              name);
    int by = pl->schema.feat[idx].producer;
    if (by < 0 || (size_t)by >= cut)
        return weir_error_set(err, -EINVAL, "feature \"%s\" is computed by operators[%d], at or "
                              "after the model (operators[%zu]): expected a feature computed "
                              "before it", name, by, cut);
    *c = (struct column){.name = name, .idx = idx};
    return 0;
}

static int add_label(const struct weir_pipeline *pl, size_t cut, const char *name,
                     struct column *c, struct weir_error *err)
{
    if (weir_schema_find_feature(&pl->schema, name) >= 0)
        return add_feature(pl, cut, name, c, err);
    for (uint32_t k = 0; k < pl->schema.nstr; k++) {
        const struct weir_column *s = &pl->schema.str[k];
        if (strcmp(s->name, name) != 0)
            continue;
        if (s->producer < 0 || (size_t)s->producer >= cut)
            return weir_error_set(err, -EINVAL, "label \"%s\" is written at or after the model "
                                  "(operators[%zu])", name, cut);
        *c = (struct column){.name = name, .is_string = 1, .idx = (int)k};
        return 0;
    }
    return weir_error_set(err, -EINVAL, "label \"%s\": %s computes no such feature or string "
                          "field (an extract operator names the input fields it reads)",
                          name, pl->file);
}

static int is_label(const struct weir_features_opts *o, const char *name)
{
    for (size_t k = 0; k < o->nlabels; k++)
        if (strcmp(o->labels[k], name) == 0)
            return 1;
    return 0;
}

/* The feature columns: --features, else the first model's inputs, else
 * (or with --all) every feature computed before the cut but the labels. */
static int choose_features(const struct weir_features_opts *o, const struct weir_pipeline *pl,
                           size_t cut, struct column *col, size_t *n, struct weir_error *err)
{
    if (o->features) {
        char *list = strdup(o->features), *save = NULL;
        if (!list)
            return weir_error_set(err, -ENOMEM, "out of memory");
        int rc = 0;
        for (char *t = strtok_r(list, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
            if (*n == WEIR_SCHEMA_MAX) {
                rc = weir_error_set(err, -EINVAL, "too many features");
            } else if (is_label(o, t)) { /* written twice, it would be trained on */
                rc = weir_error_set(err, -EINVAL, "--features: %s is a --label, not a feature", t);
            } else if ((rc = add_feature(pl, cut, t, &col[*n], err)) == 0) {
                col[*n].name = pl->schema.feat[col[*n].idx].name; /* outlives list */
                (*n)++;
            }
        }
        free(list);
        return rc;
    }
    if (cut < pl->nops && !o->all) { /* the inputs of the model at the cut, in its order */
        const int *in;
        int nin = model_inputs(pl, cut, &in);
        for (int k = 0; k < nin; k++) {
            const char *name = pl->schema.feat[in[k]].name;
            if (is_label(o, name)) /* a model that reads its label learns the label */
                return weir_error_set(err, -EINVAL,
                                      "operators[%zu] (%s) reads %s, the label: a model "
                                      "trained on its own label learns nothing it can serve; "
                                      "take it out of the operator's inputs",
                                      cut, pl->ops[cut].type->name, name);
            int rc = add_feature(pl, cut, name, &col[(*n)++], err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    for (uint32_t k = 0; k < pl->schema.nfeat; k++) {
        const struct weir_column *f = &pl->schema.feat[k];
        if (f->producer >= 0 && (size_t)f->producer < cut && !is_label(o, f->name))
            col[(*n)++] = (struct column){.name = f->name, .idx = (int)k};
    }
    return 0;
}

static int write_header(FILE *f, const struct column *col, size_t ncol)
{
    struct weir_buf h = {0};
    weir_buf_append(&h, WEIR_FEATURES_TIME_COLUMN, strlen(WEIR_FEATURES_TIME_COLUMN));
    for (size_t k = 0; k < ncol; k++) {
        weir_buf_append(&h, ",", 1);
        put_csv_string(&h, col[k].name, strlen(col[k].name));
    }
    int rc = weir_buf_append(&h, "\n", 1) < 0 || fwrite(h.data, 1, h.len, f) != h.len ? -EIO : 0;
    weir_buf_free(&h);
    return rc;
}

/* ---- the run ------------------------------------------------------------------ */

static int run_cut(struct weir_pipeline *pl, size_t cut, struct csv_out *out,
                   struct weir_error *err)
{
    /* Put the loaded pipeline back as it was whatever happens: the loader's
     * free() releases each stage through its own type. */
    size_t nops = pl->nops, nsinks = pl->nsinks, nsections = pl->nsections;
    struct weir_stage_sink sink0 = pl->sinks[0], dead = pl->dead;
    pl->nops = cut;
    pl->nsinks = 1;
    pl->nsections = 0;
    pl->sinks[0].type = &csv_sink;
    pl->sinks[0].conf = out;
    pl->sinks[0].when = WEIR_WHEN_ALL;
    pl->sinks[0].when_expr = NULL;
    pl->dead.type = &dead_counter;
    pl->dead.conf = out;
    struct weir_run_opts opts = {.workers = 1};
    struct weir_run_result res = {0};
    int rc = weir_run(pl, &opts, &res, err);
    if (rc == 0 && res.stopped_by_signal)
        rc = weir_error_set(err, -EINTR, "stopped by a signal: the feature file is incomplete");
    pl->nops = nops;
    pl->nsinks = nsinks;
    pl->nsections = nsections;
    pl->sinks[0] = sink0;
    pl->dead = dead;
    return rc;
}

static int load(const struct weir_features_opts *o, struct weir_pipeline **pl)
{
    struct weir_diag diag = {0};
    struct weir_load_opts lo = {.sets = o->sets, .nsets = o->nsets, .models_optional = 1};
    int rc = weir_pipeline_load_opts(o->pipeline, &lo, pl, &diag);
    weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    return rc;
}

int weir_features_write(const struct weir_features_opts *o, struct weir_features_result *res,
                        struct weir_error *err)
{
    memset(res, 0, sizeof *res);
    struct weir_pipeline *pl;
    int rc = load(o, &pl);
    if (rc < 0)
        return weir_error_set(err, -EINVAL, "%s is not valid (above)", o->pipeline);
    if (pl->source_type->per_worker) { /* a Kafka source: it would read until a signal */
        const char *name = pl->source_type->name;
        weir_pipeline_free(pl);
        return weir_error_set(err, -EINVAL, "%s reads a %s source, which does not end: features "
                              "are computed over files: a copy of the pipeline with a file "
                              "source in place of the %s one (and no \"replay\"), as "
                              "pipelines/fraud.json is of fraud-embedded.json", o->pipeline, name,
                              name);
    }
    if (pl->nsinks == 0) { /* the loader requires one; run_cut replaces sinks[0] */
        weir_pipeline_free(pl);
        return weir_error_set(err, -EINVAL, "%s has no sink", o->pipeline);
    }
    size_t cut = first_model(pl, o->scorer), ncol = 0;
    struct column *col = calloc(WEIR_SCHEMA_MAX + WEIR_FEATURES_MAX_LABELS, sizeof *col);
    FILE *f = NULL;
    struct csv_out out = {.col = col, .until_ms = o->until_ms, .res = res};
    if (!col)
        rc = weir_error_set(err, -ENOMEM, "out of memory");
    for (size_t k = 0; rc == 0 && k < o->nlabels; k++)
        rc = add_label(pl, cut, o->labels[k], &col[ncol++], err);
    size_t nfeat = ncol;
    if (rc == 0)
        rc = choose_features(o, pl, cut, col, &ncol, err);
    res->nfeatures = ncol - nfeat;
    if (rc == 0 && res->nfeatures == 0)
        rc = weir_error_set(err, -EINVAL, "no numeric feature to write: %s computes none before "
                            "its model", o->pipeline);
    if (rc == 0 && !(f = strcmp(o->out, "-") == 0 ? stdout : fopen(o->out, "w")))
        rc = weir_error_set(err, -errno, "%s: %s", o->out, strerror(errno));
    if (rc == 0) {
        out.f = f;
        out.ncol = ncol;
        setvbuf(f, NULL, _IOFBF, 1 << 20);
        rc = write_header(f, col, ncol);
    }
    if (rc == 0)
        rc = run_cut(pl, cut, &out, err);
    if (f && (fflush(f) != 0 || ferror(f)) && rc == 0)
        rc = weir_error_set(err, -EIO, "writing %s failed", o->out);
    if (f && f != stdout && fclose(f) != 0 && rc == 0)
        rc = weir_error_set(err, -EIO, "writing %s failed", o->out);
    weir_buf_free(&out.line);
    free(col);
    weir_pipeline_free(pl);
    return rc;
}

int weir_features_parse_time(const char *s, int64_t *ms)
{
    char *end;
    double v = strtod(s, &end);
    if (*end == 0 && end != s && strchr(s, '-') == NULL) {
        if (!(v >= 0 && v < 9.2e18)) /* nan, inf, 1e30: no time; the cast would be undefined */
            return -EINVAL;
        *ms = (int64_t)v;
        return 0;
    }
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%d", &tm);
    if (p && (*p == 'T' || *p == ' '))
        p = strptime(p + 1, "%H:%M:%S", &tm);
    if (!p || (*p && strcmp(p, "Z") != 0))
        return -EINVAL;
    *ms = (int64_t)timegm(&tm) * 1000;
    return 0;
}

/* ---- weir features PIPELINE --out FILE ... ------------------------------------ */

static int features_main(int argc, char **argv)
{
    struct weir_override sets[64];
    struct weir_features_opts o = {.sets = sets, .until_ms = INT64_MAX};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--out") == 0 && v) {
            o.out = argv[++i];
        } else if (strcmp(a, "--label") == 0 && v && o.nlabels < WEIR_FEATURES_MAX_LABELS) {
            o.labels[o.nlabels++] = argv[++i];
        } else if (strcmp(a, "--features") == 0 && v) {
            o.features = argv[++i];
        } else if (strcmp(a, "--all") == 0) {
            o.all = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            o.quiet = 1;
        } else if (strcmp(a, "--until") == 0 && v) {
            if (weir_features_parse_time(argv[++i], &o.until_ms) < 0) {
                fprintf(stderr, "weir: features: --until expects YYYY-MM-DD[THH:MM:SS] (UTC) or "
                        "epoch milliseconds, got \"%s\"\n", v);
                return 2;
            }
        } else if (strcmp(a, "--set") == 0 && v) {
            if (o.nsets == 64 || weir_override_parse(argv[++i], &sets[o.nsets++]) < 0) {
                fprintf(stderr, "weir: --set expects PATH=VALUE, got \"%s\"\n", v);
                return 2;
            }
        } else if (!o.pipeline && a[0] != '-') {
            o.pipeline = a;
        } else {
            fprintf(stderr, "weir: features: unexpected argument \"%s\"; try: weir help features\n",
                    a);
            return 2;
        }
    }
    if (!o.pipeline || !o.out) {
        fprintf(stderr, "weir: features needs PIPELINE and --out FILE; try: weir help features\n");
        return 2;
    }
    struct weir_features_result res;
    struct weir_error err = {0};
    int rc = weir_features_write(&o, &res, &err);
    if (rc < 0) {
        if (err.msg[0])
            fprintf(stderr, "weir: features: %s\n", err.msg);
        return rc == -EINVAL ? 2 : 1;
    }
    if (!o.quiet)
        fprintf(stderr,
                "weir: features: %llu rows of %zu features written to %s (%llu dead "
                "letters, %llu at or after --until not written%s)\n",
                (unsigned long long)res.rows, res.nfeatures, o.out, (unsigned long long)res.dead,
                (unsigned long long)res.late, untimed_clause(&res));
    return 0;
}

const struct weir_command weir_command_features = {
    .name = "features",
    .usage = "weir features PIPELINE --out FILE [--label NAME ...] [--features A,B,C | --all] "
             "[--until TIME] [--set PATH=VALUE ...]",
    .help =
        "Runs PIPELINE up to (not including) its first operator that serves a trained model (a\n"
        "model operator, or an iforest with \"model\"), with one worker, and writes the\n"
        "features it computes as CSV (docs/models.md: Training with weir fit): a header, then\n"
        "one line per record in input order: event_time_ms (ms since the epoch, empty without\n"
        "one), the --label columns (features or string fields), then the features. Which\n"
        "features: --features A,B,C; else that operator's inputs (the model's features, the\n"
        "iforest's fields), in its order; with --all, or when there is none, every numeric\n"
        "feature computed before it but the labels. Values read back as the exact floats weir\n"
        "computed; a missing (NaN) value is an empty field, infinities are inf and -inf. The\n"
        "pipeline's sinks are not written; dead letters are counted, not written.\n"
        "--until TIME: only records whose event time is before TIME (YYYY-MM-DD, a UTC\n"
        "date's midnight, or YYYY-MM-DDTHH:MM:SS, or epoch ms); the input is still read to\n"
        "its end. --set: as for weir run. FILE \"-\" is standard output.\n",
    .main = features_main,
};
