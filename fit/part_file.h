/* A model file that appears whole: the trainer writes a part file beside
 * --out, which is synced and renamed over it at the end, so a pipeline
 * serving --out (SIGHUP, reload_ms) or a restart reads the old model or the
 * new one, never half of one. */
#ifndef WEIR_FIT_PART_FILE_H
#define WEIR_FIT_PART_FILE_H

#include <stddef.h>

/* Makes the part file for out (created empty, exclusively: a hidden name
 * with a random part and out's extension, which XGBoost picks its format
 * by, "m/.fraud.json.Ab12Cd.part.json"; a model directory's scan passes
 * over hidden names); *mode: the bits the model is to have (out's when it
 * exists). part is
 * "" when out is to be written in place: it exists and is not a regular
 * file (a symbolic link, a FIFO, a device), or its directory takes no new
 * file and out can be written. Returns 0, or -1 with why said (a path too
 * long, a directory that is not there or takes no file, out not writable):
 * before any training, so a typo costs nothing. */
int fit_part_open(const char *out, char *part, size_t size, unsigned *mode);

/* path can be written (it exists) or made (its directory takes a new
 * file): 0, else -1 with why said, naming the option opt. */
int fit_writable(const char *opt, const char *path);

/* part given mode (fit_part_open's), synced and renamed over out, the
 * directory synced: 0, or -1 with why said (part is removed then). */
int fit_part_commit(const char *part, const char *out, unsigned mode);

#endif
