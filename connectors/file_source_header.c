/* A CSV source's files are one table: each file's first line is its header,
 * and a later file's header is checked against the first file's. A file
 * without a header (the parts `split -l` cuts: only the first has one)
 * would have its first row taken as the header, that row neither written
 * nor dead-lettered and every later row keyed by its values: such a line,
 * which names none of the first file's columns, fails the run, naming both
 * files. A header that differs otherwise (columns added, dropped, renamed
 * or in another order) is read as that file's own, with a warning for
 * anything missing or new. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "connectors/file_source.h"
#include "engine/log.h"

static int in_first(const struct file_source *fs, const char *name)
{
    for (size_t at = 0; at < fs->first_cols.len;) {
        const char *have = (const char *)fs->first_cols.data + at;
        if (strcmp(have, name) == 0)
            return 1;
        at += strlen(have) + 1;
    }
    return 0;
}

static int in_header(const struct weir_csv_header *h, const char *name)
{
    for (size_t k = 0; k < h->n; k++)
        if (strcmp(h->names[k], name) == 0)
            return 1;
    return 0;
}

static int remember(struct file_source *fs)
{
    fs->first_ncols = 0;
    weir_buf_reset(&fs->first_cols);
    snprintf(fs->first_file, sizeof fs->first_file, "%s", fs->name);
    fs->first_delim = fs->header.delim;
    for (size_t k = 0; k < fs->header.n; k++) {
        const char *name = fs->header.names[k];
        if (weir_buf_append(&fs->first_cols, name, strlen(name) + 1) < 0)
            return -ENOMEM;
        fs->first_ncols++;
    }
    return 0;
}

/* ` ("a", "b", "c", ...)`: the first three names on one side only, in
 * parentheses once list_end closes them; nothing when there are none. */
static size_t list_names(char *out, size_t cap, const char *name, size_t *listed, size_t len)
{
    if (*listed < 3 && len < cap)
        len += (size_t)snprintf(out + len, cap - len, "%s\"%s\"", *listed ? ", " : " (", name);
    ++*listed;
    return len < cap ? len : cap - 1;
}

static void list_end(char *out, size_t cap, size_t len, size_t listed)
{
    if (listed && len < cap)
        snprintf(out + len, cap - len, "%s)", listed > 3 ? ", ..." : "");
}

int weir_file_source_header_check(struct file_source *fs, uint64_t line, struct weir_error *err)
{
    if (!fs->first_ncols)
        return remember(fs);
    char missing[240] = "", added[240] = "";
    size_t nmissing = 0, nadded = 0, lm = 0, la = 0;
    for (size_t at = 0; at < fs->first_cols.len;) {
        const char *name = (const char *)fs->first_cols.data + at;
        if (!in_header(&fs->header, name))
            lm = list_names(missing, sizeof missing, name, &nmissing, lm);
        at += strlen(name) + 1;
    }
    for (size_t k = 0; k < fs->header.n; k++)
        if (!in_first(fs, fs->header.names[k]))
            la = list_names(added, sizeof added, fs->header.names[k], &nadded, la);
    list_end(missing, sizeof missing, lm, nmissing);
    list_end(added, sizeof added, la, nadded);
    if (nmissing == fs->first_ncols && fs->header.n > 0)
        return weir_error_set(err, -EINVAL,
                              "%s: line %llu names none of the columns of %s's CSV header%s: "
                              "each CSV file of the source must start with a header line (a "
                              "file without one would lose its first row)",
                              fs->name, (unsigned long long)line, fs->first_file, missing);
    if (nmissing || nadded)
        weir_log(WEIR_LOG_WARN,
                 "%s: its CSV header differs from %s's: %zu column(s) missing%s, %zu new%s; its "
                 "records are read by its own header",
                 fs->name, fs->first_file, nmissing, missing, nadded, added);
    return 0;
}

int weir_file_source_header_carry(struct file_source *fs, const struct file_source *old, char delim)
{
    /* Names split at another delimiter would not compare: the new source's
     * first header becomes the reference then. */
    if (!old->first_ncols || old->first_delim != delim)
        return 0;
    weir_buf_reset(&fs->first_cols);
    if (weir_buf_append(&fs->first_cols, old->first_cols.data, old->first_cols.len) < 0)
        return -ENOMEM;
    fs->first_ncols = old->first_ncols;
    fs->first_delim = old->first_delim;
    memcpy(fs->first_file, old->first_file, sizeof fs->first_file);
    return 0;
}
