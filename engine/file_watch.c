/* The pipeline file's watch (see file_watch.h). */
#include "engine/file_watch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "engine/log.h"
#include "engine/loop.h"

#define SETTLE_NS (150ull * 1000000ull)

void weir_file_watch_start(struct weir_file_watch *fw, const char *file)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file) : 1, slash ? file : ".");
    if (slash == file)
        snprintf(dir, sizeof dir, "/");
    fw->name = slash ? slash + 1 : file;
    fw->due = 0;
    fw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fw->fd < 0 || inotify_add_watch(fw->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE) < 0) {
        weir_log(WEIR_LOG_WARN, "watch: cannot watch %s: %s; reload with SIGHUP", dir,
                 strerror(errno));
        weir_file_watch_stop(fw);
        return;
    }
    weir_log(WEIR_LOG_INFO, "watch: reloading when %s changes", file);
}

void weir_file_watch_stop(struct weir_file_watch *fw)
{
    if (fw->fd >= 0)
        close(fw->fd);
    fw->fd = -1;
    fw->due = 0;
}

int weir_file_watch_due(struct weir_file_watch *fw, int busy)
{
    if (fw->fd < 0)
        return 0;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(fw->fd, buf, sizeof buf)) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->len && (strcmp(ev->name, fw->name) == 0 || strcmp(ev->name, "..data") == 0))
                fw->due = weir_now_ns() + SETTLE_NS;
            p += sizeof *ev + ev->len;
        }
    }
    if (!fw->due || weir_now_ns() < fw->due)
        return 0;
    if (busy) { /* once the last one is applied */
        fw->due = weir_now_ns() + SETTLE_NS;
        return 0;
    }
    fw->due = 0;
    return 1;
}
