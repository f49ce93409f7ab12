/*
 * wino_portable.c — the Winograd kernels (wino_kernels_body.h) compiled for
 * plain C without AVX (any x86-64, or another CPU): the table wino_kernels_portable.
 * CMakeLists.txt gives this file its instruction-set flags.
 */
#define WINO_KERNELS_TABLE wino_kernels_portable
#include "wino_kernels_body.h"
