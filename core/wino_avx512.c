/*
 * wino_avx512.c — the Winograd kernels (wino_kernels_body.h) compiled for
 * AVX-512F/VL/DQ and 512-bit vectors: the table wino_kernels_avx512.
 * CMakeLists.txt gives this file its instruction-set flags.
 */
#define WINO_KERNELS_TABLE wino_kernels_avx512
#include "wino_kernels_body.h"
