/* A minimal Kafka protocol client for `weir check`: one connection to one
 * broker (plaintext or TLS, SASL PLAIN or SCRAM), requests sent one at a
 * time. It exists because librdkafka 2.0.2 (Debian 12) cannot ask the
 * brokers what a client may do (KIP-430 authorized operations arrive in
 * librdkafka 2.3), and `weir check` must say whether a run will be allowed
 * to produce and commit without producing or committing anything. */
#ifndef WEIR_CONNECTORS_KAFKA_PROBE_H
#define WEIR_CONNECTORS_KAFKA_PROBE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Reading a response. */
struct weir_kread {
    const uint8_t *p;
    size_t n, at;
    int bad; /* ran past the end */
};
int16_t weir_kread16(struct weir_kread *r);
int32_t weir_kread32(struct weir_kread *r);
/* A string (int16 length; -1: null): copied into out (truncated), or
 * skipped when out is NULL. */
void weir_kread_str(struct weir_kread *r, char *out, size_t size);
void weir_kread_skip(struct weir_kread *r, size_t n);

/* Writing a request body. */
struct weir_kwrite {
    uint8_t b[8192];
    size_t n;
    int full;
};
/* The client properties the probe understands, read from the pipeline's
 * "kafka" objects as librdkafka would read them (security first, then
 * props over them). */
struct weir_kprobe_conf {
    int tls, sasl, verify_host;
    char mech[32];
    const char *user, *pass, *ca, *cert, *key, *key_pass;
};

struct weir_kprobe {
    int fd;
    void *ctx, *ssl; /* OpenSSL's SSL_CTX and SSL when TLS */
    int32_t corr;
    int timeout_ms;
    char host[256];
    int port;
};

/* 0, or -1 with why: a property the probe cannot follow (Kerberos, OAuth,
 * PEM strings, key stores). */
int weir_kprobe_conf_read(struct weir_kprobe_conf *c, const json_t *security, const json_t *props,
                          char *why, size_t size);
/* Connects to the first broker of a bootstrap list ("h:p,h2:p2", with or
 * without "PROTO://") that answers, and authenticates. 0, or -1 with why. */
int weir_kprobe_open_list(struct weir_kprobe *p, const struct weir_kprobe_conf *c,
                          const char *brokers, int timeout_ms, char *why, size_t size);
int weir_kprobe_open(struct weir_kprobe *p, const struct weir_kprobe_conf *c, const char *host,
                     int port, int timeout_ms, char *why, size_t size);
/* Sends one request (api key, version, body w) and sets r to read its
 * response body (after the correlation id); r->p is malloc'd, the caller
 * frees it. 0, or -1 with why (w overflowed, no answer). */
int weir_kprobe_call(struct weir_kprobe *p, int16_t key, int16_t version,
                     const struct weir_kwrite *w, struct weir_kread *r, char *why, size_t size);
void weir_kprobe_close(struct weir_kprobe *p);
/* Authenticates an open connection (kafka_probe_sasl.c). */
int weir_kprobe_sasl(struct weir_kprobe *p, const struct weir_kprobe_conf *c, char *why,
                     size_t size);

void weir_kwrite16(struct weir_kwrite *w, int16_t v);
void weir_kwrite32(struct weir_kwrite *w, int32_t v);
void weir_kwrite8(struct weir_kwrite *w, int8_t v);
void weir_kwrite_str(struct weir_kwrite *w, const char *s);

#endif
