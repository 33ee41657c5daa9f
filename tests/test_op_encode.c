/* Tests for the encode operator: one-hot over a vocabulary (values in and
 * out of it, an absent field, "other"), feature hashing against FNV-1a's
 * published test values and a brute-force reference on random strings
 * (signed and not), the names it gives its features, and prepare errors. */
#include <stdlib.h>

#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_encode;

static uint32_t fnv1a_ref(const char *s, size_t n)
{
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x01000193u;
    }
    return h;
}

/* A pipe with a string column "cat" written by operators[0]. */
static void pipe_with_cat(struct h_pipe *p)
{
    h_pipe_init(p);
    struct weir_prepare pr = {.schema = &p->schema, .diag = &p->diag, .op_index = 0};
    CHECK(weir_schema_string_out(&pr, "cat", "operators[0]") == 0);
}

static struct weir_batch *run(struct h_op *h, struct weir_batch_pool *pool, const char *v)
{
    struct weir_batch *b = weir_batch_get(pool);
    int i = weir_batch_push(b);
    if (v)
        b->S[(size_t)i * b->nstr] = (struct weir_str){.p = v, .len = (uint32_t)strlen(v)};
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
    return b;
}

static void test_onehot(void)
{
    struct h_pipe p;
    struct h_op h;
    pipe_with_cat(&p);
    CHECK(h_build(&h, &weir_op_encode,
                  "{\"field\": \"cat\", \"values\": [\"food\", \"travel\", \"\"], \"other\": true}",
                  &p, 1) == 0);
    CHECK(p.schema.nfeat == 4);
    CHECK_STR(p.schema.feat[0].name, "cat_food");
    CHECK_STR(p.schema.feat[1].name, "cat_travel");
    CHECK_STR(p.schema.feat[2].name, "cat_");
    CHECK_STR(p.schema.feat[3].name, "cat_other");
    struct weir_batch_pool *pool = h_pool(&p, 2);
    const char *inputs[] = {"travel", "food", "", "Food", "travel ", NULL};
    const float want[][4] = {{0, 1, 0, 0}, {1, 0, 0, 0}, {0, 0, 1, 0},
                             {0, 0, 0, 1}, {0, 0, 0, 1}, {0, 0, 0, 1}};
    for (int k = 0; k < 6; k++) {
        struct weir_batch *b = run(&h, pool, inputs[k]);
        for (int c = 0; c < 4; c++)
            CHECK(b->X[c] == want[k][c]);
        weir_batch_put(b);
    }
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
}

static void test_hashing(void)
{
    CHECK(fnv1a_ref("a", 1) == 0xe40c292cu);
    CHECK(fnv1a_ref("foobar", 6) == 0xbf9cf968u);
    for (int sgn = 0; sgn < 2; sgn++) {
        struct h_pipe p;
        struct h_op h;
        pipe_with_cat(&p);
        CHECK(h_build(&h, &weir_op_encode,
                      sgn ? "{\"field\": \"cat\", \"buckets\": 7, \"prefix\": \"h\", \"signed\": true}"
                          : "{\"field\": \"cat\", \"buckets\": 7, \"prefix\": \"h\"}",
                      &p, 1) == 0);
        CHECK(p.schema.nfeat == 7);
        CHECK_STR(p.schema.feat[6].name, "h6");
        struct weir_batch_pool *pool = h_pool(&p, 2);
        srand(3);
        for (int t = 0; t < 5000; t++) {
            char v[40];
            int n = rand() % (int)sizeof v;
            for (int i = 0; i < n; i++)
                v[i] = (char)(1 + rand() % 255);
            v[n] = '\0';
            struct weir_batch *b = run(&h, pool, v);
            uint32_t hv = fnv1a_ref(v, (size_t)n);
            for (uint32_t c = 0; c < 7; c++) {
                float w = c == hv % 7 ? (sgn && (hv >> 31) ? -1.0f : 1.0f) : 0.0f;
                CHECK(b->X[c] == w);
            }
            weir_batch_put(b);
        }
        struct weir_batch *b = run(&h, pool, NULL); /* absent: all zero */
        for (int c = 0; c < 7; c++)
            CHECK(b->X[c] == 0.0f);
        weir_batch_put(b);
        weir_batch_pool_free(pool);
        h_free(&h);
        h_pipe_free(&p);
    }
}

static void expect_error(const char *json, const char *want)
{
    struct h_pipe p;
    struct h_op h;
    pipe_with_cat(&p);
    CHECK(h_prepare(&h, &weir_op_encode, json, &p, 1) > 0);
    CHECK_STR(h_last_diag(&p), want);
    h_free(&h);
    h_pipe_free(&p);
}

int main(void)
{
    test_onehot();
    test_hashing();
    expect_error("{\"field\": \"cat\"}",
                 "test.json: operators[1]: expected exactly one of \"values\" (one-hot) or "
                 "\"buckets\" (feature hashing), got neither");
    expect_error("{\"field\": \"cat\", \"values\": [\"a\"], \"buckets\": 4}",
                 "test.json: operators[1]: expected exactly one of \"values\" (one-hot) or "
                 "\"buckets\" (feature hashing), got both");
    expect_error("{\"field\": \"cat\", \"values\": [\"a\", \"b\", \"a\"]}",
                 "test.json: operators[1].values[2]: expected distinct values, got \"a\" again");
    expect_error("{\"field\": \"dog\", \"buckets\": 4}",
                 "test.json: operators[1].field: unknown string field \"dog\"; earlier operators "
                 "write \"cat\"");
    expect_error("{\"field\": \"cat\", \"values\": [\"food\", \"other\"], \"other\": true}",
                 "test.json: operators[1].other: expected no value named \"other\" beside "
                 "\"other\": true (both would write \"cat_other\"), got values[1] \"other\"");
    expect_error("{\"field\": \"cat\", \"buckets\": 4, \"other\": true}",
                 "test.json: operators[1].other: expected \"other\" only with \"values\" (every "
                 "value falls in a bucket)");
    expect_error("{\"field\": \"cat\", \"values\": [\"a\"], \"signed\": true}",
                 "test.json: operators[1].signed: expected \"signed\" only with \"buckets\"");
    {
        static char many[256 * 8 + 128];
        int n = snprintf(many, sizeof many, "{\"field\": \"cat\", \"other\": true, \"values\": [");
        for (int k = 0; k < 256; k++)
            n += snprintf(many + n, sizeof many - (size_t)n, "%s\"v%d\"", k ? ", " : "", k);
        snprintf(many + n, sizeof many - (size_t)n, "]}");
        expect_error(many, "test.json: operators[1].values: expected at most 256 outputs (values, "
                           "and \"other\"), got 257");
    }
    expect_error("{\"field\": \"cat\", \"buckets\": 1}",
                 "test.json: operators[1].buckets: expected an integer in [2,256], got 1");
    return check_summary();
}
