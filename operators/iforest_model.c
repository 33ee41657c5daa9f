/* Loading and saving a trained isolation forest: operators/iforest_model.h. */
#include "operators/iforest_model.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/opstate.h"
#include "engine/schema.h"

#define MODEL_FORMAT "weir-iforest"

int iforest_model_alloc(struct iforest_model *m, size_t d, char *const *feature, size_t trees,
                        uint32_t psi)
{
    *m = (struct iforest_model){.d = d, .trees = trees, .psi = psi, .c_norm = iforest_c(psi)};
    m->tree_nodes = 2 * (size_t)(psi ? psi : 1) - 1;
    m->feature = calloc(d ? d : 1, sizeof *m->feature);
    m->center = calloc(d ? d : 1, sizeof *m->center);
    m->nodes = calloc(trees * m->tree_nodes, sizeof *m->nodes);
    int ok = m->feature && m->center && m->nodes;
    for (size_t q = 0; ok && q < d; q++)
        ok = (m->feature[q] = strdup(feature[q])) != NULL;
    if (ok)
        return 0;
    iforest_model_free(m);
    return -ENOMEM;
}

void iforest_model_free(struct iforest_model *m)
{
    for (size_t q = 0; m->feature && q < m->d; q++)
        free(m->feature[q]);
    free(m->feature);
    free(m->center);
    free(m->nodes);
    *m = (struct iforest_model){0};
}

/* ---- loading ------------------------------------------------------------- */

/* Fills tree t from its JSON object; returns 0 or -1 with why filled. */
static int load_tree(struct iforest_model *m, size_t t, const json_t *tree, char *why, size_t len)
{
    const json_t *feat = json_object_get(tree, "feature"), *split = json_object_get(tree, "split"),
                 *right = json_object_get(tree, "right");
    size_t n = json_array_size(feat);
    if (!json_is_array(feat) || !json_is_array(split) || !json_is_array(right) || n == 0 ||
        json_array_size(split) != n || json_array_size(right) != n || n > m->tree_nodes) {
        snprintf(why, len, "trees[%zu]: expected \"feature\", \"split\" and \"right\" arrays of "
                 "one length from 1 to %zu (2 sample - 1)", t, m->tree_nodes);
        return -1;
    }
    struct iforest_node *nodes = m->nodes + t * m->tree_nodes;
    for (size_t k = 0; k < n; k++) {
        const json_t *f = json_array_get(feat, k), *s = json_array_get(split, k),
                     *r = json_array_get(right, k);
        json_int_t q = json_is_integer(f) ? json_integer_value(f) : -2;
        json_int_t off = json_is_integer(r) ? json_integer_value(r) : -1;
        double v = json_is_number(s) ? json_number_value(s) : NAN;
        int leaf = q == -1;
        /* children lie after their parent and inside the tree: every walk ends */
        if (q < -1 || q >= (json_int_t)m->d || !isfinite(v) ||
            (leaf ? off < 0 || off > (json_int_t)m->psi : off < 2 || k + (size_t)off >= n)) {
            snprintf(why, len, "trees[%zu] node %zu: expected a feature from -1 (a leaf) to %zu, a "
                     "finite split and a right child's offset >= 2 inside the tree (a leaf: its "
                     "point count, 0 to sample), got feature %lld, right %lld", t, k, m->d - 1,
                     (long long)q, (long long)off);
            return -1;
        }
        nodes[k] = leaf ? (struct iforest_node){(float)iforest_c((double)off), IFOREST_LEAF,
                                                (uint16_t)off}
                        : (struct iforest_node){(float)v, (uint16_t)q, (uint16_t)off};
    }
    return 0;
}

static uint64_t model_hash(const struct iforest_model *m)
{
    uint64_t h = weir_hash_str(WEIR_HASH_SEED, MODEL_FORMAT);
    for (size_t q = 0; q < m->d; q++)
        h = weir_hash_str(h, m->feature[q]);
    h = weir_hash_u64(weir_hash_u64(h, m->trees), m->psi);
    const uint32_t *words = (const uint32_t *)(const void *)m->nodes;
    for (size_t k = 0; k < m->trees * m->tree_nodes * 2; k++)
        h = weir_hash_u64(h, words[k]);
    return h;
}

static int load_json(const json_t *root, struct iforest_model *m, char *why, size_t len)
{
    const json_t *format = json_object_get(root, "format");
    const json_t *feats = json_object_get(root, "features");
    const json_t *sample = json_object_get(root, "sample");
    const json_t *center = json_object_get(root, "center");
    const json_t *trees = json_object_get(root, "trees");
    if (!json_is_string(format) || strcmp(json_string_value(format), MODEL_FORMAT) != 0 ||
        json_integer_value(json_object_get(root, "version")) != 1) {
        snprintf(why, len, "expected {\"format\": \"%s\", \"version\": 1, ...} (weir fit --type "
                 "iforest writes it)", MODEL_FORMAT);
        return -1;
    }
    size_t d = json_array_size(feats), nt = json_array_size(trees);
    json_int_t psi = json_is_integer(sample) ? json_integer_value(sample) : 0;
    if (d == 0 || d > WEIR_SCHEMA_MAX || nt == 0 || nt > 1024 || psi < 1 || psi > 4096 ||
        json_array_size(center) != d) {
        snprintf(why, len, "expected 1 to %d \"features\", as many \"center\" values, \"sample\" "
                 "from 1 to 4096 and 1 to 1024 \"trees\"", WEIR_SCHEMA_MAX);
        return -1;
    }
    char *names[WEIR_SCHEMA_MAX];
    for (size_t q = 0; q < d; q++) {
        const json_t *f = json_array_get(feats, q), *c = json_array_get(center, q);
        if (!json_is_string(f) || !json_is_number(c)) {
            snprintf(why, len, "features[%zu]: expected a name with a number in center[%zu]", q, q);
            return -1;
        }
        names[q] = (char *)json_string_value(f);
    }
    if (iforest_model_alloc(m, d, names, nt, (uint32_t)psi) < 0) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    for (size_t q = 0; q < d; q++)
        m->center[q] = (float)json_number_value(json_array_get(center, q));
    for (size_t t = 0; t < nt; t++)
        if (load_tree(m, t, json_array_get(trees, t), why, len) < 0) {
            iforest_model_free(m);
            return -1;
        }
    m->hash = model_hash(m);
    return 0;
}

int iforest_model_load(const char *path, struct iforest_model *m, char *why, size_t len)
{
    *m = (struct iforest_model){0};
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        FILE *f = fopen(path, "r");
        int e = errno, opened = f != NULL;
        if (f)
            fclose(f);
        if (opened)
            snprintf(why, len, "%s: line %d: %s", path, jerr.line, jerr.text);
        else
            snprintf(why, len, "%s: %s", path, strerror(e));
        return -1;
    }
    char inner[512];
    int rc = load_json(root, m, inner, sizeof inner);
    if (rc < 0)
        snprintf(why, len, "%s: %s", path, inner);
    json_decref(root);
    return rc;
}

/* ---- saving -------------------------------------------------------------- */

/* Tree t's nodes (preorder, as grown: the count is where the walk from the
 * root ends) as {"feature", "split", "right"}. */
static json_t *tree_json(const struct iforest_model *m, size_t t)
{
    const struct iforest_node *nodes = m->nodes + t * m->tree_nodes;
    json_t *f = json_array(), *s = json_array(), *r = json_array();
    json_t *tree = json_pack("{s:o, s:o, s:o}", "feature", f, "split", s, "right", r);
    /* the last node of a preorder tree: follow right children, then left */
    size_t end = 0;
    while (nodes[end].feat != IFOREST_LEAF)
        end += nodes[end].right;
    for (size_t k = 0; tree && k <= end; k++) {
        int leaf = nodes[k].feat == IFOREST_LEAF;
        if (json_array_append_new(f, json_integer(leaf ? -1 : nodes[k].feat)) < 0 ||
            json_array_append_new(s, json_real(leaf ? 0.0 : (double)nodes[k].split)) < 0 ||
            json_array_append_new(r, json_integer(nodes[k].right)) < 0) {
            json_decref(tree);
            return NULL;
        }
    }
    return tree;
}

int iforest_model_save(const struct iforest_model *m, const char *path, char *why, size_t len)
{
    json_t *feats = json_array(), *center = json_array(), *trees = json_array();
    json_t *root = json_pack("{s:s, s:i, s:o, s:I, s:o, s:o}", "format", MODEL_FORMAT, "version",
                             1, "features", feats, "sample", (json_int_t)m->psi, "center", center,
                             "trees", trees);
    int ok = root != NULL;
    for (size_t q = 0; ok && q < m->d; q++)
        ok = json_array_append_new(feats, json_string(m->feature[q])) == 0 &&
             json_array_append_new(center, json_real(m->center[q])) == 0;
    for (size_t t = 0; ok && t < m->trees; t++)
        ok = json_array_append_new(trees, tree_json(m, t)) == 0;
    if (!ok) {
        json_decref(root);
        snprintf(why, len, "out of memory");
        return -1;
    }
    int rc = json_dump_file(root, path, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(root);
    if (rc < 0)
        snprintf(why, len, "%s: %s", path, strerror(errno));
    return rc < 0 ? -1 : 0;
}
