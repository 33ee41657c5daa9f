/* `weir test`'s matching (connectors/pipeline_test_match.c): subsets,
 * the relative tolerance at its edges (0, NaN, infinities, signs), strings
 * exact or as substrings, nested objects and arrays, text lines, the count
 * and index form, and order per key against a brute-force grouping. */
#include "connectors/pipeline_test_match.h"
#include "tests/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct weir_ptest_output out_of(const char *const *lines)
{
    struct weir_ptest_output o = {0};
    for (; *lines; lines++)
        weir_ptest_output_add(&o, *lines, strlen(*lines));
    return o;
}

/* Differences between expect (JSON text) and the lines. */
static size_t diffs(const char *expect, const char *const *lines, double tol, const char *key,
                    char *text, size_t size)
{
    static const char *const reason[] = {"reason", NULL};
    json_t *e = json_loads(expect, 0, NULL);
    struct weir_ptest_output o = out_of(lines);
    struct weir_ptest_match_opts opts = {.tolerance = tol, .key = key, .substrings = reason};
    struct weir_ptest_diffs d = {.limit = 50};
    size_t n = weir_ptest_match(e, &o, &opts, "s", &d);
    if (text)
        snprintf(text, size, "%.*s", (int)d.text.len, d.text.data ? d.text.data : "");
    weir_buf_free(&d.text);
    weir_ptest_output_free(&o);
    json_decref(e);
    return n;
}

static void numbers(void)
{
    const char *one[] = {"{\"x\": 100.0, \"z\": 0, \"n\": -5}", NULL};
    CHECK(diffs("[{\"x\": 100}]", one, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("[{\"x\": 100.00001}]", one, 1e-9, NULL, NULL, 0) == 1);
    CHECK(diffs("[{\"x\": 100.00001}]", one, 1e-6, NULL, NULL, 0) == 0); /* 1e-7 relative */
    CHECK(diffs("[{\"x\": 100.001}]", one, 1e-6, NULL, NULL, 0) == 1);
    CHECK(diffs("[{\"z\": 0}]", one, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("[{\"z\": 1e-300}]", one, 1e-9, NULL, NULL, 0) ==
          1);                                                       /* relative: 0 matches 0 only */
    CHECK(diffs("[{\"n\": 5}]", one, 10, NULL, NULL, 0) == 0);      /* a huge tolerance: anything */
    CHECK(diffs("[{\"n\": 5}]", one, 1, NULL, NULL, 0) == 1);       /* |−5−5| = 10 > 1 × 5 */
    CHECK(diffs("[{\"x\": \"100\"}]", one, 0, NULL, NULL, 0) == 1); /* a string is not a number */
    CHECK(diffs("[{\"x\": null}]", one, 0, NULL, NULL, 0) == 1);
    CHECK(diffs("[{\"gone\": null}]", one, 0, NULL, NULL, 0) == 1); /* absent is not null */
    /* NaN and infinities never match a finite value, whatever the tolerance. */
    json_t *nan = json_pack("[{s:f}]", "x", NAN), *inf = json_pack("[{s:f}]", "x", INFINITY);
    char *ns = json_dumps(nan, 0), *is = json_dumps(inf, 0);
    CHECK(ns == NULL || diffs(ns, one, 1e300, NULL, NULL, 0) == 1); /* jansson refuses NaN */
    CHECK(is == NULL || diffs(is, one, 1e300, NULL, NULL, 0) == 1);
    free(ns);
    free(is);
    json_decref(nan);
    json_decref(inf);
}

static void strings_and_shapes(void)
{
    const char *dead[] = {"{\"reason\": \"field \\\"cpu\\\": expected a number\", \"line\": 3, "
                          "\"tags\": [1, {\"a\": 2}], \"o\": {\"p\": {\"q\": \"r\"}}}",
                          NULL};
    char text[2048];
    CHECK(diffs("[{\"reason\": \"expected a number\"}]", dead, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("[{\"reason\": \"expected a string\"}]", dead, 0, NULL, text, sizeof text) == 1);
    CHECK(
        strstr(text, "s: record 0: field \"reason\": expected to contain \"expected a string\"") !=
        NULL);
    CHECK(diffs("[{\"o\": {\"p\": {\"q\": \"r\"}}, \"tags\": [1, {\"a\": 2}]}]", dead, 0, NULL,
                NULL, 0) == 0);
    CHECK(diffs("[{\"o\": {\"p\": {\"q\": \"R\"}}}]", dead, 0, NULL, text, sizeof text) == 1);
    CHECK(strstr(text, "field \"o.p.q\": expected \"R\", got \"r\"") != NULL);
    CHECK(diffs("[{\"tags\": [1]}]", dead, 0, NULL, NULL, 0) == 1); /* arrays: same length */
    CHECK(diffs("[{\"tags\": [1, {\"a\": 3}]}]", dead, 0, NULL, text, sizeof text) == 1);
    CHECK(strstr(text, "field \"tags[1].a\": expected 3, got 2") != NULL);
    CHECK(diffs("[{\"line\": 3, \"o\": {}}]", dead, 0, NULL, NULL, 0) == 0); /* {} : any object */
    /* Text lines: a string matches a line containing it; an object, the
     * record printed at the end of the line. */
    const char *textl[] = {"ALERT  line 7    score=0.9  explain=\"a {b\"  {\"v\":5.5}", "not json",
                           NULL};
    CHECK(diffs("[\"ALERT  line 7\", \"not\"]", textl, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("[{\"v\": 5.5}, \"json\"]", textl, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("[{\"v\": 5.5}, {\"v\": 1}]", textl, 0, NULL, text, sizeof text) == 1);
    CHECK(strstr(text, "s: record 1: expected a JSON object, got not json") != NULL);
    CHECK(diffs("[\"ok\", \"not\"]", textl, 0, NULL, NULL, 0) == 1);
}

static void counts_and_indexes(void)
{
    const char *three[] = {"{\"i\": 0}", "{\"i\": 1}", "{\"i\": 2}", NULL}, *none[] = {NULL};
    char text[2048];
    CHECK(diffs("{\"count\": 3, \"records\": {\"0\": {\"i\": 0}, \"-1\": {\"i\": 2}, \"-3\": "
                "{\"i\": 0}}}",
                three, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("{\"count\": 2}", three, 0, NULL, text, sizeof text) == 1);
    CHECK(strstr(text, "s: expected 2 records, got 3") != NULL);
    CHECK(diffs("{\"records\": {\"3\": {}}}", three, 0, NULL, NULL, 0) == 1); /* past the end */
    CHECK(diffs("{\"records\": {\"-4\": {}}}", three, 0, NULL, NULL, 0) ==
          1); /* before the start */
    CHECK(diffs("[]", none, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("{\"count\": 0}", none, 0, NULL, NULL, 0) == 0);
    CHECK(diffs("[{}]", none, 0, NULL, text, sizeof text) == 1);
    CHECK(strstr(text, "s: expected 1 records, got 0") != NULL);
    /* One difference per mismatching field, one more for the count. */
    CHECK(diffs("[{\"i\": 9}, {\"i\": 9}]", three, 0, NULL, NULL, 0) == 3);
}

/* Order per key against a brute force: records of random keys in random
 * interleavings; the expectation lists each key's records in their order,
 * keys in another order: with the key they match. Two records of one key
 * swapped: a difference in each. */
static void per_key_order(void)
{
    srand(12345);
    for (int round = 0; round < 200; round++) {
        int n = 1 + rand() % 12, keys = 1 + rand() % 4;
        int key[12], seq[4] = {0};
        char lines[12][64];
        const char *got[13];
        for (int i = 0; i < n; i++) {
            key[i] = rand() % keys;
            snprintf(lines[i], sizeof lines[i], "{\"k\": \"h%d\", \"seq\": %d}", key[i],
                     seq[key[i]]++);
            got[i] = lines[i];
        }
        got[n] = NULL;
        /* The brute force: keys from last to first, each key's records in order. */
        char expect[2048] = "[";
        size_t o = 1;
        for (int k = keys - 1; k >= 0; k--)
            for (int i = 0; i < n; i++)
                if (key[i] == k)
                    o += (size_t)snprintf(expect + o, sizeof expect - o,
                                          "%s{\"k\": \"h%d\", \"seq\": %d}", o > 1 ? ", " : "", k,
                                          atoi(strstr(lines[i], "\"seq\": ") + 7));
        snprintf(expect + o, sizeof expect - o, "]");
        CHECK(diffs(expect, got, 0, "k", NULL, 0) == 0);
        /* Swap two records of one key in the expectation: must fail. */
        if (seq[key[0]] >= 2) {
            char bad[2048];
            snprintf(bad, sizeof bad,
                     "[{\"k\": \"h%d\", \"seq\": 1}, {\"k\": \"h%d\", \"seq\": 0}]", key[0],
                     key[0]);
            const char *two[] = {NULL, NULL, NULL};
            char l0[64], l1[64];
            snprintf(l0, sizeof l0, "{\"k\": \"h%d\", \"seq\": 0}", key[0]);
            snprintf(l1, sizeof l1, "{\"k\": \"h%d\", \"seq\": 1}", key[0]);
            two[0] = l0;
            two[1] = l1;
            CHECK(diffs(bad, two, 0, "k", NULL, 0) == 2); /* seq, in both */
        }
    }
}

int main(void)
{
    numbers();
    strings_and_shapes();
    counts_and_indexes();
    per_key_order();
    return check_summary();
}
