/* One connection to one broker, as librdkafka would make it from the same
 * properties (connectors/kafka_probe.h says why it exists). Blocking I/O
 * with a deadline per call: it runs on `weir check`'s thread only. */
#include "connectors/kafka_probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static const char *prop(const json_t *security, const json_t *props, const char *name)
{
    const char *v = json_string_value(json_object_get(props, name));
    return v ? v : json_string_value(json_object_get(security, name));
}

static int has_prop(const json_t *security, const json_t *props, const char *name)
{
    return json_object_get(props, name) || json_object_get(security, name);
}

int weir_kprobe_conf_read(struct weir_kprobe_conf *c, const json_t *security, const json_t *props,
                          char *why, size_t size)
{
    static const char *const unknown[] = {"ssl.keystore.location", "ssl.ca.pem",
                                          "ssl.certificate.pem", "ssl.key.pem",
                                          "ssl.engine.location", "ssl.providers"};
    memset(c, 0, sizeof *c);
    const char *proto = prop(security, props, "security.protocol");
    proto = proto ? proto : "plaintext";
    c->tls = strcasecmp(proto, "ssl") == 0 || strcasecmp(proto, "sasl_ssl") == 0;
    c->sasl = strcasecmp(proto, "sasl_plaintext") == 0 || strcasecmp(proto, "sasl_ssl") == 0;
    if (!c->tls && !c->sasl && strcasecmp(proto, "plaintext") != 0) {
        snprintf(why, size, "security.protocol \"%s\" is not known", proto);
        return -1;
    }
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++)
        if (has_prop(security, props, unknown[i])) {
            snprintf(why, size, "the check does not follow %s", unknown[i]);
            return -1;
        }
    const char *mech = prop(security, props, "sasl.mechanisms");
    mech = mech ? mech : prop(security, props, "sasl.mechanism");
    snprintf(c->mech, sizeof c->mech, "%s", mech ? mech : "GSSAPI");
    if (c->sasl && strcmp(c->mech, "PLAIN") != 0 && strcmp(c->mech, "SCRAM-SHA-256") != 0 &&
        strcmp(c->mech, "SCRAM-SHA-512") != 0) {
        snprintf(why, size, "the check speaks SASL PLAIN and SCRAM, not %s", c->mech);
        return -1;
    }
    c->user = prop(security, props, "sasl.username");
    c->pass = prop(security, props, "sasl.password");
    if (c->sasl && (!c->user || !c->pass)) {
        snprintf(why, size, "sasl.username or sasl.password not set");
        return -1;
    }
    c->ca = prop(security, props, "ssl.ca.location");
    c->cert = prop(security, props, "ssl.certificate.location");
    c->key = prop(security, props, "ssl.key.location");
    c->key_pass = prop(security, props, "ssl.key.password");
    const char *ident = prop(security, props, "ssl.endpoint.identification.algorithm");
    c->verify_host = !ident || strcasecmp(ident, "none") != 0; /* librdkafka 2.0: https */
    const char *verify = prop(security, props, "enable.ssl.certificate.verification");
    if (verify && (strcmp(verify, "false") == 0 || strcmp(verify, "0") == 0)) {
        snprintf(why, size, "certificate verification is off");
        return -1;
    }
    return 0;
}

static int tcp_connect(const char *host, int port, int timeout_ms, char *why, size_t size)
{
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int e = getaddrinfo(host, service, &hints, &res);
    if (e) {
        snprintf(why, size, "%s:%d: %s", host, port, gai_strerror(e));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (rc < 0 && errno == EINPROGRESS && poll(&pf, 1, timeout_ms) == 1)
            rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0 ? 0 : -1;
        else if (rc < 0 && errno == EINPROGRESS)
            soerr = ETIMEDOUT;
        if (rc < 0) {
            snprintf(why, size, "%s:%d: %s", host, port, strerror(soerr ? soerr : errno));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -1;
    /* Blocking from here, with a deadline per read and write. */
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
        snprintf(why, size, "%s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static void tls_why(char *why, size_t size, const char *host, int port, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    snprintf(why, size, "%s:%d: TLS: %s%s%s", host, port, what, buf[0] ? ": " : "", buf);
}

static int key_password(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    int n = (int)strlen(u);
    if (n >= size)
        return 0;
    memcpy(buf, u, (size_t)n);
    return n;
}

static int tls_start(struct weir_kprobe *p, const struct weir_kprobe_conf *c, char *why,
                     size_t size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    p->ctx = ctx;
    if (!ctx) {
        tls_why(why, size, p->host, p->port, "no context");
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->ca ? SSL_CTX_load_verify_locations(ctx, c->ca, NULL) != 1
              : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        tls_why(why, size, p->host, p->port, "ssl.ca.location");
        return -1;
    }
    if (c->key_pass) {
        SSL_CTX_set_default_passwd_cb(ctx, key_password);
        SSL_CTX_set_default_passwd_cb_userdata(ctx, (void *)c->key_pass);
    }
    if ((c->cert && SSL_CTX_use_certificate_chain_file(ctx, c->cert) != 1) ||
        (c->key && SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1)) {
        tls_why(why, size, p->host, p->port, "client certificate or key");
        return -1;
    }
    SSL *ssl = SSL_new(ctx);
    p->ssl = ssl;
    unsigned char ip[16];
    int literal = inet_pton(AF_INET, p->host, ip) == 1 || inet_pton(AF_INET6, p->host, ip) == 1;
    /* An address is matched against the certificate's IP names, as
     * librdkafka does, and is not a server name to send. */
    if (!ssl || SSL_set_fd(ssl, p->fd) != 1 ||
        (!literal && SSL_set_tlsext_host_name(ssl, p->host) != 1) ||
        (c->verify_host && !literal && SSL_set1_host(ssl, p->host) != 1) ||
        (c->verify_host && literal &&
         X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), p->host) != 1)) {
        tls_why(why, size, p->host, p->port, "set-up");
        return -1;
    }
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK)
            snprintf(why, size, "%s:%d: TLS: certificate not trusted: %s", p->host, p->port,
                     X509_verify_cert_error_string(v));
        else
            tls_why(why, size, p->host, p->port, "handshake failed");
        return -1;
    }
    return 0;
}

int weir_kprobe_open(struct weir_kprobe *p, const struct weir_kprobe_conf *c, const char *host,
                     int port, int timeout_ms, char *why, size_t size)
{
    memset(p, 0, sizeof *p);
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    p->timeout_ms = timeout_ms;
    p->fd = tcp_connect(host, port, timeout_ms, why, size);
    if (p->fd < 0)
        return -1;
    if ((c->tls && tls_start(p, c, why, size) < 0) ||
        (c->sasl && weir_kprobe_sasl(p, c, why, size) < 0)) {
        weir_kprobe_close(p);
        return -1;
    }
    return 0;
}

int weir_kprobe_open_list(struct weir_kprobe *p, const struct weir_kprobe_conf *c,
                          const char *brokers, int timeout_ms, char *why, size_t size)
{
    char list[1024];
    snprintf(list, sizeof list, "%s", brokers);
    snprintf(why, size, "no broker in \"%s\"", brokers);
    for (char *save = NULL, *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save)) {
        while (*b == ' ')
            b++;
        char *scheme = strstr(b, "://");
        b = scheme ? scheme + 3 : b;
        char *colon = strrchr(b, ':');
        int port = colon ? atoi(colon + 1) : 9092;
        if (colon)
            *colon = 0;
        if (*b == '[' && b[strlen(b) - 1] == ']') { /* [::1]:9092 */
            b[strlen(b) - 1] = 0;
            b++;
        }
        if (weir_kprobe_open(p, c, b, port, timeout_ms, why, size) == 0)
            return 0;
    }
    return -1;
}

void weir_kprobe_close(struct weir_kprobe *p)
{
    if (p->ssl) {
        SSL_shutdown(p->ssl);
        SSL_free(p->ssl);
    }
    if (p->ctx)
        SSL_CTX_free(p->ctx);
    if (p->fd > 0)
        close(p->fd);
    p->ssl = p->ctx = NULL;
    p->fd = -1;
}

static int io_all(struct weir_kprobe *p, uint8_t *b, size_t n, int out)
{
    for (size_t at = 0; at < n;) {
        ssize_t r;
        if (p->ssl)
            r = out ? SSL_write(p->ssl, b + at, (int)(n - at)) : SSL_read(p->ssl, b + at, (int)(n - at));
        else
            r = out ? send(p->fd, b + at, n - at, MSG_NOSIGNAL) : recv(p->fd, b + at, n - at, 0);
        if (r <= 0)
            return -1;
        at += (size_t)r;
    }
    return 0;
}

static const char *api_name(int16_t key)
{
    switch (key) {
    case 3: return "Metadata";
    case 10: return "FindCoordinator";
    case 15: return "DescribeGroups";
    case 17: return "SaslHandshake";
    case 36: return "SaslAuthenticate";
    default: return "a request";
    }
}

int weir_kprobe_call(struct weir_kprobe *p, int16_t key, int16_t version,
                     const struct weir_kwrite *w, struct weir_kread *r, char *why, size_t size)
{
    const uint8_t *body = w->b;
    size_t n = w->n;
    *r = (struct weir_kread){0};
    if (w->full) {
        snprintf(why, size, "%s v%d: too long a request", api_name(key), version);
        return -1;
    }
    static const char client[] = "weir-check";
    struct weir_kwrite h = {.n = 4};
    int32_t corr = ++p->corr;
    weir_kwrite16(&h, key);
    weir_kwrite16(&h, version);
    weir_kwrite32(&h, corr);
    weir_kwrite_str(&h, client);
    uint32_t total = htonl((uint32_t)(h.n - 4 + n));
    memcpy(h.b, &total, 4);
    uint8_t len[4];
    if (io_all(p, h.b, h.n, 1) < 0 || io_all(p, (uint8_t *)body, n, 1) < 0 ||
        io_all(p, len, 4, 0) < 0) {
        snprintf(why, size, "%s:%d: no answer to %s v%d (the connection closed or timed out; "
                 "brokers before Kafka 2.3 do not take it)", p->host, p->port, api_name(key),
                 version);
        return -1;
    }
    uint32_t m;
    memcpy(&m, len, 4);
    m = ntohl(m);
    uint8_t *got = m >= 4 && m < (64u << 20) ? malloc(m) : NULL;
    if (!got || io_all(p, got, m, 0) < 0) {
        free(got);
        snprintf(why, size, "%s:%d: no answer to %s v%d", p->host, p->port, api_name(key),
                 version);
        return -1;
    }
    int32_t answered;
    memcpy(&answered, got, 4);
    if ((int32_t)ntohl((uint32_t)answered) != corr) {
        free(got);
        snprintf(why, size, "%s:%d: an answer out of order", p->host, p->port);
        return -1;
    }
    memmove(got, got + 4, m - 4);
    *r = (struct weir_kread){.p = got, .n = m - 4};
    return 0;
}

/* ---- encoding ---------------------------------------------------------------- */

void weir_kread_skip(struct weir_kread *r, size_t n)
{
    if (r->bad || n > r->n - r->at)
        r->bad = 1;
    else
        r->at += n;
}

int16_t weir_kread16(struct weir_kread *r)
{
    if (r->bad || r->n - r->at < 2) {
        r->bad = 1;
        return 0;
    }
    uint16_t v = (uint16_t)(r->p[r->at] << 8 | r->p[r->at + 1]);
    r->at += 2;
    return (int16_t)v;
}

int32_t weir_kread32(struct weir_kread *r)
{
    if (r->bad || r->n - r->at < 4) {
        r->bad = 1;
        return 0;
    }
    const uint8_t *b = r->p + r->at;
    r->at += 4;
    return (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
}

void weir_kread_str(struct weir_kread *r, char *out, size_t size)
{
    int16_t n = weir_kread16(r);
    if (out && size)
        out[0] = 0;
    if (n <= 0 || r->bad)
        return;
    if ((size_t)n > r->n - r->at) {
        r->bad = 1;
        return;
    }
    if (out && size) {
        size_t c = (size_t)n < size - 1 ? (size_t)n : size - 1;
        memcpy(out, r->p + r->at, c);
        out[c] = 0;
    }
    r->at += (size_t)n;
}

static void put(struct weir_kwrite *w, const void *p, size_t n)
{
    if (w->full || n > sizeof w->b - w->n) {
        w->full = 1;
        return;
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

void weir_kwrite8(struct weir_kwrite *w, int8_t v)
{
    put(w, &v, 1);
}

void weir_kwrite16(struct weir_kwrite *w, int16_t v)
{
    uint16_t b = htons((uint16_t)v);
    put(w, &b, 2);
}

void weir_kwrite32(struct weir_kwrite *w, int32_t v)
{
    uint32_t b = htonl((uint32_t)v);
    put(w, &b, 4);
}

void weir_kwrite_str(struct weir_kwrite *w, const char *s)
{
    size_t n = strlen(s);
    weir_kwrite16(w, (int16_t)(n > 32767 ? 32767 : n));
    put(w, s, n > 32767 ? 32767 : n);
}
