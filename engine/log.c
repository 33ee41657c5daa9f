/* weir's log lines in three formats (see log.h). */
#include "engine/log.h"

#include "engine/buf.h"
#include "engine/jsonw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum weir_log_format format = WEIR_LOG_TEXT;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

int weir_log_format_parse(const char *name)
{
    return strcmp(name, "text") == 0     ? WEIR_LOG_TEXT
           : strcmp(name, "json") == 0   ? WEIR_LOG_JSON
           : strcmp(name, "logfmt") == 0 ? WEIR_LOG_LOGFMT
                                         : -1;
}

void weir_log_set_format(enum weir_log_format f)
{
    __atomic_store_n(&format, f, __ATOMIC_RELAXED);
}

enum weir_log_format weir_log_get_format(void)
{
    return __atomic_load_n(&format, __ATOMIC_RELAXED);
}

/* RFC 3339 UTC with milliseconds. */
static void timestamp(char *out, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Control bytes escaped (\n, \r, \t, \xNN), so that text reaching a
 * message from outside (a file name, a broker's error string) can neither
 * split a line nor forge one; quoted: " and \ too (a logfmt value). */
static int append_escaped(struct weir_buf *b, const char *s, int quoted)
{
    int rc = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8] = "";
        if (ch == '\n' || ch == '\r' || ch == '\t')
            snprintf(esc, sizeof esc, "\\%c", ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't');
        else if (ch < 0x20 || ch == 0x7f)
            snprintf(esc, sizeof esc, "\\x%02x", ch);
        else if (quoted && (ch == '"' || ch == '\\'))
            snprintf(esc, sizeof esc, "\\%c", ch);
        rc |= esc[0] ? weir_buf_append(b, esc, strlen(esc)) : weir_buf_append(b, s, 1);
    }
    return rc;
}

static void logfmt_value(struct weir_buf *b, const char *s)
{
    weir_buf_append(b, "\"", 1);
    append_escaped(b, s, 1);
    weir_buf_append(b, "\"", 1);
}

void weir_log(enum weir_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = strlen(msg);
    while (len && msg[len - 1] == '\n')
        msg[--len] = 0;
    enum weir_log_format f = weir_log_get_format();
    struct weir_buf b = {0};
    if (f == WEIR_LOG_TEXT) {
        int rc = weir_buf_append(&b, "weir: ", 6) | append_escaped(&b, msg, 0) |
                 weir_buf_append(&b, "\n", 1);
        if (rc == 0) { /* one call: no interleaving; fprintf, which tests/log_delay.c hooks */
            fprintf(stderr, "%.*s", (int)b.len, b.data);
        } else { /* out of memory: control bytes as spaces rather than no line */
            for (char *q = msg; *q; q++)
                *q = (unsigned char)*q < 0x20 || *q == 0x7f ? ' ' : *q;
            fprintf(stderr, "weir: %s\n", msg);
        }
        weir_buf_free(&b);
        return;
    }
    const char *m = msg;
    if (level == WEIR_LOG_WARN && strncmp(m, "warning: ", 9) == 0)
        m += 9;
    char ts[40];
    timestamp(ts, sizeof ts);
    const char *lv = level_names[level <= WEIR_LOG_DEBUG ? level : WEIR_LOG_DEBUG];
    if (f == WEIR_LOG_JSON) {
        weir_buf_append(&b, "{\"ts\":\"", 7);
        weir_buf_append(&b, ts, strlen(ts));
        weir_buf_append(&b, "\",\"level\":\"", 11);
        weir_buf_append(&b, lv, strlen(lv));
        weir_buf_append(&b, "\",\"msg\":", 8);
        weir_jsonw_string(&b, m, strlen(m));
        weir_buf_append(&b, "}\n", 2);
    } else {
        weir_buf_append(&b, "ts=", 3);
        weir_buf_append(&b, ts, strlen(ts));
        weir_buf_append(&b, " level=", 7);
        weir_buf_append(&b, lv, strlen(lv));
        weir_buf_append(&b, " msg=", 5);
        logfmt_value(&b, m);
        weir_buf_append(&b, "\n", 1);
    }
    if (b.data)
        fwrite(b.data, 1, b.len, stderr);
    weir_buf_free(&b);
}
