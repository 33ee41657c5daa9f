/* A sink's "fields" and "exclude" against the pipeline's columns
 * (sink_fields.c), for the pipeline's loader. */
#ifndef WEIR_SINK_FIELDS_H
#define WEIR_SINK_FIELDS_H

#include "engine/diag.h"
#include "engine/option.h"
#include "engine/pipeline.h"
#include "engine/schema.h"

/* What a sink writes: which computed fields it appends (fields, or the
 * default: what operators computed and show), less exclude; and the
 * projection of the input's fields when either is given. Returns the
 * problems reported (at sink_path's "fields" or "exclude"; a name a failed
 * operator may write is not one: p). */
int weir_sink_fields_resolve(struct weir_stage_sink *st, const struct weir_strlist *fields,
                             const struct weir_strlist *exclude, const struct weir_schema *s,
                             struct weir_diag *d, const char *sink_path,
                             const struct weir_prepare *p);

#endif
