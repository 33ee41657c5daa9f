/* The worker's partitions (slots, watermarks, operators' timers), batches
 * tied to the inputs that caused them, and durable keyed state: restoring a
 * partition's state when it is assigned and writing what changed at each
 * checkpoint (engine/durable.h).
 *
 * A state entry on the durable back end is key = [u16 operator index][the
 * operator's key bytes], value = [u64 layout][value bytes], and for a TTL
 * store [i64 last touched, ms in the store's clock] after them (an LRU
 * store's records stay as older builds wrote and read them); an entry whose
 * layout differs from the operator's (its configuration changed) is
 * skipped, so a changed pipeline starts that operator afresh. One without
 * the time (a TTL store saved by an older build) comes back as touched at 0. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/log.h"
#include "engine/opstate.h"
#include "engine/worker_internal.h"

/* ---- partitions --------------------------------------------------------------- */

static int slot_find(const struct weir_worker *w, const char *topic, int32_t partition)
{
    for (uint32_t i = 0; i < w->nparts; i++)
        if (w->parts[i].partition == partition && strcmp(w->parts[i].topic, topic) == 0)
            return (int)i;
    return -1;
}

static int slot_get(struct weir_worker *w, const char *topic, int32_t partition)
{
    int s = slot_find(w, topic, partition);
    if (s >= 0)
        return s;
    if (w->nparts == w->partcap) {
        uint32_t cap = w->partcap ? w->partcap * 2 : 8;
        struct weir_partition *v = realloc(w->parts, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        w->parts = v;
        w->partcap = cap;
    }
    struct weir_partition *p = &w->parts[w->nparts];
    memset(p, 0, sizeof *p);
    p->covered = p->covered_saved = p->replay_below = -1;
    if (!(p->topic = strdup(topic)))
        return -ENOMEM;
    p->partition = partition;
    return (int)w->nparts++;
}

void weir_worker_parts_free(struct weir_worker *w)
{
    for (uint32_t i = 0; i < w->nparts; i++)
        free(w->parts[i].topic);
    free(w->parts);
    w->parts = NULL;
    w->nparts = w->partcap = 0;
}

static void ops_partition(struct weir_worker *w, uint32_t slot, int assigned)
{
    for (size_t k = 0; k < w->nops; k++) {
        if (!assigned)
            weir_op_state_drop(&w->ops[k], slot);
        if (w->ops[k].type->partition)
            w->ops[k].type->partition(&w->ops[k], slot, assigned);
    }
}

/* -EINVAL: what was saved does not read as this pipeline's state, not an
 * "Invalid argument". */
static const char *restore_why(int rc)
{
    return rc == -EINVAL ? "saved state that does not read back" : strerror(-rc);
}

static int restore_start(struct weir_worker *w, uint32_t slot)
{
    struct weir_partition *p = &w->parts[slot];
    if (!w->has_durable)
        return 0;
    p->restoring = 1;
    p->skipped = 0;
    w->in_assign = 1;
    int rc = w->durable.type->restore(&w->durable, slot, p->topic, p->partition);
    w->in_assign = 0;
    if (rc < 0) {
        p->restoring = 0;
        struct weir_error e;
        weir_error_set(&e, rc, "cannot restore the state of %s [%d] from %s: %s", p->topic,
                       (int)p->partition, w->durable.where, restore_why(rc));
        weir_worker_fail(w, &e);
    }
    return rc;
}

int weir_worker_partition_assign(struct weir_worker *w, const char *topic, int32_t partition)
{
    int slot = slot_get(w, topic, partition);
    if (slot < 0)
        return slot;
    struct weir_partition *p = &w->parts[slot];
    p->assigned = 1;
    p->owner = w->source;
    p->max_ts = p->watermark = INT64_MIN;
    p->fed = 0;
    p->covered = p->covered_saved = p->replay_below = -1; /* until the restore says */
    ops_partition(w, (uint32_t)slot, 1);
    restore_start(w, (uint32_t)slot);
    return slot;
}

int weir_worker_partition_ready(const struct weir_worker *w, uint32_t slot)
{
    return slot < w->nparts && w->parts[slot].assigned && !w->parts[slot].restoring;
}

void weir_worker_partition_revoke(struct weir_worker *w, uint32_t slot)
{
    if (slot >= w->nparts || !w->parts[slot].assigned)
        return;
    struct weir_partition *p = &w->parts[slot];
    if (p->restoring && w->has_durable && w->durable.type->cancel)
        w->durable.type->cancel(&w->durable, slot);
    p->restoring = 0;
    p->assigned = 0;
    p->owner = NULL;
    weir_worker_state_evictions(w); /* counted before its stores go */
    /* Its event-time timers cannot fire any more: disarm them. */
    for (struct weir_op_timer **t = &w->event_timers; *t;) {
        if ((*t)->part == slot) {
            (*t)->armed = 0;
            *t = (*t)->next;
        } else {
            t = &(*t)->next;
        }
    }
    ops_partition(w, slot, 0);
}

void weir_worker_partition_release(struct weir_worker *w, const struct weir_source *by,
                                   uint32_t slot)
{
    if (slot < w->nparts && w->parts[slot].owner == by)
        weir_worker_partition_revoke(w, slot);
}

int weir_worker_state_reload(struct weir_worker *w)
{
    if (!w->has_durable)
        return 0;
    for (uint32_t s = 0; s < w->nparts; s++) {
        if (!w->parts[s].assigned)
            continue;
        if (w->parts[s].restoring && w->durable.type->cancel)
            w->durable.type->cancel(&w->durable, s);
        weir_worker_state_evictions(w);
        for (size_t k = 0; k < w->nops; k++)
            weir_op_state_drop(&w->ops[k], s);
        /* the records read again say the clock again: the partition's and
         * each operator's own (window, dedup, aggregate judge lateness by
         * it), else they would be behind the times they moved it to */
        w->parts[s].fed = 0;
        w->parts[s].max_ts = w->parts[s].watermark = INT64_MIN;
        for (size_t k = 0; k < w->nops; k++)
            if (w->ops[k].type->partition)
                w->ops[k].type->partition(&w->ops[k], s, 1);
        int rc = restore_start(w, s);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- watermarks and event-time timers ------------------------------------------- */

int64_t weir_worker_watermark(void *ctx, uint32_t part)
{
    const struct weir_worker *w = ctx;
    return part < w->nparts ? w->parts[part].watermark : INT64_MIN;
}

static void fire_event_timers(struct weir_worker *w)
{
    for (struct weir_op_timer **t = &w->event_timers; *t;) {
        struct weir_op_timer *x = *t;
        int64_t wm = x->part < w->nparts ? w->parts[x->part].watermark : INT64_MIN;
        if (wm == INT64_MIN || wm < x->at_ms) {
            t = &x->next;
            continue;
        }
        *t = x->next;
        x->armed = 0;
        if (x->op->type->on_timer)
            x->op->type->on_timer(x->op, x, wm);
        t = &w->event_timers; /* on_timer may have armed or removed timers */
    }
}

void weir_worker_watermarks(struct weir_worker *w, const struct weir_batch *b)
{
    int moved = 0;
    int64_t lateness = (int64_t)(w->pl->lateness_ns / 1000000u);
    for (uint32_t i = 0; i < b->n; i++) {
        const struct weir_record *r = &b->rec[i];
        if (r->part >= w->nparts || !weir_record_live(r))
            continue;
        struct weir_partition *p = &w->parts[r->part];
        p->fed = 1;
        if (r->ts_ms >= 0 && r->ts_ms > p->max_ts) {
            p->max_ts = r->ts_ms;
            p->watermark = r->ts_ms - lateness;
            moved = 1;
        }
    }
    if (moved && w->event_timers)
        fire_event_timers(w);
}

int weir_worker_timer_event(void *ctx, struct weir_op_timer *t)
{
    struct weir_worker *w = ctx;
    t->next = w->event_timers;
    w->event_timers = t;
    return 0;
}

/* ---- batches tied to their inputs ------------------------------------------------ */

struct tie_ticket {
    struct weir_ticket t;
    struct weir_ticket **parents; /* one hold on each */
    uint32_t n, cap;
};

static void tie_done(struct weir_ticket *t)
{
    struct tie_ticket *tt = (struct tie_ticket *)t;
    for (uint32_t i = 0; i < tt->n; i++)
        weir_ticket_release(tt->parents[i], !t->failed);
    free(tt->parents);
    free(tt);
}

static int tie_add(struct tie_ticket *tt, struct weir_ticket *parent)
{
    if (tt->n == tt->cap) {
        uint32_t cap = tt->cap ? tt->cap * 2 : 4;
        struct weir_ticket **v = realloc(tt->parents, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        tt->parents = v;
        tt->cap = cap;
    }
    tt->parents[tt->n++] = parent;
    return 0;
}

/* out's ticket becomes a tie ticket holding each input's ticket once. Its
 * own first hold stands for route()'s release, as a dispatch's does. */
int weir_worker_tie(void *ctx, struct weir_batch *out, struct weir_batch *in)
{
    struct weir_ticket *pt = in->source_ctx;
    struct weir_ticket *ot = out->source_ctx;
    if (!pt || pt == ot)
        return 0;
    struct tie_ticket *tt;
    if (ot && ot->done == tie_done) {
        tt = (struct tie_ticket *)ot;
    } else {
        if (!(tt = calloc(1, sizeof *tt)))
            return -ENOMEM;
        tt->t.done = tie_done;
        tt->t.pending = 1;
        if (ot && tie_add(tt, ot) < 0) { /* the batch's own input: its hold moves here */
            free(tt);
            return -ENOMEM;
        }
        out->source_ctx = &tt->t;
    }
    if (tie_add(tt, pt) < 0)
        return -ENOMEM;
    weir_ticket_hold(pt);
    return 0;
}

/* ---- housekeeping -------------------------------------------------------------- */

/* Every so many batches: TTL stores drop idle keys (the store never does it
 * on its own), in the clock their records use (the partition's watermark,
 * or arrival time); without a back end that saves changes (none, or a
 * state directory, which saves the whole store at the end) nobody reads the
 * dirty set, so it is forgotten (else deleted keys' records would pile up). */
void weir_worker_state_housekeep(struct weir_worker *w)
{
    uint64_t keys = 0, bytes = 0;
    for (size_t k = 0; k < w->nops; k++) {
        const struct weir_op_state *ks = w->ops[k].keyed;
        for (uint32_t p = 0; ks && p < ks->nparts; p++) {
            if (ks->parts[p]) {
                keys += weir_state_count(ks->parts[p]);
                bytes += weir_state_bytes(ks->parts[p]);
            }
        }
    }
    weir_metric_set(&w->m->state_keys, keys);
    weir_metric_set(&w->m->state_bytes, bytes);
    for (size_t k = 0; k < w->nops; k++) {
        const struct weir_op_state *ks = w->ops[k].keyed;
        for (uint32_t p = 0; ks && p < ks->nparts && p < w->nparts; p++) {
            struct weir_state *st = ks->parts[p];
            if (!st)
                continue;
            /* Not while its state is read back (a sweep's deletions would be
             * forgotten with the restore's dirt), nor before a record says
             * which clock its keys' times are in. */
            if (ks->conf.evict == WEIR_EVICT_TTL && !w->parts[p].restoring && w->parts[p].fed) {
                int64_t wm = w->parts[p].watermark;
                int64_t now = wm != INT64_MIN ? wm + (int64_t)(w->pl->lateness_ns / 1000000u)
                                              : weir_wall_ms();
                /* In event time, on the operator's own clock when it lags the
                 * partition's (a filter ahead dropped records that moved the
                 * partition's): the TTL check (at least the window and the
                 * lateness) holds on that clock; on the partition's, a key
                 * went with a window not yet written. */
                int64_t own = weir_state_newest_touch(st);
                weir_state_expire(st, wm != INT64_MIN && own < now ? own : now);
            }
            if (!w->has_durable || w->durable.type->whole)
                weir_state_clean(st);
        }
    }
}

/* Each loop turn, and before stores go: keys the bounds evicted are counted
 * per operator, and said once per operator the first time. An evicted key starts afresh, its
 * warm-up too, when it comes back: a bound below the keys a partition
 * carries (a fleet of hosts over a scorer of half a megabyte per key) turns
 * every key's baseline into a cycle of warm-ups, with nothing else to show. */
void weir_worker_state_evictions(struct weir_worker *w)
{
    for (size_t k = 0; k < w->nops; k++) {
        struct weir_op_state *ks = w->ops[k].keyed;
        for (uint32_t p = 0; ks && p < ks->nparts; p++) {
            struct weir_state *st = ks->parts[p];
            uint64_t n = st ? weir_state_take_pushed_out(st) : 0;
            if (!n)
                continue;
            if (k < WEIR_METRICS_OPS)
                weir_metric_add(&w->m->op[k].evicted, n);
            if (ks->full_said)
                continue;
            ks->full_said = 1;
            uint64_t keys = weir_state_count(st), bytes = weir_state_bytes(st);
            int by = weir_state_pushed_by(st);
            char bound[96];
            int at = 0;
            if (by & WEIR_STATE_BY_KEYS)
                at = snprintf(bound, sizeof bound, "max_keys %llu",
                              (unsigned long long)ks->conf.max_keys);
            if (by & WEIR_STATE_BY_BYTES || !at)
                snprintf(bound + at, sizeof bound - (size_t)at, "%smax_state_bytes %llu",
                         at ? " and " : "", (unsigned long long)ks->conf.max_bytes);
            weir_log(WEIR_LOG_WARN,
                     "worker %d: operators[%d] (%s): keyed state full at %s (%llu key%s, "
                     "about %llu bytes each): keys are evicted (the least recently updated) "
                     "and start afresh, a scorer's warm-up included, when they come back; "
                     "raise %s or spread the keys over more partitions "
                     "(weir_operator_keys_evicted_total counts them)\n",
                     w->id, weir_pipeline_file_op(w->pl, k), w->ops[k].type->name, bound,
                     (unsigned long long)keys, keys == 1 ? "" : "s",
                     (unsigned long long)(keys ? bytes / keys : 0),
                     by == (WEIR_STATE_BY_KEYS | WEIR_STATE_BY_BYTES) ? "both"
                     : by & WEIR_STATE_BY_KEYS                        ? "max_keys"
                                                                      : "max_state_bytes");
        }
    }
}

/* ---- durable state ------------------------------------------------------------ */

/* The changelog entry that says what a checkpoint's state covers: no
 * operator's index, then a name; its value the offset (int64). It goes out
 * once the checkpoint's own entries are acknowledged
 * (weir_worker_checkpoint_covered), so a marker read back means every entry
 * before it is there too: written in order only, an entry given up in an
 * outage (message.timeout.ms) could leave a later marker that landed
 * claiming it (gapless or not: librdkafka lets timeouts make gaps). A
 * checkpoint cut short leaves
 * the previous marker, and records its entries did count are judged late
 * again, as before markers: visibly, in the dead letters, never skipped
 * unseen. */
static const char COVERED_KEY[] = "\xff\xff"
                                  "covered";
#define COVERED_KLEN (sizeof COVERED_KEY - 1)

static int durable_entry(struct weir_durable *d, uint32_t part, const void *key, uint32_t klen,
                         const void *value, uint32_t vlen)
{
    struct weir_worker *w = d->w;
    uint16_t k;
    if (klen < sizeof k)
        return -EINVAL;
    if (klen == COVERED_KLEN && memcmp(key, COVERED_KEY, klen) == 0) {
        if (value && vlen == sizeof(int64_t) && part < w->nparts)
            memcpy(&w->parts[part].replay_below, value, sizeof(int64_t));
        return 0;
    }
    memcpy(&k, key, sizeof k);
    if (k >= w->nops || !w->ops[k].keyed) { /* operators added, moved or removed since */
        if (value && part < w->nparts && !w->parts[part].skipped++)
            w->parts[part].skipped_op = (int)k; /* said, as below: it was dropped unsaid */
        return 0;
    }
    struct weir_op *op = &w->ops[k];
    struct weir_state *s = weir_op_state_part(op, part, 1);
    if (!s)
        return -ENOMEM;
    const char *kb = (const char *)key + sizeof k;
    klen -= (uint32_t)sizeof k;
    if (!value) {
        int rc = weir_state_del(s, kb, klen);
        return rc == -ENOENT ? 0 : rc;
    }
    uint64_t layout;
    int64_t touched = 0; /* a TTL map's clock: without it the key would expire at once */
    uint32_t vs = op->keyed->conf.value_size;
    if (vlen == sizeof layout + vs + sizeof touched)
        memcpy(&touched, (const char *)value + sizeof layout + vs, sizeof touched);
    else if (vlen != sizeof layout + vs)
        vlen = 0;
    if (vlen)
        memcpy(&layout, value, sizeof layout);
    if (!vlen || !weir_op_state_fits(op->keyed, layout)) {
        if (part < w->nparts && !w->parts[part].skipped++) /* said when the restore ends */
            w->parts[part].skipped_op = (int)k;
        /* The key's last record wins even when it does not fit: an older one
         * that fits (a configuration changed and changed back before the
         * log was compacted) would bring the key back stale. */
        int rc = weir_state_del(s, kb, klen);
        return rc == -ENOENT ? 0 : rc;
    }
    return weir_state_put_at(s, kb, klen, (const char *)value + sizeof layout, touched);
}

static void durable_restored(struct weir_durable *d, uint32_t part, int rc)
{
    struct weir_worker *w = d->w;
    if (part >= w->nparts || !w->parts[part].restoring)
        return;
    w->parts[part].restoring = 0;
    for (size_t k = 0; k < w->nops; k++) {
        struct weir_state *s = weir_op_state_part(&w->ops[k], part, 0);
        if (s)
            weir_state_clean(s); /* what was read back is durable already */
    }
    struct weir_partition *p = &w->parts[part];
    if (p->skipped && rc >= 0 && (size_t)p->skipped_op < w->nops && w->ops[p->skipped_op].keyed)
        weir_log(WEIR_LOG_WARN,
                 "worker %d: state of %s [%d]: %llu saved records skipped (the "
                 "first of operators[%d] (%s)): saved by another configuration or build; "
                 "their keys start afresh\n",
                 w->id, p->topic, (int)p->partition, (unsigned long long)p->skipped,
                 weir_pipeline_file_op(w->pl, (size_t)p->skipped_op),
                 w->ops[p->skipped_op].type->name);
    else if (p->skipped && rc >= 0)
        weir_log(WEIR_LOG_WARN,
                 "worker %d: state of %s [%d]: %llu saved records skipped (the "
                 "first saved by the operator at position %d, where this pipeline has %s): "
                 "operators were added, moved or removed since; their keys start afresh\n",
                 w->id, p->topic, (int)p->partition, (unsigned long long)p->skipped, p->skipped_op,
                 (size_t)p->skipped_op < w->nops ? "one that keeps no keyed state" : "none");
    if (rc < 0) {
        struct weir_error e;
        weir_error_set(&e, rc, "cannot restore the state of %s [%d] from %s: %s",
                       w->parts[part].topic, (int)w->parts[part].partition, d->where,
                       restore_why(rc));
        weir_worker_fail(w, &e);
        return;
    }
    if (!w->in_assign && w->has_source && w->source->type->partition_ready)
        w->source->type->partition_ready(w->source, part);
}

/* Without a store that saves changes nothing reads the maps' dirt: their lookups need
 * not mark it (housekeeping would only forget it again). Before any record:
 * the maps are made on the first. */
static int no_changelog(struct weir_worker *w)
{
    for (size_t k = 0; k < w->nops; k++)
        if (w->ops[k].keyed)
            w->ops[k].keyed->conf.no_changelog = 1;
    return 0;
}

void weir_worker_keyed_marks(struct weir_worker *w, struct weir_op *op)
{
    if (op->keyed && (!w->has_durable || w->durable.type->whole))
        op->keyed->conf.no_changelog = 1;
}

int weir_worker_durable_open(struct weir_worker *w, struct weir_error *err)
{
    const struct weir_pipeline *pl = w->pl;
    const struct weir_durable_type *type = NULL;
    if (!w->stateful || !pl->state_durable)
        return no_changelog(w);
    if (pl->state_dir && !pl->source_type->durable) /* a Kafka source: its changelog only */
        type = &weir_durable_dir;
    else if (pl->source_type->durable)
        type = pl->source_type->durable;
    if (!type)
        return no_changelog(w); /* a file run without --state-dir: state lives as long as the run */
    if (type->whole)
        no_changelog(w);
    w->durable = (struct weir_durable){
        .type = type, .w = w, .loop = w->loop, .where = pl->state_dir ? pl->state_dir : pl->state_topic,
        .exactly_once = pl->source_type->transactional && pl->source_type->transactional(pl->source_conf),
        .entry = durable_entry, .restored = durable_restored,
    };
    w->has_durable = 1;
    int rc = type->open(&w->durable, err);
    return rc < 0 ? weir_error_prefix(err, "state (%s)", w->durable.where) : 0;
}

void weir_worker_durable_close(struct weir_worker *w)
{
    if (w->has_durable)
        w->durable.type->close(&w->durable);
    w->has_durable = 0;
}

struct ckpt {
    struct weir_worker *w;
    const struct weir_partition *p;
    uint16_t op;
    uint64_t layout;
    struct weir_ticket *t;
    int rc;
    int n;
};

static int ckpt_entry(void *ctx, const void *key, uint32_t klen, const void *value)
{
    struct ckpt *c = ctx;
    struct weir_buf *kb = &c->w->scratch;
    const struct weir_op_state *ks = c->w->ops[c->op].keyed;
    int64_t touched = value ? weir_state_touched_at(key) : 0;
    int timed = value && ks->conf.evict == WEIR_EVICT_TTL; /* only TTL reads the time */
    kb->len = 0;
    if (weir_buf_append(kb, &c->op, sizeof c->op) < 0 || weir_buf_append(kb, key, klen) < 0 ||
        (value && (weir_buf_append(kb, &c->layout, sizeof c->layout) < 0 ||
                   weir_buf_append(kb, value, ks->conf.value_size) < 0)) ||
        (timed && weir_buf_append(kb, &touched, sizeof touched) < 0))
        return c->rc = -ENOMEM;
    uint32_t kl = (uint32_t)(sizeof c->op + klen);
    c->rc = c->w->durable.type->write(&c->w->durable, c->p->topic, c->p->partition, kb->data, kl,
                                      value ? kb->data + kl : NULL,
                                      value ? (uint32_t)(kb->len - kl) : 0, c->t);
    c->n++;
    return c->rc;
}

int weir_worker_checkpoint(struct weir_worker *w, struct weir_ticket *t, int full)
{
    if (!w->has_durable)
        return 0;
    int total = 0;
    for (uint32_t s = 0; s < w->nparts; s++) {
        struct weir_partition *p = &w->parts[s];
        if (!p->assigned || p->restoring)
            continue;
        for (size_t k = 0; k < w->nops; k++) {
            struct weir_state *st = weir_op_state_part(&w->ops[k], s, 0);
            if (!st)
                continue;
            struct ckpt c = {w, &w->parts[s], (uint16_t)k, w->ops[k].keyed->layout, t, 0, 0};
            if (full)
                weir_state_foreach(st, ckpt_entry, &c);
            else
                weir_state_foreach_dirty(st, ckpt_entry, &c);
            if (c.rc < 0)
                return c.rc;
            weir_state_clean(st);
            total += c.n;
        }
    }
    w->stats.state_writes += (uint64_t)total;
    return total;
}

int weir_worker_checkpoint_covered(struct weir_worker *w, struct weir_ticket *t)
{
    if (!w->has_durable)
        return 0;
    int total = 0;
    for (uint32_t s = 0; s < w->nparts; s++) {
        struct weir_partition *p = &w->parts[s];
        if (!p->assigned || p->restoring || p->covered < 0)
            continue;
        int rc = w->durable.type->write(&w->durable, p->topic, p->partition, COVERED_KEY,
                                        COVERED_KLEN, &p->covered, sizeof p->covered, t);
        if (rc < 0)
            return rc;
        p->covered_saved = p->covered;
        p->covered = -1;
        total++;
    }
    w->stats.state_writes += (uint64_t)total;
    return total;
}

void weir_worker_state_final(struct weir_worker *w)
{
    if (!w->has_durable || !w->durable.type->whole)
        return;
    int rc = weir_worker_checkpoint(w, NULL, 1);
    struct weir_error e = {0};
    if (rc >= 0 && w->durable.type->sync)
        rc = w->durable.type->sync(&w->durable, &e);
    else if (rc < 0)
        weir_error_set(&e, rc, "writing the state: %s", strerror(-rc));
    if (rc < 0) {
        w->err = e;
        weir_error_prefix(&w->err, "state (%s)", w->durable.where);
        w->failed = 1;
    }
}

/* ---- operators' timers (operator.h) ----------------------------------------------------------------- */

static void on_op_timer(struct weir_event *ev, int res)
{
    struct weir_op_timer *t = (struct weir_op_timer *)ev;
    t->armed = 0;
    if (t->op->type->on_timer)
        t->op->type->on_timer(t->op, t, weir_wall_ms());
}

int weir_op_timer_processing(struct weir_op *op, struct weir_op_timer *t, uint64_t delay_ms)
{
    if (t->armed)
        return -EBUSY;
    t->op = op;
    t->kind = WEIR_TIMER_PROCESSING;
    t->ev.done = on_op_timer;
    int rc = weir_loop_timer(op->loop, delay_ms * 1000000ull, &t->ev);
    t->armed = rc == 0;
    return rc;
}

int weir_op_timer_event(struct weir_op *op, struct weir_op_timer *t, uint32_t part, int64_t at_ms)
{
    if (t->armed)
        return -EBUSY;
    t->op = op;
    t->kind = WEIR_TIMER_EVENT;
    t->part = part;
    t->at_ms = at_ms;
    if (!op->engine || !op->engine->timer_event)
        return -ENOTSUP;
    int rc = op->engine->timer_event(op->engine->ctx, t);
    t->armed = rc == 0;
    return rc;
}

int64_t weir_op_watermark(struct weir_op *op, uint32_t part)
{
    return op->engine && op->engine->watermark ? op->engine->watermark(op->engine->ctx, part)
                                               : INT64_MIN;
}

int weir_worker_replayed(void *ctx, uint32_t part, int64_t offset)
{
    const struct weir_worker *w = ctx;
    return part < w->nparts && offset < w->parts[part].replay_below;
}

void weir_worker_partition_covered(struct weir_worker *w, uint32_t slot, int64_t next)
{
    if (slot < w->nparts && next != w->parts[slot].covered_saved) /* not again every second */
        w->parts[slot].covered = next;
}
