/* The connector catalogue: source, sink and top-level section types, and the
 * commands connectors add, by name.
 * A new connector is one file in connectors/ plus one line here. */
#include <string.h>

#include "connectors/connector.h"

extern const struct weir_source_type weir_source_file;
extern const struct weir_sink_type weir_sink_file;
extern const struct weir_source_type weir_source_kafka;
extern const struct weir_sink_type weir_sink_kafka;
extern const struct weir_section_type weir_section_replay;
extern const struct weir_section_type weir_section_http;
extern const struct weir_section_type weir_section_reload;
extern const struct weir_command weir_command_replay;
extern const struct weir_command weir_command_test;  /* pipeline_test.c */
extern const struct weir_command weir_command_check; /* pipeline_check.c */
extern const struct weir_command weir_command_features;
extern const struct weir_command weir_command_fit;
extern const struct weir_command weir_command_model;

static const struct weir_source_type *const sources[] = {&weir_source_file, &weir_source_kafka, NULL};
static const struct weir_sink_type *const sinks[] = {&weir_sink_file, &weir_sink_kafka, NULL};
static const struct weir_section_type *const sections[] = {&weir_section_replay, &weir_section_http,
                                                             &weir_section_reload, NULL};
/* One line per command: helpers adding commands merge without conflicts. */
static const struct weir_command *const commands[] = {
    &weir_command_replay,
    &weir_command_test,
    &weir_command_check,
    &weir_command_features,
    &weir_command_fit,
    &weir_command_model,
    NULL,
};

const struct weir_source_type *const *weir_source_types(void)
{
    return sources;
}

const struct weir_sink_type *const *weir_sink_types(void)
{
    return sinks;
}

const struct weir_section_type *const *weir_section_types(void)
{
    return sections;
}

const struct weir_command *const *weir_commands(void)
{
    return commands;
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
