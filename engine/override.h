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
 * exist; the last element is created or replaced. Under a stage's "kafka"
 * the rest of the path is one librdkafka property ("source.kafka.fetch.
 * wait.max.ms"), and "kafka" is made when missing. Returns the number of
 * problems added to diag (0 or 1). */
int weir_override_apply(json_t *root, const struct weir_override *set, struct weir_diag *diag);
/* --embedded: the source, and every sink (the dead letter too) that names
 * brokers of its own, are pointed at the embedded cluster, so that test data
 * never reaches a real cluster. Before the --set overrides, which still win.
 * Returns the source's type when it is neither "kafka" nor to be expanded
 * (${...}): nothing is changed; else NULL. */
const char *weir_override_embedded(json_t *root);

#endif
