/* `weir schema`: the pipeline file's JSON Schema (draft-07), generated from
 * the option tables (see jsonschema.c). */
#ifndef WEIR_JSONSCHEMA_H
#define WEIR_JSONSCHEMA_H

#include <jansson.h>
#include <stdio.h>

/* A new reference to the schema document, or NULL when out of memory. */
json_t *weir_schema_build(void);
/* Prints it (2-space indented). Returns 0 or -1. */
int weir_schema_print(FILE *out);

#endif
