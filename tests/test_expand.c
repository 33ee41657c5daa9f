/* ${VAR} and @file in pipeline strings (engine/expand.c): values, escapes,
 * secret files beside the pipeline file (with ${VAR} in their path, the
 * trailing newline stripped), keys left alone, and every error with its JSON
 * path. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/expand.h"
#include "engine/pipeline.h"
#include "tests/check.h"

static char dir[] = "/tmp/weir-expand-XXXXXX";
static char pipeline[256];

static void write_file(const char *name, const char *data, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f && fwrite(data, 1, len, f) == len);
    if (f)
        fclose(f);
}

/* Expands {"v": text}; returns the result or the diagnostics. */
static const char *expand(const char *text, int want_bad)
{
    static char out[4096];
    struct weir_diag d = {.file = "p.json"};
    json_t *root = json_pack("{s:[s]}", "v", text);
    int bad = weir_expand_strings(root, pipeline, NULL, 0, &d);
    CHECK(bad == want_bad);
    if (bad)
        snprintf(out, sizeof out, "%s", d.n ? d.msgs[0] : "?");
    else
        snprintf(out, sizeof out, "%s", json_string_value(json_array_get(json_object_get(root, "v"), 0)));
    json_decref(root);
    weir_diag_free(&d);
    return out;
}

int main(void)
{
    CHECK(mkdtemp(dir) != NULL);
    snprintf(pipeline, sizeof pipeline, "%s/p.json", dir);
    setenv("WEIR_T_A", "alpha", 1);
    setenv("WEIR_T_EMPTY", "", 1);
    setenv("WEIR_T_NAME", "secret.txt", 1);
    unsetenv("WEIR_T_UNSET");
    write_file("secret.txt", "s3cr3t\n", 7);
    write_file("two-lines", "a\nb\r\n", 5);
    write_file("bad-utf8", "a\xff", 2);
    write_file("nul", "a\0b", 3);

    CHECK_STR(expand("plain", 0), "plain");
    CHECK_STR(expand("${WEIR_T_A}", 0), "alpha");
    CHECK_STR(expand("x${WEIR_T_A}-${WEIR_T_A}y", 0), "xalpha-alphay");
    CHECK_STR(expand("[${WEIR_T_EMPTY}]", 0), "[]"); /* set but empty is fine */
    setenv("WEIR_T_LATIN1", "caf\xe9", 1);           /* jansson refused it, said as out of memory */
    CHECK_STR(expand("${WEIR_T_LATIN1}/x", 1),
              "p.json: v[0]: expected UTF-8 text, got bytes that "
              "are not UTF-8 from an environment variable (${...})");
    CHECK_STR(expand("$${WEIR_T_A}", 0), "${WEIR_T_A}");
    CHECK_STR(expand("price $5 or $", 0), "price $5 or $");
    CHECK_STR(expand("@secret.txt", 0), "s3cr3t");
    CHECK_STR(expand("@${WEIR_T_NAME}", 0), "s3cr3t");
    CHECK_STR(expand("@two-lines", 0), "a\nb");
    CHECK_STR(expand("@@secret.txt", 0), "@secret.txt");
    CHECK_STR(expand("a@b", 0), "a@b");
    char abs[512];
    snprintf(abs, sizeof abs, "@%s/secret.txt", dir);
    CHECK_STR(expand(abs, 0), "s3cr3t");

    CHECK_STR(expand("${WEIR_T_UNSET}", 1),
              "p.json: v[0]: expected the environment variable WEIR_T_UNSET to be set, got it unset");
    CHECK_STR(expand("${WEIR_T_A", 1), "p.json: v[0]: expected ${NAME} (letters, digits, '_'; "
                                       "\"$${\" for a literal \"${\"), got \"${WEIR_T_A\"");
    CHECK_STR(expand("${1X}", 1), "p.json: v[0]: expected ${NAME} (letters, digits, '_'; \"$${\" "
                                  "for a literal \"${\"), got \"${1X}\"");
    char want[1024];
    snprintf(want, sizeof want,
             "p.json: v[0]: expected a readable file after '@', got nothere: neither %s/nothere "
             "(beside the pipeline file) nor nothere (the working directory) exists", dir);
    CHECK_STR(expand("@nothere", 1), want);
    snprintf(want, sizeof want,
             "p.json: v[0]: expected UTF-8 text in %s/bad-utf8 (after '@'), got bytes that are "
             "not UTF-8", dir);
    CHECK_STR(expand("@bad-utf8", 1), want);
    snprintf(want, sizeof want,
             "p.json: v[0]: expected UTF-8 text in %s/nul (after '@'), got a NUL byte in it", dir);
    CHECK_STR(expand("@nul", 1), want);
    CHECK_STR(expand("@/dev/null", 1), "p.json: v[0]: expected a regular file after '@', got "
                                       "/dev/null");
    /* a FIFO with no writer: refused, not waited on (the load hung in open) */
    snprintf(want, sizeof want, "%s/fifo", dir);
    CHECK(mkfifo(want, 0600) == 0);
    snprintf(want, sizeof want, "p.json: v[0]: expected a regular file after '@', got %s/fifo",
             dir);
    CHECK_STR(expand("@fifo", 1), want);

    /* Keys are left alone; every string of the tree is expanded; each
     * problem is reported at its path. */
    struct weir_diag d = {.file = "p.json"};
    json_t *root = json_loads("{\"${WEIR_T_A}\": {\"k\": [1, \"${WEIR_T_A}\", {\"z\": "
                              "\"${WEIR_T_UNSET}\"}]}, \"n\": \"${WEIR_T_UNSET}\"}",
                              0, NULL);
    CHECK(weir_expand_strings(root, pipeline, NULL, 0, &d) == 2);
    CHECK(json_object_get(root, "${WEIR_T_A}") != NULL);
    CHECK_STR(json_string_value(json_array_get(
                  json_object_get(json_object_get(root, "${WEIR_T_A}"), "k"), 1)),
              "alpha");
    CHECK(d.n == 2);
    if (d.n == 2) {
        CHECK_STR(d.msgs[0], "p.json: ${WEIR_T_A}.k[2].z: expected the environment variable "
                             "WEIR_T_UNSET to be set, got it unset");
        CHECK_STR(d.msgs[1], "p.json: n: expected the environment variable WEIR_T_UNSET to be "
                             "set, got it unset");
    }
    json_decref(root);
    weir_diag_free(&d);

    /* "@secret.txt" given by --set is the working directory's file, as any
     * path on a command line; the file's own, beside the pipeline first */
    char cwd[4096], other[] = "/tmp/weir-test-expand-cwd.XXXXXX", there[600];
    CHECK(getcwd(cwd, sizeof cwd) != NULL && mkdtemp(other) != NULL && chdir(other) == 0);
    FILE *f = fopen("secret.txt", "w");
    CHECK(f && fputs("from-cwd\n", f) >= 0);
    if (f)
        fclose(f);
    const struct weir_override set = {"v", "\"@secret.txt\""};
    for (int given = 0; given <= 1; given++) {
        struct weir_diag ds = {.file = "p.json"};
        json_t *r = json_pack("{s:s}", "v", "@secret.txt");
        CHECK(weir_expand_strings(r, pipeline, given ? &set : NULL, given, &ds) == 0);
        CHECK_STR(json_string_value(json_object_get(r, "v")), given ? "from-cwd" : "s3cr3t");
        json_decref(r);
        weir_diag_free(&ds);
    }
    snprintf(there, sizeof there, "%s/secret.txt", other);
    unlink(there);
    CHECK(chdir(cwd) == 0 && rmdir(other) == 0);

    const char *names[] = {"secret.txt", "two-lines", "bad-utf8", "nul", "fifo"};
    for (size_t i = 0; i < 5; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
    return check_summary();
}
