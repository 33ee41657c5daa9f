/* The worker's operator chain with an operator that holds batches, the way
 * micro-batching and windows will: it keeps batches (WEIR_OP_HELD), arms a
 * timer on the worker's loop and hands them on later with weir_op_emit(). Every
 * input line must still come out once, in order, and the run must end only
 * after the held records went out (on_timer at the end of input).
 * Also: a file source gives the loop a turn after each batch (the sinks'
 * write completions are seen between batches, not once a read's lines are
 * all done): an operator counts batches that came with no turn between. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/pipeline.h"
#include "engine/worker.h"
#include "tests/check.h"

#define HOLD_MAX 4

struct hold_state {
    struct weir_batch *held[HOLD_MAX];
    int n;
    struct weir_op_timer timer;
    struct weir_op *op;
    int timer_fired, held_total, flushes, flush_asked;
    int64_t timer_now;
};

/* Hands on what is held but the newest `keep` batches, in order. */
static void emit_held(struct hold_state *st, int keep)
{
    int n = st->n - keep;
    for (int i = 0; i < n; i++)
        weir_op_emit(st->op, st->held[i]);
    memmove(st->held, st->held + n, (size_t)keep * sizeof st->held[0]);
    st->n = keep;
}

static int hold_on_timer(struct weir_op *op, struct weir_op_timer *t, int64_t now_ms)
{
    struct hold_state *st = op->state;
    st->timer_fired++;
    st->timer_now = now_ms;
    emit_held(st, st->flush_asked || st->n == 0 ? 0 : 1);
    st->flush_asked = 0;
    return 0;
}

static int hold_init(struct weir_op *op, struct weir_error *err)
{
    struct hold_state *st = calloc(1, sizeof *st);
    if (!st)
        return weir_error_set(err, -12, "out of memory");
    st->op = op;
    op->state = st;
    return 0;
}

/* Holds every batch; hands on all but the newest when HOLD_MAX are held
 * (inside process, the batch itself included) or when the 1 ms deadline
 * fires (the loop turns between a file's batches, so it fires mid-run too).
 * The newest stays until the end of input asks for a flush, so that one
 * always comes. */
static int hold_process(struct weir_op *op, struct weir_batch *b)
{
    struct hold_state *st = op->state;
    st->held[st->n++] = b;
    st->held_total++;
    if (st->n == HOLD_MAX) {
        emit_held(st, 1);
        return WEIR_OP_HELD;
    }
    if (!st->timer.armed)
        weir_op_timer_processing(op, &st->timer, 1);
    return WEIR_OP_HELD;
}

/* Asked to flush (end of input): the records go out later, from the
 * deadline timer's completion, as a GPU back end's would. */
static void hold_flush(struct weir_op *op, int why)
{
    struct hold_state *st = op->state;
    st->flushes++;
    st->flush_asked = 1;
    if (!st->timer.armed)
        weir_op_timer_processing(op, &st->timer, 1);
}

static void hold_destroy(struct weir_op *op)
{
    free(op->state);
}

static const struct weir_option hold_options[] = {{0}};
static const struct weir_operator_type hold_type = {
    .name = "hold", .summary = "test", .options = hold_options, .init = hold_init,
    .process = hold_process, .on_timer = hold_on_timer, .flush = hold_flush,
    .destroy = hold_destroy,
};

/* Loop turns, counted by a before-sleep hook, and the batches that came
 * without one since the batch before. */
static unsigned turns, turns_seen, batches_seen, back_to_back;

static void count_turn(struct weir_loop_hook *h)
{
    (void)h;
    turns++;
}

static int turns_process(struct weir_op *op, struct weir_batch *b)
{
    (void)op;
    (void)b;
    back_to_back += batches_seen++ > 0 && turns == turns_seen;
    turns_seen = turns;
    return 0;
}

static const struct weir_operator_type turns_type = {
    .name = "turns", .summary = "test", .options = hold_options, .process = turns_process,
};

static int count_lines(const char *path, char *first, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (n == 0 && first)
            snprintf(first, size, "%s", line);
        n++;
    }
    fclose(f);
    return n;
}

/* Loads the pipeline at path with the test's operator appended to its chain
 * (weir_pipeline_free's caller takes it off again: it has no config). */
static struct weir_pipeline *load_with(const char *path, const struct weir_operator_type *type)
{
    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    CHECK(weir_pipeline_load(path, NULL, 0, &pl, &diag) == 0);
    weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    if (!pl)
        return NULL;
    struct weir_stage_op *ops = realloc(pl->ops, (pl->nops + 1) * sizeof *ops);
    CHECK(ops != NULL);
    if (!ops) {
        weir_pipeline_free(pl);
        return NULL;
    }
    pl->ops = ops;
    pl->ops[pl->nops++] = (struct weir_stage_op){.type = type, .conf = NULL};
    return pl;
}

/* The same input (one read's worth: 157 batches of 64) through extract and
 * the counting operator into a file. */
static void test_turns(const char *dir, const char *in)
{
    char out[128], pipe_path[128];
    snprintf(out, sizeof out, "%s/turns.jsonl", dir);
    snprintf(pipe_path, sizeof pipe_path, "%s/turns.json", dir);
    FILE *f = fopen(pipe_path, "w");
    fprintf(f, "{\"source\":{\"type\":\"file\",\"path\":\"%s\",\"max_records\":64},"
               "\"operators\":[{\"type\":\"extract\",\"fields\":{\"v\":\"/v\"}}],"
               "\"sinks\":[{\"type\":\"file\",\"path\":\"%s\"}]}",
            in, out);
    fclose(f);
    struct weir_pipeline *pl = load_with(pipe_path, &turns_type);
    if (!pl)
        return;
    struct weir_error err = {0};
    CHECK(pl->sinks[0].type->setup(pl->sinks[0].conf, &err) == 0);
    struct weir_worker w;
    struct weir_loop_hook hook = {.run = count_turn};
    int rc = weir_worker_init(&w, 0, 1, pl, 1, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        weir_loop_add_hook(w.loop, &hook);
        CHECK(weir_worker_run(&w) == 0);
        CHECK(w.stats.records_out == 10006);
    }
    weir_worker_destroy(&w);
    CHECK(batches_seen == (10007 + 63) / 64);
    CHECK(back_to_back == 0);
    if (back_to_back)
        fprintf(stderr, "%u of %u batches came with no loop turn before them\n", back_to_back,
                batches_seen);
    pl->nops--;
    weir_pipeline_free(pl);
    unlink(out);
    unlink(pipe_path);
}

int main(void)
{
    char dir[] = "/tmp/weir-test-worker-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char in[128], out[128], dead[128], pipe_path[128];
    snprintf(in, sizeof in, "%s/in.jsonl", dir);
    snprintf(out, sizeof out, "%s/out.jsonl", dir);
    snprintf(dead, sizeof dead, "%s/dead.jsonl", dir);
    snprintf(pipe_path, sizeof pipe_path, "%s/p.json", dir);
    FILE *f = fopen(in, "w");
    enum { N = 10007 };
    for (int i = 0; i < N; i++)
        fprintf(f, i == 5000 ? "{\"v\": oops}\n" : "{\"v\":%d}\n", i);
    fclose(f);
    f = fopen(pipe_path, "w");
    fprintf(f, "{\"source\":{\"type\":\"file\",\"path\":\"%s\",\"max_records\":64},"
               "\"operators\":[{\"type\":\"extract\",\"fields\":{\"v\":\"/v\"}}],"
               "\"sinks\":[{\"type\":\"file\",\"path\":\"%s\"}],"
               "\"dead_letter\":{\"type\":\"file\",\"path\":\"%s\"}}",
            in, out, dead);
    fclose(f);

    struct weir_pipeline *pl = load_with(pipe_path, &hold_type);
    if (!pl)
        return check_summary();

    struct weir_error err = {0};
    CHECK(pl->sinks[0].type->setup(pl->sinks[0].conf, &err) == 0);
    CHECK(pl->dead.type->setup(pl->dead.conf, &err) == 0);
    struct weir_worker w;
    int rc = weir_worker_init(&w, 0, 1, pl, 1, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        rc = weir_worker_run(&w);
        CHECK(rc == 0);
        CHECK(w.stats.records_in == N);
        CHECK(w.stats.records_out == N - 1);
        CHECK(w.stats.dead == 1);
        struct hold_state *st = w.ops[w.nops - 1].state;
        CHECK(st->held_total == (N + 63) / 64); /* every batch went through the holder */
        CHECK(st->n == 0);                      /* and none stayed there */
        CHECK(st->timer_fired >= 1);            /* the deadline timer fired, */
        CHECK(st->timer_now > 1500000000000);   /* told the wall-clock time in ms */
        CHECK(st->flushes >= 1);                /* the end of input asked for a flush */
        CHECK(w.ops[w.nops - 1].held == 0);
    }
    weir_worker_destroy(&w);
    char first[256] = "";
    CHECK(count_lines(out, first, sizeof first) == N - 1);
    CHECK_STR(first, "{\"v\":0,\"alert\":false}\n");
    CHECK(count_lines(dead, NULL, 0) == 1);
    /* In order: line k of the output holds v = k (k < 5000) or k + 1. */
    f = fopen(out, "r");
    char line[256];
    int k = 0, ordered = 1;
    while (f && fgets(line, sizeof line, f)) {
        int v = -1;
        sscanf(line, "{\"v\":%d", &v);
        ordered &= v == (k < 5000 ? k : k + 1);
        k++;
    }
    if (f)
        fclose(f);
    CHECK(ordered);
    pl->nops--; /* the test's operator has no config to release */
    weir_pipeline_free(pl);
    test_turns(dir, in);
    unlink(in);
    unlink(out);
    unlink(dead);
    unlink(pipe_path);
    rmdir(dir);
    return check_summary();
}
