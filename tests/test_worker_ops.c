/* What an operator may ask of the engine (engine/operator.h), through a real
 * worker with a file sink and no source: batches are handed in with
 * weir_worker_dispatch and the worker's loop is stepped by the test.
 *  - a fresh batch tied to its input: the input's ticket is done only after
 *    the new batch went through the sinks too;
 *  - busy: the sources are asked to pause while an operator is busy;
 *  - batch memory: an operator supplies the matrices' memory;
 *  - event-time timers fire when the partition's watermark (largest event
 *    time minus allowed_lateness) passes, told the watermark;
 *  - quiesce: the engine waits on the loop for an operator that empties
 *    later, from a timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/pipeline.h"
#include "engine/worker.h"
#include "tests/check.h"

struct probe {
    struct weir_op *op;
    struct weir_batch *held_new;   /* a tied batch waiting for its timer */
    struct weir_batch *held_in;    /* an input held until flush */
    struct weir_op_timer deadline, event;
    int mode;                      /* what process() does: see MODE_* */
    int event_fired;
    int64_t event_now;
    int flushes;
};

enum { MODE_TIE, MODE_EVENT, MODE_HOLD };

static struct probe probe;

static int probe_init(struct weir_op *op, struct weir_error *err)
{
    probe.op = op;
    op->state = &probe;
    return 0;
}

static int probe_timer(struct weir_op *op, struct weir_op_timer *t, int64_t now_ms)
{
    struct probe *p = op->state;
    if (t == &p->event) {
        p->event_fired++;
        p->event_now = now_ms;
    } else if (p->held_new) {
        struct weir_batch *b = p->held_new;
        p->held_new = NULL;
        weir_op_emit_new(op, b);
    } else if (p->held_in) {
        struct weir_batch *b = p->held_in;
        p->held_in = NULL;
        weir_op_emit(op, b);
    }
    return 0;
}

static int probe_process(struct weir_op *op, struct weir_batch *b)
{
    struct probe *p = op->state;
    if (p->mode == MODE_TIE) {
        /* one summary record per input batch, sent 2 ms later */
        struct weir_batch *nb = weir_op_batch_new(op);
        CHECK(nb != NULL);
        int i = weir_batch_push(nb);
        const char *v = "{\"summary\":1}";
        nb->rec[i].value = weir_arena_strdup(&nb->arena, v, strlen(v));
        nb->rec[i].value_len = (uint32_t)strlen(v);
        CHECK(weir_op_batch_tie(op, nb, b) == 0);
        p->held_new = nb;
        weir_op_timer_processing(op, &p->deadline, 2);
    } else if (p->mode == MODE_EVENT && !p->event.armed && !p->event_fired) {
        weir_op_timer_event(op, &p->event, b->rec[0].part, 1000);
    } else if (p->mode == MODE_HOLD) {
        p->held_in = b;
        return WEIR_OP_HELD;
    }
    return WEIR_OP_CONTINUE;
}

/* Asked to flush: empties later, from its timer. */
static void probe_flush(struct weir_op *op, int why)
{
    struct probe *p = op->state;
    p->flushes++;
    weir_op_timer_processing(op, &p->deadline, 1);
}

static int probe_assigned; /* partition(.., 1) calls: its clock starts again */
static void probe_partition(struct weir_op *op, uint32_t part, int assigned)
{
    probe_assigned += assigned;
}

static const struct weir_option probe_options[] = {{0}};
static const struct weir_operator_type probe_type = {
    .name = "probe",
    .summary = "test",
    .options = probe_options,
    .init = probe_init,
    .process = probe_process,
    .on_timer = probe_timer,
    .flush = probe_flush,
    .partition = probe_partition,
};

/* A state back end that has nothing saved: its restore never ends here. */
static int fake_restore(struct weir_durable *d, uint32_t part, const char *topic, int32_t partition)
{
    return 0;
}
static const struct weir_durable_type fake_durable = {.name = "fake", .restore = fake_restore};

static int mem_allocs, mem_frees;
static void *mem_alloc(void *ctx, size_t size)
{
    mem_allocs++;
    return aligned_alloc(64, (size + 63) & ~(size_t)63);
}
static void mem_free(void *ctx, void *ptr)
{
    mem_frees++;
    free(ptr);
}
static const struct weir_batch_mem mem = {mem_alloc, mem_free, NULL};

static int ticket_done_count;
static void on_ticket_done(struct weir_ticket *t)
{
    ticket_done_count++;
}

static void test_quiesced(struct weir_worker *ww, void *ctx)
{
    (*(int *)ctx)++;
}

/* At a quiesce that asked for acknowledged outputs: what the sink still has
 * in flight then (it must be nothing). */
static void test_quiesced_acked(struct weir_worker *ww, void *ctx)
{
    *(int *)ctx = ww->sinks[0]->type->flush(ww->sinks[0]);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

/* Steps the loop until cond or 2 s. */
#define STEP_UNTIL(w, cond)                                                                        \
    for (uint64_t t0_ = weir_now_ns(); !(cond) && weir_now_ns() - t0_ < 2000000000ull;)            \
        weir_loop_step((w)->loop, 0)

static struct weir_batch *records(struct weir_worker *w, int n, int64_t ts0, uint32_t part)
{
    struct weir_batch *b = weir_worker_batch(w);
    for (int k = 0; k < n; k++) {
        int i = weir_batch_push(b);
        char v[64];
        int len = snprintf(v, sizeof v, "{\"v\":%d}", k);
        b->rec[i].value = weir_arena_strdup(&b->arena, v, (size_t)len);
        b->rec[i].value_len = (uint32_t)len;
        b->rec[i].ts_ms = ts0 + k;
        b->rec[i].part = part;
    }
    return b;
}

int main(void)
{
    char dir[] = "/tmp/weir-test-worker-ops-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char out[128], pipe_path[128];
    snprintf(out, sizeof out, "%s/out.jsonl", dir);
    snprintf(pipe_path, sizeof pipe_path, "%s/p.json", dir);
    FILE *f = fopen(pipe_path, "w");
    fprintf(f, "{\"source\":{\"type\":\"file\",\"path\":\"/dev/null\"},\"allowed_lateness\":\"100ms\","
               "\"operators\":[{\"type\":\"extract\",\"fields\":{\"v\":\"/v\","
               "\"t\":{\"path\":\"/t\",\"type\":\"timestamp\",\"required\":false}}}],"
               "\"sinks\":[{\"type\":\"file\",\"path\":\"%s\"}]}", out);
    fclose(f);
    struct weir_diag diag = {0};
    struct weir_pipeline *pl = NULL;
    CHECK(weir_pipeline_load(pipe_path, NULL, 0, &pl, &diag) == 0);
    weir_diag_print(&diag, stderr);
    weir_diag_free(&diag);
    if (!pl)
        return check_summary();
    struct weir_stage_op *ops = realloc(pl->ops, (pl->nops + 1) * sizeof *ops);
    pl->ops = ops;
    pl->ops[pl->nops++] = (struct weir_stage_op){.type = &probe_type, .conf = NULL};
    struct weir_error err = {0};
    CHECK(pl->sinks[0].type->setup(pl->sinks[0].conf, &err) == 0);

    struct weir_worker w;
    int rc = weir_worker_init(&w, 0, 1, pl, 0, &err);
    CHECK(rc == 0);
    if (rc == 0) {
        struct weir_op *op = &w.ops[w.nops - 1];
        /* batch memory: only before the first batch exists */
        CHECK(weir_op_batch_memory(op, &mem) == 0);
        int slot = weir_worker_partition_assign(&w, "t", 0);
        CHECK(slot == 0 && weir_worker_partition_ready(&w, 0));

        /* 1. tie */
        probe.mode = MODE_TIE;
        struct weir_ticket t = {.done = on_ticket_done};
        weir_worker_dispatch(&w, records(&w, 3, 0, 0), &t);
        CHECK(ticket_done_count == 0 && t.pending > 0); /* the summary is still held */
        STEP_UNTIL(&w, ticket_done_count == 1 && w.sinks[0]->type->flush(w.sinks[0]) == 0);
        CHECK(ticket_done_count == 1);
        CHECK(count_lines(out) == 4); /* 3 inputs + 1 summary */
        CHECK(mem_allocs >= 2); /* the input's and the summary's batches */

        /* 2. busy */
        CHECK(!weir_worker_should_pause(&w));
        weir_op_busy(op, 1);
        CHECK(weir_worker_should_pause(&w));
        weir_op_busy(op, 0);
        CHECK(!weir_worker_should_pause(&w));

        /* 3. event-time timer at 1000 ms with 100 ms lateness */
        probe.mode = MODE_EVENT;
        weir_worker_dispatch(&w, records(&w, 10, 500, 0), NULL);
        CHECK(weir_op_watermark(op, 0) == 509 - 100);
        CHECK(probe.event_fired == 0);
        weir_worker_dispatch(&w, records(&w, 10, 1095, 0), NULL); /* watermark 1004 */
        CHECK(probe.event_fired == 1);
        CHECK(probe.event_now == 1004);
        weir_worker_dispatch(&w, records(&w, 5, 200, 0), NULL); /* late: the watermark stays */
        CHECK(weir_op_watermark(op, 0) == 1004);

        /* 3b. an aborted transaction's rewind reads the state back and
         * starts the partition's clock again, the operators' too: the
         * records read again were late to the clock they had moved */
        w.durable = (struct weir_durable){.type = &fake_durable, .w = &w, .loop = w.loop};
        w.has_durable = 1;
        probe_assigned = 0;
        CHECK(weir_worker_state_reload(&w) == 0);
        CHECK(weir_op_watermark(op, 0) == INT64_MIN && probe_assigned == 1);
        w.parts[0].restoring = 0; /* read back: nothing was saved */
        w.has_durable = 0;
        weir_worker_dispatch(&w, records(&w, 5, 200, 0), NULL);
        CHECK(weir_op_watermark(op, 0) == 204 - 100);
        weir_worker_dispatch(&w, records(&w, 1, 1100, 0), NULL); /* back where it was */

        /* 4. quiesce waits for an operator that empties later */
        probe.mode = MODE_HOLD;
        weir_worker_dispatch(&w, records(&w, 2, 2000, 0), NULL);
        CHECK(op->held == 1 && weir_worker_holding(&w));
        int quiesced = 0;
        weir_loop_step(w.loop, 1); /* nothing asked yet: it keeps holding */
        CHECK(op->held == 1);
        struct weir_quiesce q2 = {.done = test_quiesced, .ctx = &quiesced, .why = WEIR_FLUSH_COMMIT};
        weir_worker_quiesce(&w, &q2);
        CHECK(quiesced == 0); /* never from inside the call */
        STEP_UNTIL(&w, quiesced);
        CHECK(quiesced == 1 && probe.flushes == 1 && op->held == 0);

        /* 4b. one that asks for acknowledged outputs (an at-least-once
         * checkpoint) waits for the sink too: it came back with the lines
         * still being written */
        probe.mode = MODE_EVENT; /* its event fired in 3: it passes records on */
        weir_worker_dispatch(&w, records(&w, 50, 3000, 0), NULL);
        int inflight = -1;
        struct weir_quiesce q3 = {
            .done = test_quiesced_acked, .ctx = &inflight, .why = WEIR_FLUSH_COMMIT, .acked = 1};
        weir_worker_quiesce(&w, &q3);
        /* without waiting: the quiesce ends in the turn's hook, and nothing
         * may come after it to end a wait */
        for (uint64_t t0 = weir_now_ns(); inflight < 0 && weir_now_ns() - t0 < 2000000000ull;)
            weir_loop_step(w.loop, 1);
        CHECK(inflight == 0);
        weir_worker_source_finished(&w);
        CHECK(weir_worker_run(&w) == 0);
    }
    weir_worker_destroy(&w);
    CHECK(mem_frees == mem_allocs);
    pl->nops--;
    weir_pipeline_free(pl);
    unlink(out);
    unlink(pipe_path);
    rmdir(dir);
    return check_summary();
}
