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

/* Recommended transfer defaults of the embedded vgg19-random model (also
 * used by a file marked nst.pretrained "0" that names none), and those of
 * trained weights (a file without nst.pretrained, or with "1"). A model's
 * own metadata overrides either; nst_model_get_defaults gives the result. */
extern const nst_model_defaults nst_model_random_defaults;
extern const nst_model_defaults nst_model_pretrained_defaults;

#endif
