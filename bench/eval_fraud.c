/* Fraud detection quality on the Fraud Detection Handbook's stream, by the
 * handbook's protocol (../shared/data/fraud/fdh/README.md): the scored
 * transactions of the test days, less those of customers with a fraud already
 * known on each day, ranked by score: AUC ROC, average precision, card
 * precision@100 (each day the 100 cards with the highest score, a card's
 * score being its highest that day, less cards found compromised on earlier
 * test days), and a precision-recall curve as SVG.
 *
 *   eval_fraud SCORED.jsonl DAILY_DIR [--score NAME] [--train-start YYYY-MM-DD]
 *              [--test-start YYYY-MM-DD] [--test-days N] [--delay-days N]
 *              [--svg FILE] [--json FILE]
 *   eval_fraud --pairs FILE     (lines "score label": AUC and AP only; tests)
 *
 * SCORED.jsonl holds one line per transaction with TRANSACTION_ID and the
 * score; the labels, customers and days come from the daily CSV files, joined
 * by TRANSACTION_ID, so a pipeline never has to carry labels to its output.
 * The last line printed is one JSON object. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "bench/eval_metrics.h"

struct tx {
    int32_t customer;
    int32_t day;      /* days since 1970-01-01 (UTC) */
    int8_t fraud;
    int8_t scored;
    float score;
};

struct txs {
    struct tx *v;
    size_t n, cap;
};

static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int parse_day(const char *s, int32_t *day)
{
    int y, m, d;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return -1;
    *day = (int32_t)days_from_civil(y, m, d);
    return 0;
}

static struct tx *tx_at(struct txs *t, size_t id)
{
    if (id >= t->cap) {
        size_t cap = t->cap ? t->cap : 1 << 20;
        while (cap <= id)
            cap *= 2;
        struct tx *v = realloc(t->v, cap * sizeof *v);
        if (!v)
            return NULL;
        memset(v + t->cap, 0, (cap - t->cap) * sizeof *v);
        for (size_t i = t->cap; i < cap; i++)
            v[i].customer = -1;
        t->v = v;
        t->cap = cap;
    }
    if (id >= t->n)
        t->n = id + 1;
    return &t->v[id];
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One daily file: TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,...,TX_FRAUD,... by header. */
static int read_daily(struct txs *t, const char *path)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return fprintf(stderr, "eval_fraud: cannot open %s\n", path), -1;
    char line[4096];
    int col_id = -1, col_dt = -1, col_cust = -1, col_fraud = -1, rc = 0;
    if (gzgets(f, line, sizeof line)) {
        int c = 0;
        for (char *p = strtok(line, ",\r\n"); p; p = strtok(NULL, ",\r\n"), c++) {
            if (!strcmp(p, "TRANSACTION_ID")) col_id = c;
            else if (!strcmp(p, "TX_DATETIME")) col_dt = c;
            else if (!strcmp(p, "CUSTOMER_ID")) col_cust = c;
            else if (!strcmp(p, "TX_FRAUD")) col_fraud = c;
        }
    }
    if (col_id < 0 || col_dt < 0 || col_cust < 0 || col_fraud < 0) {
        gzclose(f);
        return fprintf(stderr, "eval_fraud: %s: expected columns TRANSACTION_ID, TX_DATETIME, "
                               "CUSTOMER_ID, TX_FRAUD\n", path), -1;
    }
    while (rc == 0 && gzgets(f, line, sizeof line)) {
        long id = -1, cust = -1, fraud = -1;
        int32_t day = 0;
        int c = 0, ok_day = 0;
        for (char *p = strtok(line, ",\r\n"); p; p = strtok(NULL, ",\r\n"), c++) {
            if (c == col_id) id = strtol(p, NULL, 10);
            else if (c == col_cust) cust = strtol(p, NULL, 10);
            else if (c == col_fraud) fraud = strtol(p, NULL, 10);
            else if (c == col_dt) ok_day = parse_day(p, &day) == 0;
        }
        struct tx *x = id >= 0 && cust >= 0 && ok_day ? tx_at(t, (size_t)id) : NULL;
        if (!x) {
            fprintf(stderr, "eval_fraud: %s: bad row or out of memory\n", path);
            rc = -1;
            break;
        }
        x->customer = (int32_t)cust;
        x->day = day;
        x->fraud = fraud > 0;
    }
    gzclose(f);
    return rc;
}

static int read_labels(struct txs *t, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return fprintf(stderr, "eval_fraud: cannot open %s: %s\n", dir, strerror(errno)), -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 7 && !strcmp(e->d_name + l - 7, ".csv.gz")) {
            names = realloc(names, (n + 1) * sizeof *names);
            names[n++] = strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    int rc = n ? 0 : -1;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (rc == 0)
            rc = read_daily(t, path);
        free(names[i]);
    }
    free(names);
    if (n == 0)
        fprintf(stderr, "eval_fraud: no *.csv.gz files in %s\n", dir);
    return rc;
}

/* The number after "name": in a JSON line (outputs are flat objects). */
static int json_number(const char *line, const char *key, double *v)
{
    const char *p = strstr(line, key);
    if (!p)
        return -1;
    p += strlen(key);
    char *end;
    *v = strtod(p, &end);
    return end == p ? -1 : 0;
}

static int read_scores(struct txs *t, const char *path, const char *score)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fprintf(stderr, "eval_fraud: cannot open %s: %s\n", path, strerror(errno)), -1;
    char key[256];
    snprintf(key, sizeof key, "\"%s\":", score);
    size_t cap = 1 << 16, bad = 0;
    char *line = malloc(cap);
    while (line && fgets(line, (int)cap, f)) {
        double id, s;
        if (json_number(line, "\"TRANSACTION_ID\":", &id) < 0 || json_number(line, key, &s) < 0 ||
            id < 0 || (size_t)id >= t->n || t->v[(size_t)id].customer < 0) {
            bad++;
            continue;
        }
        t->v[(size_t)id].score = (float)s;
        t->v[(size_t)id].scored = 1;
    }
    free(line);
    fclose(f);
    if (bad)
        fprintf(stderr, "eval_fraud: %zu lines of %s without TRANSACTION_ID and %s, or an unknown id\n",
                bad, path, score);
    return 0;
}

struct protocol {
    int32_t train_start, test_start;
    int test_days, delay_days, top_k;
};

struct card {
    double score; /* its highest score of the day */
    int customer;
};

/* Highest score first; ties by customer id, so that runs agree. */
static int cmp_card(const void *a, const void *b)
{
    const struct card *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->customer - y->customer;
}

/* Card precision@k of one day: cards ranked by their highest score; found
 * (compromised cards in the top k) are added to *found. */
static double card_precision_day(const struct txs *t, const struct protocol *pr, int32_t day,
                                 const unsigned char *known, unsigned char *found, size_t ncust)
{
    struct card *cards = calloc(ncust, sizeof *cards);
    double *best = malloc(ncust * sizeof *best);
    unsigned char *fraud = calloc(ncust, 1), *seen = calloc(ncust, 1);
    double cp = 0;
    for (size_t c = 0; c < ncust && best; c++)
        best[c] = -HUGE_VAL;
    for (size_t i = 0; i < t->n && cards && best && fraud && seen; i++) {
        const struct tx *x = &t->v[i];
        if (x->customer < 0 || x->day != day || known[x->customer] || found[x->customer])
            continue;
        double s = x->scored ? x->score : -HUGE_VAL;
        seen[x->customer] = 1;
        if (s > best[x->customer])
            best[x->customer] = s;
        fraud[x->customer] |= (unsigned char)x->fraud;
    }
    size_t m = 0;
    for (size_t c = 0; c < ncust && cards && best && fraud && seen; c++)
        if (seen[c])
            cards[m++] = (struct card){best[c], (int)c};
    if (cards) {
        qsort(cards, m, sizeof *cards, cmp_card);
        size_t k = m < (size_t)pr->top_k ? m : (size_t)pr->top_k;
        for (size_t j = 0; j < k; j++)
            if (fraud[cards[j].customer]) {
                cp += 1;
                found[cards[j].customer] = 1;
            }
        cp /= pr->top_k;
    }
    free(cards);
    free(best);
    free(fraud);
    free(seen);
    return cp;
}

static int evaluate(struct txs *t, const struct protocol *pr, const char *svg, const char *json)
{
    size_t ncust = 0, n = 0, frauds = 0, unscored = 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].customer >= 0 && (size_t)t->v[i].customer + 1 > ncust)
            ncust = (size_t)t->v[i].customer + 1;
    unsigned char *known = calloc(ncust, 1), *found = calloc(ncust, 1);
    struct eval_scored *v = malloc((t->n + 1) * sizeof *v);
    if (!known || !found || !v)
        return fprintf(stderr, "eval_fraud: out of memory\n"), -1;
    double cp_sum = 0;
    for (int k = 0; k < pr->test_days; k++) {
        int32_t day = pr->test_start + k;
        /* frauds known on this day: those in [train_start, day - delay) */
        for (size_t i = 0; i < t->n; i++) {
            const struct tx *x = &t->v[i];
            if (x->customer >= 0 && x->fraud && x->day >= pr->train_start && x->day < day - pr->delay_days)
                known[x->customer] = 1;
        }
        for (size_t i = 0; i < t->n; i++) {
            const struct tx *x = &t->v[i];
            if (x->customer < 0 || x->day != day || known[x->customer])
                continue;
            v[n++] = (struct eval_scored){x->scored ? x->score : -HUGE_VAL, x->fraud};
            frauds += x->fraud != 0;
            unscored += !x->scored;
        }
        cp_sum += card_precision_day(t, pr, day, known, found, ncust);
    }
    eval_sort(v, n);
    double auc = eval_auc_roc(v, n), ap = eval_average_precision(v, n), cp = cp_sum / pr->test_days;
    printf("%-28s %10s\n", "metric", "value");
    printf("%-28s %10zu\n%-28s %10zu\n%-28s %10zu\n", "test transactions", n, "test frauds", frauds,
           "unscored (ranked last)", unscored);
    printf("%-28s %10.4f\n%-28s %10.4f\n%-28s %10.4f\n", "AUC ROC", auc, "average precision", ap,
           "card precision@100", cp);
    if (svg) {
        FILE *f = fopen(svg, "w");
        if (f) {
            char title[160];
            snprintf(title, sizeof title, "precision-recall, %zu transactions, AP %.3f", n, ap);
            eval_pr_svg(f, v, n, title);
            fclose(f);
        }
    }
    char out[512];
    snprintf(out, sizeof out,
             "{\"test_transactions\": %zu, \"test_frauds\": %zu, \"unscored\": %zu, \"auc_roc\": %.6f, "
             "\"average_precision\": %.6f, \"card_precision_at_100\": %.6f}",
             n, frauds, unscored, auc, ap, cp);
    if (json) {
        FILE *f = fopen(json, "w");
        if (f) {
            fprintf(f, "%s\n", out);
            fclose(f);
        }
    }
    printf("%s\n", out);
    free(known);
    free(found);
    free(v);
    return 0;
}

/* "score label" lines: AUC and AP alone, for the metric tests. */
static int pairs(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fprintf(stderr, "eval_fraud: cannot open %s\n", path), 2;
    size_t n = 0, cap = 1024;
    struct eval_scored *v = malloc(cap * sizeof *v);
    double s;
    int l;
    while (v && fscanf(f, "%lf %d", &s, &l) == 2) {
        if (n == cap && !(v = realloc(v, (cap *= 2) * sizeof *v)))
            break;
        v[n++] = (struct eval_scored){s, l};
    }
    fclose(f);
    if (!v)
        return 2;
    eval_sort(v, n);
    printf("{\"n\": %zu, \"auc_roc\": %.10f, \"average_precision\": %.10f}\n", n, eval_auc_roc(v, n),
           eval_average_precision(v, n));
    free(v);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: eval_fraud SCORED.jsonl DAILY_DIR [--score NAME] [--train-start DAY] "
                    "[--test-start DAY] [--test-days N] [--delay-days N] [--svg FILE] [--json FILE]\n"
                    "       eval_fraud --pairs FILE\n");
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--pairs"))
        return pairs(argv[2]);
    if (argc < 3)
        return usage(), 2;
    const char *score = "fraud_score", *svg = NULL, *json = NULL;
    struct protocol pr = {0, 0, 7, 7, 100};
    parse_day("2018-07-25", &pr.train_start);
    parse_day("2018-08-08", &pr.test_start);
    for (int i = 3; i + 1 < argc; i += 2) {
        const char *o = argv[i], *a = argv[i + 1];
        int bad = 0;
        if (!strcmp(o, "--score")) score = a;
        else if (!strcmp(o, "--svg")) svg = a;
        else if (!strcmp(o, "--json")) json = a;
        else if (!strcmp(o, "--train-start")) bad = parse_day(a, &pr.train_start);
        else if (!strcmp(o, "--test-start")) bad = parse_day(a, &pr.test_start);
        else if (!strcmp(o, "--test-days")) pr.test_days = atoi(a);
        else if (!strcmp(o, "--delay-days")) pr.delay_days = atoi(a);
        else bad = 1;
        if (bad || pr.test_days < 1 || pr.delay_days < 0)
            return fprintf(stderr, "eval_fraud: bad option %s %s\n", o, a), usage(), 2;
    }
    struct txs t = {0};
    if (read_labels(&t, argv[2]) < 0 || read_scores(&t, argv[1], score) < 0)
        return 1;
    int rc = evaluate(&t, &pr, svg, json);
    free(t.v);
    return rc < 0 ? 1 : 0;
}
