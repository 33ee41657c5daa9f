/* extract's wildcards over JSON Lines input: the top-level member names a
 * file source reads from a JSON Lines file's first records
 * (connectors/jsonl_members.c), and what "V*" then extracts from each record.
 *
 * Hand-written adversarial records (nested objects holding matching keys,
 * escaped keys, duplicates, strings full of brackets and quotes, non-object
 * and invalid lines, "\u0000" in a key), then random records checked against
 * a brute-force reference the generator keeps: the decoded names of each
 * record's top-level members in order (union in order of first appearance)
 * and, per record, the last value of each member (JSON's last-wins).
 * Plain and gzip files, a sample bound that cuts the file, a member that
 * appears only after the bound (no column: documented), and a byte-order
 * mark before the first record. */
#include "connectors/jsonl_members.h"
#include "engine/jscan.h"
#include "tests/check.h"
#include "tests/op_harness.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

extern const struct weir_operator_type weir_op_extract;

#define SPLITMIX_SEED 0x2545F4914F6CDD1Dull
#include "tests/splitmix.h"

struct names {
    char **v;
    uint32_t n, cap;
};

static void names_free(struct names *s)
{
    for (uint32_t k = 0; k < s->n; k++)
        free(s->v[k]);
    free(s->v);
    *s = (struct names){0};
}

/* The names one line adds, joined by '|'. */
static const char *names_of(const char *line)
{
    static char out[512];
    struct weir_jscan *val = NULL;
    struct names s = {0};
    CHECK(weir_jscan_compile(&val, NULL, 0, NULL) == 0);
    CHECK(weir_jsonl_members_add(val, line, strlen(line), &s.v, &s.n, &s.cap) == 0);
    out[0] = '\0';
    for (uint32_t k = 0; k < s.n; k++)
        snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s", k ? "|" : "", s.v[k]);
    names_free(&s);
    weir_jscan_free(val);
    return out;
}

static void test_members_adversarial(void)
{
    CHECK_STR(names_of("{\"V2\":1,\"a\":{\"V9\":1},\"V1\":[{\"V7\":2}],\"V\\u0031\":3,"
                       "\"x\\\"V\":\"}\",\"V3\":\"a,b}{[\\\"\"}"),
              "V2|a|V1|x\"V|V3");
    CHECK_STR(names_of(" \t{ \"V6\" : 1 , \"V5\" :{} } \r"), "V6|V5");
    CHECK_STR(names_of("{\"a\\u0000b\":1,\"V4\":2}"), "V4"); /* no column can hold a NUL */
    CHECK_STR(names_of("{\"\":1,\"\\u00e9\\/\":2}"), "|\xc3\xa9/");
    CHECK_STR(names_of("{}"), "");
    CHECK_STR(names_of("[{\"V1\":1}]"), "");   /* not an object */
    CHECK_STR(names_of("\"V1\""), "");
    CHECK_STR(names_of("{\"V1\":1"), "");      /* invalid: nothing, the run rejects it */
    CHECK_STR(names_of("{\"V1\":1}{\"V2\":2}"), "");
    CHECK_STR(names_of(""), "");
    CHECK_STR(names_of("{\"V1\":1,\"V1\":{\"V2\":[]},\"V1\":null}"), "V1");
}

/* ---- random records against the generator's own account ---------------- */

#define NV 12
struct rec_truth {
    int has[NV];
    double val[NV]; /* the last occurrence's value */
};

static const char *const other_keys[] = {"a", "x", "W/y", "v1", "AV1", "m~n", ""};

/* Appends one record to out; records the truth; adds the decoded names in
 * order to ref (the reference union). */
static void gen_record(char *out, size_t size, struct rec_truth *t, struct names *ref)
{
    size_t n = 0;
    memset(t, 0, sizeof *t);
    n += (size_t)snprintf(out + n, size - n, "%s{", rndn(4) ? "" : " ");
    int members = (int)rndn(9);
    for (int m = 0; m < members; m++) {
        char name[32];
        const char *raw;
        char rawbuf[64];
        int vi = -1;
        if (rndn(3)) {
            vi = (int)rndn(NV);
            snprintf(name, sizeof name, "V%d", vi + 1);
            if (rndn(4) == 0) /* "V\u00311" style: the same name, escaped */
                snprintf(rawbuf, sizeof rawbuf, "\\u0056%d", vi + 1);
            else
                snprintf(rawbuf, sizeof rawbuf, "V%d", vi + 1);
            raw = rawbuf;
        } else {
            const char *k = other_keys[rndn(sizeof other_keys / sizeof *other_keys)];
            snprintf(name, sizeof name, "%s", k);
            raw = k;
        }
        n += (size_t)snprintf(out + n, size - n, "%s\"%s\":", m ? "," : "", raw);
        double v = (double)((int)rndn(2001) - 1000) / 8;
        switch (vi >= 0 ? (int)rndn(3) : 3 + (int)rndn(3)) {
        case 0:
        case 1: n += (size_t)snprintf(out + n, size - n, "%.17g", v); break;
        case 2: n += (size_t)snprintf(out + n, size - n, "\"%.17g\"", v); break;
        case 3: n += (size_t)snprintf(out + n, size - n, "{\"V3\":1,\"x\":[\"}\"]}"); break;
        case 4: n += (size_t)snprintf(out + n, size - n, "\"{\\\"V4\\\":\\\"\"  "); break;
        default: n += (size_t)snprintf(out + n, size - n, "[[],{},null,true]"); break;
        }
        if (vi >= 0) {
            t->has[vi] = 1;
            t->val[vi] = v;
        }
        uint32_t k = 0;
        while (k < ref->n && strcmp(ref->v[k], name) != 0)
            k++;
        if (k == ref->n) {
            if (ref->n == ref->cap) {
                ref->cap = ref->cap ? 2 * ref->cap : 16;
                ref->v = realloc(ref->v, ref->cap * sizeof *ref->v);
            }
            ref->v[ref->n++] = strdup(name);
        }
    }
    snprintf(out + n, size - n, "}%s\n", rndn(5) ? "" : "\r");
}

static int write_file(const char *path, const char *text, int gzip)
{
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        int ok = g && gzwrite(g, text, (unsigned)strlen(text)) == (int)strlen(text);
        return g && gzclose(g) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "w");
    int ok = f && fputs(text, f) >= 0;
    return f && fclose(f) == 0 && ok ? 0 : -1;
}

static int same_names(const struct names *a, const struct names *b)
{
    if (a->n != b->n)
        return 0;
    for (uint32_t k = 0; k < a->n; k++)
        if (strcmp(a->v[k], b->v[k]) != 0)
            return 0;
    return 1;
}

/* extract {"V*": {"path": "/V*", "required": false}} against the sampled
 * names; every record's V columns equal the truth (missing: NaN). */
static void check_extract(const struct names *got, char **lines, const struct rec_truth *truth,
                          int nrec)
{
    struct h_pipe p;
    struct h_op h;
    h_pipe_init(&p);
    p.schema.input = got->v;
    p.schema.ninput = got->n;
    p.schema.input_known = 1;
    p.schema.input_sampled = 1;
    CHECK(h_build(&h, &weir_op_extract,
                  "{\"fields\": {\"V*\": {\"path\": \"/V*\", \"required\": false}}}", &p, 0) == 0);
    int col_of[NV];
    for (int v = 0; v < NV; v++) {
        char nm[8];
        snprintf(nm, sizeof nm, "V%d", v + 1);
        col_of[v] = -1;
        for (uint32_t c = 0; c < p.schema.nfeat; c++)
            if (strcmp(p.schema.feat[c].name, nm) == 0)
                col_of[v] = (int)c;
    }
    struct weir_batch_pool *pool = h_pool(&p, 1);
    int bad = 0;
    for (int r = 0; r < nrec; r++) {
        struct weir_batch *b = weir_batch_get(pool);
        h_push_json(b, lines[r]);
        CHECK(h.type->process(&h.op, b) == WEIR_OP_CONTINUE);
        const float *row = weir_batch_row(b, 0);
        bad += !weir_record_live(&b->rec[0]);
        for (int v = 0; v < NV; v++) {
            if (col_of[v] < 0) {
                bad += truth[r].has[v]; /* a column for every name seen */
                continue;
            }
            float x = row[col_of[v]];
            bad += truth[r].has[v] ? x != (float)truth[r].val[v] : !isnan(x);
        }
        weir_batch_put(b);
    }
    CHECK(bad == 0);
    weir_batch_pool_free(pool);
    h_free(&h);
    p.schema.input = NULL; /* got's, freed by the caller */
    p.schema.ninput = 0;
    h_pipe_free(&p);
}

static void test_random(int gzip)
{
    enum { NREC = 3000 };
    char path[] = "/tmp/weir-test-jsonl-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    static char *lines[NREC];
    static struct rec_truth truth[NREC];
    struct names ref = {0}, ref_half = {0};
    size_t cap = (size_t)NREC * 512, n = 0, half_bytes = 0;
    char *text = malloc(cap);
    for (int r = 0; r < NREC; r++) {
        char line[512];
        gen_record(line, sizeof line, &truth[r], &ref);
        lines[r] = strdup(line);
        memcpy(text + n, line, strlen(line) + 1);
        n += strlen(line);
        if (r == NREC / 2 - 1) {
            half_bytes = n;
            for (uint32_t k = 0; k < ref.n; k++) {
                ref_half.v = realloc(ref_half.v, (k + 1) * sizeof *ref_half.v);
                ref_half.v[ref_half.n++] = strdup(ref.v[k]);
            }
        }
    }
    /* A member only after the first half: outside a half-file sample. */
    snprintf(text + n, cap - n, "{\"V99\":1}\n");
    struct names late = {0};
    late.v = malloc((ref.n + 1) * sizeof *late.v);
    for (uint32_t k = 0; k < ref.n; k++)
        late.v[late.n++] = strdup(ref.v[k]);
    late.v[late.n++] = strdup("V99");
    CHECK(write_file(path, text, gzip) == 0);

    struct names got = {0};
    CHECK(weir_jsonl_members_read(path, NREC + 1, (size_t)64 << 20, &got.v, &got.n) == 0);
    CHECK(same_names(&got, &late));
    check_extract(&got, lines, truth, NREC);
    names_free(&got);
    /* Bounded by records, then by bytes (the line the bound cuts is left out). */
    CHECK(weir_jsonl_members_read(path, NREC / 2, (size_t)64 << 20, &got.v, &got.n) == 0);
    CHECK(same_names(&got, &ref_half));
    names_free(&got);
    CHECK(weir_jsonl_members_read(path, NREC + 1, half_bytes + 3, &got.v, &got.n) == 0);
    CHECK(same_names(&got, &ref_half));
    names_free(&got);
    CHECK(weir_jsonl_members_read("/nonexistent/x.jsonl", 10, 100, &got.v, &got.n) == -ENOENT);
    CHECK(got.n == 0 && got.v == NULL);
    CHECK(ref.n > NV); /* the generator made every V name and others */

    for (int r = 0; r < NREC; r++)
        free(lines[r]);
    free(text);
    names_free(&ref);
    names_free(&ref_half);
    names_free(&late);
    unlink(path);
}

/* A byte-order mark before the first record, plain and gzip: skipped, as
 * the run skips it, so the first member is "V1", not "\xEF\xBB\xBFV1"
 * (the record was invalid JSON to the sampler and its members were lost). */
static void test_bom(int gzip)
{
    char path[] = "/tmp/weir-test-jsonl-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(write_file(path, "\xEF\xBB\xBF{\"V1\":1,\"V2\":2}\n{\"V3\":3}\n", gzip) == 0);
    struct names got = {0};
    CHECK(weir_jsonl_members_read(path, 10, 1000, &got.v, &got.n) == 0);
    CHECK(got.n == 3 && strcmp(got.v[0], "V1") == 0 && strcmp(got.v[2], "V3") == 0);
    names_free(&got);
    unlink(path);
}

int main(void)
{
    test_members_adversarial();
    test_random(0);
    test_random(1);
    test_bom(0);
    test_bom(1);
    return check_summary();
}
