/* A bounded HTTP load generator and scraper for weir's responder
 * (engine/http.c); driven by bench/http.sh, which starts weir.
 *
 *   bench_http load PORT [--path P] [--conns C] [--seconds S] [RESULT.json]
 *       C threads, each: connect, GET P, read to the end, close, again, for S
 *       seconds (at most C requests in flight: bounded). Prints requests/s,
 *       latency p50/p99 and failures; writes them as JSON.
 *   bench_http scrape PORT [--path P] [--every MS]
 *       one GET every MS milliseconds until killed (a Prometheus stand-in);
 *       exits 1 on the first failed scrape.
 *
 * Loopback only (127.0.0.1). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS   256
#define MAX_SAMPLES (1u << 20)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* One request: returns the status code, or -1. */
static int get_once(int port, const char *path, char *buf, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    int status = -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, req, (size_t)n) == n) {
        size_t got = 0;
        ssize_t r;
        while ((r = read(fd, buf + (got < cap ? got : 0), got < cap ? cap - got : cap)) > 0)
            got += (size_t)r;
        if (r == 0 && got >= 12 && memcmp(buf, "HTTP/1.1 ", 9) == 0)
            status = atoi(buf + 9);
    }
    close(fd);
    return status;
}

struct loader {
    pthread_t t;
    int port;
    const char *path;
    uint64_t until;
    uint64_t ok, failed;
    uint32_t *lat_us; /* (MAX_SAMPLES) */
    uint32_t nlat;
};

static void *load_main(void *arg)
{
    struct loader *l = arg;
    char *buf = malloc(1 << 20);
    if (!buf)
        return NULL;
    while (now_ns() < l->until) {
        uint64_t t0 = now_ns();
        int st = get_once(l->port, l->path, buf, 1 << 20);
        uint64_t us = (now_ns() - t0) / 1000;
        if (st == 200) {
            l->ok++;
            if (l->nlat < MAX_SAMPLES)
                l->lat_us[l->nlat++] = (uint32_t)(us > UINT32_MAX ? UINT32_MAX : us);
        } else {
            l->failed++;
        }
    }
    free(buf);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmd_load(int port, const char *path, int conns, double seconds, const char *result)
{
    static struct loader l[MAX_CONNS];
    uint64_t t0 = now_ns(), until = t0 + (uint64_t)(seconds * 1e9);
    for (int i = 0; i < conns; i++) {
        l[i] = (struct loader){.port = port,
                               .path = path,
                               .until = until,
                               .lat_us = malloc(MAX_SAMPLES * sizeof(uint32_t))};
        if (!l[i].lat_us || pthread_create(&l[i].t, NULL, load_main, &l[i]) != 0) {
            fprintf(stderr, "bench_http: cannot start thread %d\n", i);
            return 1;
        }
    }
    uint64_t ok = 0, failed = 0, n = 0;
    for (int i = 0; i < conns; i++) {
        pthread_join(l[i].t, NULL);
        ok += l[i].ok;
        failed += l[i].failed;
        n += l[i].nlat;
    }
    double el = (double)(now_ns() - t0) / 1e9;
    uint32_t *all = malloc((n ? n : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < conns; i++) {
        memcpy(all + k, l[i].lat_us, l[i].nlat * sizeof *all);
        k += l[i].nlat;
        free(l[i].lat_us);
    }
    qsort(all, n, sizeof *all, cmp_u32);
    double p50 = n ? all[n / 2] : 0, p99 = n ? all[(n * 99) / 100] : 0;
    free(all);
    printf("| path | conns | seconds | requests/s | failed | p50 us | p99 us |\n"
           "|---|---|---|---|---|---|---|\n"
           "| %s | %d | %.1f | %.0f | %llu | %.0f | %.0f |\n",
           path, conns, el, (double)ok / el, (unsigned long long)failed, p50, p99);
    if (result) {
        FILE *f = fopen(result, "w");
        if (f) {
            const char *commit = getenv("WEIR_BENCH_COMMIT");
            fprintf(f,
                    "{\"bench\":\"http_load\",\"commit\":\"%s\",\"path\":\"%s\",\"conns\":%d,"
                    "\"seconds\":%.2f,\"requests_per_s\":%.0f,\"ok\":%llu,\"failed\":%llu,"
                    "\"p50_us\":%.0f,\"p99_us\":%.0f}\n",
                    commit ? commit : "unknown", path, conns, el, (double)ok / el,
                    (unsigned long long)ok, (unsigned long long)failed, p50, p99);
            fclose(f);
        }
    }
    return failed > ok / 100 ? 1 : 0; /* over 1% failures: the run is not a measurement */
}

static int cmd_scrape(int port, const char *path, int every_ms)
{
    char *buf = malloc(1 << 20);
    if (!buf)
        return 1;
    for (;;) {
        int st = get_once(port, path, buf, 1 << 20);
        if (st != 200) {
            fprintf(stderr, "bench_http: scrape %s: status %d\n", path, st);
            free(buf);
            return 1;
        }
        struct timespec d = {every_ms / 1000, (long)(every_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: bench_http load PORT [--path P] [--conns C] [--seconds S] [RESULT.json]\n"
                "       bench_http scrape PORT [--path P] [--every MS]\n");
        return 2;
    }
    int port = atoi(argv[2]), conns = 4, every = 1000;
    double seconds = 5;
    const char *path = "/metrics", *result = NULL;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc)
            conns = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--every") == 0 && i + 1 < argc)
            every = atoi(argv[++i]);
        else
            result = argv[i];
    }
    if (conns < 1 || conns > MAX_CONNS || port <= 0 || port > 65535 || every < 1) {
        fprintf(stderr, "bench_http: bad arguments\n");
        return 2;
    }
    if (strcmp(argv[1], "load") == 0)
        return cmd_load(port, path, conns, seconds, result);
    if (strcmp(argv[1], "scrape") == 0)
        return cmd_scrape(port, path, every);
    fprintf(stderr, "bench_http: unknown command %s\n", argv[1]);
    return 2;
}
