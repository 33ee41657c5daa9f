/* Sink projections (engine/project.c through engine/output.c): random JSON
 * objects (escaped keys, nested values holding braces, quotes and commas,
 * odd whitespace) written through random "fields"/"exclude" patterns, each
 * compared byte for byte with a reference built from the generated members
 * and fnmatch(3) as the wildcard reference. Then fixed cases: a computed
 * field replacing its namesake in place, duplicates, an empty object, and
 * CSV rows listing their members (decided once per shape). Line breaks in
 * the input's whitespace come out as spaces: one record, one line. */
#include <fnmatch.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/csv.h"
#include "engine/output.h"
#include "engine/project.h"
#include "tests/check.h"

/* Keys as written in the record, and what they decode to. */
static const char *const key_raw[] = {"V1",   "V2",       "V10",   "Amount", "TX_FRAUD",
                                      "TX_FRAUD_SCENARIO", "card", "score",  "a\\\"b",
                                      "\\u0041mt",         "",     "x y",    "alert"};
static const char *const key_name[] = {"V1",   "V2",       "V10",   "Amount", "TX_FRAUD",
                                       "TX_FRAUD_SCENARIO", "card", "score",  "a\"b",
                                       "Amt",               "",     "x y",    "alert"};
#define NKEYS (sizeof key_raw / sizeof *key_raw)

static const char *const values[] = {
    "1",       "-2.5e3", "\"x}y{\"", "\"q\\\"},\"", "{\"a\":[1,{\"b\":\"}\"}],\"c\":{}}",
    "[]",      "true",   "null",     "\"\"",        "[\"]\",{\"k\":\"v,\"}]"};
#define NVALUES (sizeof values / sizeof *values)

static const char *const patterns[] = {"V*", "Amount", "card", "score", "alert", "?mt",
                                       "*",  "TX_FRAUD*", "V1?", "a\"b", "", "x*y", "nothing"};
#define NPATTERNS (sizeof patterns / sizeof *patterns)

static const char *const ws[] = {"", " ", "\n\t", "  "};

static int matches_any(const char *const *pats, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (fnmatch(pats[k], name, 0) == 0)
            return 1;
    return 0;
}

/* The output's computed fields: feature "score", string "card", alert. */
struct fixture {
    struct weir_schema schema;
    struct weir_batch_pool *pool;
    struct weir_batch *b;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof *f);
    f->schema.feat[0] = (struct weir_column){.name = "score", .producer = 1, .emit = 1};
    f->schema.nfeat = 1;
    f->schema.str[0] = (struct weir_column){.name = "card", .producer = 2, .emit = 1};
    f->schema.nstr = 1;
    CHECK(weir_batch_pool_new(&f->pool, 4, 1, 1) == 0);
    f->b = weir_batch_get(f->pool);
    weir_batch_push(f->b);
    f->b->X[0] = 0.5f;
    f->b->S[0] = (struct weir_str){.p = "m4sk", .len = 4};
    f->b->rec[0].flags = WEIR_REC_ALERT;
}

/* An output appending what the rule picks: every computed field when keep
 * is empty, else those keep matches, less those drop matches. */
static void output_for(struct weir_output *o, struct fixture *f, const char *const *keep,
                       size_t nkeep, const char *const *drop, size_t ndrop, int *want_score,
                       int *want_card, int *want_alert)
{
    memset(o, 0, sizeof *o);
    o->schema = &f->schema;
    *want_score = (!nkeep || matches_any(keep, nkeep, "score")) && !matches_any(drop, ndrop, "score");
    *want_card = (!nkeep || matches_any(keep, nkeep, "card")) && !matches_any(drop, ndrop, "card");
    *want_alert = (!nkeep || matches_any(keep, nkeep, "alert")) && !matches_any(drop, ndrop, "alert");
    const char *names[3];
    size_t n = 0;
    if (*want_score) {
        o->cols[o->ncols++] = 0;
        names[n++] = "score";
    }
    if (*want_card) {
        o->strs[o->nstrs++] = 0;
        names[n++] = "card";
    }
    if (*want_alert) {
        o->alert = 1;
        names[n++] = "alert";
    }
    CHECK(weir_output_keys(o) == 0);
    o->proj = calloc(1, sizeof *o->proj);
    CHECK(weir_projection_build(o->proj, keep, nkeep, drop, ndrop, names, n) == 0);
}

/* One output, its patterns and what it appends: a random one per record,
 * or (shared) one for many records, so that the per-thread decision cache
 * sees keys change places between records. */
struct out_case {
    const char *keep[NPATTERNS], *drop[NPATTERNS];
    size_t nkeep, ndrop;
    struct weir_output o;
    int ws_, wc, wa;
};

static void random_output(struct fixture *f, struct out_case *oc)
{
    oc->nkeep = oc->ndrop = 0;
    for (size_t k = 0; k < NPATTERNS; k++) {
        if (rand() % 5 == 0)
            oc->keep[oc->nkeep++] = patterns[k];
        if (rand() % 6 == 0)
            oc->drop[oc->ndrop++] = patterns[k];
    }
    if (rand() % 3 == 0)
        oc->nkeep = 0;
    output_for(&oc->o, f, oc->keep, oc->nkeep, oc->drop, oc->ndrop, &oc->ws_, &oc->wc, &oc->wa);
}

static void random_case(struct fixture *f, unsigned seed, struct out_case *shared)
{
    srand(seed);
    struct out_case own, *oc = shared ? shared : &own;
    if (!shared)
        random_output(f, &own);
    const char *const *keep = oc->keep, *const *drop = oc->drop;
    size_t nkeep = oc->nkeep, ndrop = oc->ndrop;
    int ws_ = oc->ws_, wc = oc->wc, wa = oc->wa;
    struct weir_output o = oc->o;

    /* A record of distinct keys in random order, and the expected output. */
    char rec[4096], want[4096];
    size_t rn = 0, wn = 0;
    int used[NKEYS] = {0}, done_score = 0, done_card = 0, done_alert = 0;
    rn += (size_t)snprintf(rec + rn, sizeof rec - rn, "%s{", ws[rand() % 4]);
    wn += (size_t)snprintf(want + wn, sizeof want - wn, "{");
    size_t nmembers = (size_t)rand() % (NKEYS + 1);
    int firstw = 1;
    for (size_t m = 0; m < nmembers; m++) {
        size_t k = (size_t)rand() % NKEYS;
        if (used[k])
            continue;
        used[k] = 1;
        char member[512];
        snprintf(member, sizeof member, "\"%s\"%s:%s%s", key_raw[k], ws[rand() % 4],
                 ws[rand() % 4], values[rand() % NVALUES]);
        rn += (size_t)snprintf(rec + rn, sizeof rec - rn, "%s%s%s%s", m ? "," : "",
                               ws[rand() % 4], member, ws[rand() % 4]);
        const char *name = key_name[k];
        const char *text = NULL;
        if (ws_ && strcmp(name, "score") == 0) {
            text = "\"score\":0.5";
            done_score = 1;
        } else if (wc && strcmp(name, "card") == 0) {
            text = "\"card\":\"m4sk\"";
            done_card = 1;
        } else if (wa && strcmp(name, "alert") == 0) {
            text = "\"alert\":true";
            done_alert = 1;
        } else if (!matches_any(drop, ndrop, name) && (!nkeep || matches_any(keep, nkeep, name))) {
            text = member;
        }
        if (text) {
            wn += (size_t)snprintf(want + wn, sizeof want - wn, "%s%s", firstw ? "" : ",", text);
            firstw = 0;
        }
    }
    rn += (size_t)snprintf(rec + rn, sizeof rec - rn, "}%s", ws[rand() % 4]);
    if (ws_ && !done_score)
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "%s\"score\":0.5", firstw ? "" : ","),
            firstw = 0;
    if (wc && !done_card)
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "%s\"card\":\"m4sk\"", firstw ? "" : ","),
            firstw = 0;
    if (wa && !done_alert)
        wn += (size_t)snprintf(want + wn, sizeof want - wn, "%s\"alert\":true", firstw ? "" : ",");
    for (size_t k = 0; k < wn; k++) /* one record, one line: copied line breaks become spaces */
        want[k] = want[k] == '\n' ? ' ' : want[k];
    snprintf(want + wn, sizeof want - wn, "}\n");

    f->b->rec[0].value = rec;
    f->b->rec[0].value_len = (uint32_t)rn;
    json_error_t e;
    json_t *valid = json_loadb(rec, rn, 0, &e);
    CHECK(valid != NULL); /* the generator writes JSON */
    json_decref(valid);
    struct weir_buf out = {0};
    CHECK(weir_output_record(&out, &o, f->b, 0) == 0);
    weir_buf_cstr(&out);
    if (strcmp(out.data, want) != 0)
        fprintf(stderr, "seed %u: record %s\n", seed, rec);
    CHECK_STR(out.data, want);
    json_t *parsed = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &e);
    CHECK(parsed != NULL);
    json_decref(parsed);
    weir_buf_free(&out);
    if (!shared)
        weir_output_free(&o);
}

static const char *write_one(struct fixture *f, const char *rec, const char *const *keep,
                             size_t nkeep, const char *const *drop, size_t ndrop)
{
    static char text[1024];
    struct weir_output o;
    int a, b, c;
    output_for(&o, f, keep, nkeep, drop, ndrop, &a, &b, &c);
    f->b->rec[0].value = rec;
    f->b->rec[0].value_len = (uint32_t)strlen(rec);
    struct weir_buf out = {0};
    CHECK(weir_output_record(&out, &o, f->b, 0) == 0);
    snprintf(text, sizeof text, "%.*s", (int)out.len, out.data);
    weir_buf_free(&out);
    weir_output_free(&o);
    return text;
}

/* Rows that list their members are written from the decisions for their
 * shape: rows of two headers in turn, so that the shape changes at every
 * record, each written as the same row without its members list is (kept
 * members next to each other, and apart with a dropped one between). */
static void test_members(struct fixture *f)
{
    static const char *const headers[] = {"V1,TX_FRAUD,Amount,card,score,x",
                                          "score,x,Amount,V1,TX_FRAUD,card"};
    static const char *const rows[] = {"1,4111,0,12.5,,\"a,b\"", "7,\"q\",1,3,2,"};
    const char *keep[] = {"*"}, *drop[] = {"TX_FRAUD", "x"};
    struct weir_output o;
    int a, b, c;
    output_for(&o, f, keep, 1, drop, 2, &a, &b, &c);
    struct weir_csv_header h[2];
    const char *reason = NULL;
    for (int k = 0; k < 2; k++)
        CHECK(weir_csv_header_parse(&h[k], headers[k], strlen(headers[k]), ',', &reason) == 0);
    struct weir_members *ms = malloc(sizeof *ms + 6 * sizeof ms->m[0]);
    for (int round = 0; round < 5; round++) {
        const char *row = rows[round / 2 % 2];
        struct weir_buf obj = {0}, with = {0}, without = {0};
        char why[128];
        CHECK(weir_csv_row_members(&h[round % 2], row, strlen(row), &obj, ms, why, sizeof why) == 0);
        CHECK(ms->shape != 0 && ms->n == 6);
        f->b->rec[0].value = obj.data;
        f->b->rec[0].value_len = (uint32_t)obj.len;
        f->b->rec[0].members = ms;
        CHECK(weir_output_record(&with, &o, f->b, 0) == 0);
        f->b->rec[0].members = NULL;
        CHECK(weir_output_record(&without, &o, f->b, 0) == 0);
        CHECK(with.len == without.len && memcmp(with.data, without.data, with.len) == 0);
        if (round == 0)
            CHECK_STR(weir_buf_cstr(&with),
                      "{\"V1\":1,\"Amount\":0,\"card\":\"m4sk\",\"score\":0.5,\"alert\":true}\n");
        weir_buf_free(&obj), weir_buf_free(&with), weir_buf_free(&without);
    }
    free(ms);
    for (int k = 0; k < 2; k++)
        weir_csv_header_free(&h[k]);
    weir_output_free(&o);
}

/* Appended features' keys are copied as 48 fixed bytes when none is
 * longer (output.c, put_features), by their lengths otherwise: names of
 * 1 to 60 bytes, the longest of a record on either side of that edge, each
 * record's line against one written by hand. */
static void test_key_lengths(void)
{
    static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234567";
    char names[3][64];
    int bad = 0;
    for (int longest = 1; longest <= 60; longest++) {
        struct weir_schema schema;
        memset(&schema, 0, sizeof schema);
        int lens[3] = {longest, 1 + longest / 2, 1 + (longest * 7) % 13};
        for (int k = 0; k < 3; k++) {
            memcpy(names[k], letters + k, (size_t)lens[k]);
            names[k][lens[k]] = 0;
            schema.feat[k] = (struct weir_column){.name = names[k], .producer = 1, .emit = 1};
        }
        schema.nfeat = 3;
        struct weir_batch_pool *pool;
        CHECK(weir_batch_pool_new(&pool, 4, 3, 0) == 0);
        struct weir_batch *b = weir_batch_get(pool);
        weir_batch_push(b);
        b->X[0] = 0.25f, b->X[1] = 7, b->X[2] = -3.5f;
        b->rec[0].value = "{\"id\":1}";
        b->rec[0].value_len = 8;
        struct weir_output o;
        memset(&o, 0, sizeof o);
        o.schema = &schema;
        for (int k = 0; k < 3; k++)
            o.cols[o.ncols++] = (uint32_t)k;
        CHECK(weir_output_keys(&o) == 0);
        struct weir_buf line = {0};
        CHECK(weir_output_record(&line, &o, b, 0) == 0);
        char want[512];
        snprintf(want, sizeof want, "{\"id\":1,\"%s\":0.25,\"%s\":7,\"%s\":-3.5}\n", names[0],
                 names[1], names[2]);
        bad += strcmp(weir_buf_cstr(&line), want) != 0;
        weir_buf_free(&line);
        weir_output_free(&o);
        weir_batch_put(b);
        weir_batch_pool_free(pool);
    }
    CHECK(bad == 0);
}

int main(void)
{
    test_key_lengths();
    struct fixture f;
    fixture_init(&f);
    for (unsigned seed = 1; seed <= 3000; seed++)
        random_case(&f, seed, NULL);
    for (unsigned round = 0; round < 20; round++) {
        struct out_case shared;
        srand(100000 + round);
        random_output(&f, &shared);
        for (unsigned seed = 1; seed <= 300; seed++)
            random_case(&f, round * 1000 + seed, &shared);
        weir_output_free(&shared.o);
    }

    const char *none[] = {NULL};
    const char *labels[] = {"TX_FRAUD*"};
    /* a pretty-printed record (a Kafka message): one line out, in JSON and
     * as text; the escaped "\n" in a string stays as written */
    const char *pretty = "{\"a\":\r\n 1,\n\"b\":\"x\\ny\"}";
    CHECK_STR(write_one(&f, pretty, none, 0, none, 0),
              "{\"a\":   1,\"b\":\"x\\ny\",\"score\":0.5,\"card\":\"m4sk\",\"alert\":true}\n");
    {
        struct weir_output o;
        int a, b, c;
        output_for(&o, &f, none, 0, none, 0, &a, &b, &c);
        f.b->rec[0].value = pretty;
        f.b->rec[0].value_len = (uint32_t)strlen(pretty);
        struct weir_buf out = {0};
        CHECK(weir_output_text(&out, &o, f.b, 0) == 0);
        const char *nl = memchr(out.data, '\n', out.len);
        CHECK(nl == out.data + out.len - 1 && !memchr(out.data, '\r', out.len));
        weir_buf_free(&out);
        weir_output_free(&o);
    }
    /* A text line with a projection: the appended fields once, in its head,
     * then the kept input fields less their namesakes (the appended fields
     * were written again in the record's part). */
    {
        struct weir_output o;
        int a, b, c;
        output_for(&o, &f, none, 0, labels, 1, &a, &b, &c);
        const char *rec = "{\"card\":\"4111\",\"TX_FRAUD\":1,\"a\":3}";
        f.b->rec[0].value = rec;
        f.b->rec[0].value_len = (uint32_t)strlen(rec);
        f.b->rec[0].offset = 7;
        struct weir_buf out = {0};
        CHECK(weir_output_text(&out, &o, f.b, 0) == 0);
        CHECK_STR(weir_buf_cstr(&out), "ALERT  line 7       score=0.5  card=\"m4sk\"  {\"a\":3}\n");
        weir_buf_free(&out);
        weir_output_free(&o);
        f.b->rec[0].offset = 0;
    }
    /* The masked card takes the raw one's place; labels never come out. */
    CHECK_STR(write_one(&f, "{\"card\":\"4111 1111\",\"TX_FRAUD\":1,\"TX_FRAUD_SCENARIO\":2,\"a\":3}",
                        none, 0, labels, 1),
              "{\"card\":\"m4sk\",\"a\":3,\"score\":0.5,\"alert\":true}\n");
    /* A duplicated key that a computed field replaces is written once. */
    CHECK_STR(write_one(&f, "{\"card\":\"1\",\"card\":\"2\"}", none, 0, none, 0),
              "{\"card\":\"m4sk\",\"score\":0.5,\"alert\":true}\n");
    /* An empty object; everything dropped. */
    CHECK_STR(write_one(&f, "{}", none, 0, none, 0),
              "{\"score\":0.5,\"card\":\"m4sk\",\"alert\":true}\n");
    const char *all[] = {"*"};
    CHECK_STR(write_one(&f, "{\"a\":1}", none, 0, all, 1), "{}\n");
    /* fields beats nothing: exclude wins over an exact "fields" name. */
    const char *keepv[] = {"V1", "V2"}, *dropv[] = {"V?"};
    CHECK_STR(write_one(&f, "{\"V1\":1,\"V2\":2,\"V3\":3}", keepv, 2, dropv, 1), "{}\n");
    /* The Kafka sink's dead letter from a projected output keeps all but the brace. */
    struct weir_output o;
    int a, b, c;
    output_for(&o, &f, keepv, 2, none, 0, &a, &b, &c);
    CHECK(weir_output_kept_of(&o, &f.b->rec[0], 8) == 7);
    weir_output_free(&o);

    test_members(&f);

    /* Glob corner cases against fnmatch. */
    const char *gp[] = {"*", "a*", "*a", "a*b*c", "?", "??*", "*?*", "a**", ""};
    const char *gs[] = {"", "a", "ab", "abc", "aXbYc", "ba", "acb", "aaa"};
    for (size_t i = 0; i < sizeof gp / sizeof *gp; i++)
        for (size_t j = 0; j < sizeof gs / sizeof *gs; j++)
            CHECK(weir_glob_match(gp[i], gs[j], strlen(gs[j])) == (fnmatch(gp[i], gs[j], 0) == 0));
    /* '?' is one character, as the guide says: "é" is two bytes */
    CHECK(weir_glob_match("caf?", "caf\xC3\xA9", 5) && !weir_glob_match("caf??", "caf\xC3\xA9", 5));
    CHECK(weir_glob_match("*?", "\xC3\xA9", 2) && !weir_glob_match("*??", "\xC3\xA9", 2));
    CHECK(weir_glob_match("*\xC3\xA9x", "\xC3\xA9\xC3\xA9x", 5) && weir_glob_match("a?c",
                                                                                   "a\xE2\x82\xAC"
                                                                                   "c",
                                                                                   5));

    weir_batch_put(f.b);
    weir_batch_pool_free(f.pool);
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
