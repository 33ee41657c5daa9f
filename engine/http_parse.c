/* The HTTP/1.x request-head parser of the responder (see http.h), and its
 * configuration helpers. Strict where strictness costs nothing: tokens are
 * RFC 9110 tchars, the target is visible ASCII starting with '/', obsolete
 * line folding and bare CR are rejected. Bare LF line ends are accepted, as
 * most servers do. Fuzzed by tests/fuzz/fuzz_http.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/connector.h"
#include "engine/http.h"
#include "engine/option.h"

#define MAX_HEADERS 64

static int is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the head: the index just past the blank line, or 0. */
static size_t head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

/* One line [p, end) without its line end; returns the next line's start.
 * A CR anywhere but just before the LF is an error (-1 in *bad). */
static const char *line_next(const char *p, const char *end, const char **line_end, int *bad)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) {
        *line_end = end;
        return end;
    }
    const char *e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
    if (memchr(p, '\r', (size_t)(e - p)))
        *bad = 1;
    *line_end = e;
    return nl + 1;
}

static int copy_str(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = 0;
    return 0;
}

static int parse_request_line(const char *p, const char *e, struct weir_http_request *req)
{
    const char *m = p;
    while (p < e && is_tchar((unsigned char)*p))
        p++;
    if (p == m || p == e || *p != ' ')
        return -400;
    if (copy_str(req->method, sizeof req->method, m, (size_t)(p - m)) < 0)
        return -501;
    const char *t = ++p;
    while (p<e && * p> ' ' && *p < 0x7f)
        p++;
    if (p == t || p == e || *p != ' ' || *t != '/')
        return -400;
    size_t tlen = (size_t)(p - t);
    const char *q = memchr(t, '?', tlen);
    size_t plen = q ? (size_t)(q - t) : tlen;
    if (copy_str(req->path, sizeof req->path, t, plen) < 0 ||
        copy_str(req->query, sizeof req->query, q ? q + 1 : "", q ? tlen - plen - 1 : 0) < 0)
        return -414;
    p++;
    if (e - p != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
        p[7] < '0' || p[7] > '9')
        return -400;
    if (p[5] != '1')
        return -505;
    req->minor = p[7] - '0';
    return 0;
}

static int parse_header(const char *p, const char *e, struct weir_http_request *req)
{
    const char *n = p;
    while (p < e && is_tchar((unsigned char)*p))
        p++;
    if (p == n || p == e || *p != ':')
        return -400; /* no name, obsolete folding (leading space), or space before ':' */
    size_t nlen = (size_t)(p - n);
    p++;
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    for (const char *c = p; c < e; c++)
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return -400;
    if (nlen == 13 && strncasecmp(n, "authorization", 13) == 0 &&
        copy_str(req->auth, sizeof req->auth, p, (size_t)(e - p)) < 0)
        return -431;
    return 0;
}

int weir_http_parse(const char *buf, size_t len, struct weir_http_request *req)
{
    memset(req, 0, sizeof *req);
    size_t lead = 0; /* RFC 9112 2.2: empty lines before the request line are ignored */
    while (lead < len &&
           (buf[lead] == '\n' || (buf[lead] == '\r' && lead + 1 < len && buf[lead + 1] == '\n')))
        lead += buf[lead] == '\r' ? 2 : 1;
    size_t hl = head_end(buf + lead, len - lead);
    if (!hl)
        return len >= WEIR_HTTP_REQ_MAX ? -431 : 0;
    hl += lead;
    const char *p = buf + lead, *end = buf + hl, *e;
    int bad = 0;
    const char *line = p;
    p = line_next(p, end, &e, &bad);
    if (bad || p >= end)
        return -400;
    int rc = parse_request_line(line, e, req);
    if (rc < 0)
        return rc;
    for (int n = 0;; n++) {
        line = p;
        p = line_next(p, end, &e, &bad);
        if (bad)
            return -400;
        if (e == line)
            break; /* the blank line */
        if (n == MAX_HEADERS)
            return -431;
        if ((rc = parse_header(line, e, req)) < 0)
            return rc;
    }
    return (int)hl;
}

/* ---- configuration ---------------------------------------------------------- */

int weir_http_listen_parse(const char *spec, struct weir_http_conf *c)
{
    const char *colon = strrchr(spec, ':');
    const char *port = colon ? colon + 1 : spec;
    char *endp;
    long n = strtol(port, &endp, 10);
    if (!*port || *endp || n < 0 || n > 65535)
        return -EINVAL;
    c->port = (int)n;
    if (!colon) {
        snprintf(c->addr, sizeof c->addr, "127.0.0.1");
        return 0;
    }
    size_t alen = (size_t)(colon - spec);
    const char *a = spec;
    if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
        a++;
        alen -= 2;
    }
    if (alen == 0 || alen >= sizeof c->addr)
        return -EINVAL;
    memcpy(c->addr, a, alen);
    c->addr[alen] = 0;
    /* a numeric address, as the listener binds it (no name look-up):
     * "localhost:9090" passed weir validate and stopped weir run */
    unsigned char bin[16];
    if (inet_pton(AF_INET, c->addr, bin) != 1 && inet_pton(AF_INET6, c->addr, bin) != 1)
        return -EINVAL;
    return 0;
}

int weir_http_token_file(const char *path, struct weir_http_conf *c, struct weir_error *err)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return weir_error_set(err, -errno, "cannot read the HTTP token file %s: %s", path,
                              strerror(errno));
    char line[sizeof c->token + 2] = "";
    int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (!ok || n == 0 || n >= sizeof c->token)
        return weir_error_set(err, -EINVAL,
                              "the HTTP token file %s must hold one token of 1 to %zu "
                              "characters on its first line",
                              path, sizeof c->token - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return weir_error_set(err, -EINVAL,
                                  "the HTTP token in %s has a character a header "
                                  "cannot carry (byte %zu)",
                                  path, i + 1);
    memcpy(c->token, s, n);
    c->token[n] = 0;
    return 0;
}

/* ---- the pipeline's "http" section ---------------------------------------------- */

#define HCONF(f) offsetof(struct weir_http_section, f)

static const struct weir_option http_options[] = {
    {"listen", WEIR_OPT_STRING, NULL,
     "serve /metrics, /healthz, /readyz and the status page on [ADDR:]PORT (ADDR defaults to "
     "127.0.0.1; --http on the command line wins)",
     HCONF(listen), WEIR_OPT_REQUIRED, 0, 0, NULL},
    {"token_file", WEIR_OPT_STRING, NULL,
     "file whose first line is a bearer token that /metrics, /status.json and / then require "
     "(--http-token-file wins)",
     HCONF(token_file), 0, 0, 0, NULL},
    {0},
};

static int http_check(void *conf, const struct weir_pipeline *pl, struct weir_diag *d)
{
    const struct weir_http_section *h = conf;
    struct weir_http_conf c;
    if (h->listen && weir_http_listen_parse(h->listen, &c) < 0) {
        weir_diag_add(d, "http.listen",
                      "expected [ADDR:]PORT with ADDR an IPv4 or IPv6 address and PORT 0 to "
                      "65535, got \"%s\"",
                      h->listen);
        return 1;
    }
    return 0;
}

const struct weir_section_type weir_section_http = {
    .name = "http",
    .options = http_options,
    .conf_size = sizeof(struct weir_http_section),
    .check = http_check,
};
