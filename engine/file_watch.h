/* The pipeline file's watch (`--watch`, "reload": {"watch": true}): inotify
 * on the file's directory, not the file, so that a new file renamed over it
 * (what editors and `sed -i` do) counts, and so does a Kubernetes ConfigMap's
 * "..data" link. Events come in bursts (write, close, rename): a change is
 * due once the directory has been quiet for a moment. Used by the run's
 * main thread only. */
#ifndef WEIR_FILE_WATCH_H
#define WEIR_FILE_WATCH_H

#include <stdint.h>

struct weir_file_watch {
    int fd;           /* -1: not watching */
    const char *name; /* the file's name in its directory */
    uint64_t due;     /* a change seen: due at this time (ns), 0: none */
};

#define WEIR_FILE_WATCH_OFF {.fd = -1}

/* Watches file (logged); on failure logs a warning and stays off. */
void weir_file_watch_start(struct weir_file_watch *fw, const char *file);
void weir_file_watch_stop(struct weir_file_watch *fw);
/* Reads what happened; 1 when a change is due now. While busy (a reload
 * under way) a due change waits for a quiet moment after it. */
int weir_file_watch_due(struct weir_file_watch *fw, int busy);

#endif
