/* Prometheus label values (engine/metrics.c): escaped, and valid UTF-8
 * whatever the name holds. A long non-ASCII pipeline name was cut inside a
 * character, and a model file name in Latin-1 went out as it was: either
 * fails the whole scrape, as Prometheus refuses invalid UTF-8. */
#include <string.h>

#include "engine/jscan.h"
#include "engine/metrics.h"
#include "tests/check.h"

static int valid(const char *s)
{
    return weir_utf8_valid(s, strlen(s));
}

int main(void)
{
    char out[16];
    weir_metrics_label_value(out, sizeof out, "a\"b\\c\nd");
    CHECK(strcmp(out, "a\\\"b\\\\c\\nd") == 0);

    /* "é" is two bytes: 7 of them fit a 16-byte buffer whole (14 bytes + NUL);
     * the old cut at cap - 3 kept 13 bytes, half of the seventh */
    weir_metrics_label_value(out, sizeof out,
                             "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    CHECK(valid(out) && strlen(out) == 14);

    /* Latin-1 "café" and a stray continuation byte: each becomes U+FFFD */
    weir_metrics_label_value(out, sizeof out, "caf\xe9-\x80");
    CHECK(strcmp(out, "caf\xef\xbf\xbd-\xef\xbf\xbd") == 0);

    /* an escape never split at the end */
    char small[4];
    weir_metrics_label_value(small, sizeof small, "ab\"");
    CHECK(strcmp(small, "ab") == 0);
    weir_metrics_label_value(small, sizeof small, "\xe2\x82\xac"); /* "€": 3 bytes + NUL */
    CHECK(strcmp(small, "\xe2\x82\xac") == 0);
    weir_metrics_label_value(small, sizeof small, "a\xe2\x82\xac");
    CHECK(strcmp(small, "a") == 0);
    return check_summary();
}
