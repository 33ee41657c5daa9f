/* Kafka properties that run code (see kafka_unsafe.h). A list of what is
 * known to load or execute, plus a check of the values librdkafka pastes
 * into its default kinit shell command. */
#include "connectors/kafka_unsafe.h"

#include <string.h>

static const struct {
    const char *name, *why;
} unsafe[] = {
    {"plugin.library.paths", "librdkafka loads these shared libraries into weir (dlopen)"},
    {"sasl.kerberos.kinit.cmd", "librdkafka runs this shell command"},
    {"ssl.engine.location", "OpenSSL loads this engine library into weir"},
    {"ssl.engine.id", "it picks the OpenSSL engine to load into weir"},
};

/* The default sasl.kerberos.kinit.cmd is
 *   kinit -R -t "%{sasl.kerberos.keytab}" -k %{sasl.kerberos.principal} || ...
 * run by a shell: these values must not carry anything a shell interprets. */
static const char *const kinit_vars[] = {"sasl.kerberos.keytab", "sasl.kerberos.principal"};

/* Principal names ("kafka/host@REALM") and paths; no quote, space, $, `, ;, |, &, (, <. */
static int shell_inert(const char *s)
{
    return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                       "@._/+=:,-")] == '\0';
}

/* ssl.providers: names the system's OpenSSL finds in its own modules
 * directory ("default,legacy"); anything with a path separator or a dot is a
 * module file the pipeline picks. */
static int provider_names_only(const char *s)
{
    return s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-,")] ==
           '\0';
}

const char *weir_kafka_prop_unsafe(const char *name, const char *value)
{
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++)
        if (strcmp(name, unsafe[i].name) == 0)
            return unsafe[i].why;
    for (size_t i = 0; i < sizeof kinit_vars / sizeof kinit_vars[0]; i++)
        if (strcmp(name, kinit_vars[i]) == 0 && !shell_inert(value))
            return "librdkafka puts it into its kinit shell command, and it holds characters a "
                   "shell interprets";
    if (strcmp(name, "ssl.providers") == 0 && !provider_names_only(value))
        return "OpenSSL loads provider modules by these names, and one is a path";
    return NULL;
}
