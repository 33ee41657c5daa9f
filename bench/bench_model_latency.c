/* bench_model_latency: the latency a pipeline adds at a fixed input rate.
 *
 *   bench_model_latency WEIR PIPELINE [--rate R] [--seconds S] [--features F]
 *                       [--warmup S] [--seed N] [--label TEXT] [--result FILE]
 *
 * Runs `WEIR run PIPELINE --quiet --workers 1` with its standard input and output on
 * pipes (the pipeline reads "-" and writes "-"). Writes R records/s for S
 * seconds, paced against CLOCK_MONOTONIC in steps of 1 ms; each record is
 * {"t_ns":NS,"seq":I,"f0":..,"f1":..} with F normal features, t_ns being
 * CLOCK_MONOTONIC in ns just before the write, or the time the record was
 * due when the writer is more than 1 ms behind schedule (so a stall that
 * holds the writer back counts for the records it delayed). A reader thread takes every
 * output line as it arrives: latency = CLOCK_MONOTONIC then - t_ns. Records of
 * the first --warmup seconds (default 1) are not counted (start-up, first
 * allocations). Prints p50, p90, p99, p99.9, max and mean in microseconds,
 * how many records came out (all must: the exit status is 1 otherwise) and
 * how far behind schedule the writer fell, and writes them as JSON.
 *
 * What is measured: pipe write -> weir's read (io_uring) -> its operators ->
 * its write -> this reader, on one machine; the cost of the model operator
 * and of its micro-batching is the difference from the same pipeline without
 * it (bench/model_latency.py runs both). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct opts {
    const char *weir, *pipeline, *label, *result;
    double rate, seconds, warmup;
    int features;
    unsigned seed;
};

struct reader {
    int fd;
    uint64_t warm_ns; /* records written before this are not counted */
    double *lat_us;   /* (cap) */
    size_t n, cap, lines, bad;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void take_line(struct reader *r, const char *s, uint64_t now)
{
    const char *t = strstr(s, "\"t_ns\":");
    r->lines++;
    if (!t) {
        r->bad++;
        return;
    }
    uint64_t sent = strtoull(t + 7, NULL, 10);
    if (sent >= r->warm_ns && r->n < r->cap)
        r->lat_us[r->n++] = (double)(now - sent) / 1e3;
}

static void *read_outputs(void *arg)
{
    struct reader *r = arg;
    static char buf[1 << 20];
    size_t have = 0;
    for (;;) {
        ssize_t k = read(r->fd, buf + have, sizeof buf - have - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        uint64_t now = now_ns();
        have += (size_t)k;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            take_line(r, line, now);
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
    }
    return NULL;
}

static double normal(unsigned *seed)
{
    double u = (rand_r(seed) + 1.0) / (RAND_MAX + 2.0), v = (rand_r(seed) + 1.0) / (RAND_MAX + 2.0);
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    size_t k = (size_t)(q * (double)(n - 1) + 0.5);
    return v[k < n ? k : n - 1];
}

static int parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.rate = 10000, .seconds = 5, .warmup = 1, .features = 16, .seed = 7,
                       .label = ""};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--rate") == 0 && v)
            o->rate = atof(argv[++i]);
        else if (strcmp(a, "--seconds") == 0 && v)
            o->seconds = atof(argv[++i]);
        else if (strcmp(a, "--warmup") == 0 && v)
            o->warmup = atof(argv[++i]);
        else if (strcmp(a, "--features") == 0 && v)
            o->features = atoi(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && v)
            o->seed = (unsigned)atoi(argv[++i]);
        else if (strcmp(a, "--label") == 0 && v)
            o->label = argv[++i];
        else if (strcmp(a, "--result") == 0 && v)
            o->result = argv[++i];
        else if (!o->weir)
            o->weir = a;
        else if (!o->pipeline)
            o->pipeline = a;
        else
            return -1;
    }
    return o->weir && o->pipeline && o->rate > 0 && o->seconds > 0 && o->features > 0 ? 0 : -1;
}

static pid_t start_weir(const struct opts *o, int *in_fd, int *out_fd)
{
    int in[2], out[2];
    if (pipe(in) < 0 || pipe(out) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl(o->weir, o->weir, "run", o->pipeline, "--quiet", "--workers", "1", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *in_fd = in[1];
    *out_fd = out[0];
    return pid;
}

/* Writes the records on schedule; returns the largest lag behind it (ms). */
static double feed(const struct opts *o, int fd, uint64_t total, uint64_t start)
{
    static char buf[1 << 20];
    unsigned seed = o->seed;
    double behind_ms = 0;
    uint64_t sent = 0;
    while (sent < total) {
        uint64_t now = now_ns();
        uint64_t due = (uint64_t)((double)(now - start) / 1e9 * o->rate) + 1;
        if (due > total)
            due = total;
        double late = ((double)(now - start) - (double)sent / o->rate * 1e9) / 1e6;
        if (due > sent && late > behind_ms)
            behind_ms = late;
        size_t len = 0;
        for (; sent < due && len + 64 + 24 * (size_t)o->features < sizeof buf; sent++) {
            /* a record the writer sends more than a pacing step (1 ms) late
             * is stamped when it was due: time spent blocked on a full pipe
             * counts in the latency instead of vanishing from it */
            uint64_t t = now_ns(), sched = start + (uint64_t)((double)sent * 1e9 / o->rate);
            len += (size_t)snprintf(buf + len, sizeof buf - len,
                                    "{\"t_ns\":%" PRIu64 ",\"seq\":%" PRIu64,
                                    t > sched + 1000000 ? sched : t, sent);
            for (int f = 0; f < o->features; f++)
                len += (size_t)snprintf(buf + len, sizeof buf - len, ",\"f%d\":%.5f", f,
                                        normal(&seed));
            buf[len++] = '}';
            buf[len++] = '\n';
        }
        for (size_t off = 0; off < len;) {
            ssize_t k = write(fd, buf + off, len - off);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                return behind_ms;
            off += (size_t)k;
        }
        uint64_t next = start + (uint64_t)((double)sent / o->rate * 1e9);
        uint64_t t = now_ns();
        if (next > t) {
            struct timespec ts = {0, (long)(next - t < 1000000 ? next - t : 1000000)};
            nanosleep(&ts, NULL);
        }
    }
    return behind_ms;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: bench_model_latency WEIR PIPELINE [--rate R] [--seconds S] "
                        "[--features F] [--warmup S] [--seed N] [--label TEXT] [--result FILE]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    uint64_t total = (uint64_t)(o.rate * o.seconds);
    int in_fd, out_fd;
    pid_t pid = start_weir(&o, &in_fd, &out_fd);
    if (pid < 0) {
        perror("bench_model_latency: start weir");
        return 1;
    }
    struct reader r = {.fd = out_fd, .cap = total, .lat_us = malloc(total * sizeof(double))};
    pthread_t th;
    if (!r.lat_us || pthread_create(&th, NULL, read_outputs, &r) != 0)
        return 1;
    uint64_t start = now_ns();
    r.warm_ns = start + (uint64_t)(o.warmup * 1e9);
    double behind_ms = feed(&o, in_fd, total, start);
    double send_s = (double)(now_ns() - start) / 1e9;
    close(in_fd);
    pthread_join(th, NULL);
    int status = 0;
    waitpid(pid, &status, 0);
    qsort(r.lat_us, r.n, sizeof *r.lat_us, cmp_double);
    double sum = 0;
    for (size_t i = 0; i < r.n; i++)
        sum += r.lat_us[i];
    double p50 = pct(r.lat_us, r.n, 0.5), p90 = pct(r.lat_us, r.n, 0.9),
           p99 = pct(r.lat_us, r.n, 0.99), p999 = pct(r.lat_us, r.n, 0.999),
           mx = r.n ? r.lat_us[r.n - 1] : NAN, mean = r.n ? sum / (double)r.n : NAN;
    int complete = r.lines == total && r.bad == 0 && WIFEXITED(status) && !WEXITSTATUS(status);
    printf("%-40s sent %" PRIu64 " out %zu  p50 %8.0f  p90 %8.0f  p99 %8.0f  p99.9 %8.0f  "
           "max %8.0f  mean %8.0f us  (rate %.0f/s, behind %.1f ms)%s\n",
           o.label, total, r.lines, p50, p90, p99, p999, mx, mean, (double)total / send_s,
           behind_ms, complete ? "" : "  INCOMPLETE");
    if (o.result) {
        FILE *f = fopen(o.result, "w");
        double q[] = {p50, p90, p99, p999, mx, mean};
        static const char *const qn[] = {"p50_us", "p90_us", "p99_us", "p999_us", "max_us",
                                         "mean_us"};
        if (f) {
            fprintf(f, "{\"label\":\"%s\",\"rate\":%.0f,\"achieved_rate\":%.0f,\"seconds\":%.1f,"
                       "\"sent\":%" PRIu64 ",\"received\":%zu,\"counted\":%zu,\"complete\":%s,"
                       "\"behind_ms\":%.2f",
                    o.label, o.rate, (double)total / send_s, o.seconds, total, r.lines, r.n,
                    complete ? "true" : "false", behind_ms);
            for (int k = 0; k < 6; k++) /* none counted: null, not NaN */
                fprintf(f, isnan(q[k]) ? ",\"%s\":null" : ",\"%s\":%.1f", qn[k], q[k]);
            fprintf(f, "}\n");
            fclose(f);
        }
    }
    free(r.lat_us);
    return complete ? 0 : 1;
}
