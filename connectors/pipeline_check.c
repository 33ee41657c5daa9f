/* `weir check PIPELINE`: what the pipeline needs from the outside world,
 * checked without running it: Kafka brokers reachable, topics present (with
 * their partition counts) and described without an authorization error, the
 * changelog topic, the consumer group; input files readable, output
 * directories writable; model files (loaded when the pipeline validates).
 *
 * Never consumes, produces or commits: the only Kafka requests are Metadata
 * and DescribeGroups, from a client that never subscribes or assigns, with
 * topic auto-creation off, and the same with the authorized operations
 * (FindCoordinator too) from kafka_authz.c for what the run may do. The pipeline is loaded exactly as `weir run`
 * would load it, so unsafe Kafka properties are refused as there. */
#include "connectors/connector.h"
#include "connectors/file_list.h"
#include "connectors/kafka_authz.h"
#include "connectors/kafka_common.h"
#include "engine/http.h"
#include "engine/override.h"
#include "engine/pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXIT_PROBLEMS 1
#define EXIT_USAGE    2

struct check {
    int problems;
    int kafka_reached; /* some brokers answered: the permissions note applies */
    int timeout_ms;
    int authz_unknown; /* permission checks the brokers could not be asked for */
    const struct weir_pipeline *pl; /* the one being checked */
    char authz_why[256];
    /* Brokers already found unreachable: not asked again. */
    char unreachable[8][512];
    int nunreachable;
};

static void line(struct check *k, const char *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void line(struct check *k, const char *status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-5s ", status);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    if (strcmp(status, "FAIL") == 0)
        k->problems++;
}

/* ---- Kafka ----------------------------------------------------------------- */

/* The topic's partition count, or -1 after a FAIL line. */
static int check_topic(struct check *k, rd_kafka_t *rk, struct weir_kafka_client *cl,
                       const char *topic, const char *role, int missing_is_ok)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e =
        rkt ? rd_kafka_metadata(rk, 0, rkt, &md, k->timeout_ms) : rd_kafka_last_error();
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (e) {
        line(k, "FAIL", "%s topic \"%s\": no metadata from brokers %s within %.1f s: %s", role,
             topic, cl->brokers, k->timeout_ms / 1000.0, rd_kafka_err2str(e));
        return -1;
    }
    rd_kafka_resp_err_t te =
        md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
    int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
    rd_kafka_metadata_destroy(md);
    if (te == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || te == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        (!te && n == 0)) {
        if (missing_is_ok) {
            line(k, "note", "%s topic \"%s\": does not exist yet; the run creates it", role, topic);
            return 0;
        }
        line(k, "FAIL",
             "%s topic \"%s\": does not exist on brokers %s (weir does not create topics)", role,
             topic, cl->brokers);
        return -1;
    }
    if (te == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED) {
        line(k, "FAIL",
             "%s topic \"%s\": not authorized: the brokers refuse to describe it to this "
             "principal (%s)",
             role, topic, rd_kafka_err2str(te));
        return -1;
    }
    if (te) {
        line(k, "FAIL", "%s topic \"%s\": %s", role, topic, rd_kafka_err2str(te));
        return -1;
    }
    line(k, "ok", "%s topic \"%s\": %d partition%s", role, topic, n, n == 1 ? "" : "s");
    return n;
}

/* Brokers answer: one line naming them. 0, or -1 after a FAIL line. */
static int check_brokers(struct check *k, rd_kafka_t *rk, struct weir_kafka_client *cl)
{
    for (int i = 0; i < k->nunreachable; i++)
        if (strcmp(k->unreachable[i], cl->brokers) == 0) {
            line(k, "FAIL", "%s: brokers %s unreachable (above)", cl->what, cl->brokers);
            return -1;
        }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, k->timeout_ms);
    rd_kafka_poll(rk, 0); /* error events: their reason goes in the line */
    if (e) {
        int auth = cl->last_code == RD_KAFKA_RESP_ERR__AUTHENTICATION;
        line(k, "FAIL", "%s: brokers %s %s within %.1f s: %s%s%s", cl->what, cl->brokers,
             auth ? "refused the authentication" : "unreachable", k->timeout_ms / 1000.0,
             rd_kafka_err2str(e), cl->last_err[0] ? "; librdkafka: " : "", cl->last_err);
        if (k->nunreachable < 8)
            snprintf(k->unreachable[k->nunreachable++], sizeof k->unreachable[0], "%s",
                     cl->brokers);
        return -1;
    }
    line(k, "ok", "%s: brokers %s reachable (%d broker%s in the cluster)", cl->what, cl->brokers,
         md->broker_cnt, md->broker_cnt == 1 ? "" : "s");
    k->kafka_reached = 1;
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* The consumer group: describing it needs Describe on the group (a run
 * needs Read). A group no one has joined yet is fine. */
static void check_group(struct check *k, rd_kafka_t *rk, const char *group)
{
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(rk, group, &gl, k->timeout_ms);
    rd_kafka_resp_err_t ge = e                    ? e
                             : gl->group_cnt == 1 ? gl->groups[0].err
                                                  : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ge == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED)
        line(k, "FAIL", "consumer group \"%s\": not authorized (%s)", group, rd_kafka_err2str(ge));
    else if (ge)
        line(k, "note", "consumer group \"%s\": not described: %s", group, rd_kafka_err2str(ge));
    else if (gl->group_cnt == 1 && gl->groups[0].state && gl->groups[0].state[0] &&
             strcmp(gl->groups[0].state, "Dead") != 0)
        line(k, "ok", "consumer group \"%s\": %s, %d member%s", group, gl->groups[0].state,
             gl->groups[0].member_cnt, gl->groups[0].member_cnt == 1 ? "" : "s");
    else
        line(k, "ok", "consumer group \"%s\": no members yet", group);
    if (gl)
        rd_kafka_group_list_destroy(gl);
}

/* What a run needs on topics (need[i], operation bits) and Read on group,
 * asked of the brokers' authorizer: a FAIL line for each refusal. */
static void check_may(struct check *k, const char *role, const struct weir_kafka_authz_ask *a,
                      const int32_t *need, const char *const *roles)
{
    int32_t *ops = calloc(a->ntopics + 1, sizeof *ops), gops;
    char why[256] = "", have[160];
    if (!ops || weir_kafka_authorized(a, ops, &gops, why, sizeof why) < 0) {
        if (!k->authz_unknown++)
            snprintf(k->authz_why, sizeof k->authz_why, "%s", ops ? why : "out of memory");
        free(ops);
        return;
    }
    for (size_t i = 0; i <= a->ntopics; i++) {
        int group = i == a->ntopics;
        if (group && !a->group)
            break;
        int32_t got = group ? gops : ops[i], want = group ? 1 << WEIR_KAFKA_OP_READ : need[i];
        const char *name = group ? a->group : a->topics[i];
        const char *who = group ? "consumer" : roles && roles[i] ? roles[i] : role;
        char wanted[64];
        weir_kafka_ops_names(want, wanted, sizeof wanted);
        if (got == WEIR_KAFKA_OPS_UNKNOWN) {
            if (!k->authz_unknown++ || !k->authz_why[0])
                snprintf(k->authz_why, sizeof k->authz_why, "%s", why);
            continue;
        }
        weir_kafka_ops_names(got, have, sizeof have);
        if ((got & want) == want)
            line(k, "ok", "%s %s \"%s\": may %s (allowed: %s)", who, group ? "group" : "topic",
                 name, wanted, have);
        else
            line(k, "FAIL", "%s %s \"%s\": this client may not %s (the brokers allow it: %s)", who,
                 group ? "group" : "topic", name, wanted, have);
    }
    free(ops);
}

/* Exactly-once: the first worker's transactional id. Write on it is what a
 * run needs, and no request shows it without starting a transaction; but a
 * client that may not even Describe it (no ACL at all) surely may not. */
static void check_txn_id(struct check *k, const struct weir_pipeline *pl,
                         const struct weir_kafka_authz_ask *a)
{
    char id[300], why[256];
    weir_kafka_transactional_id(pl, 0, id, sizeof id);
    int d = weir_kafka_txn_describable(a, id, why, sizeof why);
    if (d == 0)
        line(k, "FAIL", "exactly-once: transactional id \"%s\": this client may not even Describe "
             "it (a run needs Write on its transactional ids)", id);
    else if (d == 1)
        line(k, "ok", "exactly-once: transactional id \"%s\": may Describe (Write is not shown "
             "without starting a transaction)", id);
    else if (!k->authz_unknown++)
        snprintf(k->authz_why, sizeof k->authz_why, "%s", why);
}

/* An existing changelog must be compacted, as the run refuses it otherwise. */
static void check_compaction(struct check *k, rd_kafka_t *rk, struct weir_kafka_client *cl,
                             const char *topic)
{
    struct weir_error err = {0};
    int rc = weir_kafka_changelog_compacted(rk, cl, topic, k->timeout_ms, &err);
    if (rc < 0)
        line(k, "FAIL", "%s", err.msg);
    else if (rc > 0)
        line(k, "note", "%s", err.msg);
    else
        line(k, "ok", "changelog topic \"%s\": compacted", topic);
}

/* A "replay" section produces into its topic (the source's first by
 * default) with the source's credentials: Write there, beside the source's
 * Read when it is one of them. */
static void ask_replay(struct check *k, rd_kafka_t *rk, struct weir_kafka_client *cl,
                       const struct weir_pipeline *pl, const struct weir_kafka_source_conf *kc,
                       const char **ask, int32_t *need, const char **roles, size_t *nask)
{
    const json_t *replay = json_object_get(pl->root, "replay");
    if (!json_is_object(replay) || !kc->topics.n)
        return;
    const char *topic = json_string_value(json_object_get(replay, "topic"));
    topic = topic ? topic : kc->topics.v[0];
    for (size_t i = 0; i < *nask; i++)
        if (strcmp(ask[i], topic) == 0) {
            need[i] |= 1 << WEIR_KAFKA_OP_WRITE;
            return;
        }
    for (size_t i = 0; i < kc->topics.n; i++)
        if (strcmp(kc->topics.v[i], topic) == 0)
            return; /* a source topic that is not there: failed above */
    if (check_topic(k, rk, cl, topic, "replay", 0) > 0)
        need[*nask] = 1 << WEIR_KAFKA_OP_WRITE, roles[*nask] = "replay", ask[(*nask)++] = topic;
}

static void check_kafka_source(struct check *k, const struct weir_pipeline *pl,
                               const struct weir_kafka_source_conf *kc)
{
    struct weir_kafka_client cl = {.what = "kafka source"};
    snprintf(cl.brokers, sizeof cl.brokers, "%s", kc->brokers);
    struct weir_error err = {0};
    rd_kafka_t *rk = weir_kafka_metadata_client(&cl, kc->brokers, NULL, kc->kafka, &err);
    if (!rk) {
        line(k, "FAIL", "%s", err.msg);
        return;
    }
    /* every present source topic asked for Read, the replay's for Write,
     * and the changelog */
    const char **ask = calloc(kc->topics.n + 2, sizeof *ask);
    const char **roles = calloc(kc->topics.n + 2, sizeof *roles); /* NULL: "source" */
    int32_t *need = calloc(kc->topics.n + 2, sizeof *need);
    if (!ask || !need || !roles)
        line(k, "FAIL", "kafka source: out of memory");
    else if (check_brokers(k, rk, &cl) == 0) {
        int widest = 0;
        size_t nask = 0;
        for (size_t i = 0; i < kc->topics.n; i++) {
            int n = check_topic(k, rk, &cl, kc->topics.v[i], "source", 0);
            widest = n > widest ? n : widest;
            if (n > 0)
                need[nask] = 1 << WEIR_KAFKA_OP_READ, ask[nask++] = kc->topics.v[i];
        }
        ask_replay(k, rk, &cl, pl, kc, ask, need, roles, &nask);
        char group[300];
        if (kc->group) /* else the run's default: "weir-" + the pipeline's name */
            snprintf(group, sizeof group, "%s", kc->group);
        else
            snprintf(group, sizeof group, "weir-%s", pl->name);
        check_group(k, rk, group);
        if (pl->state_durable && pl->state_topic) {
            int n = check_topic(k, rk, &cl, pl->state_topic, "changelog", 1);
            if (n > 0 && n < widest)
                line(k, "FAIL", "changelog topic \"%s\": %d partitions, fewer than the source's %d",
                     pl->state_topic, n, widest);
            if (n > 0)
                check_compaction(k, rk, &cl, pl->state_topic);
            if (n > 0) /* restored (read) and written */
                need[nask] = 1 << WEIR_KAFKA_OP_READ | 1 << WEIR_KAFKA_OP_WRITE,
                roles[nask] = "changelog", ask[nask++] = pl->state_topic;
        }
        struct weir_kafka_authz_ask a = {.brokers = kc->brokers, .props = kc->kafka,
                                         .topics = ask, .ntopics = nask, .group = group,
                                         .timeout_ms = k->timeout_ms};
        check_may(k, "source", &a, need, roles);
        if (kc->guarantee == WEIR_KAFKA_EXACTLY_ONCE)
            check_txn_id(k, pl, &a);
    }
    free(ask);
    free(roles);
    free(need);
    rd_kafka_destroy(rk);
}

/* A Kafka sink (or the dead-letter sink): its own brokers, or the source's
 * with the source's security properties, as the run's producer. */
static void check_kafka_sink(struct check *k, const struct weir_kafka_source_conf *kc,
                             const json_t *sink, const char *what)
{
    const char *own = json_string_value(json_object_get(sink, "brokers"));
    const char *brokers = own ? own : kc ? kc->brokers : NULL;
    const char *topic = json_string_value(json_object_get(sink, "topic"));
    const json_t *props = weir_kafka_sink_producer_props(k->pl, json_object_get(sink, "kafka"));
    struct weir_kafka_client cl = {0};
    snprintf(cl.what, sizeof cl.what, "%s", what);
    if (!brokers || !topic) {
        line(k, "FAIL", "%s: no brokers or topic", what);
        return;
    }
    snprintf(cl.brokers, sizeof cl.brokers, "%s", brokers);
    if (strcmp(brokers, "embedded") == 0) {
        line(k, "ok", "%s: embedded cluster (in-process; topic \"%s\" is made when the run starts)",
             what, topic);
        return;
    }
    struct weir_error err = {0};
    rd_kafka_t *rk = weir_kafka_metadata_client(&cl, brokers, own || !kc ? NULL : kc->kafka,
                                                props, &err);
    if (!rk) {
        line(k, "FAIL", "%s", err.msg);
        return;
    }
    if (check_brokers(k, rk, &cl) == 0 && check_topic(k, rk, &cl, topic, what, 0) > 0) {
        int32_t need = 1 << WEIR_KAFKA_OP_WRITE;
        struct weir_kafka_authz_ask a = {.brokers = brokers,
                                         .security = own || !kc ? NULL : kc->kafka,
                                         .props = props,
                                         .topics = &topic, .ntopics = 1,
                                         .timeout_ms = k->timeout_ms};
        check_may(k, what, &a, &need, NULL);
    }
    rd_kafka_destroy(rk);
}

/* ---- files ----------------------------------------------------------------- */

/* A file, a glob or a directory that what (the file source, the replay)
 * reads: every file in it can be opened. */
static void check_files_read(struct check *k, const char *what, const char *path)
{
    if (!path || strcmp(path, "-") == 0) {
        line(k, "ok", "%s: standard input", what);
        return;
    }
    struct weir_file_list l = {0};
    char why[512];
    if (weir_file_list_expand(&l, path, why, sizeof why) < 0) {
        line(k, "FAIL", "%s \"%s\": %s", what, path, why);
        return;
    }
    size_t bad = 0;
    for (size_t i = 0; i < l.n; i++) {
        int fd = open(l.paths[i], O_RDONLY);
        if (fd < 0 && bad++ < 5)
            line(k, "FAIL", "%s: %s: cannot be read: %s", what, l.paths[i], strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    if (!bad)
        line(k, "ok", "%s \"%s\": %zu file%s readable", what, path, l.n, l.n == 1 ? "" : "s");
    weir_file_list_free(&l);
}

/* What the run opens besides its stages: a failure there ends it at start. */
static void check_sections(struct check *k, const struct weir_pipeline *pl)
{
    const json_t *replay = json_object_get(pl->root, "replay");
    if (json_is_object(replay))
        check_files_read(k, "replay", json_string_value(json_object_get(replay, "path")));
    const struct weir_http_section *http = weir_pipeline_section(pl, "http");
    if (http && http->token_file) {
        struct weir_http_conf hc = {0};
        struct weir_error err = {0};
        if (weir_http_token_file(http->token_file, &hc, &err) < 0)
            line(k, "FAIL", "http.token_file: %s", err.msg);
        else
            line(k, "ok", "http.token_file \"%s\": a token", http->token_file);
        memset(hc.token, 0, sizeof hc.token); /* a secret: not left on the stack */
    }
}

static void check_file_sink(struct check *k, const json_t *sink, const char *what)
{
    const char *path = json_string_value(json_object_get(sink, "path"));
    if (!path || strcmp(path, "-") == 0) {
        line(k, "ok", "%s: standard output", what);
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    const char *d = dirname(dir);
    if (access(path, F_OK) == 0 && access(path, W_OK) < 0)
        line(k, "FAIL", "%s \"%s\": exists and is not writable: %s", what, path, strerror(errno));
    else if (access(d, W_OK | X_OK) < 0)
        line(k, "FAIL", "%s \"%s\": directory %s is not writable: %s", what, path, d,
             strerror(errno));
    else
        line(k, "ok", "%s \"%s\": directory %s writable", what, path, d);
}

/* ---- the command ------------------------------------------------------------ */

static void check_sink(struct check *k, const struct weir_kafka_source_conf *kc, const json_t *s,
                       const char *what)
{
    const char *type = json_string_value(json_object_get(s, "type"));
    if (type && strcmp(type, "file") == 0)
        check_file_sink(k, s, what);
    else if (type && strcmp(type, "kafka") == 0)
        check_kafka_sink(k, kc, s, what);
    else
        line(k, "note", "%s: a \"%s\" sink: nothing to check", what, type ? type : "?");
}

static void check_pipeline(struct check *k, const struct weir_pipeline *pl)
{
    const struct weir_kafka_source_conf *kc = weir_kafka_source_conf_of(pl);
    const json_t *src = json_object_get(pl->root, "source");
    k->pl = pl;
    if (kc && strcmp(kc->brokers, "embedded") == 0)
        line(k, "ok",
             "kafka source: embedded cluster (in-process; its topics are made when the "
             "run starts)");
    else if (kc)
        check_kafka_source(k, pl, kc);
    else if (pl->source_type && strcmp(pl->source_type->name, "file") == 0)
        check_files_read(k, "file source", json_string_value(json_object_get(src, "path")));
    check_sections(k, pl);
    const json_t *sinks = json_object_get(pl->root, "sinks");
    char what[64];
    for (size_t i = 0; i < json_array_size(sinks); i++) {
        const json_t *s = json_array_get(sinks, i);
        snprintf(what, sizeof what, "sinks[%zu] (%s)", i,
                 json_string_value(json_object_get(s, "type"))
                     ? json_string_value(json_object_get(s, "type"))
                     : "?");
        check_sink(k, kc, s, what);
    }
    const json_t *dead = json_object_get(pl->root, "dead_letter");
    if (json_is_object(dead))
        check_sink(k, kc, dead, "dead_letter");
    const json_t *ops = json_object_get(pl->root, "operators");
    for (size_t i = 0; i < pl->nops; i++) {
        int at = weir_pipeline_file_op(pl, i); /* an implicit extract is not in the file */
        const char *path =
            json_string_value(json_object_get(json_array_get(ops, (size_t)at), "path"));
        if (at >= 0 && strcmp(pl->ops[i].type->name, "model") == 0)
            line(k, "ok", "operators[%d] (model): \"%s\" loaded", at, path ? path : "?");
    }
    if (k->authz_unknown)
        line(k, "note", "kafka: %d permission check%s not made: %s; a refusal shows on the run's "
             "first produce or commit", k->authz_unknown, k->authz_unknown == 1 ? "" : "s",
             k->authz_why[0] ? k->authz_why : "the brokers did not say");
}

static int check_main(int argc, char **argv)
{
    struct weir_override sets[64];
    size_t nsets = 0;
    const char *file = NULL;
    struct check k = {.timeout_ms = 5000};
    struct weir_load_opts o = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--set") == 0 && i + 1 < argc) {
            if (nsets == 64 || weir_override_parse(argv[++i], &sets[nsets++]) < 0) {
                fprintf(stderr, "weir: --set expects PATH=VALUE, got \"%s\"\n", argv[i]);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--embedded") == 0) {
            o.embedded = 1;
        } else if (strcmp(a, "--timeout") == 0 && i + 1 < argc) {
            char *end;
            double s = strtod(argv[++i], &end);
            if (*end || !(s > 0 && s <= 600)) {
                fprintf(stderr, "weir: --timeout expects seconds above 0, up to 600, got \"%s\"\n",
                        argv[i]);
                return EXIT_USAGE;
            }
            k.timeout_ms = (int)(s * 1000);
        } else if (strcmp(a, "--allow-unsafe-kafka-properties") == 0) {
            o.allow_unsafe_kafka = 1;
        } else if (a[0] == '-' || file) {
            fprintf(stderr, "weir: check: unexpected argument \"%s\"; try: weir help check\n", a);
            return EXIT_USAGE;
        } else {
            file = a;
        }
    }
    if (!file) {
        fprintf(stderr, "weir: check needs a pipeline file; try: weir help check\n");
        return EXIT_USAGE;
    }
    o.sets = sets;
    o.nsets = nsets;
    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    int rc = weir_pipeline_load_opts(file, &o, &pl, &diag);
    weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    if (rc < 0) {
        fprintf(stderr, "weir: check: %s is not valid (above): nothing checked\n", file);
        return EXIT_USAGE;
    }
    line(&k, "ok", "%s: valid (%zu operators, %zu sinks)", file, pl->nops, pl->nsinks);
    check_pipeline(&k, pl);
    weir_pipeline_free(pl);
    printf("%s: %d problem%s\n", file, k.problems, k.problems == 1 ? "" : "s");
    return k.problems ? EXIT_PROBLEMS : 0;
}

const struct weir_command weir_command_check = {
    .name = "check",
    .usage = "weir check PIPELINE [--set PATH=VALUE]... [--embedded] [--timeout SECONDS]\n"
             "           [--allow-unsafe-kafka-properties]",
    .help =
        "Checks what PIPELINE needs from the outside world, without running it: Kafka brokers\n"
        "reachable (within --timeout, default 5 s), each source and sink topic present (its\n"
        "partition count printed) and not refused by authorization, the consumer group, the\n"
        "changelog topic of durable state; what the brokers' authorizer lets this client do\n"
        "(Read on the source topics and group, Write on the sink topics); a file source's\n"
        "files readable, file sinks' directories writable; model files load; the replay's\n"
        "files readable and http.token_file holding a token. One line per\n"
        "check (ok, note or FAIL), then the count of problems. Nothing is consumed, produced\n"
        "or committed: only metadata, group coordinators and group descriptions are asked\n"
        "for, and no topic is created. Unsafe \"kafka\" properties\n"
        "are refused as weir run and weir validate refuse them. Exit 0 when everything is\n"
        "ready, 1 with every problem listed, 2 for an invalid pipeline or bad usage.\n",
    .main = check_main,
};
