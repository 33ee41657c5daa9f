/* CSV rows (RFC 4180 quoting, one row per line) turned into JSON objects, so
 * that every record on the path is a JSON object whatever the file format:
 * the header names the keys; a field that is a valid JSON number is written
 * as a number, an empty field as null, anything else as a string. */
#ifndef WEIR_CSV_H
#define WEIR_CSV_H

#include <stddef.h>

#include "engine/batch.h"
#include "engine/buf.h"

#define WEIR_CSV_MAX_COLS 256

struct weir_csv_header {
    char *names[WEIR_CSV_MAX_COLS]; /* owned */
    size_t n;
    char delim;
    struct weir_buf quoted[WEIR_CSV_MAX_COLS]; /* scratch for unescaping quoted fields */
    struct weir_buf keys;             /* `"name":` of each column, written once */
    uint32_t key_end[WEIR_CSV_MAX_COLS]; /* where each one ends in keys */
    uint64_t shape;                   /* weir_members' shape of the rows; 0: rows list no members
                                         (a name JSON must escape) */
    char why[160];                    /* a parse's reason that names columns */
};

/* Parses the header line. Returns 0 or -EINVAL with *reason set (empty or
 * repeated names among the reasons; it may point into h). */
int weir_csv_header_parse(struct weir_csv_header *h, const char *line, size_t len, char delim,
                          const char **reason);
void weir_csv_header_free(struct weir_csv_header *h);
/* Appends the row as a JSON object to out. Returns 0, -ENOMEM, or -EINVAL
 * with a reason written into reason_buf (a field that is not valid UTF-8
 * among them: nothing is replaced). */
int weir_csv_row_to_json(struct weir_csv_header *h, const char *line, size_t len,
                         struct weir_buf *out, char *reason_buf, size_t reason_size);
/* The same, and when members is not NULL and h->shape is not 0 also where
 * each column's key and value lie in the object appended (offsets from its
 * '{'); members must have room for h->n. Sets members->n (0 when none). */
int weir_csv_row_members(struct weir_csv_header *h, const char *line, size_t len,
                         struct weir_buf *out, struct weir_members *members, char *reason_buf,
                         size_t reason_size);
/* Whether line ends inside a quoted field (which may not span lines: the
 * next line is its rest, not a row). inside: the line starts inside one,
 * the line before having ended so. Fields are read as the row parser reads
 * them: a quote opens one only at a field's start. */
int weir_csv_ends_in_quote(const char *line, size_t len, char delim, int inside);

#endif
