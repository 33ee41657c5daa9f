/* A directory of model versions (versions.c): which files are versions, in
 * which order, and the pin marker that `weir model pin|rollback|unpin`
 * writes and the operator honours.
 *
 * The marker is DIR/.weir-pin (a dot name: never a version itself). Its first
 * line is the file name of the version to serve; later lines are notes
 * (who wrote it and why, e.g. "rollback from v3.safetensors"). It is written
 * to a temporary name in DIR and renamed into place, so a reader sees the
 * old marker or the new one, never half of one. Precedence: a pipeline's
 * "version" option, then the marker, then the newest version that loads. */
#ifndef WEIR_MODEL_VERSIONS_H
#define WEIR_MODEL_VERSIONS_H

#include <stddef.h>

#define WEIR_MODEL_MARKER ".weir-pin"

/* 1 when name is a version's file name: not a dot name, no '/', ending in
 * .safetensors or .json. */
int weir_model_is_version_name(const char *name);

/* The version files of dir (regular files with a version name), oldest
 * first (versionsort: v2 < v10). *n may be 0. Free with
 * weir_model_versions_free. Returns 0 or -errno with err filled. */
int weir_model_versions(const char *dir, char ***names, size_t *n, char *err, size_t errlen);
void weir_model_versions_free(char **names, size_t n);

/* The marker's version into name: 1 when there is a marker, 0 when there is
 * none, -errno when it cannot be read or does not name a version (why says
 * so, naming the marker's path). */
int weir_model_marker_read(const char *dir, char *name, size_t len, char *why, size_t wlen);
/* Writes the marker atomically (temp + rename): name, then note (may be
 * NULL) as a second line. Returns 0 or -errno with why. */
int weir_model_marker_write(const char *dir, const char *name, const char *note, char *why,
                            size_t wlen);
/* Removes the marker: 1 removed, 0 there was none, -errno with why. */
int weir_model_marker_remove(const char *dir, char *why, size_t wlen);

#endif
