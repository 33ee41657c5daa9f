/* The model operators' figures on /metrics and the status page (issue 12):
 * the version each one serves, the swaps and rejected versions, and the time
 * and rows of each model run per device. One metrics source covers every
 * model operator of the process, so each family is written once. A run's
 * figures are added by several workers into the same conf-wide block with
 * atomic adds: one per model run, never per record. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "engine/jsonw.h"
#include "engine/metrics.h"
#include "operators/model.h"

#define MAX_MODELS 64

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const struct model_conf *models[MAX_MODELS];
static size_t nmodels;
static const char *const device_name[] = {"cpu", "cuda"};

static void hist_add_shared(struct weir_hist *h, uint64_t v)
{
    __atomic_fetch_add(&h->bucket[weir_hist_bucket(v)], 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->count, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&h->sum, v, __ATOMIC_RELAXED);
}

void model_metrics_run(const struct model_conf *c, int on_gpu, uint64_t ns, size_t rows)
{
    struct model_live *l = c->live;
    hist_add_shared(&l->infer_ns[on_gpu ? 1 : 0], ns);
    hist_add_shared(&l->rows[on_gpu ? 1 : 0], rows);
}

static void hist_read(struct weir_hist *dst, const struct weir_hist *h)
{
    for (int k = 0; k < WEIR_HIST_BUCKETS; k++)
        dst->bucket[k] = weir_metric_get(&h->bucket[k]);
    dst->count = weir_metric_get(&h->count);
    dst->sum = weir_metric_get(&h->sum);
}

static int put(struct weir_buf *b, const char *s)
{
    return weir_buf_append(b, s, strlen(s));
}

/* `index="1",operator="model",` */
static void labels_of(char *dst, size_t cap, const struct model_conf *c)
{
    snprintf(dst, cap, "index=\"%d\",operator=\"model\",", c->live->index);
}

static int prom_versions(struct weir_buf *b)
{
    char line[700], ver[256], esc[520], l[64];
    int rc = put(b, "# HELP weir_model_version_info The model version each model operator "
                    "serves now (its file name).\n# TYPE weir_model_version_info gauge\n");
    for (size_t i = 0; i < nmodels && rc == 0; i++) {
        weir_model_cell_version(models[i]->cell, ver, sizeof ver);
        weir_metrics_label_value(esc, sizeof esc, ver);
        labels_of(l, sizeof l, models[i]);
        snprintf(line, sizeof line, "weir_model_version_info{%sversion=\"%s\"} 1\n", l, esc);
        rc = put(b, line);
    }
    static const char *const counters[][2] = {
        {"weir_model_swaps_total", "Model versions swapped in while running (a newer file, a pin "
                                   "marker, SIGHUP)."},
        {"weir_model_versions_rejected_total", "Model versions that did not load or fit "
                                               "(while running, the current one kept serving; "
                                               "at start-up, newer ones passed over)."},
    };
    for (int k = 0; k < 2 && rc == 0; k++) {
        snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s counter\n", counters[k][0],
                 counters[k][1], counters[k][0]);
        rc = put(b, line);
        for (size_t i = 0; i < nmodels && rc == 0; i++) {
            struct weir_model_cell *cell = models[i]->cell;
            labels_of(l, sizeof l, models[i]);
            l[strlen(l) - 1] = 0;
            snprintf(line, sizeof line, "%s{%s} %llu\n", counters[k][0], l,
                     (unsigned long long)atomic_load(k ? &cell->rejects : &cell->swaps));
            rc = put(b, line);
        }
    }
    return rc;
}

static int prom_runs(struct weir_buf *b, const char *name, const char *help, int rows)
{
    char line[400], l[96];
    snprintf(line, sizeof line, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    int rc = put(b, line);
    for (size_t i = 0; i < nmodels && rc == 0; i++)
        for (int d = 0; d < 2 && rc == 0; d++) {
            struct weir_hist h;
            const struct model_live *lv = models[i]->live;
            hist_read(&h, rows ? &lv->rows[d] : &lv->infer_ns[d]);
            if (d == 1 && h.count == 0)
                continue; /* no GPU runs: no cuda series */
            labels_of(l, sizeof l, models[i]);
            snprintf(l + strlen(l), sizeof l - strlen(l), "device=\"%s\",", device_name[d]);
            rc = weir_metrics_prom_hist(b, name, l, &h, rows ? 1.0 : 1e-9);
        }
    return rc;
}

/* Loads and models in memory: a reload shares an unchanged operator's model
 * (model_share.c), so these stay flat over any number of reloads. */
static int prom_loads(struct weir_buf *b)
{
    uint64_t loaded, in_memory;
    char line[700];
    model_share_counts(&loaded, &in_memory);
    snprintf(line, sizeof line,
             "# HELP weir_model_loads_total Model files loaded by pipeline loads (the first, and "
             "reloads whose model operator or model file changed; an unchanged one shares the "
             "loaded model).\n# TYPE weir_model_loads_total counter\nweir_model_loads_total %llu\n"
             "# HELP weir_model_in_memory Models loaded and still used by a pipeline version.\n"
             "# TYPE weir_model_in_memory gauge\nweir_model_in_memory %llu\n",
             (unsigned long long)loaded, (unsigned long long)in_memory);
    return put(b, line);
}

static int prometheus(void *ctx, struct weir_buf *b)
{
    (void)ctx;
    pthread_mutex_lock(&mu);
    int rc = prom_versions(b);
    rc = rc ?: prom_loads(b);
    rc = rc ?: prom_runs(b, "weir_model_inference_seconds",
                         "Time of one model run (a micro-batch), per device; on cuda from the "
                         "launch to the results seen on the worker's loop (copies included).",
                         0);
    rc = rc ?: prom_runs(b, "weir_model_run_rows", "Rows per model run, per device.", 1);
    pthread_mutex_unlock(&mu);
    return rc;
}

static int json(void *ctx, struct weir_buf *b)
{
    (void)ctx;
    char line[256], ver[256];
    pthread_mutex_lock(&mu);
    int rc = put(b, "\"models\":[");
    for (size_t i = 0; i < nmodels && rc == 0; i++) {
        const struct model_conf *c = models[i];
        struct weir_hist cpu, gpu;
        hist_read(&cpu, &c->live->infer_ns[0]);
        hist_read(&gpu, &c->live->infer_ns[1]);
        weir_model_cell_version(c->cell, ver, sizeof ver);
        snprintf(line, sizeof line, "%s{\"index\":%d,\"version\":", i ? "," : "", c->live->index);
        rc = put(b, line) ?: weir_jsonw_string(b, ver, strlen(ver));
        snprintf(line, sizeof line,
                 ",\"swaps\":%llu,\"rejected\":%llu,\"runs\":%llu,\"infer_ns\":%llu}",
                 (unsigned long long)atomic_load(&c->cell->swaps),
                 (unsigned long long)atomic_load(&c->cell->rejects),
                 (unsigned long long)(cpu.count + gpu.count),
                 (unsigned long long)(cpu.sum + gpu.sum));
        rc = rc ?: put(b, line);
    }
    pthread_mutex_unlock(&mu);
    return rc ?: put(b, "]");
}

static int source_token; /* the one metrics source's ctx */
/* Serialises add and remove, so that a reload's removal of the last old
 * operator cannot take the source away after a new one was added; never
 * taken inside mu or the engine's source lock (which calls into mu). */
static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;

void model_metrics_add(const struct model_conf *c)
{
    pthread_mutex_lock(&registry_mu);
    pthread_mutex_lock(&mu);
    size_t i = 0;
    while (i < nmodels && models[i] != c)
        i++;
    if (i == nmodels && nmodels < MAX_MODELS)
        models[nmodels++] = c;
    pthread_mutex_unlock(&mu);
    struct weir_metrics_source s = {prometheus, json, &source_token, NULL};
    weir_metrics_source_add(&s); /* once; full (16 sources): no model figures, said nowhere */
    pthread_mutex_unlock(&registry_mu);
}

void model_metrics_remove(const struct model_conf *c)
{
    pthread_mutex_lock(&registry_mu);
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nmodels; i++)
        if (models[i] == c) {
            memmove(&models[i], &models[i + 1], (nmodels - i - 1) * sizeof *models);
            nmodels--;
            break;
        }
    int none = nmodels == 0;
    pthread_mutex_unlock(&mu);
    if (none)
        weir_metrics_source_remove(&source_token);
    pthread_mutex_unlock(&registry_mu);
}
