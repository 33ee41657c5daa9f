/* `weir schema`: a JSON Schema (draft-07) for pipeline files, generated from
 * the same option tables that validate them (engine/option.h), so that it
 * cannot drift from the code. Each stage type is an if/then on its "type", so
 * an editor names the options of the type at hand. What the tables cannot
 * say (cross-field rules, WEIR_OPT_JSON options that the type's prepare()
 * checks) `weir validate` still checks; the schema never rejects a file weir
 * accepts. */
#include "engine/jsonschema.h"

#include "connectors/connector.h"
#include "engine/operator.h"
#include "engine/pipeline.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

extern const struct weir_option weir_source_common_options[];
extern const struct weir_option weir_sink_common_options[];

static json_t *number_schema(const struct weir_option *o, const char *type)
{
    json_t *s = json_pack("{s:s}", "type", type);
    if (!(o->flags & WEIR_OPT_RANGE))
        return s;
    if (!isinf(o->min))
        json_object_set_new(s, o->flags & WEIR_OPT_MIN_OPEN ? "exclusiveMinimum" : "minimum",
                            json_real(o->min));
    if (!isinf(o->max))
        json_object_set_new(s, o->flags & WEIR_OPT_MAX_OPEN ? "exclusiveMaximum" : "maximum",
                            json_real(o->max));
    return s;
}

static json_t *choices(const char *c)
{
    json_t *a = json_array();
    for (const char *p = c; *p;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        if (!bar)
            break;
        p = bar + 1;
    }
    return a;
}

static json_t *option_schema(const struct weir_option *o)
{
    json_t *s;
    switch (o->kind) {
    case WEIR_OPT_BOOL: s = json_pack("{s:s}", "type", "boolean"); break;
    case WEIR_OPT_INT: s = number_schema(o, "integer"); break;
    case WEIR_OPT_NUMBER: s = number_schema(o, "number"); break;
    case WEIR_OPT_STRING: s = json_pack("{s:s,s:i}", "type", "string", "minLength", 1); break;
    case WEIR_OPT_ENUM: s = json_pack("{s:o}", "enum", choices(o->choices)); break;
    case WEIR_OPT_STRINGS:
        s = json_pack("{s:[{s:s},{s:s,s:{s:s}}]}", "anyOf", "type", "string", "type", "array",
                      "items", "type", "string");
        break;
    case WEIR_OPT_DURATION:
        s = json_pack("{s:[{s:s,s:s},{s:s,s:i}]}", "anyOf", "type", "string", "pattern",
                      "^([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?(us|ms|s|m|h|d)?$", "type",
                      "number", "minimum", 0);
        break;
    default: s = json_object(); break; /* WEIR_OPT_JSON: the type's prepare() checks it */
    }
    if (o->kind == WEIR_OPT_ENUM || o->kind == WEIR_OPT_DURATION) {
        /* "${MODE}" or "@file" is what it expands to, known at load only */
        json_t *any =
            json_pack("{s:[o,{s:s,s:s}]}", "anyOf", s, "type", "string", "pattern", "[$][{]|^@");
        s = any;
    }
    json_object_set_new(s, "description", json_string(o->doc));
    if (o->def) {
        json_t *d = json_loads(o->def, JSON_DECODE_ANY, NULL);
        if (d)
            json_object_set_new(s, "default", d);
    }
    return s;
}

/* Adds tables' options to props (and required); skip: names left out. */
static void add_options(json_t *props, json_t *required, const struct weir_option *opts,
                        const char *const *skip)
{
    for (const struct weir_option *o = opts; o && o->name; o++) {
        int skipped = 0;
        for (const char *const *k = skip; k && *k; k++)
            skipped |= strcmp(*k, o->name) == 0;
        if (skipped)
            continue;
        json_object_set_new(props, o->name, option_schema(o));
        if (o->flags & WEIR_OPT_REQUIRED)
            json_array_append_new(required, json_string(o->name));
    }
}

static json_t *object_schema(const struct weir_option *a, const struct weir_option *b,
                             const char *const *skip)
{
    json_t *props = json_object(), *req = json_array();
    add_options(props, req, a, skip);
    add_options(props, req, b, skip);
    json_t *s = json_pack("{s:s,s:o,s:b}", "type", "object", "properties", props,
                          "additionalProperties", 0);
    if (json_array_size(req))
        json_object_set_new(s, "required", req);
    else
        json_decref(req);
    return s;
}

/* One stage: {"type": one of names} and, per type, if type == name then its
 * own options plus the common ones (additionalProperties: false). */
struct stage_kind {
    const char *name;
    const char *summary;
    const struct weir_option *options;
};

static json_t *stage_schema(const struct stage_kind *kinds, size_t n,
                            const struct weir_option *common, const char *const *skip)
{
    json_t *names = json_array(), *all = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(names, json_string(kinds[i].name));
        json_t *then = object_schema(common, kinds[i].options, skip);
        json_object_set_new(json_object_get(json_object_get(then, "properties"), "type"), "const",
                            json_string(kinds[i].name));
        json_object_set_new(then, "description", json_string(kinds[i].summary));
        json_array_append_new(all, json_pack("{s:{s:{s:{s:s}}},s:o}", "if", "properties", "type",
                                             "const", kinds[i].name, "then", then));
    }
    return json_pack("{s:s,s:[s],s:{s:{s:o}},s:o}", "type", "object", "required", "type",
                     "properties", "type", "enum", names, "allOf", all);
}

#define MAX_KINDS 128

static json_t *sources(void)
{
    struct stage_kind k[MAX_KINDS];
    size_t n = 0;
    for (const struct weir_source_type *const *t = weir_source_types(); *t && n < MAX_KINDS; t++)
        k[n++] = (struct stage_kind){(*t)->name, (*t)->summary, (*t)->options};
    return stage_schema(k, n, weir_source_common_options, NULL);
}

static json_t *sinks(int dead_letter)
{
    static const char *const not_for_dead[] = {"when", "fields", "exclude", NULL};
    struct stage_kind k[MAX_KINDS];
    size_t n = 0;
    for (const struct weir_sink_type *const *t = weir_sink_types(); *t && n < MAX_KINDS; t++)
        k[n++] = (struct stage_kind){(*t)->name, (*t)->summary, (*t)->options};
    return stage_schema(k, n, weir_sink_common_options, dead_letter ? not_for_dead : NULL);
}

static json_t *operators(void)
{
    static const struct weir_option type_only[] = {
        {"type", WEIR_OPT_STRING, NULL, "the operator type", 0, WEIR_OPT_REQUIRED, 0, 0, NULL},
        {0},
    };
    struct stage_kind k[MAX_KINDS];
    size_t n = 0;
    for (const struct weir_operator_type *const *t = weir_operator_types(); *t && n < MAX_KINDS;
         t++)
        k[n++] = (struct stage_kind){(*t)->name, (*t)->summary, (*t)->options};
    return stage_schema(k, n, type_only, NULL);
}

json_t *weir_schema_build(void)
{
    json_t *root = object_schema(weir_pipeline_top_options(), NULL, NULL);
    json_t *props = json_object_get(root, "properties");
    /* The JSON-typed top-level options, each by what it holds. */
    json_t *src = sources();
    json_object_set_new(src, "description", json_string("where records come from"));
    json_object_set_new(props, "source", src);
    json_object_set_new(props, "operators",
                        json_pack("{s:s,s:o,s:s}", "type", "array", "items", operators(),
                                  "description", "the chain of operators, in order"));
    json_object_set_new(props, "sinks",
                        json_pack("{s:s,s:i,s:o,s:s}", "type", "array", "minItems", 1, "items",
                                  sinks(0), "description", "where results go"));
    json_t *dead = sinks(1);
    json_object_set_new(dead, "description",
                        json_string("where rejected records go, with their reason"));
    json_object_set_new(props, "dead_letter", dead);
    json_object_set_new(props, "state", object_schema(weir_pipeline_state_options(), NULL, NULL));
    for (const struct weir_section_type *const *t = weir_section_types(); *t; t++)
        json_object_set_new(props, (*t)->name, object_schema((*t)->options, NULL, NULL));
    json_t *doc =
        json_pack("{s:s,s:s,s:s,s:s}", "$schema", "http://json-schema.org/draft-07/schema#", "$id",
                  "https://weir.invalid/schema/pipeline-" WEIR_VERSION ".json", "title",
                  "weir pipeline " WEIR_VERSION, "description",
                  "A weir pipeline file (generated by `weir schema` from the option "
                  "tables; `weir validate` checks what a schema cannot)");
    json_object_update(doc, root);
    json_decref(root);
    return doc;
}

int weir_schema_print(FILE *out)
{
    json_t *doc = weir_schema_build();
    if (!doc)
        return -1;
    int rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', out);
    json_decref(doc);
    return rc;
}
