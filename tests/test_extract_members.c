/* extract reading a CSV row's members (the file source lists where each
 * column lies in the JSON object it writes) must give exactly what the
 * scanner gives on the same object: the same features, strings, event time,
 * and the same dead records with the same reasons. Each row goes through
 * both ways (the same JSON, with and without members) and the two batches
 * are compared field by field: hand-written adversarial rows (escapes,
 * control bytes, non-ASCII UTF-8, empty fields, headers that change shape)
 * and random rows (those with a field that is not UTF-8 the source's to
 * kill). */
#include <math.h>

#include "connectors/csv.h"
#include "tests/check.h"
#include "tests/op_harness.h"

extern const struct weir_operator_type weir_op_extract;

#define CAP 64

/* Number, string (required and optional), bool with default, timestamp;
 * and a field no header has. */
static const char *const FIELDS =
    "{\"type\": \"extract\", \"fields\": {"
    "\"amt\": \"/amt\","
    "\"id\": {\"path\": \"/id\", \"type\": \"string\"},"
    "\"note\": {\"path\": \"/note\", \"type\": \"string\", \"required\": false},"
    "\"vip\": {\"path\": \"/vip\", \"type\": \"bool\", \"default\": true},"
    "\"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\"},"
    "\"gone\": {\"path\": \"/gone\", \"required\": false}}}";

/* A nested pointer: records must go to the scanner. */
static const char *const NESTED =
    "{\"type\": \"extract\", \"fields\": {\"amt\": \"/amt\", \"x\": {\"path\": \"/id/0\", "
    "\"required\": false}}}";

struct pair {
    struct weir_batch *with, *without;
    int rows;
};

/* Appends a record holding text[0..len) (not NUL-terminated). */
static int push_text(struct weir_batch *b, const char *text, size_t len)
{
    int i = weir_batch_push(b);
    CHECK(i >= 0);
    b->rec[i].value = weir_arena_strdup(&b->arena, text, len);
    b->rec[i].value_len = (uint32_t)len;
    b->rec[i].offset = i + 1;
    return i;
}

/* Converts line under h and pushes it to both batches (rows that do not
 * convert are the source's to kill, not extract's: skipped). */
static void push_row(struct pair *pr, struct weir_csv_header *h, const char *line, size_t len)
{
    struct weir_buf json = {0};
    char reason[160];
    struct weir_members *m = malloc(sizeof *m + (h->n + 1) * sizeof m->m[0]);
    CHECK(m != NULL);
    if (weir_csv_row_members(h, line, len, &json, m, reason, sizeof reason) == 0) {
        CHECK(h->shape == 0 || m->n == h->n);
        int i = push_text(pr->with, json.data, json.len);
        int j = push_text(pr->without, json.data, json.len);
        CHECK(i >= 0 && i == j);
        if (m->n) {
            struct weir_members *copy =
                weir_arena_alloc(&pr->with->arena, sizeof *m + m->n * sizeof m->m[0]);
            memcpy(copy, m, sizeof *m + m->n * sizeof m->m[0]);
            pr->with->rec[i].members = copy;
        }
        pr->rows++;
    }
    free(m);
    weir_buf_free(&json);
}

static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Runs op on both batches and compares them record by record. */
static void run_and_compare(struct h_op *h, struct pair *pr)
{
    struct weir_batch *a = pr->with, *b = pr->without;
    CHECK(h->type->process(&h->op, a) == WEIR_OP_CONTINUE);
    CHECK(h->type->process(&h->op, b) == WEIR_OP_CONTINUE);
    CHECK(a->n == b->n);
    for (uint32_t i = 0; i < a->n; i++) {
        const struct weir_record *x = &a->rec[i], *y = &b->rec[i];
        CHECK(x->flags == y->flags);
        if (!weir_record_live(x) || !weir_record_live(y)) {
            if (x->reason && y->reason)
                CHECK_STR(x->reason, y->reason);
            continue;
        }
        CHECK(x->ts_ms == y->ts_ms);
        for (uint32_t c = 0; c < a->nfeat; c++)
            CHECK(same_float(weir_batch_row(a, i)[c], weir_batch_row(b, i)[c]));
        for (uint32_t c = 0; c < a->nstr; c++) {
            const struct weir_str *s = &a->S[(size_t)i * a->nstr + c];
            const struct weir_str *t = &b->S[(size_t)i * b->nstr + c];
            CHECK(!s->p == !t->p && s->len == t->len);
            if (s->p && t->p && s->len == t->len)
                CHECK(memcmp(s->p, t->p, s->len) == 0);
        }
    }
}

static void pair_start(struct pair *pr, struct weir_batch_pool *pool)
{
    pr->with = weir_batch_get(pool);
    pr->without = weir_batch_get(pool);
    pr->rows = 0;
}

static void pair_end(struct h_op *h, struct pair *pr)
{
    run_and_compare(h, pr);
    weir_batch_put(pr->with);
    weir_batch_put(pr->without);
}

static void header(struct weir_csv_header *h, const char *line)
{
    const char *why = NULL;
    CHECK(weir_csv_header_parse(h, line, strlen(line), ',', &why) == 0);
}

static const char *const ROWS[] = {
    "1,12.5,c1,hello,true,2024-01-31 12:00:00",
    "2,\"7.25\",123,,false,1700000000000",
    "3,-1e3,\"a\"\"b\",\"x,y\",,2024-01-31T12:00:00.250Z",
    "4,,c4,n,1,2024-01-31 12:00:00",            /* amt empty: null, required */
    "5,abc,c5,n,true,2024-01-31 12:00:00",      /* amt not a number */
    "6,1e999,c6,n,true,2024-01-31 12:00:00",    /* amt out of range */
    "7,1,,n,true,2024-01-31 12:00:00",          /* id null */
    "8,1,\"\",n,true,2024-01-31 12:00:00",      /* id an empty string */
    "9,1,c9,n,maybe,2024-01-31 12:00:00",       /* vip not a bool */
    "10,1,c10,n,true,2024-02-30 00:00:00",      /* no such day */
    "11,1,c11,n,true,",                          /* ts null */
    "12,1,\"tab\there\",\"ctl\x01\",true,1.5e9", /* control bytes: escaped */
    "13,1,\"caf\xc3\xa9\",\"\xc3\xa9\",true,0",
    "14,1,c14,\"back\\slash \"\"q\"\"\",\"false\",-5",
    "15, 1 ,c15,n,true,2024-01-31 12:00:00",     /* spaces around a number */
    "16,0x10,c16,n,true,nan",
    "17,1,c17,n,true,\"2024-01-31 12:00:00+02:00\"",
    "18,1,c18,n,TRUE,1e300",
};

static void test_fixed_rows(struct h_op *h, struct weir_batch_pool *pool)
{
    struct weir_csv_header hd;
    struct pair pr;
    /* The same fields in another order, then a header with a column more,
     * one without some fields, and one with a name JSON must escape (no
     * members: the scanner reads it). */
    static const char *const heads[] = {
        "n,amt,id,note,vip,ts",
        "ts,vip,note,id,amt,n",
        "n,amt,id,note,vip,ts,more",
        "n,x,id,y,z,ts",
        "n,amt,\"i\"\"d\",note,vip,ts",
    };
    for (size_t k = 0; k < sizeof heads / sizeof *heads; k++) {
        header(&hd, heads[k]);
        CHECK((hd.shape == 0) == (k == 4));
        pair_start(&pr, pool);
        for (size_t r = 0; r < sizeof ROWS / sizeof *ROWS; r++) {
            char line[256];
            int n = snprintf(line, sizeof line, "%s%s", ROWS[r], k == 2 ? ",42" : "");
            push_row(&pr, &hd, line, (size_t)n);
        }
        CHECK(pr.rows == (int)(sizeof ROWS / sizeof *ROWS));
        pair_end(h, &pr);
        weir_csv_header_free(&hd);
    }
}

/* Random rows from bytes that matter to CSV, JSON and the parsers. */
static void random_field(char *o, size_t *n, unsigned *seed)
{
    static const char *const atoms[] = {
        "1", "0", "-", ".", "e", "5", "true", "false", "\"", "\"\"", "\\", "\x01", "\xff",
        "\xc3\xa9", " ", "2024-01-31 12:00:00", "T", "Z", "+02:00", "a", "nan", "1e400", ",",
    };
    int parts = (int)(rand_r(seed) % 4);
    for (int p = 0; p < parts; p++) {
        const char *a = atoms[rand_r(seed) % (sizeof atoms / sizeof *atoms)];
        size_t len = strlen(a);
        memcpy(o + *n, a, len);
        *n += len;
    }
}

static void test_random_rows(struct h_op *h, struct weir_batch_pool *pool)
{
    struct weir_csv_header hd;
    struct pair pr;
    unsigned seed = 12345;
    int converted = 0;
    header(&hd, "amt,id,note,vip,ts");
    for (int round = 0; round < 400; round++) {
        pair_start(&pr, pool);
        for (int r = 0; r < CAP; r++) {
            char line[512];
            size_t n = 0;
            for (int f = 0; f < 5; f++) {
                if (f)
                    line[n++] = ',';
                int quote = rand_r(&seed) % 3 == 0;
                if (quote)
                    line[n++] = '"';
                random_field(line, &n, &seed);
                if (quote)
                    line[n++] = '"';
            }
            push_row(&pr, &hd, line, n);
        }
        converted += pr.rows;
        pair_end(h, &pr);
    }
    CHECK(converted > 1000); /* enough rows got through the CSV parser to mean something */
    weir_csv_header_free(&hd);
}

/* Offsets the converter gives point at the bytes it wrote. */
static void test_member_offsets(void)
{
    struct weir_csv_header hd;
    struct weir_buf json = {0};
    char reason[160];
    header(&hd, "a,bb,c");
    struct weir_members *m = malloc(sizeof *m + 3 * sizeof m->m[0]);
    CHECK(weir_csv_row_members(&hd, "1.5,\"x\"\"y\",", 11, &json, m, reason, sizeof reason) == 0);
    weir_buf_append(&json, "", 1); /* NUL-terminated, to compare */
    CHECK_STR(json.data, "{\"a\":1.5,\"bb\":\"x\\\"y\",\"c\":null}");
    CHECK(m->n == 3 && m->shape == hd.shape);
    CHECK(m->m[1].key_len == 2 && memcmp(json.data + m->m[1].key_off, "bb", 2) == 0);
    CHECK(m->m[0].type == 4 /* WEIR_JNUMBER */ && m->m[0].val_len == 3 &&
          memcmp(json.data + m->m[0].val_off, "1.5", 3) == 0);
    CHECK(m->m[1].escaped && m->m[1].val_len == 4 &&
          memcmp(json.data + m->m[1].val_off, "x\\\"y", 4) == 0);
    CHECK(m->m[2].type == 1 /* WEIR_JNULL */);
    free(m);
    weir_buf_free(&json);
    weir_csv_header_free(&hd);
}

int main(void)
{
    struct h_pipe p;
    struct h_op h;
    test_member_offsets();
    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_extract, FIELDS, &p, 0) == 0);
    struct weir_batch_pool *pool = h_pool(&p, CAP);
    test_fixed_rows(&h, pool);
    test_random_rows(&h, pool);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);

    h_pipe_init(&p);
    CHECK(h_build(&h, &weir_op_extract, NESTED, &p, 0) == 0);
    pool = h_pool(&p, CAP);
    test_fixed_rows(&h, pool);
    weir_batch_pool_free(pool);
    h_free(&h);
    h_pipe_free(&p);
    return check_summary();
}
