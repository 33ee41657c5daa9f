/* bench_fraud_eval: scores a fraud pipeline's output with the Fraud
 * Detection Handbook's protocol (../shared/data/fraud/fdh/README.md).
 *
 *   bench_fraud_eval SCORED.jsonl DATA_DIR [--test-start 2018-08-08] [--days 7]
 *                    [--delay 7] [--known-from TEST_START - DELAY - 7 days] [--k 100]
 *                    [--name NAME] [--json FILE] [--pr-svg FILE]
 *
 * SCORED.jsonl has one line per transaction with TRANSACTION_ID and
 * fraud_score (other fields are ignored; the labels are never read from
 * it). The labels come from DATA_DIR/daily/YYYY-MM-DD.csv.gz. On each test
 * day D, transactions of customers with a fraud already known, in
 * [known-from, D - delay days), are removed (known-from: by default the
 * start of the handbook's training week, 7 days before the delay; for the
 * default test week 2018-07-25). Reports AUC ROC, average
 * precision and card precision@k (bench/fraud/fraud_metrics.c) over the
 * remaining transactions; test transactions the file does not score rank
 * lowest and are counted as "unscored". One JSON summary on the last line. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/fraud/fraud_metrics.h"

struct tx {
    int64_t customer;
    int32_t day; /* days since the epoch */
    unsigned char fraud, scored;
    double score;
};

struct labels {
    struct tx *tx; /* indexed by TRANSACTION_ID - first_id */
    int64_t first_id, n, cap;
};

static int32_t day_of(const char *ymd)
{
    struct tm tm = {0};
    if (sscanf(ymd, "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
        return INT32_MIN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int32_t)(timegm(&tm) / 86400);
}

static void ymd_of(int32_t day, char *buf, size_t size)
{
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%d", &tm);
}

/* Reads one day's labels; a missing day is an error. */
static int read_day(struct labels *L, const char *dir, int32_t day)
{
    char ymd[16], cmd[4200], line[512];
    ymd_of(day, ymd, sizeof ymd);
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/daily/%s.csv.gz' 2>/dev/null", dir, ymd);
    FILE *f = popen(cmd, "r");
    if (!f)
        return -1;
    size_t rows = 0;
    while (fgets(line, sizeof line, f)) {
        long long id, cust;
        char date[11];
        int fraud;
        /* TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,s,d,TX_FRAUD,... */
        if (sscanf(line, "%lld,%10s %*8s,%lld,%*[^,],%*[^,],%*[^,],%*[^,],%d", &id, date, &cust,
                   &fraud) != 4)
            continue; /* the header */
        if (L->n == 0)
            L->first_id = id;
        int64_t at = id - L->first_id;
        if (at < 0)
            continue;
        if (at >= L->cap) {
            int64_t cap = L->cap ? L->cap : 65536;
            while (cap <= at)
                cap *= 2;
            struct tx *t = realloc(L->tx, (size_t)cap * sizeof *t);
            if (!t)
                break;
            memset(t + L->cap, 0, (size_t)(cap - L->cap) * sizeof *t);
            L->tx = t;
            L->cap = cap;
        }
        L->tx[at] = (struct tx){cust, day_of(date), (unsigned char)(fraud != 0), 0, NAN};
        L->n = at + 1 > L->n ? at + 1 : L->n;
        rows++;
    }
    int rc = pclose(f);
    if (rc != 0 || rows == 0) {
        fprintf(stderr, "bench_fraud_eval: %s/daily/%s.csv.gz: cannot read it\n", dir, ymd);
        return -1;
    }
    return 0;
}

static long read_scores(struct labels *L, const char *path, long *unknown)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    while (getline(&line, &cap, f) >= 0) {
        json_t *o = json_loads(line, 0, NULL);
        json_t *id = json_object_get(o, "TRANSACTION_ID"), *sc = json_object_get(o, "fraud_score");
        int64_t at = json_is_integer(id) ? json_integer_value(id) - L->first_id : -1;
        if (at >= 0 && at < L->n && L->tx[at].day) {
            if (json_is_number(sc)) { /* a null score (NaN) leaves it unscored: ranked last */
                L->tx[at].score = json_number_value(sc);
                L->tx[at].scored = 1;
                n++;
            }
        } else if (o) {
            (*unknown)++;
        }
        json_decref(o);
    }
    free(line);
    if (f != stdin)
        fclose(f);
    return n;
}

/* A PR curve as an SVG: recall across, precision up. */
static void write_pr_svg(const char *path, const double *p, const double *r, size_t m,
                         const char *title)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"480\" height=\"420\" "
            "font-family=\"sans-serif\" font-size=\"11\"><rect width=\"100%%\" height=\"100%%\" "
            "fill=\"white\"/><text x=\"40\" y=\"16\">%s</text>"
            "<rect x=\"40\" y=\"30\" width=\"400\" height=\"340\" fill=\"none\" stroke=\"#888\"/>"
            "<text x=\"220\" y=\"400\">recall</text><text x=\"2\" y=\"200\">precision</text>"
            "<path fill=\"none\" stroke=\"#1f5fbf\" d=\"",
            title);
    size_t step = m > 2000 ? m / 2000 : 1;
    for (size_t k = 0; k < m; k = k + 1 < m && k + step >= m ? m - 1 : k + step) /* the last too */
        fprintf(f, "%c%.1f %.1f ", k ? 'L' : 'M', 40 + 400 * r[k], 370 - 340 * p[k]);
    fprintf(f, "\"/></svg>\n");
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *scored = NULL, *dir = NULL, *name = "pipeline", *json_path = NULL, *svg = NULL;
    const char *start = "2018-08-08", *known_from = NULL;
    int days = 7, delay = 7, k = 100;
    for (int i = 1; i < argc; i++) {
        int more = i + 1 < argc;
        if (more && !strcmp(argv[i], "--test-start"))
            start = argv[++i];
        else if (more && !strcmp(argv[i], "--known-from"))
            known_from = argv[++i];
        else if (more && !strcmp(argv[i], "--days"))
            days = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--delay"))
            delay = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--k"))
            k = atoi(argv[++i]);
        else if (more && !strcmp(argv[i], "--name"))
            name = argv[++i];
        else if (more && !strcmp(argv[i], "--json"))
            json_path = argv[++i];
        else if (more && !strcmp(argv[i], "--pr-svg"))
            svg = argv[++i];
        else if (!scored)
            scored = argv[i];
        else if (!dir)
            dir = argv[i];
        else
            scored = NULL, i = argc;
    }
    int32_t d0 = day_of(start), dk = known_from                     ? day_of(known_from)
                                     : d0 == INT32_MIN || delay < 0 ? INT32_MIN
                                                                    : d0 - delay - 7;
    if (!scored || !dir || d0 == INT32_MIN || dk == INT32_MIN || dk > d0 || days < 1 || k < 1 ||
        delay < 0) {
        fprintf(stderr, "usage: bench_fraud_eval SCORED.jsonl DATA_DIR [--test-start YYYY-MM-DD] "
                        "[--days N] [--delay N] [--known-from YYYY-MM-DD] [--k N] [--name NAME] "
                        "[--json FILE] [--pr-svg FILE]\n");
        return 2;
    }
    struct labels L = {0};
    for (int32_t d = dk; d < d0 + days; d++)
        if (read_day(&L, dir, d) < 0)
            return 1;
    long unknown = 0, got = read_scores(&L, scored, &unknown);
    if (got < 0) {
        fprintf(stderr, "bench_fraud_eval: %s: cannot open\n", scored);
        return 1;
    }
    /* each customer's first fraud from known_from on: known on day D when it
     * fell before D - delay (labels arrive delay days late) */
    int64_t max_customer = 0;
    for (int64_t i = 0; i < L.n; i++)
        if (L.tx[i].day && L.tx[i].customer > max_customer)
            max_customer = L.tx[i].customer;
    int32_t *first_fraud = malloc((size_t)(max_customer + 1) * sizeof *first_fraud);
    for (int64_t c = 0; first_fraud && c <= max_customer; c++)
        first_fraud[c] = INT32_MAX;
    for (int64_t i = 0; first_fraud && i < L.n; i++) {
        const struct tx *t = &L.tx[i];
        if (t->day && t->fraud && t->customer >= 0 && t->day < first_fraud[t->customer])
            first_fraud[t->customer] = t->day;
    }
    size_t n = 0, frauds = 0, unscored = 0, removed = 0;
    size_t rows = L.n > 0 ? (size_t)L.n : 1;
    double *score = malloc(rows * sizeof *score);
    unsigned char *label = malloc(rows);
    int64_t *card = malloc(rows * sizeof *card);
    int32_t *day = malloc(rows * sizeof *day);
    for (int64_t i = 0; i < L.n; i++) {
        const struct tx *t = &L.tx[i];
        if (!t->day || t->day < d0 || t->day >= d0 + days)
            continue;
        if (!score || !label || !card || !day || !first_fraud) {
            fprintf(stderr, "bench_fraud_eval: out of memory\n");
            return 1;
        }
        if (t->customer >= 0 && first_fraud[t->customer] < t->day - delay) {
            removed++;
            continue;
        }
        score[n] = t->scored ? t->score : NAN;
        unscored += !t->scored;
        label[n] = t->fraud;
        frauds += t->fraud;
        card[n] = t->customer;
        day[n] = t->day;
        n++;
    }
    double auc = fraud_auc(score, label, n), ap = fraud_ap(score, label, n);
    double cp = fraud_card_precision(score, label, card, day, n, (size_t)k);
    printf("%-12s %10s %8s %10s %9s %8s %8s %8s\n", "pipeline", "test tx", "frauds", "removed",
           "unscored", "AUC ROC", "AP", "CP@k");
    printf("%-12s %10zu %8zu %10zu %9zu %8.4f %8.4f %8.4f\n", name, n, frauds, removed, unscored,
           auc, ap, cp);
    if (svg) {
        size_t m = fraud_pr_curve(score, label, n, NULL, NULL, 0);
        double *p = malloc((m + 1) * sizeof *p), *r = malloc((m + 1) * sizeof *r);
        if (p && r) {
            fraud_pr_curve(score, label, n, p, r, m);
            char title[256];
            snprintf(title, sizeof title, "%s: PR curve, AP %.4f, test from %s", name, ap, start);
            write_pr_svg(svg, p, r, m, title);
        }
        free(p);
        free(r);
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:i, s:f}",
                          "bench", "fraud", "pipeline", name, "test_start", start, "days", days,
                          "delay", delay, "test_transactions", (json_int_t)n, "frauds",
                          (json_int_t)frauds, "removed_known_customers", (json_int_t)removed,
                          "unscored", (json_int_t)unscored, "unknown_ids", (json_int_t)unknown,
                          "auc_roc", isnan(auc) ? -1 : auc, "average_precision",
                          isnan(ap) ? -1 : ap, "k", k, "card_precision_at_k", isnan(cp) ? -1 : cp);
    if (json_path && json_dump_file(o, json_path, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) < 0)
        fprintf(stderr, "bench_fraud_eval: cannot write %s\n", json_path);
    char *line = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", line);
    free(line);
    json_decref(o);
    free(score);
    free(label);
    free(card);
    free(day);
    free(first_fraud);
    free(L.tx);
    return 0;
}
