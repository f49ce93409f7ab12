/*
 * fuzz_params.c — libFuzzer target for the parameter validator: any bytes
 * as a params body. A body that is accepted must print as JSON that parses
 * back to the same JSON (the job's effective params are stored that way).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nst_params p, q;
    nst_error err;
    nst_limits lim = {.max_iterations = 2000, .max_image_size = 1024};
    nst_params_default(&p, NULL);
    if (nst_params_parse(&p, (const char *)data, size, &lim, &err) != NST_OK) {
        if (err.code != NST_EINVAL || err.message[0] == '\0' || err.field[0] == '\0') abort();
        return 0;
    }
    char *json = nst_params_to_json(&p);
    if (!json) abort();
    nst_params_default(&q, NULL);
    if (nst_params_parse(&q, json, strlen(json), &lim, &err) != NST_OK) abort();
    char *again = nst_params_to_json(&q);
    if (!again || strcmp(json, again) != 0) abort();
    free(again);
    free(json);
    return 0;
}
