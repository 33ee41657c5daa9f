/* Kafka properties that make librdkafka run code a pipeline file names: load
 * a shared library, an OpenSSL engine or provider module, or run a shell
 * command. Validating or running a pipeline someone sent must not execute
 * anything it names, so the loader refuses these unless the user passed
 * --allow-unsafe-kafka-properties, and never hands them to librdkafka while
 * loading (setting plugin.library.paths dlopen()s the libraries at once).
 * From librdkafka's CONFIGURATION.md (2.x). */
#ifndef WEIR_KAFKA_UNSAFE_H
#define WEIR_KAFKA_UNSAFE_H

/* Why setting property name to value would run code ("librdkafka runs this
 * shell command"), or NULL when it would not. */
const char *weir_kafka_prop_unsafe(const char *name, const char *value);

#endif
