/* A file sink, or the dead letter, that writes a file the file source reads:
 * the sink empties it when the run starts (or, appending, feeds the source
 * its own output), so the input is gone before it is read. Refused at load,
 * with the sink's path, by the file source's check(). Files are compared by
 * device and inode: the same file under two names, a link, counts. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "connectors/file_sink.h"
#include "connectors/file_source.h"
#include "engine/pipeline.h"

/* out NULL: the sink's file is not there yet, which the sink's set-up
 * creates empty before the source opens it (a run of no records, no word):
 * the same name, then. */
static int reads(const struct file_source_conf *c, const char *name, const struct stat *out)
{
    for (size_t i = 0; i < c->files.n; i++) {
        struct stat in;
        const char *path = c->files.paths[i];
        if (strcmp(path, "-") == 0)
            continue;
        if (!out ? strcmp(path, name) == 0
                 : stat(path, &in) == 0 && in.st_dev == out->st_dev && in.st_ino == out->st_ino)
            return 1;
    }
    return 0;
}

int weir_file_source_check(const void *conf, const struct weir_pipeline *pl, struct weir_diag *d)
{
    const struct file_source_conf *c = conf;
    int bad = 0;
    for (size_t k = 0; k <= pl->nsinks; k++) {
        const struct weir_stage_sink *st = k < pl->nsinks ? &pl->sinks[k] : &pl->dead;
        const char *out = st->type == &weir_sink_file ? weir_file_sink_path(st->conf) : NULL;
        struct stat so;
        int there = out && stat(out, &so) == 0;
        if (!out || strcmp(out, "-") == 0 || (there && !S_ISREG(so.st_mode)) ||
            !reads(c, out, there ? &so : NULL))
            continue;
        char where[64];
        if (k < pl->nsinks)
            snprintf(where, sizeof where, "sinks[%zu].path", k);
        else
            snprintf(where, sizeof where, "dead_letter.path");
        weir_diag_add(d, where, "expected a file the source does not read, got %s: source.path "
                      "reads it, and this sink would empty it before it is read (or, appending, "
                      "feed the source its own output)", out);
        bad++;
    }
    return bad;
}
