/* The HTTP responder's request-head parser (engine/http_parse.c). For every
 * input: the result is a head length within the input, 0 (more needed) or
 * one of the declared statuses; a parsed head ends with a blank line, its
 * method is a token, its path starts with '/' and holds only visible ASCII,
 * every field is NUL-terminated inside its array; the head parses the same
 * on its own and with bytes after it, and every strict prefix of it is
 * incomplete or an error (never a different head). The listen-address
 * parser gets the first line as a spec too. */
#include "engine/http.h"
#include "tests/fuzz/fuzz.h"

#include <string.h>

static void check_request(const struct weir_http_request *r)
{
    FUZZ_ASSERT(memchr(r->method, 0, sizeof r->method));
    FUZZ_ASSERT(memchr(r->path, 0, sizeof r->path));
    FUZZ_ASSERT(memchr(r->query, 0, sizeof r->query));
    FUZZ_ASSERT(memchr(r->auth, 0, sizeof r->auth));
    FUZZ_ASSERT(r->method[0]);
    FUZZ_ASSERT(r->path[0] == '/');
    for (const char *p = r->path; *p; p++)
        FUZZ_ASSERT(*p > ' ' && *p < 0x7f && *p != '?');
    FUZZ_ASSERT(r->minor >= 0 && r->minor <= 9);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct weir_http_request r, r2;
    int rc = weir_http_parse(buf, size, &r);
    FUZZ_ASSERT(rc == 0 || rc == -400 || rc == -414 || rc == -431 || rc == -501 || rc == -505 ||
                (rc > 0 && (size_t)rc <= size));
    if (rc == 0)
        FUZZ_ASSERT(size < WEIR_HTTP_REQ_MAX);
    if (rc > 0) {
        size_t hl = (size_t)rc;
        FUZZ_ASSERT(hl >= 2 && buf[hl - 1] == '\n');
        FUZZ_ASSERT(buf[hl - 2] == '\n' || (hl >= 3 && buf[hl - 2] == '\r' && buf[hl - 3] == '\n'));
        check_request(&r);
        FUZZ_ASSERT(weir_http_parse(buf, hl, &r2) == rc);
        FUZZ_ASSERT(memcmp(&r, &r2, sizeof r) == 0);
        for (size_t k = 0; k < hl; k += 1 + k / 8) {
            int p = weir_http_parse(buf, k, &r2);
            FUZZ_ASSERT(p <= 0);
        }
    }
    char spec[128];
    size_t n = 0;
    while (n < size && n + 1 < sizeof spec && buf[n] != '\n' && buf[n] != '\0') {
        spec[n] = buf[n];
        n++;
    }
    spec[n] = 0;
    struct weir_http_conf c;
    memset(&c, 0, sizeof c);
    if (weir_http_listen_parse(spec, &c) == 0) {
        FUZZ_ASSERT(c.port >= 0 && c.port <= 65535);
        FUZZ_ASSERT(memchr(c.addr, 0, sizeof c.addr) && c.addr[0]);
    }
    return 0;
}
