/* --set overrides (engine/override.c) on a fixed, valid pipeline: each line
 * of the input is one PATH=VALUE, applied in order, then the result is
 * validated. Whatever the paths and values, the load ends in 0 or an error
 * with at least one message, and nothing leaks. */
#include <string.h>

#include "engine/override.h"
#include "engine/pipeline.h"
#include "tests/fuzz/fuzz.h"

#define MAX_SETS 16

static const char base[] =
    "{\"name\": \"fuzz\", \"features\": [\"cpu\", \"mem\", \"cpu_z\", \"mem_z\", \"score\"],"
    " \"source\": {\"type\": \"file\", \"path\": \"in.jsonl\", \"max_records\": 16},"
    " \"operators\": ["
    "  {\"type\": \"extract\", \"fields\": {\"cpu\": \"/cpu\", \"mem\": \"/mem\","
    "   \"host\": {\"path\": \"/host\", \"type\": \"string\"},"
    "   \"ts\": {\"path\": \"/ts\", \"type\": \"timestamp\", \"default\": 0}}},"
    "  {\"type\": \"standardize\", \"fields\": [\"cpu\", \"mem\"], \"out\": [\"cpu_z\", \"mem_z\"],"
    "   \"mode\": \"ewm\", \"alpha\": 0.05, \"warmup\": 20},"
    "  {\"type\": \"score\", \"method\": \"zscore\", \"fields\": [\"cpu_z\", \"mem_z\"],"
    "   \"combine\": \"max\", \"out\": \"score\"},"
    "  {\"type\": \"threshold\", \"score\": \"score\", \"quantile\": 0.99, \"warmup\": 20}],"
    " \"sinks\": [{\"type\": \"file\", \"path\": \"out.jsonl\", \"fields\": [\"score\", \"host\"]},"
    "  {\"type\": \"file\", \"path\": \"-\", \"when\": \"alert\", \"format\": \"text\"}],"
    " \"dead_letter\": {\"type\": \"file\", \"path\": \"dead.jsonl\"}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct weir_override sets[MAX_SETS];
    size_t n = 0;
    for (char *line = text, *next; line && n < MAX_SETS; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (weir_override_parse(line, &sets[n]) == 0)
            n++;
    }
    struct weir_diag d = {0};
    struct weir_pipeline *pl = NULL;
    struct weir_load_opts o = {.sets = sets, .nsets = n, .text = base, .len = sizeof base - 1};
    int rc = weir_pipeline_load_opts("fuzz.json", &o, &pl, &d);
    FUZZ_ASSERT(rc == 0 ? pl != NULL && d.n == 0 : d.n > 0);
    weir_pipeline_free(pl);
    weir_diag_free(&d);
    free(text);
    return 0;
}
