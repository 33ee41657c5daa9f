/* The connector catalogue: source and sink types by name. A new connector is
 * one file in connectors/ plus one line here. */
#include <string.h>

#include "connectors/connector.h"

extern const struct weir_source_type weir_source_file;
extern const struct weir_sink_type weir_sink_file;
extern const struct weir_source_type weir_source_kafka;
extern const struct weir_sink_type weir_sink_kafka;

static const struct weir_source_type *const sources[] = {&weir_source_file, &weir_source_kafka, NULL};
static const struct weir_sink_type *const sinks[] = {&weir_sink_file, &weir_sink_kafka, NULL};

const struct weir_source_type *const *weir_source_types(void)
{
    return sources;
}

const struct weir_sink_type *const *weir_sink_types(void)
{
    return sinks;
}

const struct weir_source_type *weir_source_find(const char *name)
{
    for (size_t i = 0; sources[i]; i++)
        if (strcmp(sources[i]->name, name) == 0)
            return sources[i];
    return NULL;
}

const struct weir_sink_type *weir_sink_find(const char *name)
{
    for (size_t i = 0; sinks[i]; i++)
        if (strcmp(sinks[i]->name, name) == 0)
            return sinks[i];
    return NULL;
}
