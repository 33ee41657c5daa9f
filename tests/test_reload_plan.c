/* engine/reload.c: the plan from a running pipeline to a new version of its
 * file. Kinds (nothing, options, shape, restart), which operators and sinks
 * are the same wherever they stand (checked against random permutations of
 * distinct operators, whose mapping is known), columns, the source (kept
 * reading, or re-opened), what needs a restart with its reason, and the
 * new file's reload.watch, which the run takes whatever the kind. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/pipeline.h"
#include "engine/reload.h"
#include "tests/check.h"

static char dir[] = "/tmp/weir-test-reload-plan.XXXXXX";

static struct weir_pipeline *load(const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/p.json", dir);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    if (weir_pipeline_load(path, NULL, 0, &pl, &diag) < 0) {
        weir_diag_print(&diag, stderr);
        fprintf(stderr, "in: %s\n", text);
    }
    weir_diag_free(&diag);
    return pl;
}

/* A pipeline: source options, operators after the extract, sinks, extra top-level keys. */
static struct weir_pipeline *make(const char *source, const char *ops, const char *sinks,
                                  const char *extra)
{
    char *text = malloc(16384);
    snprintf(text, 16384,
             "{\"name\": \"p\", %s \"source\": {\"type\": \"file\", \"path\": \"/dev/null\"%s},"
             " \"operators\": [{\"type\": \"extract\", \"fields\": {\"v\": \"/v\", \"w\": \"/w\","
             " \"t\": {\"path\": \"/t\", \"type\": \"timestamp\"}}}%s%s],"
             " \"sinks\": [%s], \"dead_letter\": {\"type\": \"file\", \"path\": \"%s/dead\"}}",
             extra ? extra : "", source ? source : "", ops && *ops ? ", " : "", ops ? ops : "",
             sinks ? sinks : "{\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan-a\"}",
             dir);
    struct weir_pipeline *pl = load(text);
    free(text);
    return pl;
}

static int plan(const struct weir_pipeline *a, const struct weir_pipeline *b,
                struct weir_reload_plan *p, char *why)
{
    why[0] = 0;
    return a && b ? weir_reload_plan(a, b, p, why, 256) : -99;
}

#define STD "{\"type\": \"standardize\", \"fields\": [\"v\"], \"out\": [\"v_z\"]}"
#define SCORE "{\"type\": \"score\", \"fields\": [\"v_z\"], \"out\": \"s\"}"
#define THR(x) "{\"type\": \"threshold\", \"score\": \"s\", \"above\": " x "}"

static void test_kinds(void)
{
    struct weir_reload_plan p;
    char why[256];
    struct weir_pipeline *a = make(NULL, STD ", " SCORE ", " THR("0.9"), NULL, NULL);
    struct weir_pipeline *same = make(NULL, STD ", " SCORE ", " THR("0.9"), NULL, NULL);
    CHECK(plan(a, same, &p, why) == WEIR_RELOAD_NONE);
    CHECK(p.watch == 0);

    /* only "reload" changed: nothing for the workers; the run takes the watch */
    struct weir_pipeline *watch = make(NULL, STD ", " SCORE ", " THR("0.9"), NULL,
                                       "\"reload\": {\"watch\": true},");
    CHECK(plan(a, watch, &p, why) == WEIR_RELOAD_NONE);
    CHECK(p.watch == 1);
    CHECK(plan(watch, a, &p, why) == WEIR_RELOAD_NONE && p.watch == 0);
    weir_pipeline_free(watch);

    struct weir_pipeline *opt = make(NULL, STD ", " SCORE ", " THR("0.8"), NULL, NULL);
    CHECK(plan(a, opt, &p, why) == WEIR_RELOAD_OPTIONS);
    CHECK(p.changed == 1u << 3); /* the extract is operators[0] */

    /* an operator added at the end: a new column, the others kept */
    struct weir_pipeline *add = make(NULL, STD ", " SCORE ", " THR("0.9") ", "
                                     "{\"type\": \"score\", \"fields\": [\"w\"], \"out\": \"s2\"}",
                                     NULL, NULL);
    CHECK(plan(a, add, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.op_from[0] == 0 && p.op_from[1] == 1 && p.op_from[2] == 2 && p.op_from[3] == 3);
    CHECK(p.op_from[4] == -1);
    CHECK(!p.same_columns);
    CHECK(p.source_same && p.sink_from[0] == 0 && p.sink_from[1] == 1);

    /* removed: the same columns minus one; standardize keeps its index */
    struct weir_pipeline *rm = make(NULL, STD ", " SCORE, NULL, NULL);
    CHECK(plan(a, rm, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.op_from[0] == 0 && p.op_from[1] == 1 && p.op_from[2] == 2);

    /* a column added to extract: extract is new, the rest kept (made again) */
    struct weir_pipeline *col = load(
        "{\"name\": \"p\", \"source\": {\"type\": \"file\", \"path\": \"/dev/null\"},"
        " \"operators\": [{\"type\": \"extract\", \"fields\": {\"v\": \"/v\", \"w\": \"/w\", \"x\": \"/x\"}}, "
        STD ", " SCORE ", " THR("0.9") "],"
        " \"sinks\": [{\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan-a\"}],"
        " \"dead_letter\": {\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan.dead\"}}");
    CHECK(plan(a, col, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.op_from[0] == -1 && p.op_from[1] == 1 && p.op_from[3] == 3 && !p.same_columns);
    CHECK(p.sink_from[1] == -1); /* the dead-letter path differs too */

    /* sinks: one changed, two swapped */
    struct weir_pipeline *s2 =
        make(NULL, STD ", " SCORE ", " THR("0.9"),
             "{\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan-a\"}, "
             "{\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan-b\", \"when\": \"alert\"}",
             NULL);
    struct weir_pipeline *s2x =
        make(NULL, STD ", " SCORE ", " THR("0.9"),
             "{\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan-b\", \"when\": \"alert\"}, "
             "{\"type\": \"file\", \"path\": \"/tmp/weir-test-reload-plan-a\"}",
             NULL);
    CHECK(plan(s2, s2x, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.sink_from[0] == 1 && p.sink_from[1] == 0 && p.sink_from[2] == 2 && p.same_columns);
    CHECK(plan(a, s2, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.sink_from[0] == 0 && p.sink_from[1] == -1 && p.sink_from[2] == 1);

    /* the source: only the batch size: kept reading; another path: re-opened */
    struct weir_pipeline *batch = make(", \"max_records\": 7", STD ", " SCORE ", " THR("0.9"), NULL, NULL);
    CHECK(plan(a, batch, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(!p.source_same && p.source_kept && p.same_columns);
    struct weir_pipeline *csv = make(", \"format\": \"csv\"", STD ", " SCORE ", " THR("0.9"), NULL, NULL);
    CHECK(plan(a, csv, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(!p.source_same && !p.source_kept);

    /* what needs a restart, with why */
    struct weir_pipeline *late =
        make(NULL, STD ", " SCORE ", " THR("0.9"), NULL, "\"allowed_lateness\": \"5s\",");
    CHECK(plan(a, late, &p, why) == -1);
    CHECK_STR(why, "allowed_lateness was added");
    CHECK(plan(late, a, &p, why) == -1);
    CHECK_STR(why, "allowed_lateness was removed");
    /* "name" and "reload" are not the run's shape */
    struct weir_pipeline *w = make(NULL, STD ", " SCORE ", " THR("0.9"), NULL,
                                   "\"reload\": {\"watch\": true},");
    CHECK(plan(a, w, &p, why) == WEIR_RELOAD_NONE);

    /* durable state (a state directory): kept operators stay in their places */
    struct weir_pipeline *ins = make(NULL, "{\"type\": \"score\", \"fields\": [\"w\"], \"out\": \"s2\"}, "
                                     STD ", " SCORE ", " THR("0.9"), NULL, NULL);
    CHECK(plan(a, ins, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.op_from[1] == -1 && p.op_from[2] == 1 && p.op_from[4] == 3);
    a->state_dir = dir;
    CHECK(plan(a, ins, &p, why) == -1);
    CHECK(strstr(why, "keep operators in their places") != NULL);
    CHECK(plan(a, add, &p, why) == WEIR_RELOAD_SHAPE); /* added at the end: fine */
    CHECK(plan(a, csv, &p, why) == -1);
    CHECK(strstr(why, "source changed while keyed state is durable") != NULL);
    a->state_dir = NULL;
    /* keyed state added to a run that kept none: its store would never be
     * saved (durable state is opened at the start, for a pipeline that
     * keeps some) */
    struct weir_pipeline *bare = make(NULL, "{\"type\": \"score\", \"fields\": [\"v\"], "
                                      "\"out\": \"s\"}", NULL, NULL);
    struct weir_pipeline *keyed = make(NULL, "{\"type\": \"score\", \"fields\": [\"v\"], "
                                       "\"out\": \"s\"}, " THR("0.9"), NULL, NULL);
    CHECK(plan(bare, keyed, &p, why) == WEIR_RELOAD_SHAPE); /* nothing durable: fine */
    bare->state_dir = dir;
    CHECK(plan(bare, keyed, &p, why) == -1);
    CHECK_STR(why, "operators[2] (threshold) keeps keyed state and the running pipeline keeps none: "
                   "where it is saved opens at the start");
    CHECK(plan(keyed, bare, &p, why) == WEIR_RELOAD_SHAPE); /* dropping it is fine */
    /* a run that never kept keyed state saved nothing: its source may
     * change and its operators move (they were refused as durable) */
    struct weir_pipeline *bare_csv = make(", \"format\": \"csv\"",
                                          "{\"type\": \"score\", "
                                          "\"fields\": [\"v\"], \"out\": \"s\"}",
                                          NULL, NULL);
    struct weir_pipeline *bare_ins = make(NULL,
                                          "{\"type\": \"score\", \"fields\": [\"w\"], "
                                          "\"out\": \"s2\"}, {\"type\": \"score\", \"fields\": "
                                          "[\"v\"], \"out\": \"s\"}",
                                          NULL, NULL);
    CHECK(plan(bare, bare_csv, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(plan(bare, bare_ins, &p, why) == WEIR_RELOAD_SHAPE && p.op_from[2] == 1);
    bare->keyed_at_start = 1; /* the run began keyed, then a reload dropped it: the store is open */
    CHECK(plan(bare, keyed, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(plan(bare, bare_ins, &p, why) == -1);
    CHECK(strstr(why, "keep operators in their places") != NULL);
    bare->keyed_at_start = 0;
    /* as the operators' init() decides: a constant impute keeps none */
    struct weir_pipeline *fill = make(NULL, "{\"type\": \"impute\", \"fields\": [\"v\"], "
                                      "\"value\": 0}", NULL, NULL);
    struct weir_pipeline *fill_keyed = make(NULL, "{\"type\": \"impute\", \"fields\": [\"v\"], "
                                            "\"value\": 0}, {\"type\": \"score\", \"fields\": "
                                            "[\"v\"], \"out\": \"s\"}, " THR("0.9"), NULL, NULL);
    fill->state_dir = dir;
    CHECK(plan(bare, fill, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(plan(fill, fill_keyed, &p, why) == -1);
    CHECK(strstr(why, "operators[3] (threshold) keeps keyed state") != NULL);

    struct weir_pipeline *all[] = {a,     same,  opt,        add,      rm,      col, s2,
                                   s2x,   batch, csv,        late,     w,       ins, bare,
                                   keyed, fill,  fill_keyed, bare_csv, bare_ins};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        weir_pipeline_free(all[i]);
}

/* Distinct operators (each its own output) permuted, some dropped, some new:
 * each new one must map to the old one with its JSON, or to none. */
static void test_permutations(void)
{
    srand(12);
    enum { M = 8 };
    for (int round = 0; round < 40; round++) {
        int perm[M], n = 0;
        for (int i = 0; i < M; i++)
            perm[i] = i;
        for (int i = M - 1; i > 0; i--) {
            int j = rand() % (i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        char old[4096] = "", next[4096] = "";
        size_t o = 0;
        for (int i = 0; i < M; i++)
            o += (size_t)snprintf(old + o, sizeof old - o, "%s{\"type\": \"score\", \"fields\": "
                                  "[\"v\"], \"out\": \"s%d\"}", i ? ", " : "", i);
        int want[M + 4];
        o = 0;
        for (int i = 0; i < M; i++) {
            int id = perm[i];
            if (rand() % 4 == 0) { /* dropped */
                continue;
            }
            if (rand() % 5 == 0) /* a new one first */
                o += (size_t)snprintf(next + o, sizeof next - o, "%s{\"type\": \"score\", "
                                      "\"fields\": [\"w\"], \"out\": \"n%d\"}", n ? ", " : "", i),
                    want[n++] = -1;
            o += (size_t)snprintf(next + o, sizeof next - o, "%s{\"type\": \"score\", \"fields\": "
                                  "[\"v\"], \"out\": \"s%d\"}", n ? ", " : "", id);
            want[n++] = id + 1; /* after the extract */
        }
        if (n == 0)
            continue;
        struct weir_pipeline *a = make(NULL, old, NULL, NULL), *b = make(NULL, next, NULL, NULL);
        struct weir_reload_plan p;
        char why[256];
        int kind = plan(a, b, &p, why);
        CHECK(kind == WEIR_RELOAD_SHAPE || kind == WEIR_RELOAD_NONE);
        CHECK(p.op_from[0] == 0);
        int good = 1;
        for (int k = 0; k < n; k++)
            good &= p.op_from[k + 1] == want[k];
        CHECK(good);
        if (!good)
            fprintf(stderr, "round %d: %s\n", round, next);
        weir_pipeline_free(a);
        weir_pipeline_free(b);
    }
}

/* A Kafka source switched between at-least-once and exactly-once: its
 * outputs join transactions or not, so no sink goes on with the producer of
 * the other kind (before: the unchanged Kafka sinks were kept, and the new
 * exactly-once source found no transactional producer: the run stopped). */
static void test_guarantee_switch(void)
{
    static const char *fmt =
        "{\"name\": \"p\", \"source\": {\"type\": \"kafka\", \"brokers\": \"embedded\","
        " \"topics\": [\"in\"]%s}, \"state\": {\"durable\": false},"
        " \"operators\": [{\"type\": \"extract\", \"fields\": {\"v\": \"/v\"}}],"
        " \"sinks\": [{\"type\": \"kafka\", \"topic\": \"out\"}],"
        " \"dead_letter\": {\"type\": \"kafka\", \"topic\": \"dl\"}}";
    char alo[1024], eos[1024], alo2[1024], why[256];
    snprintf(alo, sizeof alo, fmt, "");
    snprintf(eos, sizeof eos, fmt, ", \"guarantee\": \"exactly_once\"");
    snprintf(alo2, sizeof alo2, fmt, ", \"max_inflight_records\": 1000");
    struct weir_pipeline *a = load(alo), *b = load(eos), *c = load(alo2);
    struct weir_reload_plan p;
    CHECK(plan(a, b, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.sink_from[0] == -1 && p.sink_from[1] == -1); /* at-least-once -> exactly-once */
    CHECK(plan(b, a, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.sink_from[0] == -1 && p.sink_from[1] == -1); /* and back */
    CHECK(plan(a, c, &p, why) == WEIR_RELOAD_SHAPE);
    CHECK(p.sink_from[0] == 0 && p.sink_from[1] == 1); /* another source option: kept */
    weir_pipeline_free(a);
    weir_pipeline_free(b);
    weir_pipeline_free(c);
}

/* The score a threshold reads comes from other features after the reload
 * (score's fields [v_z] -> [v_z, w_z]; the columns are the same): the
 * threshold, whose JSON is unchanged, is made again too, since its conf holds
 * the lineage that says which warm-ups mute it (kept, it went on unmuted by
 * w_z's warm-up). */
static void test_lineage(void)
{
    struct weir_reload_plan p;
    char why[256];
#define STD2 "{\"type\": \"standardize\", \"fields\": [\"v\", \"w\"], \"out\": [\"v_z\", \"w_z\"]}"
    struct weir_pipeline *a = make(NULL, STD2 ", " SCORE ", " THR("0.9"), NULL, NULL);
    struct weir_pipeline *b = make(NULL, STD2 ", {\"type\": \"score\", \"fields\": [\"v_z\", "
                                         "\"w_z\"], \"out\": \"s\"}, " THR("0.9"), NULL, NULL);
    CHECK(plan(a, b, &p, why) == WEIR_RELOAD_OPTIONS);
    CHECK(p.changed == (1u << 2 | 1u << 3));
    CHECK(p.relineaged == 1u << 3);
    /* standardize's outputs each come from their own input: a threshold on
     * v_z does not come from w */
    CHECK(a && a->schema.feat_deps[weir_schema_find_feature(&a->schema, "v_z")] ==
                   (weir_col_bit(weir_schema_find_feature(&a->schema, "v_z")) |
                    weir_col_bit(weir_schema_find_feature(&a->schema, "v"))));
    weir_pipeline_free(a);
    weir_pipeline_free(b);
#undef STD2
}

/* An operator with timers (a model with max_delay_ms) whose JSON is the same
 * but whose inputs come from other fields: it would be made again, its armed
 * timer naming the freed instance; a restart, as for any change to it. */
static void test_timer_relineaged(void)
{
    struct weir_reload_plan p;
    char why[256], path[600], ops[2048];
    snprintf(path, sizeof path, "%s/tree.json", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs("{\"learner\": {\"feature_names\": [\"v_z\", \"w_z\"], \"gradient_booster\": "
          "{\"name\": \"gbtree\", \"model\": {\"trees\": [{\"left_children\": [1, -1, -1], "
          "\"right_children\": [2, -1, -1], \"split_indices\": [0, 0, 0], \"split_conditions\": "
          "[0.5, 0.25, -0.75], \"default_left\": [1, 0, 0]}]}}, \"learner_model_param\": "
          "{\"base_score\": \"5E-1\", \"num_class\": \"0\", \"num_feature\": \"2\"}, "
          "\"objective\": {\"name\": \"binary:logistic\"}}}",
          f);
    fclose(f);
    const char *model_fmt =
        "{\"type\": \"standardize\", \"fields\": [\"%s\"], \"out\": [\"v_z\"]}, "
        "{\"type\": \"standardize\", \"fields\": [\"w\"], \"out\": [\"w_z\"]}, "
        "{\"type\": \"model\", \"path\": \"%s\", \"out\": \"p\", "
        "\"max_delay_ms\": 500}";
    snprintf(ops, sizeof ops, model_fmt, "v", path);
    struct weir_pipeline *a = make(NULL, ops, NULL, NULL);
    snprintf(ops, sizeof ops, model_fmt, "w", path);
    struct weir_pipeline *b = make(NULL, ops, NULL, NULL);
    CHECK(plan(a, b, &p, why) == -1);
    CHECK(strstr(why, "operators[3] (model) uses timers") != NULL);
    weir_pipeline_free(a);
    weir_pipeline_free(b);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_kinds();
    test_lineage();
    test_permutations();
    test_guarantee_switch();
    test_timer_relineaged();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s /tmp/weir-test-reload-plan-a /tmp/weir-test-reload-plan-b", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
