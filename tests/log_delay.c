/* Preloaded into weir by tests/test_kafka_assign_pause.sh: widens a race
 * inside librdkafka by sleeping in the log lines librdkafka writes (with
 * "debug": "topic", through weir's log, i.e. fprintf) at two points, so that
 * the order that used to lose a partition happens every time:
 *   - librdkafka's own thread, between taking a version for partition 0's
 *     fetch start and queueing it ("rd_kafka_toppar_op_fetch_start ... new
 *     version barrier"): 1 s;
 *   - the thread that asks to resume partitions ("Application resuming"),
 *     before it takes their versions: 0.3 s, by when the fetch start above is
 *     waiting in the first sleep.
 * A resume asked for after an assignment then gets the newer version, is
 * queued first, and librdkafka drops the fetch start as outdated. Each sleep
 * says so in a line of its own. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int delayed_vfprintf(FILE *f, const char *fmt, va_list ap)
{
    char line[4096];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof line) {
        const char *why = NULL;
        if (strstr(line, "[thrd:main]") && strstr(line, "[0]: rd_kafka_toppar_op_fetch_start")) {
            why = "partition 0's fetch start";
            usleep(1000000);
        } else if (strstr(line, "Application resuming")) {
            why = "a resume";
            usleep(300000);
        }
        n = fputs(line, f) < 0 ? -1 : n;
        if (why)
            fputs(why[0] == 'p' ? "log_delay: slept in partition 0's fetch start\n"
                                : "log_delay: slept in a resume\n", f);
    } else {
        n = vfprintf(f, fmt, again);
    }
    va_end(again);
    return n;
}

int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = delayed_vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

/* what fprintf becomes with _FORTIFY_SOURCE */
int __fprintf_chk(FILE *f, int flag, const char *fmt, ...)
{
    (void)flag;
    va_list ap;
    va_start(ap, fmt);
    int n = delayed_vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}
