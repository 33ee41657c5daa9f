/* bench_kafka_plain: the baseline for the Kafka throughput benchmark, and
 * two small helpers the benchmark script needs.
 *
 *   bench_kafka_plain loop --brokers B --in TOPIC --out TOPIC --group G --count N
 *                          [--threads T] [--batch M] [--append TEXT] [--no-append]
 *                          [--header NAME=VALUE]
 *                          [--set PROP=VALUE]... [--result FILE]
 *
 *     A plain librdkafka consume -> produce loop doing the same at-least-once
 *     work as weir: each thread is a member of consumer group G and owns one
 *     consumer and one producer; it reads batches with
 *     rd_kafka_consume_batch_queue, produces every payload to the output
 *     topic (with the same key, and with TEXT appended inside the JSON object
 *     so that the output is as long as weir's, default
 *     ,"value_z":-0.24476281,"anomaly_score":0.19335991,"alert":false;
 *     --header adds one message
 *     header, as weir's sink adds "weir-pipeline"), serves delivery reports
 *     and, per input partition, stores the offset of the longest acknowledged
 *     prefix (enable.auto.offset.store=false; the auto-commit thread commits
 *     what is stored). It exits once N outputs are acknowledged, after a
 *     final synchronous commit, and prints elapsed time and records/s from the
 *     first message consumed to the N-th delivery report. With --count 0 it
 *     runs until SIGTERM or SIGINT, then flushes, commits and exits, like weir.
 *
 *   bench_kafka_plain offsets --brokers B --topic TOPIC
 *     Prints the sum of the topic's high watermarks (messages ever written).
 *
 *   bench_kafka_plain watch --brokers B --topic TOPIC --count N [--base S]
 *                           [--pid P] [--timeout SEC] [--interval-ms MS] [--trace FILE]
 *     Polls the topic's high watermarks until their sum reaches S + N (S: the
 *     sum when it starts, unless given) and prints one JSON object: seconds
 *     from its start to the first new message and to the N-th, the rate in
 *     between, and (with --pid) the CPU seconds process P used in between
 *     (from /proc/P/stat) and the process's peak RSS. The benchmark measures
 *     the plain loop and weir with it, the same way, from outside.
 *
 * librdkafka settings shared with weir's Kafka connectors (see docs/benchmarks.md):
 * consumer enable.auto.offset.store=false, enable.auto.commit=true,
 * auto.offset.reset=earliest, socket.nagle.disable=true; producer
 * linger.ms=5, socket.nagle.disable=true, enable.idempotence=true, acks=all.
 * --set PROP=VALUE (prefix "c:" or "p:" for the consumer or producer only)
 * changes any of them. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_SETS 64
#define MAX_PARTS 1024
#define RING_BITS 18 /* in-flight messages per input partition: 262,144 */

struct opts {
    const char *brokers, *in, *out, *group, *topic, *result, *trace;
    const char *append;
    const char *header; /* NAME=VALUE added to every output, or NULL */
    uint64_t count, base;
    int have_base;
    int threads, batch, interval_ms;
    long pid;
    double timeout_s;
    const char *sets[MAX_SETS];
    int nsets;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "bench_kafka_plain: ");
    fprintf(stderr, fmt, a, b);
    fputc('\n', stderr);
    exit(1);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char msg[512];
    if (rd_kafka_conf_set(c, k, v, msg, sizeof msg) != RD_KAFKA_CONF_OK)
        die("%s: %s", k, msg);
}

/* --set overrides: "c:PROP=V" consumer only, "p:PROP=V" producer only, else both. */
static void apply_sets(rd_kafka_conf_t *c, const struct opts *o, char which)
{
    for (int i = 0; i < o->nsets; i++) {
        const char *s = o->sets[i];
        if ((s[0] == 'c' || s[0] == 'p') && s[1] == ':') {
            if (s[0] != which)
                continue;
            s += 2;
        }
        char k[256];
        const char *eq = strchr(s, '=');
        if (!eq || (size_t)(eq - s) >= sizeof k)
            die("--set expects PROP=VALUE, got \"%s\"%s", s, "");
        memcpy(k, s, (size_t)(eq - s));
        k[eq - s] = '\0';
        set(c, k, eq + 1);
    }
}

/* ---- the loop ----------------------------------------------------------------- */

/* Input offsets of one partition in consumption order, with their delivery
 * state; head..tail are in flight. */
struct ring {
    int64_t *off;
    uint8_t *done;
    uint64_t head, tail;
    int dirty;
};

struct shared {
    const struct opts *o;
    atomic_uint_fast64_t acked, consumed, failed;
    atomic_uint_fast64_t t_first; /* first message consumed, ns */
    atomic_uint_fast64_t t_last;  /* N-th acknowledgement, ns */
    atomic_int stop;
};

struct thr {
    struct shared *sh;
    int id;
    rd_kafka_t *cons, *prod;
    rd_kafka_topic_t *rkt;
    struct ring *rings[MAX_PARTS];
    char *buf;
    size_t cap;
    uint64_t local_acked;
    int err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct thr *t = opaque;
    uintptr_t v = (uintptr_t)m->_private;
    int32_t part = (int32_t)(v >> RING_BITS);
    uint64_t slot = v & ((1u << RING_BITS) - 1);
    if (m->err) {
        if (atomic_fetch_add(&t->sh->failed, 1) == 0)
            fprintf(stderr, "bench_kafka_plain: delivery failed: %s\n", rd_kafka_err2str(m->err));
        return; /* never stored: at-least-once */
    }
    struct ring *r = t->rings[part];
    r->done[slot] = 1;
    r->dirty = 1;
    t->local_acked++;
    uint64_t n = atomic_fetch_add(&t->sh->acked, 1) + 1;
    if (n == t->sh->o->count)
        atomic_store(&t->sh->t_last, now_ns());
}

/* Stores, per dirty partition, the offset after the acknowledged prefix. */
static void store_offsets(struct thr *t)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    for (int p = 0; p < MAX_PARTS; p++) {
        struct ring *r = t->rings[p];
        if (!r || !r->dirty)
            continue;
        r->dirty = 0;
        const uint64_t mask = (1u << RING_BITS) - 1;
        int64_t last = -1;
        while (r->head < r->tail && r->done[r->head & mask]) {
            last = r->off[r->head & mask];
            r->head++;
        }
        if (last < 0)
            continue;
        if (!l)
            l = rd_kafka_topic_partition_list_new(8);
        rd_kafka_topic_partition_list_add(l, t->sh->o->in, p)->offset = last + 1;
    }
    if (l) {
        rd_kafka_offsets_store(t->cons, l); /* a revoked partition fails: fine */
        rd_kafka_topic_partition_list_destroy(l);
    }
}

static int produce(struct thr *t, const rd_kafka_message_t *m)
{
    const struct opts *o = t->sh->o;
    if (m->partition < 0 || m->partition >= MAX_PARTS)
        return -1;
    struct ring *r = t->rings[m->partition];
    if (!r) {
        r = t->rings[m->partition] = calloc(1, sizeof *r);
        r->off = malloc(sizeof *r->off << RING_BITS);
        r->done = malloc((size_t)1 << RING_BITS);
        if (!r->off || !r->done)
            return -1;
    }
    const uint64_t mask = (1u << RING_BITS) - 1;
    while (r->tail - r->head > mask) { /* ring full: wait for acknowledgements */
        rd_kafka_poll(t->prod, 10);
        store_offsets(t);
    }
    uint64_t slot = r->tail & mask;
    r->off[slot] = m->offset;
    r->done[slot] = 0;
    r->tail++;

    const char *v = m->payload;
    size_t len = m->len;
    size_t alen = o->append ? strlen(o->append) : 0;
    if (alen && len > 1 && v[len - 1] == '}') {
        if (len + alen > t->cap) {
            t->cap = (len + alen) * 2;
            t->buf = realloc(t->buf, t->cap);
        }
        memcpy(t->buf, v, len - 1);
        memcpy(t->buf + len - 1, o->append, alen);
        t->buf[len - 1 + alen] = '}';
        v = t->buf;
        len = len + alen;
    }
    void *opaque = (void *)(uintptr_t)(((uint64_t)m->partition << RING_BITS) | slot);
    rd_kafka_headers_t *h = NULL;
    if (o->header) {
        const char *eq = strchr(o->header, '=');
        h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, o->header, eq ? eq - o->header : -1, eq ? eq + 1 : "", -1);
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->prod, RD_KAFKA_V_RKT(t->rkt), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE((void *)v, len),
            RD_KAFKA_V_KEY(m->key, m->key_len), RD_KAFKA_V_OPAQUE(opaque),
            RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0; /* the headers belong to the message now */
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (h)
                rd_kafka_headers_destroy(h);
            fprintf(stderr, "bench_kafka_plain: produce: %s\n", rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(t->prod, 5);
        store_offsets(t);
    }
}

static rd_kafka_t *client(const struct opts *o, rd_kafka_type_t type, void *opaque)
{
    char msg[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "bootstrap.servers", o->brokers);
    set(c, "socket.nagle.disable", "true");
    if (type == RD_KAFKA_CONSUMER) {
        set(c, "group.id", o->group);
        set(c, "enable.auto.offset.store", "false");
        set(c, "enable.auto.commit", "true");
        set(c, "auto.offset.reset", "earliest");
        set(c, "enable.partition.eof", "false");
        apply_sets(c, o, 'c');
    } else {
        set(c, "linger.ms", "5");
        set(c, "enable.idempotence", "true");
        set(c, "acks", "all");
        rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
        rd_kafka_conf_set_opaque(c, opaque);
        apply_sets(c, o, 'p');
    }
    rd_kafka_t *rk = rd_kafka_new(type, c, msg, sizeof msg);
    if (!rk)
        die("rd_kafka_new: %s%s", msg, "");
    return rk;
}

static void *loop_thread(void *arg)
{
    struct thr *t = arg;
    struct shared *sh = t->sh;
    const struct opts *o = sh->o;
    t->prod = client(o, RD_KAFKA_PRODUCER, t);
    t->rkt = rd_kafka_topic_new(t->prod, o->out, NULL);
    t->cons = client(o, RD_KAFKA_CONSUMER, NULL);
    rd_kafka_poll_set_consumer(t->cons);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, o->in, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(t->cons, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e)
        die("subscribe %s: %s", o->in, rd_kafka_err2str(e));
    /* Both queues wake this thread through an eventfd, as in weir's loop:
     * drain without blocking (a blocking rd_kafka_consume_batch_queue waits for
     * a full batch or the timeout), then sleep in poll() until either queue
     * becomes non-empty. */
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(t->cons);
    rd_kafka_queue_t *pq = rd_kafka_queue_get_main(t->prod);
    struct pollfd pfd[2] = {{.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .events = POLLIN},
                            {.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), .events = POLLIN}};
    if (pfd[0].fd < 0 || pfd[1].fd < 0)
        die("eventfd: %s%s", strerror(errno), "");
    static const uint64_t one = 1;
    rd_kafka_queue_io_event_enable(q, pfd[0].fd, &one, sizeof one);
    rd_kafka_queue_io_event_enable(pq, pfd[1].fd, &one, sizeof one);
    rd_kafka_message_t **msgs = calloc((size_t)o->batch, sizeof *msgs);

    while (!atomic_load(&sh->stop)) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 0, msgs, (size_t)o->batch);
        if (n < 0)
            die("consume: %s%s", rd_kafka_err2str(rd_kafka_last_error()), "");
        if (n > 0 && !atomic_load(&sh->t_first)) {
            uint_fast64_t zero = 0;
            atomic_compare_exchange_strong(&sh->t_first, &zero, now_ns());
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    fprintf(stderr, "bench_kafka_plain: consumer: %s\n", rd_kafka_message_errstr(m));
            } else if (produce(t, m) < 0) {
                t->err = 1;
                atomic_store(&sh->stop, 1);
            } else {
                atomic_fetch_add(&sh->consumed, 1);
            }
            rd_kafka_message_destroy(m);
        }
        int served = rd_kafka_poll(t->prod, 0); /* delivery reports */
        store_offsets(t);
        if (o->count && atomic_load(&sh->acked) >= o->count)
            atomic_store(&sh->stop, 1);
        if (n == 0 && served == 0) {
            uint64_t v;
            if (poll(pfd, 2, 100) > 0) {
                for (int i = 0; i < 2; i++)
                    if (pfd[i].revents && read(pfd[i].fd, &v, sizeof v) < 0) {
                        /* already reset */
                    }
            }
        }
    }
    rd_kafka_queue_io_event_enable(q, -1, NULL, 0);
    rd_kafka_queue_io_event_enable(pq, -1, NULL, 0);
    close(pfd[0].fd);
    close(pfd[1].fd);
    rd_kafka_queue_destroy(pq);
    rd_kafka_flush(t->prod, 30000);
    store_offsets(t);
    rd_kafka_queue_destroy(q);
    e = rd_kafka_commit(t->cons, NULL, 0);
    if (e && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        fprintf(stderr, "bench_kafka_plain: commit: %s\n", rd_kafka_err2str(e));
    rd_kafka_consumer_close(t->cons);
    rd_kafka_destroy(t->cons);
    rd_kafka_topic_destroy(t->rkt);
    rd_kafka_destroy(t->prod);
    for (int p = 0; p < MAX_PARTS; p++) {
        if (t->rings[p]) {
            free(t->rings[p]->off);
            free(t->rings[p]->done);
            free(t->rings[p]);
        }
    }
    free(msgs);
    free(t->buf);
    return NULL;
}

static volatile sig_atomic_t signalled;

static void on_signal(int sig)
{
    signalled = sig;
}

static double cpu_self_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int cmd_loop(const struct opts *o)
{
    if (!o->in || !o->out || !o->group)
        die("loop needs --in, --out and --group%s%s", "", "");
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct shared sh = {.o = o};
    struct thr *t = calloc((size_t)o->threads, sizeof *t);
    pthread_t *tid = calloc((size_t)o->threads, sizeof *tid);
    uint64_t t0 = now_ns();
    double cpu0 = cpu_self_s();
    for (int i = 0; i < o->threads; i++) {
        t[i].sh = &sh;
        t[i].id = i;
        pthread_create(&tid[i], NULL, loop_thread, &t[i]);
    }
    /* Abort after --timeout: the topic has fewer than N messages. */
    while (!atomic_load(&sh.stop)) {
        usleep(20000);
        if (signalled)
            atomic_store(&sh.stop, 1);
        if (o->timeout_s > 0 && (double)(now_ns() - t0) / 1e9 > o->timeout_s) {
            fprintf(stderr, "bench_kafka_plain: timeout after %.0f s: %" PRIuFAST64
                            " of %" PRIu64 " acknowledged\n", o->timeout_s,
                    atomic_load(&sh.acked), o->count);
            atomic_store(&sh.stop, 1);
        }
    }
    int err = 0;
    for (int i = 0; i < o->threads; i++) {
        pthread_join(tid[i], NULL);
        err |= t[i].err;
    }
    uint64_t tf = atomic_load(&sh.t_first), tl = atomic_load(&sh.t_last);
    uint64_t acked = atomic_load(&sh.acked);
    double cpu = cpu_self_s() - cpu0;
    double secs = tl > tf ? (double)(tl - tf) / 1e9 : 0;
    double wall = (double)(now_ns() - t0) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char json[1024];
    snprintf(json, sizeof json,
             "{\"records\":%" PRIu64 ",\"consumed\":%" PRIuFAST64 ",\"acked\":%" PRIu64
             ",\"failed\":%" PRIuFAST64 ",\"threads\":%d,\"seconds\":%.4f,\"records_per_s\":%.0f,"
             "\"startup_s\":%.3f,\"wall_s\":%.3f,\"cpu_s\":%.3f,\"max_rss_kb\":%ld}",
             o->count, atomic_load(&sh.consumed), acked, atomic_load(&sh.failed), o->threads,
             secs, secs > 0 ? (double)o->count / secs : 0.0,
             tf ? (double)(tf - t0) / 1e9 : -1.0, wall, cpu, ru.ru_maxrss);
    fprintf(stderr, "bench_kafka_plain: %" PRIu64 " records consumed, produced and acknowledged "
                    "in %.3f s: %.0f records/s (%d thread%s; first message after %.3f s; "
                    "%.2f CPU s)\n", acked, secs, secs > 0 ? (double)o->count / secs : 0.0,
            o->threads, o->threads == 1 ? "" : "s", tf ? (double)(tf - t0) / 1e9 : -1.0, cpu);
    printf("%s\n", json);
    if (o->result) {
        FILE *f = fopen(o->result, "w");
        if (f) {
            fprintf(f, "%s\n", json);
            fclose(f);
        }
    }
    free(t);
    free(tid);
    return err || acked < o->count ? 1 : 0; /* --count 0: until SIGTERM */
}

/* ---- offsets and watch -------------------------------------------------------- */

/* Sum of the high watermarks of every partition of topic, or -1. */
static int64_t watermarks(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *topic, int *nparts)
{
    const struct rd_kafka_metadata *md;
    if (*nparts <= 0) {
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        if (e)
            die("metadata for %s: %s", topic, rd_kafka_err2str(e));
        if (md->topic_cnt != 1 || md->topics[0].err)
            die("topic %s: %s", topic,
                md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not found");
        *nparts = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    int64_t sum = 0;
    for (int p = 0; p < *nparts; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 5000);
        if (e)
            return -1;
        sum += hi;
    }
    return sum;
}

static rd_kafka_t *admin_client(const struct opts *o)
{
    char msg[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "bootstrap.servers", o->brokers);
    set(c, "socket.nagle.disable", "true");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, msg, sizeof msg);
    if (!rk)
        die("rd_kafka_new: %s%s", msg, "");
    return rk;
}

static int cmd_offsets(const struct opts *o)
{
    if (!o->topic)
        die("offsets needs --topic%s%s", "", "");
    rd_kafka_t *rk = admin_client(o);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    int np = 0;
    int64_t s = watermarks(rk, rkt, o->topic, &np);
    if (s < 0)
        die("cannot read the watermarks of %s%s", o->topic, "");
    printf("%" PRId64 "\n", s);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return 0;
}

/* utime + stime of process pid in seconds, and its peak RSS in kB, or -1. */
static double proc_cpu_s(long pid, long *hwm_kb)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    if (hwm_kb) {
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
        f = fopen(path, "r");
        if (f) {
            char line[256];
            while (fgets(line, sizeof line, f))
                if (sscanf(line, "VmHWM: %ld", hwm_kb) == 1)
                    break;
            fclose(f);
        }
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int cmd_watch(const struct opts *o)
{
    if (!o->topic || !o->count)
        die("watch needs --topic and --count%s%s", "", "");
    rd_kafka_t *rk = admin_client(o);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    int np = 0;
    uint64_t t0 = now_ns();
    int64_t base = o->have_base ? (int64_t)o->base : watermarks(rk, rkt, o->topic, &np);
    if (base < 0)
        die("cannot read the watermarks of %s%s", o->topic, "");
    int64_t target = base + (int64_t)o->count, first_hw = -1, last = base;
    FILE *tf = o->trace ? fopen(o->trace, "w") : NULL;
    uint64_t t_first = 0, t_done = 0;
    double cpu_first = -1, cpu_done = -1;
    long hwm = -1;
    for (;;) {
        int64_t s = watermarks(rk, rkt, o->topic, &np);
        uint64_t t = now_ns();
        if (s > base && !t_first) {
            t_first = t;
            first_hw = s;
            if (o->pid)
                cpu_first = proc_cpu_s(o->pid, NULL);
        }
        if (s >= 0)
            last = s;
        if (tf)
            fprintf(tf, "%.3f %" PRId64 " %.2f\n", (double)(t - t0) / 1e9, last - base,
                    o->pid ? proc_cpu_s(o->pid, NULL) : 0.0);
        if (s >= target) {
            t_done = t;
            if (o->pid)
                cpu_done = proc_cpu_s(o->pid, &hwm);
            break;
        }
        if (o->pid && kill((pid_t)o->pid, 0) != 0) {
            fprintf(stderr, "bench_kafka_plain: watch: process %ld exited\n", o->pid);
            break;
        }
        if (o->timeout_s > 0 && (double)(t - t0) / 1e9 > o->timeout_s) {
            fprintf(stderr, "bench_kafka_plain: watch: timeout after %.0f s\n", o->timeout_s);
            break;
        }
        usleep((useconds_t)o->interval_ms * 1000);
    }
    double span = t_done && t_first ? (double)(t_done - t_first) / 1e9 : 0;
    double rate = span > 0 ? (double)(last - first_hw) / span : 0;
    printf("{\"records\":%" PRIu64 ",\"written\":%" PRId64 ",\"first_output_s\":%.3f,"
           "\"done_s\":%.3f,\"steady_s\":%.3f,\"records_per_s\":%.0f,\"cpu_s\":%.3f,"
           "\"max_rss_kb\":%ld,\"complete\":%s}\n",
           o->count, last - base, t_first ? (double)(t_first - t0) / 1e9 : -1.0,
           t_done ? (double)(t_done - t0) / 1e9 : -1.0, span, rate,
           cpu_done >= 0 && cpu_first >= 0 ? cpu_done - cpu_first : -1.0, hwm,
           t_done ? "true" : "false");
    if (tf)
        fclose(tf);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return t_done ? 0 : 1;
}

/* ---- main ---------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    struct opts o = {.brokers = "127.0.0.1:9092", .threads = 1, .batch = 1024,
                     .interval_ms = 10, .timeout_s = 600,
                     .append = ",\"value_z\":-0.24476281,\"anomaly_score\":0.19335991,\"alert\":false"};
    if (argc < 2) {
    usage:
        fprintf(stderr, "usage: bench_kafka_plain loop|offsets|watch [options] (see the source's "
                        "first comment)\n");
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
        if (ARG("--brokers")) o.brokers = v;
        else if (ARG("--in")) o.in = v;
        else if (ARG("--out")) o.out = v;
        else if (ARG("--group")) o.group = v;
        else if (ARG("--topic")) o.topic = v;
        else if (ARG("--result")) o.result = v;
        else if (ARG("--trace")) o.trace = v;
        else if (ARG("--append")) o.append = v;
        else if (strcmp(a, "--no-append") == 0) o.append = NULL;
        else if (ARG("--header")) o.header = v;
        else if (ARG("--count")) o.count = strtoull(v, NULL, 10);
        else if (ARG("--base")) o.base = strtoull(v, NULL, 10), o.have_base = 1;
        else if (ARG("--threads")) o.threads = atoi(v);
        else if (ARG("--batch")) o.batch = atoi(v);
        else if (ARG("--interval-ms")) o.interval_ms = atoi(v);
        else if (ARG("--pid")) o.pid = atol(v);
        else if (ARG("--timeout")) o.timeout_s = atof(v);
        else if (ARG("--set") && o.nsets < MAX_SETS) o.sets[o.nsets++] = v;
        else {
            fprintf(stderr, "bench_kafka_plain: unexpected argument \"%s\"\n", a);
            goto usage;
        }
#undef ARG
    }
    if (o.threads < 1 || o.batch < 1 || o.interval_ms < 1)
        goto usage;
    if (strcmp(cmd, "loop") == 0)
        return cmd_loop(&o);
    if (strcmp(cmd, "offsets") == 0)
        return cmd_offsets(&o);
    if (strcmp(cmd, "watch") == 0)
        return cmd_watch(&o);
    goto usage;
}
