/* Per-(operator, partition) keyed state (see opstate.h). */
#include "engine/opstate.h"
#include "engine/pipeline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OPSTATE_MAGIC 0x53504f57u /* "WOPS" read as a little-endian uint32 */
#define OPSTATE_VERSION 1u

uint64_t weir_hash_str(uint64_t h, const char *s)
{
    for (; s && *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xffu) * 0x100000001b3ull; /* a separator, so ["ab","c"] != ["a","bc"] */
}

uint64_t weir_hash_u64(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        h = (h ^ (v & 0xffu)) * 0x100000001b3ull;
    return h;
}

int weir_state_opts_prepare(struct weir_state_opts *o, const json_t *raw, struct weir_prepare *p)
{
    char path[256];
    o->by_col = WEIR_BY_NONE;
    if (json_object_get(raw, "ttl") && o->evict != WEIR_EVICT_TTL) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "ttl"),
                      "expected only with \"evict\": \"ttl\", got \"evict\": \"lru\"");
        return 1;
    }
    if (o->evict == WEIR_EVICT_TTL && o->ttl_ns < 1000000u) {
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "ttl"),
                      "expected a duration of at least 1ms");
        return 1;
    }
    if (!o->by)
        return 0;
    if (strcmp(o->by, WEIR_BY_KAFKA_KEY_NAME) == 0) {
        o->by_col = WEIR_BY_KAFKA_KEY;
        if (p->schema->message_keys)
            return 0;
        weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "by"),
                      "expected a string field: \"%s\" is a Kafka message's key, and this "
                      "source's records have none (every record would share one state)",
                      WEIR_BY_KAFKA_KEY_NAME);
        return 1;
    }
    o->by_col = weir_schema_string_in(p, o->by, weir_path_key(path, sizeof path, p->path, "by"));
    return o->by_col < 0;
}

int weir_state_ttl_covers(const struct weir_state_opts *o, int64_t need_ms, const char *what,
                          const char *why, struct weir_prepare *p)
{
    int64_t ttl_ms = (int64_t)(o->ttl_ns / 1000000u);
    if (o->evict != WEIR_EVICT_TTL || ttl_ms >= need_ms)
        return 0;
    char path[256];
    weir_diag_add(p->diag, weir_path_key(path, sizeof path, p->path, "ttl"),
                  "expected at least %s (%lld ms): %s, got %lld ms", what, (long long)need_ms,
                  why, (long long)ttl_ms);
    return 1;
}

int weir_op_state_declare(struct weir_op *op, const struct weir_state_opts *o, uint32_t value_size,
                          uint64_t layout)
{
    struct weir_op_state *ks = calloc(1, sizeof *ks);
    if (!ks)
        return -ENOMEM;
    ks->conf.value_size = value_size;
    ks->conf.max_keys = o ? (uint64_t)o->max_keys : 0;
    ks->conf.max_bytes = o ? (uint64_t)o->max_bytes : 0;
    ks->conf.evict = o ? o->evict : WEIR_EVICT_LRU;
    ks->conf.ttl_ms = o ? (int64_t)(o->ttl_ns / 1000000u) : 0;
    ks->by_col = o ? o->by_col : WEIR_BY_NONE;
    ks->layout = ks->layout_unnamed = weir_hash_u64(layout, value_size);
    op->keyed = ks;
    /* state keyed by another field must not be restored: "customer" 42's
     * values would score "terminal" 42; nor state kept per partition into
     * one keyed (its statistics would be the key "" of records without the
     * field), so "no by" is named too */
    weir_op_state_learns(op, o && o->by ? o->by : "");
    return 0;
}

void weir_op_state_learns(struct weir_op *op, const char *name)
{
    op->keyed->layout = weir_hash_str(op->keyed->layout, name);
}

struct weir_state *weir_op_state_part(struct weir_op *op, uint32_t part, int create)
{
    struct weir_op_state *ks = op->keyed;
    if (!ks)
        return NULL;
    if (part >= ks->nparts) {
        if (!create)
            return NULL;
        uint32_t n = ks->nparts ? ks->nparts : 4;
        while (n <= part)
            n *= 2;
        struct weir_state **v = realloc(ks->parts, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + ks->nparts, 0, (n - ks->nparts) * sizeof *v);
        ks->parts = v;
        ks->nparts = n;
    }
    if (!ks->parts[part] && create && weir_state_new(&ks->parts[part], &ks->conf) < 0)
        return NULL;
    return ks->parts[part];
}

/* The clock of LRU and TTL: the record's event time, or its arrival time
 * when it has none. LRU alone needs no clock at all. */
static int64_t state_clock(const struct weir_op_state *ks, const struct weir_record *r)
{
    if (ks->conf.evict != WEIR_EVICT_TTL)
        return r->ts_ms >= 0 ? r->ts_ms : 0;
    return r->ts_ms >= 0 ? r->ts_ms : weir_wall_ms();
}

/* How far ahead of the record being looked up its batch's entries are asked
 * for: the entry itself (its slot arrived meanwhile), and later, once the
 * entry is in, the recency neighbours a touch writes. */
#define AHEAD_ENTRY 16u
#define AHEAD_NEIGHBOURS 8u

static void prefetch_ahead(struct weir_op_state *ks, const struct weir_batch *b, uint32_t i,
                           int neighbours)
{
    if (i >= ks->ahead_n || i >= b->n)
        return;
    const struct weir_record *r = &b->rec[i];
    if (weir_record_live(r) && r->part < ks->nparts && ks->parts[r->part])
        weir_state_prefetch_entry(ks->parts[r->part], ks->hashes[i], neighbours);
}

const void *weir_op_state_peek(const struct weir_op *op, const struct weir_batch *b, uint32_t i)
{
    const struct weir_op_state *ks = op->keyed;
    if (!ks || ks->ahead != b || i >= ks->ahead_n || i >= b->n)
        return NULL;
    const struct weir_record *r = &b->rec[i];
    if (!weir_record_live(r) || r->part >= ks->nparts || !ks->parts[r->part])
        return NULL;
    return weir_state_peek(ks->parts[r->part], ks->hashes[i]);
}

void *weir_op_state_miss(struct weir_op *op, const struct weir_batch *b, uint32_t i,
                         const void *key, uint32_t klen, int *created)
{
    struct weir_op_state *ks = op->keyed;
    const struct weir_record *r = &b->rec[i];
    if (ks->ahead == b) {
        prefetch_ahead(ks, b, i + AHEAD_ENTRY, 0);
        prefetch_ahead(ks, b, i + AHEAD_NEIGHBOURS, 1);
    }
    struct weir_state *s = r->part < ks->nparts && ks->parts[r->part]
                               ? ks->parts[r->part] : weir_op_state_part(op, r->part, 1);
    void *v = s ? weir_state_get(s, key, klen, state_clock(ks, r), created) : NULL;
    ks->last = v;
    ks->last_part = r->part;
    ks->last_key = key;
    ks->last_klen = klen;
    ks->last_ts = r->ts_ms; /* -1 (no time): the wall clock's touch stands for the batch */
    return v;
}

void weir_op_state_prefetch(struct weir_op *op, const struct weir_batch *b)
{
    struct weir_op_state *ks = op->keyed;
    if (ks)
        ks->ahead = NULL;
    if (!ks || ks->by_col == WEIR_BY_NONE || b->n < 8)
        return;
    if (ks->hashes_cap < b->n) {
        uint64_t *h = realloc(ks->hashes, b->n * sizeof *h);
        if (!h)
            return; /* a hint: the lookups work without it */
        ks->hashes = h;
        ks->hashes_cap = b->n;
    }
    for (uint32_t i = 0; i < b->n; i++) {
        const struct weir_record *r = &b->rec[i];
        ks->hashes[i] = 0;
        if (!weir_record_live(r) || r->part >= ks->nparts || !ks->parts[r->part])
            continue;
        uint32_t klen;
        const void *key = weir_op_state_key(ks, b, i, &klen);
        ks->hashes[i] = weir_state_prefetch(ks->parts[r->part], key, klen);
    }
    ks->ahead_n = b->n;
    for (uint32_t i = 0; i < AHEAD_ENTRY; i++) /* the lookups ask for the rest */
        prefetch_ahead(ks, b, i, i < AHEAD_NEIGHBOURS);
    ks->ahead = b;
    ks->ahead_n = b->n;
}

void weir_op_state_drop(struct weir_op *op, uint32_t part)
{
    struct weir_op_state *ks = op->keyed;
    if (!ks || part >= ks->nparts)
        return;
    weir_state_free(ks->parts[part]);
    ks->parts[part] = NULL;
}

void weir_op_state_free(struct weir_op *op)
{
    struct weir_op_state *ks = op->keyed;
    if (!ks)
        return;
    for (uint32_t p = 0; p < ks->nparts; p++)
        weir_state_free(ks->parts[p]);
    free(ks->parts);
    free(ks->hashes);
    free(ks);
    op->keyed = NULL;
}

struct opstate_head {
    uint32_t magic, version;
    uint64_t layout;
};

int weir_op_snapshot(struct weir_op *op, uint32_t part, struct weir_buf *out)
{
    struct weir_op_state *ks = op->keyed;
    if (!ks)
        return -EINVAL;
    struct weir_state *s = weir_op_state_part(op, part, 1);
    if (!s)
        return -ENOMEM;
    struct opstate_head h = {OPSTATE_MAGIC, OPSTATE_VERSION, ks->layout};
    int rc = weir_buf_append(out, &h, sizeof h);
    return rc < 0 ? rc : weir_state_snapshot(s, out);
}

int weir_op_restore(struct weir_op *op, uint32_t part, const void *data, size_t len)
{
    struct weir_op_state *ks = op->keyed;
    struct opstate_head h;
    if (!ks || len < sizeof h)
        return -EINVAL;
    memcpy(&h, data, sizeof h);
    if (h.magic != OPSTATE_MAGIC || h.version != OPSTATE_VERSION ||
        !weir_op_state_fits(ks, h.layout))
        return -EINVAL;
    struct weir_state *s = weir_op_state_part(op, part, 1);
    if (!s)
        return -ENOMEM;
    return weir_state_restore(s, (const char *)data + sizeof h, len - sizeof h);
}

/* Its type lists WEIR_STATE_OPTION_ROWS (the one way an operator declares
 * keyed state: "max_keys" is among them) and, when it says, this
 * configuration keeps some. Declared in pipeline.h. */
int weir_pipeline_keyed_op(const struct weir_pipeline *pl)
{
    for (size_t k = 0; k < pl->nops; k++) {
        const struct weir_operator_type *t = pl->ops[k].type;
        if (t->keeps_state && !t->keeps_state(pl->ops[k].conf))
            continue;
        for (const struct weir_option *o = t->options; o && o->name; o++)
            if (strcmp(o->name, "max_keys") == 0)
                return (int)k;
    }
    return -1;
}
