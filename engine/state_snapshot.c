/* Whole-map snapshots of the keyed state store (see state.h): the blob a
 * file checkpoint holds, and restoring from it. */
#include <errno.h>
#include <string.h>

#include "engine/state_internal.h"

#define SNAP_VERSION 1u
#define SNAP_HEADER  20u /* magic, version, value_size, count */

static void le_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le_get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int weir_state_snapshot(const struct weir_state *s, struct weir_buf *out)
{
    /* Sized first: one reservation, so a failure leaves out as it was. */
    size_t total = SNAP_HEADER;
    for (const struct entry *e = s->lru.lru_prev; e != &s->lru; e = e->lru_prev)
        total += 4u + e->klen + 8u + s->value_size;
    if (weir_buf_reserve(out, total) < 0)
        return -ENOMEM;
    unsigned char *p = (unsigned char *)out->data + out->len;
    memcpy(p, "WSTA", 4);
    le_put(p + 4, SNAP_VERSION, 4);
    le_put(p + 8, s->value_size, 4);
    le_put(p + 12, s->live.count, 8);
    p += SNAP_HEADER;
    for (const struct entry *e = s->lru.lru_prev; e != &s->lru; e = e->lru_prev) {
        le_put(p, e->klen, 4);
        if (e->klen)
            memcpy(p + 4, entry_key(e), e->klen);
        p += 4u + e->klen;
        le_put(p, (uint64_t)e->touched_ms, 8);
        if (s->value_size)
            memcpy(p + 8, entry_value(e), s->value_size);
        p += 8u + s->value_size;
    }
    out->len += total;
    return 0;
}

/* Entries go back in the blob's order (least recent first), each at the head
 * of the recency list, so recency survives the round trip. */
int weir_state_restore(struct weir_state *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    int rc = -EINVAL;
    weir_state_clear(s);
    if (len < SNAP_HEADER || memcmp(p, "WSTA", 4) != 0 || le_get(p + 4, 4) != SNAP_VERSION ||
        le_get(p + 8, 4) != s->value_size)
        goto fail;
    uint64_t count = le_get(p + 12, 8);
    size_t per = 12u + s->value_size, pos = SNAP_HEADER;
    if (count > (len - pos) / per)
        goto fail;
    for (uint64_t n = 0; n < count; n++) {
        if (len - pos < 4)
            goto fail;
        uint32_t klen = (uint32_t)le_get(p + pos, 4);
        pos += 4;
        if (len - pos < klen || len - pos - klen < 8u + s->value_size)
            goto fail;
        int created;
        int64_t touched = (int64_t)le_get(p + pos + klen, 8);
        struct entry *e = weir_state_upsert(s, p + pos, klen, touched, &created);
        if (!e) {
            rc = -ENOMEM;
            goto fail;
        }
        if (!created)
            goto fail; /* a key twice: not a blob we wrote */
        if (s->value_size)
            memcpy(entry_value(e), p + pos + klen + 8, s->value_size);
        pos += klen + 8u + s->value_size;
    }
    if (pos != len)
        goto fail;
    return 0;

fail:
    weir_state_clear(s);
    return rc;
}
