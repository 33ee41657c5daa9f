/* The weir command line: run, validate, docs, help, --version.
 *
 * Exit codes: 0 success (also after a clean drain on SIGINT/SIGTERM);
 * 1 the run failed (I/O, a broker, an operator); 2 bad command line or an
 * invalid pipeline file. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "engine/buf.h"
#include "engine/durable.h"
#include "engine/jsonschema.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/override.h"
#include "engine/pipeline.h"
#include "engine/reload.h"
#include "engine/reference.h"
#include "engine/run.h"
#include "kernels/dense.h"

#define EXIT_RUN_FAILED 1
#define EXIT_USAGE 2

struct cli {
    const char *command;
    const char *pipeline;
    struct weir_override sets[64];
    size_t nsets;
    int workers;
    int quiet;
    int timing;
    int watch;                   /* --watch: reload when the pipeline file changes */
    int embedded;
    int allow_unsafe_kafka;
    const char *replay;
    const char *state_dir;
    const char *http;            /* --http [ADDR:]PORT */
    const char *http_token_file; /* --http-token-file FILE */
    int log_format;              /* --log-format: enum weir_log_format */
    int progress;                /* --progress: -1 unset (a terminal decides), else seconds */
    const char *more[64];        /* validate: the files after the first */
    size_t nmore;
};

static const struct {
    const char *name, *usage, *help;
} commands[] = {
    {"run",
     "weir run PIPELINE [--set PATH=VALUE]... [--workers N] [--embedded] [--replay FILE]\n"
     "           [--state-dir DIR] [--http [ADDR:]PORT] [--http-token-file FILE]\n"
     "           [--progress[=SECONDS]] [--log-format text|json|logfmt] [--quiet] [--timing]\n"
     "           [--watch] [--allow-unsafe-kafka-properties]",
     "Runs the pipeline until its input ends or SIGINT/SIGTERM, which drains in-flight\n"
     "batches and flushes the sinks (a second signal exits at once). An output whose\n"
     "reader went away (weir run ... | head) also ends the run, with status 0.\n"
     "A summary goes to standard error. An option's value may follow it (--http 9090)\n"
     "or an equals sign (--http=9090).\n"
     "  --set PATH=VALUE  override any option by its JSON path, e.g. --set source.path=x.csv\n"
     "                    or --set operators[3].quantile=0.999 (VALUE is JSON, or a string)\n"
     "  --workers N       worker threads (default: the number of cores); a file source\n"
     "                    is one partition and uses one worker\n"
     "  --embedded        use an in-process Kafka cluster (librdkafka's mock cluster) for\n"
     "                    the Kafka source and sinks: --set source.brokers=embedded, and\n"
     "                    every sink's own \"brokers\" (the dead letter's too) set so\n"
     "  --replay FILE     produce FILE (JSON Lines, or CSV) into the source's topic once the\n"
     "                    workers are up; the run stops when every record went through\n"
     "                    (same as --set replay.path=FILE; see docs/kafka.md)\n"
     "  --state-dir DIR   keep stateful operators' keyed state in DIR: read back when the run\n"
     "                    starts, written at the end of a run that went well (file sources;\n"
     "                    a Kafka source keeps it in its changelog topic); one run of a\n"
     "                    pipeline at a time: DIR/NAME.lock\n"
     "  --http [ADDR:]PORT serve /metrics (Prometheus), /healthz, /readyz, /status.json and a\n"
     "                    live status page at / on ADDR (default 127.0.0.1) and PORT (0: any\n"
     "                    free port; the chosen one is printed); the pipeline's \"http\" section\n"
     "                    does the same (see docs/operations.md)\n"
     "  --http-token-file FILE\n"
     "                    require \"Authorization: Bearer TOKEN\" (or ?token=TOKEN) for /metrics,\n"
     "                    /status.json and /, TOKEN being FILE's first line\n"
     "  --progress[=SECONDS], --progress SECONDS\n"
     "                    a one-line summary on stderr every SECONDS (default 10): records/s,\n"
     "                    totals, alerts, lag; on by default when stderr is a terminal\n"
     "  SIGHUP            reads the pipeline file again and takes it without a restart:\n"
     "                    operators, columns, sinks and the source may change; unchanged\n"
     "                    operators keep their keyed state, unchanged sinks their writer; an\n"
     "                    invalid file is logged with its JSON path and the running pipeline\n"
     "                    goes on unchanged (docs/operations.md)\n"
     "  --watch           reload (as SIGHUP) whenever the pipeline file changes; the\n"
     "                    pipeline's \"reload\": {\"watch\": true} does the same\n"
     "  --log-format F    weir's own log lines (and librdkafka's) as text (\"weir: ...\", the\n"
     "                    default), json ({\"ts\",\"level\",\"msg\"} lines) or logfmt\n"
     "  --quiet           no summary, no progress lines\n"
     "  --timing          add time per operator, and the worker and HTTP threads' CPU, to the\n"
     "                    summary (per operator only when no reload moved them)\n"
     "  --allow-unsafe-kafka-properties\n"
     "                    accept \"kafka\" properties that make librdkafka load a library or\n"
     "                    run a command (plugin.library.paths, sasl.kerberos.kinit.cmd,\n"
     "                    ssl.engine.location, ...): only for a pipeline file you trust\n"
     "                    (see docs/kafka.md)\n"},
    {"validate",
     "weir validate PIPELINE... [--set PATH=VALUE]... [--embedded] [--replay FILE]\n"
     "           [--allow-unsafe-kafka-properties]",
     "Checks each pipeline file (\"-\": standard input), with the overrides, and prints\n"
     "every problem with its JSON path. Exit 0 when all are valid, 2 otherwise. Nothing is\n"
     "opened or run, and no Kafka client is created: with --allow-unsafe-kafka-properties,\n"
     "properties that would load a library or run a command are accepted as run would\n"
     "accept them, and still not applied. --embedded and --replay change the file as run\n"
     "changes it; run's other options (--workers, --http, ...) are refused here.\n"},
    {"docs", "weir docs",
     "Prints the pipeline reference (docs/pipeline.md) generated from the code.\n"},
    {"schema", "weir schema",
     "Prints a JSON Schema (draft-07) for pipeline files, generated from the same option\n"
     "tables that validate them. Editors use it for completion and checks as you type\n"
     "(docs/operations.md: editor set-up); weir validate still checks what a schema\n"
     "cannot (cross-field rules, operators' field references).\n"},
    {"help", "weir help [COMMAND]", "Shows help for a command.\n"},
};

static void usage(FILE *out)
{
    fprintf(out, "weir %s: streaming analytics for monitoring and fraud detection\n\n"
                 "usage:\n", WEIR_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %s\n", commands[i].usage);
    for (const struct weir_command *const *k = weir_commands(); *k; k++)
        fprintf(out, "  %s\n", (*k)->usage);
    fprintf(out, "  weir --version\n\nexit codes: 0 ok, 1 the run failed, 2 bad usage or "
                 "invalid pipeline\n");
}

static int help(const char *cmd)
{
    if (!cmd) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, cmd) == 0) {
            printf("usage: %s\n\n%s", commands[i].usage, commands[i].help);
            return 0;
        }
    }
    for (const struct weir_command *const *k = weir_commands(); *k; k++) {
        if (strcmp((*k)->name, cmd) == 0) {
            printf("usage: %s\n\n%s", (*k)->usage, (*k)->help);
            return 0;
        }
    }
    fprintf(stderr, "weir: unknown command \"%s\"; try: weir help\n", cmd);
    return EXIT_USAGE;
}

/* validate shares run's options, as overrides: those that only change how a
 * run goes would be accepted and do nothing (even invalid values). */
static int validate_run_only(int argc, char **argv)
{
    static const char *const run_only[] = {"--workers", "--state-dir", "--http",
                                           "--http-token-file", "--progress", "--quiet",
                                           "--watch", "--timing", NULL};
    for (int i = 2; i < argc; i++)
        for (size_t k = 0; run_only[k]; k++) {
            size_t n = strlen(run_only[k]);
            if (strncmp(argv[i], run_only[k], n) == 0 && (argv[i][n] == 0 || argv[i][n] == '=')) {
                fprintf(stderr, "weir: validate: %s is for weir run (validate runs nothing); try: "
                        "weir help validate\n", run_only[k]);
                return -1;
            }
        }
    return 0;
}

/* The options that take a value, as "--opt VALUE" or "--opt=VALUE". */
static const char *const valued[] = {"--set",  "--workers",         "--replay",     "--state-dir",
                                     "--http", "--http-token-file", "--log-format", NULL};

static int all_digits(const char *s)
{
    return *s && strspn(s, "0123456789") == strlen(s);
}

/* argv[*i] one of valued[]: k + 1 (its index k) with *v its value, taken
 * from after "=" or from the next argument (*i moved on); 0 when it is not;
 * -1, said, when the value is missing, empty, or another option (a
 * "--state-dir --quiet" made a directory named --quiet). */
static int option_value(int argc, char **argv, int *i, char **v)
{
    char *a = argv[*i];
    for (int k = 0; valued[k]; k++) {
        size_t n = strlen(valued[k]);
        if (strncmp(a, valued[k], n) != 0 || (a[n] && a[n] != '='))
            continue;
        *v = a[n] ? a + n + 1 : *i + 1 < argc ? argv[++*i] : NULL;
        if (*v && **v && !(!a[n] && strncmp(*v, "--", 2) == 0))
            return k + 1;
        if (!*v)
            fprintf(stderr, "weir: %s needs a value; try: weir help %s\n", valued[k], argv[1]);
        else
            fprintf(stderr, "weir: %s needs a value, got %s%s%s\n", valued[k],
                    **v ? "the option \"" : "an empty one", *v, **v ? "\"" : "");
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
    if (strcmp(c->command, "validate") == 0 && validate_run_only(argc, argv) < 0)
        return -1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    c->progress = -1;
    c->workers = cores > 0 ? (int)cores : 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        char *v = NULL;
        int k = option_value(argc, argv, &i, &v);
        if (k < 0)
            return -1;
        if (k > 0)
            a = valued[k - 1]; /* "--http=X" as "--http X" */
        if (strcmp(a, "--set") == 0) {
            if (c->nsets == 64 || weir_override_parse(v, &c->sets[c->nsets++]) < 0) {
                fprintf(stderr, "weir: --set expects PATH=VALUE, got \"%s\"\n", v);
                return -1;
            }
        } else if (strcmp(a, "--workers") == 0) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 256) {
                fprintf(stderr, "weir: --workers expects a number from 1 to 256, got \"%s\"\n", v);
                return -1;
            }
            c->workers = (int)n;
        } else if (strcmp(a, "--embedded") == 0) {
            c->embedded = 1;
        } else if (strcmp(a, "--replay") == 0) {
            c->replay = v;
        } else if (strcmp(a, "--state-dir") == 0) {
            c->state_dir = v;
        } else if (strcmp(a, "--http") == 0) {
            c->http = v;
        } else if (strcmp(a, "--http-token-file") == 0) {
            c->http_token_file = v;
        } else if (strcmp(a, "--log-format") == 0) {
            c->log_format = weir_log_format_parse(v);
            if (c->log_format < 0) {
                fprintf(stderr, "weir: --log-format expects text, json or logfmt, got \"%s\"\n", v);
                return -1;
            }
            weir_log_set_format((enum weir_log_format)c->log_format);
        } else if (strcmp(a, "--progress") == 0 || strncmp(a, "--progress=", 11) == 0) {
            /* "--progress 5" too: a pipeline file is never all digits */
            const char *sec = a[10]                                     ? a + 11
                              : i + 1 < argc && all_digits(argv[i + 1]) ? argv[++i]
                                                                        : "10";
            char *end;
            long n = strtol(sec, &end, 10);
            if (!*sec || *end || n < 1 || n > 86400) {
                fprintf(stderr, "weir: --progress expects seconds from 1 to 86400, got \"%s\"\n",
                        sec);
                return -1;
            }
            c->progress = (int)n;
        } else if (strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
        } else if (strcmp(a, "--watch") == 0) {
            c->watch = 1;
        } else if (strcmp(a, "--timing") == 0) {
            c->timing = 1;
        } else if (strcmp(a, "--allow-unsafe-kafka-properties") == 0) {
            c->allow_unsafe_kafka = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "weir: unknown option \"%s\"; try: weir help %s\n", a, c->command);
            return -1;
        } else if (!c->pipeline) {
            c->pipeline = a;
        } else if (strcmp(c->command, "validate") == 0 && c->nmore < 64) {
            c->more[c->nmore++] = a;
        } else {
            fprintf(stderr, "weir: unexpected argument \"%s\"\n", a);
            return -1;
        }
    }
    if (!c->pipeline) {
        fprintf(stderr, "weir: %s needs a pipeline file; try: weir help %s\n", c->command, c->command);
        return -1;
    }
    if (c->watch && strcmp(c->pipeline, "-") == 0) {
        fprintf(stderr, "weir: --watch needs a pipeline file to watch, not standard input\n");
        return -1;
    }
    return 0;
}

static int load_file(const struct cli *c, const char *file, struct weir_pipeline **pl)
{
    struct weir_diag diag = {0};
    struct weir_load_opts o = {.sets = c->sets,
                               .nsets = c->nsets,
                               .allow_unsafe_kafka = c->allow_unsafe_kafka,
                               .embedded = c->embedded,
                               .replay_path = c->replay};
    struct weir_buf in = {0};
    if (strcmp(file, "-") == 0) { /* validate -: the pipeline comes on standard input */
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            if (weir_buf_append(&in, chunk, n) < 0) {
                fprintf(stderr, "weir: out of memory reading standard input\n");
                weir_buf_free(&in);
                return -1;
            }
        o.text = in.data ? in.data : "";
        o.len = in.len;
        file = "<stdin>";
    }
    int rc = weir_pipeline_load_opts(file, &o, pl, &diag);
    weir_diag_print(&diag, stderr);
    if (rc < 0 && diag.n > 1)
        fprintf(stderr, "%s: %zu problems\n", file, diag.n);
    weir_diag_free(&diag);
    weir_buf_free(&in);
    return rc;
}

static int load(const struct cli *c, struct weir_pipeline **pl)
{
    return load_file(c, c->pipeline, pl);
}

/* Every file, each with all its problems; 2 when any is invalid. */
static int cmd_validate(const struct cli *c)
{
    int bad = 0;
    for (size_t k = 0; k <= c->nmore; k++) {
        const char *file = k == 0 ? c->pipeline : c->more[k - 1];
        struct weir_pipeline *pl;
        if (load_file(c, file, &pl) < 0) {
            bad++;
            continue;
        }
        printf("%s: valid (%zu operators, %zu sinks, %u features)\n",
               strcmp(file, "-") == 0 ? "<stdin>" : file, pl->nops, pl->nsinks, pl->schema.nfeat);
        weir_pipeline_free(pl);
    }
    return bad ? EXIT_USAGE : 0;
}

static void summary(const struct weir_pipeline *pl, const struct weir_run_result *r, int timing,
                    unsigned reloads, int failed)
{
    const struct weir_worker_stats *t = &r->total;
    char why[300] = "";
    if (r->output_closed[0])
        snprintf(why, sizeof why, " (stopped: %s)", r->output_closed);
    else if (r->stopped_by_signal)
        snprintf(why, sizeof why, " (stopped by signal%s)", failed ? "; the run failed" : ", drained");
    /* only when it happened: the last resort (kafka.md), filters, what the
     * connectors report (records a Kafka consumer skipped unread) */
    char lost[640] = "";
    size_t o = 0;
    if (t->unwritable)
        o += (size_t)snprintf(lost, sizeof lost, ", %llu unwritable (logged)",
                              (unsigned long long)t->unwritable);
    if (t->dropped)
        o += (size_t)snprintf(lost + o, sizeof lost - o, ", %llu dropped by filters",
                              (unsigned long long)t->dropped);
    weir_metrics_summary_notes(lost + o, sizeof lost - o);
    weir_log(WEIR_LOG_INFO,
            "%s: %llu records in, %llu out, %llu dead letters%s, %llu alerts; %.2f s, "
            "%.0f records/s, %d worker%s%s",
            pl->name, (unsigned long long)t->records_in, (unsigned long long)t->records_out,
            (unsigned long long)t->dead, lost, (unsigned long long)t->alerts, r->seconds,
            r->seconds > 0 ? (double)t->records_in / r->seconds : 0.0, r->workers,
            r->workers == 1 ? "" : "s", why);
    if (timing && t->cpu_ns)
        weir_log(WEIR_LOG_INFO, "  worker threads' CPU %.3f s, %.1f ns/record", t->cpu_ns / 1e9,
                 t->records_in ? (double)t->cpu_ns / (double)t->records_in : 0.0);
    if (timing && r->http_cpu_ns)
        weir_log(WEIR_LOG_INFO, "  http responder's CPU %.3f s, %llu requests, %.1f us/request",
                 r->http_cpu_ns / 1e9, (unsigned long long)r->http_requests,
                 r->http_requests ? r->http_cpu_ns / 1e3 / (double)r->http_requests : 0.0);
    if (timing && reloads) /* the times are by position, pl's names the first version's */
        weir_log(WEIR_LOG_INFO, "  per-operator times not shown: the pipeline was reloaded "
                                "during the run (its operators may have moved)");
    for (size_t k = 0; timing && !reloads && k < pl->nops && k < 64; k++)
        weir_log(WEIR_LOG_INFO, "  %s %-12s %8.1f ns/record",
                 weir_pipeline_op_path(pl, k, (char[48]){0}, 48), pl->ops[k].type->name,
                 t->records_in ? (double)t->op_ns[k] / (double)t->records_in : 0.0);
}

/* What the pipeline's sections run beside the workers (a "replay"). One at
 * most today; the run takes one companion. */
static int companion_for(const struct weir_pipeline *pl, struct weir_companion **out,
                         struct weir_error *err)
{
    *out = NULL;
    for (size_t k = 0; k < pl->nsections; k++) {
        const struct weir_section_type *t = pl->sections[k].type;
        if (!t->companion)
            continue;
        if (*out)
            return weir_error_set(err, -ENOTSUP, "only one section may run beside the workers");
        if (!(*out = t->companion(pl->sections[k].conf, pl, err)))
            return err->code ? err->code : -ENOMEM;
    }
    return 0;
}

/* SIGHUP: what a reload reads the file with. The versions it loads are the
 * run's (run.h: freed once nothing uses them); the first stays ours. */
struct reloads {
    const struct cli *c;
    unsigned planned; /* reloads handed to the workers */
};

/* SIGHUP or the file watch: the file is loaded and checked again. Invalid:
 * every problem is logged with its JSON path and the run goes on as it is.
 * Valid: the plan (engine/reload.h) says how the workers take it, or what
 * needs a restart. */
static int reload_file(void *ctx, const struct weir_pipeline *running,
                       const struct weir_pipeline **next, struct weir_reload_plan *plan)
{
    struct reloads *r = ctx;
    const struct cli *c = r->c;
    struct weir_pipeline *pl = NULL;
    weir_log(WEIR_LOG_INFO, "reload: reading %s again", c->pipeline);
    if (load(c, &pl) < 0) {
        weir_log(WEIR_LOG_ERROR, "reload: %s is not valid (above); the running pipeline goes on "
                 "unchanged", c->pipeline);
        return -1;
    }
    pl->state_dir = running->state_dir; /* as the run took it (not used with Kafka) */
    pl->keyed_at_start = running->keyed_at_start;
    char why[256] = "";
    int kind = weir_reload_plan(running, pl, plan, why, sizeof why);
    if (kind <= 0) {
        if (kind < 0)
            weir_log(WEIR_LOG_WARN, "reload: %s: %s: that needs a restart; the running pipeline "
                     "goes on unchanged", c->pipeline, why);
        /* else the run says whether the watch changed (the workers have nothing to do) */
        weir_pipeline_free(pl);
        return kind < 0 ? -1 : 0;
    }
    plan->kind = kind;
    *next = pl;
    r->planned++;
    return 1;
}

/* --http and --http-token-file, else the pipeline's "http" section. Returns
 * 0 (*out NULL when HTTP is off) or -1 after saying why. */
static int http_conf(const struct cli *c, const struct weir_pipeline *pl,
                     struct weir_http_conf *conf, const struct weir_http_conf **out)
{
    *out = NULL;
    const struct weir_http_section *sec = weir_pipeline_section(pl, "http");
    const char *listen = c->http ? c->http : sec ? sec->listen : NULL;
    const char *token = c->http_token_file ? c->http_token_file : sec ? sec->token_file : NULL;
    if (!listen) {
        if (token)
            fprintf(stderr, "weir: --http-token-file without --http: no HTTP endpoint to protect\n");
        return token ? -1 : 0;
    }
    memset(conf, 0, sizeof *conf);
    if (weir_http_listen_parse(listen, conf) < 0) {
        fprintf(stderr,
                "weir: --http expects [ADDR:]PORT with ADDR an IPv4 or IPv6 address and PORT 0 to "
                "65535, got \"%s\"\n",
                listen);
        return -1;
    }
    struct weir_error err = {0};
    if (token && weir_http_token_file(token, conf, &err) < 0) {
        fprintf(stderr, "weir: %s\n", err.msg);
        return -1;
    }
    *out = conf;
    return 0;
}

static pthread_t signal_taker;

static void forward_signal(int sig)
{
    int saved = errno;
    pthread_kill(signal_taker, sig); /* blocked there: pending until sigtimedwait */
    errno = saved;
}

/* Threads that libraries start before main (OpenBLAS's pool) do not block
 * SIGINT/SIGTERM/SIGHUP; one of those signals delivered to such a thread
 * while the main thread is not in sigtimedwait would kill the process by
 * its default action (exit 143, nothing drained: seen once in CI). A
 * handler hands it to the main thread instead. Signals ignored when weir
 * started (nohup, a script's background job) stay ignored. */
static void forward_stray_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    signal_taker = pthread_self();
    for (size_t k = 0; k < sizeof sigs / sizeof *sigs; k++) {
        struct sigaction old, sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[k], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[k], &sa, NULL);
    }
}

/* --state-dir for the run: sets pl->state_dir and returns the directory's
 * lock (-1: none), or -2 when another run holds it (said). */
static int state_dir_take(const struct cli *c, struct weir_pipeline *pl)
{
    if (!c->state_dir) {
        /* Asked for in the file, and a file run has nowhere else to keep it. */
        const json_t *durable = json_object_get(json_object_get(pl->root, "state"), "durable");
        if (json_is_true(durable) && !pl->source_type->durable && pl->keyed_at_start)
            weir_log(WEIR_LOG_WARN, "\"state\": {\"durable\": true} is not kept: a %s source "
                     "saves keyed state only in --state-dir DIR, and this run has none; its "
                     "state lasts as long as the run", pl->source_type->name);
        return -1;
    }
    char older[256];
    if (!pl->state_durable) {
        weir_log(WEIR_LOG_INFO, "--state-dir %s is not used: \"state\": {\"durable\": false}",
                 c->state_dir);
        return -1;
    }
    if (pl->source_type->durable) {
        /* It would take the changelog's place: saved only at the end of the
         * run, outside the offsets it must cover, by whichever process ran.
         * Not an error: one service unit (deploy/) runs either kind. */
        if (weir_state_dir_older_kafka(c->state_dir, older, sizeof older))
            weir_log(WEIR_LOG_WARN, "--state-dir %s is not used: the %s source keeps its keyed "
                     "state in its changelog topic %s only. %s there was saved by a weir that "
                     "kept a Kafka pipeline's state in the directory: it is not read, that state "
                     "starts afresh (docs/operations.md, Upgrades)", c->state_dir,
                     pl->source_type->name, pl->state_topic, older);
        else
            weir_log(WEIR_LOG_INFO, "--state-dir %s is not used: the %s source keeps its keyed "
                     "state in its changelog topic %s", c->state_dir, pl->source_type->name,
                     pl->state_topic);
        return -1;
    }
    pl->state_dir = c->state_dir; /* a reload that adds keyed state is refused (reload.c) */
    if (!pl->keyed_at_start) {
        /* Nothing to save: no lock either, so that copies of a stateless
         * pipeline (one service unit passes --state-dir to any) run side
         * by side. */
        weir_log(WEIR_LOG_INFO, "--state-dir %s is not used: the pipeline keeps no keyed state",
                 c->state_dir);
        return -1;
    }
    struct weir_error err = {0};
    int fd = weir_state_dir_claim(c->state_dir, pl->name, &err);
    if (fd < 0) {
        weir_log(WEIR_LOG_ERROR, "%s: %s", c->pipeline, err.msg);
        return -2;
    }
    return fd;
}

static int cmd_run(const struct cli *c)
{
    /* From here on SIGINT/SIGTERM are stop requests, also while the pipeline
     * loads and the workers start: weir_run takes them (run.h). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* a reload request, never a reason to die (run.h) */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    forward_stray_signals();
    struct weir_pipeline *pl;
    if (load(c, &pl) < 0)
        return EXIT_USAGE;
    pl->keyed_at_start = weir_pipeline_keyed_op(pl) >= 0;
    int state_lock = state_dir_take(c, pl);
    if (state_lock == -2) {
        weir_pipeline_free(pl);
        return EXIT_RUN_FAILED;
    }
    struct weir_http_conf hc;
    struct reloads reloads = {.c = c};
    struct weir_run_opts opts = {.workers = c->workers, .timing = c->timing,
                                 .reload = reload_file, .reload_ctx = &reloads};
    opts.watch_file = c->pipeline; /* watched as --watch or its "reload" section says */
    opts.watch = c->watch;
    if (http_conf(c, pl, &hc, &opts.http) < 0) {
        weir_pipeline_free(pl);
        return EXIT_USAGE;
    }
    int every = c->progress >= 0 ? c->progress : isatty(2) ? 10 : 0;
    opts.progress_s = c->quiet ? 0 : (unsigned)every;
    struct weir_run_result res = {0};
    struct weir_error err = {0};
    int rc = companion_for(pl, &opts.companion, &err), ran = rc == 0;
    if (ran)
        rc = weir_run(pl, &opts, &res, &err);
    if (ran && !c->quiet)
        summary(pl, &res, c->timing, reloads.planned, rc < 0);
    if (opts.companion)
        opts.companion->release(opts.companion, c->quiet ? NULL : stderr);
    if (rc == 0 && res.stopped_by_signal && state_lock >= 0 && res.total.records_in > 0)
        /* a file has no offset to save */
        weir_log(WEIR_LOG_WARN,
                 "warning: state: stopped by a signal: what %s holds now covers "
                 "the %llu records read; if the input had not ended, start the next run after "
                 "them (one over the same input from its start counts them twice)",
                 c->state_dir, (unsigned long long)res.total.records_in);
    if (rc < 0)
        weir_log(WEIR_LOG_ERROR, "%s: %s", c->pipeline, err.msg[0] ? err.msg : strerror(-rc));
    weir_pipeline_free(pl);
    if (state_lock >= 0)
        close(state_lock);
    return rc < 0 ? EXIT_RUN_FAILED : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    /* A closed stdout (weir run ... | head) is EPIPE from the write, which
     * the file sink turns into a clean stop (connectors/file_sink.c), not a
     * silent death. */
    signal(SIGPIPE, SIG_IGN);
    weir_kernels_cpu_init(); /* OpenBLAS's idle threads spin ~0.1 s of CPU each otherwise */
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("weir %s\n", WEIR_VERSION);
        return 0;
    }
    if (argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0))
        return help(cmd);                                      /* weir help --help too */
    for (int i = 3; i < argc && strcmp(cmd, "help") != 0; i++) /* --help, wherever it is */
        if (strcmp(argv[i], "--help") == 0)
            return help(cmd);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return help(argc > 2 ? argv[2] : NULL);
    if (strcmp(cmd, "schema") == 0)
        return weir_schema_print(stdout) < 0 ? EXIT_RUN_FAILED : 0;
    if (strcmp(cmd, "docs") == 0) {
        weir_reference_markdown(stdout);
        return 0;
    }
    for (const struct weir_command *const *k = weir_commands(); *k; k++)
        if (strcmp((*k)->name, cmd) == 0)
            return (*k)->main(argc, argv);
    struct cli c = {.command = cmd};
    if (strcmp(cmd, "run") != 0 && strcmp(cmd, "validate") != 0) {
        fprintf(stderr, "weir: unknown command \"%s\"\n", cmd);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (parse_args(argc, argv, &c) < 0)
        return EXIT_USAGE;
    if (strcmp(cmd, "run") == 0)
        return cmd_run(&c);
    return cmd_validate(&c);
}
