/* A reload's new file source goes on where the old one stopped (see
 * file_source.c): the same files, the same line, the unread bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "connectors/file_source.h"
#include "engine/log.h"

/* Where the new list holds the file the old source was reading (the same
 * file name names the same bytes), or -1. By name, not by index: a file
 * before it deleted, or a new one sorting before it, moves it in the list,
 * and file k of the new list is then another file, read again. */
static long find_file(const struct file_source_conf *c, const char *path)
{
    for (size_t k = 0; k < c->files.n; k++)
        if (strcmp(c->files.paths[k], path) == 0)
            return (long)k;
    return -1;
}

/* Where path would be listed: directories and globs list in strcmp order. */
static size_t place_of(const struct file_source_conf *c, const char *path)
{
    size_t k = 0;
    while (k < c->files.n && strcmp(c->files.paths[k], path) < 0)
        k++;
    return k;
}

static int not_on_disk(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 && errno == ENOENT;
}

/* Whether the file open on fd is no longer the one path names: deleted,
 * renamed, or replaced by another file under that name (renamed over it, a
 * new inode), whose first bytes the old offset would skip. */
static int name_moved_on(int fd, const char *path)
{
    struct stat open_st, named;
    if (fstat(fd, &open_st) < 0)
        return 0;
    if (stat(path, &named) < 0)
        return errno == ENOENT;
    return open_st.st_dev != named.st_dev || open_st.st_ino != named.st_ino;
}

/* Whether the file is now shorter than the bytes already read from it:
 * truncated (and maybe written again) in place, the same inode. */
static int shrank(int fd, off_t read_to)
{
    struct stat st;
    return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < read_to;
}

/* How much of the file being read old has read: its offset, or, for a gzip
 * file the helper thread read whole (which moves no offset), its size then. */
static off_t read_to(const struct file_source *old)
{
    return old->ahead_on && old->size_at_open > old->offset ? old->size_at_open : old->offset;
}

/* Whether the file open on fd has no name left (else it was renamed: if it
 * is listed under its new name, it is read again from its start). */
static int unlinked(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

/* The files listed before the one being read are the same in both lists
 * (a glob or directory may have gained files after it). */
static int same_before(const struct file_source_conf *a, size_t na,
                       const struct file_source_conf *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t k = 0; k < na; k++)
        if (strcmp(a->files.paths[k], b->files.paths[k]) != 0)
            return 0;
    return 1;
}

/* The CSV header the old source read, parsed with the new delimiter. */
static int header_again(struct file_source *fs, const struct file_source *old,
                        struct weir_error *err)
{
    const struct file_source_conf *c = fs->s->conf;
    const char *reason = NULL;
    int rc = weir_csv_header_parse(&fs->header, old->header_line, old->header_len, c->delimiter[0],
                                   &reason);
    if (rc == -ENOMEM)
        return weir_error_set(err, rc, "out of memory");
    if (rc < 0)
        return weir_error_set(err, -EINVAL, "%s: line 1: %s", fs->name,
                              reason ? reason : "CSV header line is too long");
    /* Nothing carried (another delimiter): this file's header is the
     * reference, as the first file's was for old. */
    if (!fs->first_ncols && weir_file_source_header_check(fs, 1, err) < 0)
        return weir_error_set(err, -ENOMEM, "out of memory"); /* all it can fail with here */
    fs->have_header = 1;
    if ((fs->header_line = malloc(old->header_len + 1))) {
        memcpy(fs->header_line, old->header_line, old->header_len);
        fs->header_len = old->header_len;
    }
    return 0;
}

/* old has stopped after its last whole line handed on (everything it
 * handed on is acknowledged): fs opens the same file and takes the rest.
 * A plain file or a pipe takes old's position and its unread bytes; a gzip
 * file (its inflater cannot move) or a CSV file whose header old never
 * read as one (it read JSON Lines) is read again from its start, the lines
 * old handed on dropped. moved: the file lists differ before the file (the
 * log line says that only the files after it are read). Returns 0 or a
 * negative errno (err set). */
static int resume(struct file_source *fs, const struct file_source *old, int moved,
                  struct weir_error *err)
{
    const char *name = fs->name;
    uint64_t line = old->ls.line_no;
    uint64_t byte = old->stream_in - weir_linesplit_pending(&old->ls);
    int csv_header_lost = fs->format == FMT_CSV && line > 0 && !old->header_line;
    const char *list = moved ? "; its file list changed before that file: it reads the files "
                               "after it, none before it"
                             : "";
    fs->in_quote = old->in_quote; /* a quoted field open at the last line goes on */
    if ((fs->gzip || old->gzip) && fs->offset < 0)
        return weir_error_set(err, -ESPIPE, "%s: a gzip stream from a pipe cannot resume after "
                              "line %llu with a new inflater: restart to change the source",
                              name, (unsigned long long)line);
    if (fs->gzip || old->gzip || (csv_header_lost && fs->offset >= 0)) {
        fs->skip_lines = line;
        weir_log(WEIR_LOG_INFO, "reload: the file source reads %s again from its start, dropping "
                 "the %llu lines already handed on (%s)%s", name, (unsigned long long)line,
                 fs->gzip || old->gzip ? "gzip: the inflater cannot resume at an offset"
                                       : "now CSV: its header is line 1", list);
        return 0;
    }
    if (weir_linesplit_carry(&fs->ls, &old->ls) < 0)
        return weir_error_set(err, -ENOMEM, "out of memory");
    fs->stream_in = old->stream_in;
    if (fs->offset >= 0)
        fs->offset = old->offset;
    if (fs->format == FMT_CSV && old->header_line && header_again(fs, old, err) < 0)
        return err->code;
    weir_log(WEIR_LOG_INFO, "reload: the file source goes on in %s after line %llu (byte %llu)%s%s",
             name, (unsigned long long)line, (unsigned long long)byte,
             csv_header_lost ? "; now CSV: its next line is taken as the header" : "", list);
    return 0;
}

/* The file old was reading is no longer the one its name names: its rest
 * is read through old's descriptor (its bytes stay while one is open), as a
 * held file the list does not name, and list file next follows. */
static int open_held(struct file_source *fs, const struct file_source *old, const char *path,
                     size_t next, struct weir_error *err)
{
    const struct file_source_conf *c = fs->s->conf;
    const char *how = next < c->files.n && strcmp(c->files.paths[next], path) == 0
                          ? "replaced by another file of that name (read next, from its start)"
                      : unlinked(old->fd) ? "deleted"
                                          : "renamed or moved";
    weir_log(WEIR_LOG_INFO, "reload: %s, being read, was %s since: the rest of it is read from "
             "the descriptor still open on it", path, how);
    if (!(fs->held_name = strdup(path)))
        return weir_error_set(err, -ENOMEM, "out of memory");
    fs->held_before = place_of(c, path);
    return weir_file_source_open_as(fs, next, fs->held_name, old->fd, err);
}

/* Which file to start with, and where: prev is the source a reload replaces
 * (or NULL). The file it was reading, where the new path lists it; the files
 * after it follow. Gone from its name (deleted, renamed, replaced), its rest
 * is read first, from the descriptor the old source holds, then the files
 * the new list has from its place on. A path whose files do not include it
 * (another file, another directory): its first file from its start. */
int weir_file_source_open_start(struct file_source *fs, const struct weir_source *prev,
                                struct weir_error *err)
{
    const struct file_source_conf *c = fs->s->conf;
    const struct file_source *old =
        prev && prev->type == fs->s->type ? (const struct file_source *)prev->state : NULL;
    const struct file_source_conf *was = old ? prev->conf : NULL;
    const char *path = !old || old->fd < 0 ? NULL
                       : old->held         ? old->held_name
                                           : was->files.paths[old->file];
    long k = path ? find_file(c, path) : -1;
    int same_path = old && strcmp(c->path, was->path) == 0 && strcmp(c->path, "-") != 0;
    if (k < 0 && !(path && same_path)) {
        if (old)
            weir_log(WEIR_LOG_INFO, "reload: the file source's path changed: it reads %s from the "
                     "start", c->path);
        return weir_file_source_open_as(fs, 0, NULL, -1, err);
    }
    int rc;
    size_t at = k >= 0 ? (size_t)k : place_of(c, path);
    /* "-" names standard input, not a file of that name that could move */
    int named = strcmp(path, "-") != 0;
    if (k < 0 || (old->offset >= 0 && named && name_moved_on(old->fd, path))) {
        /* Listed no more (a directory or glob), or listed as given (a single
         * file's path) but deleted: the files after it follow. Replaced by
         * another file of that name: that file follows, from its start. */
        size_t next = k >= 0 && not_on_disk(path) ? at + 1 : at;
        rc = open_held(fs, old, path, next, err);
    } else if (old->offset >= 0 && named && shrank(old->fd, read_to(old))) {
        /* Its lines from the old offset on would be read from the middle of
         * whatever was written since: the new content from its start. */
        weir_log(WEIR_LOG_INFO, "reload: %s, being read, is shorter than the %lld bytes read "
                 "from it (truncated in place since): it is read again from its start", path,
                 (long long)read_to(old));
        return weir_file_source_open_as(fs, at, NULL, -1, err);
    } else {
        /* A pipe goes on through the old descriptor: opening a FIFO again
         * would wait for a writer that may have just closed its end. */
        rc = weir_file_source_open_as(fs, at, NULL, old->offset < 0 ? old->fd : -1, err);
    }
    size_t was_before = old->held ? old->held_before : old->file;
    if (rc == 0 && weir_file_source_header_carry(fs, old, c->delimiter[0]) < 0)
        rc = weir_error_set(err, -ENOMEM, "out of memory");
    return rc < 0 ? rc : resume(fs, old, !same_before(was, was_before, c, at), err);
}

/* A reload that leaves the file source's own options as they are (only the
 * batch size, say) keeps it reading where it is: the same file, the same
 * line, the same partition. Not when a directory's or glob's listing
 * changed since: the source's place is an index into it (a file before it
 * deleted made it skip the next one); a new source finds the file by name. */
int weir_file_source_keeps(const void *conf, const void *next)
{
    const struct file_source_conf *a = conf, *b = next;
    return strcmp(a->path, b->path) == 0 && a->format == b->format &&
           a->max_record_bytes == b->max_record_bytes && a->read_size == b->read_size &&
           strcmp(a->delimiter, b->delimiter) == 0 && a->inflate_ahead == b->inflate_ahead &&
           same_before(a, a->files.n, b, b->files.n); /* the whole listing */
}
