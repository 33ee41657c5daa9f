/* A stand-in for a hostile librdkafka plugin, for test_unsafe_properties.sh:
 * it creates the file named by $WEIR_TEST_MARKER the moment it is loaded,
 * so the file's existence proves that something loaded it. Built as a
 * shared module, never linked into weir. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void on_load(void)
{
    const char *path = getenv("WEIR_TEST_MARKER");
    int fd = path ? open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644) : -1;
    if (fd >= 0)
        close(fd);
}
