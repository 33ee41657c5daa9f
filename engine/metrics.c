/* Reading the metrics registry (see metrics.h): sums over the workers, the
 * Prometheus text format and the status page's JSON. Runs off the record
 * path (the HTTP thread, the main thread), so clarity beats speed here. */
#include "engine/metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/jscan.h"
#include "engine/jsonw.h"
#include "engine/loop.h"
#include "engine/pipeline.h"

void weir_metrics_part_name(struct weir_metrics *m, uint32_t slot, const char *topic,
                            int32_t partition)
{
    if (slot >= WEIR_METRICS_PARTS)
        return;
    struct weir_part_metrics *p = &m->part[slot];
    /* A slot names one partition for the worker's life: written once, then
     * published by nparts (release) so a reader never sees half a name. */
    if (slot < __atomic_load_n(&m->nparts, __ATOMIC_RELAXED))
        return;
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    p->partition = partition;
    __atomic_store_n(&m->nparts, (uint64_t)slot + 1, __ATOMIC_RELEASE);
}

static uint64_t nparts_of(const struct weir_metrics *m)
{
    uint64_t n = __atomic_load_n(&m->nparts, __ATOMIC_ACQUIRE);
    return n < WEIR_METRICS_PARTS ? n : WEIR_METRICS_PARTS;
}

void weir_metrics_totals(const struct weir_metrics_registry *r, struct weir_metrics_totals *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < r->n; i++) {
        const struct weir_metrics *m = &r->workers[i];
        t->records_in += weir_metric_get(&m->records_in);
        t->records_out += weir_metric_get(&m->records_out);
        t->dead += weir_metric_get(&m->dead);
        t->unwritable += weir_metric_get(&m->unwritable);
        t->dropped += weir_metric_get(&m->dropped);
        t->alerts += weir_metric_get(&m->alerts);
        t->batches += weir_metric_get(&m->batches);
        t->inflight += weir_metric_get(&m->inflight);
        t->delivery_errors += weir_metric_get(&m->delivery_errors);
        t->source_pauses += weir_metric_get(&m->source_pauses);
        t->state_keys += weir_metric_get(&m->state_keys);
        t->state_bytes += weir_metric_get(&m->state_bytes);
        t->workers_up += weir_metric_get(&m->up) != 0;
        t->workers_finished += weir_metric_get(&m->finished) != 0;
        t->parts_assigned += weir_metric_get(&m->parts_assigned);
        t->parts_restoring += weir_metric_get(&m->parts_restoring);
        t->lag += weir_metric_get(&m->lag);
    }
}

int weir_metrics_ready(const struct weir_metrics_registry *r)
{
    struct weir_metrics_totals t;
    weir_metrics_totals(r, &t);
    if (t.workers_up < r->n || t.parts_restoring > 0)
        return 0;
    return t.parts_assigned > 0 || t.workers_finished == r->n;
}

/* ---- text helpers ----------------------------------------------------------- */

__attribute__((format(printf, 2, 3))) static int put(struct weir_buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    return weir_buf_append(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A Prometheus label value: backslash, quote and newline escaped, and valid
 * UTF-8 whatever the name holds (one label that is not fails the whole
 * scrape): a byte that starts no valid sequence becomes U+FFFD, and a value
 * too long stops before a whole character, never inside one. */
static void label_value(char *dst, size_t cap, const char *s)
{
    static const char replacement[] = "\xef\xbf\xbd";
    size_t j = 0, left = s ? strlen(s) : 0;
    while (left) {
        size_t n = weir_utf8_seqlen(s, left);
        int escaped = n == 1 && (*s == '\\' || *s == '"' || *s == '\n');
        size_t out = !n ? 3 : escaped ? 2 : n;
        if (j + out >= cap)
            break;
        if (escaped) {
            dst[j++] = '\\';
            dst[j++] = *s == '\n' ? 'n' : *s;
        } else {
            memcpy(dst + j, n ? s : replacement, out);
            j += out;
        }
        n += !n;
        s += n;
        left -= n;
    }
    dst[j] = 0;
}

static void hist_sum(struct weir_hist *dst, const struct weir_hist *h)
{
    for (int k = 0; k < WEIR_HIST_BUCKETS; k++)
        dst->bucket[k] += weir_metric_get(&h->bucket[k]);
    dst->count += weir_metric_get(&h->count);
    dst->sum += weir_metric_get(&h->sum);
}

/* Upper bound of bucket k in the histogram's unit (integers: [2^(k-1), 2^k)
 * holds values up to 2^k - 1). */
static double bucket_le(int k)
{
    return k == 0 ? 0.0 : (double)((1ull << k) - 1);
}

static int append_str(struct weir_buf *b, const char *s)
{
    return weir_buf_append(b, s, strlen(s));
}

static int append_u64(struct weir_buf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return weir_buf_append(b, tmp + i, sizeof tmp - (size_t)i);
}

/* The "le" labels of the three units histograms use (1, ms -> s, ns -> s),
 * formatted once: a scrape writes hundreds of bucket lines, and %.9g is the
 * slow part of formatting them. */
static const double units[] = {1.0, 1e-3, 1e-9};
static char le_text[3][WEIR_HIST_BUCKETS][24];
static pthread_once_t le_once = PTHREAD_ONCE_INIT;

static void le_init(void)
{
    for (int u = 0; u < 3; u++)
        for (int k = 0; k < WEIR_HIST_BUCKETS; k++)
            snprintf(le_text[u][k], sizeof le_text[u][k], "%.9g", bucket_le(k) * units[u]);
}

/* Emits name_bucket/_sum/_count; values are scaled by unit (one of units[]).
 * labels: "" or `a="b",` (with the trailing comma). */
static int prom_hist(struct weir_buf *b, const char *name, const char *labels,
                     const struct weir_hist *h, double unit)
{
    pthread_once(&le_once, le_init);
    int u = unit == 1.0 ? 0 : unit == 1e-3 ? 1 : 2;
    uint64_t cum = 0;
    int rc = 0;
    /* Every bound, even where the tail is empty: a bound that appears later,
     * or in one process and not another, makes the buckets that
     * histogram_quantile sums over time or processes fall as le rises. */
    for (int k = 0; k < WEIR_HIST_BUCKETS - 1 && rc == 0; k++) {
        cum += h->bucket[k];
        rc = append_str(b, name);
        rc = rc ?: append_str(b, "_bucket{");
        rc = rc ?: append_str(b, labels);
        rc = rc ?: append_str(b, "le=\"");
        rc = rc ?: append_str(b, le_text[u][k]);
        rc = rc ?: append_str(b, "\"} ");
        rc = rc ?: append_u64(b, cum);
        rc = rc ?: append_str(b, "\n");
    }
    /* read apart from the buckets while the worker adds: never below them
     * (a histogram that falls at +Inf breaks histogram_quantile) */
    uint64_t count = h->count;
    count = count > cum ? count : cum;
    if (rc == 0)
        rc = put(b, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, count);
    char l[256] = "";
    if (labels[0]) { /* drop the trailing comma */
        snprintf(l, sizeof l, "{%.*s}", (int)strlen(labels) - 1, labels);
    }
    if (rc == 0)
        rc = put(b, "%s_sum%s %.9g\n%s_count%s %" PRIu64 "\n", name, l, (double)h->sum * unit, name,
                 l, count);
    return rc;
}

/* The value under which a fraction q of the histogram's values lie (the
 * upper bound of the bucket it falls in); 0 when empty. */
static double hist_quantile(const struct weir_hist *h, double q)
{
    if (!h->count)
        return 0.0;
    uint64_t want = (uint64_t)((double)h->count * q), cum = 0;
    for (int k = 0; k < WEIR_HIST_BUCKETS; k++) {
        cum += h->bucket[k];
        if (cum > want)
            return bucket_le(k);
    }
    return bucket_le(WEIR_HIST_BUCKETS - 1);
}

/* ---- Prometheus ------------------------------------------------------------- */

static int prom_counter(struct weir_buf *b, const char *name, const char *type, const char *help,
                        uint64_t v)
{
    int rc = append_str(b, "# HELP ");
    rc = rc ?: append_str(b, name);
    rc = rc ?: append_str(b, " ");
    rc = rc ?: append_str(b, help);
    rc = rc ?: append_str(b, "\n# TYPE ");
    rc = rc ?: append_str(b, name);
    rc = rc ?: append_str(b, " ");
    rc = rc ?: append_str(b, type);
    rc = rc ?: append_str(b, "\n");
    rc = rc ?: append_str(b, name);
    rc = rc ?: append_str(b, " ");
    rc = rc ?: append_u64(b, v);
    return rc ?: append_str(b, "\n");
}

/* name{index="k",operator="type"} v */
static int prom_op_line(struct weir_buf *b, const char *name, size_t k, const char *op, uint64_t v)
{
    int rc = append_str(b, name);
    rc = rc ?: append_str(b, "{index=\"");
    rc = rc ?: append_u64(b, k);
    rc = rc ?: append_str(b, "\",operator=\"");
    rc = rc ?: append_str(b, op);
    rc = rc ?: append_str(b, "\"} ");
    rc = rc ?: append_u64(b, v);
    return rc ?: append_str(b, "\n");
}

/* A reload replaces the pipeline while readers run (names only); the run
 * frees a replaced version under pl_mu, which the readers hold. */
static pthread_mutex_t pl_mu = PTHREAD_MUTEX_INITIALIZER;

void weir_metrics_pipeline_lock(void)
{
    pthread_mutex_lock(&pl_mu);
}

void weir_metrics_pipeline_unlock(void)
{
    pthread_mutex_unlock(&pl_mu);
}

static const struct weir_pipeline *reg_pl(const struct weir_metrics_registry *r)
{
    return __atomic_load_n(&r->pl, __ATOMIC_ACQUIRE);
}

static int prom_reloads(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    return put(b,
               "# HELP weir_reloads_total Pipeline reloads (SIGHUP, file watch) by result: ok "
               "(applied by every worker), failed (invalid file, needs a restart, or a worker "
               "could not rebuild).\n# TYPE weir_reloads_total counter\n"
               "weir_reloads_total{result=\"ok\"} %" PRIu64 "\n"
               "weir_reloads_total{result=\"failed\"} %" PRIu64 "\n",
               weir_metric_get(&r->reloads_ok), weir_metric_get(&r->reloads_failed)) ?:
           put(b,
               "# HELP weir_pipeline_versions Versions of the pipeline file in memory: the first, "
               "the running one, and those that kept operators, sinks or the source still use.\n"
               "# TYPE weir_pipeline_versions gauge\nweir_pipeline_versions %" PRIu64 "\n",
               weir_metric_get(&r->pipeline_versions));
}

static int prom_totals(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    struct weir_metrics_totals t;
    weir_metrics_totals(r, &t);
    char pname[256];
    const struct weir_pipeline *pl = reg_pl(r);
    label_value(pname, sizeof pname, pl && pl->name ? pl->name : "");
    int rc = put(b,
                 "# HELP weir_info The running weir and its pipeline.\n# TYPE weir_info gauge\n"
                 "weir_info{version=\"%s\",pipeline=\"%s\"} 1\n",
                 WEIR_VERSION, pname);
    double up = (double)(weir_now_ns() - r->started_ns) / 1e9;
    rc = rc
             ?: put(b,
                    "# HELP weir_uptime_seconds Seconds since the run began.\n"
                    "# TYPE weir_uptime_seconds gauge\nweir_uptime_seconds %.3f\n",
                    up);
    rc = rc
             ?: prom_counter(b, "weir_ready", "gauge",
                             "1 when every worker is up, partitions are "
                             "assigned and state is restored.",
                             (uint64_t)weir_metrics_ready(r));
    rc = rc
             ?: prom_counter(b, "weir_workers_up", "gauge",
                             "Workers whose sources and sinks are open.", (uint64_t)t.workers_up);
    rc = rc
             ?: prom_counter(b, "weir_records_in_total", "counter", "Records read from the source.",
                             t.records_in);
    rc = rc
             ?: prom_counter(b, "weir_records_out_total", "counter",
                             "Live records the sinks acknowledged.", t.records_out);
    rc = rc
             ?: prom_counter(b, "weir_dead_letters_total", "counter",
                             "Records the dead-letter sink acknowledged.", t.dead);
    rc = rc
             ?: prom_counter(b, "weir_unwritable_total", "counter",
                             "Records not even a dead letter could be written for (logged).",
                             t.unwritable);
    rc = rc
             ?: prom_counter(b, "weir_dropped_total", "counter",
                             "Records filters dropped (done, written nowhere).", t.dropped);
    rc = rc
             ?: prom_counter(b, "weir_alerts_total", "counter", "Records routed with an alert.",
                             t.alerts);
    rc = rc
             ?: prom_counter(b, "weir_batches_total", "counter", "Batches from the source.",
                             t.batches);
    rc = rc
             ?: prom_counter(b, "weir_sink_inflight", "gauge",
                             "Outputs the sinks still wait to have "
                             "acknowledged (producer queues included).",
                             t.inflight);
    rc = rc
             ?: prom_counter(b, "weir_sink_delivery_errors_total", "counter",
                             "Outputs a sink's broker reported as not delivered (each one is "
                             "retried by a restart or sent to the dead letters).",
                             t.delivery_errors);
    rc = rc
             ?: prom_counter(b, "weir_source_pauses_total", "counter",
                             "Times the source paused: a sink over its buffer bound, a busy "
                             "operator, or a reload draining (backpressure).",
                             t.source_pauses);
    rc = rc ?: prom_reloads(r, b);
    rc = rc
             ?: prom_counter(b, "weir_state_keys", "gauge", "Keys in stateful operators' stores.",
                             t.state_keys);
    rc = rc
             ?: prom_counter(b, "weir_state_bytes", "gauge",
                             "Bytes held by stateful operators' stores.", t.state_bytes);
    rc = rc
             ?: prom_counter(b, "weir_consumer_lag", "gauge",
                             "Records behind the high watermark, "
                             "summed over assigned partitions.",
                             t.lag);
    return rc;
}

static int prom_hists(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    struct weir_hist size = {0}, age = {0};
    for (int i = 0; i < r->n; i++) {
        hist_sum(&size, &r->workers[i].batch_size);
        hist_sum(&age, &r->workers[i].event_age_ms);
    }
    int rc = put(b, "# HELP weir_batch_records Records per batch from the source.\n"
                    "# TYPE weir_batch_records histogram\n");
    rc = rc ?: prom_hist(b, "weir_batch_records", "", &size, 1.0);
    rc = rc
             ?: put(b,
                    "# HELP weir_event_age_seconds Wall clock minus event time of live records as "
                    "they reach the sinks (end-to-end latency).\n"
                    "# TYPE weir_event_age_seconds histogram\n");
    rc = rc ?: prom_hist(b, "weir_event_age_seconds", "", &age, 1e-3);
    return rc;
}

static size_t nops_of(const struct weir_metrics_registry *r)
{
    const struct weir_pipeline *pl = reg_pl(r);
    size_t n = pl ? pl->nops : 0;
    return n < WEIR_METRICS_OPS ? n : WEIR_METRICS_OPS;
}

static const char *op_name(const struct weir_metrics_registry *r, size_t k)
{
    const struct weir_pipeline *pl = reg_pl(r);
    return k < pl->nops ? pl->ops[k].type->name : "?"; /* a reload between two reads */
}

static int prom_ops(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } c[] = {
        {"weir_operator_records_in_total", "Records handed to the operator.",
         offsetof(struct weir_op_metrics, in)},
        {"weir_operator_records_out_total", "Live records the operator handed on.",
         offsetof(struct weir_op_metrics, out)},
        {"weir_operator_removed_total", "Records the operator marked dead or dropped.",
         offsetof(struct weir_op_metrics, dead)},
        {"weir_operator_keys_evicted_total",
         "Keys the operator's keyed state evicted to stay within max_keys or max_state_bytes.",
         offsetof(struct weir_op_metrics, evicted)},
    };
    int rc = 0;
    size_t nops = nops_of(r);
    for (size_t j = 0; j < sizeof c / sizeof c[0] && rc == 0; j++) {
        rc = put(b, "# HELP %s %s\n# TYPE %s counter\n", c[j].name, c[j].help, c[j].name);
        for (size_t k = 0; k < nops && rc == 0; k++) {
            uint64_t v = 0;
            for (int i = 0; i < r->n; i++)
                v += weir_metric_get(
                    (const uint64_t *)((const char *)&r->workers[i].op[k] + c[j].off));
            rc = prom_op_line(b, c[j].name, k, op_name(r, k), v);
        }
    }
    rc = rc
             ?: put(b, "# HELP weir_operator_process_seconds Time in the operator's process() per "
                       "batch.\n# TYPE weir_operator_process_seconds histogram\n");
    for (size_t k = 0; k < nops && rc == 0; k++) {
        struct weir_hist h = {0};
        for (int i = 0; i < r->n; i++)
            hist_sum(&h, &r->workers[i].op[k].ns);
        char labels[128];
        snprintf(labels, sizeof labels, "index=\"%zu\",operator=\"%s\",", k, op_name(r, k));
        rc = prom_hist(b, "weir_operator_process_seconds", labels, &h, 1e-9);
    }
    return rc;
}

static int prom_parts(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } g[] = {
        {"weir_partition_lag",
         "High watermark minus the next offset to read (0 when either "
         "is unknown).",
         offsetof(struct weir_part_metrics, lag)},
        {"weir_partition_position", "Next offset to read.",
         offsetof(struct weir_part_metrics, position)},
        {"weir_partition_high_watermark", "The broker's high watermark as last fetched.",
         offsetof(struct weir_part_metrics, high)},
        {"weir_partition_committed_offset", "Offset last stored for commit.",
         offsetof(struct weir_part_metrics, committed)},
    };
    int rc = 0;
    for (size_t j = 0; j < sizeof g / sizeof g[0] && rc == 0; j++) {
        rc = put(b, "# HELP %s %s%s\n# TYPE %s gauge\n", g[j].name, g[j].help,
                 j ? " (-1: unknown)" : "", g[j].name);
        for (int i = 0; i < r->n && rc == 0; i++) {
            const struct weir_metrics *m = &r->workers[i];
            uint64_t np = nparts_of(m);
            for (uint64_t p = 0; p < np && rc == 0; p++) {
                const struct weir_part_metrics *pm = &m->part[p];
                if (!weir_metric_get(&pm->assigned) || pm->partition < 0)
                    continue; /* a file: no offsets to speak of */
                char topic[300]; /* Kafka's 249 characters need no escapes */
                label_value(topic, sizeof topic, pm->topic);
                int64_t v =
                    (int64_t)weir_metric_get((const uint64_t *)((const char *)pm + g[j].off));
                rc = put(b, "%s{topic=\"%s\",partition=\"%d\",worker=\"%d\"} %" PRId64 "\n",
                         g[j].name, topic, (int)pm->partition, i, v);
            }
        }
    }
    return rc;
}

/* ---- sources outside the workers ---------------------------------------------- */

static pthread_mutex_t sources_mu = PTHREAD_MUTEX_INITIALIZER;
static struct weir_metrics_source sources[16];
static size_t nsources;

int weir_metrics_source_add(const struct weir_metrics_source *s)
{
    int rc = 0;
    pthread_mutex_lock(&sources_mu);
    size_t i = 0;
    while (i < nsources && sources[i].ctx != s->ctx)
        i++;
    if (i == nsources && nsources == sizeof sources / sizeof sources[0])
        rc = -ENOMEM;
    else if (i == nsources)
        sources[nsources++] = *s;
    pthread_mutex_unlock(&sources_mu);
    return rc;
}

void weir_metrics_source_remove(void *ctx)
{
    pthread_mutex_lock(&sources_mu);
    for (size_t i = 0; i < nsources; i++)
        if (sources[i].ctx == ctx) {
            sources[i] = sources[--nsources];
            break;
        }
    pthread_mutex_unlock(&sources_mu);
}

/* json: each source's member, comma first. */
static int from_sources(struct weir_buf *out, int json)
{
    int rc = 0;
    pthread_mutex_lock(&sources_mu);
    for (size_t i = 0; i < nsources && rc == 0; i++) {
        if (json && sources[i].json)
            rc = put(out, ",") ?: sources[i].json(sources[i].ctx, out);
        else if (!json && sources[i].prometheus)
            rc = sources[i].prometheus(sources[i].ctx, out);
    }
    pthread_mutex_unlock(&sources_mu);
    return rc;
}

void weir_metrics_summary_notes(char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    pthread_mutex_lock(&sources_mu);
    for (size_t i = 0; i < nsources && o + 3 < cap; i++) {
        char clause[256];
        if (sources[i].summary && sources[i].summary(sources[i].ctx, clause, sizeof clause)) {
            int n = snprintf(out + o, cap - o, ", %s", clause);
            o = n < 0 ? o : o + (size_t)n >= cap ? cap - 1 : o + (size_t)n;
        }
    }
    pthread_mutex_unlock(&sources_mu);
}

int weir_metrics_prom_hist(struct weir_buf *b, const char *name, const char *labels,
                           const struct weir_hist *h, double unit)
{
    return prom_hist(b, name, labels, h, unit);
}

void weir_metrics_label_value(char *dst, size_t cap, const char *s)
{
    label_value(dst, cap, s);
}

int weir_metrics_prometheus(const struct weir_metrics_registry *r, struct weir_buf *out)
{
    pthread_mutex_lock(&pl_mu);
    int rc = prom_totals(r, out);
    rc = rc ?: prom_hists(r, out);
    rc = rc ?: prom_ops(r, out);
    rc = rc ?: prom_parts(r, out);
    rc = rc ?: from_sources(out, 0);
    pthread_mutex_unlock(&pl_mu);
    return rc;
}

/* ---- JSON for the status page ---------------------------------------------- */

static int json_ops(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    int rc = put(b, "\"operators\":[");
    for (size_t k = 0; k < nops_of(r) && rc == 0; k++) {
        uint64_t in = 0, out = 0, dead = 0, evicted = 0;
        struct weir_hist h = {0};
        for (int i = 0; i < r->n; i++) {
            const struct weir_op_metrics *o = &r->workers[i].op[k];
            in += weir_metric_get(&o->in);
            out += weir_metric_get(&o->out);
            dead += weir_metric_get(&o->dead);
            evicted += weir_metric_get(&o->evicted);
            hist_sum(&h, &o->ns);
        }
        rc = put(b,
                 "%s{\"index\":%zu,\"type\":\"%s\",\"in\":%" PRIu64 ",\"out\":%" PRIu64
                 ",\"dead\":%" PRIu64 ",\"evicted\":%" PRIu64 ",\"ns\":%" PRIu64 "}",
                 k ? "," : "", k, op_name(r, k), in, out, dead, evicted, h.sum);
    }
    return rc ?: put(b, "]");
}

static int json_parts(const struct weir_metrics_registry *r, struct weir_buf *b)
{
    int rc = put(b, "\"partitions\":[");
    int first = 1;
    for (int i = 0; i < r->n && rc == 0; i++) {
        const struct weir_metrics *m = &r->workers[i];
        uint64_t np = nparts_of(m);
        for (uint64_t p = 0; p < np && rc == 0; p++) {
            const struct weir_part_metrics *pm = &m->part[p];
            if (!weir_metric_get(&pm->assigned))
                continue;
            rc = put(b, "%s{\"topic\":", first ? "" : ",");
            rc = rc ?: weir_jsonw_string(b, pm->topic, strlen(pm->topic));
            rc = rc
                     ?: put(b,
                            ",\"partition\":%d,\"worker\":%d,\"lag\":%" PRId64
                            ",\"position\":%" PRId64 ",\"committed\":%" PRId64 "}",
                            (int)pm->partition, i, (int64_t)weir_metric_get(&pm->lag),
                            (int64_t)weir_metric_get(&pm->position),
                            (int64_t)weir_metric_get(&pm->committed));
            first = 0;
        }
    }
    return rc ?: put(b, "]");
}

static int json_locked(const struct weir_metrics_registry *r, struct weir_buf *out);

int weir_metrics_json(const struct weir_metrics_registry *r, struct weir_buf *out)
{
    pthread_mutex_lock(&pl_mu);
    int rc = json_locked(r, out);
    pthread_mutex_unlock(&pl_mu);
    return rc;
}

static int json_locked(const struct weir_metrics_registry *r, struct weir_buf *out)
{
    struct weir_metrics_totals t;
    weir_metrics_totals(r, &t);
    struct weir_hist age = {0};
    for (int i = 0; i < r->n; i++)
        hist_sum(&age, &r->workers[i].event_age_ms);
    const struct weir_pipeline *pl = reg_pl(r);
    const char *name = pl && pl->name ? pl->name : "";
    int rc = put(out, "{\"pipeline\":");
    rc = rc ?: weir_jsonw_string(out, name, strlen(name));
    rc = rc
             ?: put(out,
                    ",\"version\":\"%s\",\"uptime_s\":%.3f,\"ready\":%d,\"workers\":%d,"
                    "\"workers_up\":%d,\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64
                    ",\"dead\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"alerts\":%" PRIu64
                    ",\"inflight\":%" PRIu64 ",\"lag\":%" PRIu64 ",\"state_keys\":%" PRIu64
                    ",\"state_bytes\":%" PRIu64
                    ",\"event_age_p50_ms\":%.0f,\"event_age_p99_ms\":%.0f,",
                    WEIR_VERSION, (double)(weir_now_ns() - r->started_ns) / 1e9,
                    weir_metrics_ready(r), r->n, t.workers_up, t.records_in, t.records_out, t.dead,
                    t.dropped, t.alerts, t.inflight, t.lag, t.state_keys, t.state_bytes,
                    hist_quantile(&age, 0.5), hist_quantile(&age, 0.99));
    rc = rc ?: json_ops(r, out);
    rc = rc ?: put(out, ",");
    rc = rc ?: json_parts(r, out);
    rc = rc ?: from_sources(out, 1);
    return rc ?: put(out, "}\n");
}
