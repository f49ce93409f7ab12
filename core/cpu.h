/*
 * cpu.h — which of the engine's own kernel paths runs: the portable C, AVX2
 * with FMA, or AVX-512, chosen once at run time by what the CPU has
 * (CPUID) and overridable for tests and benchmarks. Every product of an
 * evaluation runs on these kernels (winograd.c, panel_gemm.c) but im2col's
 * (ops.c), which OpenBLAS computes with kernels of its own choice (its
 * OPENBLAS_CORETYPE).
 *
 * The choice is process-wide: the best path the CPU has, unless the
 * environment's NST_KERNELS names another (portable, avx2 or avx512; one
 * the CPU lacks falls back to the best it has, with a message on stderr),
 * or cpu_kernels_set chose one. Reading it is cheap and thread-safe.
 */
#ifndef NST_CPU_H
#define NST_CPU_H

typedef enum { CPU_PORTABLE, CPU_AVX2, CPU_AVX512, CPU_KERNELS } cpu_kernels_path;

/* The path in use. */
cpu_kernels_path cpu_kernels(void);

/* 1 if this CPU can run path k. */
int cpu_kernels_supported(cpu_kernels_path k);

/* Use path k from now on: 0, or -1 (nothing changed) when the CPU lacks it.
 * For tests and benchmarks: not to be called while a convolution runs. */
int cpu_kernels_set(cpu_kernels_path k);

/* "portable", "avx2", "avx512". */
const char *cpu_kernels_name(cpu_kernels_path k);

#endif
