/* The HTTP responder: /metrics (Prometheus text 0.0.4), /healthz, /readyz,
 * /status.json and / (a live status page), on a small io_uring loop of its
 * own thread so that nothing a client does can stall a worker.
 *
 * GET and HEAD only, one request per connection (Connection: close), a fixed
 * request buffer per connection, a bounded number of connections (more wait
 * in the listen backlog; an idle one is evicted for them after a grace), and
 * deadlines: a client that has not sent
 * a whole request head within WEIR_HTTP_HEAD_TIMEOUT_MS, or not read its
 * response within WEIR_HTTP_WRITE_TIMEOUT_MS, is disconnected. */
#ifndef WEIR_HTTP_H
#define WEIR_HTTP_H

#include "engine/error.h"
#include "engine/metrics.h"

#include <stddef.h>

#define WEIR_HTTP_MAX_CONNS        64
#define WEIR_HTTP_REQ_MAX          4096 /* request line and headers */
#define WEIR_HTTP_HEAD_TIMEOUT_MS  5000
#define WEIR_HTTP_WRITE_TIMEOUT_MS 10000

struct weir_http_conf {
    char addr[64];   /* IPv4 or IPv6 literal; default 127.0.0.1 */
    int port;        /* 0: any free port (the chosen one is printed) */
    char token[256]; /* "": no token; else /metrics, /status.json and / need it */
};

/* "[ADDR:]PORT", "[v6addr]:PORT". Returns 0 or -EINVAL. */
int weir_http_listen_parse(const char *spec, struct weir_http_conf *c);
/* Reads the token from path (one line; surrounding whitespace dropped).
 * Returns 0 or -errno with err filled. */
int weir_http_token_file(const char *path, struct weir_http_conf *c, struct weir_error *err);

/* A parsed request head. Strings are NUL-terminated copies. */
struct weir_http_request {
    char method[16];
    char path[1024];  /* without the query */
    char query[1024]; /* after '?', or "" */
    char auth[512];   /* the Authorization header's value, or "" */
    int minor;        /* HTTP/1.minor */
};

/* Parses the head at buf[0..len). Returns the head's length (through the
 * blank line) when it is complete, 0 when more bytes are needed, or the
 * negated HTTP status to answer with: -400 malformed, -414 target too long,
 * -431 headers too large, -501 not a method this server knows, -505 not
 * HTTP/1.x. A method other than GET and HEAD parses (405 is the caller's). */
int weir_http_parse(const char *buf, size_t len, struct weir_http_request *req);

struct weir_http;

/* Binds, listens, starts the thread. r must outlive weir_http_stop(). */
int weir_http_start(struct weir_http **out, const struct weir_http_conf *c,
                    const struct weir_metrics_registry *r, struct weir_error *err);
/* The port it listens on (the chosen one when conf asked for 0). */
int weir_http_port(const struct weir_http *h);
/* Stops the thread, closes every connection, frees h; accepts NULL. */
void weir_http_stop(struct weir_http *h);
/* What the responder's thread cost: its CPU time (CLOCK_THREAD_CPUTIME_ID,
 * the whole thread's life) and the requests it routed. */
struct weir_http_usage {
    uint64_t cpu_ns;
    uint64_t requests;
};
/* weir_http_stop, telling u (zeroed when h is NULL or never started). */
void weir_http_stop_usage(struct weir_http *h, struct weir_http_usage *u);

/* The pipeline file's "http" section: {"listen": "[ADDR:]PORT", "token_file": PATH}. */
struct weir_http_section {
    const char *listen;
    const char *token_file;
};

/* The status page (engine/http_page.c). */
extern const char weir_http_page[];

#endif
