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
 * says so in a line of its own.
 *
 * With WEIR_LOG_DELAY=resume_inside (tests/test_kafka_fetch_start.sh) the
 * order is forced by hand-over instead of fixed sleeps, for a resume that
 * weir asks for at a moment of its own (a restored state):
 *   - a thread that asks to resume partitions waits (up to 10 s) until
 *     partition 0's fetch start has taken its version;
 *   - that fetch start then waits (up to 5 s) before queueing until a resume
 *     of partition 0 took a newer version, which is then served first.
 * It prints "log_delay: a resume of partition 0 took its version inside its
 * fetch start" when that happened. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int start_versioned, resume_versioned; /* resume_inside: the two hand-overs */

static int resume_inside(void)
{
    const char *m = getenv("WEIR_LOG_DELAY");
    return m && strcmp(m, "resume_inside") == 0;
}

/* Sleeps until *flag is set or ms passed; returns whether it was set. */
static int wait_for(int *flag, int ms)
{
    for (int i = 0; i < ms / 10 && !__atomic_load_n(flag, __ATOMIC_ACQUIRE); i++)
        usleep(10000);
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

/* resume_inside: returns the line to print after line, or NULL */
static const char *hand_over(const char *line)
{
    if (strstr(line, "[thrd:main]") && strstr(line, "[0]: rd_kafka_toppar_op_fetch_start")) {
        __atomic_store_n(&start_versioned, 1, __ATOMIC_RELEASE);
        return wait_for(&resume_versioned, 5000)
                   ? "log_delay: a resume of partition 0 took its version inside its fetch start\n"
                   : "log_delay: slept in partition 0's fetch start\n";
    }
    if (strstr(line, "Application resuming")) {
        wait_for(&start_versioned, 10000);
        return NULL;
    }
    if (strstr(line, "[0]: rd_kafka_toppar_op_pause_resume") &&
        __atomic_load_n(&start_versioned, __ATOMIC_ACQUIRE))
        __atomic_store_n(&resume_versioned, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int delayed_vfprintf(FILE *f, const char *fmt, va_list ap)
{
    char line[4096];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n >= 0 && (size_t)n < sizeof line) {
        const char *why = NULL;
        if (resume_inside()) {
            const char *after = hand_over(line);
            n = fputs(line, f) < 0 ? -1 : n;
            if (after)
                fputs(after, f);
            va_end(again);
            return n;
        }
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
