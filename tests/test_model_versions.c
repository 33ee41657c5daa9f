/* Tests for a directory of model versions (models/versions.h): which files
 * are versions and their order (versionsort: v2 < v10), the pin marker
 * (written atomically, read back, malformed ones refused, removed), and the
 * SIGHUP listeners (engine/hangup.h) the model operator relies on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/hangup.h"
#include "models/versions.h"
#include "tests/check.h"

static char dir[] = "/tmp/weir-model-versions-XXXXXX";

static void touch(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_names(void)
{
    CHECK(weir_model_is_version_name("v1.safetensors"));
    CHECK(weir_model_is_version_name("2026-11-30T08.json"));
    CHECK(!weir_model_is_version_name(".safetensors")); /* a dot name */
    CHECK(!weir_model_is_version_name(".v1.safetensors"));
    CHECK(!weir_model_is_version_name("v1.safetensors.tmp"));
    CHECK(!weir_model_is_version_name("a/v1.json"));
    CHECK(!weir_model_is_version_name(".json"));
    CHECK(!weir_model_is_version_name(""));
}

static void test_list(void)
{
    touch("v10.safetensors", "x");
    touch("v2.safetensors", "x");
    touch("v1.json", "x");
    touch(".hidden.json", "x");
    touch("notes.txt", "x");
    touch("v3.safetensors.part", "x");
    char sub[512];
    snprintf(sub, sizeof sub, "%s/v99.json", dir); /* a directory is not a version */
    CHECK(mkdir(sub, 0700) == 0);
    char **names = NULL, err[300];
    size_t n = 0;
    CHECK(weir_model_versions(dir, &names, &n, err, sizeof err) == 0);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(strcmp(names[0], "v1.json") == 0);
        CHECK(strcmp(names[1], "v2.safetensors") == 0);
        CHECK(strcmp(names[2], "v10.safetensors") == 0);
    }
    weir_model_versions_free(names, n);
    rmdir(sub);
    CHECK(weir_model_versions("/nonexistent/weir", &names, &n, err, sizeof err) == -ENOENT);
    CHECK(strstr(err, "cannot list model versions in /nonexistent/weir") != NULL);
}

static void test_marker(void)
{
    char name[256], why[700];
    CHECK(weir_model_marker_read(dir, name, sizeof name, why, sizeof why) == 0);
    CHECK(weir_model_marker_remove(dir, why, sizeof why) == 0);
    CHECK(weir_model_marker_write(dir, "v2.safetensors", "# rollback from v10.safetensors", why,
                                  sizeof why) == 0);
    CHECK(weir_model_marker_read(dir, name, sizeof name, why, sizeof why) == 1);
    CHECK(strcmp(name, "v2.safetensors") == 0);
    char **names = NULL;
    size_t n = 0;
    CHECK(weir_model_versions(dir, &names, &n, why, sizeof why) == 0 && n == 3); /* not a version */
    weir_model_versions_free(names, n);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -a %s | grep -q tmp", dir);
    CHECK(system(cmd) != 0); /* no temporary left */
    /* a marker is only ever a version's name */
    static const char *const bad[] = {"", "\n", "../v2.safetensors\n", "v2.txt\n", ".v.json\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        touch(WEIR_MODEL_MARKER, bad[i]);
        CHECK(weir_model_marker_read(dir, name, sizeof name, why, sizeof why) == -EINVAL);
        CHECK(strstr(why, "expected a version's file name") != NULL);
    }
    touch(WEIR_MODEL_MARKER, "v1.json\r\n# notes\n");
    CHECK(weir_model_marker_read(dir, name, sizeof name, why, sizeof why) == 1);
    CHECK(strcmp(name, "v1.json") == 0);
    char huge[400];
    memset(huge, 'a', sizeof huge);
    strcpy(huge + sizeof huge - 6, ".json");
    touch(WEIR_MODEL_MARKER, huge); /* longer than the caller's buffer */
    CHECK(weir_model_marker_read(dir, name, sizeof name, why, sizeof why) == -EINVAL);
    CHECK(weir_model_marker_remove(dir, why, sizeof why) == 1);
    CHECK(weir_model_marker_read(dir, name, sizeof name, why, sizeof why) == 0);
    CHECK(weir_model_marker_write("/nonexistent/weir", "v1.json", NULL, why, sizeof why) < 0);
    CHECK(strstr(why, "/nonexistent/weir/.weir-pin") != NULL);
}

static int calls;
static void count(void *ctx)
{
    calls += *(int *)ctx;
}

static void test_hangup(void)
{
    int one = 1, ten = 10;
    CHECK(weir_hangup_listen(count, &one) == 0);
    CHECK(weir_hangup_listen(count, &one) == 0); /* once per (fn, ctx) */
    CHECK(weir_hangup_listen(count, &ten) == 0);
    weir_hangup_notify();
    CHECK(calls == 11);
    weir_hangup_unlisten(count, &one);
    weir_hangup_notify();
    CHECK(calls == 21);
    weir_hangup_unlisten(count, &ten);
    weir_hangup_unlisten(count, &ten); /* not there: nothing */
    weir_hangup_notify();
    CHECK(calls == 21);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_names();
    test_list();
    test_marker();
    test_hangup();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_summary();
}
