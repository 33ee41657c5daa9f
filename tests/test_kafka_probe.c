/* weir check's own Kafka client (connectors/kafka_probe.c, kafka_authz.c):
 * the properties it follows or refuses, its response reader on short and
 * lying input, and the authorized operations read from a fake broker that
 * answers Metadata v8, FindCoordinator v2 and DescribeGroups v3 the way
 * Kafka lays them out. tests/test_kafka_secure.sh runs it against a real
 * broker with ACLs, TLS, PLAIN and SCRAM. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "connectors/kafka_authz.h"
#include "connectors/kafka_probe.h"
#include "tests/check.h"

static void test_reader(void)
{
    const uint8_t b[] = {0x00, 0x02, 'h', 'i', 0xff, 0xff, 0x00, 0x09, 'x'};
    struct weir_kread r = {.p = b, .n = sizeof b};
    char s[8];
    weir_kread_str(&r, s, sizeof s);
    CHECK(strcmp(s, "hi") == 0 && !r.bad);
    weir_kread_str(&r, s, sizeof s); /* null */
    CHECK(s[0] == 0 && !r.bad);
    weir_kread_str(&r, s, sizeof s); /* says 9 bytes, holds 1 */
    CHECK(r.bad && s[0] == 0);
    CHECK(weir_kread32(&r) == 0 && r.bad);
    struct weir_kread q = {.p = b, .n = 3};
    CHECK(weir_kread32(&q) == 0 && q.bad);
    char names[64];
    weir_kafka_ops_names(1 << WEIR_KAFKA_OP_READ | 1 << WEIR_KAFKA_OP_DESCRIBE, names,
                         sizeof names);
    CHECK(strcmp(names, "Read, Describe") == 0);
    weir_kafka_ops_names(0, names, sizeof names);
    CHECK(strcmp(names, "none") == 0);
}

static int conf(const char *security, const char *props, struct weir_kprobe_conf *c, char *why)
{
    json_t *s = json_loads(security, 0, NULL), *p = json_loads(props, 0, NULL);
    int rc = weir_kprobe_conf_read(c, s, p, why, 256);
    json_decref(s);
    json_decref(p);
    return rc;
}

static void test_conf(void)
{
    struct weir_kprobe_conf c;
    char why[256];
    CHECK(conf("{}", "{}", &c, why) == 0 && !c.tls && !c.sasl);
    CHECK(conf("{\"security.protocol\": \"SASL_SSL\", \"sasl.mechanisms\": \"SCRAM-SHA-512\","
               "\"sasl.username\": \"u\", \"sasl.password\": \"p\"}",
               "{\"ssl.endpoint.identification.algorithm\": \"none\"}", &c, why) == 0);
    CHECK(c.tls && c.sasl && strcmp(c.mech, "SCRAM-SHA-512") == 0 && !c.verify_host);
    /* the pipeline's own properties over the source's security ones */
    CHECK(conf("{\"security.protocol\": \"SSL\"}", "{\"security.protocol\": \"plaintext\"}", &c,
               why) == 0 &&
          !c.tls);
    CHECK(conf("{\"security.protocol\": \"SASL_PLAINTEXT\"}", "{}", &c, why) < 0);
    CHECK(strstr(why, "GSSAPI") != NULL); /* librdkafka's default mechanism */
    CHECK(conf("{\"security.protocol\": \"SASL_SSL\", \"sasl.mechanisms\": \"PLAIN\"}", "{}", &c,
               why) < 0);
    CHECK(strstr(why, "sasl.password") != NULL);
    CHECK(conf("{\"ssl.keystore.location\": \"k.p12\"}", "{}", &c, why) < 0);
    CHECK(strstr(why, "ssl.keystore.location") != NULL);
    CHECK(conf("{\"security.protocol\": \"carrier-pigeon\"}", "{}", &c, why) < 0);
}

/* ---- a fake broker: answers each request by its api key ------------------- */

struct fake {
    int listen_fd, port, requests;
    int16_t keys[8], versions[8];
    int coordinator_err; /* FindCoordinator's answer */
};

static void put16(uint8_t *b, size_t *n, int v)
{
    b[(*n)++] = (uint8_t)(v >> 8);
    b[(*n)++] = (uint8_t)v;
}

static void put32(uint8_t *b, size_t *n, int32_t v)
{
    for (int s = 24; s >= 0; s -= 8)
        b[(*n)++] = (uint8_t)((uint32_t)v >> s);
}

static void putstr(uint8_t *b, size_t *n, const char *s)
{
    put16(b, n, (int)strlen(s));
    memcpy(b + *n, s, strlen(s));
    *n += strlen(s);
}

static size_t metadata(uint8_t *b, size_t n)
{
    put32(b, &n, 0); /* throttle */
    put32(b, &n, 1); /* one broker */
    put32(b, &n, 1);
    putstr(b, &n, "127.0.0.1");
    put32(b, &n, 9092);
    put16(b, &n, -1); /* rack */
    putstr(b, &n, "cluster");
    put32(b, &n, 1);
    put32(b, &n, 2); /* two topics */
    put16(b, &n, 0);
    putstr(b, &n, "ro");
    b[n++] = 0;
    put32(b, &n, 1); /* one partition: error, index, leader, epoch, 3 arrays of one */
    put16(b, &n, 0);
    for (int i = 0; i < 3; i++)
        put32(b, &n, i);
    for (int a = 0; a < 3; a++)
        put32(b, &n, 1), put32(b, &n, 1);
    put32(b, &n, 1 << 3 | 1 << 8); /* Read, Describe */
    put16(b, &n, 29);              /* TOPIC_AUTHORIZATION_FAILED */
    putstr(b, &n, "secret");
    b[n++] = 0;
    put32(b, &n, 0);
    put32(b, &n, INT32_MIN);
    put32(b, &n, INT32_MIN); /* cluster operations, not asked */
    return n;
}

static size_t answer(struct fake *f, int16_t key, uint8_t *b, size_t n)
{
    if (key == 3)
        return metadata(b, n);
    if (key == 10) { /* the coordinator is this broker */
        put32(b, &n, 0);
        put16(b, &n, f->coordinator_err);
        put16(b, &n, -1);
        put32(b, &n, 1);
        putstr(b, &n, "127.0.0.1");
        put32(b, &n, f->port);
        return n;
    }
    put32(b, &n, 0); /* DescribeGroups: one group, one member */
    put32(b, &n, 1);
    put16(b, &n, 0);
    putstr(b, &n, "g");
    putstr(b, &n, "Stable");
    putstr(b, &n, "consumer");
    putstr(b, &n, "range");
    put32(b, &n, 1);
    for (int s = 0; s < 3; s++)
        putstr(b, &n, "m");
    put32(b, &n, 2), put16(b, &n, 7);
    put32(b, &n, 0);
    put32(b, &n, 1 << 8); /* Describe only */
    return n;
}

static void *serve(void *arg)
{
    struct fake *f = arg;
    int fd = accept(f->listen_fd, NULL, NULL);
    uint8_t in[4096], out[4096];
    for (;;) {
        uint32_t len;
        if (fd < 0 || recv(fd, &len, 4, MSG_WAITALL) != 4)
            break;
        len = ntohl(len);
        if (len > sizeof in || recv(fd, in, len, MSG_WAITALL) != (ssize_t)len)
            break;
        int16_t key = (int16_t)(in[0] << 8 | in[1]);
        if (f->requests < 8) {
            f->keys[f->requests] = key;
            f->versions[f->requests] = (int16_t)(in[2] << 8 | in[3]);
        }
        f->requests++;
        size_t n = 4;
        memcpy(out + n, in + 4, 4); /* the correlation id */
        n = answer(f, key, out, n + 4);
        uint32_t total = htonl((uint32_t)(n - 4));
        memcpy(out, &total, 4);
        if (send(fd, out, n, MSG_NOSIGNAL) != (ssize_t)n)
            break;
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static void fake_start(struct fake *f, pthread_t *t)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(f->listen_fd, 1) == 0);
    getsockname(f->listen_fd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    pthread_create(t, NULL, serve, f);
}

/* A negative error code (-1, UNKNOWN_SERVER_ERROR) from FindCoordinator is
 * an error: the group's operations stay unknown, with the code in why, not
 * read as a coordinator found. */
static void test_coordinator_error(void)
{
    struct fake f = {.coordinator_err = -1};
    pthread_t t;
    fake_start(&f, &t);
    char brokers[64], why[256] = "";
    snprintf(brokers, sizeof brokers, "PLAINTEXT://127.0.0.1:%d", f.port);
    const char *topics[] = {"ro"};
    int32_t ops[1], gops;
    struct weir_kafka_authz_ask ask = {
        .brokers = brokers, .topics = topics, .ntopics = 1, .group = "g", .timeout_ms = 5000};
    CHECK(weir_kafka_authorized(&ask, ops, &gops, why, sizeof why) == 0);
    CHECK(gops == WEIR_KAFKA_OPS_UNKNOWN);
    CHECK(strstr(why, "no coordinator for group \"g\" (error -1)") != NULL);
    pthread_join(t, NULL);
    close(f.listen_fd);
    CHECK(f.requests == 2); /* no DescribeGroups */
}

static void test_fake_broker(void)
{
    struct fake f = {0};
    pthread_t t;
    fake_start(&f, &t);
    char brokers[64], why[256] = "";
    snprintf(brokers, sizeof brokers, "PLAINTEXT://127.0.0.1:%d", f.port);
    const char *topics[] = {"ro", "secret", "unasked"};
    int32_t ops[3], gops;
    struct weir_kafka_authz_ask ask = {.brokers = brokers, .topics = topics, .ntopics = 3,
                                       .group = "g", .timeout_ms = 5000};
    CHECK(weir_kafka_authorized(&ask, ops, &gops, why, sizeof why) == 0);
    CHECK(ops[0] == (1 << WEIR_KAFKA_OP_READ | 1 << WEIR_KAFKA_OP_DESCRIBE));
    CHECK(ops[1] == 0);                      /* may not even describe it */
    CHECK(ops[2] == WEIR_KAFKA_OPS_UNKNOWN); /* the brokers did not say */
    CHECK(gops == 1 << WEIR_KAFKA_OP_DESCRIBE);
    pthread_join(t, NULL);
    close(f.listen_fd);
    CHECK(f.requests == 3);
    CHECK(f.keys[0] == 3 && f.versions[0] == 8);
    CHECK(f.keys[1] == 10 && f.versions[1] == 2);
    CHECK(f.keys[2] == 15 && f.versions[2] == 3);
    /* nothing listens there now: one reason naming the address */
    CHECK(weir_kafka_authorized(&ask, ops, &gops, why, sizeof why) < 0);
    CHECK(strstr(why, "127.0.0.1") != NULL);
}

int main(void)
{
    test_reader();
    test_conf();
    test_fake_broker();
    test_coordinator_error();
    return check_summary();
}
