/*
 * fuzz_safetensors.c — libFuzzer target for the safetensors reader: any
 * byte string given to nst_model_load_memory must end in a model or an
 * error, never a crash, leak or undefined behaviour. A valid model needs
 * 80 MB of weights, so in practice every input exercises the header,
 * metadata and tensor checks.
 */
#include <stddef.h>
#include <stdint.h>

#include "model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nst_model *m = NULL;
    nst_error err;
    if (nst_model_load_memory(data, size, "fuzz", &m, &err) == NST_OK) nst_model_free(m);
    return 0;
}
