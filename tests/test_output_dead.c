/* Dead letters cut to fit a size limit (weir_output_dead_fit, for Kafka
 * sinks): escaping makes raw grow (control bytes x6, quotes x2, invalid
 * UTF-8 as U+FFFD plus raw_base64), so the line is measured, never guessed.
 * Whatever the bytes, the line is valid JSON of at most max bytes, keeps the
 * reason and coordinates whole, holds a prefix of the record in raw (cut on
 * a UTF-8 boundary when the record is text) and says raw_truncated.
 * The text form (format "text", weir_output_dead_text) is one line whatever
 * the bytes: printable records as they are, others escaped. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/output.h"
#include "tests/check.h"

static struct weir_record rec(const char *value, size_t len)
{
    return (struct weir_record){.value = value, .value_len = (uint32_t)len, .topic = "in",
                                .partition = 2, .offset = 1734, .reason = "invalid JSON at byte 0"};
}

/* Fits, parses, keeps reason and coordinates; returns the parsed line. */
static json_t *fit(const struct weir_record *r, size_t max, size_t *len)
{
    struct weir_buf out = {0};
    weir_buf_append(&out, "x", 1); /* appends: what was there stays */
    int rc = weir_output_dead_fit(&out, r, "in", max);
    CHECK(rc == 0);
    CHECK(out.len >= 2 && out.data[0] == 'x' && out.data[out.len - 1] == '\n');
    *len = out.len - 2;
    CHECK(*len <= max);
    json_error_t e;
    json_t *j = json_loadb(out.data + 1, out.len - 1, 0, &e);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "reason")), "invalid JSON at byte 0");
    CHECK(json_integer_value(json_object_get(j, "partition")) == 2);
    CHECK(json_integer_value(json_object_get(j, "offset")) == 1734);
    weir_buf_free(&out);
    return j;
}

static void text_is(const struct weir_record *r, const char *want)
{
    struct weir_batch b = {.rec = (struct weir_record *)r, .n = 1};
    struct weir_buf out = {0};
    CHECK(weir_output_dead_text(&out, &b, 0, "src") == 0);
    CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
    if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
        fprintf(stderr, "got  %.*s", (int)out.len, out.data);
    weir_buf_free(&out);
}

static void dead_text(void)
{
    /* A file's record: its line and its own file; trailing space dropped. */
    text_is(&(struct weir_record){.value = "{\"a\":x}\r\n", .value_len = 9, .topic = "in.jsonl",
                                  .partition = -1, .offset = 3, .reason = "invalid JSON"},
            "DEAD   line 3       in.jsonl: invalid JSON  {\"a\":x}\n");
    /* A Kafka record: partition@offset, the source's name. Control bytes and
     * invalid UTF-8 are escaped, so the reject stays on one line. */
    text_is(&(struct weir_record){.value = "a\nb\x1b[2J", .value_len = 7, .partition = 2,
                                  .offset = 17, .reason = "bad"},
            "DEAD   p2@17  src: bad  \"a\\nb\\u001b[2J\"\n");
    text_is(&(struct weir_record){.value = "\xff", .value_len = 1, .partition = 0, .offset = 1},
            "DEAD   p0@1  src: rejected  \"\xef\xbf\xbd\"\n"); /* U+FFFD */
}

int main(void)
{
    enum { N = 100000 };
    char *v = malloc(4 * N);
    size_t len;

    /* A record that fits is written whole, as weir_output_dead would. */
    json_t *j = fit(&(struct weir_record){.value = "{\"a\":1}", .value_len = 7, .topic = "in",
                                          .partition = 2, .offset = 1734,
                                          .reason = "invalid JSON at byte 0"}, 1000, &len);
    CHECK_STR(json_string_value(json_object_get(j, "raw")), "{\"a\":1}");
    CHECK(json_object_get(j, "raw_truncated") == NULL);
    json_decref(j);

    /* Control bytes: \u0001 each. */
    memset(v, 1, N);
    struct weir_record r = rec(v, N);
    j = fit(&r, 50000, &len);
    const char *raw = json_string_value(json_object_get(j, "raw"));
    CHECK(raw && strlen(raw) > 7000 && strspn(raw, "\x01") == strlen(raw));
    CHECK(json_integer_value(json_object_get(j, "raw_truncated")) == N);
    CHECK(len > 45000); /* the cut keeps most of the room */
    json_decref(j);

    /* Quotes: \" each. */
    memset(v, '"', N);
    r = rec(v, N);
    j = fit(&r, 60000, &len);
    raw = json_string_value(json_object_get(j, "raw"));
    CHECK(raw && strlen(raw) > 25000 && strspn(raw, "\"") == strlen(raw));
    json_decref(j);

    /* Text cut on a character boundary: no raw_base64 appears. */
    for (size_t i = 0; i < N; i++)
        memcpy(v + 3 * i, "\xe2\x82\xac", 3); /* U+20AC, 3 bytes */
    r = rec(v, 3 * N);
    j = fit(&r, 30001, &len);
    raw = json_string_value(json_object_get(j, "raw"));
    CHECK(raw && strlen(raw) % 3 == 0 && memcmp(raw, v, strlen(raw)) == 0);
    CHECK(json_object_get(j, "raw_base64") == NULL);
    CHECK(json_integer_value(json_object_get(j, "raw_truncated")) == 3 * N);
    json_decref(j);

    /* Invalid UTF-8: U+FFFD in raw, the exact prefix in raw_base64. */
    memset(v, 0xff, N);
    r = rec(v, N);
    j = fit(&r, 40000, &len);
    const char *b64 = json_string_value(json_object_get(j, "raw_base64"));
    CHECK(b64 && strlen(b64) > 1000 && strncmp(b64, "////", 4) == 0); /* 0xff bytes */
    CHECK(json_integer_value(json_object_get(j, "raw_truncated")) == N);
    json_decref(j);

    /* Not even the reason and coordinates fit: -ENOSPC, nothing appended. */
    struct weir_buf out = {0};
    weir_buf_append(&out, "x", 1);
    CHECK(weir_output_dead_fit(&out, &r, "in", 60) == -ENOSPC);
    CHECK(out.len == 1);
    weir_buf_free(&out);
    free(v);
    dead_text();
    return check_summary();
}
