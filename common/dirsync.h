/* A rename made durable: the file's directory synced after it, so that a
 * power loss cannot bring the old file back (engine/state_dir.c's state
 * files, fit/part_file.c's models). */
#ifndef WEIR_COMMON_DIRSYNC_H
#define WEIR_COMMON_DIRSYNC_H

#include <stddef.h>

/* path's directory ("." for a bare name, "/" for a file at the root) into dir. */
void weir_dir_of(const char *path, char *dir, size_t size);

/* Syncs path's directory: 0, or -errno. A file system that cannot sync a
 * directory (EINVAL, ENOTSUP: some FUSE, network ones) gives 0: the file
 * is in place all the same. */
int weir_sync_dir_of(const char *path);

#endif
