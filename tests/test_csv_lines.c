/* Line framing (partial lines across reads, CRLF, BOM, oversized lines, a
 * reload's carry-over, lent bytes) and
 * CSV rows to JSON objects (quoting, numbers, nulls, wrong field counts,
 * fields that are not UTF-8, repeated header names, lines that end inside
 * a quoted field). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/utf8cut.h"
#include "connectors/csv.h"
#include "connectors/linesplit.h"
#include "engine/buf.h"
#include "engine/jsonw.h"
#include "tests/check.h"

static void feed(struct weir_linesplit *ls, const char *text)
{
    size_t room;
    char *dst = weir_linesplit_space(ls, &room);
    size_t n = strlen(text);
    CHECK(n <= room);
    memcpy(dst, text, n);
    weir_linesplit_commit(ls, n);
}

static void test_lines(void)
{
    struct weir_linesplit ls;
    struct weir_line ln;
    CHECK(weir_linesplit_init(&ls, 4096, 64) == 0);
    feed(&ls, "\xEF\xBB\xBF{\"a\":1}\r\n{\"b\"");
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1);
    CHECK(ln.len == 7 && memcmp(ln.p, "{\"a\":1}", 7) == 0 && ln.no == 1); /* BOM and CR gone */
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 0); /* partial: wait for more */
    feed(&ls, ":2}\n\n");
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.len == 7 && ln.no == 2);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.len == 0 && ln.no == 3); /* empty line */
    /* An oversized line across several reads becomes one "too long" line. */
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    feed(&ls, big);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 0);
    feed(&ls, big);
    feed(&ls, "\n{}");
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.too_long == 398 && ln.no == 4);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 0);
    CHECK(weir_linesplit_next(&ls, 1, &ln) == 1 && ln.len == 2 && ln.no == 5); /* last line, no newline */
    CHECK(weir_linesplit_next(&ls, 1, &ln) == 0);
    weir_linesplit_free(&ls);
}

/* The kept start of an oversized line ends at a whole character: "é" (2
 * bytes) across the 1,024th byte is kept out, not cut in two (a dead letter
 * would then need raw_base64 for text that was valid UTF-8). Both ways in:
 * a line still growing and a complete one. */
static void test_long_line_cut(void)
{
    static char line[3000];
    memset(line, 'a', sizeof line - 1);
    for (size_t i = 1023; i < 1999; i += 2)
        memcpy(line + i, "\xC3\xA9", 2);
    line[sizeof line - 2] = '\n';
    struct weir_linesplit ls;
    struct weir_line ln;
    CHECK(weir_linesplit_init(&ls, 4096, 2000) == 0); /* the whole line in one read */
    feed(&ls, line);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.too_long == sizeof line - 2);
    CHECK(ln.len == 1023 && ln.p[1022] == 'a');
    weir_linesplit_free(&ls);
    CHECK(weir_linesplit_init(&ls, 4096, 1500) == 0);
    line[1600] = '\0'; /* not yet ended: kept as a prefix */
    feed(&ls, line);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 0);
    feed(&ls, "\n");
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.too_long == 1600 && ln.len == 1023);
    weir_linesplit_free(&ls);
    /* a prefix shorter than 1,024 bytes that ends inside a character (a
     * pipe's read boundary): the character is left out, not halved */
    CHECK(weir_linesplit_init(&ls, 4096, 100) == 0);
    line[1600] = 'a';
    line[200] = '\0'; /* 200 bytes: 'a' x 199, then the first byte of an "é" */
    line[199] = '\xC3';
    feed(&ls, line);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 0);
    feed(&ls, "\xA9"
              "bc\n");
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.too_long == 203 && ln.len == 199);
    weir_linesplit_free(&ls);
    CHECK(weir_utf8_whole("ab\xC3", 3) == 2 && weir_utf8_whole("ab\xC3\xA9", 4) == 4);
    CHECK(weir_utf8_whole("\xE2\x82", 2) == 0 && weir_utf8_whole("\xE2\x82\xAC", 3) == 3);
    CHECK(weir_utf8_whole("a\xF0\x9F\x98", 4) == 1 && weir_utf8_whole("ab", 2) == 2);
    CHECK(weir_utf8_whole("\xA9\xA9\xA9\xA9", 4) == 4); /* not UTF-8: as it is */
}

/* Feeds text in reads of `step` bytes (a pipe), collecting every line as
 * "line|" into got, then the last line at end of input. */
static void feed_lines(const char *text, size_t len, size_t step, char *got, size_t size)
{
    struct weir_linesplit ls;
    struct weir_line ln;
    size_t o = 0;
    got[0] = '\0';
    CHECK(weir_linesplit_init(&ls, 4096, 64) == 0);
    for (size_t at = 0, n = 1; n > 0; at += n) { /* the last read returns 0: end of input */
        size_t room;
        n = len - at < step ? len - at : step;
        char *dst = weir_linesplit_space(&ls, &room);
        memcpy(dst, text + at, n);
        weir_linesplit_commit(&ls, n);
        while (weir_linesplit_next(&ls, n == 0, &ln))
            o += (size_t)snprintf(got + o, size - o, "%.*s|", (int)ln.len, ln.p);
    }
    weir_linesplit_free(&ls);
}

/* Only the stream's first 3 bytes may be a byte-order mark, however the
 * reads cut it: a line that merely starts with those bytes later keeps
 * them, and a stream shorter than a BOM is data. */
static void test_bom_small_reads(void)
{
    static const struct { const char *in, *want; } cases[] = {
        {"\xEF\xBB\xBF{}\n{}\n", "{}|{}|"},              /* a BOM, cut anywhere */
        {"a\n\xEF\xBB\xBF", "a|\xEF\xBB\xBF|"},           /* a BOM-only last line stays */
        {"1\n\xEF\xBB\xBFx\n", "1|\xEF\xBB\xBFx|"},       /* a later line keeps its bytes */
        {"\n\xEF\xBB\xBF\n", "|\xEF\xBB\xBF|"},
        {"\xEF\xBBx\n", "\xEF\xBBx|"},                  /* the start of a BOM only */
        {"\xEF\xBB", "\xEF\xBB|"},                       /* the whole (short) stream */
        {"\xEF\xBB\xBF", ""},                            /* only a BOM: no line */
    };
    char got[128], what[64];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t step = 1; step <= 3; step++) {
            feed_lines(cases[c].in, strlen(cases[c].in), step, got, sizeof got);
            snprintf(what, sizeof what, "case %zu, reads of %zu", c, step);
            if (strcmp(got, cases[c].want) != 0)
                fprintf(stderr, "%s:\n", what);
            CHECK_STR(got, cases[c].want);
        }
    }
}

static void expect_row(struct weir_csv_header *h, const char *row, const char *json)
{
    struct weir_buf out = {0};
    char reason[160] = "";
    int rc = weir_csv_row_to_json(h, row, strlen(row), &out, reason, sizeof reason);
    CHECK(rc == 0);
    CHECK_STR(rc == 0 ? weir_buf_cstr(&out) : reason, json);
    weir_buf_free(&out);
}

static void expect_bad_row(struct weir_csv_header *h, const char *row, const char *why)
{
    struct weir_buf out = {0};
    char reason[160] = "";
    CHECK(weir_csv_row_to_json(h, row, strlen(row), &out, reason, sizeof reason) < 0);
    CHECK_STR(reason, why);
    weir_buf_free(&out);
}

static void test_csv(void)
{
    struct weir_csv_header h;
    const char *why = NULL;
    const char *head = "timestamp,value,\"host name\"";
    CHECK(weir_csv_header_parse(&h, head, strlen(head), ',', &why) == 0);
    CHECK(h.n == 3);
    CHECK_STR(h.names[2], "host name");
    expect_row(&h, "2014-04-10 00:04:00,91.958,web-1",
               "{\"timestamp\":\"2014-04-10 00:04:00\",\"value\":91.958,\"host name\":\"web-1\"}");
    expect_row(&h, "t,-1.5e3,\"a \"\"quoted\"\", comma\"",
               "{\"timestamp\":\"t\",\"value\":-1.5e3,\"host name\":\"a \\\"quoted\\\", comma\"}");
    expect_row(&h, "t,,", "{\"timestamp\":\"t\",\"value\":null,\"host name\":null}");
    expect_row(&h, "t,01,\"42\"", "{\"timestamp\":\"t\",\"value\":\"01\",\"host name\":\"42\"}"); /* not JSON numbers */
    expect_row(&h, "t,NaN,x", "{\"timestamp\":\"t\",\"value\":\"NaN\",\"host name\":\"x\"}");
    /* strings written in place when plain, through the string writer when not */
    expect_row(&h, "t,1,caf\xc3\xa9",
               "{\"timestamp\":\"t\",\"value\":1,\"host name\":\"caf\xc3\xa9\"}");
    expect_row(&h, "t,1,a\\b", "{\"timestamp\":\"t\",\"value\":1,\"host name\":\"a\\\\b\"}");
    expect_row(&h, "t,1,\x7f~ ", "{\"timestamp\":\"t\",\"value\":1,\"host name\":\"\x7f~ \"}");
    expect_row(&h, "t,1,\x01", "{\"timestamp\":\"t\",\"value\":1,\"host name\":\"\\u0001\"}");
    expect_row(&h, "t,1,\"\"", "{\"timestamp\":\"t\",\"value\":1,\"host name\":\"\"}");
    expect_bad_row(&h, "t,1", "CSV row has 2 fields, the header has 3");
    expect_bad_row(&h, "t,1,2,3", "CSV row has 4 fields, the header has 3");
    expect_bad_row(&h, "t,1,\"open", "CSV row has an unterminated quote");
    weir_csv_header_free(&h);
    CHECK(weir_csv_header_parse(&h, "a,,c", 4, ',', &why) < 0);
    CHECK_STR(why, "CSV header has an empty column name");
    weir_csv_header_free(&h);
    /* Two columns of one name: each row's object would repeat the key. */
    CHECK(weir_csv_header_parse(&h, "a,b,\"c\",x,c", 11, ',', &why) < 0);
    CHECK_STR(why, "CSV header has a repeated column name \"c\" (columns 3 and 5)");
    weir_csv_header_free(&h);
    /* Latin-1 names: "gr\xf6\xdfe" and "gr\xfc\xdfe" would both be written
     * "gr\ufffd\ufffde", one key twice in every row. */
    CHECK(weir_csv_header_parse(&h, "id,gr\xf6\xdf" "e,gr\xfc\xdf" "e", 14, ',', &why) < 0);
    CHECK_STR(why, "CSV header: column 2's name is not valid UTF-8 (convert the file, e.g. iconv "
                   "-f latin1 -t utf-8)");
    weir_csv_header_free(&h);
    CHECK(weir_csv_header_parse(&h, "id,gr\xc3\xb6\xc3\x9f" "e", 10, ',', &why) == 0 && h.n == 2);
    weir_csv_header_free(&h);
    /* A field that is not UTF-8 (Latin-1 é, quoted or not) is refused,
     * naming its column, not written with U+FFFD for the byte. */
    CHECK(weir_csv_header_parse(&h, "id,name", 7, ',', &why) == 0);
    expect_bad_row(&h, "1,caf\xe9", "CSV column 2 (\"name\") is not valid UTF-8");
    expect_bad_row(&h, "\"\xe9\",x", "CSV column 1 (\"id\") is not valid UTF-8");
    expect_row(&h, "1,\"caf\xc3\xa9\"", "{\"id\":1,\"name\":\"caf\xc3\xa9\"}");
    weir_csv_header_free(&h);
    /* a long column name is quoted cut at a whole character: x and 30 é
     * (61 bytes) keep x and 29 é, not half of the 30th */
    char name[80] = "id,x", want[160];
    for (int k = 0; k < 30; k++)
        strcat(name, "\xc3\xa9");
    CHECK(weir_csv_header_parse(&h, name, strlen(name), ',', &why) == 0 && h.n == 2);
    snprintf(want, sizeof want, "CSV column 2 (\"%.59s\") is not valid UTF-8", name + 3);
    expect_bad_row(&h, "1,\xff", want);
    weir_csv_header_free(&h);
    CHECK(weir_csv_header_parse(&h, "a;b", 3, ';', &why) == 0 && h.n == 2);
    expect_row(&h, "1;x", "{\"a\":1,\"b\":\"x\"}");
    weir_csv_header_free(&h);
}

/* Whether a line ends inside a quoted field, starting outside one or
 * inside one (the line before ended so): a quote opens a field only at its
 * start ("5\" screen" is text), "" is a quote inside one, text after a
 * closing quote is passed over to its delimiter (the row is bad, but a
 * later field's quote still runs on into the next line). */
static void test_ends_in_quote(void)
{
    static const struct { const char *line; int inside, want;
    } cases[] = {
        {"7,\"note, with comma", 0, 1},
        {"7,\"note\",9", 0, 0},
        {"2,5\" screen,3", 0, 0},
        {"1,\"a\"\"b", 0, 1}, /* "" inside: still open */
        {"1,\"a\"\"\",2", 0, 0},
        {"\"", 0, 1},
        {"", 0, 0},
        {"1,\"a\"x,\"b", 0, 1}, /* text after "a", then a field that runs on */
        {"1,\"a\"x\"y,2", 0, 0},
        {"1,", 0, 0},
        {"second, part\",9", 1, 0}, /* the field's rest, then a row's tail */
        {"middle, still", 1, 1},
        {"", 1, 1},
        {"x\"\"y", 1, 1},
        {"end\"", 1, 0},
        {"end\",\"again", 1, 1}, /* closes one, opens another */
        {"end\"x,\"again", 1, 1},
        {"end\"x,again", 1, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *l = cases[k].line;
        int got = weir_csv_ends_in_quote(l, strlen(l), ',', cases[k].inside);
        if (got != cases[k].want)
            fprintf(stderr, "ends_in_quote(%s, inside %d): %d\n", l, cases[k].inside, got);
        CHECK(got == cases[k].want);
    }
    CHECK(weir_csv_ends_in_quote("a;\"b;c", 6, ';', 0) == 1);
}

/* Rows without quotes are split 16 bytes at a time (csv.c): delimiters
 * at every place in and across the 16-byte pieces, rows shorter and longer
 * than one piece, a quote anywhere (the byte-at-a-time way then), and too
 * many fields. */
static void test_csv_split_pieces(void)
{
    struct weir_csv_header h;
    const char *why = NULL;
    CHECK(weir_csv_header_parse(&h, "a,b,c", 5, ',', &why) == 0);
    static const char xs[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; /* 40 */
    static const char ws[] = "wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww";
    char row[160], want[256];
    int bad = 0;
    for (int quote = 0; quote < 2; quote++)
        for (int la = 0; la <= 40; la++)
            for (int lb = 0; lb <= 40; lb += 1 + la % 3) {
                int n = snprintf(row, sizeof row, "%.*s,%.*s,%s", la, xs, lb, ws,
                                 quote ? "\"y,\"\"z\"" : "z");
                snprintf(want, sizeof want, "{\"a\":%s%.*s%s,\"b\":%s%.*s%s,\"c\":%s}",
                         la ? "\"" : "null", la, xs, la ? "\"" : "", lb ? "\"" : "null", lb, ws,
                         lb ? "\"" : "", quote ? "\"y,\\\"z\"" : "\"z\"");
                struct weir_buf out = {0};
                char reason[160] = "";
                int rc = weir_csv_row_to_json(&h, row, (size_t)n, &out, reason, sizeof reason);
                bad += rc != 0 || out.len != strlen(want) || memcmp(out.data, want, out.len) != 0;
                weir_buf_free(&out);
            }
    CHECK(bad == 0);
    expect_row(&h, "1,2,", "{\"a\":1,\"b\":2,\"c\":null}"); /* a trailing delimiter */
    expect_row(&h, "1234567890123456,2,3", "{\"a\":1234567890123456,\"b\":2,\"c\":3}");
    expect_bad_row(&h, "1234567890123456,2", "CSV row has 2 fields, the header has 3");
    char many[300];
    memset(many, ',', sizeof many);
    struct weir_buf out = {0};
    char reason[160] = "";
    CHECK(weir_csv_row_to_json(&h, many, sizeof many, &out, reason, sizeof reason) < 0);
    CHECK_STR(reason, "CSV row has more than 256 fields");
    weir_buf_free(&out);
    weir_csv_header_free(&h);
}

/* JSON's number grammar, written again here as the reference. */
static int ref_number(const char *s, size_t n)
{
    size_t i = 0, d;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0')
        i++;
    else if (i < n && s[i] >= '1' && s[i] <= '9')
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    else
        return 0;
    if (i < n && s[i] == '.') {
        for (d = ++i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        }
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (d = i; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        }
        if (i == d)
            return 0;
    }
    return i == n;
}

/* Whether s[0, n) is UTF-8, written again here as the reference: lead
 * bytes, continuation bytes, no overlong forms, surrogates or code points
 * above U+10FFFF. */
static int ref_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], need = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1
                                               : c >= 0xe0 && c <= 0xef ? 2
                                               : c >= 0xf0 && c <= 0xf4 ? 3 : 9;
        if (need == 9 || i + need >= n)
            return 0;
        unsigned cp = need == 0 ? c : c & (0x3f >> need);
        for (unsigned k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* Rows of up to 64 bytes are told numbers and plain text from masks of the
 * whole line (csv.c, csv_classes): random unquoted rows of digits, leading
 * zeros, signs, points, exponents, letters, spaces, control bytes, bytes
 * from 0x80 (UTF-8, and now and then a byte that is not) and backslashes,
 * 1 to 90 bytes long (across the 16-, 64-byte edges), each against a
 * reference built field by field: a field that is not UTF-8 makes the row
 * a bad one, naming its column. */
static void test_csv_classes(void)
{
    static const char alphabet[] = "0123456789000.-eE+ax Z\\\x01\x1f\x7f";
    static const char *const high[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80",
                                       "\xff", "\xc3", "\xed\xa0\x80"};
    struct weir_csv_header h;
    const char *why = NULL;
    CHECK(weir_csv_header_parse(&h, "a,b,c,d", 7, ',', &why) == 0);
    srand(7);
    int bad = 0, numbers = 0, strings = 0, not_utf8 = 0;
    for (int round = 0; round < 40000; round++) {
        char row[128];
        size_t len = 0, want_len = 1 + (size_t)(rand() % 90);
        int fields = 1;
        while (len < want_len) {
            int pick = rand() % 40;
            if (fields < 4 && pick < 6) {
                row[len++] = ',';
                fields++;
            } else if (pick == 6 && rand() % 4 == 0) { /* a byte that is not UTF-8, now and then */
                const char *hb = high[3 + rand() % 4];
                memcpy(row + len, hb, strlen(hb));
                len += strlen(hb);
            } else if (pick <= 8) {
                const char *hb = high[rand() % 3];
                memcpy(row + len, hb, strlen(hb));
                len += strlen(hb);
            } else {
                row[len++] = alphabet[rand() % (int)(sizeof alphabet - 1)];
            }
        }
        for (; fields < 4; fields++)
            row[len++] = ',';
        struct weir_buf want = {0}, got = {0};
        weir_buf_append(&want, "{", 1);
        const char *names[] = {"a", "b", "c", "d"};
        size_t start = 0;
        for (int k = 0; k < 4; k++) {
            size_t end = start;
            while (end < len && row[end] != ',')
                end++;
            if (k)
                weir_buf_append(&want, ",", 1);
            weir_jsonw_key(&want, names[k]);
            if (!ref_utf8((const unsigned char *)row + start, end - start)) {
                char why_not[64];
                int n = snprintf(why_not, sizeof why_not,
                                 "CSV column %d (\"%s\") is not valid UTF-8", k + 1, names[k]);
                want.len = 0;
                weir_buf_append(&want, why_not, (size_t)n);
                not_utf8++;
                break;
            }
            if (end == start) {
                weir_buf_append(&want, "null", 4);
            } else if (ref_number(row + start, end - start)) {
                weir_buf_append(&want, row + start, end - start);
                numbers++;
            } else {
                weir_jsonw_string(&want, row + start, end - start);
                strings++;
            }
            start = end + 1;
        }
        int bad_row = want.data[0] != '{';
        if (!bad_row)
            weir_buf_append(&want, "}", 1);
        char reason[160] = "";
        int rc = weir_csv_row_to_json(&h, row, len, &got, reason, sizeof reason);
        if (rc < 0)
            weir_buf_append(&got, reason, strlen(reason)); /* out is left as it was: empty */
        int differs = (rc < 0) != bad_row || got.len != want.len ||
                      memcmp(got.data, want.data, got.len) != 0;
        if (differs && bad++ < 3)
            fprintf(stderr, "row %.*s: got %.*s want %.*s\n", (int)len, row, (int)got.len,
                    got.data, (int)want.len, want.data);
        weir_buf_free(&want);
        weir_buf_free(&got);
    }
    CHECK(bad == 0);
    CHECK(numbers > 10000 && strings > 10000 && not_utf8 > 1000); /* each kind was tried */
    weir_csv_header_free(&h);
}

/* A reload's new reader takes over from the old one (file_source.c): the
 * unread bytes, the line count, a long line being skipped; a leftover
 * larger than the new reader's buffer grows it. */
static void test_carry(void)
{
    struct weir_linesplit a, b;
    struct weir_line ln;
    CHECK(weir_linesplit_init(&a, 4096, 64) == 0);
    feed(&a, "l1\nl2\npart");
    CHECK(weir_linesplit_next(&a, 0, &ln) == 1 && ln.no == 1);
    CHECK(weir_linesplit_next(&a, 0, &ln) == 1 && ln.no == 2);
    CHECK(weir_linesplit_next(&a, 0, &ln) == 0);
    CHECK(weir_linesplit_pending(&a) == 4);
    CHECK(weir_linesplit_init(&b, 4096, 16) == 0);
    CHECK(weir_linesplit_carry(&b, &a) == 0);
    feed(&b, "ial\n");
    CHECK(weir_linesplit_next(&b, 0, &ln) == 1 && ln.no == 3 && ln.len == 7 &&
          memcmp(ln.p, "partial", 7) == 0);
    CHECK(weir_linesplit_next(&b, 0, &ln) == 0);
    weir_linesplit_free(&a);
    weir_linesplit_free(&b);

    /* a line past max_line being skipped when the reader changed */
    char x[101];
    memset(x, 'x', 100);
    x[100] = 0;
    CHECK(weir_linesplit_init(&a, 4096, 64) == 0);
    feed(&a, x);
    CHECK(weir_linesplit_next(&a, 0, &ln) == 0);
    CHECK(weir_linesplit_pending(&a) == 100);
    CHECK(weir_linesplit_init(&b, 4096, 64) == 0);
    CHECK(weir_linesplit_carry(&b, &a) == 0);
    feed(&b, "yy\nz\n");
    CHECK(weir_linesplit_next(&b, 0, &ln) == 1 && ln.no == 1 && ln.too_long == 102);
    CHECK(weir_linesplit_next(&b, 0, &ln) == 1 && ln.no == 2 && ln.len == 1 && ln.p[0] == 'z');
    weir_linesplit_free(&a);
    weir_linesplit_free(&b);

    /* 6000 unread bytes into a reader with room for 4096 + 64 + 1: it grows,
     * and its own max_line then makes the line a long one */
    static char big[6001];
    memset(big, 'b', 6000);
    CHECK(weir_linesplit_init(&a, 8192, 8192) == 0);
    feed(&a, big);
    CHECK(weir_linesplit_next(&a, 0, &ln) == 0 && weir_linesplit_pending(&a) == 6000);
    CHECK(weir_linesplit_init(&b, 4096, 64) == 0);
    CHECK(weir_linesplit_carry(&b, &a) == 0 && b.cap >= 6000 + 4096);
    feed(&b, "\nok\n");
    CHECK(weir_linesplit_next(&b, 0, &ln) == 1 && ln.too_long == 6000);
    CHECK(weir_linesplit_next(&b, 0, &ln) == 1 && ln.len == 2 && ln.no == 2);
    weir_linesplit_free(&a);
    weir_linesplit_free(&b);
}

/* Lines straight from lent bytes (a file the gzip helper inflated): the same
 * lines as copied in, a byte-order mark dropped, a long line cut; the lent
 * bytes are never written (read-only pages); unlend() copies what is left
 * into the own buffer, growing it; lending needs nothing pending; free()
 * while lent frees only the own buffer (ASan). */
static void test_lend(void)
{
    struct weir_linesplit ls;
    struct weir_line ln;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *ro = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(ro != MAP_FAILED);
    const char text[] = "\xEF\xBB\xBF" "a,b\r\n1,2\n";
    memcpy(ro, text, sizeof text - 1);
    memset(ro + sizeof text - 1, 'x', 100); /* a line past max_line */
    memcpy(ro + sizeof text - 1 + 100, "\nlast-no-newline", 16);
    size_t len = sizeof text - 1 + 100 + 16;
    CHECK(mprotect(ro, 2 * page, PROT_READ) == 0);
    CHECK(weir_linesplit_init(&ls, 4096, 64) == 0);
    CHECK(weir_linesplit_lend(&ls, ro, len) == 0 && ls.lent);
    CHECK(weir_linesplit_lend(&ls, ro, len) == -1); /* lent already */
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.no == 1 && ln.len == 3 &&
          memcmp(ln.p, "a,b", 3) == 0); /* the BOM dropped, the CR trimmed */
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.no == 2 && ln.len == 3);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.no == 3 && ln.too_long == 100);
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 0 && weir_linesplit_pending(&ls) == 15);
    CHECK(weir_linesplit_unlend(&ls) == 0 && !ls.lent);
    CHECK(munmap(ro, 2 * page) == 0); /* nothing refers to it any more */
    feed(&ls, "!\n");
    CHECK(weir_linesplit_next(&ls, 0, &ln) == 1 && ln.no == 4 && ln.len == 16 &&
          memcmp(ln.p, "last-no-newline!", 16) == 0);
    CHECK(weir_linesplit_unlend(&ls) == 0); /* not lent: nothing to do */
    weir_linesplit_free(&ls);

    /* a leftover bigger than the own buffer grows it; pending bytes refuse a lend */
    static char big[9000];
    memset(big, 'q', sizeof big);
    CHECK(weir_linesplit_init(&ls, 4096, 64) == 0);
    CHECK(weir_linesplit_lend(&ls, big, sizeof big) == 0);
    CHECK(weir_linesplit_unlend(&ls) == 0 && ls.cap >= sizeof big + 4096 &&
          weir_linesplit_pending(&ls) == sizeof big && memcmp(ls.buf, big, sizeof big) == 0);
    CHECK(weir_linesplit_lend(&ls, "a\n", 2) == -1);
    weir_linesplit_free(&ls);

    /* freed while lent, and an empty lend at the end of a stream */
    CHECK(weir_linesplit_init(&ls, 4096, 64) == 0);
    CHECK(weir_linesplit_lend(&ls, "only\n", 5) == 0);
    CHECK(weir_linesplit_next(&ls, 1, &ln) == 1 && ln.len == 4);
    CHECK(weir_linesplit_next(&ls, 1, &ln) == 0);
    weir_linesplit_free(&ls);
    CHECK(weir_linesplit_init(&ls, 4096, 64) == 0);
    CHECK(weir_linesplit_lend(&ls, "", 0) == 0 && weir_linesplit_next(&ls, 1, &ln) == 0);
    weir_linesplit_free(&ls);
}

int main(void)
{
    test_lines();
    test_carry();
    test_lend();
    test_long_line_cut();
    test_bom_small_reads();
    test_csv();
    test_ends_in_quote();
    test_csv_split_pieces();
    test_csv_classes();
    return check_summary();
}
