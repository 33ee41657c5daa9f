/* `weir test`: one case's run (see pipeline_test.h). The pipeline is the
 * file's own, changed only where it touches the outside world, as --set
 * would change it: the file source reads a temporary file holding the
 * case's input, file sinks (and the dead-letter sink) write temporary files,
 * Kafka sources and sinks use the embedded cluster, and "replay" and "http"
 * are left out. Everything else (operators, formats, "when", projections)
 * is the pipeline's, run by the real source, worker and sink code. */
#include "connectors/csv.h"
#include "connectors/file_list.h"
#include "connectors/kafka_common.h"
#include "connectors/pipeline_test.h"
#include "engine/buf.h"
#include "engine/diag.h"
#include "engine/pipeline.h"
#include "engine/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What a case writes and reads, and where. */
struct case_io {
    char dir[64];     /* the temporary directory */
    int kafka_source; /* 0: a file source */
    int csv;          /* the file source reads CSV */
    char delimiter;
    const char *topic; /* the Kafka source's first topic (in the copy) */
    int uses_embedded; /* some source or sink is on the embedded cluster */
};

static int set_str(json_t *obj, const char *key, const char *value)
{
    return json_object_set_new(obj, key, json_string(value));
}

/* Points one sink (or the dead-letter sink) at the test's outputs. */
static int redirect_sink(json_t *sink, const char *file, struct case_io *io, struct weir_error *err,
                         const char *what)
{
    const char *type = json_string_value(json_object_get(sink, "type"));
    if (type && strcmp(type, "file") == 0) {
        json_object_del(sink, "append");
        return set_str(sink, "path", file);
    }
    if (type && strcmp(type, "kafka") == 0) {
        io->uses_embedded = 1;
        return set_str(sink, "brokers", "embedded");
    }
    return weir_error_set(err, -ENOTSUP, "%s: weir test runs file and kafka sinks, not \"%s\"",
                          what, type ? type : "?");
}

/* Makes p (a copy of the pipeline's JSON) the test's pipeline. A file
 * source's format "auto" (or none) is decided per file in a run: here by the
 * case's input_file when it has one, else by the source's path. */
static int redirect(json_t *p, const char *input_file, struct case_io *io, struct weir_error *err)
{
    char path[128];
    json_object_del(p, "replay"); /* the case's input is the only input */
    json_object_del(p, "http");
    json_t *src = json_object_get(p, "source");
    const char *type = json_string_value(json_object_get(src, "type"));
    if (type && strcmp(type, "file") == 0) {
        const char *fmt = json_string_value(json_object_get(src, "format"));
        const char *orig = json_string_value(json_object_get(src, "path"));
        const char *named = input_file ? input_file : orig;
        io->csv = fmt && strcmp(fmt, "auto") != 0 ? strcmp(fmt, "csv") == 0
                                                  : named && weir_file_is_csv(named);
        const char *delim = json_string_value(json_object_get(src, "delimiter"));
        io->delimiter = delim && delim[0] ? delim[0] : ',';
        snprintf(path, sizeof path, "%s/input.%s", io->dir, io->csv ? "csv" : "jsonl");
        if (set_str(src, "path", path) < 0 || set_str(src, "format", io->csv ? "csv" : "jsonl") < 0)
            return weir_error_set(err, -ENOMEM, "out of memory");
    } else if (type && strcmp(type, "kafka") == 0) {
        io->kafka_source = io->uses_embedded = 1;
        io->topic = json_string_value(json_array_get(json_object_get(src, "topics"), 0));
        if (set_str(src, "brokers", "embedded") < 0 || set_str(src, "start", "earliest") < 0)
            return weir_error_set(err, -ENOMEM, "out of memory");
    } else {
        return weir_error_set(err, -ENOTSUP,
                              "source: weir test runs file and kafka sources, not \"%s\"",
                              type ? type : "?");
    }
    json_t *sinks = json_object_get(p, "sinks");
    for (size_t i = 0; i < json_array_size(sinks); i++) {
        char what[32];
        snprintf(path, sizeof path, "%s/sink-%zu.out", io->dir, i);
        snprintf(what, sizeof what, "sinks[%zu]", i);
        if (redirect_sink(json_array_get(sinks, i), path, io, err, what) < 0)
            return err->code;
    }
    snprintf(path, sizeof path, "%s/dead.jsonl", io->dir);
    json_t *dead = json_object_get(p, "dead_letter");
    if (!json_is_object(dead)) { /* the default goes to stderr: the test reads a file */
        dead = json_pack("{ss}", "type", "file");
        if (!dead || json_object_set_new(p, "dead_letter", dead) < 0)
            return weir_error_set(err, -ENOMEM, "out of memory");
    }
    return redirect_sink(dead, path, io, err, "dead_letter");
}

/* A CSV field, quoted when it must be. */
static void csv_field(struct weir_buf *b, const json_t *v, char delim)
{
    char *text = NULL;
    const char *s = "";
    if (json_is_string(v))
        s = json_string_value(v);
    else if (v && !json_is_null(v))
        s = text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!s)
        s = "";
    if (strchr(s, delim) || strpbrk(s, "\"\r\n")) {
        weir_buf_append(b, "\"", 1);
        for (const char *ch = s; *ch; ch++) {
            if (*ch == '"')
                weir_buf_append(b, "\"", 1); /* doubled inside quotes */
            weir_buf_append(b, ch, 1);
        }
        weir_buf_append(b, "\"", 1);
    } else {
        weir_buf_append(b, s, strlen(s));
    }
    free(text);
}

/* The CSV header: input_file's first line when there is one, else every
 * key of the input's objects, in order of appearance. */
static json_t *csv_header(const json_t *input, const char *first_line, char delim)
{
    json_t *h = json_array();
    if (first_line) {
        const char *end = first_line + strcspn(first_line, "\r\n");
        for (const char *p = first_line;;) {
            const char *e = memchr(p, delim, (size_t)(end - p));
            size_t n = e ? (size_t)(e - p) : (size_t)(end - p);
            json_array_append_new(h, json_stringn(p, n));
            if (!e)
                break;
            p = e + 1;
        }
        return h;
    }
    json_t *v;
    size_t i;
    json_array_foreach(input, i, v) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            int seen = 0;
            for (size_t j = 0; j < json_array_size(h) && !seen; j++)
                seen = strcmp(json_string_value(json_array_get(h, j)), k) == 0;
            if (!seen)
                json_array_append_new(h, json_string(k));
        }
    }
    return h;
}

/* One input record as a line: an object as JSON (or a CSV row in header's
 * order), a string as it is (a malformed record on purpose). */
static void input_line(struct weir_buf *b, const json_t *v, const struct case_io *io,
                       const json_t *header)
{
    if (json_is_string(v)) {
        weir_buf_append(b, json_string_value(v), strlen(json_string_value(v)));
    } else if (io->csv) {
        for (size_t j = 0; j < json_array_size(header); j++) {
            if (j)
                weir_buf_append(b, &io->delimiter, 1);
            csv_field(b, json_object_get(v, json_string_value(json_array_get(header, j))),
                      io->delimiter);
        }
    } else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(17));
        if (s)
            weir_buf_append(b, s, strlen(s));
        free(s);
    }
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct weir_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        weir_buf_append(&b, chunk, n);
    fclose(f);
    weir_buf_append(&b, "", 1);
    *len = b.len ? b.len - 1 : 0;
    return b.data;
}

/* A Kafka message: [key, value]. The key is the record's `key` field (rec,
 * or the line parsed), else one fixed key: one partition, one order. */
static void add_message(json_t *messages, const char *line, size_t len, const json_t *rec,
                        const char *key)
{
    json_t *parsed = !rec && key ? json_loadb(line, len, 0, NULL) : NULL;
    const json_t *kv = key ? json_object_get(rec ? rec : parsed, key) : NULL;
    char *k = NULL;
    if (kv)
        k = json_is_string(kv) ? strdup(json_string_value(kv)) : json_dumps(kv, JSON_ENCODE_ANY);
    /* nocheck: an input_file line need not be UTF-8 (a dead letter on purpose) */
    json_array_append_new(messages,
                          json_pack("[so]", k ? k : "weir-test", json_stringn_nocheck(line, len)));
    free(k);
    json_decref(parsed);
}

/* input_file's lines as messages, first: as they are, or for a *.csv file
 * its rows as JSON objects, as `weir replay` sends them (a row that does not
 * convert goes as it is: a dead letter). A header that does not parse fails
 * the case, as it fails replay (its rows went as raw lines, unsaid). */
static int file_messages(json_t *messages, char *text, int csv, const char *key,
                         const char *path, struct weir_error *err)
{
    struct weir_csv_header h = {0};
    struct weir_buf row = {0};
    size_t lineno = 0;
    int rc = 0;
    for (char *line = text, *nl; rc == 0 && line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n && line[n - 1] == '\r')
            n--;
        const char *why = NULL;
        char reason[160];
        if (csv && lineno++ == 0) {
            if (n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
                line += 3, n -= 3;
            if (weir_csv_header_parse(&h, line, n, ',', &why) < 0)
                rc = weir_error_set(err, -EINVAL, "input_file %s: line 1: %s", path,
                                    why ? why : "not a CSV header");
            continue;
        }
        row.len = 0;
        if (csv && weir_csv_row_to_json(&h, line, n, &row, reason, sizeof reason) == 0)
            add_message(messages, row.data, row.len, NULL, key);
        else
            add_message(messages, line, n, NULL, key);
    }
    weir_buf_free(&row);
    weir_csv_header_free(&h);
    return rc;
}

/* The case's input as lines: input_file's, then "input"'s. For a file
 * source they go to dir/input.*; for Kafka each line is a message
 * (add_message). */
static int write_input(const struct weir_ptest_case *c, const struct case_io *io, json_t **messages,
                       struct weir_error *err)
{
    const json_t *input = json_object_get(c->obj, "input");
    const char *key = json_string_value(json_object_get(c->obj, "key"));
    size_t flen = 0;
    char *fromfile = NULL;
    if (c->input_file && !(fromfile = slurp(c->input_file, &flen)))
        return weir_error_set(err, -errno, "input_file %s: %s", c->input_file, strerror(errno));
    json_t *header = io->csv ? csv_header(input, fromfile, io->delimiter) : NULL;
    struct weir_buf all = {0};
    if (fromfile) {
        weir_buf_append(&all, fromfile, flen);
        if (flen && fromfile[flen - 1] != '\n')
            weir_buf_append(&all, "\n", 1);
    } else if (io->csv && json_array_size(header)) {
        for (size_t j = 0; j < json_array_size(header); j++) {
            if (j)
                weir_buf_append(&all, &io->delimiter, 1);
            csv_field(&all, json_array_get(header, j), io->delimiter);
        }
        weir_buf_append(&all, "\n", 1);
    }
    *messages = json_array();
    const json_t *v;
    size_t i;
    int rc = 0;
    if (io->kafka_source && fromfile)
        rc = file_messages(*messages, fromfile, weir_file_is_csv(c->input_file), key,
                           c->input_file, err);
    json_array_foreach(input, i, v) {
        size_t at = all.len;
        input_line(&all, v, io, header);
        add_message(*messages, all.data ? all.data + at : "", all.len - at, v, key);
        weir_buf_append(&all, "\n", 1);
    }
    if (!io->kafka_source && rc == 0) {
        char path[128];
        snprintf(path, sizeof path, "%s/input.%s", io->dir, io->csv ? "csv" : "jsonl");
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(all.data ? all.data : "", 1, all.len, f) != all.len)
            rc = weir_error_set(err, -EIO, "cannot write %s", path);
        if (f && fclose(f) != 0 && rc == 0)
            rc = weir_error_set(err, -EIO, "cannot write %s", path);
    }
    json_decref(header);
    weir_buf_free(&all);
    free(fromfile);
    return rc;
}

/* Reads a file sink's lines, or a Kafka sink's topic. */
static int collect(const json_t *sink, const char *file, struct weir_ptest_output *out,
                   struct weir_error *err)
{
    const char *type = json_string_value(json_object_get(sink, "type"));
    if (type && strcmp(type, "kafka") == 0)
        return weir_ptest_read_topic(json_string_value(json_object_get(sink, "topic")), out, err);
    size_t len = 0;
    char *text = slurp(file, &len);
    if (!text)
        return 0; /* never opened: nothing written */
    int rc = 0;
    for (char *line = text, *nl; rc == 0 && line < text + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl)
            nl = text + len;
        rc = weir_ptest_output_add(out, line, (size_t)(nl - line));
    }
    free(text);
    return rc < 0 ? weir_error_set(err, rc, "out of memory") : 0;
}

static int load(const char *pipeline_file, const json_t *p, const struct weir_ptest_case *c,
                struct weir_pipeline **pl, struct weir_error *err)
{
    const json_t *set = json_object_get(c->obj, "set");
    struct weir_override sets[WEIR_PTEST_MAX_SETS];
    char *values[WEIR_PTEST_MAX_SETS];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)set, k, v) {
        if (n == WEIR_PTEST_MAX_SETS)
            break; /* refused with the test file's problems */
        values[n] = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        sets[n] = (struct weir_override){k, values[n] ? values[n] : "null"};
        n++;
    }
    char *text = json_dumps(p, JSON_COMPACT);
    struct weir_diag diag = {0};
    struct weir_load_opts o = {.sets = sets,
                               .nsets = n,
                               .text = text,
                               .len = text ? strlen(text) : 0,
                               .allow_unsafe_kafka = c->allow_unsafe_kafka};
    int rc = text ? weir_pipeline_load_opts(pipeline_file, &o, pl, &diag) : -ENOMEM;
    if (rc < 0) {
        struct weir_buf why = {0};
        for (size_t i = 0; i < diag.n; i++) {
            weir_buf_append(&why, i ? "; " : "", i ? 2 : 0);
            weir_buf_append(&why, diag.msgs[i], strlen(diag.msgs[i]));
        }
        weir_buf_append(&why, "", 1);
        weir_error_set(err, rc, "the pipeline with this case's \"set\" is not valid: %s",
                       why.data ? why.data : strerror(-rc));
        weir_buf_free(&why);
    }
    weir_diag_free(&diag);
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    free(text);
    return rc;
}

/* The files a case may have made (those of the sinks it has), then dir. */
static void remove_dir(const char *dir, size_t nsinks)
{
    char path[128];
    static const char *const names[] = {"input.csv", "input.jsonl", "dead.jsonl"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    for (size_t i = 0; i < nsinks; i++) {
        snprintf(path, sizeof path, "%s/sink-%zu.out", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

static int run_and_collect(const char *pipeline_file, json_t *p, const struct weir_ptest_case *c,
                           struct case_io *io, const json_t *messages,
                           struct weir_ptest_result *res, struct weir_error *err)
{
    struct weir_pipeline *pl = NULL;
    int rc = load(pipeline_file, p, c, &pl, err);
    if (rc < 0)
        return rc;
    struct weir_run_opts opts = {.workers = 1};
    if (io->kafka_source) {
        double timeout = json_is_number(json_object_get(c->obj, "timeout"))
                             ? json_number_value(json_object_get(c->obj, "timeout"))
                             : 30.0;
        /* The loaded pipeline's topic: the case's "set" may have changed it. */
        const struct weir_kafka_source_conf *kc = weir_kafka_source_conf_of(pl);
        const char *topic = kc && kc->topics.n ? kc->topics.v[0] : io->topic;
        if (!(opts.companion = weir_ptest_producer(topic, messages, timeout, err))) {
            weir_pipeline_free(pl);
            return err->code ? err->code : -ENOMEM;
        }
    }
    struct weir_run_result run = {0};
    rc = weir_run(pl, &opts, &run, err);
    if (opts.companion)
        opts.companion->release(opts.companion, NULL);
    weir_pipeline_free(pl);
    if (rc < 0)
        return weir_error_prefix(err, "the run failed: ");
    if (run.stopped_by_signal) /* its outputs are a part: not for comparing */
        return weir_error_set(err, -EINTR, "interrupted by a signal");
    res->alerts = run.total.alerts;
    res->records_in = run.total.records_in;
    json_t *sinks = json_object_get(p, "sinks");
    res->nsinks = json_array_size(sinks);
    if (!(res->sinks = calloc(res->nsinks ? res->nsinks : 1, sizeof *res->sinks)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    char path[128];
    for (size_t i = 0; rc == 0 && i < res->nsinks; i++) {
        snprintf(path, sizeof path, "%s/sink-%zu.out", io->dir, i);
        rc = collect(json_array_get(sinks, i), path, &res->sinks[i], err);
    }
    snprintf(path, sizeof path, "%s/dead.jsonl", io->dir);
    return rc < 0 ? rc : collect(json_object_get(p, "dead_letter"), path, &res->dead, err);
}

int weir_ptest_case_run(const char *pipeline_file, const json_t *root,
                        const struct weir_ptest_case *c, struct weir_ptest_result *res,
                        struct weir_error *err)
{
    struct case_io io = {.delimiter = ','};
    snprintf(io.dir, sizeof io.dir, "%s/weir-test-XXXXXX",
             getenv("TMPDIR") && strlen(getenv("TMPDIR")) < 40 ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(io.dir))
        return weir_error_set(err, -errno, "cannot make a temporary directory %s: %s", io.dir,
                              strerror(errno));
    json_t *p = json_deep_copy(root), *messages = NULL;
    struct weir_kafka_client cl = {.what = "weir test"};
    int rc =
        p ? redirect(p, c->input_file, &io, err) : weir_error_set(err, -ENOMEM, "out of memory");
    if (rc == 0)
        rc = write_input(c, &io, &messages, err);
    /* The test holds the embedded cluster across the run: the sinks' topics
     * are read after the workers let go of it. A fresh one per case. */
    if (rc == 0 && io.uses_embedded)
        rc = weir_kafka_brokers_resolve(&cl, "embedded", io.topic ? &io.topic : NULL,
                                        io.topic ? 1 : 0, err);
    if (rc == 0)
        rc = run_and_collect(pipeline_file, p, c, &io, messages, res, err);
    weir_kafka_client_release(&cl);
    json_decref(messages);
    json_decref(p);
    remove_dir(io.dir, json_array_size(json_object_get(root, "sinks")));
    return rc;
}

void weir_ptest_result_free(struct weir_ptest_result *r)
{
    for (size_t i = 0; r->sinks && i < r->nsinks; i++)
        weir_ptest_output_free(&r->sinks[i]);
    free(r->sinks);
    weir_ptest_output_free(&r->dead);
    *r = (struct weir_ptest_result){0};
}
