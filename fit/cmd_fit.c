/* weir fit: trains a model the `model` operator serves from a feature CSV
 * (`weir features`' format) or straight from a pipeline (which runs `weir
 * features` first). fit/README.md says what lives where. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/fraud/fraud_metrics.h"
#include "connectors/connector.h"
#include "engine/features.h"
#include "engine/override.h"
#include "fit/dataset.h"
#include "fit/dense.h"
#include "fit/iforest.h"
#include "fit/part_file.h"
#include "fit/xgb.h"
#include "operators/scorer_explain.h"

enum fit_type { TYPE_LOGISTIC, TYPE_MLP, TYPE_AUTOENCODER, TYPE_XGBOOST, TYPE_IFOREST };
static const char *const type_name[] = {"logistic", "mlp", "autoencoder", "xgboost", "iforest"};

struct fit_cli {
    const char *input, *out, *label, *features, *scores, *hidden, *class_weight;
    int type, act, sgd, progress, quiet;
    double valid, lr;
    uint64_t seed;
    size_t epochs, patience, batch, rounds, depth, threads, trees, sample;
    double eta;
    struct weir_override sets[64];
    size_t nsets;
    int64_t until_ms;
};

/* ---- arguments ------------------------------------------------------------ */

static int parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || end == s || v < lo || v > hi)
        return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_real(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || end == s || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int pick(const char *s, const char *const *names, int n)
{
    for (int k = 0; k < n; k++)
        if (strcmp(s, names[k]) == 0)
            return k;
    return -1;
}

static int bad(const char *opt, const char *want, const char *got)
{
    fprintf(stderr, "weir: fit: %s expects %s, got \"%s\"\n", opt, want, got);
    return -1;
}

static int parse_value(struct fit_cli *c, const char *a, const char *v)
{
    static const char *const acts[] = {"none", "relu", "tanh"}, *const opts[] = {"adam", "sgd"};
    size_t sz;
    if (strcmp(a, "--type") == 0)
        return (c->type = pick(v, type_name, 5)) < 0 ? bad(a, "logistic, mlp, autoencoder, "
                                                       "xgboost or iforest", v) : 0;
    if (strcmp(a, "--activation") == 0)
        return (c->act = pick(v, acts + 1, 2) + 1) < 1 ? bad(a, "relu or tanh", v) : 0;
    if (strcmp(a, "--optimizer") == 0)
        return (c->sgd = pick(v, opts, 2)) < 0 ? bad(a, "adam or sgd", v) : 0;
    if (strcmp(a, "--valid") == 0)
        return parse_real(v, 0, 0.9, &c->valid) < 0 ? bad(a, "a fraction from 0 to 0.9", v) : 0;
    if (strcmp(a, "--lr") == 0)
        return parse_real(v, 1e-9, 10, &c->lr) < 0 ? bad(a, "a learning rate > 0", v) : 0;
    if (strcmp(a, "--eta") == 0)
        return parse_real(v, 1e-6, 1, &c->eta) < 0 ? bad(a, "a number from 1e-6 to 1", v) : 0;
    if (strcmp(a, "--seed") == 0)
        return parse_size(v, 0, SIZE_MAX, &sz) < 0 ? bad(a, "a number", v) : (c->seed = sz, 0);
    if (strcmp(a, "--until") == 0)
        return weir_features_parse_time(v, &c->until_ms) < 0
                   ? bad(a, "YYYY-MM-DD[THH:MM:SS] (UTC) or epoch ms", v) : 0;
    struct { const char *name; size_t *at, lo, hi; } sizes[] = {
        {"--epochs", &c->epochs, 1, 100000},  {"--patience", &c->patience, 1, 100000},
        {"--batch", &c->batch, 1, 1 << 20},   {"--rounds", &c->rounds, 1, 100000},
        {"--depth", &c->depth, 1, 16},        {"--threads", &c->threads, 1, 256},
        {"--trees", &c->trees, 1, 1024},      {"--sample", &c->sample, 2, 4096}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        if (strcmp(a, sizes[k].name) == 0)
            return parse_size(v, sizes[k].lo, sizes[k].hi, sizes[k].at) < 0
                       ? bad(a, "a whole number in range", v) : 0;
    struct { const char *name, **at; } strs[] = {
        {"--out", &c->out},           {"--label", &c->label},   {"--features", &c->features},
        {"--scores", &c->scores},     {"--hidden", &c->hidden},
        {"--class-weight", &c->class_weight}};
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++)
        if (strcmp(a, strs[k].name) == 0) {
            *strs[k].at = v;
            return 0;
        }
    if (strcmp(a, "--set") == 0) {
        char *copy = (char *)v; /* argv: ours to split */
        if (c->nsets == 64 || weir_override_parse(copy, &c->sets[c->nsets++]) < 0)
            return bad(a, "PATH=VALUE", v);
        return 0;
    }
    return 1; /* not an option with a value */
}

static int is_pipeline(const char *path)
{
    size_t n = strlen(path);
    return n > 5 && strcmp(path + n - 5, ".json") == 0;
}

/* Options that only some types use: given to another, they would change
 * nothing, and the user would believe they did. */
static int type_options(int argc, char **argv, int type)
{
    enum { LOG = 1 << TYPE_LOGISTIC, MLP = 1 << TYPE_MLP, AE = 1 << TYPE_AUTOENCODER,
           XGB = 1 << TYPE_XGBOOST, IF = 1 << TYPE_IFOREST };
    static const struct { const char *name; int types; } only[] = {
        {"--hidden", LOG | MLP | AE}, /* logistic: refused with its own reason (layer_dims) */
        {"--activation", MLP | AE},   {"--epochs", LOG | MLP | AE}, {"--batch", LOG | MLP | AE},
        {"--lr", LOG | MLP | AE},     {"--optimizer", LOG | MLP | AE},
        {"--patience", LOG | MLP | AE | XGB},                       {"--class-weight", LOG | MLP | XGB},
        {"--rounds", XGB},            {"--depth", XGB},             {"--eta", XGB},
        {"--threads", XGB},           {"--trees", IF},              {"--sample", IF}};
    for (int i = 2; i < argc; i++)
        for (size_t k = 0; k < sizeof only / sizeof only[0]; k++)
            if (strcmp(argv[i], only[k].name) == 0 && !(only[k].types & (1 << type))) {
                fprintf(stderr, "weir: fit: %s does nothing with --type %s; try: weir help fit\n",
                        argv[i], type_name[type]);
                return -1;
            }
    return 0;
}

static int parse_args(int argc, char **argv, struct fit_cli *c)
{
    *c = (struct fit_cli){.type = -1, .valid = 0.2, .seed = 1, .progress = -1, .act = 0,
                          .until_ms = INT64_MAX};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--progress") == 0) {
            c->progress = 1;
            continue;
        }
        if (strcmp(a, "--quiet") == 0) {
            c->quiet = 1;
            continue;
        }
        if (a[0] == '-' && a[1] == '-' && i + 1 < argc) {
            int rc = parse_value(c, a, argv[i + 1]);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                i++;
                continue;
            }
        }
        if (!c->input && a[0] != '-') {
            c->input = a;
            continue;
        }
        fprintf(stderr, "weir: fit: unexpected argument \"%s\"; try: weir help fit\n", a);
        return -1;
    }
    if (!c->input || !c->out || c->type < 0) {
        fprintf(stderr, "weir: fit needs INPUT, --type and --out; try: weir help fit\n");
        return -1;
    }
    if (c->type != TYPE_AUTOENCODER && c->type != TYPE_IFOREST && !c->label) {
        fprintf(stderr, "weir: fit: --type %s needs --label\n", type_name[c->type]);
        return -1;
    }
    double w;
    if (c->class_weight && strcmp(c->class_weight, "balanced") != 0 &&
        strcmp(c->class_weight, "none") != 0 && parse_real(c->class_weight, 1e-6, 1e6, &w) < 0)
        return bad("--class-weight", "balanced, none or the positive class's weight",
                   c->class_weight); /* before the data is read: it may take minutes */
    if (c->type == TYPE_XGBOOST && c->seed > 0x7fffffff) { /* XGBoost's seed is an int */
        fprintf(stderr, "weir: fit: --type xgboost: --seed must be at most 2147483647, got %llu\n",
                (unsigned long long)c->seed);
        return -1;
    }
    size_t n = strlen(c->out);
    if (c->type == TYPE_XGBOOST && (n < 6 || strcmp(c->out + n - 5, ".json") != 0)) {
        /* XGBoost picks its format by the name: another would be UBJSON or
         * its old binary, which the model operator does not read */
        fprintf(stderr,
                "weir: fit: --type xgboost writes XGBoost's JSON model: --out must end "
                "in .json, got \"%s\"\n",
                c->out);
        return -1;
    }
    if (!is_pipeline(c->input) && (c->nsets || c->until_ms != INT64_MAX)) {
        fprintf(stderr, "weir: fit: --until and --set apply to a pipeline (PIPELINE.json), whose "
                "features weir computes; %s is read as it is (write it with weir features "
                "--until)\n", c->input);
        return -1;
    }
    if (c->patience && c->valid == 0) {
        fprintf(stderr, "weir: fit: --patience stops on the validation loss, and --valid 0 "
                        "leaves no validation rows\n");
        return -1;
    }
    return type_options(argc, argv, c->type);
}

/* ---- the data ------------------------------------------------------------- */

/* INPUT is a pipeline: its features go to a temporary CSV first. */
static int features_of_pipeline(const struct fit_cli *c, char *tmp, size_t len)
{
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(tmp, len, "%s/weir-fit-features.XXXXXX", dir);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "weir: fit: %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    close(fd);
    struct weir_features_opts fo = {.pipeline = c->input, .sets = c->sets, .nsets = c->nsets,
                                    .features = c->features, .until_ms = c->until_ms,
                                    .out = tmp, .quiet = c->quiet,
                                    .scorer = c->type == TYPE_IFOREST ? "iforest" : "model"};
    if (c->label)
        fo.labels[fo.nlabels++] = c->label;
    struct weir_features_result res;
    struct weir_error err = {0};
    if (weir_features_write(&fo, &res, &err) < 0) {
        fprintf(stderr, "weir: fit: %s\n", err.msg);
        return -1;
    }
    if (!c->quiet)
        fprintf(stderr, "weir: fit: %llu rows of %zu features from %s\n",
                (unsigned long long)res.rows, res.nfeatures, c->input);
    return 0;
}

/* ---- metrics and reports -------------------------------------------------- */

struct split {
    size_t *idx, ntrain, nvalid;
};

static void metrics(const struct fit_data *d, const size_t *idx, size_t n, const float *pred,
                    double *auc, double *ap)
{
    *auc = *ap = NAN;
    if (!d->y || n == 0)
        return;
    double *s = malloc(n * sizeof *s);
    unsigned char *l = malloc(n);
    if (s && l) {
        size_t m = 0; /* rows with a label (an iforest keeps the others) */
        for (size_t r = 0; r < n; r++) {
            if (isnan(d->y[idx[r]]))
                continue;
            s[m] = pred[idx[r]];
            l[m++] = d->y[idx[r]] >= 0.5f;
        }
        if (m) {
            *auc = fraud_auc(s, l, m);
            *ap = fraud_ap(s, l, m);
        }
    }
    free(s);
    free(l);
}

static void report_line(const char *what, double loss, double auc, double ap)
{
    if (isnan(loss) && isnan(auc))
        return; /* nothing to say: an isolation forest without labels */
    printf("%-11s", what);
    if (!isnan(loss))
        printf(" loss %.6f", loss);
    if (!isnan(auc))
        printf("  auc %.6f  ap %.6f", auc, ap);
    printf("\n");
}

static int write_scores(const char *path, const struct fit_data *d, const struct split *s,
                        const float *pred)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "weir: fit: %s: %s\n", path, strerror(errno));
        return -1;
    }
    unsigned char *valid = calloc(d->n ? d->n : 1, 1);
    for (size_t r = s->ntrain; valid && r < d->n; r++)
        valid[s->idx[r]] = 1;
    fprintf(f, "set,score\n");
    /* a line per data row, in the file's order: a row left out for want of
     * a label says so, so that the lines stay beside their rows */
    size_t k = 0;
    for (size_t r = 0; r < d->n; r++) {
        for (; k < d->dropped && d->dropped_line && d->line && d->dropped_line[k] < d->line[r]; k++)
            fprintf(f, "unlabelled,\n");
        fprintf(f, "%s,%.9g\n", valid && valid[r] ? "valid" : "train", pred[r]);
    }
    for (; k < d->dropped && d->dropped_line; k++)
        fprintf(f, "unlabelled,\n");
    free(valid);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        fprintf(stderr, "weir: fit: %s: cannot write it\n", path);
        return -1;
    }
    return 0;
}

/* ---- training --------------------------------------------------------------- */

static int class_weights(const struct fit_cli *c, const struct fit_data *d, const struct split *s,
                         double *pos, double *neg)
{
    size_t npos = 0;
    for (size_t r = 0; r < s->ntrain; r++)
        npos += d->y[s->idx[r]] >= 0.5f;
    size_t nneg = s->ntrain - npos;
    *pos = *neg = 1;
    if (npos == 0 || nneg == 0) {
        fprintf(stderr, "weir: fit: the training rows hold %s: a classifier needs both classes\n",
                npos ? "only positives" : "no positive label");
        return -1;
    }
    if (!c->class_weight || strcmp(c->class_weight, "balanced") == 0) {
        *pos = (double)s->ntrain / (2.0 * (double)npos);
        *neg = (double)s->ntrain / (2.0 * (double)nneg);
    } else if (strcmp(c->class_weight, "none") != 0 &&
               parse_real(c->class_weight, 1e-6, 1e6, pos) < 0) {
        return bad("--class-weight", "balanced, none or the positive class's weight",
                   c->class_weight);
    }
    return 0;
}

/* Layer widths: inputs, --hidden (or the type's default), outputs. */
static int layer_dims(const struct fit_cli *c, size_t nin, size_t *dims, size_t *nl)
{
    size_t n = 0;
    dims[n++] = nin;
    char def[64];
    const char *h = c->hidden;
    if (!h && c->type == TYPE_MLP)
        h = "32,16";
    if (!h && c->type == TYPE_AUTOENCODER) {
        size_t a = nin / 2 > 2 ? nin / 2 : 2, b = nin / 4 > 1 ? nin / 4 : 1;
        snprintf(def, sizeof def, "%zu,%zu,%zu", a, b, a);
        h = def;
    }
    if (c->type == TYPE_LOGISTIC && c->hidden) {
        fprintf(stderr, "weir: fit: --hidden: a logistic regression has no hidden layer (use "
                "--type mlp)\n");
        return -1;
    }
    for (const char *p = h; p && *p;) {
        char *end;
        unsigned long w = strtoul(p, &end, 10);
        if (end == p || w < 1 || w > 4096 || (*end && *end != ',') || n == FIT_MAX_LAYERS)
            return bad("--hidden", "widths from 1 to 4096 such as 32,16", h);
        dims[n++] = w;
        p = *end ? end + 1 : end;
    }
    dims[n] = c->type == TYPE_AUTOENCODER ? nin : 1;
    *nl = n;
    return 0;
}

static void describe(const struct fit_cli *c, const size_t *dims, size_t nl, char *out, size_t len)
{
    size_t o = (size_t)snprintf(out, len, "%s ", type_name[c->type]);
    for (size_t l = 0; l <= nl && o < len; l++)
        o += (size_t)snprintf(out + o, len - o, "%s%zu", l ? "-" : "", dims[l]);
}

static int train_dense(const struct fit_cli *c, const struct fit_data *d, const struct split *s,
                       float *pred, double *tloss, double *vloss, char *what, size_t wlen)
{
    size_t dims[FIT_MAX_LAYERS + 1], nl;
    struct fit_train_opts o = {.seed = c->seed, .epochs = c->epochs ? c->epochs : 50,
                               .patience = c->patience ? c->patience : 5,
                               .batch = c->batch ? c->batch : 256, .sgd = c->sgd,
                               .pos_weight = 1, .neg_weight = 1, .progress = c->progress};
    o.lr = c->lr ? c->lr : c->type == TYPE_LOGISTIC ? 0.01 : c->sgd ? 0.01 : 0.001;
    int act = c->act ? c->act : c->type == TYPE_AUTOENCODER ? FIT_ACT_TANH : FIT_ACT_RELU;
    if (layer_dims(c, d->nf, dims, &nl) < 0)
        return -1;
    if (c->type != TYPE_AUTOENCODER && class_weights(c, d, s, &o.pos_weight, &o.neg_weight) < 0)
        return -1;
    /* An autoencoder learns normal records: label 0, or all without a label. */
    size_t *train = s->idx, ntrain = s->ntrain, *valid = s->idx + s->ntrain, nvalid = s->nvalid;
    size_t *normal = NULL;
    if (c->type == TYPE_AUTOENCODER && d->y) {
        normal = malloc(d->n * sizeof *normal);
        if (!normal)
            return -1;
        size_t nt = 0, nv = 0;
        for (size_t r = 0; r < s->ntrain; r++)
            if (d->y[s->idx[r]] < 0.5f)
                normal[nt++] = s->idx[r];
        for (size_t r = s->ntrain; r < d->n; r++)
            if (d->y[s->idx[r]] < 0.5f)
                normal[nt + nv++] = s->idx[r];
        train = normal, ntrain = nt, valid = normal + nt, nvalid = nv;
    }
    struct fit_net net;
    struct fit_train_result res;
    struct weir_error err = {0};
    int rc = ntrain ? fit_net_init(&net, c->type == TYPE_AUTOENCODER ? FIT_RECONSTRUCT
                                                                     : FIT_CLASSIFY,
                                   dims, nl, act, c->seed)
                    : -EINVAL;
    if (rc < 0) {
        fprintf(stderr, "weir: fit: %s\n", ntrain ? "out of memory" : "no training rows");
        free(normal);
        return -1;
    }
    describe(c, dims, nl, what, wlen);
    fit_net_normalise(&net, d->X, train, ntrain);
    rc = fit_net_train(&net, d->X, d->y, train, ntrain, valid, nvalid, &o, &res, &err);
    if (rc == 0) {
        size_t *all = malloc(d->n * sizeof *all);
        for (size_t r = 0; all && r < d->n; r++)
            all[r] = r;
        rc = all ? fit_net_predict(&net, d->X, d->y, all, d->n, &o, pred, NULL) : -ENOMEM;
        free(all);
        if (rc < 0)
            weir_error_set(&err, rc, "out of memory");
    }
    if (rc == 0)
        rc = fit_net_save(&net, d->feature, c->out, &err);
    if (rc == 0) {
        size_t o2 = strlen(what);
        snprintf(what + o2, wlen - o2, ", best epoch %zu of %zu", res.best_epoch, res.epochs_run);
        *tloss = res.train_loss;
        *vloss = res.valid_loss;
    } else {
        fprintf(stderr, "weir: fit: %s\n", err.msg);
    }
    fit_net_free(&net);
    free(normal);
    return rc < 0 ? -1 : 0;
}

#ifdef WEIR_HAVE_XGBOOST
/* XGBoost refuses an infinite input (its DMatrix check stops the process
 * with a backtrace). Reading one as missing would train trees that disagree
 * with weir's at run time (kernels/trees_ref.c: NaN takes the default
 * direction, ±inf compares as a number), so the first one is named instead.
 * Labels are checked on reading (fit/dataset.c: from 0 to 1, empty or nan:
 * the row is skipped). */
static int finite_for_xgboost(const struct fit_cli *c, const struct fit_data *d)
{
    for (size_t r = 0; r < d->n; r++)
        for (size_t k = 0; k < d->nf; k++) {
            float v = d->X[r * d->nf + k];
            if (!isinf(v))
                continue;
            /* a number beyond a float's range read as one, the file's text is gone */
            const char *val = v > 0 ? "inf (or above a float's 3.4e38)"
                                    : "-inf (or below a float's -3.4e38)";
            size_t line = d->line ? d->line[r] : r + 2;
            char when[64] = "";
            if (d->t && d->t[r] >= 0)
                snprintf(when, sizeof when, " (event time %lld ms)", (long long)d->t[r]);
            if (is_pipeline(c->input))
                fprintf(stderr, "weir: fit: --type xgboost: feature \"%s\" is %s in row %zu%s of "
                        "the features of %s: XGBoost takes finite values only: make the pipeline "
                        "compute a finite value (a clip operator, a derive), or NaN (missing) "
                        "where it is unknown\n", d->feature[k], val, line - 1, when, c->input);
            else
                fprintf(stderr, "weir: fit: --type xgboost: %s:%zu: column \"%s\" is %s: XGBoost "
                        "takes finite values only: write a finite value, or leave the field "
                        "empty (missing) where it is unknown\n", c->input, line, d->feature[k],
                        val);
            return -EINVAL;
        }
    return 0;
}
#endif

static int train_xgboost(const struct fit_cli *c, const struct fit_data *d, const struct split *s,
                         float *pred, double *tloss, double *vloss, char *what, size_t wlen)
{
#ifdef WEIR_HAVE_XGBOOST
    if (finite_for_xgboost(c, d) < 0)
        return -EINVAL; /* a problem with the input: exit 2 */
    double spw = 1, pos, neg;
    if (class_weights(c, d, s, &pos, &neg) < 0) /* both classes, weighted or not */
        return -1;
    if (c->class_weight && strcmp(c->class_weight, "none") != 0)
        spw = pos / neg;
    struct fit_xgb_opts o = {.seed = c->seed, .rounds = c->rounds ? c->rounds : 300,
                             .patience = c->patience ? c->patience : 20,
                             .depth = c->depth ? c->depth : 6, .eta = c->eta ? c->eta : 0.1,
                             .threads = c->threads ? c->threads : 1, .scale_pos_weight = spw,
                             .progress = c->progress};
    struct fit_xgb_result res;
    struct weir_error err = {0};
    if (fit_xgb_train(d, s->idx, s->ntrain, s->idx + s->ntrain, s->nvalid, &o, c->out, pred, &res,
                      &err) < 0) {
        fprintf(stderr, "weir: fit: %s\n", err.msg);
        return -1;
    }
    snprintf(what, wlen, "xgboost depth %zu eta %g, best round %zu of %zu", o.depth, o.eta,
             res.best_round, res.rounds_run);
    *tloss = res.train_loss;
    *vloss = res.valid_loss;
    return 0;
#else
    fprintf(stderr, "weir: fit: --type xgboost: this weir was built without XGBoost (install "
            "libxgboost-dev and build again)\n");
    return -1;
#endif
}

static int train_iforest(const struct fit_cli *c, const struct fit_data *d, const struct split *s,
                         float *pred, char *what, size_t wlen)
{
    struct fit_iforest_opts o = {.trees = c->trees ? c->trees : 100,
                                 .sample = c->sample ? c->sample : 256, .seed = c->seed};
    struct weir_error err = {0};
    size_t used;
    double explain_bound;
    if (fit_iforest_train(d, s->idx, s->ntrain, &o, c->out, pred, &used, &explain_bound, &err) <
        0) {
        fprintf(stderr, "weir: fit: %s\n", err.msg);
        return -1;
    }
    if (explain_bound > SCORER_EXPLAIN_MAX_STEPS)
        fprintf(stderr,
                "weir: fit: warning: explaining a record with this forest may take %.2g steps, "
                "more than the %.0e an iforest with \"explain\": true accepts: fewer --trees or "
                "a smaller --sample, or serve it without explain\n",
                explain_bound, SCORER_EXPLAIN_MAX_STEPS);
    snprintf(what, wlen, "iforest %zu trees of %zu points (from %zu training rows%s)", o.trees,
             used < o.sample ? used : o.sample, used,
             used < s->ntrain ? " with every feature finite" : "");
    return 0;
}

/* A pipeline's features are read from a temporary file: an error names
 * the pipeline's features instead of a file that is gone by then. */
static void name_features(char *msg, size_t size, const char *tmp, const char *pipeline)
{
    size_t n = strlen(tmp);
    if (strncmp(msg, tmp, n) != 0)
        return;
    char rest[WEIR_ERROR_MAX];
    const char *after = msg + n;
    int line = after[0] == ':' && after[1] >= '0' && after[1] <= '9';
    snprintf(rest, sizeof rest, "%s", after + line);
    snprintf(msg, size, "%s: its features (as weir features writes them)%s%s", pipeline,
             line ? ", line " : "", rest);
}

static int train(struct fit_cli *c, const struct fit_data *d, const struct split *s, float *pred,
                 double *tl, double *vl, char *what, size_t wlen)
{
    if (!s->idx || !pred || s->ntrain == 0)
        return -1;
    return c->type == TYPE_XGBOOST   ? train_xgboost(c, d, s, pred, tl, vl, what, wlen)
           : c->type == TYPE_IFOREST ? train_iforest(c, d, s, pred, what, wlen)
                                     : train_dense(c, d, s, pred, tl, vl, what, wlen);
}

static void report(const struct fit_cli *c, const struct fit_data *d, const struct split *s,
                   const float *pred, double tl, double vl, const char *what)
{
    double tauc, tap, vauc, vap;
    metrics(d, s->idx, s->ntrain, pred, &tauc, &tap);
    metrics(d, s->idx + s->ntrain, s->nvalid, pred, &vauc, &vap);
    printf("weir fit: %s; %zu rows: %zu train, %zu validation (the last by %s)%s\n", what, d->n,
           s->ntrain, s->nvalid, d->t ? "event time" : "file order",
           !d->dropped               ? ""
           : c->type == TYPE_IFOREST ? ", rows without a label left out of the metrics only"
                                     : ", rows without a label skipped");
    report_line("train", tl, tauc, tap);
    if (s->nvalid)
        report_line("validation", vl, vauc, vap);
}

/* Reads the data (a pipeline's features first) into d: 0, 1 or 2 (the
 * exit code) when it fails, said. */
static int read_data(const struct fit_cli *c, struct fit_data *d)
{
    char tmp[4096] = "";
    const char *csv = c->input;
    if (is_pipeline(c->input)) {
        if (features_of_pipeline(c, tmp, sizeof tmp) < 0) {
            if (tmp[0])
                unlink(tmp);
            return 1;
        }
        csv = tmp;
    }
    struct weir_error err = {0};
    /* an isolation forest learns without labels: one only measures it */
    int rc = fit_data_read(csv, is_pipeline(c->input) ? NULL : c->features, c->label,
                           c->type == TYPE_IFOREST, d, &err);
    if (tmp[0]) {
        unlink(tmp);
        name_features(err.msg, sizeof err.msg, tmp, c->input);
    }
    if (rc < 0)
        fprintf(stderr, "weir: fit: %s\n", err.msg);
    return rc == 0 ? 0 : rc == -EINVAL ? 2 : 1;
}

static int fit_main(int argc, char **argv)
{
    struct fit_cli c;
    if (parse_args(argc, argv, &c) < 0 || (c.scores && fit_writable("--scores", c.scores) < 0))
        return 2;
    size_t dims[FIT_MAX_LAYERS + 1], nl; /* widths checked now; the input's is known later */
    if (c.hidden && layer_dims(&c, 1, dims, &nl) < 0)
        return 2;
    if (c.quiet)
        c.progress = 0;
    else if (c.progress < 0)
        c.progress = isatty(2) ? 1 : 0;
    else
        c.progress = isatty(2) ? 1 : 2;
    /* before the features and the training, which may take minutes: a
     * directory that is not there fails now */
    char part[4200];
    const char *out = c.out;
    unsigned mode;
    if (fit_part_open(out, part, sizeof part, &mode) < 0)
        return 2;
    struct fit_data d;
    int code = read_data(&c, &d);
    if (code) {
        if (part[0])
            unlink(part);
        return code;
    }
    struct split s = {.idx = fit_data_split(&d, c.valid, &s.ntrain)};
    s.nvalid = d.n - s.ntrain;
    float *pred = malloc(d.n * sizeof *pred);
    double tl = NAN, vl = NAN;
    char what[256] = "";
    if (s.idx && s.ntrain == 0)
        fprintf(stderr, "weir: fit: %zu rows and --valid %g leave none to train on\n", d.n, c.valid);
    c.out = part[0] ? part : out; /* renamed into place once the model is whole */
    int rc = train(&c, &d, &s, pred, &tl, &vl, what, sizeof what);
    c.out = out;
    /* the scores before the model goes in place: a fit that fails leaves
     * the old model */
    if (rc == 0 && c.scores && write_scores(c.scores, &d, &s, pred) < 0)
        rc = -1;
    if (rc == 0 && part[0] && fit_part_commit(part, out, mode) < 0)
        rc = -1;
    else if (rc != 0 && part[0])
        unlink(part);
    if (rc == 0) {
        report(&c, &d, &s, pred, tl, vl, what);
        if (!c.quiet)
            fprintf(stderr, "weir: fit: wrote %s\n", c.out);
    }
    free(pred);
    free(s.idx);
    fit_data_free(&d);
    return rc == -EINVAL ? 2 : rc < 0 ? 1 : 0;
}

const struct weir_command weir_command_fit = {
    .name = "fit",
    .usage = "weir fit FEATURES.csv|PIPELINE.json --type "
             "logistic|mlp|autoencoder|xgboost|iforest --out MODEL [--label NAME] [options]",
    .help = "Trains a model the model operator serves (docs/models.md: Training with weir fit)\n"
            "from a feature CSV written by weir features, or from a pipeline (*.json: its\n"
            "features are computed first, as weir features computes them; --until and --set\n"
            "apply to it). MODEL: a .safetensors file (logistic, mlp, autoencoder) or an\n"
            "XGBoost .json file (xgboost), a weir-iforest .json file (iforest: for the iforest\n"
            "operator's \"model\" option).\n"
            "  --label NAME         the 0/1 label column (required but for autoencoder and\n"
            "                       iforest, where it only measures the scores)\n"
            "  --features A,B,C     the inputs, in order (default: every column but the label and\n"
            "                       event_time_ms; for a pipeline, the inputs of the operator\n"
            "                       that serves the model: the first iforest with \"model\" for\n"
            "                       iforest, the first model operator for the other types (else\n"
            "                       the first of either); with neither, every feature but the\n"
            "                       label)\n"
            "  --valid FRAC         the last FRAC of rows by event time validate (default 0.2);\n"
            "                       training stops when the validation loss has not improved for\n"
            "                       --patience epochs (5; xgboost: rounds, 20), keeping the best\n"
            "  --seed N             the same data and N give the same file (default 1)\n"
            "  networks: --hidden W1,W2 (mlp 32,16; autoencoder n/2,n/4,n/2) --activation\n"
            "    relu|tanh (mlp relu, autoencoder tanh) --epochs N (50) --batch N (256) --lr X\n"
            "    (logistic or sgd 0.01, else 0.001) --optimizer adam|sgd (SGD with momentum 0.9)\n"
            "    --class-weight balanced|none|W (cross-entropy; default balanced)\n"
            "  xgboost: --rounds N (300) --depth N (6) --eta X (0.1) --threads N (1)\n"
            "    --class-weight as above sets scale_pos_weight (default none)\n"
            "  iforest: --trees N (100) --sample N (256): trees grown from the training rows\n"
            "    whose features are all finite, no labels; its output is the anomaly score\n"
            "  --scores FILE        every row's model output as weir fit computed it (set,score;\n"
            "                       a row without a label: unlabelled, in its place)\n"
            "  --progress           a progress bar on stderr (default: when it is a terminal)\n"
            "  --quiet              no progress, no notes on stderr\n"
            "Options of another --type, and --until or --set with a CSV, are refused.\n"
            "Prints the train and validation loss, and AUC and average precision with a label.\n"
            "An autoencoder learns the rows labelled 0 (all rows without --label); its output is\n"
            "the reconstruction error. Missing inputs are imputed with the training mean.\n"
            "xgboost refuses an infinite input (weir's trees compare it as a value, XGBoost\n"
            "cannot train on one): write a finite value, or leave the field empty (missing).\n",
    .main = fit_main,
};
