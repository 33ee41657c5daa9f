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

/* The file the old source was reading, deleted since: a reload of the same
 * path lists it no more, and reading the new list from its start would hand
 * on every file before it again. Its path goes back into the new list at its
 * place by name; the rest of it is read through the old source's descriptor
 * (its bytes stay while one is open) and the files after it follow. Returns
 * its index, or -1 (another path; out of memory). */
static long put_back(struct file_source_conf *c, const struct file_source_conf *was,
                     const char *path)
{
    if (strcmp(c->path, was->path) != 0 || strcmp(path, "-") == 0)
        return -1;
    char *copy = strdup(path);
    char **grown = copy ? realloc(c->files.paths, (c->files.n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(copy);
        return -1;
    }
    size_t j = 0;
    while (j < c->files.n && strcmp(grown[j], path) < 0)
        j++;
    memmove(grown + j + 1, grown + j, (c->files.n - j) * sizeof *grown);
    grown[j] = copy;
    c->files.paths = grown;
    c->files.n++;
    return (long)j;
}

static int not_on_disk(const char *path)
{
    struct stat st;
    return stat(path, &st) < 0 && errno == ENOENT;
}

/* Whether the file open on fd has no name left (else it was renamed: if it
 * is listed under its new name, it is read again from its start). */
static int unlinked(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_nlink == 0;
}

/* The old source's files up to the one it was reading are the new one's
 * (a glob or directory may have gained files after it). */
static int same_files(const struct file_source_conf *a, const struct file_source_conf *b,
                      size_t upto)
{
    if (upto >= a->files.n || upto >= b->files.n)
        return 0;
    for (size_t k = 0; k <= upto; k++)
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
    if (weir_csv_header_parse(&fs->header, old->header_line, old->header_len, c->delimiter[0],
                              &reason) < 0)
        return weir_error_set(err, -EINVAL, "%s: line 1: %s", fs->name,
                              reason ? reason : "CSV header line is too long");
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

/* Which file to start with, and where: prev is the source a reload replaces
 * (or NULL). The file it was reading, where the new path lists it (or
 * would, had it not been deleted); the files after it follow. A path whose
 * files do not include it (another file, another directory): its first
 * file from its start. */
int weir_file_source_open_start(struct file_source *fs, const struct weir_source *prev,
                                struct weir_error *err)
{
    const struct file_source_conf *c = fs->s->conf;
    const struct file_source *old =
        prev && prev->type == fs->s->type ? (const struct file_source *)prev->state : NULL;
    const struct file_source_conf *was = old ? prev->conf : NULL;
    const char *was_reading = old && old->fd >= 0 ? was->files.paths[old->file] : NULL;
    long k = was_reading ? find_file(c, was_reading) : -1;
    /* The file being read is gone from its name: its rest comes through
     * old's descriptor. A directory or glob lists it no more (it goes back
     * into the list); a single file's path is listed as given. */
    int gone = 0;
    if (k < 0 && was_reading && (k = put_back((struct file_source_conf *)c, was, was_reading)) >= 0)
        gone = 1;
    else if (k >= 0 && old->offset >= 0 && not_on_disk(was_reading))
        gone = 1;
    if (gone)
        weir_log(WEIR_LOG_INFO, "reload: %s, being read, was %s since: the rest of it is read "
                 "from the descriptor still open on it", was_reading,
                 unlinked(old->fd) ? "deleted" : "renamed or moved");
    if (k < 0) {
        if (old)
            weir_log(WEIR_LOG_INFO, "reload: the file source's path changed: it reads %s from the "
                     "start", c->path);
        return weir_file_source_open_as(fs, 0, -1, err);
    }
    /* A pipe goes on through the old descriptor: opening a FIFO again would
     * wait for a writer that may have just closed its end. */
    int rc = weir_file_source_open_as(fs, (size_t)k, old->offset < 0 || gone ? old->fd : -1, err);
    return rc < 0 ? rc : resume(fs, old, !same_files(was, c, old->file), err);
}
