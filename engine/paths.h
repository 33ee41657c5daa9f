/* Paths named in a pipeline file (a source file, a key file, an @secret):
 * absolute paths are taken as they are; a relative one is looked for beside
 * the pipeline file first and, when nothing is there, in the working
 * directory, so that pipelines written for the repository root
 * ("../shared/data/...", run from the root) keep working. */
#ifndef WEIR_PATHS_H
#define WEIR_PATHS_H

#include <jansson.h>
#include <stddef.h>

/* What the path must name: an existing file, or a file to create (its
 * directory must exist). */
enum weir_path_want { WEIR_PATH_READ, WEIR_PATH_WRITE };

/* Writes where path is into out. pipeline_file may be NULL (the working
 * directory only). Returns 0; -ENOENT when neither place has it, with why
 * saying what was tried ("neither pipelines/x.csv (beside the pipeline file)
 * nor x.csv (the working directory) exists") and out = path as written;
 * -ENAMETOOLONG. "-" (standard input or output) is returned as it is. */
int weir_path_resolve(const char *pipeline_file, const char *path, enum weir_path_want want,
                      char *out, size_t size, char *why, size_t why_size);

struct weir_prepare;
struct weir_override;

/* Whether the option at opt_path ("sinks[0].path") was given by one of the
 * --set overrides, or sits inside an object one gave. */
int weir_path_overridden(const struct weir_override *sets, size_t nsets, const char *opt_path);

/* Resolves the file option `key` of the stage being prepared (obj, at
 * p->path), whose value is *value: beside the pipeline file, else in the
 * working directory; a path a --set override gave (the option or an object
 * above it) is the working directory's, like any path on a command line.
 * When it resolves elsewhere than as written, the resolved path replaces the
 * option's value in obj (which owns it) and *value. Returns 0; -ENOENT with
 * why filled (what was tried) and *value unchanged; -ENOMEM. */
int weir_prepare_path(struct weir_prepare *p, json_t *obj, const char *key, const char **value,
                      enum weir_path_want want, char *why, size_t why_size);

#endif
