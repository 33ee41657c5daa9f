/* Loading and saving a trained isolation forest: operators/iforest_model.h. */
#include "operators/iforest_model.h"

#include <errno.h>
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/opstate.h"
#include "engine/schema.h"
#include "models/jspan.h"
#include "models/model.h"

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

/* Whether an array's text holds only what its numbers may be written
 * with (jspan_numbers would read true and false as 1 and 0); INTEGERS no
 * fraction or exponent either, as jansson's integers. */
static int written_with(struct jspan arr, const char *chars)
{
    for (size_t i = 0; i < arr.n; i++)
        if (!arr.p[i] || !strchr(chars, arr.p[i]))
            return 0;
    return 1;
}
#define INTEGERS "0123456789-,[] \t\r\n"
#define NUMBERS  INTEGERS "+.eE"

/* Fills tree t from its object in the text; buf: room for 3 * tree_nodes
 * numbers. A repeated key is refused, as jansson refuses one in the rest of
 * the file. Returns 0 or -1 with why filled. */
static int load_tree(struct iforest_model *m, size_t t, struct jspan tree, double *buf, char *why,
                     size_t len)
{
    static const char *const keys[] = {"feature", "split", "right"};
    struct jspan v[3];
    size_t cap = m->tree_nodes;
    double *feat = buf, *split = buf + cap, *right = buf + 2 * cap;
    long n = -1;
    int repeats = jspan_members(tree, keys, 3, v);
    if (repeats > 0) {
        snprintf(why, len, "trees[%zu]: \"feature\", \"split\" or \"right\" given twice", t);
        return -1;
    }
    if (repeats == 0 && v[0].p && v[1].p && v[2].p && written_with(v[0], INTEGERS) &&
        written_with(v[1], NUMBERS) && written_with(v[2], INTEGERS) &&
        (n = jspan_numbers(v[0], feat, cap)) > 0 &&
        (jspan_numbers(v[1], split, cap) != n || jspan_numbers(v[2], right, cap) != n))
        n = -1;
    if (n <= 0) {
        snprintf(why, len,
                 "trees[%zu]: expected \"feature\", \"split\" and \"right\" arrays of "
                 "one length from 1 to %zu (2 sample - 1), integers in \"feature\" and "
                 "\"right\"",
                 t, m->tree_nodes);
        return -1;
    }
    struct iforest_node *nodes = m->nodes + t * m->tree_nodes;
    for (size_t k = 0; k < (size_t)n; k++) {
        long long q = fabs(feat[k]) < 1e9 ? (long long)feat[k] : -2; /* written_with */
        long long off = fabs(right[k]) < 1e9 ? (long long)right[k] : -1;
        int leaf = q == -1;
        /* children lie after their parent and inside the tree: every walk ends */
        /* a split is kept as a float: one beyond its range would be infinite */
        if (q < -1 || q >= (long long)m->d || !(fabs(split[k]) <= FLT_MAX) ||
            (leaf ? off < 0 || off > (long long)m->psi : off < 2 || k + (size_t)off >= (size_t)n)) {
            snprintf(why, len,
                     "trees[%zu] node %zu: expected a feature from -1 (a leaf) to %zu, a "
                     "finite split and a right child's offset >= 2 inside the tree (a leaf: its "
                     "point count, 0 to sample), got feature %lld, right %lld",
                     t, k, m->d - 1, q, off);
            return -1;
        }
        nodes[k] =
            leaf ? (struct iforest_node){(float)iforest_c((double)off), IFOREST_LEAF, (uint16_t)off}
                 : (struct iforest_node){(float)split[k], (uint16_t)q, (uint16_t)off};
    }
    return 0;
}

/* Every tree of the "trees" array in the text. */
static int load_trees(struct iforest_model *m, struct jspan trees, char *why, size_t len)
{
    double *buf = malloc(3 * m->tree_nodes * sizeof *buf);
    if (!buf) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    struct jspan item;
    size_t at = 0, t = 0;
    int rc = 0;
    while (rc == 0 && t < m->trees && jspan_next_item(trees, &at, &item) == 1)
        rc = load_tree(m, t++, item, buf, why, len);
    free(buf);
    if (rc == 0 && t < m->trees) { /* counted, then not all read: never leave a tree empty */
        snprintf(why, len, "trees[%zu]: expected a tree", t);
        rc = -1;
    }
    return rc;
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

/* root: the file's JSON but its trees, which are read from their text
 * (jansson's tree of them took about 10 times the file's size). */
static int load_json(const json_t *root, struct jspan trees, struct iforest_model *m, char *why,
                     size_t len)
{
    const json_t *format = json_object_get(root, "format");
    const json_t *feats = json_object_get(root, "features");
    const json_t *sample = json_object_get(root, "sample");
    const json_t *center = json_object_get(root, "center");
    if (!json_is_string(format) || strcmp(json_string_value(format), MODEL_FORMAT) != 0 ||
        json_integer_value(json_object_get(root, "version")) != 1) {
        snprintf(why, len, "expected {\"format\": \"%s\", \"version\": 1, ...} (weir fit --type "
                 "iforest writes it)", MODEL_FORMAT);
        return -1;
    }
    long nt = trees.p ? jspan_count(trees) : -1;
    size_t d = json_array_size(feats);
    json_int_t psi = json_is_integer(sample) ? json_integer_value(sample) : 0;
    if (d == 0 || d > WEIR_SCHEMA_MAX || nt <= 0 || nt > 1024 || psi < 1 || psi > 4096 ||
        json_array_size(center) != d) {
        snprintf(why, len, "expected 1 to %d \"features\", as many \"center\" values, \"sample\" "
                 "from 1 to 4096 and 1 to 1024 \"trees\"", WEIR_SCHEMA_MAX);
        return -1;
    }
    char *names[WEIR_SCHEMA_MAX];
    for (size_t q = 0; q < d; q++) {
        const json_t *f = json_array_get(feats, q), *c = json_array_get(center, q);
        if (!json_is_string(f) || !json_is_number(c) || !(fabs(json_number_value(c)) <= FLT_MAX)) {
            snprintf(why, len,
                     "features[%zu]: expected a name with a number in center[%zu] (within a "
                     "float's range)",
                     q, q);
            return -1;
        }
        names[q] = (char *)json_string_value(f);
    }
    if (iforest_model_alloc(m, d, names, (size_t)nt, (uint32_t)psi) < 0) {
        snprintf(why, len, "out of memory");
        return -1;
    }
    for (size_t q = 0; q < d; q++)
        m->center[q] = (float)json_number_value(json_array_get(center, q));
    if (load_trees(m, trees, why, len) < 0) {
        iforest_model_free(m);
        return -1;
    }
    m->hash = model_hash(m);
    return 0;
}

int iforest_model_parse(const char *text, size_t n, struct iforest_model *m, char *why, size_t len)
{
    *m = (struct iforest_model){0};
    static const char *const path[] = {"trees"};
    json_error_t jerr;
    struct jspan trees;
    char *dumped;
    json_t *root =
        jspan_load_split(text, n, path, 1, JSON_REJECT_DUPLICATES, &trees, &dumped, &jerr);
    int rc = -1;
    if (!root && (json_error_code(&jerr) == json_error_out_of_memory ||
                  strcmp(jerr.text, "out of memory") == 0)) /* jansson's, jspan_load_but's */
        snprintf(why, len, "out of memory");
    else if (!root)
        snprintf(why, len, "line %d: %s", jerr.line, jerr.text);
    else
        rc = load_json(root, trees, m, why, len);
    json_decref(root);
    free(dumped);
    return rc;
}

int iforest_model_load(const char *path, struct iforest_model *m, char *why, size_t len)
{
    *m = (struct iforest_model){0};
    unsigned char *text;
    size_t n;
    if (weir_model_read_file(path, &text, &n, why, len) < 0)
        return -1;
    char inner[512];
    int rc = iforest_model_parse((const char *)text, n, m, inner, sizeof inner);
    if (rc < 0)
        snprintf(why, len, "%s: %s", path, inner);
    free(text);
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

/* Writes n bytes of s; 0 with *e = errno when it cannot. */
static int put(FILE *f, const char *s, size_t n, int *e)
{
    if (fwrite(s, 1, n, f) == n)
        return 1;
    *e = errno;
    return 0;
}

/* The header through jansson, then the trees one at a time: a forest of
 * 1,024 trees of 4,096 points as one jansson tree took about 10 times the
 * file's size. The bytes are what one dump of the whole would write. */
int iforest_model_save(const struct iforest_model *m, const char *path, char *why, size_t len)
{
    const size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(9);
    static const char last[] = ",\"trees\":[]}";
    json_t *feats = json_array(), *center = json_array();
    json_t *root =
        json_pack("{s:s, s:i, s:o, s:I, s:o, s:[]}", "format", MODEL_FORMAT, "version", 1,
                  "features", feats, "sample", (json_int_t)m->psi, "center", center, "trees");
    int ok = root != NULL;
    for (size_t q = 0; ok && q < m->d; q++)
        ok = json_array_append_new(feats, json_string(m->feature[q])) == 0 &&
             json_array_append_new(center, json_real(m->center[q])) == 0;
    char *head = ok ? json_dumps(root, flags) : NULL;
    json_decref(root);
    size_t hl = head ? strlen(head) : 0;
    FILE *f = NULL;
    int rc = -1, e = 0;
    if (!head) {
        snprintf(why, len, "out of memory");
    } else if (hl < sizeof last || strcmp(head + hl - (sizeof last - 1), last) != 0) {
        snprintf(why, len, "jansson wrote the header in an order not expected: %.60s", head);
    } else if (!(f = fopen(path, "w"))) {
        snprintf(why, len, "%s: %s", path, strerror(errno));
    } else {
        int wrote = put(f, head, hl - 2, &e), dumped = 1; /* through the trees' [ */
        for (size_t t = 0; wrote && dumped && t < m->trees; t++) {
            json_t *tree = tree_json(m, t);
            char *text = tree ? json_dumps(tree, flags) : NULL;
            json_decref(tree);
            dumped = text != NULL;
            wrote = !dumped || ((t == 0 || put(f, ",", 1, &e)) && put(f, text, strlen(text), &e));
            free(text);
        }
        wrote = wrote && put(f, "]}", 2, &e);
        if (fclose(f) != 0 && wrote) {
            wrote = 0;
            e = errno;
        }
        if (!dumped)
            snprintf(why, len, "out of memory");
        else if (!wrote)
            snprintf(why, len, "%s: %s", path, strerror(e));
        else
            rc = 0;
    }
    free(head);
    return rc;
}
