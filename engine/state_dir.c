/* The state directory: durable operator state for file runs (--state-dir).
 *
 * One file per pipeline and source partition,
 * "<dir>/<pipeline>.<topic>.<partition>.state" with '/', '.' and other unsafe
 * bytes of the names turned into '_' (an older weir's "<topic>.<partition>.state"
 * is read when that is missing): a magic, a version, entries
 * [u32 klen][u32 vlen][key][value] and an end: [u32 end magic][u32 0]
 * [u64 entries][u64 FNV-1a of every byte before the end]. Without the end a
 * file cut between two entries would read as a smaller state, its later keys
 * lost unsaid; the hash catches bytes changed inside one (version 1 files,
 * from before the end, are still read). A run reads it back when its
 * partition is assigned (before the loop runs: a file source assigns its one
 * partition when it opens) and writes the whole state again at the end of a
 * run that went well, to a temporary file that is fsync'd and renamed over
 * the old one, so a crash leaves the previous state whole.
 * "<dir>/<pipeline>.lock" is held (flock) by the process for its run
 * (weir_state_dir_claim), so two runs of one pipeline cannot share the
 * directory at once; it holds the pid and the pipeline's name, so that two
 * names with one file name ("a.b", "a_b") cannot share the state. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dirsync.h"
#include "engine/buf.h"
#include "engine/durable.h"
#include "engine/log.h"
#include "engine/pipeline.h"
#include "engine/worker.h"

#define DIR_MAGIC 0x52445357u /* "WSDR" read as a little-endian uint32 */
#define DIR_VERSION   2u
#define DIR_END_MAGIC 0x45445357u /* "WSDE" */
#define DIR_END_LEN   24u

struct dir_end {
    uint32_t magic, zero;
    uint64_t entries, hash;
};

struct dir_part {
    char *path;
    struct weir_buf data; /* entries written since the last sync */
    uint64_t entries;     /* in data */
    struct dir_part *next;
};

struct dir_state {
    struct dir_part *parts;
    char *pipeline; /* the name at the start: a reload that renames it keeps its files */
};

/* Appends s with '/', '\\', '.' and control bytes turned into '_', so that
 * a name's dots still separate its parts. */
static int put_safe(char *p, int off, size_t n, const char *s)
{
    for (; *s && (size_t)off < n - 20; s++)
        p[off++] = (*s == '/' || *s == '\\' || *s == '.' || (unsigned char)*s < 32) ? '_' : *s;
    return off;
}

/* "<dir>/<pipeline>.<topic>.<partition>.state"; pipeline NULL: the name an
 * older weir gave it, without the pipeline's, still read (dir_restore). */
static char *part_path(const char *dir, const char *pipeline, const char *topic,
                       int32_t partition)
{
    size_t n = strlen(dir) + (pipeline ? strlen(pipeline) : 0) + strlen(topic) + 40;
    char *p = malloc(n);
    if (!p)
        return NULL;
    int off = snprintf(p, n, "%s/", dir);
    if (pipeline) {
        off = put_safe(p, off, n, pipeline);
        p[off++] = '.';
    }
    off = put_safe(p, off, n, topic);
    snprintf(p + off, n - (size_t)off, ".%d.state", (int)partition);
    return p;
}

static int dir_open(struct weir_durable *d, struct weir_error *err)
{
    struct stat st;
    if (stat(d->where, &st) < 0 && mkdir(d->where, 0755) < 0)
        return weir_error_set(err, -errno, "cannot create the state directory %s: %s", d->where,
                              strerror(errno));
    if (stat(d->where, &st) < 0 || !S_ISDIR(st.st_mode))
        return weir_error_set(err, -ENOTDIR, "%s is not a directory", d->where);
    struct dir_state *ds = calloc(1, sizeof *ds);
    if (!(d->state = ds) || !(ds->pipeline = strdup(d->w->pl->name)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* Two runs of one pipeline on one directory would both read the same state
 * and the last to end would write over the other's: the second is refused,
 * before it opens anything (its sinks could be the first's files). The lock
 * goes with the process (a crash lets go of it); the file says who holds
 * it. Other pipelines' files are theirs: they may run at the same time. */
static int refused(int fd, int e, const char *pipeline, const char *dir, const char *path,
                   struct weir_error *err)
{
    char who[32] = "";
    ssize_t n = pread(fd, who, sizeof who - 1, 0);
    who[n > 0 ? n : 0] = 0;
    who[strcspn(who, "\n")] = 0;
    close(fd);
    if (e != EWOULDBLOCK)
        return weir_error_set(err, -e, "cannot lock %s: %s", path, strerror(e));
    return weir_error_set(err, -EBUSY,
                          "pipeline %s's state in %s is in use by another run (pid %s, %s): runs "
                          "of one pipeline on one state directory must take turns",
                          pipeline, dir, who[0] ? who : "unknown", path);
}

/* The lock file names the pipeline that held it last (after the pid's
 * line): two names that differ only in the bytes file names turn into '_'
 * ("a.b" and "a_b") would share one set of state files, each reading the
 * other's, so the second is refused. A lock from before it named the
 * pipeline says nothing, and is taken. */
static int claimed_by_another(int fd, const char *pipeline, const char *dir, const char *path,
                              int running, struct weir_error *err)
{
    char held[4200];
    ssize_t n = pread(fd, held, sizeof held - 1, 0);
    held[n > 0 ? n : 0] = 0;
    const char *name = strchr(held, '\n');
    if (!name || !*++name || strcmp(name, pipeline) == 0)
        return 0;
    close(fd);
    /* while the other runs, removing the lock would let both in */
    char advice[4200];
    if (running)
        snprintf(advice, sizeof advice, "rename one (\"%s\" is running now)", name);
    else
        snprintf(advice, sizeof advice,
                 "rename one, or, if \"%s\" was renamed \"%s\" and its state should carry on, "
                 "remove %s",
                 name, pipeline, path);
    weir_error_set(err, -EEXIST,
                   "pipeline \"%s\" cannot use the state directory %s: pipeline \"%s\" keeps "
                   "its state there under the same file names (%s names it; '.', '/', '\\' and "
                   "control bytes are '_' in file names), and each would read the other's state: "
                   "%s",
                   pipeline, dir, name, path, advice);
    return -EEXIST;
}

/* path opened and locked: the descriptor, -EWOULDBLOCK when another holds
 * it, or another -errno with err set. The lock is on the file that is at
 * path once it is taken: one removed between the open and the lock is
 * opened again. A lock file removed while its run holds it cannot be told
 * from one never made: a second run then locks a new file and both write
 * one set of state files, hence the guide's "never remove a lock a run
 * holds". */
static int lock_file(const char *path, struct weir_error *err)
{
    for (int tries = 0; tries < 16; tries++) {
        /* The pid is written into it: not through a link, into a plain file only. */
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
            return weir_error_set(err, -errno, "cannot open %s: %s", path, strerror(errno));
        struct stat st, now;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            return weir_error_set(err, -EINVAL, "%s is not a plain file", path);
        }
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK)
                return -EWOULDBLOCK;
            return weir_error_set(err, -e, "cannot lock %s: %s", path, strerror(e));
        }
        if (stat(path, &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev)
            return fd;
        close(fd); /* removed or replaced after the open: lock what is there now */
    }
    /* -EBUSY, not -EAGAIN: that is -EWOULDBLOCK, "another holds it" */
    return weir_error_set(err, -EBUSY,
                          "cannot lock %s: it is removed and made again as it "
                          "is locked",
                          path);
}

/* "dir/" names dir itself to weir_sync_dir_of: the parent is wanted */
static void sync_parent(const char *dir)
{
    char d[4096];
    size_t n = (size_t)snprintf(d, sizeof d, "%s", dir);
    while (n > 1 && n < sizeof d && d[n - 1] == '/')
        d[--n] = 0;
    weir_sync_dir_of(d);
}

int weir_state_dir_claim(const char *dir, const char *pipeline, struct weir_error *err)
{
    char path[4096], who[32];
    struct stat st;
    if (mkdir(dir, 0755) == 0)
        sync_parent(dir); /* its entry too, or a power cut loses the first run's state */
    else if (errno != EEXIST)
        return weir_error_set(err, -errno, "cannot create the state directory %s: %s", dir,
                              strerror(errno));
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return weir_error_set(err, -ENOTDIR, "%s is not a directory", dir);
    size_t at = (size_t)snprintf(path, sizeof path, "%s/", dir);
    if (at + strlen(pipeline) + 30 > sizeof path)
        return weir_error_set(err, -ENAMETOOLONG, "the state directory's path is too long");
    at = (size_t)put_safe(path, (int)at, sizeof path, pipeline);
    snprintf(path + at, sizeof path - at, ".lock");
    int fd = lock_file(path, err);
    if (fd < 0) {
        if (fd != -EWOULDBLOCK)
            return fd;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        /* held by another name: that is what to say */
        if (fd >= 0 && claimed_by_another(fd, pipeline, dir, path, 1, err) < 0)
            return -EEXIST;
        return refused(fd, EWOULDBLOCK, pipeline, dir, path, err);
    }
    if (claimed_by_another(fd, pipeline, dir, path, 0, err) < 0)
        return -EEXIST;
    int len = snprintf(who, sizeof who, "%ld\n", (long)getpid());
    size_t nlen = strlen(pipeline);
    if (ftruncate(fd, 0) < 0 || pwrite(fd, who, (size_t)len, 0) != len ||
        pwrite(fd, pipeline, nlen, len) != (ssize_t)nlen)
        weir_log(WEIR_LOG_WARN, "cannot write the pid to %s: %s", path, strerror(errno));
    return fd;
}

/* An older weir's name for a Kafka partition's file: "<topic>.<partition>.state",
 * the topic without dots, the partition a number (a file source's is -1;
 * a pipeline's own files have three dots). */
static int older_kafka_name(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1])
        return 0;
    size_t digits = strspn(dot + 1, "0123456789");
    return digits && strcmp(dot + 1 + digits, ".state") == 0;
}

int weir_state_dir_older_kafka(const char *dir, char *name, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        if (older_kafka_name(e->d_name)) {
            snprintf(name, cap, "%s", e->d_name);
            found = 1;
        }
    }
    closedir(d);
    return found;
}

/* Some pipeline has saved this partition under the new names already
 * ("<pipeline>.<older>"): the directory was upgraded, the older file is
 * what some pipeline left then, not this one's to take. */
static int taken_over(const char *dir, const char *older)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = strlen(older);
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        size_t m = strlen(e->d_name);
        found = m > n + 1 && e->d_name[m - n - 1] == '.' && strcmp(e->d_name + m - n, older) == 0;
    }
    closedir(d);
    return found;
}

static struct dir_part *part_get(struct weir_durable *d, const char *topic, int32_t partition)
{
    struct dir_state *ds = d->state;
    char *path = part_path(d->where, ds->pipeline, topic, partition);
    if (!path)
        return NULL;
    for (struct dir_part *p = ds->parts; p; p = p->next) {
        if (strcmp(p->path, path) == 0) {
            free(path);
            return p;
        }
    }
    struct dir_part *p = calloc(1, sizeof *p);
    if (!p) {
        free(path);
        return NULL;
    }
    p->path = path;
    p->next = ds->parts;
    ds->parts = p;
    return p;
}

/* 0 (out empty) when there is no such file; a file that is there but
 * empty is -EINVAL: weir writes its header even for an empty state, so an
 * empty one was cut (a copy, a restore) and must not read as "none yet". */
static int read_file(const char *path, struct weir_buf *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) {
        close(fd);
        return -EINVAL;
    }
    char chunk[65536];
    ssize_t n;
    int rc = 0;
    while ((n = read(fd, chunk, sizeof chunk)) > 0)
        if ((rc = weir_buf_append(out, chunk, (size_t)n)) < 0)
            break;
    if (n < 0)
        rc = -errno;
    close(fd);
    return rc;
}

static uint64_t fnv1a(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

static int end_append(struct dir_part *p)
{
    struct dir_end end = {DIR_END_MAGIC, 0, p->entries, fnv1a(p->data.data, p->data.len)};
    _Static_assert(sizeof end == DIR_END_LEN, "the end is 24 bytes, unpadded");
    return weir_buf_append(&p->data, &end, sizeof end);
}

/* Entries up to *len (the whole file, or the bytes before its end once the
 * end checks out); a version 2 file without a whole end is damaged. */
static int entries_end(const struct weir_buf *b, uint32_t version, size_t *len, uint64_t *count)
{
    *len = b->len;
    *count = UINT64_MAX; /* version 1: not counted */
    if (version == 1)
        return 0;
    struct dir_end end;
    if (b->len < 8 + sizeof end)
        return -EINVAL;
    *len = b->len - sizeof end;
    memcpy(&end, b->data + *len, sizeof end);
    if (end.magic != DIR_END_MAGIC || end.zero || end.hash != fnv1a(b->data, *len))
        return -EINVAL;
    *count = end.entries;
    return 0;
}

static int parse(struct weir_durable *d, uint32_t part, const struct weir_buf *b)
{
    uint32_t head[2];
    if (b->len == 0)
        return 0;
    if (b->len < sizeof head)
        return -EINVAL;
    memcpy(head, b->data, sizeof head);
    size_t len;
    uint64_t count, seen = 0;
    if (head[0] != DIR_MAGIC || (head[1] != 1 && head[1] != DIR_VERSION) ||
        entries_end(b, head[1], &len, &count) < 0)
        return -EINVAL;
    size_t off = sizeof head;
    for (; off < len; seen++) {
        uint32_t kv[2];
        if (len - off < sizeof kv)
            return -EINVAL;
        memcpy(kv, b->data + off, sizeof kv);
        off += sizeof kv;
        if (len - off < (size_t)kv[0] + kv[1])
            return -EINVAL;
        int rc = d->entry(d, part, b->data + off, kv[0], kv[1] ? b->data + off + kv[0] : NULL, kv[1]);
        if (rc < 0)
            return rc;
        off += (size_t)kv[0] + kv[1];
    }
    return count == UINT64_MAX || count == seen ? 0 : -EINVAL;
}

/* The file an older weir wrote (named without the pipeline), read when no
 * pipeline has saved this partition under the new names yet: the first run
 * after the upgrade carries its state on. Left in place (a rollback reads
 * it), but not taken again once a pipeline has (a new or renamed one starts
 * afresh). */
static int read_older(const struct weir_durable *d, const struct dir_part *p, const char *topic,
                      int32_t partition, struct weir_buf *b)
{
    char *older = part_path(d->where, NULL, topic, partition);
    if (!older)
        return -ENOMEM;
    int rc = taken_over(d->where, strrchr(older, '/') + 1) ? 0 : read_file(older, b);
    if (rc == 0 && b->len)
        weir_log(WEIR_LOG_WARN, "state: reading %s, saved by an older weir (saved as %s from now "
                 "on)", older, p->path);
    free(older);
    return rc;
}

static int dir_restore(struct weir_durable *d, uint32_t part, const char *topic, int32_t partition)
{
    struct dir_part *p = part_get(d, topic, partition);
    if (!p)
        return -ENOMEM;
    struct weir_buf b = {0};
    int rc = read_file(p->path, &b);
    if (rc == 0 && b.len == 0)
        rc = read_older(d, p, topic, partition, &b);
    if (rc == 0 && b.len == 0)
        weir_log(WEIR_LOG_INFO, "state: no %s yet: this run starts afresh", p->path);
    if (rc == 0)
        rc = parse(d, part, &b);
    weir_buf_free(&b);
    if (rc == -EINVAL)
        weir_log(WEIR_LOG_ERROR, "state file %s is damaged or from another version\n", p->path);
    if (rc < 0)
        return rc;
    d->restored(d, part, 0);
    return 0;
}

static int dir_write(struct weir_durable *d, const char *topic, int32_t partition, const void *key,
                     uint32_t klen, const void *value, uint32_t vlen, struct weir_ticket *t)
{
    struct dir_part *p = part_get(d, topic, partition);
    if (!p)
        return -ENOMEM;
    uint32_t kv[2] = {klen, value ? vlen : 0};
    if (p->data.len == 0) {
        uint32_t head[2] = {DIR_MAGIC, DIR_VERSION};
        if (weir_buf_append(&p->data, head, sizeof head) < 0)
            return -ENOMEM;
    }
    if (weir_buf_append(&p->data, kv, sizeof kv) < 0 || weir_buf_append(&p->data, key, klen) < 0 ||
        (value && weir_buf_append(&p->data, value, vlen) < 0))
        return -ENOMEM;
    p->entries++;
    return 0;
}

static int write_whole(const char *path, const struct weir_buf *b)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG; /* a cut name could be the state file's own: no longer atomic */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(fd, b->data + off, b->len - off);
        if (n < 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return -e;
        }
        off += (size_t)n;
    }
    int failed = fsync(fd) < 0 ? errno : 0; /* ENOSPC, EDQUOT: said as they are */
    if (close(fd) < 0 && !failed)
        failed = errno;
    if (failed) {
        unlink(tmp);
        return -failed;
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    /* the rename itself is durable once its directory is: after a power
     * loss the previous run's file would come back, its state a run old */
    return weir_sync_dir_of(path);
}

static int dir_sync(struct weir_durable *d, struct weir_error *err)
{
    struct dir_state *ds = d->state;
    for (struct dir_part *p = ds->parts; p; p = p->next) {
        if (p->data.len == 0) {
            uint32_t head[2] = {DIR_MAGIC, DIR_VERSION}; /* an empty state is a state too */
            if (weir_buf_append(&p->data, head, sizeof head) < 0)
                return weir_error_set(err, -ENOMEM, "out of memory");
        }
        if (end_append(p) < 0)
            return weir_error_set(err, -ENOMEM, "out of memory");
        int rc = write_whole(p->path, &p->data);
        if (rc < 0) {
            p->data.len -= DIR_END_LEN; /* a retry writes its own end */
            return weir_error_set(err, rc, "cannot write %s: %s", p->path, strerror(-rc));
        }
        p->data.len = 0;
        p->entries = 0;
    }
    return 0;
}

static void dir_close(struct weir_durable *d)
{
    struct dir_state *ds = d->state;
    if (!ds)
        return;
    for (struct dir_part *p = ds->parts, *next; p; p = next) {
        next = p->next;
        free(p->path);
        weir_buf_free(&p->data);
        free(p);
    }
    free(ds->pipeline);
    free(ds);
    d->state = NULL;
}

const struct weir_durable_type weir_durable_dir = {
    .name = "dir",
    .open = dir_open,
    .restore = dir_restore,
    .write = dir_write,
    .sync = dir_sync,
    .close = dir_close,
    .whole = 1,
};
