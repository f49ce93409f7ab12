/*
 * wino_avx2.c — the Winograd kernels (wino_kernels_body.h) compiled for
 * AVX2 and FMA, 256-bit vectors: the table wino_kernels_avx2.
 * CMakeLists.txt gives this file its instruction-set flags.
 */
#define WINO_KERNELS_TABLE wino_kernels_avx2
#include "wino_kernels_body.h"
