/* What bench_pipeline's two methods share: a run's figures and the clocks,
 * and the reference implementation (bench/pipeline/pipeline_ref.c) that weir
 * is compared with. */
#ifndef WEIR_BENCH_PIPELINE_REF_H
#define WEIR_BENCH_PIPELINE_REF_H

#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_OPS 16

/* What one run of either method produced and how long it took. */
struct run {
    double seconds;
    double cpu; /* user + system seconds of the whole process (io-wq threads too) */
    uint64_t out, dead, alerts;
    uint64_t op_ns[MAX_OPS]; /* weir: per operator */
    uint64_t phase_ns[5];    /* reference, instrumented run only */
    uint64_t keys, key_bytes; /* reference with --keys: its map's keys and bytes */
};

static inline double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How the reference is configured: as the pipeline file says. */
struct ref_conf {
    double above;      /* > 0: fixed threshold */
    uint64_t z_warmup; /* standardize "warmup" */
    uint64_t t_warmup; /* threshold "warmup" */
    int keyed;         /* one state per host */
};

/* Reads input, writes out and dead as weir would (JSON lines, dead letters
 * with their reasons) with jansson, the obvious way; fills r (with the time
 * of each phase when instrument). Returns 0, or -1 with the cause printed. */
int run_reference(const char *input, const char *out_path, const char *dead_path,
                  const struct ref_conf *conf, struct run *r, int instrument);

#endif
