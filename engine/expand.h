/* Environment variables and secret files in a pipeline file's strings.
 *
 * Every string value of the file (after --set overrides, before
 * validation) may hold ${VAR}, replaced by the environment variable's value
 * ($${ is a literal "${"), or be "@path", replaced by the content of that
 * file with its trailing newline stripped (relative paths beside the
 * pipeline file; ${VAR} works inside the path; "@@..." is a literal string
 * starting with one '@'). Object keys are left alone. */
#ifndef WEIR_EXPAND_H
#define WEIR_EXPAND_H

#include <jansson.h>

#include "engine/diag.h"

struct weir_override;

/* Expands every string of root in place. Problems (an unset variable, an
 * unreadable file) go to d at the string's JSON path; returns their number.
 * A relative "@path" that one of the --set overrides gave (sets, nsets; may
 * be 0) is the working directory's, like any path on a command line. */
int weir_expand_strings(json_t *root, const char *pipeline_file, const struct weir_override *sets,
                        size_t nsets, struct weir_diag *d);

#endif
