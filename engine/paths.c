/* Paths relative to the pipeline file (see paths.h). */
#include "engine/paths.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Whether p names what want asks for: the file itself, or the directory a
 * new file would go in. */
static int present(const char *p, enum weir_path_want want)
{
    struct stat st;
    if (want == WEIR_PATH_READ)
        return stat(p, &st) == 0;
    const char *slash = strrchr(p, '/');
    if (!slash)
        return 1; /* the working directory */
    char dir[4096];
    if ((size_t)(slash - p) >= sizeof dir)
        return 0;
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - p), p);
    return slash == p || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
}

int weir_path_resolve(const char *pipeline_file, const char *path, enum weir_path_want want,
                      char *out, size_t size, char *why, size_t why_size)
{
    if (why_size)
        why[0] = '\0';
    const char *slash = pipeline_file ? strrchr(pipeline_file, '/') : NULL;
    if (path[0] == '/' || strcmp(path, "-") == 0 || !slash) {
        if ((size_t)snprintf(out, size, "%s", path) >= size)
            return -ENAMETOOLONG;
        return 0;
    }
    /* Beside the pipeline file, then the working directory. */
    if ((size_t)snprintf(out, size, "%.*s/%s", (int)(slash - pipeline_file), pipeline_file,
                         path) >= size)
        return -ENAMETOOLONG;
    if (present(out, want))
        return 0;
    if (present(path, want)) {
        snprintf(out, size, "%s", path);
        return 0;
    }
    snprintf(why, why_size, "neither %s (beside the pipeline file) nor %s (the working "
             "directory) %s", out, path, want == WEIR_PATH_READ ? "exists" : "is in a directory "
             "that exists");
    snprintf(out, size, "%s", path);
    return -ENOENT;
}
