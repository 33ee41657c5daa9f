/* The partition lists of the Kafka connectors' report lines (kafka_common.h).
 * With many partitions a fixed line cannot name them all; it says how many
 * it left out rather than stopping without a word. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "connectors/kafka_common.h"

/* Kept free for the ending: a closing "]" and " and 18446744073709551615 more". */
#define ENDING_ROOM 40

void weir_kafka_names_add(struct weir_kafka_names *b, const char *sep, const char *fmt, ...)
{
    if (b->more) { /* in order: nothing after a piece left out */
        b->more++;
        return;
    }
    char piece[WEIR_KAFKA_NAMES_SIZE];
    size_t s = b->len ? strlen(sep) : 0;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(piece, sizeof piece, fmt, ap);
    va_end(ap);
    if (w < 0 || b->len + s + (size_t)w + ENDING_ROOM >= sizeof b->text) {
        b->more++;
        return;
    }
    memcpy(b->text + b->len, sep, s);
    memcpy(b->text + b->len + s, piece, (size_t)w + 1);
    b->len += s + (size_t)w;
}

const char *weir_kafka_names_end(struct weir_kafka_names *b, const char *close)
{
    size_t room = sizeof b->text - b->len;
    int w = 0;
    if (b->len)
        w = snprintf(b->text + b->len, room, "%s", close);
    if (w > 0 && (size_t)w < room) {
        b->len += (size_t)w;
        room -= (size_t)w;
    }
    if (b->more) {
        w = snprintf(b->text + b->len, room, "%s%zu more", b->len ? " and " : "", b->more);
        if (w > 0)
            b->len += (size_t)w < room ? (size_t)w : room - 1;
    }
    b->text[b->len] = '\0';
    return b->text;
}
