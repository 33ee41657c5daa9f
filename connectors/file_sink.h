/* What the file sink shows the other file connectors: its type, and the
 * path a prepared conf writes (the file source's check, file_overlap.c). */
#ifndef WEIR_CONNECTORS_FILE_SINK_H
#define WEIR_CONNECTORS_FILE_SINK_H

#include "connectors/connector.h"

extern const struct weir_sink_type weir_sink_file;

/* The path as prepared ("-": standard output); conf is a file sink's. */
const char *weir_file_sink_path(const void *conf);

#endif
