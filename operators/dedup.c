/* dedup: lets through one record per key within a time-to-live (event time).
 *
 * A record is a duplicate when a record of the same key ("by": a string field
 * or the Kafka key) that was let through has an event time less than `within`
 * away from its own, before or after (out-of-order records are compared the
 * same way). Duplicates are dropped (acknowledged, written nowhere) or sent
 * to the dead-letter sink with a reason (`duplicates`). Records without the
 * key (the field absent, or no Kafka key) are never duplicates.
 *
 * State per key: the event times of the records let through that a future
 * record can still be within `within` of. Future records are at or after the
 * watermark (the partition's largest event time so far minus the pipeline's
 * allowed_lateness; a record behind it is late: dead-lettered or let through
 * unchecked, `late`), and two kept times are at least `within` apart, so at
 * most 2 + ceil(allowed_lateness / within) times matter: the value is that
 * many int64 plus 16 bytes, exact, no approximation. Keys are bounded by
 * max_keys / max_state_bytes (least recently used go first: an evicted key
 * forgets its times) or by a TTL of at least `within` + allowed_lateness,
 * and are durable with the engine's store. The watermark comes back from
 * the keys: each holds the partition's largest time when it last took a
 * record, a duplicate too. A record without the key is checked against the
 * watermark but does not move it: no key would bring its time back. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "engine/operator.h"
#include "engine/opstate.h"
#include "operators/late.h"

#define DEDUP_MAX_SLOTS 64

enum dedup_action { DUP_DROP, DUP_DEAD };
enum dedup_late { LATE_DEAD, LATE_PASS };

#define DEDUP_DEFAULT_ACTION "\"drop\""
#define DEDUP_DROP_DOC "drop (acknowledged, written nowhere)"

struct dedup_conf {
    uint64_t within_ns;
    int duplicates; /* enum dedup_action */
    int late;       /* enum dedup_late */
    struct weir_state_opts state;
    /* resolved by prepare() */
    int64_t within_ms, lateness_ms;
    uint32_t slots;
    uint64_t layout;
};

static const struct weir_option dedup_options[] = {
    {"within", WEIR_OPT_DURATION, "\"1h\"",
     "a record whose key went through less than this long before or after it (event time) is a "
     "duplicate",
     offsetof(struct dedup_conf, within_ns), 0, 0, 0, NULL},
    {"duplicates", WEIR_OPT_ENUM, DEDUP_DEFAULT_ACTION,
     DEDUP_DROP_DOC " or dead (dead-letter sink, with a reason)",
     offsetof(struct dedup_conf, duplicates), 0, 0, 0, "drop|dead"},
    {"late", WEIR_OPT_ENUM, "\"dead\"",
     "records behind the watermark or without an event time: dead (dead-letter sink) or pass "
     "(let through unchecked, not remembered)",
     offsetof(struct dedup_conf, late), 0, 0, 0, "dead|pass"},
    WEIR_STATE_OPTION_ROWS(struct dedup_conf, state),
    {0},
};

static int dedup_prepare(void *vconf, const json_t *raw, struct weir_prepare *p)
{
    struct dedup_conf *c = vconf;
    char path[256];
    int bad = weir_state_opts_prepare(&c->state, raw, p);
    bad += weir_schema_event_time(p, NULL, "no duplicate is found within a time (\"late\": "
                                  "\"dead\" dead-letters every record, \"pass\" lets each "
                                  "through)");
    if (!bad && c->state.by_col == WEIR_BY_NONE) {
        weir_diag_add(p->diag, p->path,
                      "expected \"by\": the key to deduplicate on (a string field or \"%s\")",
                      WEIR_BY_KAFKA_KEY_NAME);
        return 1;
    }
    if (weir_late_whole_ms(p, "within", c->within_ns, &c->within_ms))
        return bad + 1;
    c->lateness_ms = p->lateness_ms;
    if (c->within_ms < 1) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "within"),
                      "expected a duration of at least 1ms");
        return bad + 1;
    }
    int64_t slots = 2 + (c->lateness_ms + c->within_ms - 1) / c->within_ms;
    if (slots > DEDUP_MAX_SLOTS) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "within"),
                      "expected at least allowed_lateness / %d (%lld ms), got %lld ms",
                      DEDUP_MAX_SLOTS - 2,
                      (long long)((c->lateness_ms + DEDUP_MAX_SLOTS - 3) / (DEDUP_MAX_SLOTS - 2)),
                      (long long)c->within_ms);
        return bad + 1;
    }
    /* a TTL runs on the partition's newest time, and a record up to
     * allowed_lateness behind it is still checked */
    if (weir_state_ttl_covers(&c->state, c->within_ms + c->lateness_ms,
                              "\"within\" + allowed_lateness",
                              "a key that expires sooner forgets records before their "
                              "duplicates come", p))
        return bad + 1;
    c->slots = (uint32_t)slots;
    c->layout = weir_hash_u64(weir_hash_str(WEIR_HASH_SEED, "dedup+seen"), c->slots);
    return bad;
}

struct dedup_value {
    uint32_t n; /* kept times in use */
    uint32_t pad;
    int64_t seen; /* the partition's largest event time when the key last took a record */
    int64_t ts[]; /* (slots) event times of records let through, any order */
};

struct dedup_state {
    struct weir_late late;
};

static int dedup_init(struct weir_op *op, struct weir_error *err)
{
    const struct dedup_conf *c = op->conf;
    op->state = calloc(1, sizeof(struct dedup_state));
    uint32_t size = (uint32_t)(sizeof(struct dedup_value) + c->slots * sizeof(int64_t));
    if (!op->state || weir_op_state_declare(op, &c->state, size, c->layout) < 0)
        return weir_error_set(err, -ENOMEM, "dedup: out of memory");
    return 0;
}

static void dedup_destroy(struct weir_op *op)
{
    struct dedup_state *st = op->state;
    if (st)
        weir_late_free(&st->late);
    free(st);
    op->state = NULL;
}

static void dedup_partition(struct weir_op *op, uint32_t part, int assigned)
{
    struct dedup_state *st = op->state;
    (void)assigned;
    if (st)
        weir_late_reset(&st->late, part);
}

/* An empty key is no key: the store maps "" and an absent field to one key,
 * so every record of a client that sends "" would be a duplicate of the
 * first (one payment an hour let through). */
static int has_key(const struct dedup_conf *c, const struct weir_batch *b, uint32_t i)
{
    if (c->state.by_col == WEIR_BY_KAFKA_KEY)
        return b->rec[i].key != NULL && b->rec[i].key_len > 0;
    return b->S[(size_t)i * b->nstr + (size_t)c->state.by_col].len > 0;
}

/* 1 when t is within `within` of a kept time; forgets the times no record
 * at or after wm can be within `within` of. */
static int seen(const struct dedup_conf *c, struct dedup_value *v, int64_t t, int64_t wm)
{
    uint32_t k = 0;
    int dup = 0;
    for (uint32_t j = 0; j < v->n && j < c->slots; j++) {
        if (wm != INT64_MIN && v->ts[j] <= wm - c->within_ms)
            continue; /* expired */
        int64_t d = t > v->ts[j] ? t - v->ts[j] : v->ts[j] - t;
        dup |= d < c->within_ms;
        v->ts[k++] = v->ts[j];
    }
    v->n = k;
    return dup;
}

static void remember(const struct dedup_conf *c, struct dedup_value *v, int64_t t)
{
    if (v->n < c->slots) {
        v->ts[v->n++] = t;
        return;
    }
    uint32_t old = 0; /* cannot happen (see the top): the oldest goes */
    for (uint32_t j = 1; j < v->n; j++)
        old = v->ts[j] < v->ts[old] ? j : old;
    v->ts[old] = t;
}

static void reject(const struct dedup_conf *c, struct weir_batch *b, uint32_t i)
{
    if (c->duplicates == DUP_DROP) {
        weir_batch_drop(b, i);
        return;
    }
    weir_batch_kill(b, i, "dedup: duplicate key");
}

/* What a key knows of its partition's largest time: the keys bring the
 * watermark back. */
static int64_t newest_kept(const void *vconf, const void *value)
{
    const struct dedup_value *v = value;
    int64_t t = v->n ? v->seen : INT64_MIN; /* n 0: a key that took nothing yet */
    for (uint32_t j = 0; j < v->n && j < ((const struct dedup_conf *)vconf)->slots; j++)
        t = v->ts[j] > t ? v->ts[j] : t;
    return t;
}

static int dedup_process(struct weir_op *op, struct weir_batch *b)
{
    const struct dedup_conf *c = op->conf;
    struct dedup_state *st = op->state;
    weir_op_state_batch(op);
    for (uint32_t i = 0; i < b->n; i++) {
        struct weir_record *r = &b->rec[i];
        if (!weir_record_live(r))
            continue;
        if (weir_late_recall(&st->late, op, r->part, newest_kept) < 0)
            return -ENOMEM;
        int64_t wm, max = st->late.max[r->part]; /* grown by the recall */
        int late = weir_late_screen(&st->late, op, b, i, c->lateness_ms, c->late == LATE_DEAD,
                                    "dedup: the record has no event time",
                                    "dedup: event time behind the watermark (late)", &wm);
        if (late < 0)
            return late;
        if (late)
            continue;
        if (!has_key(c, b, i)) {
            st->late.max[r->part] = max;
            continue;
        }
        if (weir_op_replayed(op, r)) /* the restored state counted it: it would match itself */
            continue;
        struct dedup_value *v = weir_op_state(op, b, i, NULL);
        if (!v)
            return -ENOMEM;
        v->seen = st->late.max[r->part];
        if (seen(c, v, r->ts_ms, wm))
            reject(c, b, i);
        else
            remember(c, v, r->ts_ms);
    }
    return WEIR_OP_CONTINUE;
}

const struct weir_operator_type weir_op_dedup = {
    .name = "dedup",
    .reads_declared = 1,
    .summary = "Lets one record per key through within a time-to-live (event time); duplicates "
               "dropped or dead-lettered",
    .options = dedup_options,
    .conf_size = sizeof(struct dedup_conf),
    .prepare = dedup_prepare,
    .init = dedup_init,
    .process = dedup_process,
    .partition = dedup_partition,
    .destroy = dedup_destroy,
};
