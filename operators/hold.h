/* "hold" for scorers (deviation, forecast, iforest): a score is reported
 * only when it is above every score of the key's `hold` records before it
 * (else 0), so an incident scores once, on its first record: what a ranking
 * metric that counts every flagged row (NAB) rewards, and what a pager
 * wants. The ring of the raw scores lives in the operator's keyed state.
 * Shared by operators, not part of the engine. */
#ifndef WEIR_OPERATORS_HOLD_H
#define WEIR_OPERATORS_HOLD_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of keyed state a hold of n records needs (a multiple of 8; 0 for none). */
static inline size_t weir_hold_bytes(int64_t n)
{
    return n ? ((2 * sizeof(uint32_t) + (size_t)n * sizeof(float) + 7) & ~(size_t)7) : 0;
}

/* Returns score when it beats the ring's scores, else 0; then adds it. */
static inline double weir_hold_gate(void *ring_state, int64_t n, double score)
{
    uint32_t *count = (uint32_t *)ring_state, *head = count + 1;
    float *ring = (float *)(head + 1);
    float s = (float)score, prev = 0;
    for (uint32_t k = 0; k < *count; k++)
        prev = ring[k] > prev ? ring[k] : prev;
    ring[*head] = s;
    *head = (*head + 1) % (uint32_t)n;
    if (*count < (uint32_t)n)
        (*count)++;
    return s > prev ? score : 0.0;
}

/* The "hold" option's row; type is the conf struct, m its int64_t member. */
#define WEIR_HOLD_OPTION_ROW(type, m)                                                             \
    {"hold", WEIR_OPT_INT, "0",                                                                   \
     "report a score only when it is above every score of the key's previous hold records "     \
     "(else 0): an incident scores on its first record, not on each one after",                 \
     offsetof(type, m), WEIR_OPT_RANGE, 0, 65536, NULL}

#endif
