/* The record extractor (operators/extract.c) on arbitrary record bytes, with
 * a fixed pipeline whose extract asks for every field type (number, string,
 * bool, timestamp with a default, nested and escaped pointers), then the
 * record written out as the sinks write it (engine/output.c).
 *
 * The input is split at '\n' into up to 16 records of one batch, the whole
 * input being one more. Invariants: a record extract keeps is written out as
 * valid JSON (jansson reads it back as an object, its numbers permitting);
 * a dead record is written as a valid dead letter; and a record jansson
 * reads as an object is not rejected as invalid JSON (past the documented
 * differences: NUL bytes, nesting deeper than 64). */
#include <jansson.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/output.h"
#include "engine/pipeline.h"
#include "tests/fuzz/fuzz.h"

static const char pipeline[] =
    "{\"source\": {\"type\": \"file\", \"path\": \"-\", \"max_records\": 32},"
    " \"operators\": [{\"type\": \"extract\", \"fields\": {"
    "  \"amount\": \"/amount\","
    "  \"card\": {\"path\": \"/card/id\", \"type\": \"string\"},"
    "  \"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\", \"default\": 1700000000000},"
    "  \"vip\": {\"path\": \"/vip\", \"type\": \"bool\", \"default\": false},"
    "  \"first\": {\"path\": \"/items/0/v\", \"required\": false},"
    "  \"odd\": {\"path\": \"/a~1b/~0c\", \"type\": \"string\", \"default\": \"none\"},"
    "  \"note\": {\"path\": \"/note\", \"type\": \"string\", \"required\": false}}}],"
    " \"sinks\": [{\"type\": \"file\", \"path\": \"-\", \"fields\": [\"amount\", \"vip\", \"first\","
    " \"card\", \"odd\", \"note\"]}]}";

static struct weir_pipeline *pl;
static struct weir_op op;
static struct weir_batch_pool *pool;
static struct weir_buf out;

static void setup(void)
{
    struct weir_diag d = {0};
    struct weir_load_opts o = {.text = pipeline, .len = sizeof pipeline - 1};
    struct weir_error err = {0};
    FUZZ_ASSERT(weir_pipeline_load_opts("extract.json", &o, &pl, &d) == 0);
    op = (struct weir_op){.type = pl->ops[0].type, .conf = pl->ops[0].conf};
    FUZZ_ASSERT(op.type->init(&op, &err) == 0);
    FUZZ_ASSERT(weir_batch_pool_new(&pool, pl->max_records, pl->schema.nfeat, pl->schema.nstr) == 0);
    weir_diag_free(&d);
}

/* Whether jansson reads text as a JSON value; *obj: an object. Numbers
 * beyond its range are a jansson limit, not a weir bug: reported as -1. */
static int jansson_reads(const char *text, size_t len, int *obj)
{
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        return json_error_code(&e) == json_error_numeric_overflow ? -1 : 0;
    *obj = json_is_object(j);
    json_decref(j);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!pl)
        setup();
    const char *text = (const char *)data;
    struct weir_batch *b = weir_batch_get(pool);
    FUZZ_ASSERT(b);
    for (size_t at = 0; at <= size && b->n < 16;) {
        const char *nl = memchr(text + at, '\n', size - at);
        size_t len = nl ? (size_t)(nl - text - at) : size - at;
        int i = weir_batch_push(b);
        b->rec[i].value = len ? weir_arena_strdup(&b->arena, text + at, len) : NULL;
        b->rec[i].value_len = (uint32_t)len;
        b->rec[i].offset = i + 1;
        b->rec[i].partition = -1;
        at += len + 1;
    }
    int whole = weir_batch_push(b);
    if (whole >= 0) {
        b->rec[whole].value = size ? weir_arena_strdup(&b->arena, text, size) : NULL;
        b->rec[whole].value_len = (uint32_t)size;
        b->rec[whole].partition = 3;
        b->rec[whole].offset = 42;
    }
    FUZZ_ASSERT(op.type->process(&op, b) == WEIR_OP_CONTINUE);

    const struct weir_output *o = &pl->sinks[0].output;
    for (uint32_t i = 0; i < b->n; i++) {
        const struct weir_record *r = &b->rec[i];
        int obj = 0, reads = jansson_reads(r->value ? r->value : "", r->value_len, &obj);
        weir_buf_reset(&out);
        if (weir_record_live(r)) {
            FUZZ_ASSERT(weir_output_record(&out, o, b, i) == 0);
            int oobj = 0;
            int oreads = jansson_reads(out.data, out.len, &oobj);
            FUZZ_ASSERT(oreads == -1 || (oreads == 1 && oobj));
            weir_buf_reset(&out);
            FUZZ_ASSERT(weir_output_text(&out, o, b, i) == 0);
            continue;
        }
        FUZZ_ASSERT(r->reason != NULL);
        int nul = r->value && memchr(r->value, '\0', r->value_len) != NULL;
        if (reads == 1 && obj && !nul && strncmp(r->reason, "invalid JSON", 12) == 0)
            FUZZ_ASSERT(strstr(r->reason, "nesting deeper") != NULL);
        FUZZ_ASSERT(weir_output_dead(&out, b, i, "fuzz") == 0);
        int dobj = 0;
        FUZZ_ASSERT(jansson_reads(out.data, out.len, &dobj) == 1 && dobj);
    }
    weir_batch_put(b);
    return 0;
}
