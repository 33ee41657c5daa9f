/* Shared by the libFuzzer harnesses (tests/fuzz/fuzz_*.c, built with
 * -DWEIR_FUZZ=ON by tests/fuzz/run.sh): an invariant that must hold for every
 * input, reported as a crash so that libFuzzer keeps the input. */
#ifndef WEIR_FUZZ_H
#define WEIR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond)                                                            \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                 \
        }                                                                            \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
