/* The partition lists of the Kafka source's report lines (issue 8): a line
 * that cannot name every partition ends with "and N more", N counting those
 * left out, instead of dropping names without a word; and a revocation's
 * commit that the brokers did not take is named once, in one line, not
 * retried, while an assigned partition's failure is retried and a lost one
 * is left to the exit report (connectors/kafka_commit.c, ks_on_commit); one
 * whose answer never came is named after the consumer closed
 * (ks_commit_unanswered). */
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka_source.h"
#include "tests/check.h"

/* How many pieces text names: separators + 1, up to " and N more". */
static size_t named(const char *text, const char *sep)
{
    size_t n = *text != '\0';
    for (const char *s = strstr(text, sep); s; s = strstr(s + strlen(sep), sep))
        n++;
    return n;
}

static size_t more_of(const char *text)
{
    const char *m = strstr(text, " and ");
    return m ? strtoul(m + 5, NULL, 10) : 0;
}

static void test_builder(void)
{
    struct weir_kafka_names b = {.len = 0};
    CHECK_STR(weir_kafka_names_end(&b, "]"), "");
    b = (struct weir_kafka_names){.len = 0};
    weir_kafka_names_add(&b, ", ", "%s[%d] at %d", "in", 0, 10);
    weir_kafka_names_add(&b, ", ", "%s[%d] at %d", "in", 1, 11);
    CHECK_STR(weir_kafka_names_end(&b, ""), "in[0] at 10, in[1] at 11");

    b = (struct weir_kafka_names){.len = 0};
    for (int i = 0; i < 500; i++)
        weir_kafka_names_add(&b, ", ", "a-rather-long-topic-name[%d] at %d (brokers hold: %d)", i,
                             1000000 + i, 999000 + i);
    const char *t = weir_kafka_names_end(&b, "");
    CHECK(strlen(t) < WEIR_KAFKA_NAMES_SIZE);
    CHECK(strstr(t, "a-rather-long-topic-name[0] at 1000000 (brokers hold: 999000), ") == t);
    const char *and = strstr(t, " and ");
    CHECK(and && strcmp(and + 5 + strspn(and + 5, "0123456789"), " more") == 0);
    size_t n = named(t, ", ");
    CHECK(n > 5 && n + more_of(t) == 500);
    char last[80];
    snprintf(last, sizeof last, "[%zu] at %zu (brokers hold: %zu) and ", n - 1, 1000000 + n - 1,
             999000 + n - 1);
    CHECK(strstr(t, last) != NULL); /* in order: the first n named, the rest counted */

    /* grouped by topic, as the rebalance lines are: the bracket closes */
    b = (struct weir_kafka_names){.len = 0};
    weir_kafka_names_add(&b, "] ", "%s[%d", "a", 0);
    weir_kafka_names_add(&b, ",", "%d", 1);
    weir_kafka_names_add(&b, "] ", "%s[%d", "b", 7);
    CHECK_STR(weir_kafka_names_end(&b, "]"), "a[0,1] b[7]");
    b = (struct weir_kafka_names){.len = 0};
    weir_kafka_names_add(&b, "] ", "%s[%d", "events", 0);
    for (int i = 1; i < 1000; i++)
        weir_kafka_names_add(&b, ",", "%d", i);
    t = weir_kafka_names_end(&b, "]");
    CHECK(strncmp(t, "events[0,1,2,", 13) == 0 && strstr(t, "] and ") != NULL);
    CHECK(named(t, ",") + more_of(t) == 1000);

    /* a piece longer than the line: counted, never cut */
    b = (struct weir_kafka_names){.len = 0};
    weir_kafka_names_add(&b, ", ", "%0*d", WEIR_KAFKA_NAMES_SIZE, 7);
    CHECK_STR(weir_kafka_names_end(&b, "]"), "1 more");
}

static struct kpart part(const char *topic, int32_t partition, int assigned, int64_t revoke_at,
                         int64_t committed)
{
    return (struct kpart){.topic = (char *)topic, .partition = partition, .assigned = assigned,
                          .revoke_at = revoke_at, .committed = committed, .named = -1,
                          .stored = assigned ? 500 : -1};
}

/* What the next ks_on_commit or ks_commit_unanswered writes to stderr. */
static FILE *capture_begin(int *saved)
{
    fflush(stderr);
    FILE *f = tmpfile();
    *saved = dup(2);
    dup2(fileno(f), 2);
    return f;
}

static void capture_end(FILE *f, int saved, char *out, size_t size)
{
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t got = fread(out, 1, size - 1, f);
    out[got] = '\0';
    fclose(f);
}

/* ks_on_commit's lines for one commit result, stderr read back. */
static void commit_result(struct kafka_source *ks, rd_kafka_resp_err_t err,
                          const int32_t *parts, const int64_t *offsets, int n, char *out,
                          size_t size)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, "in", parts[i])->offset = offsets[i];
    int saved;
    FILE *f = capture_begin(&saved);
    ks_on_commit(NULL, err, l, ks);
    capture_end(f, saved, out, size);
    rd_kafka_topic_partition_list_destroy(l);
}

static void unanswered(struct kafka_source *ks, char *out, size_t size)
{
    int saved;
    FILE *f = capture_begin(&saved);
    ks_commit_unanswered(ks);
    capture_end(f, saved, out, size);
}

static void test_revocation_failures(void)
{
    struct kpart p[4] = {
        part("in", 0, 0, 100, 50),  /* revoked: its revocation commit */
        part("in", 1, 1, -1, 400),  /* assigned: retried */
        part("in", 2, 0, -1, 10),   /* lost: the exit report names it */
        part("in", 3, 1, 300, -1),  /* given back again before the answer came */
    };
    p[2].lost = 1;
    struct kpart *v[4] = {&p[0], &p[1], &p[2], &p[3]};
    struct kafka_source ks = {.parts = v, .nparts = 4};
    snprintf(ks.cl.what, sizeof ks.cl.what, "kafka source (worker 0)");
    snprintf(ks.cl.brokers, sizeof ks.cl.brokers, "b:9092");
    char out[4096];
    commit_result(&ks, RD_KAFKA_RESP_ERR__TIMED_OUT, (int32_t[]){0, 1, 2, 3},
                  (int64_t[]){100, 500, 20, 300}, 4, out, sizeof out);
    CHECK(strstr(out, "warning: kafka source (worker 0): offsets committed on revocation not "
                      "taken by brokers b:9092: in[0] at 100, in[3] at 300: Local: Timed out; "
                      "not retried") != NULL);
    CHECK(strstr(out, "whoever owns them next reads those records again") != NULL);
    CHECK(strstr(out, "offset commit failed for 1 partition(s): Local: Timed out (retried)"));
    CHECK(strstr(out, "in[2]") == NULL);
    CHECK(p[0].revoke_at == -1 && p[3].revoke_at == -1 && p[0].named == 100);

    /* the same answer again (librdkafka's own commit at unassign): named once */
    ks.cl.warned_ns = 0;
    commit_result(&ks, 0, (int32_t[]){0}, (int64_t[]){100}, 1, out, sizeof out);
    CHECK_STR(out, ""); /* a success, revoked: nothing to say */
    commit_result(&ks, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, (int32_t[]){0}, (int64_t[]){100}, 1,
                  out, sizeof out);
    CHECK_STR(out, "");

    /* many partitions: one line, "and N more" */
    enum { MANY = 300 };
    struct kpart *many[MANY];
    int32_t ids[MANY];
    int64_t offs[MANY];
    for (int i = 0; i < MANY; i++) {
        many[i] = malloc(sizeof *many[i]);
        *many[i] = part("in", i, 0, 1000000 + i, -1);
        ids[i] = i;
        offs[i] = 1000000 + i;
    }
    struct kafka_source big = {.parts = many, .nparts = MANY};
    commit_result(&big, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, ids, offs, MANY, out,
                  sizeof out);
    CHECK(strchr(out, '\n') == strrchr(out, '\n')); /* one line */
    const char *list = strstr(out, "brokers : ");
    CHECK(list != NULL);
    if (list) {
        char text[WEIR_KAFKA_NAMES_SIZE + 64];
        snprintf(text, sizeof text, "%.*s", (int)(strstr(list, ": Broker:") - list - 10),
                 list + 10);
        CHECK(named(text, ", ") + more_of(text) == MANY);
        CHECK(more_of(text) > 0);
    }
    for (int i = 0; i < MANY; i++)
        free(many[i]);
}

/* A revocation's commit with no answer when the consumer has closed: named
 * once, unless a later commit confirmed as far or a line named it already. */
static void test_unanswered_at_exit(void)
{
    struct kpart p[5] = {
        part("in", 0, 0, 100, 50),  /* revoked, no answer: named */
        part("in", 1, 0, -1, 400),  /* its revocation's answer came */
        part("in", 2, 1, 200, 300), /* given back and committed further since */
        part("in", 3, 0, 70, -1),   /* named already (refused) */
        part("in", 4, 0, 90, -1),   /* no answer: named */
    };
    p[3].named = 70;
    struct kpart *v[5] = {&p[0], &p[1], &p[2], &p[3], &p[4]};
    struct kafka_source ks = {.parts = v, .nparts = 5};
    snprintf(ks.cl.what, sizeof ks.cl.what, "kafka source (worker 0)");
    snprintf(ks.cl.brokers, sizeof ks.cl.brokers, "b:9092");
    char out[4096];
    unanswered(&ks, out, sizeof out);
    CHECK_STR(out, "weir: warning: kafka source (worker 0): offsets committed on revocation not "
                   "confirmed by brokers b:9092 before exit: in[0] at 100, in[4] at 90; whoever "
                   "owns them next may read those records again\n");
    CHECK(p[0].named == 100 && p[0].revoke_at == -1 && p[2].revoke_at == 200);
    unanswered(&ks, out, sizeof out);
    CHECK_STR(out, ""); /* once */

    /* a replaced consumer's closer says so; many partitions: "and N more" */
    enum { MANY = 300 };
    struct kpart *many[MANY];
    for (int i = 0; i < MANY; i++) {
        many[i] = malloc(sizeof *many[i]);
        *many[i] = part("a-rather-long-topic-name", i, 0, 1000000 + i, -1);
    }
    struct kafka_source big = {.parts = many, .nparts = MANY, .replaced = 1};
    unanswered(&big, out, sizeof out);
    CHECK(strchr(out, '\n') == strrchr(out, '\n')); /* one line */
    const char *list = strstr(out, "before the replaced consumer closed: ");
    const char *end = strstr(out, "; whoever owns them next");
    CHECK(list != NULL && end != NULL);
    if (list && end) {
        char text[WEIR_KAFKA_NAMES_SIZE + 64];
        list += strlen("before the replaced consumer closed: ");
        snprintf(text, sizeof text, "%.*s", (int)(end - list), list);
        CHECK(named(text, ", ") + more_of(text) == MANY);
        CHECK(more_of(text) > 0);
    }
    for (int i = 0; i < MANY; i++)
        free(many[i]);
}

int main(void)
{
    test_builder();
    test_revocation_failures();
    test_unanswered_at_exit();
    return check_summary();
}
