#include "fit/part_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirsync.h"

int fit_writable(const char *opt, const char *path)
{
    char dir[4096];
    weir_dir_of(path, dir, sizeof dir);
    int exists = access(path, F_OK) == 0;
    if (access(exists ? path : dir, exists ? W_OK : W_OK | X_OK) == 0)
        return 0;
    fprintf(stderr, "weir: fit: %s %s: %s %s: %s\n", opt, path,
            exists ? "cannot write" : "cannot create a file in", exists ? "it" : dir,
            strerror(errno));
    return -1;
}

/* No new file beside out: out is written in place when it can be, else
 * the fit stops now rather than after training (a typo in --out's
 * directory, a model the user may not replace). */
static int in_place(const char *out, const char *dir, int exists, int e)
{
    if (exists && access(out, W_OK) == 0)
        return 0;
    if (exists)
        e = errno;
    fprintf(stderr, "weir: fit: --out %s: %s %s: %s\n", out,
            exists ? "cannot write" : "cannot create a file in", exists ? "it" : dir, strerror(e));
    return -1;
}

/* The bits the model gets: out's own when it exists, else a new file's. */
static mode_t model_mode(const char *out)
{
    struct stat st;
    if (stat(out, &st) == 0)
        return st.st_mode & 07777;
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

int fit_part_open(const char *out, char *part, size_t size, unsigned *mode)
{
    *mode = (unsigned)model_mode(out);
    struct stat st;
    int exists = lstat(out, &st) == 0;
    part[0] = 0;
    if (exists && !S_ISREG(st.st_mode))
        return 0;
    char dir[4096];
    weir_dir_of(out, dir, sizeof dir);
    if (access(dir, W_OK | X_OK) != 0)
        return in_place(out, dir, exists, errno);
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
            return in_place(out, dir, exists, e);
        }
        /* a full disk or a name too long: in place, a failed write would
         * leave neither model */
        fprintf(stderr, "weir: fit: cannot make %s beside %s: %s\n", part, out, strerror(e));
        part[0] = 0;
        return -1;
    }
    /* the model keeps the old file's owner, group and permission bits (a
     * 0640 root:weir model stays readable by the serving group), else what
     * a new file gets; when they cannot be kept, out is written in place
     * as before, its owner and bits unchanged. Until it is whole the part
     * file is writable by its owner (a 0444 model is replaced, not refused
     * after training); fit_part_commit gives it the bits out had now, even
     * if out is moved away meanwhile. */
    int same = fchmod(fd, (mode_t)*mode | S_IWUSR) == 0;
    if (same && exists) {
        struct stat now;
        (void)!fchown(fd, (uid_t)-1, st.st_gid);
        (void)!fchown(fd, st.st_uid, (gid_t)-1);
        same = fstat(fd, &now) == 0 && now.st_uid == st.st_uid && now.st_gid == st.st_gid;
    }
    close(fd);
    if (!same) { /* out itself, when it can be written */
        unlink(part);
        part[0] = 0;
        return in_place(out, dir, exists, EPERM);
    }
    return 0;
}

int fit_part_commit(const char *part, const char *out, unsigned mode)
{
    int fd = open(part, O_RDONLY | O_CLOEXEC);
    int bad = fd < 0 || fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0;
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
