/* The HTTP responder's server side (see http.h): a thread with its own
 * io_uring loop, a listening socket, a fixed table of connections.
 *
 * Each connection has at most one operation in flight (a read, then a write,
 * then a read that drains what the client still sends until it closes), so a
 * connection is freed only from that operation's completion. A sweep timer
 * enforces the deadlines: it shuts the socket down, which completes the
 * pending operation, whose completion then frees the slot. With the table
 * full, a newcomer waits in the listen backlog while the longest-waiting idle
 * connection is evicted the same way. Workers are never touched: /metrics
 * reads their counters (metrics.h). */
#include "engine/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/log.h"
#include "engine/loop.h"

#define SWEEP_NS         (100ull * 1000000ull)
#define DRAIN_TIMEOUT_NS (1000ull * 1000000ull)
/* How long a connection holds its slot before a newcomer may take it when
 * the table is full: one that is only draining after its response, soon; one
 * that has not sent a whole head, after longer than any client on a working
 * network needs, so that idle or slow connections cannot lock every other
 * client out (health probes included) for the whole head timeout. */
#define EVICT_DRAINING_NS (100ull * 1000000ull)
#define EVICT_READING_NS  (2000ull * 1000000ull)

enum conn_state { CONN_FREE, CONN_READING, CONN_WRITING, CONN_DRAINING };

struct conn {
    struct weir_http *srv;
    int fd;
    enum conn_state state;
    int pending; /* an operation is in flight */
    int killed;  /* shut down past its deadline: free on completion */
    uint64_t deadline;
    uint64_t since; /* when it entered its state */
    struct weir_event ev;
    size_t rlen;
    char req[WEIR_HTTP_REQ_MAX];
    struct weir_buf resp;
    size_t sent;
};

struct weir_http {
    struct weir_http_conf conf;
    const struct weir_metrics_registry *reg;
    int lfd, wake_fd, port;
    struct weir_loop *loop;
    pthread_t thread;
    int started;
    /* start-up handshake: the loop is made on the thread that drives it */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int init_done, init_rc;
    struct weir_error init_err;
    int stopping;
    struct weir_event accept_ev, sweep_ev, wake_ev;
    int accept_armed, sweep_armed, wake_armed;
    int accept_paused; /* out of descriptors or slots: accepted again when
                        * a connection ends, or by the sweep */
    struct weir_buf body;
    struct conn conns[WEIR_HTTP_MAX_CONNS];
    struct weir_http_usage usage; /* the thread's own; read after the join */
};

static void conn_free(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    c->state = CONN_FREE;
    c->killed = 0;
    weir_buf_reset(&c->resp);
}

static void on_conn(struct weir_event *ev, int res);
/* Never called from on_accept itself, which arms the poll as it returns. */
static void accept_resume(struct weir_http *s);

static void conn_read(struct conn *c)
{
    c->ev.done = on_conn;
    char *dst = c->req + (c->state == CONN_DRAINING ? 0 : c->rlen);
    size_t room = c->state == CONN_DRAINING ? sizeof c->req : sizeof c->req - c->rlen;
    if (weir_loop_read(c->srv->loop, c->fd, dst, room, -1, &c->ev) < 0) {
        conn_free(c);
        return;
    }
    c->pending = 1;
}

static void conn_write(struct conn *c)
{
    c->ev.done = on_conn;
    if (weir_loop_write(c->srv->loop, c->fd, c->resp.data + c->sent, c->resp.len - c->sent, -1,
                        &c->ev) < 0) {
        conn_free(c);
        accept_resume(c->srv); /* only ever called from on_conn */
        return;
    }
    c->pending = 1;
}

/* ---- responses ---------------------------------------------------------------- */

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

/* Builds status + headers + body (the body left out for HEAD) in c->resp. */
static void respond(struct conn *c, int status, const char *type, const char *extra,
                    const char *body, size_t blen, int head_only)
{
    char h[512];
    int n = snprintf(h, sizeof h,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Connection: close\r\n%s\r\n",
                     status, reason(status), type, blen, extra ? extra : "");
    weir_buf_reset(&c->resp);
    if (weir_buf_append(&c->resp, h, (size_t)n) < 0 ||
        (!head_only && weir_buf_append(&c->resp, body, blen) < 0))
        weir_buf_reset(&c->resp);
    c->sent = 0;
}

static void respond_text(struct conn *c, int status, const char *text, const char *extra, int head)
{
    respond(c, status, "text/plain; charset=utf-8", extra, text, strlen(text), head);
}

/* Constant-time comparison: the token's length is all a timing can tell. */
static int token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A query value as a browser writes it (%XX for what a URL cannot hold: a
 * token with '#', '&' or '%'; '+' stays '+', as base64 tokens have it),
 * into out (n + 1 bytes); -1 when malformed. */
static int percent_decode(char *out, const char *in, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (in[i] != '%') {
            out[o++] = in[i];
            continue;
        }
        int hi = i + 2 < n ? hex_value(in[i + 1]) : -1, lo = hi >= 0 ? hex_value(in[i + 2]) : -1;
        if (lo < 0 || (hi << 4 | lo) == 0)
            return -1;
        out[o++] = (char)(hi << 4 | lo);
        i += 2;
    }
    out[o] = 0;
    return 0;
}

static int authorized(const struct weir_http *s, const struct weir_http_request *r)
{
    if (!s->conf.token[0])
        return 1;
    if (strncasecmp(r->auth, "Bearer ", 7) == 0 && token_equal(r->auth + 7, s->conf.token))
        return 1; /* the scheme is case-insensitive (RFC 9110) */
    /* The status page in a browser cannot set a header: ?token=... works too. */
    const char *q = r->query;
    while (q && *q) {
        if (strncmp(q, "token=", 6) == 0) {
            char v[256];
            size_t n = strcspn(q + 6, "&");
            if (n < sizeof v && percent_decode(v, q + 6, n) == 0 && token_equal(v, s->conf.token))
                return 1;
        }
        q = strchr(q, '&');
        q = q ? q + 1 : NULL;
    }
    return 0;
}

static void route(struct conn *c, const struct weir_http_request *r)
{
    struct weir_http *s = c->srv;
    s->usage.requests++;
    int head = strcmp(r->method, "HEAD") == 0;
    if (!head && strcmp(r->method, "GET") != 0) {
        respond_text(c, 405, "only GET and HEAD\n", "Allow: GET, HEAD\r\n", 0);
        return;
    }
    if (strcmp(r->path, "/healthz") == 0) {
        respond(c, 200, "text/plain; charset=utf-8", NULL, "ok\n", 3, head);
        return;
    }
    if (strcmp(r->path, "/readyz") == 0) {
        int ready = weir_metrics_ready(s->reg);
        const char *t = ready ? "ready\n" : "not ready\n";
        respond(c, ready ? 200 : 503, "text/plain; charset=utf-8", NULL, t, strlen(t), head);
        return;
    }
    int metrics = strcmp(r->path, "/metrics") == 0;
    int status = strcmp(r->path, "/status.json") == 0;
    int page = strcmp(r->path, "/") == 0;
    if (!metrics && !status && !page) {
        respond_text(c, 404, "not found: try /metrics, /healthz, /readyz, /status.json or /\n",
                     NULL, head);
        return;
    }
    if (!authorized(s, r)) {
        respond_text(c, 401, "a bearer token is needed\n", "WWW-Authenticate: Bearer\r\n", head);
        return;
    }
    if (page) {
        respond(c, 200, "text/html; charset=utf-8",
                "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'\r\n",
                weir_http_page, strlen(weir_http_page), head);
        return;
    }
    weir_buf_reset(&s->body);
    int rc =
        metrics ? weir_metrics_prometheus(s->reg, &s->body) : weir_metrics_json(s->reg, &s->body);
    if (rc < 0) {
        respond_text(c, 500, "out of memory\n", NULL, head);
        return;
    }
    respond(c, 200, metrics ? "text/plain; version=0.0.4; charset=utf-8" : "application/json", NULL,
            s->body.data, s->body.len, head);
}

/* ---- a connection's life ---------------------------------------------------- */

static void got_bytes(struct conn *c)
{
    struct weir_http_request r;
    int rc = weir_http_parse(c->req, c->rlen, &r);
    if (rc == 0 && c->rlen < sizeof c->req) {
        conn_read(c); /* more of the head to come */
        return;
    }
    if (rc <= 0) {
        int status = rc < 0 ? -rc : 431; /* 0 with a full buffer: the head is too large */
        char text[64];
        snprintf(text, sizeof text, "%s\n", reason(status));
        respond_text(c, status, text, NULL, 0);
    } else {
        route(c, &r);
    }
    if (!c->resp.len) {
        conn_free(c);
        accept_resume(c->srv);
        return;
    }
    c->state = CONN_WRITING;
    c->deadline = weir_now_ns() + WEIR_HTTP_WRITE_TIMEOUT_MS * 1000000ull;
    conn_write(c);
}

static void on_conn(struct weir_event *ev, int res)
{
    struct conn *c = (struct conn *)((char *)ev - offsetof(struct conn, ev));
    c->pending = 0;
    if (c->killed || c->srv->stopping || res <= 0) {
        conn_free(c); /* the client closed, an error, a deadline, or the server stops */
        accept_resume(c->srv);
        return;
    }
    switch (c->state) {
    case CONN_READING:
        c->rlen += (size_t)res;
        got_bytes(c);
        break;
    case CONN_WRITING:
        c->sent += (size_t)res;
        if (c->sent < c->resp.len) {
            conn_write(c);
            break;
        }
        /* Done: half-close and read until the client closes too, so that
         * bytes it sent and we never read do not turn our close into a reset
         * that could destroy the response before the client reads it. */
        shutdown(c->fd, SHUT_WR);
        c->state = CONN_DRAINING;
        c->since = weir_now_ns();
        c->deadline = c->since + DRAIN_TIMEOUT_NS;
        conn_read(c);
        break;
    case CONN_DRAINING: conn_read(c); break;
    case CONN_FREE: break;
    }
}

static void conn_kill(struct conn *c)
{
    if (c->killed)
        return;
    c->killed = 1;
    /* The pending read or write completes now (0 or EPIPE). No cancel: its
     * completion might find the slot already reused by a new connection. */
    shutdown(c->fd, SHUT_RDWR);
}

static void sweep(struct weir_http *s)
{
    uint64_t now = weir_now_ns();
    for (int i = 0; i < WEIR_HTTP_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->state != CONN_FREE && c->pending && (s->stopping || now > c->deadline))
            conn_kill(c);
    }
}

static void accept_resume(struct weir_http *s)
{
    if (s->accept_paused && !s->stopping && !s->accept_armed) {
        s->accept_armed = weir_loop_poll(s->loop, s->lfd, POLLIN, &s->accept_ev) == 0;
        s->accept_paused = !s->accept_armed; /* a full ring: the sweep tries again */
    }
}

static void on_sweep(struct weir_event *ev, int res)
{
    struct weir_http *s = (struct weir_http *)((char *)ev - offsetof(struct weir_http, sweep_ev));
    s->sweep_armed = 0;
    sweep(s);
    accept_resume(s);
    if (!s->stopping)
        s->sweep_armed = weir_loop_timer(s->loop, SWEEP_NS, &s->sweep_ev) == 0;
}

static struct conn *conn_slot(struct weir_http *s)
{
    for (int i = 0; i < WEIR_HTTP_MAX_CONNS; i++)
        if (s->conns[i].state == CONN_FREE)
            return &s->conns[i];
    return NULL;
}

/* Whether c may go for a newcomer: past its grace, and nothing lost by it.
 * A reader whose bytes have arrived (their completion not yet seen) is being
 * served; a drainer with response bytes not yet acknowledged, or request
 * bytes unread (a close would reset the connection), may still lose its
 * response. */
static int evictable(const struct conn *c, uint64_t now)
{
    int n = 0, unsent = 0;
    char byte;
    if (c->state == CONN_READING)
        return now - c->since >= EVICT_READING_NS &&
               recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0 && errno == EAGAIN;
    return c->state == CONN_DRAINING && now - c->since >= EVICT_DRAINING_NS &&
           ioctl(c->fd, SIOCOUTQ, &unsent) == 0 && unsent == 0 && ioctl(c->fd, FIONREAD, &n) == 0 &&
           n == 0;
}

/* With every slot taken: shuts down the connection that has waited longest
 * among those that may go (draining ones first), unless an earlier eviction
 * or deadline is freeing a slot already. */
static void evict_one(struct weir_http *s)
{
    uint64_t now = weir_now_ns();
    struct conn *victim = NULL;
    for (int i = 0; i < WEIR_HTTP_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->killed)
            return;
        if (!evictable(c, now))
            continue;
        if (!victim || (c->state == CONN_DRAINING && victim->state != CONN_DRAINING) ||
            (c->state == victim->state && c->since < victim->since))
            victim = c;
    }
    if (victim)
        conn_kill(victim);
}

static void on_accept(struct weir_event *ev, int res)
{
    struct weir_http *s = (struct weir_http *)((char *)ev - offsetof(struct weir_http, accept_ev));
    s->accept_armed = 0;
    if (s->stopping)
        return;
    for (int k = 0; k < 64; k++) { /* a bounded burst per turn */
        struct conn *c = conn_slot(s);
        if (!c && k > 0)
            break; /* the poll says again whether anyone still waits */
        if (!c) {
            /* The newcomer waits in the backlog until a slot frees (a
             * connection ends, or one that may go is evicted now): no
             * answer at once, as a 503 on /healthz would fail a probe that
             * a short wait passes. */
            evict_one(s);
            s->accept_paused = 1;
            return;
        }
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)) {
            /* The connection stays queued, so polling again at once would
             * fire at once, for ever: the sweep tries again (a closed
             * connection or a finished operation frees a descriptor). */
            s->accept_paused = 1;
            return;
        }
        if (fd < 0)
            break;
        c->srv = s;
        c->fd = fd;
        c->state = CONN_READING;
        c->rlen = 0;
        c->since = weir_now_ns();
        c->deadline = c->since + WEIR_HTTP_HEAD_TIMEOUT_MS * 1000000ull;
        conn_read(c);
    }
    s->accept_armed = weir_loop_poll(s->loop, s->lfd, POLLIN, &s->accept_ev) == 0;
    s->accept_paused = !s->accept_armed;
}

static void on_wake(struct weir_event *ev, int res)
{
    struct weir_http *s = (struct weir_http *)((char *)ev - offsetof(struct weir_http, wake_ev));
    s->wake_armed = 0;
    s->stopping = 1;
    if (s->accept_armed)
        weir_loop_cancel(s->loop, &s->accept_ev);
    if (s->sweep_armed)
        weir_loop_cancel(s->loop, &s->sweep_ev);
    sweep(s);
}

/* ---- the thread --------------------------------------------------------------- */

static int loop_setup(struct weir_http *s)
{
    int rc = weir_loop_new(&s->loop, 256, &s->init_err);
    if (rc < 0)
        return rc;
    s->accept_ev.done = on_accept;
    s->sweep_ev.done = on_sweep;
    s->wake_ev.done = on_wake;
    s->accept_armed = weir_loop_poll(s->loop, s->lfd, POLLIN, &s->accept_ev) == 0;
    s->sweep_armed = weir_loop_timer(s->loop, SWEEP_NS, &s->sweep_ev) == 0;
    s->wake_armed = weir_loop_poll(s->loop, s->wake_fd, POLLIN, &s->wake_ev) == 0;
    if (!s->accept_armed || !s->sweep_armed || !s->wake_armed)
        return weir_error_set(&s->init_err, -EBUSY, "http: cannot arm the loop");
    return 0;
}

static void *http_main(void *arg)
{
    struct weir_http *s = arg;
    pthread_setname_np(pthread_self(), "weir-http");
    int rc = loop_setup(s);
    pthread_mutex_lock(&s->lock);
    s->init_rc = rc;
    s->init_done = 1;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    if (rc < 0)
        return NULL;
    while (!s->stopping || weir_loop_pending(s->loop) > 0) {
        rc = weir_loop_step(s->loop, 0);
        if (rc < 0 && rc != -EINTR) {
            weir_log(WEIR_LOG_ERROR, "http: event loop: %s; the HTTP endpoint stops\n",
                     strerror(-rc));
            break;
        }
    }
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
        s->usage.cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    return NULL;
}

static int listen_on(const struct weir_http_conf *c, int *port, struct weir_error *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, c->addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)c->port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, c->addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)c->port);
        len = sizeof *v6;
    } else {
        return weir_error_set(err, -EINVAL, "http: \"%s\" is not an IPv4 or IPv6 address", c->addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return weir_error_set(err, -errno, "http: socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return weir_error_set(err, -e, "http: cannot listen on %s:%d: %s", c->addr, c->port,
                              strerror(e));
    }
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
    return fd;
}

int weir_http_start(struct weir_http **out, const struct weir_http_conf *c,
                    const struct weir_metrics_registry *r, struct weir_error *err)
{
    *out = NULL;
    struct weir_http *s = calloc(1, sizeof *s);
    if (!s)
        return weir_error_set(err, -ENOMEM, "out of memory");
    s->conf = *c;
    s->reg = r;
    s->wake_fd = -1;
    for (int i = 0; i < WEIR_HTTP_MAX_CONNS; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->lfd = listen_on(c, &s->port, err);
    if (s->lfd < 0) {
        int rc = s->lfd;
        s->lfd = -1;
        weir_http_stop(s);
        return rc;
    }
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wake_fd < 0 || pthread_create(&s->thread, NULL, http_main, s) != 0) {
        weir_http_stop(s);
        return weir_error_set(err, -EAGAIN, "http: cannot start its thread");
    }
    s->started = 1;
    pthread_mutex_lock(&s->lock);
    while (!s->init_done)
        pthread_cond_wait(&s->cond, &s->lock);
    pthread_mutex_unlock(&s->lock);
    if (s->init_rc < 0) {
        *err = s->init_err;
        int rc = s->init_rc;
        weir_http_stop(s);
        return rc;
    }
    *out = s;
    return 0;
}

int weir_http_port(const struct weir_http *h)
{
    return h->port;
}

void weir_http_stop(struct weir_http *s)
{
    weir_http_stop_usage(s, NULL);
}

void weir_http_stop_usage(struct weir_http *s, struct weir_http_usage *u)
{
    if (u)
        *u = (struct weir_http_usage){0};
    if (!s)
        return;
    if (s->started) {
        uint64_t one = 1;
        if (write(s->wake_fd, &one, sizeof one) < 0) {
            /* cannot happen with a fresh eventfd */
        }
        pthread_join(s->thread, NULL);
        if (u)
            *u = s->usage;
    }
    for (int i = 0; i < WEIR_HTTP_MAX_CONNS; i++) {
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
        weir_buf_free(&s->conns[i].resp);
    }
    weir_loop_free(s->loop);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->wake_fd >= 0)
        close(s->wake_fd);
    weir_buf_free(&s->body);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s);
}
