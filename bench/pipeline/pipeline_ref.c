/* bench_pipeline's reference: the same pipeline written the obvious way
 * with jansson (getline, json_loads, the fields, the operators' math copied
 * from operators/standardize.c, score.c and threshold.c, json_dumps, fwrite),
 * so that weir's speed has a baseline measured in the same run. */
#include "bench/pipeline/pipeline_ref.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Copies of the operators' math (operators/standardize.c "running",
 * score.c "zscore", threshold.c with P²), so both compute the same floats. */
struct ref_state {
    uint64_t n;
    double mean, m2; /* Welford */
    uint64_t scored;
    double q[5], pos[5], want[5];
    uint64_t count; /* P² */
};

static float ref_standardize(struct ref_state *s, float xf, uint64_t warmup)
{
    double x = xf, z = 0.0;
    if (s->n >= warmup && x - s->mean != 0) {
        double var = s->n > 1 ? s->m2 / (double)(s->n - 1) : 0.0; /* sample variance */
        double sd = var > 0 ? sqrt(var) : 0.0;
        z = (x - s->mean) / (sd < 1e-9 ? 1e-9 : sd);
    }
    s->n++;
    double d = x - s->mean;
    s->mean += d / (double)s->n;
    s->m2 += d * (x - s->mean);
    return (float)z;
}

static double p2_parabolic(const struct ref_state *s, int i, double d)
{
    const double *q = s->q, *n = s->pos;
    return q[i] + d / (n[i + 1] - n[i - 1]) *
                      ((n[i] - n[i - 1] + d) * (q[i + 1] - q[i]) / (n[i + 1] - n[i]) +
                       (n[i + 1] - n[i] - d) * (q[i] - q[i - 1]) / (n[i] - n[i - 1]));
}

static void p2_add(struct ref_state *s, double x, double p)
{
    if (s->count < 5) {
        size_t k = (size_t)s->count;
        for (; k > 0 && s->q[k - 1] > x; k--)
            s->q[k] = s->q[k - 1];
        s->q[k] = x;
        if (++s->count == 5) {
            const double want[5] = {1, 1 + 2 * p, 1 + 4 * p, 3 + 2 * p, 5};
            for (int i = 0; i < 5; i++) {
                s->pos[i] = i + 1;
                s->want[i] = want[i];
            }
        }
        return;
    }
    int k = 0;
    if (x < s->q[0])
        s->q[0] = x;
    else if (x >= s->q[4])
        s->q[4] = x, k = 3;
    else
        while (k < 3 && x >= s->q[k + 1])
            k++;
    for (int i = k + 1; i < 5; i++)
        s->pos[i] += 1;
    const double inc[5] = {0, p / 2, p, (1 + p) / 2, 1};
    for (int i = 0; i < 5; i++)
        s->want[i] += inc[i];
    s->count++;
    for (int i = 1; i <= 3; i++) {
        double d = s->want[i] - s->pos[i];
        if (!((d >= 1 && s->pos[i + 1] - s->pos[i] > 1) ||
              (d <= -1 && s->pos[i - 1] - s->pos[i] < -1)))
            continue;
        double dir = d > 0 ? 1.0 : -1.0, h = p2_parabolic(s, i, dir);
        if (!(s->q[i - 1] < h && h < s->q[i + 1])) {
            int j = i + (int)dir;
            h = s->q[i] + dir * (s->q[j] - s->q[i]) / (s->pos[j] - s->pos[i]);
        }
        s->q[i] = h;
        s->pos[i] += dir;
    }
}

static int ref_threshold(struct ref_state *s, float score, double above, uint64_t warmup)
{
    int alert = 0, warm = s->scored >= warmup;
    if (above > 0) {
        alert = warm && score >= (float)above;
    } else {
        double t = NAN;
        if (s->count > 0 && s->count < 5) {
            size_t k = (size_t)ceil(0.999 * (double)s->count);
            t = s->q[k ? k - 1 : 0];
        } else if (s->count >= 5) {
            t = s->q[2];
        }
        alert = warm && score > t;
        if (isfinite(score))
            p2_add(s, score, 0.999);
    }
    s->scored++;
    return alert;
}

/* The reference's per-host state with --keys: a hash map written the obvious
 * way (FNV-1a, open addressing with linear probing, doubled at half full,
 * keys strdup'd). Entries are never removed. */
struct ref_entry {
    char *key; /* NULL: an empty slot */
    struct ref_state st;
};

struct ref_map {
    struct ref_entry *v;
    size_t cap; /* a power of 2, or 0 */
    size_t n;
    size_t key_bytes; /* strdup'd bytes, NULs included */
};

static uint64_t ref_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int ref_map_grow(struct ref_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct ref_entry *v = calloc(cap, sizeof *v);
    if (!v)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->v[i].key)
            continue;
        size_t j = ref_hash(m->v[i].key) & (cap - 1);
        while (v[j].key)
            j = (j + 1) & (cap - 1);
        v[j] = m->v[i];
    }
    free(m->v);
    m->v = v;
    m->cap = cap;
    return 0;
}

/* key's state, created zeroed when new; NULL when out of memory. */
static struct ref_state *ref_map_get(struct ref_map *m, const char *key)
{
    if (2 * (m->n + 1) > m->cap && ref_map_grow(m) < 0)
        return NULL;
    size_t j = ref_hash(key) & (m->cap - 1);
    for (; m->v[j].key; j = (j + 1) & (m->cap - 1))
        if (strcmp(m->v[j].key, key) == 0)
            return &m->v[j].st;
    size_t len = strlen(key) + 1;
    if (!(m->v[j].key = malloc(len)))
        return NULL;
    memcpy(m->v[j].key, key, len);
    memset(&m->v[j].st, 0, sizeof m->v[j].st);
    m->n++;
    m->key_bytes += len;
    return &m->v[j].st;
}

static void ref_map_free(struct ref_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->v[i].key);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* "YYYY-MM-DD HH:MM:SS" -> epoch ms; -1 when it is not one. */
static int64_t ref_timestamp(const char *s)
{
    int v[6], at[6] = {0, 5, 8, 11, 14, 17}, w[6] = {4, 2, 2, 2, 2, 2};
    if (strlen(s) != 19)
        return -1;
    for (int f = 0; f < 6; f++) {
        v[f] = 0;
        for (int k = 0; k < w[f]; k++) {
            char c = s[at[f] + k];
            if (c < '0' || c > '9')
                return -1;
            v[f] = v[f] * 10 + (c - '0');
        }
    }
    int64_t y = v[0] - (v[1] <= 2), era = y / 400, yoe = y - era * 400;
    int64_t doy = (153 * (v[1] + (v[1] > 2 ? -3 : 9)) + 2) / 5 + v[2] - 1;
    int64_t days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    return ((days * 24 + v[3]) * 60 + v[4]) * 60000 + (int64_t)v[5] * 1000;
}

static void ref_dead(FILE *dead, const char *reason, uint64_t line_no, const char *raw)
{
    json_t *d = json_pack("{s:s, s:s, s:I, s:s}", "reason", reason, "source", "input", "line",
                          (json_int_t)line_no, "raw", raw);
    char *text = d ? json_dumps(d, JSON_COMPACT) : NULL;
    if (text) {
        fputs(text, dead);
        fputc('\n', dead);
    }
    free(text);
    json_decref(d);
}

/* Phases timed when instrumenting: read, parse, fields+math, build+dump, write. */
enum { PH_READ, PH_PARSE, PH_MATH, PH_DUMP, PH_WRITE };

#define TICK(ph)                                                                                   \
    do {                                                                                           \
        if (instrument) {                                                                          \
            uint64_t t_ = now_ns();                                                                \
            r->phase_ns[ph] += t_ - t_last;                                                        \
            t_last = t_;                                                                           \
        }                                                                                          \
    } while (0)

/* One record; returns 1 when it went to the output, 0 to the dead letters. */
static int ref_record(char *line, uint64_t no, const struct ref_conf *rc, struct ref_state *one,
                      struct ref_map *map, FILE *out, FILE *dead, struct run *r, int instrument,
                      uint64_t t_last)
{
    json_error_t jerr;
    json_t *obj = json_loads(line, 0, &jerr);
    TICK(PH_PARSE);
    const char *why = !obj                   ? jerr.text
                      : !json_is_object(obj) ? "record is not a JSON object"
                                             : NULL;
    json_t *jv = json_object_get(obj, "value");
    const char *host = json_string_value(json_object_get(obj, "host"));
    const char *ts = json_string_value(json_object_get(obj, "ts"));
    if (!why && !json_is_number(jv))
        why = "missing required field \"value\" (/value)";
    if (!why && !host)
        why = "missing required field \"host\" (/host)";
    int64_t ms = ts ? ref_timestamp(ts) : -1;
    if (!why && ms < 0)
        why = "field \"ts\" (/ts): expected a timestamp";
    if (why) {
        ref_dead(dead, why, no, line);
        json_decref(obj);
        r->dead++;
        return 0;
    }
    struct ref_state *st = rc->keyed ? ref_map_get(map, host) : one;
    if (!st) {
        fprintf(stderr, "bench_pipeline: reference: out of memory\n");
        exit(1);
    }
    /* standardize's warm-up records carry z = 0, no evidence: the threshold
     * neither alerts on them nor learns from them (operators/threshold.c) */
    int warming = st->n < rc->z_warmup;
    float z = ref_standardize(st, (float)json_number_value(jv), rc->z_warmup);
    float score = isnan(z) ? 0.0f : (float)erf(fabs(z) * M_SQRT1_2);
    int alert = warming ? 0 : ref_threshold(st, score, rc->above, rc->t_warmup);
    TICK(PH_MATH);
    json_object_set_new(obj, "value_z", isfinite(z) ? json_real(z) : json_null());
    json_object_set_new(obj, "anomaly_score", json_real(score));
    json_object_set_new(obj, "alert", json_boolean(alert));
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    TICK(PH_DUMP);
    if (!text) {
        fprintf(stderr, "bench_pipeline: json_dumps failed at line %llu\n", (unsigned long long)no);
        exit(1);
    }
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps's NUL becomes the newline; fwrite takes a length */
    fwrite(text, 1, len + 1, out);
    free(text);
    TICK(PH_WRITE);
    r->out++;
    r->alerts += (uint64_t)alert;
    return 1;
}

int run_reference(const char *input, const char *out_path, const char *dead_path,
                  const struct ref_conf *conf, struct run *r, int instrument)
{
    FILE *in = fopen(input, "r");
    FILE *out = fopen(out_path, "w");
    FILE *dead = fopen(dead_path, "w");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t no = 0;
    struct ref_state st;
    struct ref_map map = {0};
    if (!in || !out || !dead) {
        fprintf(stderr, "bench_pipeline: reference: %s\n", strerror(errno));
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        if (dead)
            fclose(dead);
        return -1;
    }
    memset(&st, 0, sizeof st);
    double c0 = cpu_seconds();
    uint64_t t0 = now_ns(), t_last = t0;
    while ((n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] == '\n')
            line[--n] = '\0';
        no++;
        TICK(PH_READ);
        ref_record(line, no, conf, &st, &map, out, dead, r, instrument, t_last);
        t_last = instrument ? now_ns() : 0;
    }
    r->keys = map.n;
    r->key_bytes = map.cap * sizeof map.v[0] + map.key_bytes;
    ref_map_free(&map); /* inside the timing: freeing is part of the job */
    free(line);
    fclose(in);
    int rc = fclose(out) | fclose(dead);
    r->seconds = (double)(now_ns() - t0) / 1e9;
    r->cpu = cpu_seconds() - c0;
    return rc ? -1 : 0;
}
