/* The HTTP request-head parser (engine/http_parse.c) on the cases its fuzz
 * target cannot judge: empty lines before the request line are skipped,
 * however many (RFC 9112 2.2; two of them used to end the "head" before the
 * request line and got 400), and a head that has not fully arrived is
 * waited for. */
#include <string.h>

#include "engine/http.h"
#include "tests/check.h"

static int parse(const char *s, struct weir_http_request *r)
{
    return weir_http_parse(s, strlen(s), r);
}

int main(void)
{
    struct weir_http_request r;
    const char *plain = "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\r\n";
    CHECK(parse(plain, &r) == (int)strlen(plain));
    CHECK(strcmp(r.method, "GET") == 0 && strcmp(r.path, "/metrics") == 0);
    CHECK(strcmp(r.query, "x=1") == 0 && strcmp(r.auth, "Bearer t") == 0 && r.minor == 1);

    const char *leading[] = {"\r\nGET / HTTP/1.1\r\n\r\n", "\r\n\r\nGET / HTTP/1.1\r\n\r\n",
                             "\n\r\n\nGET / HTTP/1.0\n\n"};
    for (size_t i = 0; i < sizeof leading / sizeof *leading; i++) {
        CHECK(parse(leading[i], &r) == (int)strlen(leading[i]));
        CHECK(strcmp(r.method, "GET") == 0 && strcmp(r.path, "/") == 0);
    }

    /* not all there yet: 0, to read more */
    CHECK(parse("\r\n\r\n", &r) == 0);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n", &r) == 0);
    CHECK(parse("\r\n\r\nGET / HTTP/1.1\r\n", &r) == 0);

    CHECK(parse("\rGET / HTTP/1.1\r\n\r\n", &r) == -400); /* a bare CR is no line end */
    CHECK(parse("GET / HTTP/2.0\r\n\r\n", &r) == -505);
    CHECK(parse("GET /\r\n\r\n", &r) == -400);
    CHECK(parse("GET / HTTP/1.1\r\nno colon\r\n\r\n", &r) == -400);
    return check_summary();
}
