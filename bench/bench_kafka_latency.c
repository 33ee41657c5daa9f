/* bench_kafka_latency: end-to-end latency through a Kafka -> X -> Kafka hop.
 *
 *   bench_kafka_latency produce --brokers B --topic IN --rate R --duration D
 *                               [--seed S] [--set PROP=VALUE]... [--result FILE]
 *
 *     Produces R records/s for D seconds (R*D records), paced against
 *     CLOCK_MONOTONIC in steps of at most 1 ms. Every record is a JSON object
 *     of about 150 bytes whose first field is "t_ns": CLOCK_REALTIME in ns
 *     read just before rd_kafka_producev (minus how late it is, when more
 *     than 1 ms behind schedule: the record's due time), then seq, host, dc, service, metric
 *     and value (a random walk), keyed by host. Producer: linger.ms=5,
 *     socket.nagle.disable=true, enable.idempotence=true (like weir replay).
 *     Prints (and writes) the rate it achieved and how far behind schedule it
 *     fell, then waits for every delivery report.
 *
 *   bench_kafka_latency consume --brokers B --topic OUT --count N
 *                               [--idle S] [--timeout S] [--ready FILE]
 *                               [--label TEXT] [--result FILE]
 *
 *     Assigns every partition of OUT at its current high watermark (no
 *     consumer group, so nothing waits for a rebalance), touches FILE when it
 *     is assigned, and reads until N records with "t_ns" arrived, or nothing
 *     came for S seconds (--idle, default 5), or --timeout passed. For each
 *     record: latency = CLOCK_REALTIME at the moment the consumer got the
 *     message back from librdkafka - t_ns. Prints p50, p90, p99, p99.9, max
 *     and mean in ms, the number missing and duplicated (by seq), and a time
 *     line: how many 100 ms windows of produce time had a record slower than
 *     10 ms and 100 ms, and the five worst windows (seconds from the first
 *     record, and their slowest record), and writes them as JSON.
 *
 * Both ends run on this machine, so one clock serves for both. What is
 * measured is produce call -> output record consumed: it includes the
 * producer's linger and the input write, the system under test's consume,
 * work and produce (its linger and the broker's acks=all write), and the
 * measuring consumer's fetch. The output is readable by a consumer only once
 * the broker advanced the partition's high watermark, which is also when it
 * sends the producer its ack, so this upper-bounds produce -> output-ack. */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SETS 32

struct opts {
    const char *brokers, *topic, *result, *ready, *label;
    double rate, duration, idle_s, timeout_s;
    uint64_t count, seed;
    const char *sets[MAX_SETS];
    int nsets;
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_kafka_latency: %s: %s\n", what, why);
    exit(1);
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char msg[512];
    if (rd_kafka_conf_set(c, k, v, msg, sizeof msg) != RD_KAFKA_CONF_OK)
        die(k, msg);
}

static rd_kafka_conf_t *conf_new(const struct opts *o)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    set(c, "bootstrap.servers", o->brokers);
    set(c, "socket.nagle.disable", "true");
    return c;
}

static void apply_sets(rd_kafka_conf_t *c, const struct opts *o)
{
    for (int i = 0; i < o->nsets; i++) {
        char k[256];
        const char *eq = strchr(o->sets[i], '=');
        if (!eq || (size_t)(eq - o->sets[i]) >= sizeof k)
            die("--set", "expects PROP=VALUE");
        memcpy(k, o->sets[i], (size_t)(eq - o->sets[i]));
        k[eq - o->sets[i]] = '\0';
        set(c, k, eq + 1);
    }
}

static void write_result(const struct opts *o, const char *json)
{
    printf("%s\n", json);
    if (!o->result)
        return;
    FILE *f = fopen(o->result, "w");
    if (!f)
        die(o->result, "cannot write");
    fprintf(f, "%s\n", json);
    fclose(f);
}

/* ---- produce ------------------------------------------------------------------- */

static uint64_t acked, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    if (m->err) {
        if (failed++ == 0)
            fprintf(stderr, "bench_kafka_latency: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        acked++;
    }
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmd_produce(const struct opts *o)
{
    static const char *const dcs[] = {"eu-west-1", "us-east-1", "ap-south-1"};
    static const char *const services[] = {"checkout-api", "search-api", "payments-api",
                                           "catalog-api", "auth-api", "recommendations-api"};
    if (!o->topic || o->rate <= 0 || o->duration <= 0)
        die("produce", "needs --topic, --rate and --duration");
    rd_kafka_conf_t *c = conf_new(o);
    set(c, "linger.ms", "5");
    set(c, "enable.idempotence", "true");
    set(c, "queue.buffering.max.messages", "1000000");
    apply_sets(c, o);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    char msg[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, msg, sizeof msg);
    if (!rk)
        die("rd_kafka_new", msg);

    uint64_t total = (uint64_t)llround(o->rate * o->duration), sent = 0, late = 0, s = o->seed;
    double walk = 40.0, max_behind_ms = 0;
    char line[512];
    uint64_t t0 = mono_ns();
    while (sent < total) {
        uint64_t now = mono_ns();
        uint64_t due = (uint64_t)((double)(now - t0) * o->rate / 1e9) + 1;
        if (due > total)
            due = total;
        if (due > sent + 1) {
            double behind = (double)(due - sent - 1) / o->rate * 1e3;
            if (behind > max_behind_ms)
                max_behind_ms = behind;
            if (behind > 1.0)
                late += due - sent - 1;
        }
        for (; sent < due; sent++) {
            walk += 0.02 * (40.0 - walk) + 2.4 * ((double)(splitmix(&s) >> 11) * 0x1.0p-53 - 0.5);
            unsigned host = (unsigned)(sent % 24);
            char key[16];
            int klen = snprintf(key, sizeof key, "web-%03u", host);
            /* more than 1 ms behind schedule: stamped when it was due, so
             * time the producer held the writer back counts in the latency */
            int64_t t = real_ns();
            uint64_t sched = t0 + (uint64_t)((double)sent * 1e9 / o->rate), mono = mono_ns();
            if (mono > sched + 1000000)
                t -= (int64_t)(mono - sched);
            int len = snprintf(line, sizeof line,
                               "{\"t_ns\":%" PRId64 ",\"seq\":%" PRIu64 ",\"host\":\"%s\",\"dc\":\"%s\","
                               "\"service\":\"%s\",\"metric\":\"cpu_user\",\"value\":%.3f}",
                               t, sent, key, dcs[host % 3], services[host % 6], walk);
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_VALUE(line, (size_t)len), RD_KAFKA_V_KEY(key, (size_t)klen),
                    RD_KAFKA_V_END);
                if (!e)
                    break;
                if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    die("produce", rd_kafka_err2str(e));
                rd_kafka_poll(rk, 1);
            }
        }
        rd_kafka_poll(rk, 0);
        if (sent >= total)
            break;
        /* Sleep until the next record is due, at most 1 ms. */
        uint64_t next = t0 + (uint64_t)((double)sent * 1e9 / o->rate);
        now = mono_ns();
        if (next > now) {
            uint64_t d = next - now < 1000000 ? next - now : 1000000;
            struct timespec ts = {0, (long)d};
            nanosleep(&ts, NULL);
        }
    }
    double secs = (double)(mono_ns() - t0) / 1e9;
    rd_kafka_flush(rk, 60000);
    double flushed = (double)(mono_ns() - t0) / 1e9;
    char json[1024];
    snprintf(json, sizeof json,
             "{\"target_rate\":%.0f,\"duration_s\":%.3f,\"sent\":%" PRIu64 ",\"acked\":%" PRIu64
             ",\"failed\":%" PRIu64 ",\"achieved_rate\":%.0f,\"max_behind_ms\":%.2f,"
             "\"late_records\":%" PRIu64 ",\"all_acked_s\":%.3f}",
             o->rate, secs, sent, acked, failed, secs > 0 ? (double)sent / secs : 0.0,
             max_behind_ms, late, flushed);
    fprintf(stderr, "bench_kafka_latency: produced %" PRIu64 " records in %.3f s (%.0f/s, target "
                    "%.0f/s; at most %.2f ms behind schedule), %" PRIu64 " acknowledged\n",
            sent, secs, secs > 0 ? (double)sent / secs : 0.0, o->rate, max_behind_ms, acked);
    write_result(o, json);
    rd_kafka_destroy(rk);
    return failed || acked < sent ? 1 : 0;
}

/* ---- consume ------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(const int64_t *v, size_t n, double q)
{
    if (!n)
        return -1;
    size_t i = (size_t)ceil(q * (double)n);
    i = i ? i - 1 : 0;
    if (i >= n)
        i = n - 1;
    return (double)v[i] / 1e6;
}

/* The integer after "name": in a JSON text, or -1. */
static int64_t field_int(const char *p, size_t len, const char *pat, size_t plen)
{
    const char *q = memmem(p, len, pat, plen);
    if (!q)
        return -1;
    q += plen;
    const char *end = p + len;
    int64_t v = 0;
    int any = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        v = v * 10 + (*q++ - '0');
        any = 1;
    }
    return any ? v : -1;
}

static int cmd_consume(const struct opts *o)
{
    if (!o->topic || !o->count)
        die("consume", "needs --topic and --count");
    rd_kafka_conf_t *c = conf_new(o);
    set(c, "group.id", "bench-kafka-latency"); /* required by librdkafka; assign() is used */
    set(c, "enable.auto.commit", "false");
    set(c, "enable.partition.eof", "false");
    set(c, "fetch.wait.max.ms", "100");
    apply_sets(c, o);
    char msg[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, msg, sizeof msg);
    if (!rk)
        die("rd_kafka_new", msg);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    if (e || md->topic_cnt != 1 || md->topics[0].err)
        die(o->topic, e ? rd_kafka_err2str(e) : "no such topic");
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(np);
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo, &hi, 10000);
        if (e)
            die(o->topic, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_add(l, o->topic, p)->offset = hi;
    }
    rd_kafka_topic_destroy(rkt);
    if ((e = rd_kafka_assign(rk, l)))
        die("assign", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    /* Let the fetchers start before saying we are ready. */
    rd_kafka_message_t *msgs[1024];
    ssize_t n0 = rd_kafka_consume_batch_queue(q, 300, msgs, 1024);
    for (ssize_t i = 0; i < n0; i++)
        rd_kafka_message_destroy(msgs[i]);
    if (o->ready) {
        FILE *f = fopen(o->ready, "w");
        if (f)
            fclose(f);
    }

    int64_t *lat = malloc(sizeof *lat * o->count);
    int64_t *sent_at = malloc(sizeof *sent_at * o->count); /* t_ns, for the time line */
    uint8_t *seen = calloc(o->count, 1);
    uint64_t n = 0, dups = 0, foreign = 0, out_of_range = 0;
    uint64_t t0 = mono_ns(), last = 0;
    /* One message at a time: rd_kafka_consume_batch_queue with a timeout waits
     * for a full batch, which would add its wait to every latency. */
    while (n < o->count) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        int64_t rt = real_ns();
        uint64_t now = mono_ns();
        if (m) {
            last = now;
            if (!m->err) {
                int64_t t = field_int(m->payload, m->len, "\"t_ns\":", 7);
                int64_t seq = field_int(m->payload, m->len, "\"seq\":", 6);
                if (t < 0 || seq < 0)
                    foreign++;
                else if ((uint64_t)seq >= o->count)
                    out_of_range++;
                else if (seen[seq])
                    dups++;
                else {
                    seen[seq] = 1;
                    sent_at[n] = t;
                    lat[n++] = rt - t;
                }
            }
            rd_kafka_message_destroy(m);
            continue;
        }
        /* Before the first record, wait up to 60 s (the system under test may
         * still be starting); after it, --idle seconds of silence end the run. */
        double idle = (double)(now - (last ? last : t0)) / 1e9;
        if (idle > (last ? o->idle_s : 60.0))
            break;
        if (o->timeout_s > 0 && (double)(now - t0) / 1e9 > o->timeout_s)
            break;
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);

    /* Time line: the records in 100 ms windows of produce time; the worst
     * windows show whether a tail is spread out or one stall. */
    int64_t t_min = INT64_MAX, t_max = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        t_min = sent_at[i] < t_min ? sent_at[i] : t_min;
        t_max = sent_at[i] > t_max ? sent_at[i] : t_max;
    }
    size_t nwin = n ? (size_t)((t_max - t_min) / 100000000) + 1 : 0;
    int64_t *wmax = calloc(nwin ? nwin : 1, sizeof *wmax);
    for (uint64_t i = 0; i < n; i++) {
        size_t w = (size_t)((sent_at[i] - t_min) / 100000000);
        wmax[w] = lat[i] > wmax[w] ? lat[i] : wmax[w];
    }
    size_t over10 = 0, over100 = 0;
    for (size_t w = 0; w < nwin; w++) {
        over10 += wmax[w] > 10000000;
        over100 += wmax[w] > 100000000;
    }
    char worst[400] = "";
    size_t wl = 0;
    for (int k = 0; k < 5 && nwin; k++) {
        size_t best = 0;
        for (size_t w = 1; w < nwin; w++)
            best = wmax[w] > wmax[best] ? w : best;
        if (wmax[best] <= 0)
            break;
        wl += (size_t)snprintf(worst + wl, sizeof worst - wl, "%s{\"at_s\":%.1f,\"max_ms\":%.1f}",
                               k ? "," : "", (double)best / 10, (double)wmax[best] / 1e6);
        wmax[best] = -1;
    }
    free(wmax);
    free(sent_at);

    double mean = 0;
    for (uint64_t i = 0; i < n; i++)
        mean += (double)lat[i];
    mean = n ? mean / (double)n / 1e6 : -1;
    qsort(lat, n, sizeof *lat, cmp_i64);
    char json[2048];
    snprintf(json, sizeof json,
             "{\"label\":\"%s\",\"expected\":%" PRIu64 ",\"received\":%" PRIu64
             ",\"missing\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"other\":%" PRIu64
             ",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,"
             "\"max_ms\":%.3f,\"min_ms\":%.3f,\"mean_ms\":%.3f,\"windows_100ms\":%zu,"
             "\"windows_max_over_10ms\":%zu,\"windows_max_over_100ms\":%zu,\"worst_windows\":[%s]}",
             o->label ? o->label : "", o->count, n, o->count - n, dups, foreign + out_of_range,
             pct_ms(lat, n, 0.50), pct_ms(lat, n, 0.90), pct_ms(lat, n, 0.99),
             pct_ms(lat, n, 0.999), n ? (double)lat[n - 1] / 1e6 : -1.0,
             n ? (double)lat[0] / 1e6 : -1.0, mean, nwin, over10, over100, worst);
    fprintf(stderr, "bench_kafka_latency: %s%s%" PRIu64 " of %" PRIu64 " records: p50 %.2f ms, "
                    "p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%" PRIu64 " duplicates)\n",
            o->label ? o->label : "", o->label ? ": " : "", n, o->count, pct_ms(lat, n, 0.50),
            pct_ms(lat, n, 0.99), pct_ms(lat, n, 0.999), n ? (double)lat[n - 1] / 1e6 : -1.0,
            dups);
    write_result(o, json);
    free(lat);
    free(seen);
    return n == o->count ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct opts o = {.brokers = "127.0.0.1:9092", .idle_s = 5, .timeout_s = 0, .seed = 42};
    if (argc < 2) {
    usage:
        fprintf(stderr, "usage: bench_kafka_latency produce|consume [options] (see the source's "
                        "first comment)\n");
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
        if (ARG("--brokers")) o.brokers = v;
        else if (ARG("--topic")) o.topic = v;
        else if (ARG("--result")) o.result = v;
        else if (ARG("--ready")) o.ready = v;
        else if (ARG("--label")) o.label = v;
        else if (ARG("--rate")) o.rate = atof(v);
        else if (ARG("--duration")) o.duration = atof(v);
        else if (ARG("--idle")) o.idle_s = atof(v);
        else if (ARG("--timeout")) o.timeout_s = atof(v);
        else if (ARG("--count")) o.count = strtoull(v, NULL, 10);
        else if (ARG("--seed")) o.seed = strtoull(v, NULL, 10);
        else if (ARG("--set") && o.nsets < MAX_SETS) o.sets[o.nsets++] = v;
        else {
            fprintf(stderr, "bench_kafka_latency: unexpected argument \"%s\"\n", a);
            goto usage;
        }
#undef ARG
    }
    if (strcmp(cmd, "produce") == 0)
        return cmd_produce(&o);
    if (strcmp(cmd, "consume") == 0)
        return cmd_consume(&o);
    goto usage;
}
