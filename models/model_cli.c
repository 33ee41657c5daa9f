/* weir model list|pin|unpin|rollback DIR: managing a directory of model
 * versions without touching the pipeline file. list loads every version
 * with the operator's own loader (so a file it rejects is shown rejected,
 * with the same reason: the tensor, the dtype, both shapes); pin, unpin and
 * rollback write or remove the pin marker (models/versions.h), which a
 * running model operator takes on its next look at the directory
 * (reload_ms) or on SIGHUP, and a starting one at once. What list calls
 * "served" is what an operator without a "version" option serves: a
 * pipeline's "version" wins over the marker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "connectors/connector.h"
#include "models/model.h"
#include "models/versions.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

/* Every version of a directory, loaded once. */
struct listing {
    const char *dir;
    char **names;
    size_t n;
    char **why;   /* (n) NULL: loads */
    char **what;  /* (n) "dense 2-1 raw" of the ones that load */
    char **shape; /* (n) inputs, outputs and input names of the ones that load */
    char marker[256];
    char marker_why[600];
    int has_marker;  /* versions.h: 1, 0, or -errno (marker_why) */
    long newest_ok;  /* index of the newest that loads, -1 */
    long served;     /* index an operator without "version" serves, -1: none */
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->why ? l->why[i] : NULL);
        free(l->what ? l->what[i] : NULL);
        free(l->shape ? l->shape[i] : NULL);
    }
    free(l->shape);
    free(l->why);
    free(l->what);
    weir_model_versions_free(l->names, l->n);
}

static long index_of(const struct listing *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->names[i], name) == 0)
            return (long)i;
    return -1;
}

/* What a pipeline's model operator checks a version against: how many
 * inputs and outputs ("3 1"), then the inputs' names when the file has
 * them ("3 1|a|b|c"). */
static char *shape_of(const struct weir_model *m)
{
    size_t len = 48;
    for (size_t i = 0; m->feature && i < m->nin; i++)
        len += strlen(m->feature[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    size_t at = (size_t)snprintf(s, len, "%zu %zu", m->nin, m->nout);
    for (size_t i = 0; m->feature && i < m->nin; i++)
        at += (size_t)snprintf(s + at, len - at, "|%s", m->feature[i]);
    return s;
}

/* Two shapes a pipeline cannot both take: other counts, or other names
 * where both files name their inputs (one without names fits either). */
static int shapes_clash(const char *a, const char *b)
{
    size_t da = strcspn(a, "|"), db = strcspn(b, "|");
    if (da != db || memcmp(a, b, da) != 0)
        return 1;
    return a[da] && b[db] && strcmp(a, b) != 0;
}

/* 1 when a version that loads reads other inputs or writes another number
 * of outputs than the one served: a pipeline serves the newest that fits
 * its own model operator, which may then be an older one. */
static int shapes_differ(const struct listing *l)
{
    for (size_t i = 0; l->served >= 0 && i < l->n; i++)
        if (l->shape[i] && shapes_clash(l->shape[i], l->shape[l->served]))
            return 1;
    return 0;
}

static int listing_load(struct listing *l, const char *dir)
{
    char err[1200];
    struct stat st;
    memset(l, 0, sizeof *l);
    l->dir = dir;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "weir: model: %s: expected a directory of model versions\n", dir);
        return -ENOTDIR;
    }
    if (weir_model_versions(dir, &l->names, &l->n, err, sizeof err) < 0) {
        fprintf(stderr, "weir: model: %s\n", err);
        return -EIO;
    }
    l->why = calloc(l->n + 1, sizeof *l->why);
    l->what = calloc(l->n + 1, sizeof *l->what);
    l->shape = calloc(l->n + 1, sizeof *l->shape);
    if (!l->why || !l->what || !l->shape)
        return -ENOMEM;
    l->newest_ok = -1;
    for (size_t i = 0; i < l->n; i++) {
        char path[4096];
        struct weir_model *m = NULL;
        snprintf(path, sizeof path, "%s/%s", dir, l->names[i]);
        if (weir_model_load(path, &m, err, sizeof err) < 0) {
            l->why[i] = strdup(err);
        } else {
            char what[200];
            snprintf(what, sizeof what, "%s, %zu input%s, %zu output%s", m->what, m->nin,
                     m->nin == 1 ? "" : "s", m->nout, m->nout == 1 ? "" : "s");
            l->what[i] = strdup(what);
            l->shape[i] = shape_of(m);
            l->newest_ok = (long)i;
        }
        weir_model_free(m);
        if (!l->why[i] && (!l->what[i] || !l->shape[i]))
            return -ENOMEM;
    }
    l->has_marker = weir_model_marker_read(dir, l->marker, sizeof l->marker, l->marker_why,
                                           sizeof l->marker_why);
    l->served = l->newest_ok;
    if (l->has_marker < 0)
        l->served = -1;
    else if (l->has_marker == 1) {
        long k = index_of(l, l->marker);
        l->served = k >= 0 && !l->why[k] ? k : -1;
    }
    return 0;
}

static void print_listing(const struct listing *l)
{
    printf("%zu version%s in %s (* = what a model operator without \"version\" serves):\n", l->n,
           l->n == 1 ? "" : "s", l->dir);
    for (size_t i = 0; i < l->n; i++) {
        const char *tags[3] = {0};
        int nt = 0;
        if (i + 1 == l->n)
            tags[nt++] = "newest";
        if ((long)i == l->newest_ok && i + 1 != l->n)
            tags[nt++] = "newest valid";
        if (l->has_marker == 1 && strcmp(l->marker, l->names[i]) == 0)
            tags[nt++] = "pinned by " WEIR_MODEL_MARKER;
        printf("%c %-28s %-8s %s", (long)i == l->served ? '*' : ' ', l->names[i],
               l->why[i] ? "rejected" : "ok", l->why[i] ? l->why[i] : l->what[i]);
        for (int t = 0; t < nt; t++)
            printf("%s%s", t ? ", " : "  [", tags[t]);
        printf("%s\n", nt ? "]" : "");
    }
    if (l->has_marker < 0)
        printf("pin marker: %s\n", l->marker_why);
    else if (l->has_marker == 1 && index_of(l, l->marker) < 0)
        printf("pin marker: names %s, which is not in the directory\n", l->marker);
    else if (l->has_marker == 1)
        printf("pin marker: %s%s\n", l->marker,
               l->why[index_of(l, l->marker)] ? " (rejected)" : "");
    else
        printf("pin marker: none (the newest valid version serves)\n");
    if (l->served >= 0)
        printf("served: %s\n", l->names[l->served]);
    else
        printf("served: none: a pipeline would not start (%s)\n",
               l->has_marker ? "fix the pin: weir model pin DIR VERSION, or unpin DIR"
                             : "no version loads");
    if (shapes_differ(l))
        printf("note: the versions that load do not all read the same inputs or write as many "
               "outputs: a pipeline's model operator serves the newest that fits its features "
               "and \"out\" (an unpinned one) and rejects the others with why, so it may serve "
               "an older version than %s\n", l->names[l->served]);
}

static int cmd_list(const char *dir)
{
    struct listing l;
    int rc = listing_load(&l, dir);
    if (rc == 0)
        print_listing(&l);
    listing_free(&l);
    return rc < 0 ? EXIT_FAILED : l.served >= 0 ? EXIT_OK : EXIT_FAILED;
}

static int write_marker(const struct listing *l, const char *name, const char *note)
{
    char why[700];
    if (weir_model_marker_write(l->dir, name, note, why, sizeof why) < 0) {
        fprintf(stderr, "weir: model: %s\n", why);
        return EXIT_FAILED;
    }
    printf("pinned %s in %s (%s/%s); a running weir serves it after its next look at the "
           "directory (reload_ms) or on SIGHUP\n", name, l->dir, l->dir, WEIR_MODEL_MARKER);
    return EXIT_OK;
}

static void note_of(char *note, size_t len, const char *what)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    snprintf(note, len, "# %s, weir model, %s", what, stamp);
}

static int cmd_pin(const char *dir, const char *version)
{
    struct listing l;
    const char *slash = strrchr(version, '/');
    const char *name = slash ? slash + 1 : version; /* DIR/v2.safetensors works too */
    int rc = listing_load(&l, dir);
    long k = rc == 0 ? index_of(&l, name) : -1;
    if (rc == 0 && k < 0)
        fprintf(stderr, "weir: model: %s is not a version in %s (weir model list %s)\n", name,
                dir, dir);
    else if (rc == 0 && l.why[k])
        fprintf(stderr, "weir: model: not pinning %s: it does not load: %s\n", name, l.why[k]);
    else if (rc == 0) {
        char note[128];
        note_of(note, sizeof note, "pin");
        rc = write_marker(&l, name, note) == EXIT_OK ? 1 : 0;
    }
    listing_free(&l);
    return rc == 1 ? EXIT_OK : EXIT_FAILED;
}

/* The newest valid version older than the one served (or than the one the
 * marker names, when it does not load). */
static int cmd_rollback(const char *dir)
{
    struct listing l;
    int rc = listing_load(&l, dir), out = EXIT_FAILED;
    long from = l.served;
    if (rc == 0 && from < 0 && l.has_marker == 1)
        from = index_of(&l, l.marker);
    long to = from - 1;
    while (to >= 0 && l.why[to])
        to--;
    if (rc < 0) {
        /* said */
    } else if (from < 0) {
        fprintf(stderr, "weir: model: nothing to roll back from in %s: no version is served\n",
                dir);
    } else if (to < 0) {
        fprintf(stderr, "weir: model: no valid version older than %s in %s\n", l.names[from],
                dir);
    } else {
        char note[600];
        char what[300];
        snprintf(what, sizeof what, "rollback from %s", l.names[from]);
        note_of(note, sizeof note, what);
        out = write_marker(&l, l.names[to], note);
        if (out == EXIT_OK)
            printf("rolled back: %s -> %s\n", l.names[from], l.names[to]);
    }
    listing_free(&l);
    return out;
}

static int cmd_unpin(const char *dir)
{
    char why[700];
    struct listing l;
    if (listing_load(&l, dir) < 0) {
        listing_free(&l);
        return EXIT_FAILED;
    }
    int rc = weir_model_marker_remove(dir, why, sizeof why);
    if (rc < 0)
        fprintf(stderr, "weir: model: %s\n", why);
    else if (rc == 0)
        printf("no pin in %s: nothing to do\n", dir);
    else
        printf("unpinned %s: the newest valid version%s%s serves after the next look at the "
               "directory (reload_ms) or SIGHUP\n", dir, l.newest_ok >= 0 ? ", " : "",
               l.newest_ok >= 0 ? l.names[l.newest_ok] : "");
    listing_free(&l);
    return rc < 0 ? EXIT_FAILED : EXIT_OK;
}

static int model_main(int argc, char **argv)
{
    const char *sub = argc > 2 ? argv[2] : NULL;
    int nargs = argc - 3;
    for (int i = 3; i < argc; i++)
        if (argv[i][0] == '-') { /* an option here is a mistake, not a directory */
            fprintf(stderr, "weir: model: unexpected option \"%s\"; try: weir help model\n",
                    argv[i]);
            return EXIT_USAGE;
        }
    if (sub && strcmp(sub, "list") == 0 && nargs == 1)
        return cmd_list(argv[3]);
    if (sub && strcmp(sub, "pin") == 0 && nargs == 2)
        return cmd_pin(argv[3], argv[4]);
    if (sub && strcmp(sub, "unpin") == 0 && nargs == 1)
        return cmd_unpin(argv[3]);
    if (sub && strcmp(sub, "rollback") == 0 && nargs == 1)
        return cmd_rollback(argv[3]);
    fprintf(stderr, "weir: model: expected list DIR, pin DIR VERSION, unpin DIR or rollback DIR, "
            "got \"%s\"%s; try: weir help model\n", sub ? sub : "", nargs > 1 ? " ..." : "");
    return EXIT_USAGE;
}

const struct weir_command weir_command_model = {
    .name = "model",
    .usage = "weir model list|pin|unpin|rollback DIR [VERSION]",
    .help =
        "Manages a directory of model versions (a model operator's \"path\"; docs/models.md).\n"
        "  list DIR           every version file, whether it loads (the operator's loader: a\n"
        "                     rejected file's reason names the tensor, dtype and shapes), the\n"
        "                     newest, the pin, and * the one served\n"
        "  pin DIR VERSION    serve VERSION (it must load): writes DIR/.weir-pin atomically\n"
        "  rollback DIR       serve the newest valid version older than the one served\n"
        "                     (recorded in DIR/.weir-pin, so rollback again goes further back)\n"
        "  unpin DIR          remove the pin: the newest valid version serves\n"
        "A running weir takes a change on its next look at the directory (\"reload_ms\") or on\n"
        "SIGHUP; a pipeline's \"version\" option wins over the pin. Exit: 0 ok, 1 failed (list:\n"
        "nothing would be served), 2 bad usage.\n",
    .main = model_main,
};
