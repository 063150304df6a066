/* Fuzz target: the token store's file format. */
#include <stdint.h>

#include "core/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tokens t;
    const char *problem;

    store_decode((const char *)data, size, &t, &problem);
    tokens_free(&t);
    return 0;
}
