/* weir's own log lines (not records): one function, three formats chosen by
 * --log-format. text is the historical "weir: message" line; json writes
 * {"ts":..,"level":..,"msg":..} lines and logfmt ts=.. level=.. msg=".." lines
 * for log shippers. librdkafka's logs come through here too
 * (connectors/kafka_common.c). Never called per record: errors, rebalances,
 * reloads, the summary and the periodic progress line. Thread-safe: one
 * stdio call per line. */
#ifndef WEIR_LOG_H
#define WEIR_LOG_H

enum weir_log_level { WEIR_LOG_ERROR, WEIR_LOG_WARN, WEIR_LOG_INFO, WEIR_LOG_DEBUG };
enum weir_log_format { WEIR_LOG_TEXT, WEIR_LOG_JSON, WEIR_LOG_LOGFMT };

/* "text", "json" or "logfmt"; returns the format or -1. */
int weir_log_format_parse(const char *name);
void weir_log_set_format(enum weir_log_format f);
enum weir_log_format weir_log_get_format(void);

/* One line to stderr; a trailing newline in fmt is dropped (the format adds
 * its own). In text format a warning's message is written as given, so
 * callers keep their "warning: " prefix; the other formats drop it. */
void weir_log(enum weir_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
