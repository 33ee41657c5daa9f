/* The top-level member names of a JSON Lines file's first records, read
 * when a pipeline loads so that extract's wildcards ("V*": "/V*") can expand
 * against them as they do against a CSV header. */
#ifndef WEIR_JSONL_MEMBERS_H
#define WEIR_JSONL_MEMBERS_H

#include <stddef.h>
#include <stdint.h>

/* How much of the file is read at load: the first records up to these
 * bounds (whichever comes first). */
#define WEIR_JSONL_SAMPLE_RECORDS 10000
#define WEIR_JSONL_SAMPLE_BYTES (16u << 20)

/* Appends to names[0..*n) (a growable array of *cap entries, strings
 * malloc'd) every top-level member name of the JSON object in line[0..len)
 * not already there, in the order they appear, escapes decoded. A line that
 * is not one valid JSON object (or only whitespace) adds nothing; names
 * holding a NUL byte (\u0000) are skipped. validator: a weir_jscan compiled
 * with no pointers. Returns 0 or -ENOMEM. */
struct weir_jscan;
int weir_jsonl_members_add(const struct weir_jscan *validator, const char *line, size_t len,
                           char ***names, uint32_t *n, uint32_t *cap);

/* The member names of the first records of the file at path (plain or
 * gzip), at most max_records lines and max_bytes bytes (inflated; a line cut
 * by the bound is left out). Returns 0 with *names (malloc'd, *n entries;
 * NULL when none), -ENOENT when the file cannot be read, -ENOMEM. */
int weir_jsonl_members_read(const char *path, size_t max_records, size_t max_bytes,
                            char ***names, uint32_t *n);

#endif
