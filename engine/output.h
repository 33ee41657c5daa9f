/* How a record is written out: the input JSON object with the pipeline's
 * computed fields appended (scores, features, the alert flag), one line each;
 * and how a dead record is written to the dead-letter sink. */
#ifndef WEIR_OUTPUT_H
#define WEIR_OUTPUT_H

#include <stdint.h>

#include "engine/batch.h"
#include "engine/buf.h"
#include "engine/project.h"
#include "engine/schema.h"

struct weir_output {
    const struct weir_schema *schema;
    uint32_t cols[WEIR_SCHEMA_MAX]; /* feature columns appended, in order */
    uint32_t ncols;
    uint32_t strs[WEIR_SCHEMA_MAX]; /* string fields appended */
    uint32_t nstrs;
    int alert;                      /* append "alert": true|false */
    struct weir_buf keys;           /* `"name":` of each appended field, cols then strs (owned) */
    uint32_t key_end[2 * WEIR_SCHEMA_MAX]; /* where each one ends in keys */
    uint32_t key_max;               /* the longest of them */
    /* NULL: the input object is copied whole and the fields appended. Set
     * (sink "fields"/"exclude", a masked field, or an appended field named
     * like an input field: weir_output_shadows_input): the input's top-level
     * fields are chosen one by one, and an appended field whose name an
     * input field has takes that field's place (owned). */
    struct weir_projection *proj;
    int proj_shadow; /* proj is there only for that: text lines need none */
};

/* Writes the appended fields' `"name":` once, when the pipeline loads, so
 * that records do not escape the same names again. Returns 0 or -ENOMEM. */
int weir_output_keys(struct weir_output *o);
void weir_output_free(struct weir_output *o);
/* An appended field has the name of an input field the pipeline knows of
 * (the source's header or first records, a pointer extract reads): copied
 * whole, the record would have that name twice. */
int weir_output_shadows_input(const struct weir_output *o);
/* Whether the input records have a top-level field name: the source's
 * header, or a pointer an extract reads ("/name"). */
int weir_output_input_has(const struct weir_schema *s, const char *name);

/* Appends record i of b as one JSON line (with '\n'). */
int weir_output_record(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i);
/* Appends dead record i of b as one JSON line: reason, source coordinates, the
 * raw bytes (as a string, plus base64 when they are not valid UTF-8). */
int weir_output_dead(struct weir_buf *out, const struct weir_batch *b, uint32_t i,
                     const char *source_name);
/* Appends dead record i of b as one line for people to read (format
 * "text"): `DEAD   line 3       in.csv: <reason>  <raw>`; the raw bytes as
 * they are when printable, else as a JSON string. */
int weir_output_dead_text(struct weir_buf *out, const struct weir_batch *b, uint32_t i,
                          const char *source_name);
/* Appends r's dead letter as one JSON line of at most max bytes (without
 * its '\n'): when the whole record does not fit, "raw" (and "raw_base64")
 * hold as much of its start as fits, cut on a UTF-8 character boundary, and
 * "raw_truncated" its whole length in bytes; the reason and the source
 * coordinates are always whole. For sinks whose outputs have a size limit
 * (a Kafka topic). Returns 0, -ENOSPC when not even an empty raw fits
 * (nothing is appended), or -ENOMEM. */
int weir_output_dead_fit(struct weir_buf *out, const struct weir_record *r,
                         const char *source_name, size_t max);
/* Bytes at the start of r's value that every output of r begins with: the
 * object up to (not including) its closing brace. */
uint32_t weir_output_kept(const struct weir_record *r);
/* Bytes at the start of an output (out_len bytes, without its '\n') that
 * hold the input as the output kept it, before the closing brace: all but
 * the brace for a projected output (a dead letter made from it must not
 * bring back what the projection dropped or a mask replaced). */
uint32_t weir_output_kept_of(const struct weir_output *o, const struct weir_record *r,
                             size_t out_len);

/* Appends record i as one line for people to read:
 * `ALERT  line 2967  anomaly_score=1  cpu_z=-12.9  {"timestamp":...}`. */
int weir_output_text(struct weir_buf *out, const struct weir_output *o, const struct weir_batch *b,
                     uint32_t i);

/* Just the computed fields, as `"name":value,...` without braces (Kafka sinks
 * put them in the output value too). */
int weir_output_fields(struct weir_buf *out, const struct weir_output *o,
                       const struct weir_batch *b, uint32_t i);

#endif
