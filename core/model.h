/*
 * model.h — model loading entry points below the public API: loading from
 * a memory buffer (used by nst_model_load after mmap, and by the fuzz
 * target), and the embedded model's recommended defaults.
 */
#ifndef NST_MODEL_H
#define NST_MODEL_H

#include "nst.h"

/* Parse a safetensors image held in memory. `name` becomes the model name
 * unless the metadata has "nst.name". Caller frees *out. */
int nst_model_load_memory(const void *buf, size_t len, const char *name, nst_model **out,
                          nst_error *err);

#endif
