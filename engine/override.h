/* --set PATH=VALUE: changing any pipeline option from the command line by its
 * JSON path ("source.path", "operators[2].quantile"), before validation, so
 * an override is checked exactly like the file. */
#ifndef WEIR_OVERRIDE_H
#define WEIR_OVERRIDE_H

#include <jansson.h>

#include "engine/diag.h"
#include "engine/pipeline.h"

/* Splits "PATH=VALUE" in place (the string is modified). Returns 0 or -EINVAL. */
int weir_override_parse(char *arg, struct weir_override *out);
/* Applies one override to root. The parent of the last path element must
 * exist; the last element is created or replaced. Returns the number of
 * problems added to diag (0 or 1). */
int weir_override_apply(json_t *root, const struct weir_override *set, struct weir_diag *diag);

#endif
