/* bench_nab: scores a detector's outputs over a NAB-layout directory.
 *
 *   bench_nab --list DATA                      the labelled series, one a line
 *   bench_nab DATA OUTPUTS [--name NAME] [--plots DIR] [--json FILE]
 *
 * OUTPUTS holds one JSONL file per series, <category>/<file>.jsonl (weir's
 * file sink: "anomaly_score" and "alert" on every row). It prints a
 * per-series table and, on its last line, one JSON summary object; --json
 * writes the full result (per series too) and --plots one SVG per series.
 *
 * Scores (bench/nab/, ../shared/data/nab/SCORING.md):
 *  - "sweep": NAB's protocol, the corpus-wide best threshold on
 *    anomaly_score, per profile.
 *  - "heldout": the series split in two by position in sorted order (even:
 *    "tune", odd: "heldout"); the threshold is swept on the tune half and
 *    the held-out half is scored at it, so the number is not fitted to the
 *    series it reports on.
 *  - "alerts": the pipeline's own alert flags as the detections, no sweep:
 *    what an operator of the pipeline would actually have been paged for;
 *    over all series, the tune half and the held-out half (a change to the
 *    alert stage alone is chosen on the tune half, as a threshold is). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/nab/nab_corpus.h"
#include "bench/nab/nab_score.h"
#include "bench/nab/nab_svg.h"

struct run {
    const struct nab_corpus *c;
    double **score;
    double **alert; /* 1/0 per row, as a score */
};

/* Sweeps the series whose index parity matches (parity -1: all). */
static double sweep(const struct run *r, int prof, int parity, double *theta)
{
    struct nab_sweep *sw = nab_sweep_new(&nab_profiles[prof]);
    double raw = NAN;
    *theta = NAN;
    if (!sw)
        return NAN;
    for (size_t s = 0; s < r->c->n; s++) {
        const struct nab_series *x = &r->c->s[s];
        if (parity < 0 || (int)(s % 2) == parity)
            nab_sweep_add(sw, x->n, x->w, x->nw, x->probation, r->score[s]);
    }
    nab_sweep_best(sw, theta, &raw);
    double norm = nab_normalise(raw, nab_sweep_windows(sw), &nab_profiles[prof]);
    nab_sweep_free(sw);
    return norm;
}

/* Normalised score of the series of one parity (-1: all) at theta. */
static double at_theta(const struct run *r, double **score, int prof, int parity, double theta)
{
    double raw = 0;
    size_t windows = 0;
    for (size_t s = 0; s < r->c->n; s++) {
        const struct nab_series *x = &r->c->s[s];
        if (parity >= 0 && (int)(s % 2) != parity)
            continue;
        raw += nab_score_file(x->n, x->w, x->nw, x->probation, score[s], theta,
                              &nab_profiles[prof], NULL);
        windows += x->nw;
    }
    return nab_normalise(raw, windows, &nab_profiles[prof]);
}

static const char *short_name(int prof)
{
    static const char *n[NAB_PROFILES] = {"standard", "reward_low_FP", "reward_low_FN"};
    return n[prof];
}

/* Scores to 3 decimals (NAB publishes 2); thresholds as they are (they are
 * scores a pipeline wrote, up to 9 significant digits, so the JSON keeps 10),
 * since a threshold of 0.99953 applied again as 1.000 flags nothing. */
static json_t *profile_object_digits(const double v[NAB_PROFILES], int rounded)
{
    json_t *o = json_object();
    for (int p = 0; p < NAB_PROFILES; p++)
        json_object_set_new(o, short_name(p),
                            json_real(rounded ? round(v[p] * 1000) / 1000 : v[p]));
    return o;
}

static json_t *profile_object(const double v[NAB_PROFILES])
{
    return profile_object_digits(v, 1);
}

static json_t *score_series(const struct run *r, const double theta[NAB_PROFILES], json_t *summary)
{
    json_t *list = json_array();
    printf("%-58s %6s %4s %4s %6s %8s %6s %8s\n", "series", "rows", "win", "hit", "fp", "S_std",
           "alerts", "S_alert");
    size_t alerts_total = 0;
    for (size_t s = 0; s < r->c->n; s++) {
        const struct nab_series *x = &r->c->s[s];
        struct nab_counts cnt, acnt;
        double raw = nab_score_file(x->n, x->w, x->nw, x->probation, r->score[s], theta[0],
                                    &nab_profiles[0], &cnt);
        double araw = nab_score_file(x->n, x->w, x->nw, x->probation, r->alert[s], 0.5,
                                     &nab_profiles[0], &acnt);
        size_t alerts = 0;
        for (size_t i = 0; i < x->n; i++)
            alerts += r->alert[s][i] > 0.5;
        alerts_total += alerts;
        printf("%-58s %6zu %4zu %4zu %6zu %8.3f %6zu %8.3f\n", x->name, x->n, x->nw,
               cnt.windows_hit, cnt.fp, raw, alerts, araw);
        json_array_append_new(
            list, json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:f, s:s}", "series",
                            x->name, "rows", (json_int_t)x->n, "windows", (json_int_t)x->nw,
                            "windows_hit", (json_int_t)cnt.windows_hit, "fp_rows",
                            (json_int_t)cnt.fp, "raw_standard", raw, "alerts",
                            (json_int_t)alerts, "alert_windows_hit",
                            (json_int_t)acnt.windows_hit, "alert_raw_standard", araw, "split",
                            s % 2 ? "heldout" : "tune"));
    }
    json_object_set_new(summary, "alerts_total", json_integer((json_int_t)alerts_total));
    return list;
}

static int load_outputs(struct run *r, const char *outdir)
{
    const struct nab_corpus *c = r->c;
    r->score = calloc(c->n, sizeof *r->score);
    r->alert = calloc(c->n, sizeof *r->alert);
    if (!r->score || !r->alert)
        return -1;
    for (size_t s = 0; s < c->n; s++) {
        const struct nab_series *x = &c->s[s];
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/%.*s.jsonl", outdir, (int)strlen(x->name) - 4, x->name);
        r->score[s] = malloc((x->n + 1) * sizeof **r->score);
        r->alert[s] = malloc((x->n + 1) * sizeof **r->alert);
        unsigned char *flag = malloc(x->n + 1);
        if (!r->score[s] || !r->alert[s] || !flag) {
            free(flag);
            return -1;
        }
        int rc = nab_read_output(path, x, r->score[s], flag, err, sizeof err);
        for (size_t i = 0; i < x->n; i++)
            r->alert[s][i] = flag[i];
        free(flag);
        if (rc < 0) {
            fprintf(stderr, "bench_nab: %s\n", err);
            return -1;
        }
    }
    return 0;
}

static void free_run(struct run *r)
{
    for (size_t s = 0; r->score && s < r->c->n; s++) {
        free(r->score[s]);
        free(r->alert[s]);
    }
    free(r->score);
    free(r->alert);
}

static int usage(void)
{
    fprintf(stderr, "usage: bench_nab --list DATA\n"
                    "       bench_nab DATA OUTPUTS [--name NAME] [--plots DIR] [--json FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *data = NULL, *outputs = NULL, *name = "pipeline", *plots = NULL, *json_path = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list"))
            list = 1;
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--plots") && i + 1 < argc)
            plots = argv[++i];
        else if (!strcmp(argv[i], "--json") && i + 1 < argc)
            json_path = argv[++i];
        else if (argv[i][0] == '-')
            return usage();
        else if (!data)
            data = argv[i];
        else if (!outputs)
            outputs = argv[i];
        else
            return usage();
    }
    if (!data || (!list && !outputs))
        return usage();
    struct nab_corpus c;
    char err[512];
    if (nab_corpus_load(data, &c, err, sizeof err) < 0) {
        fprintf(stderr, "bench_nab: %s\n", err);
        return 1;
    }
    if (list) {
        for (size_t s = 0; s < c.n; s++)
            printf("%s\n", c.s[s].name);
        nab_corpus_free(&c);
        return 0;
    }
    struct run r = {.c = &c};
    int rc = 1;
    if (load_outputs(&r, outputs) < 0)
        goto out;
    double all[NAB_PROFILES], theta[NAB_PROFILES], tune[NAB_PROFILES], tune_theta[NAB_PROFILES],
        held[NAB_PROFILES], alerts[NAB_PROFILES], tune_alerts[NAB_PROFILES],
        held_alerts[NAB_PROFILES];
    for (int p = 0; p < NAB_PROFILES; p++) {
        all[p] = sweep(&r, p, -1, &theta[p]);
        tune[p] = sweep(&r, p, 0, &tune_theta[p]);
        held[p] = at_theta(&r, r.score, p, 1, tune_theta[p]);
        alerts[p] = at_theta(&r, r.alert, p, -1, 0.5);
        tune_alerts[p] = at_theta(&r, r.alert, p, 0, 0.5);
        held_alerts[p] = at_theta(&r, r.alert, p, 1, 0.5);
    }
    json_t *summary = json_object();
    json_t *series = score_series(&r, theta, summary);
    size_t hw = 0;
    for (size_t s = 1; s < c.n; s += 2)
        hw += c.s[s].nw;
    json_object_set_new(summary, "bench", json_string("nab"));
    json_object_set_new(summary, "pipeline", json_string(name));
    json_object_set_new(summary, "series", json_integer((json_int_t)c.n));
    json_object_set_new(summary, "windows", json_integer((json_int_t)c.windows));
    json_object_set_new(summary, "sweep", profile_object(all));
    json_object_set_new(summary, "threshold", profile_object_digits(theta, 0));
    json_object_set_new(summary, "tune_sweep", profile_object(tune));
    json_object_set_new(summary, "tune_threshold", profile_object_digits(tune_theta, 0));
    json_object_set_new(summary, "heldout_at_tune_threshold", profile_object(held));
    json_object_set_new(summary, "heldout_windows", json_integer((json_int_t)hw));
    json_object_set_new(summary, "alerts", profile_object(alerts));
    json_object_set_new(summary, "tune_alerts", profile_object(tune_alerts));
    json_object_set_new(summary, "heldout_alerts", profile_object(held_alerts));
    printf("\n%-34s %9s %14s %14s\n", "NAB score (0 null, 100 perfect)", "standard",
           "reward_low_FP", "reward_low_FN");
    printf("%-34s %9.2f %14.2f %14.2f\n", "sweep, all series", all[0], all[1], all[2]);
    printf("%-34s %9.2f %14.2f %14.2f\n", "sweep, tune half", tune[0], tune[1], tune[2]);
    printf("%-34s %9.2f %14.2f %14.2f\n", "held-out half at tune threshold", held[0], held[1],
           held[2]);
    printf("%-34s %9.2f %14.2f %14.2f\n", "pipeline's alerts, all series", alerts[0], alerts[1],
           alerts[2]);
    printf("%-34s %9.2f %14.2f %14.2f\n", "pipeline's alerts, tune half", tune_alerts[0],
           tune_alerts[1], tune_alerts[2]);
    printf("%-34s %9.2f %14.2f %14.2f\n", "pipeline's alerts, held-out half", held_alerts[0],
           held_alerts[1], held_alerts[2]);
    if (plots) {
        for (size_t s = 0; s < c.n; s++)
            if (nab_svg_write(plots, &c.s[s], r.score[s], r.alert[s], theta[0]) < 0)
                fprintf(stderr, "bench_nab: cannot write the plot of %s under %s\n", c.s[s].name,
                        plots);
    }
    if (json_path) {
        json_t *full = json_deep_copy(summary);
        json_object_set_new(full, "per_series", series);
        series = NULL;
        if (json_dump_file(full, json_path, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) < 0)
            fprintf(stderr, "bench_nab: cannot write %s\n", json_path);
        json_decref(full);
    }
    json_decref(series);
    char *line = json_dumps(summary, JSON_COMPACT | JSON_REAL_PRECISION(10));
    printf("%s\n", line);
    free(line);
    json_decref(summary);
    rc = 0;
out:
    free_run(&r);
    nab_corpus_free(&c);
    return rc;
}
