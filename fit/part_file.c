#include "fit/part_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirsync.h"

int fit_part_open(const char *out, char *part, size_t size)
{
    struct stat st;
    int exists = lstat(out, &st) == 0;
    part[0] = 0;
    if (exists && !S_ISREG(st.st_mode))
        return 0;
    char dir[4096];
    weir_dir_of(out, dir, sizeof dir);
    if (access(dir, W_OK | X_OK) != 0)
        return 0; /* no new file there: out itself, as before */
    const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
    const char *dot = strrchr(base, '.');
    int n =
        snprintf(part, size, "%.*s.%s.XXXXXX.part%s", (int)(base - out), out, base, dot ? dot : "");
    if (n <= 0 || (size_t)n >= size) {
        part[0] = 0;
        fprintf(stderr, "weir: fit: --out: a path too long: %s\n", out);
        return -1;
    }
    int fd = mkostemps(part, (int)strlen(".part") + (dot ? (int)strlen(dot) : 0), O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM || e == EROFS) { /* no new file there: out itself */
            part[0] = 0;
            return 0;
        }
        /* a full disk or a name too long: in place, a failed write would
         * leave neither model */
        fprintf(stderr, "weir: fit: cannot make %s beside %s: %s\n", part, out, strerror(e));
        part[0] = 0;
        return -1;
    }
    mode_t mask = umask(0);
    umask(mask);
    /* the model keeps the old file's owner, group and permission bits (a
     * 0640 root:weir model stays readable by the serving group), else what
     * a new file gets; when they cannot be kept, out is written in place
     * as before, its owner and bits unchanged */
    int same = fchmod(fd, exists ? st.st_mode & 07777 : 0666 & ~mask) == 0;
    if (same && exists) {
        struct stat now;
        (void)!fchown(fd, (uid_t)-1, st.st_gid);
        (void)!fchown(fd, st.st_uid, (gid_t)-1);
        same = fstat(fd, &now) == 0 && now.st_uid == st.st_uid && now.st_gid == st.st_gid;
    }
    close(fd);
    if (!same) {
        unlink(part);
        part[0] = 0;
    }
    return 0;
}

int fit_part_commit(const char *part, const char *out)
{
    int fd = open(part, O_RDONLY | O_CLOEXEC);
    int bad = fd < 0 || fsync(fd) != 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (!bad && rename(part, out) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        fprintf(stderr, "weir: fit: cannot put %s in place of %s: %s\n", part, out, strerror(e));
        unlink(part);
        return -1;
    }
    (void)weir_sync_dir_of(out); /* durable across a power loss; failing that, still whole */
    return 0;
}
