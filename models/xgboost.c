/* Tree ensembles from XGBoost's JSON model format (Booster.save_model with a
 * .json name). Supported: gbtree boosters with numerical splits and the
 * objectives binary:logistic, reg:logistic (probabilities) and
 * reg:squarederror (raw). The trees are copied into the kernels' flat node
 * array; XGBoost's library is not used.
 *
 * base_score: XGBoost stores it in learner_model_param as a string, "5E-1" up
 * to 3.0 and "[5E-1]" (a vector) from 3.1. For the logistic objectives it is
 * a probability and the trees add to its margin, logit(base_score).
 *
 * Every index is checked: a child must come after its parent inside the same
 * tree (XGBoost appends children when it expands a node), so a corrupt file
 * cannot make the walk loop or leave the array. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/jspan.h"
#include "models/model.h"

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

#define FAIL(...) fail(err, errlen, -EINVAL, __VA_ARGS__)

static json_t *path_get(json_t *j, const char *a, const char *b, const char *c)
{
    j = json_object_get(j, a);
    if (b)
        j = json_object_get(j, b);
    if (c)
        j = json_object_get(j, c);
    return j;
}

/* "5E-1", "[5E-1]" or a number → double; NAN when neither. */
static double param_number(json_t *v)
{
    if (json_is_number(v))
        return json_number_value(v);
    const char *s = json_string_value(v);
    if (!s)
        return NAN;
    while (*s == '[' || *s == ' ')
        s++;
    char *end;
    double d = strtod(s, &end);
    return end == s ? NAN : d;
}

static int objective(struct weir_model *m, json_t *learner, char *err, size_t errlen)
{
    const char *obj = json_string_value(path_get(learner, "objective", "name", NULL));
    const char *booster = json_string_value(path_get(learner, "gradient_booster", "name", NULL));
    if (!obj)
        return FAIL("not an XGBoost JSON model: expected learner.objective.name");
    if (!booster || strcmp(booster, "gbtree") != 0)
        return FAIL("booster \"%s\": expected \"gbtree\" (dart and gblinear are not supported)",
                    booster ? booster : "(none)");
    json_t *param = json_object_get(learner, "learner_model_param");
    double base = param_number(json_object_get(param, "base_score"));
    double nclass = param_number(json_object_get(param, "num_class"));
    double ntarget = param_number(json_object_get(param, "num_target"));
    if (nclass > 1 || ntarget > 1) /* num_target is missing before XGBoost 1.6 */
        return FAIL(ntarget > 1 ? "%g targets: expected a single-output model"
                                : "%g classes: expected a single-output model",
                    ntarget > 1 ? ntarget : nclass);
    if (!isfinite(base))
        return FAIL("learner_model_param.base_score: expected a number");
    if (strcmp(obj, "binary:logistic") == 0 || strcmp(obj, "reg:logistic") == 0) {
        if (!(base > 0 && base < 1))
            return FAIL("base_score %g: expected a probability in (0, 1) for %s", base, obj);
        m->output = WEIR_OUTPUT_PROBABILITY;
        m->base_margin = (float)log(base / (1 - base));
    } else if (strcmp(obj, "reg:squarederror") == 0) {
        m->output = WEIR_OUTPUT_RAW;
        m->base_margin = (float)base;
        if (!isfinite(m->base_margin))
            return FAIL("base_score %g: beyond a float's range", base);
    } else
        return FAIL("objective \"%s\": expected binary:logistic, reg:logistic or "
                    "reg:squarederror", obj);
    double nfeat = param_number(json_object_get(param, "num_feature"));
    if (!(nfeat >= 1 && nfeat <= 65536))
        return FAIL("learner_model_param.num_feature: expected 1 to 65536, got %g", nfeat);
    m->nin = (size_t)nfeat;
    m->nout = 1;
    return 0;
}

static int feature_names(struct weir_model *m, json_t *learner, char *err, size_t errlen)
{
    json_t *names = json_object_get(learner, "feature_names");
    if (!json_is_array(names) || json_array_size(names) == 0)
        return 0;
    if (json_array_size(names) != m->nin)
        return FAIL("%zu feature_names for num_feature %zu", json_array_size(names), m->nin);
    if (!(m->feature = weir_model_alloc(m, m->nin * sizeof *m->feature)))
        return fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nin; i++) {
        const char *s = json_string_value(json_array_get(names, i));
        if (!s)
            return FAIL("feature_names[%zu]: expected a string", i);
        if (!(m->feature[i] = weir_model_alloc(m, strlen(s) + 1)))
            return fail(err, errlen, -ENOMEM, "out of memory");
        strcpy(m->feature[i], s);
    }
    return 0;
}

/* One tree's arrays, read from its text into the loader's work arrays. */
struct tree_arrays {
    double *left, *right, *feat, *cond, *dleft, *hess;
    size_t n;
    int covered; /* hess holds n finite numbers >= 0 */
};

static const char *const tree_keys[] = {"left_children",    "right_children", "split_indices",
                                        "split_conditions", "default_left",   "categories_nodes",
                                        "sum_hessian"};

static int tree_arrays(struct jspan tree, size_t k, struct tree_arrays *a, size_t cap, char *err,
                       size_t errlen)
{
    struct jspan v[7];
    if (jspan_members(tree, tree_keys, 7, v) < 0)
        return FAIL("trees[%zu]: expected an object", k);
    if (v[5].p && jspan_count(v[5]) != 0) /* first: their split_conditions hold NaN */
        return FAIL("trees[%zu] has categorical splits: not supported", k);
    double **dst[5] = {&a->left, &a->right, &a->feat, &a->cond, &a->dleft};
    long n[5];
    for (int i = 0; i < 5; i++)
        if ((n[i] = v[i].p ? jspan_numbers(v[i], *dst[i], cap) : -1) < 0)
            n[i] = -1;
    a->n = n[0] > 0 ? (size_t)n[0] : 0;
    if (a->n == 0 || n[1] != n[0] || n[2] != n[0] || n[3] != n[0] || n[4] != n[0])
        return FAIL("trees[%zu]: expected left_children, right_children, split_indices, "
                    "split_conditions and default_left of one length, of numbers",
                    k);
    /* Node covers only explain (TreeSHAP): a file without them still scores */
    a->covered = v[6].p && jspan_numbers(v[6], a->hess, cap) == n[0];
    for (size_t j = 0; a->covered && j < a->n; j++)
        a->covered = isfinite(a->hess[j]) && a->hess[j] >= 0;
    return 0;
}

/* An index read as a double: a whole number in range, or -2 (never valid). */
static long long as_index(double d)
{
    return d >= -1 && d < 4294967296.0 && d == (double)(long long)d ? (long long)d : -2;
}

/* Checks node j of tree k and reads its children (-1, -1 for a leaf). */
static int node_children(const struct tree_arrays *a, size_t k, size_t j, size_t nfeat,
                         long long *l, long long *r, char *err, size_t errlen)
{
    *l = as_index(a->left[j]);
    *r = as_index(a->right[j]);
    double c = a->cond[j];
    if (!isfinite(c))
        return FAIL("trees[%zu] node %zu: split_conditions is not a finite number", k, j);
    if (!isfinite((float)c)) /* kept as a float: an infinite leaf scores inf, or NaN beside -inf */
        return FAIL("trees[%zu] node %zu: split_conditions %g is beyond a float's range", k, j, c);
    if (*l == -1 && *r == -1)
        return 0;
    if (*l <= (long long)j || *r <= (long long)j || *l >= (long long)a->n ||
        *r >= (long long)a->n || *l == *r)
        return FAIL("trees[%zu] node %zu: children %.17g, %.17g: expected distinct nodes after it "
                    "and before %zu", k, j, a->left[j], a->right[j], a->n);
    long long f = as_index(a->feat[j]);
    if (f < 0 || (size_t)f >= nfeat)
        return FAIL("trees[%zu] node %zu: split on feature %.17g, expected 0 to %zu", k, j,
                    a->feat[j], nfeat - 1);
    return 0;
}

/* Copies tree k's nodes to [base, base + used) in breadth-first order, so
 * that each split's children are neighbours (right = left + 1, as the
 * kernels want), and works out its depth. XGBoost's children come after
 * their parent; a node reached twice is an error, so `used` <= n. */
static int tree(struct weir_model *m, const struct tree_arrays *a, size_t k, size_t base,
                size_t *used, uint32_t *depth_out, uint32_t *work, char *err, size_t errlen)
{
    int rc;
    struct weir_tree_node *node = (struct weir_tree_node *)m->trees.node + base;
    float *leaf = (float *)m->trees.leaf + base;
    uint8_t *is_leaf = (uint8_t *)m->trees.is_leaf + base;
    float *cover = m->trees.cover && a->covered ? (float *)m->trees.cover + base : NULL;
    uint32_t *order = work, *depth = work + a->n, *seen = work + 2 * a->n; /* by old index */
    memset(seen, 0, a->n * sizeof *seen);
    uint32_t max_depth = 0, next = 1;
    order[0] = 0;
    depth[0] = 0;
    seen[0] = 1;
    for (uint32_t q = 0; q < next; q++) {
        uint32_t j = order[q];
        long long l, r;
        if ((rc = node_children(a, k, j, m->nin, &l, &r, err, errlen)) < 0)
            return rc;
        double c = a->cond[j];
        if (cover) {                     /* a->hess holds nothing without covers */
            float h = (float)a->hess[j]; /* as TreeSHAP divides by it: below FLT_MIN it is 0 */
            int reached = l == -1 ? h >= 0 : h > 0; /* by training data; NaN is not */
            if (reached && isfinite(h))
                cover[q] = h;
            else
                cover = NULL; /* a split no training data reached: no expectations to take */
        }
        if (l == -1) {
            is_leaf[q] = 1;
            leaf[q] = (float)c;
            node[q] = weir_tree_leaf((uint32_t)(base + q));
            continue;
        }
        if (seen[l] || seen[r])
            return FAIL("trees[%zu]: node %lld has two parents", k, seen[l] ? l : r);
        seen[l] = seen[r] = 1;
        int left_default = a->dleft[j] != 0;
        uint32_t f = (uint32_t)a->feat[j];
        node[q] = (struct weir_tree_node){
            (float)c, f | (left_default ? WEIR_TREE_DEFAULT_LEFT : 0), (uint32_t)(base + next)};
        order[next] = (uint32_t)l;
        order[next + 1] = (uint32_t)r;
        depth[next] = depth[next + 1] = depth[q] + 1;
        if (depth[q] + 1 > max_depth)
            max_depth = depth[q] + 1;
        next += 2;
    }
    *used = next;
    *depth_out = max_depth;
    if (!cover)
        m->trees.cover = NULL; /* one tree without: the model explains nothing */
    return 0;
}

/* xgb.train with early stopping saves every round's trees and the best
 * round's index: Booster.predict (what weir matches) scores with them all,
 * the scikit-learn API's predict with the rounds up to the best. Said. */
static void early_stopped(struct weir_model *m, json_t *learner, size_t nt)
{
    double best = param_number(path_get(learner, "attributes", "best_iteration", NULL));
    double per = param_number(json_object_get(
        path_get(learner, "gradient_booster", "model", "gbtree_model_param"), "num_parallel_tree"));
    if (!(per >= 1))
        per = 1;
    if (!(best >= 0) || (best + 1) * per >= (double)nt)
        return;
    snprintf(m->note, sizeof m->note,
             "its %zu trees all score, as xgboost's Booster.predict does; its best_iteration %g "
             "(early stopping) uses the first %g, as the scikit-learn API's predict does: save "
             "booster[:%g] to serve those",
             nt, best, (best + 1) * per, best + 1);
}

/* Each tree's node count (left_children's length) summed, and the widest. */
static int count_nodes(struct jspan arr, size_t *nt, size_t *nn, size_t *widest)
{
    static const char *const left_key[] = {"left_children"};
    size_t at = 0;
    struct jspan item, left;
    int more;
    *nt = *nn = 0;
    *widest = 1;
    while ((more = jspan_next_item(arr, &at, &item)) == 1) {
        long n = jspan_members(item, left_key, 1, &left) >= 0 && left.p ? jspan_count(left) : 0;
        n = n > 0 ? n : 0; /* a tree without a readable one fails below, named */
        *nn += (size_t)n;
        *widest = (size_t)n > *widest ? (size_t)n : *widest;
        ++*nt;
    }
    return more;
}

static int trees(struct weir_model *m, json_t *learner, struct jspan arr, char *err, size_t errlen)
{
    size_t nt = 0, nn = 0, widest = 1;
    int listed = arr.p && arr.p[0] == '[' ? count_nodes(arr, &nt, &nn, &widest) : 0;
    if (listed < 0)
        return FAIL("gradient_booster.model.trees: not valid JSON (an item not followed by ',' "
                    "or ']')");
    if (!arr.p || arr.p[0] != '[' || nt == 0)
        return FAIL("gradient_booster.model.trees: expected at least one tree");
    if (nn >= UINT32_MAX / 2)
        return FAIL("%zu nodes: too many", nn);
    struct weir_trees *t = &m->trees;
    uint32_t *root = weir_model_alloc(m, nt * sizeof *root);
    uint32_t *tdepth = weir_model_alloc(m, nt * sizeof *tdepth);
    uint32_t *work = malloc(3 * widest * sizeof *work);
    double *nums = malloc(6 * widest * sizeof *nums);
    t->node = weir_model_alloc(m, (nn ? nn : 1) * sizeof *t->node);
    t->leaf = weir_model_alloc(m, (nn ? nn : 1) * sizeof *t->leaf);
    t->is_leaf = weir_model_alloc(m, nn ? nn : 1);
    t->cover = weir_model_alloc(m, (nn ? nn : 1) * sizeof *t->cover);
    int rc = !root || !tdepth || !work || !nums || !t->node || !t->leaf || !t->is_leaf ||
                     !t->cover
                 ? fail(err, errlen, -ENOMEM, "out of memory")
                 : 0;
    struct tree_arrays a = {nums,
                            nums + widest,
                            nums + 2 * widest,
                            nums + 3 * widest,
                            nums + 4 * widest,
                            nums + 5 * widest,
                            0,
                            0};
    size_t base = 0, at = 0;
    struct jspan item;
    for (size_t k = 0; rc == 0 && k < nt && jspan_next_item(arr, &at, &item) == 1; k++) {
        root[k] = (uint32_t)base;
        size_t used = 0;
        if ((rc = tree_arrays(item, k, &a, widest, err, errlen)) == 0 &&
            (rc = tree(m, &a, k, base, &used, &tdepth[k], work, err, errlen)) == 0)
            base += used;
    }
    free(work);
    free(nums);
    if (rc < 0)
        return rc;
    early_stopped(m, learner, nt);
    t->ntrees = nt;
    t->nnodes = base;
    t->nfeat = m->nin;
    t->root = root;
    t->depth = tdepth;
    weir_trees_shap_prepare(t);
    return 0;
}

int weir_xgboost_load(struct weir_model *m, const char *text, size_t len, char *err,
                      size_t errlen)
{
    static const char *const path[] = {"learner", "gradient_booster", "model", "trees"};
    json_error_t jerr;
    struct jspan tr;
    char *dumped;
    /* the trees are read from the text: jansson's tree of them took 8 to 20
     * times the file's size (not an array: refused below) */
    json_t *root = jspan_load_split(text, len, path, 4, 0, &tr, &dumped, &jerr);
    if (!root)
        return FAIL("not valid JSON (line %d: %s)", jerr.line, jerr.text);
    m->kind = WEIR_MODEL_TREES;
    json_t *learner = json_object_get(root, "learner");
    int rc = learner ? objective(m, learner, err, errlen)
                     : FAIL("not an XGBoost JSON model: no \"learner\"");
    if (rc == 0)
        rc = feature_names(m, learner, err, errlen);
    if (rc == 0)
        rc = trees(m, learner, tr, err, errlen);
    free(dumped);
    json_decref(root);
    return rc;
}
