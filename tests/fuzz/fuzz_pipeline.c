/* The pipeline loader on arbitrary file contents: weir_pipeline_load_opts
 * from memory, and when the file is valid, every operator's per-worker init
 * and destroy. Whatever the bytes, loading ends in 0 or an error with at
 * least one message, and frees what it allocated (LeakSanitizer). Nothing
 * writes to the disk or touches the network: sources and sinks are not
 * opened, and Kafka properties that would load code are refused. Loading
 * may read regular files a pipeline names (a CSV source's header, "@file"
 * secrets, mask's key_file), never a pipe or a device. */
#include <string.h>

#include "engine/opstate.h"
#include "engine/pipeline.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct weir_diag d = {0};
    struct weir_pipeline *pl = NULL;
    struct weir_load_opts o = {.text = (const char *)data, .len = size};
    int rc = weir_pipeline_load_opts("fuzz.json", &o, &pl, &d);
    FUZZ_ASSERT(rc == 0 ? pl != NULL && d.n == 0 : d.n > 0);
    for (size_t k = 0; rc == 0 && k < pl->nops; k++) {
        struct weir_op op = {.type = pl->ops[k].type, .conf = pl->ops[k].conf, .index = (int)k};
        struct weir_error err = {0};
        FUZZ_ASSERT(!op.type->init || op.type->init(&op, &err) == 0);
        if (op.type->destroy)
            op.type->destroy(&op);
        weir_op_state_free(&op); /* keyed state is the engine's to free */
    }
    weir_pipeline_free(pl);
    weir_diag_free(&d);
    return 0;
}
