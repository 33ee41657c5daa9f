/* --set overrides (see override.h). */
#include "engine/override.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/jscan.h"

int weir_override_parse(char *arg, struct weir_override *out)
{
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return -EINVAL;
    *eq = '\0';
    out->path = arg;
    out->value = eq + 1;
    return 0;
}

/* One step of a path: a key (".name" or the first "name") or an index ("[3]"). */
struct step {
    char key[128];
    long index; /* >= 0 for "[n]" */
};

static int next_step(const char **p, int first, struct step *s)
{
    const char *c = *p;
    s->index = -1;
    if (!first && *c != '.' && *c != '[') /* "operators[1]quantile" */
        return -EINVAL;
    if (*c == '[') {
        char *end;
        s->index = strtol(c + 1, &end, 10);
        if (end == c + 1 || *end != ']' || s->index < 0)
            return -EINVAL;
        *p = end + 1;
        return 0;
    }
    if (*c == '.')
        c++;
    size_t n = strcspn(c, ".[");
    if (n == 0 || n >= sizeof s->key)
        return -EINVAL;
    memcpy(s->key, c, n);
    s->key[n] = '\0';
    *p = c + n;
    return 0;
}

/* VALUE as JSON, or as a string when it is not JSON; NULL when out of
 * memory (which must not turn "0.5" into the string "0.5"). */
static json_t *value_of(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (v || json_error_code(&jerr) == json_error_out_of_memory ||
        json_error_code(&jerr) == json_error_duplicate_key)
        return v;
    return json_string(text);
}

/* Why value_of gave nothing: a key twice (refused, as in the file), bytes
 * that are not UTF-8 (jansson's strings take UTF-8 only), else memory. */
static const char *no_value(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    json_decref(v);
    if (!v && json_error_code(&jerr) == json_error_duplicate_key)
        return "expected JSON without a key twice (the last would win unsaid)";
    if (!weir_utf8_valid(text, strlen(text)))
        return "expected UTF-8 text, got bytes that are not UTF-8";
    return "out of memory";
}

/* source.kafka.fetch.wait.max.ms=100: librdkafka's property names have
 * dots of their own, so all that follows "kafka." is one name (its value
 * read as any other's; the stage's "kafka" object made when missing). */
static int set_kafka_property(json_t *stage, const char *name, const char *value,
                              const char *where, struct weir_diag *diag)
{
    json_t *props = json_object_get(stage, "kafka");
    if (props && !json_is_object(props)) {
        weir_diag_add(diag, where, "\"kafka\" is not an object");
        return 1;
    }
    if (!props && json_object_set_new(stage, "kafka", props = json_object()) < 0) {
        weir_diag_add(diag, where, "out of memory");
        return 1;
    }
    if (!*name) {
        weir_diag_add(diag, where, "expected a property name after \"kafka.\"");
        return 1;
    }
    json_t *v = value_of(value);
    if (!v || json_object_set_new(props, name, v) < 0) {
        weir_diag_add(diag, where, "%s", no_value(value));
        return 1;
    }
    return 0;
}

int weir_override_apply(json_t *root, const struct weir_override *set, struct weir_diag *diag)
{
    char where[256];
    snprintf(where, sizeof where, "--set %s", set->path);
    json_t *node = root;
    const char *p = set->path;
    struct step s;
    size_t done = 0;
    for (;;) {
        if (next_step(&p, p == set->path, &s) < 0) {
            weir_diag_add(diag, where,
                          "expected a path like source.path or operators[2].quantile");
            return 1;
        }
        int last = *p == '\0';
        if (s.index >= 0 && !json_is_array(node)) {
            weir_diag_add(diag, where, "\"%.*s\" is not an array", (int)done, set->path);
            return 1;
        }
        if (s.index < 0 && !json_is_object(node)) {
            weir_diag_add(diag, where, "\"%.*s\" is not an object", (int)done, set->path);
            return 1;
        }
        if (last) {
            if (s.index >= 0 && (size_t)s.index >= json_array_size(node)) {
                weir_diag_add(diag, where, "index %ld is out of range: \"%.*s\" has %zu elements",
                              s.index, (int)done, set->path, json_array_size(node));
                return 1;
            }
            json_t *v = value_of(set->value);
            /* Both setters take v, also when they fail. */
            int rc = !v ? -1
                     : s.index < 0 ? json_object_set_new(node, s.key, v)
                                   : json_array_set_new(node, (size_t)s.index, v);
            if (rc < 0) {
                weir_diag_add(diag, where, "%s", no_value(set->value));
                return 1;
            }
            return 0;
        }
        if (s.index < 0 && strcmp(s.key, "kafka") == 0 && *p == '.')
            return set_kafka_property(node, p + 1, set->value, where, diag);
        json_t *child = s.index < 0 ? json_object_get(node, s.key)
                                    : json_array_get(node, (size_t)s.index);
        /* a section the file leaves out (state, http, replay): made, as the
         * docs' `--set state.durable=true` expects; a misspelt one is
         * still an unknown key to the validation that follows */
        if (!child && node == root && s.index < 0 &&
            json_object_set_new(root, s.key, child = json_object()) < 0)
            child = NULL;
        if (!child && s.index >= 0) {
            weir_diag_add(diag, where, "index %ld is out of range: \"%.*s\" has %zu elements",
                          s.index, (int)done, set->path, json_array_size(node));
            return 1;
        }
        if (!child) {
            weir_diag_add(diag, where, "\"%.*s\" does not exist in the pipeline",
                          (int)(p - set->path), set->path);
            return 1;
        }
        node = child;
        done = (size_t)(p - set->path);
    }
}

static void embed_sink(json_t *sink)
{
    if (json_is_object(sink) && json_object_get(sink, "brokers"))
        json_object_set_new(sink, "brokers", json_string("embedded"));
}

const char *weir_override_embedded(json_t *root)
{
    size_t i;
    json_t *sink, *source = json_object_get(root, "source");
    const char *type = json_string_value(json_object_get(source, "type"));
    if (type && strcmp(type, "kafka") != 0 && !strstr(type, "${"))
        return type; /* said as such, not as "source.brokers: unknown option" */
    if (json_is_object(source))
        json_object_set_new(source, "brokers", json_string("embedded"));
    json_array_foreach(json_object_get(root, "sinks"), i, sink)
        embed_sink(sink);
    embed_sink(json_object_get(root, "dead_letter"));
    return NULL;
}
