/* NAB scoring (bench/nab/): the hand-sized vectors of
 * ../shared/data/nab/scoring_test_vectors.json, NAB's Windowed Gaussian
 * per-row outputs scored to the published scoreboard, the threshold sweep
 * against a brute force over every threshold, the null and perfect
 * detectors, and label files that do not match their data. Skipped (77)
 * without ../shared/data/nab. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/nab/nab_corpus.h"
#include "bench/nab/nab_score.h"
#include "check.h"

#define NAB_DIR "../shared/data/nab"

static void test_vectors(void)
{
    json_error_t jerr;
    json_t *v = json_load_file(NAB_DIR "/scoring_test_vectors.json", 0, &jerr);
    CHECK(v != NULL);
    if (!v)
        return;
    json_t *k = json_object_get(v, "constants");
    CHECK_NEAR(nab_scaled_sigmoid(-1), json_real_value(json_object_get(k, "scaledSigmoid_minus1")),
               1e-15);
    CHECK_NEAR(nab_scaled_sigmoid(-0.5),
               json_real_value(json_object_get(k, "scaledSigmoid_minus0_5")), 1e-15);
    CHECK_NEAR(nab_scaled_sigmoid(0), 0.0, 1e-15);
    CHECK_NEAR(nab_scaled_sigmoid(1), json_real_value(json_object_get(k, "scaledSigmoid_1")),
               1e-15);
    CHECK_NEAR(nab_scaled_sigmoid(3), json_real_value(json_object_get(k, "scaledSigmoid_3")),
               1e-15);
    CHECK(nab_scaled_sigmoid(3.01) == -1.0);
    size_t idx;
    json_t *cs;
    int cases = 0;
    json_array_foreach(json_object_get(v, "cases"), idx, cs)
    {
        size_t n = (size_t)json_integer_value(json_object_get(cs, "rows"));
        json_t *wl = json_object_get(cs, "windows_inclusive");
        struct nab_window w[16];
        size_t nw = json_array_size(wl);
        CHECK(nw <= 16);
        for (size_t i = 0; i < nw && i < 16; i++)
            w[i] = (struct nab_window){
                (size_t)json_integer_value(json_array_get(json_array_get(wl, i), 0)),
                (size_t)json_integer_value(json_array_get(json_array_get(wl, i), 1))};
        double *score = calloc(n, sizeof *score);
        size_t j;
        json_t *d;
        json_array_foreach(json_object_get(cs, "detections_rows"), j, d)
            score[json_integer_value(d)] = 1.0;
        struct nab_profile prof = {"case", json_number_value(json_object_get(cs, "tpWeight")),
                                   json_number_value(json_object_get(cs, "fpWeight")),
                                   json_number_value(json_object_get(cs, "fnWeight"))};
        size_t prob = (size_t)json_integer_value(json_object_get(cs, "probationary_rows"));
        if (json_is_true(json_object_get(cs, "probation_applied")))
            CHECK(nab_probation(n) == prob);
        double got = nab_score_file(n, w, nw, prob, score,
                                    json_number_value(json_object_get(cs, "threshold")), &prof,
                                    NULL);
        double want = json_number_value(json_object_get(cs, "expected_score"));
        if (fabs(got - want) > 1e-12)
            fprintf(stderr, "vector %s: got %.17g, want %.17g\n",
                    json_string_value(json_object_get(cs, "name")), got, want);
        CHECK_NEAR(got, want, 1e-12);
        free(score);
        cases++;
    }
    CHECK(cases >= 10);
    json_decref(v);
}

/* MANIFEST.csv's row ranges ("a-b;c-d") and probation agree with the windows
 * mapped from the labels' timestamps. */
static void test_corpus_matches_manifest(const struct nab_corpus *c)
{
    FILE *f = fopen(NAB_DIR "/MANIFEST.csv", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    char line[1024];
    size_t seen = 0;
    CHECK(fgets(line, sizeof line, f) != NULL);
    while (fgets(line, sizeof line, f)) {
        char *field[10] = {0};
        char *save = NULL, *p = line;
        for (int i = 0; i < 10; i++, p = NULL) {
            /* strtok would skip the empty range field */
            field[i] = p ? p : save;
            char *comma = strchr(field[i], ',');
            save = comma ? comma + 1 : field[i] + strlen(field[i]);
            if (comma)
                *comma = 0;
        }
        for (size_t s = 0; s < c->n; s++) {
            const struct nab_series *ser = &c->s[s];
            if (strcmp(ser->name, field[0]) != 0)
                continue;
            seen++;
            CHECK(ser->n == strtoul(field[1], NULL, 10));
            CHECK(ser->probation == strtoul(field[4], NULL, 10));
            CHECK(ser->nw == strtoul(field[5], NULL, 10));
            char want[512] = "", part[64];
            for (size_t k = 0; k < ser->nw; k++) {
                snprintf(part, sizeof part, "%s%zu-%zu", k ? ";" : "", ser->w[k].first,
                         ser->w[k].last);
                strcat(want, part);
            }
            CHECK_STR(want, field[7]);
        }
    }
    fclose(f);
    CHECK(seen == c->n);
}

/* NAB's Windowed Gaussian at its published threshold 1.0 gives the
 * scoreboard's "these 41" line: 41.4 / 26.5 / 47.9. */
static void test_windowed_gaussian(const struct nab_corpus *c)
{
    FILE *f = popen("gzip -dc " NAB_DIR "/reference/windowedGaussian_per_row.csv.gz", "r");
    CHECK(f != NULL);
    if (!f)
        return;
    double **score = calloc(c->n, sizeof *score);
    for (size_t s = 0; s < c->n; s++) {
        score[s] = malloc(c->s[s].n * sizeof **score);
        for (size_t i = 0; i < c->s[s].n; i++)
            score[s][i] = NAN;
    }
    char line[512];
    size_t cur = 0, rows = 0, bad = 0;
    CHECK(fgets(line, sizeof line, f) != NULL);
    while (fgets(line, sizeof line, f)) {
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c2) {
            bad++;
            continue;
        }
        *c1 = 0;
        if (strcmp(c->s[cur].name, line) != 0)
            for (cur = 0; cur < c->n && strcmp(c->s[cur].name, line) != 0; cur++)
                ;
        size_t row = strtoul(c1 + 1, NULL, 10);
        if (cur >= c->n || row >= c->s[cur].n) {
            bad++;
            cur = 0;
            continue;
        }
        score[cur][row] = strtod(c2 + 1, NULL);
        rows++;
    }
    CHECK(pclose(f) == 0);
    CHECK(bad == 0);
    size_t total = 0;
    for (size_t s = 0; s < c->n; s++)
        total += c->s[s].n;
    CHECK(rows == total);
    const double want[NAB_PROFILES] = {41.4, 26.5, 47.9};
    for (int p = 0; p < NAB_PROFILES; p++) {
        double raw = 0;
        struct nab_sweep *sw = nab_sweep_new(&nab_profiles[p]);
        for (size_t s = 0; s < c->n; s++) {
            const struct nab_series *ser = &c->s[s];
            raw += nab_score_file(ser->n, ser->w, ser->nw, ser->probation, score[s], 1.0,
                                  &nab_profiles[p], NULL);
            CHECK(nab_sweep_add(sw, ser->n, ser->w, ser->nw, ser->probation, score[s]) == 0);
        }
        double got = nab_normalise(raw, c->windows, &nab_profiles[p]);
        printf("windowed gaussian %s: %.3f (published %.1f)\n", nab_profiles[p].name, got,
               want[p]);
        CHECK_NEAR(got, want[p], 0.05);
        double theta, best;
        nab_sweep_best(sw, &theta, &best);
        CHECK(nab_sweep_windows(sw) == c->windows);
        CHECK(best >= raw - 1e-9); /* the sweep can only do better than 1.0 */
        nab_sweep_free(sw);
    }
    for (size_t s = 0; s < c->n; s++)
        free(score[s]);
    free(score);
}

/* The sweep's best equals the best of nab_score_file at every distinct
 * score, on random small corpora with ties. */
static void test_sweep_brute_force(void)
{
    srand(7);
    for (int round = 0; round < 30; round++) {
        enum { FILES = 3, N = 60 };
        struct nab_window w[FILES][3];
        size_t nw[FILES];
        double score[FILES][N];
        for (int f = 0; f < FILES; f++) {
            nw[f] = (size_t)(rand() % 3);
            for (size_t k = 0; k < nw[f]; k++) {
                size_t first = 12 + k * 16 + (size_t)(rand() % 5);
                w[f][k] = (struct nab_window){first, first + 1 + (size_t)(rand() % 8)};
            }
            for (int i = 0; i < N; i++)
                score[f][i] = (rand() % 10) / 10.0; /* ties on purpose */
            if (round % 5 == 0)
                score[f][rand() % N] = NAN;
        }
        for (int p = 0; p < NAB_PROFILES; p++) {
            struct nab_sweep *sw = nab_sweep_new(&nab_profiles[p]);
            for (int f = 0; f < FILES; f++)
                nab_sweep_add(sw, N, w[f], nw[f], nab_probation(N), score[f]);
            double theta, best;
            nab_sweep_best(sw, &theta, &best);
            double brute = -INFINITY, brute_theta = 1.1;
            for (int t = 10; t >= 0; t--) {
                double th = t == 10 ? 1.1 : t / 10.0, s = 0;
                for (int f = 0; f < FILES; f++)
                    s += nab_score_file(N, w[f], nw[f], nab_probation(N), score[f], th,
                                        &nab_profiles[p], NULL);
                if (s > brute + 1e-12) {
                    brute = s;
                    brute_theta = th;
                }
            }
            CHECK_NEAR(best, brute, 1e-9);
            CHECK_NEAR(theta, brute_theta, 1e-12);
            nab_sweep_free(sw);
        }
    }
}

/* Null (constant 0.5) scores 0 and a perfect detector 100, every profile. */
static void test_null_and_perfect(const struct nab_corpus *c)
{
    for (int p = 0; p < NAB_PROFILES; p++) {
        struct nab_sweep *null = nab_sweep_new(&nab_profiles[p]);
        struct nab_sweep *perfect = nab_sweep_new(&nab_profiles[p]);
        for (size_t s = 0; s < c->n; s++) {
            const struct nab_series *ser = &c->s[s];
            double *half = malloc(ser->n * sizeof *half), *best = calloc(ser->n, sizeof *best);
            for (size_t i = 0; i < ser->n; i++)
                half[i] = 0.5;
            for (size_t k = 0; k < ser->nw; k++)
                best[ser->w[k].first] = 1.0;
            nab_sweep_add(null, ser->n, ser->w, ser->nw, ser->probation, half);
            nab_sweep_add(perfect, ser->n, ser->w, ser->nw, ser->probation, best);
            free(half);
            free(best);
        }
        double theta, raw;
        nab_sweep_best(null, &theta, &raw);
        CHECK(theta == 1.1);
        CHECK_NEAR(nab_normalise(raw, c->windows, &nab_profiles[p]), 0.0, 1e-9);
        /* the same out of [0,1]: flagging nothing is above every score */
        struct nab_sweep *high = nab_sweep_new(&nab_profiles[p]);
        for (size_t s = 0; s < c->n; s++) {
            const struct nab_series *ser = &c->s[s];
            double *two = malloc(ser->n * sizeof *two);
            for (size_t i = 0; i < ser->n; i++)
                two[i] = 2.0;
            nab_sweep_add(high, ser->n, ser->w, ser->nw, ser->probation, two);
            free(two);
        }
        nab_sweep_best(high, &theta, &raw);
        CHECK(theta > 2.0);
        CHECK_NEAR(nab_normalise(raw, c->windows, &nab_profiles[p]), 0.0, 1e-9);
        nab_sweep_free(high);
        nab_sweep_best(perfect, &theta, &raw);
        CHECK(theta == 1.0);
        CHECK_NEAR(nab_normalise(raw, c->windows, &nab_profiles[p]), 100.0, 1e-9);
        nab_sweep_free(null);
        nab_sweep_free(perfect);
    }
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* A label file that does not match its data, and outputs that do not match
 * their series, are refused with a message. */
static void test_mismatches(void)
{
    char dir[] = "/tmp/weir-nab-XXXXXX", path[256], err[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/labels", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/data", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/data/c", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/data/c/s.csv", dir);
    write_file(path, "timestamp,value\r\n2014-01-01 00:00:00,1\r\n2014-01-01 00:05:00,nan\r\n"
                     "2014-01-01 00:05:00,3\r\n2014-01-01 00:10:00,4\r\n");
    struct nab_corpus c;
    snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
    write_file(path, "{\"c/s.csv\": [[\"2014-01-01 00:05:00.000000\", \"2014-01-01 "
                     "00:10:00.000000\"]]}");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) == 0);
    CHECK(c.n == 1 && c.s[0].n == 4 && c.s[0].nw == 1);
    CHECK(c.n == 1 && c.s[0].w[0].first == 1 && c.s[0].w[0].last == 3); /* first of duplicates */
    CHECK(c.n == 1 && isnan(c.s[0].value[1]));
    if (c.n == 1) {
        double score[4];
        unsigned char alert[4];
        snprintf(path, sizeof path, "%s/out.jsonl", dir);
        /* row 1 dropped by the pipeline: it stays NaN */
        write_file(path, "{\"timestamp\":\"2014-01-01 00:00:00\",\"anomaly_score\":0.1}\n"
                         "{\"timestamp\":\"2014-01-01 00:05:00\",\"anomaly_score\":0.5,"
                         "\"alert\":true}\n"
                         "{\"timestamp\":\"2014-01-01 00:10:00\",\"anomaly_score\":null,"
                         "\"alert\":true,\"explain\":\"incident closed: x\"}\n");
        CHECK(nab_read_output(path, &c.s[0], score, alert, err, sizeof err) == 0);
        CHECK(alert[3] == 0); /* a closing event is not a detection */
        CHECK(score[0] == 0.1f || fabs(score[0] - 0.1) < 1e-12);
        CHECK(score[1] == 0.5 && alert[1] == 1 && alert[0] == 0);
        CHECK(isnan(score[3]));
        write_file(path, "{\"timestamp\":\"2015-01-01 00:00:00\",\"anomaly_score\":0.1}\n");
        CHECK(nab_read_output(path, &c.s[0], score, alert, err, sizeof err) < 0);
        CHECK(strstr(err, "expected a row of the series") != NULL);
        write_file(path, "{\"anomaly_score\":1}\n{\"anomaly_score\":1}\n{\"anomaly_score\":1}\n"
                         "{\"anomaly_score\":1}\n{\"anomaly_score\":1}\n");
        CHECK(nab_read_output(path, &c.s[0], score, alert, err, sizeof err) < 0);
        write_file(path, "");
        CHECK(nab_read_output(path, &c.s[0], score, alert, err, sizeof err) < 0);
        /* without timestamps, a lost line would shift every later score */
        write_file(path, "{\"anomaly_score\":1}\n{\"anomaly_score\":1}\n{\"anomaly_score\":1}\n");
        CHECK(nab_read_output(path, &c.s[0], score, alert, err, sizeof err) < 0);
        CHECK(strstr(err, "expected 4 lines (one per row), got 3") != NULL);
        write_file(path, "not json\n");
        CHECK(nab_read_output(path, &c.s[0], score, alert, err, sizeof err) < 0);
    }
    nab_corpus_free(&c);
    snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
    write_file(path, "{\"c/s.csv\": [[\"2014-01-01 00:07:00.000000\", \"2014-01-01 "
                     "00:10:00.000000\"]]}");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) < 0);
    CHECK(strstr(err, "expected a row at 2014-01-01 00:07:00") != NULL);
    write_file(path, "{\"c/missing.csv\": []}");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) < 0);
    CHECK(strstr(err, "missing.csv: cannot open") != NULL);
    write_file(path, "{\"c/s.csv\": [[\"2014-01-01 00:10:00\", \"2014-01-01 00:00:00\"]]}");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) < 0);
    write_file(path, "[1, 2]");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) < 0);
    /* a window over the probation period's rows only (20 rows: the first 3) */
    snprintf(path, sizeof path, "%s/data/c/s.csv", dir);
    char rows[2048] = "timestamp,value\n";
    for (int i = 0; i < 20; i++)
        snprintf(rows + strlen(rows), sizeof rows - strlen(rows), "2014-01-01 00:%02d:00,%d\n", i,
                 i);
    write_file(path, rows);
    snprintf(path, sizeof path, "%s/labels/combined_windows.json", dir);
    write_file(path, "{\"c/s.csv\": [[\"2014-01-01 00:00:00\", \"2014-01-01 00:02:00\"]]}");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) < 0);
    CHECK(strstr(err, "window 0: expected a window that ends after the probation period (the "
                      "first 3 rows, not scored), got one ending at row 2") != NULL);
    write_file(path, "{\"c/s.csv\": [[\"2014-01-01 00:00:00\", \"2014-01-01 00:03:00\"]]}");
    CHECK(nab_corpus_load(dir, &c, err, sizeof err) == 0);
    nab_corpus_free(&c);
    /* single-row window, a window at the last row: weights stay finite */
    struct nab_window w1[] = {{2, 2}, {5, 5}};
    double A[6];
    int win[6];
    CHECK(nab_row_weights(6, w1, 2, &nab_profiles[0], A, win) == 0);
    for (int i = 0; i < 6; i++)
        CHECK(isfinite(A[i]));
    CHECK(A[3] == -0.11 && win[3] == -1 && win[5] == 1);
    struct nab_window overlap[] = {{2, 4}, {4, 5}};
    CHECK(nab_row_weights(6, overlap, 2, &nab_profiles[0], A, win) < 0);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    if (access(NAB_DIR "/scoring_test_vectors.json", R_OK) != 0) {
        printf("skipped: %s absent\n", NAB_DIR);
        return 77;
    }
    test_vectors();
    test_sweep_brute_force();
    test_mismatches();
    struct nab_corpus c;
    char err[512];
    int rc = nab_corpus_load(NAB_DIR, &c, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(c.n == 41 && c.windows == 64);
        test_corpus_matches_manifest(&c);
        test_windowed_gaussian(&c);
        test_null_and_perfect(&c);
        nab_corpus_free(&c);
    }
    return check_summary();
}
