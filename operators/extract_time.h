/* extract's timestamp parsing: RFC 3339 / "YYYY-MM-DD HH:MM:SS" date-times
 * and epoch numbers in a unit, both to epoch milliseconds (UTC). */
#ifndef WEIR_EXTRACT_TIME_H
#define WEIR_EXTRACT_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "engine/batch.h"

/* What an epoch number counts; auto decides by magnitude (extract.c's top). */
enum weir_epoch_unit { WEIR_UNIT_AUTO, WEIR_UNIT_S, WEIR_UNIT_MS, WEIR_UNIT_US, WEIR_UNIT_NS };

/* WEIR_TS_MAX_MS (engine/batch.h): epoch milliseconds that convert to
 * int64_t and leave room for a window's size. */

/* "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS[.fff][Z|+HH:MM]" (s[0..len))
 * -> epoch ms: 0, or -1 when it is not such a date-time. */
int weir_extract_datetime(const char *s, size_t len, int64_t *out);
/* An epoch number in unit (enum weir_epoch_unit) -> ms, rounded: 0, or
 * -EINVAL when not finite, -ERANGE beyond WEIR_TS_MAX_MS. */
int weir_extract_epoch_ms(double x, int unit, int64_t *ms);

#endif
